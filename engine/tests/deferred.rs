//! Bolts that finish their inputs after `execute` returned: owned
//! [`Anchor`]s, [`Bolt::poll`], [`Emission`] target tasks, and a finite
//! topology that waits for the bolt's pending inputs before it ends.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gale_codec::Value;
use gale_engine::{
    Anchor, Bolt, BoltOutput, Emission, Input, LocalCluster, OutputFieldsDeclarer, RunConfig,
    Spout, SpoutOutput, TaskId, TopologyBuilder, TopologyContext,
};

/// Emits `0..n` with message ids; records every ack and fail.
struct Numbers {
    next: u64,
    n: u64,
    seen: Arc<Mutex<BTreeMap<u64, (u32, u32)>>>,
    in_flight: u64,
}

impl Spout for Numbers {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare(["n"]);
    }
    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        if self.next < self.n {
            out.emit_with_id(&[Value::I64(self.next as i64)], self.next);
            self.next += 1;
            self.in_flight += 1;
        }
    }
    fn ack(&mut self, id: u64) {
        self.seen.lock().unwrap().entry(id).or_default().0 += 1;
        self.in_flight -= 1;
    }
    fn fail(&mut self, id: u64) {
        self.seen.lock().unwrap().entry(id).or_default().1 += 1;
        self.in_flight -= 1;
    }
    fn is_finished(&self) -> bool {
        self.next >= self.n && self.in_flight == 0
    }
}

/// Keeps each input as an anchor and finishes it on a later `poll` (every
/// third call): emits it to the direct stream at the lowest `sink` task,
/// checks the reported targets, then acks it (or fails multiples of 5).
struct Deferred {
    held: Vec<(Anchor, i64)>,
    polls: u64,
    sinks: Vec<TaskId>,
    targets: Vec<TaskId>,
    wrong_targets: Arc<Mutex<u64>>,
}

impl Bolt for Deferred {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare_direct_stream("direct", ["n"]);
    }
    fn prepare(&mut self, context: &TopologyContext) {
        self.sinks = context.tasks_of("sink");
    }
    fn execute(&mut self, input: &Input<'_>, _out: &mut BoltOutput<'_>) {
        let n = input.get(0).and_then(|v| v.as_i64()).unwrap_or(-1);
        self.held.push((input.anchor(), n));
    }
    fn wants_poll(&self) -> bool {
        true
    }
    fn poll(&mut self, out: &mut BoltOutput<'_>) -> bool {
        self.polls += 1;
        if self.polls % 3 != 0 || self.held.is_empty() {
            return false;
        }
        for (anchor, n) in std::mem::take(&mut self.held) {
            assert!(anchor.is_tracked());
            let values = [Value::I64(n)];
            let emission = Emission {
                stream: "direct",
                direct: Some(self.sinks[0]),
                values: &values,
                targets: Some(&mut self.targets),
            };
            out.emit_with(emission, std::slice::from_ref(&anchor));
            if self.targets != [self.sinks[0]] {
                *self.wrong_targets.lock().unwrap() += 1;
            }
            if n % 5 == 0 {
                out.fail_anchor(&anchor);
            } else {
                out.ack_anchor(&anchor);
            }
        }
        true
    }
    fn has_pending(&self) -> bool {
        !self.held.is_empty()
    }
}

/// Acks what it gets and counts it.
struct Sink(Arc<Mutex<u64>>);

impl Bolt for Sink {
    fn declare_output_fields(&self, _d: &mut OutputFieldsDeclarer) {}
    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        *self.0.lock().unwrap() += 1;
        out.ack(input);
    }
}

#[test]
fn anchors_kept_past_execute_are_acked_and_failed_from_poll() {
    const N: u64 = 2_000;
    let seen = Arc::new(Mutex::new(BTreeMap::new()));
    let wrong = Arc::new(Mutex::new(0));
    let sunk = Arc::new(Mutex::new(0));
    let mut b = TopologyBuilder::new("deferred");
    let s = Arc::clone(&seen);
    b.set_spout(
        "numbers",
        move || Numbers {
            next: 0,
            n: N,
            seen: Arc::clone(&s),
            in_flight: 0,
        },
        1,
    );
    let w = Arc::clone(&wrong);
    b.set_bolt(
        "deferred",
        move || Deferred {
            held: Vec::new(),
            polls: 0,
            sinks: Vec::new(),
            targets: Vec::new(),
            wrong_targets: Arc::clone(&w),
        },
        2,
    )
    .shuffle_grouping("numbers");
    let k = Arc::clone(&sunk);
    b.set_bolt("sink", move || Sink(Arc::clone(&k)), 2)
        .direct_grouping("deferred", "direct");
    let topology = b.build().unwrap();
    let config = RunConfig {
        threads: 2,
        pin: false,
        // A watchdog: the run ends by itself long before this.
        duration: Some(Duration::from_secs(120)),
        ..RunConfig::default()
    };
    let stats = LocalCluster::new(config)
        .submit(topology)
        .unwrap()
        .wait()
        .unwrap();
    assert!(
        stats.elapsed < Duration::from_secs(120),
        "the run did not finish by itself"
    );
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len() as u64, N, "every message completed");
    for (id, (acked, failed)) in seen.iter() {
        let expected = if id % 5 == 0 { (0, 1) } else { (1, 0) };
        assert_eq!((*acked, *failed), expected, "message {id}");
    }
    assert_eq!(*wrong.lock().unwrap(), 0, "emit reported the wrong targets");
    assert_eq!(*sunk.lock().unwrap(), N);
}

/// Emits `0..n` untracked, then is finished at once.
struct Untracked {
    next: u64,
    n: u64,
}

impl Spout for Untracked {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare(["n"]);
    }
    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        if self.next < self.n {
            out.emit(&[Value::I64(self.next as i64)]);
            self.next += 1;
        }
    }
    fn is_finished(&self) -> bool {
        self.next >= self.n
    }
}

/// Holds its inputs until 300 ms after the last one came, then emits them
/// (untracked): long past the point where nothing is in flight.
struct Holder {
    held: Vec<i64>,
    last: Option<std::time::Instant>,
    sinks: Vec<TaskId>,
}

impl Bolt for Holder {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare_direct_stream("direct", ["n"]);
    }
    fn prepare(&mut self, context: &TopologyContext) {
        self.sinks = context.tasks_of("sink");
    }
    fn execute(&mut self, input: &Input<'_>, _out: &mut BoltOutput<'_>) {
        self.held
            .push(input.get(0).and_then(|v| v.as_i64()).unwrap_or(-1));
        self.last = Some(std::time::Instant::now());
    }
    fn wants_poll(&self) -> bool {
        true
    }
    fn poll(&mut self, out: &mut BoltOutput<'_>) -> bool {
        let quiet = self
            .last
            .is_some_and(|t| t.elapsed() >= Duration::from_millis(300));
        if !quiet || self.held.is_empty() {
            return false;
        }
        for n in std::mem::take(&mut self.held) {
            out.emit_direct(self.sinks[0], "direct", &[Value::I64(n)]);
        }
        true
    }
    fn has_pending(&self) -> bool {
        !self.held.is_empty()
    }
}

#[test]
fn a_finite_topology_waits_for_what_a_polled_bolt_still_holds() {
    const N: u64 = 500;
    let sunk = Arc::new(Mutex::new(0));
    let mut b = TopologyBuilder::new("holder");
    b.set_num_ackers(0);
    b.set_spout("numbers", || Untracked { next: 0, n: N }, 1);
    b.set_bolt(
        "holder",
        || Holder {
            held: Vec::new(),
            last: None,
            sinks: Vec::new(),
        },
        1,
    )
    .shuffle_grouping("numbers");
    let k = Arc::clone(&sunk);
    b.set_bolt("sink", move || Sink(Arc::clone(&k)), 1)
        .direct_grouping("holder", "direct");
    let config = RunConfig {
        threads: 2,
        pin: false,
        duration: Some(Duration::from_secs(120)),
        ..RunConfig::default()
    };
    let stats = LocalCluster::new(config)
        .submit(b.build().unwrap())
        .unwrap()
        .wait()
        .unwrap();
    assert!(stats.elapsed < Duration::from_secs(120), "did not finish");
    assert_eq!(
        *sunk.lock().unwrap(),
        N,
        "the run ended before the held tuples were emitted"
    );
}
