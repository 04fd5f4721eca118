//! Tick tuples: delivered to bolts with a tick interval, on the system
//! stream, and to no other bolt.

mod util;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gale_codec::Value;
use gale_engine::{
    Bolt, BoltOutput, Input, OutputFieldsDeclarer, Spout, SpoutOutput, TaskId, TopologyBuilder,
    TopologyContext, SYSTEM_COMPONENT, TICK_STREAM,
};
use util::{all_ids, assert_each_id, run, Recorder, Sink, FIELDS, ID_STRIDE};

/// Tuples the paced spout emits.
const N: u64 = 40;
/// Ticks each ticking task must see before the spout finishes.
const MIN_TICKS: usize = 3;

/// When the paced spout finishes, besides having emitted `N` tuples.
#[derive(Clone, Copy)]
enum Until {
    /// Every task of `ticking` recorded `MIN_TICKS` ticks.
    Ticked,
    /// The last flushes of `ticking`'s tasks, recorded by `totals`, add up
    /// to `N`.
    Flushed,
}

/// Emits one `[id, key]` tuple every `gap`, and finishes once it has
/// emitted `N` and the `until` condition holds (so the test does not
/// depend on how fast the machine is).
struct Paced {
    sink: Arc<Sink>,
    gap: Duration,
    until: Until,
    next: Instant,
    task: TaskId,
    emitted: u64,
    ticking: Vec<TaskId>,
}

impl Paced {
    fn new(sink: &Arc<Sink>, gap: Duration, until: Until) -> Self {
        Self {
            sink: Arc::clone(sink),
            gap,
            until,
            next: Instant::now(),
            task: 0,
            emitted: 0,
            ticking: Vec::new(),
        }
    }

    fn ticks_seen(&self) -> BTreeMap<TaskId, usize> {
        let mut seen: BTreeMap<TaskId, usize> = self.ticking.iter().map(|t| (*t, 0)).collect();
        for r in self.sink.tuples.lock().unwrap().iter().filter(|r| r.tick) {
            *seen.entry(r.task).or_default() += 1;
        }
        seen
    }
}

/// The last count each `ticking` task flushed, by its key `t{task}`.
fn last_flushes(sink: &Sink) -> BTreeMap<String, i64> {
    let mut last = BTreeMap::new();
    for r in sink.received_by("totals") {
        last.insert(r.key().to_owned(), r.id());
    }
    last
}

impl Spout for Paced {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare(FIELDS);
    }
    fn open(&mut self, context: &TopologyContext) {
        self.task = context.task_id();
        self.ticking = context.tasks_of("ticking");
        assert!(!self.ticking.is_empty());
    }
    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        if self.emitted < N && Instant::now() >= self.next {
            let id = i64::from(self.task) * ID_STRIDE + self.emitted as i64;
            out.emit(&[Value::I64(id), Value::from("k")]);
            self.emitted += 1;
            self.next = Instant::now() + self.gap;
        }
    }
    fn is_finished(&self) -> bool {
        self.emitted == N
            && match self.until {
                Until::Ticked => self.ticks_seen().values().all(|n| *n >= MIN_TICKS),
                Until::Flushed => {
                    let last = last_flushes(&self.sink);
                    last.len() == self.ticking.len() && last.values().sum::<i64>() == N as i64
                }
            }
    }
}

#[test]
fn ticks_reach_only_bolts_with_a_tick_interval() {
    for threads in [1, 2] {
        let sink = Sink::new();
        let mut b = TopologyBuilder::new("ticks");
        let s = Arc::clone(&sink);
        b.set_spout(
            "paced",
            move || Paced::new(&s, Duration::from_millis(5), Until::Ticked),
            1,
        );
        let s = Arc::clone(&sink);
        b.set_bolt("ticking", move || Recorder::new(&s), 2)
            .shuffle_grouping("paced")
            .tick_interval(Duration::from_millis(10));
        let s = Arc::clone(&sink);
        b.set_bolt("quiet", move || Recorder::new(&s), 2)
            .shuffle_grouping("paced");
        let stats = run(b.build().unwrap(), threads, 4096);

        let all = sink.tuples();
        let ticking_tasks = sink.tasks_of("ticking");
        let mut ticks: BTreeMap<TaskId, usize> = BTreeMap::new();
        for r in all.iter().filter(|r| r.tick) {
            assert_eq!(
                r.component, "ticking",
                "threads={threads}: a bolt without tick interval got a tick: {r:?}"
            );
            assert_eq!(r.source_component, SYSTEM_COMPONENT);
            assert_eq!(r.source_component, "__system");
            assert_eq!(r.source_stream, TICK_STREAM);
            assert_eq!(r.source_stream, "__tick");
            assert_eq!(r.source_task, 0);
            assert!(r.values.is_empty(), "{r:?}");
            *ticks.entry(r.task).or_default() += 1;
        }
        assert_eq!(
            ticks.keys().copied().collect::<Vec<_>>(),
            ticking_tasks,
            "every ticking task gets ticks: {ticks:?}"
        );
        assert!(ticks.values().all(|n| *n >= MIN_TICKS), "{ticks:?}");
        // Data tuples are not ticks, and both bolts get all of them.
        let ids = all_ids(&[1], N);
        for bolt in ["ticking", "quiet"] {
            let data = sink.received_by(bolt);
            assert_each_id(&data, &ids, 1, bolt);
            assert!(data
                .iter()
                .all(|r| r.source_component == "paced" && r.source_stream == "default"));
        }
        // Ticks count as executed tuples.
        let tick_total: usize = ticks.values().sum();
        assert_eq!(
            stats.components["ticking"].executed,
            N + tick_total as u64,
            "threads={threads}"
        );
        assert_eq!(stats.components["quiet"].executed, N);
    }
}

/// Counts data tuples and emits the running count on every tick.
struct Flusher {
    count: i64,
    task: TaskId,
}

impl Bolt for Flusher {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare(FIELDS);
    }
    fn prepare(&mut self, context: &TopologyContext) {
        self.task = context.task_id();
    }
    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        if input.is_tick() {
            assert!(input.is_empty() && input.field("id").is_err());
            out.emit(&[
                Value::I64(self.count),
                Value::from(format!("t{}", self.task)),
            ]);
        } else {
            assert_eq!(input.len(), 2);
            self.count += 1;
        }
    }
}

#[test]
fn a_bolt_can_emit_on_ticks_and_the_topology_still_finishes() {
    let sink = Sink::new();
    let mut b = TopologyBuilder::new("flush");
    let s = Arc::clone(&sink);
    b.set_spout(
        "paced",
        move || Paced::new(&s, Duration::from_millis(2), Until::Flushed),
        1,
    );
    b.set_bolt("ticking", || Flusher { count: 0, task: 0 }, 2)
        .shuffle_grouping("paced")
        .tick_interval(Duration::from_millis(5));
    let s = Arc::clone(&sink);
    b.set_bolt("totals", move || Recorder::new(&s), 1)
        .shuffle_grouping("ticking");
    let stats = run(b.build().unwrap(), 2, 4096);

    let flushes = sink.received_by("totals");
    assert_eq!(stats.components["totals"].executed, flushes.len() as u64);
    assert_eq!(
        stats.components["ticking"].emitted,
        flushes.len() as u64,
        "every flush emitted on a tick arrives"
    );
    // The spout finished once the last flushes added up to everything it
    // emitted; counts only grow, and the final ones still add up to `N`.
    let mut last: BTreeMap<String, i64> = BTreeMap::new();
    for r in &flushes {
        let count = r.id();
        let prev = last.insert(r.key().to_owned(), count).unwrap_or(0);
        assert!(count >= prev, "counts only grow: {prev} then {count}");
    }
    assert_eq!(last.len(), 2, "both ticking tasks flushed: {last:?}");
    assert_eq!(last.values().sum::<i64>(), N as i64, "{last:?}");
}

/// Finishes at once, emitting nothing.
struct Idle;

impl Spout for Idle {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare(FIELDS);
    }
    fn next_tuple(&mut self, _out: &mut SpoutOutput<'_>) {}
    fn is_finished(&self) -> bool {
        true
    }
}

/// Emits one tuple on every tick.
struct Beacon;

impl Bolt for Beacon {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare(FIELDS);
    }
    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        if input.is_tick() {
            out.emit(&[Value::I64(0), Value::from("beacon")]);
        }
    }
}

/// Executes what it gets, and nothing else.
struct Discard;

impl Bolt for Discard {
    fn declare_output_fields(&self, _d: &mut OutputFieldsDeclarer) {}
    fn execute(&mut self, _input: &Input<'_>, _out: &mut BoltOutput<'_>) {}
}

/// A topology stops when nothing is in flight; a bolt that emits on every
/// tick sends on its own, even then. Every tuple it emitted before the stop
/// is still executed: many short runs, so that a tick's emit often falls
/// right at the moment the topology decides to stop.
#[test]
fn the_stop_loses_no_tuple_emitted_on_a_tick() {
    for round in 0..200 {
        let mut b = TopologyBuilder::new("beacons");
        b.set_spout("idle", || Idle, 1);
        b.set_bolt("beacon", || Beacon, 2)
            .shuffle_grouping("idle")
            .tick_interval(Duration::from_micros(50));
        b.set_bolt("drop", || Discard, 1).shuffle_grouping("beacon");
        let stats = run(b.build().unwrap(), 2, 4096);
        assert_eq!(
            stats.components["drop"].executed, stats.components["beacon"].emitted,
            "round {round}: tuples emitted on ticks were lost at the stop"
        );
    }
}
