//! `Bolt::execute_batch`: a bolt that takes its inputs as runs gets every
//! input exactly once, in order per emitter, in runs of one stream; a
//! panic in a run fails only the input taken last and the rest of the run
//! still executes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gale_codec::Value;
use gale_engine::{
    Bolt, BoltOutput, Input, InputBatch, LocalCluster, OutputFieldsDeclarer, RunConfig, Spout,
    SpoutOutput, TopologyBuilder,
};

/// Emits `0..n` with message ids, in blocks of 64 alternately on `evens`
/// and `odds`; counts acks and fails per id and replays failed ones.
struct Numbers {
    next: u64,
    n: u64,
    seen: Arc<Mutex<BTreeMap<u64, (u32, u32)>>>,
    in_flight: u64,
    replay: Vec<u64>,
}

impl Spout for Numbers {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare_stream("evens", ["n"]);
        d.declare_stream("odds", ["n"]);
    }
    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        let id = match self.replay.pop() {
            Some(id) => id,
            None if self.next < self.n => {
                self.next += 1;
                self.next - 1
            }
            None => return,
        };
        let stream = if block(id) == 0 { "evens" } else { "odds" };
        out.emit_to_with_id(stream, &[Value::I64(id as i64)], id);
        self.in_flight += 1;
    }
    fn ack(&mut self, id: u64) {
        self.seen.lock().unwrap().entry(id).or_default().0 += 1;
        self.in_flight -= 1;
    }
    fn fail(&mut self, id: u64) {
        self.seen.lock().unwrap().entry(id).or_default().1 += 1;
        self.in_flight -= 1;
        self.replay.push(id);
    }
    fn is_finished(&self) -> bool {
        self.next >= self.n && self.in_flight == 0 && self.replay.is_empty()
    }
}

/// 0 for ids emitted on `evens`, 1 for `odds`.
fn block(id: u64) -> u64 {
    (id / 64) % 2
}

/// What the batching bolt saw: each run's stream and the ids in it.
type Runs = Arc<Mutex<Vec<(String, Vec<i64>)>>>;

/// Takes inputs a run at a time; sleeps in its first run so that the
/// spout's tuples pile up in the ring; panics the first time it takes an
/// id that is 7 modulo 100 (after acking the ones before it in the run).
struct Batching {
    runs: Runs,
    first: bool,
    panicked: Vec<i64>,
}

impl Bolt for Batching {
    fn declare_output_fields(&self, _d: &mut OutputFieldsDeclarer) {}
    fn execute(&mut self, _input: &Input<'_>, _out: &mut BoltOutput<'_>) {
        unreachable!("execute_batch is overridden");
    }
    fn execute_batch(&mut self, inputs: &mut InputBatch<'_, '_>, out: &mut BoltOutput<'_>) {
        if std::mem::take(&mut self.first) {
            std::thread::sleep(Duration::from_millis(100));
        }
        let stream = inputs.source_stream().to_owned();
        let mut ids = Vec::new();
        for input in inputs {
            assert_eq!(input.source_stream(), stream, "one stream per run");
            let id = input.get(0).and_then(|v| v.as_i64()).unwrap();
            ids.push(id);
            if id % 100 == 7 && !self.panicked.contains(&id) {
                self.panicked.push(id);
                self.runs.lock().unwrap().push((stream, ids));
                panic!("boom at {id}");
            }
            out.ack(&input);
        }
        self.runs.lock().unwrap().push((stream, ids));
    }
}

#[test]
fn runs_hold_every_input_once_and_a_panic_fails_only_the_input_taken_last() {
    const N: u64 = 20_000;
    let seen = Arc::new(Mutex::new(BTreeMap::new()));
    let runs: Runs = Arc::default();
    let mut b = TopologyBuilder::new("batches");
    let s = Arc::clone(&seen);
    b.set_spout(
        "numbers",
        move || Numbers {
            next: 0,
            n: N,
            seen: Arc::clone(&s),
            in_flight: 0,
            replay: Vec::new(),
        },
        1,
    );
    let r = Arc::clone(&runs);
    b.set_bolt(
        "batching",
        move || Batching {
            runs: Arc::clone(&r),
            first: true,
            panicked: Vec::new(),
        },
        1,
    )
    .shuffle_grouping_stream("numbers", "evens")
    .shuffle_grouping_stream("numbers", "odds");
    let config = RunConfig {
        threads: 2,
        ..RunConfig::default()
    };
    let stats = LocalCluster::new(config)
        .submit(b.build().unwrap())
        .unwrap()
        .wait()
        .unwrap();

    // Every id acked exactly once; the panicked ones failed once first.
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len() as u64, N);
    let panics = N / 100;
    for (&id, &(acked, failed)) in seen.iter() {
        let expect_failed = u32::from(id % 100 == 7);
        assert_eq!((acked, failed), (1, expect_failed), "id {id}");
    }
    let bolt = &stats.components["batching"];
    assert_eq!(bolt.executed, N + panics);
    assert_eq!(bolt.acked, N);
    assert_eq!(bolt.failed, panics);
    assert_eq!(bolt.errors, panics);

    // Each run is one stream's ids in emit order; together they are every
    // execution; the sleep made some run longer than one input.
    let runs = runs.lock().unwrap();
    let total: usize = runs.iter().map(|(_, ids)| ids.len()).sum();
    assert_eq!(total as u64, N + panics);
    for (stream, ids) in runs.iter() {
        let parity = u64::from(stream == "odds");
        assert!(
            ids.iter().all(|&id| block(id as u64) == parity),
            "{stream}: {ids:?}"
        );
    }
    let longest = runs.iter().map(|(_, ids)| ids.len()).max().unwrap();
    assert!(longest > 1, "every run held one input");
}
