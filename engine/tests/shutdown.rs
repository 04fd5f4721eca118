//! How topologies end: by themselves (finite spouts), on `stop`, after the
//! configured duration, when the handle is dropped, or when a task panics;
//! lifecycle calls happen exactly once; emit mistakes are reported without
//! stopping the topology.

mod util;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use gale_codec::Value;
use gale_engine::{
    Bolt, BoltOutput, Input, LocalCluster, OutputFieldsDeclarer, RunConfig, RunError,
    RunningTopology, Spout, SpoutOutput, TaskId, Topology, TopologyBuilder, TopologyContext,
    TopologyStats,
};
use util::{
    all_ids, assert_each_id, config, run, run_with, wait, wait_until, Event, Numbers, Rec,
    Recorder, Sink, ID_STRIDE,
};

/// spout `numbers` (x2, `numbers` as given) -> `relay` (x2, shuffle) ->
/// `sink` (x3, fields on `key`).
fn chain(sink: &Arc<Sink>, numbers: Numbers) -> Topology {
    let mut b = TopologyBuilder::new("chain");
    let s = Arc::clone(sink);
    b.set_spout("numbers", move || numbers.clone().sink(&s), 2);
    let s = Arc::clone(sink);
    b.set_bolt("relay", move || Recorder::relay(&s, 1), 2)
        .shuffle_grouping("numbers");
    let s = Arc::clone(sink);
    b.set_bolt("sink", move || Recorder::new(&s), 3)
        .fields_grouping("relay", ["key"]);
    b.build().unwrap()
}

fn submit(topology: Topology, config: RunConfig) -> RunningTopology {
    LocalCluster::new(config).submit(topology).unwrap()
}

/// Checks that a stopped chain lost nothing: each spout task emitted ids
/// `0..k` in order, and every one of them went all the way through.
fn check_nothing_lost(sink: &Sink, stats: &TopologyStats, what: &str) {
    let c = &stats.components;
    assert!(c["numbers"].emitted > 0, "{what}: nothing was emitted");
    assert_eq!(c["numbers"].transferred, c["numbers"].emitted, "{what}");
    assert_eq!(
        c["relay"].executed, c["numbers"].transferred,
        "{what}: tuples in flight to `relay` were dropped: {c:?}"
    );
    assert_eq!(
        c["sink"].executed, c["relay"].transferred,
        "{what}: tuples in flight to `sink` were dropped: {c:?}"
    );
    // Each spout task's ids are a prefix 0..k, and all of them arrived.
    let relay = sink.received_by("relay");
    let mut emitted = BTreeSet::new();
    for t in sink.tasks_of("numbers") {
        let k = relay.iter().filter(|r| r.source_task == t).count() as i64;
        emitted.extend((0..k).map(|i| i64::from(t) * ID_STRIDE + i));
    }
    assert_eq!(emitted.len() as u64, c["numbers"].emitted, "{what}");
    assert_each_id(&relay, &emitted, 1, &format!("{what}: relay"));
    assert_each_id(
        &sink.received_by("sink"),
        &emitted,
        1,
        &format!("{what}: sink"),
    );
}

/// Checks each task's lifecycle: spouts open, activate, [deactivate],
/// close; bolts prepare, execute..., cleanup; each call exactly once.
fn check_lifecycle(sink: &Sink, stats: &TopologyStats, deactivated: bool, what: &str) {
    let seen = sink.seen.lock().unwrap().clone();
    assert_eq!(
        seen.len(),
        stats
            .components
            .iter()
            .filter(|(name, _)| !name.starts_with("__"))
            .map(|(_, c)| c.tasks)
            .sum::<usize>(),
        "{what}: every task opened or prepared once: {seen:?}"
    );
    let mut executes: BTreeMap<String, u64> = BTreeMap::new();
    for task in &seen {
        let events = sink.events_of(task.task);
        let spout = task.component == "numbers";
        let expected: Vec<Event> = if spout {
            if deactivated {
                vec![
                    Event::Open,
                    Event::Activate,
                    Event::Deactivate,
                    Event::Close,
                ]
            } else {
                vec![Event::Open, Event::Activate, Event::Close]
            }
        } else {
            let n = events.iter().filter(|e| **e == Event::Execute).count();
            *executes.entry(task.component.clone()).or_default() += n as u64;
            let mut v = vec![Event::Prepare];
            v.extend(std::iter::repeat_n(Event::Execute, n));
            v.push(Event::Cleanup);
            v
        };
        assert_eq!(
            events, expected,
            "{what}: lifecycle of task {} ({})",
            task.task, task.component
        );
    }
    for (component, n) in executes {
        assert_eq!(stats.components[&component].executed, n, "{what}");
    }
}

#[test]
fn finite_spouts_finish_cleanly_and_lose_nothing() {
    const N: u64 = 2000;
    for threads in [1, 2, 4] {
        for ring_bytes in [512, 1 << 20] {
            let what = format!("threads={threads} ring_bytes={ring_bytes}");
            let sink = Sink::new();
            let running = submit(chain(&sink, Numbers::new(N)), config(threads, ring_bytes));
            wait_until("the finite topology to finish", || running.is_finished());
            let stats = wait(running, &what).unwrap();
            assert!(stats.errors.is_empty(), "{what}: {:?}", stats.errors);
            let ids = all_ids(&sink.tasks_of("numbers"), N);
            assert_each_id(&sink.received_by("relay"), &ids, 1, &what);
            assert_each_id(&sink.received_by("sink"), &ids, 1, &what);
            let c = &stats.components;
            assert_eq!(c["numbers"].emitted, 2 * N);
            assert_eq!(c["relay"].executed, 2 * N);
            assert_eq!(c["sink"].executed, 2 * N);
            assert_eq!((c["relay"].acked, c["sink"].acked), (2 * N, 2 * N));
            check_lifecycle(&sink, &stats, false, &what);
        }
    }
}

#[test]
fn stop_drains_what_is_in_flight() {
    for threads in [1, 2, 4] {
        let what = format!("stop, threads={threads}");
        let sink = Sink::new();
        // Small rings so that plenty is in flight when `stop` comes.
        let running = submit(chain(&sink, Numbers::infinite()), config(threads, 512));
        wait_until("1000 tuples to reach the sink", || {
            running.stats().components["sink"].executed >= 1000
        });
        running.stop();
        running.stop(); // a second stop is harmless
        let stats = wait(running, &what).unwrap();
        assert!(stats.errors.is_empty(), "{what}: {:?}", stats.errors);
        check_nothing_lost(&sink, &stats, &what);
        check_lifecycle(&sink, &stats, true, &what);
    }
}

#[test]
fn stop_right_after_submit() {
    let sink = Sink::new();
    let running = submit(chain(&sink, Numbers::infinite()), config(2, 512));
    running.stop();
    let stats = wait(running, "stop at once").unwrap();
    // Spouts may or may not have emitted; whatever they did arrived.
    let c = &stats.components;
    assert_eq!(c["relay"].executed, c["numbers"].transferred);
    assert_eq!(c["sink"].executed, c["relay"].transferred);
    assert_eq!(
        sink.received_by("sink").len() as u64,
        c["numbers"].emitted,
        "{c:?}"
    );
}

#[test]
fn duration_stops_an_infinite_topology() {
    for threads in [1, 2] {
        let what = format!("duration, threads={threads}");
        let sink = Sink::new();
        let config = RunConfig {
            duration: Some(Duration::from_millis(100)),
            ..config(threads, 1024)
        };
        let stats = run_with(chain(&sink, Numbers::infinite()), config).unwrap();
        assert!(stats.errors.is_empty(), "{what}: {:?}", stats.errors);
        check_nothing_lost(&sink, &stats, &what);
        check_lifecycle(&sink, &stats, true, &what);
    }
}

#[test]
fn dropping_the_handle_stops_and_cleans_up() {
    let sink = Sink::new();
    let running = submit(chain(&sink, Numbers::infinite()), config(2, 4096));
    wait_until("tuples to reach the sink", || {
        running.stats().components["sink"].executed > 0
    });
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        drop(running);
        let _ = tx.send(());
    });
    rx.recv_timeout(util::WATCHDOG)
        .expect("watchdog: dropping a running topology did not return");
    // Every task was closed or cleaned up exactly once.
    for task in sink.seen.lock().unwrap().iter() {
        let events = sink.events_of(task.task);
        let last = if task.component == "numbers" {
            Event::Close
        } else {
            Event::Cleanup
        };
        assert_eq!(
            events.iter().filter(|e| **e == last).count(),
            1,
            "task {}: {events:?}",
            task.task
        );
        assert_eq!(events.last(), Some(&last), "task {}", task.task);
    }
}

/// Panics on its `at`-th tuple if it is task index `index` of its bolt.
struct Boom {
    index: usize,
    at: usize,
    seen: usize,
    me: Option<usize>,
}

impl Bolt for Boom {
    fn declare_output_fields(&self, _d: &mut OutputFieldsDeclarer) {}
    fn prepare(&mut self, context: &TopologyContext) {
        self.me = Some(context.task_index());
    }
    fn execute(&mut self, _input: &Input<'_>, _out: &mut BoltOutput<'_>) {
        self.seen += 1;
        if self.me == Some(self.index) && self.seen == self.at {
            panic!("boom at tuple {}", self.at);
        }
    }
}

#[test]
fn a_panicking_bolt_fails_its_input_and_keeps_running() {
    for threads in [1, 2] {
        let mut b = TopologyBuilder::new("boom");
        // Tasks: numbers 1, 2; boom 3, 4, 5. Task index 1 of boom is 4.
        b.set_spout("numbers", || Numbers::new(100), 2);
        b.set_bolt(
            "boom",
            || Boom {
                index: 1,
                at: 5,
                seen: 0,
                me: None,
            },
            3,
        )
        .shuffle_grouping("numbers");
        let stats = run_with(b.build().unwrap(), config(threads, 4096))
            .expect("a panic in execute fails the input, not the topology");
        let boom = &stats.components["boom"];
        assert_eq!(boom.failed, 1, "the input of the panic is failed");
        assert_eq!(boom.errors, 1, "the panic is counted");
        // Executed counts every input handed to execute, the one that
        // panicked too: all 200, so the task kept running after the panic.
        assert_eq!(boom.executed, 200, "every other input still runs");
        let [e] = &stats.errors[..] else {
            panic!("one error expected: {:?}", stats.errors);
        };
        assert_eq!(e.component, "boom", "{e:?}");
        assert_eq!(e.task, 4, "{e:?}");
        assert!(e.message.contains("boom at tuple 5"), "{e:?}");
        assert!(e.message.contains("execute"), "{e:?}");
    }
}

/// Panics in `next_tuple` on its third call, if it is task index 1.
struct ExplodingSpout {
    calls: usize,
    index: usize,
}

impl Spout for ExplodingSpout {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare(["n"]);
    }
    fn open(&mut self, context: &TopologyContext) {
        self.index = context.task_index();
    }
    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        self.calls += 1;
        if self.index == 1 && self.calls == 3 {
            panic!("spout gave up");
        }
        out.emit(&[Value::I64(self.calls as i64)]);
    }
}

#[test]
fn a_panicking_spout_fails_the_topology_naming_the_task() {
    let mut b = TopologyBuilder::new("exploding");
    b.set_spout(
        "source",
        || ExplodingSpout {
            calls: 0,
            index: usize::MAX,
        },
        2,
    );
    let sink = Sink::new();
    let s = Arc::clone(&sink);
    b.set_bolt("sink", move || Recorder::new(&s), 1)
        .shuffle_grouping("source");
    let err = run_with(b.build().unwrap(), config(2, 4096)).unwrap_err();
    let RunError::TaskPanicked(e) = &err else {
        panic!("expected TaskPanicked, got {err:?}");
    };
    assert_eq!((e.component.as_str(), e.task), ("source", 2), "{e:?}");
    assert!(e.message.contains("spout gave up"), "{e:?}");
    assert!(e.message.contains("next_tuple"), "{e:?}");
}

/// Stops the topology from `execute` on its fifth input, or from
/// `next_tuple` on its fifth call.
struct Quitter {
    seen: usize,
}

impl Bolt for Quitter {
    fn declare_output_fields(&self, _d: &mut OutputFieldsDeclarer) {}
    fn execute(&mut self, _input: &Input<'_>, out: &mut BoltOutput<'_>) {
        self.seen += 1;
        if self.seen == 5 {
            out.fail_topology("cannot go on after 5 inputs");
        }
    }
}

impl Spout for Quitter {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare(["n"]);
    }
    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        self.seen += 1;
        if self.seen == 5 {
            out.fail_topology(format_args!("cannot go on after {} calls", self.seen));
        }
        out.emit(&[Value::I64(self.seen as i64)]);
    }
}

#[test]
fn a_bolt_or_spout_stops_the_topology_with_its_error() {
    // A bolt of an endless topology.
    let mut b = TopologyBuilder::new("quitting-bolt");
    b.set_spout("numbers", Numbers::infinite, 1);
    b.set_bolt("quitter", || Quitter { seen: 0 }, 1)
        .shuffle_grouping("numbers");
    let err = run_with(b.build().unwrap(), config(2, 4096)).unwrap_err();
    let RunError::TaskFailed(e) = &err else {
        panic!("expected TaskFailed, got {err:?}");
    };
    assert_eq!((e.component.as_str(), e.task), ("quitter", 2), "{e:?}");
    assert_eq!(e.message, "cannot go on after 5 inputs");
    assert_eq!(
        err.to_string(),
        "task 2 of component `quitter` stopped the topology: cannot go on after 5 inputs"
    );
    // A spout.
    let mut b = TopologyBuilder::new("quitting-spout");
    b.set_spout("quitter", || Quitter { seen: 0 }, 1);
    let sink = Sink::new();
    let s = Arc::clone(&sink);
    b.set_bolt("sink", move || Recorder::new(&s), 1)
        .shuffle_grouping("quitter");
    let err = run_with(b.build().unwrap(), config(2, 4096)).unwrap_err();
    let RunError::TaskFailed(e) = &err else {
        panic!("expected TaskFailed, got {err:?}");
    };
    assert_eq!((e.component.as_str(), e.task), ("quitter", 1), "{e:?}");
    assert_eq!(e.message, "cannot go on after 5 calls");
}

/// Panics in `prepare`.
struct BadPrepare;
impl Bolt for BadPrepare {
    fn declare_output_fields(&self, _d: &mut OutputFieldsDeclarer) {}
    fn prepare(&mut self, context: &TopologyContext) {
        panic!("cannot prepare task {}", context.task_id());
    }
    fn execute(&mut self, _input: &Input<'_>, _out: &mut BoltOutput<'_>) {}
}

#[test]
fn a_panic_in_prepare_fails_the_topology() {
    let mut b = TopologyBuilder::new("bad-prepare");
    b.set_spout("numbers", Numbers::infinite, 1);
    b.set_bolt("bad", || BadPrepare, 1)
        .shuffle_grouping("numbers");
    let err = run_with(b.build().unwrap(), config(2, 4096)).unwrap_err();
    let RunError::TaskPanicked(e) = &err else {
        panic!("expected TaskPanicked, got {err:?}");
    };
    assert_eq!((e.component.as_str(), e.task), ("bad", 2), "{e:?}");
    assert!(e.message.contains("cannot prepare task 2"), "{e:?}");
}

/// A mistake a bolt can make when emitting.
#[derive(Clone, Copy, Debug)]
enum Mistake {
    UndeclaredStream,
    TooFewValues,
    TooManyValues,
    EmitOnDirectStream,
    EmitDirectOnPlainStream,
    EmitDirectToAStranger,
    ReportError,
}

/// For each input: makes its mistake, then emits the input correctly on
/// the default stream (so the topology goes on).
struct Clumsy(Mistake);

impl Bolt for Clumsy {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare(["id", "key"]);
        d.declare_direct_stream("direct", ["id"]);
    }
    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        let values: Vec<Value> = input.values().iter().map(|v| v.to_value()).collect();
        let id = values[0].clone();
        match self.0 {
            Mistake::UndeclaredStream => out.emit_to("nope", &values),
            Mistake::TooFewValues => out.emit(&[id]),
            Mistake::TooManyValues => out.emit(&[id.clone(), id.clone(), id]),
            Mistake::EmitOnDirectStream => out.emit_to("direct", &[id]),
            Mistake::EmitDirectOnPlainStream => out.emit_direct(4, "default", &values),
            Mistake::EmitDirectToAStranger => out.emit_direct(1, "direct", &[id]),
            Mistake::ReportError => out.report_error(format_args!("odd tuple {id:?}")),
        }
        out.emit(&values);
    }
}

#[test]
fn emit_mistakes_are_reported_and_the_topology_goes_on() {
    const N: u64 = 50;
    let cases = [
        (Mistake::UndeclaredStream, "`nope`"),
        (
            Mistake::TooFewValues,
            "emitted 1 values on stream `default`",
        ),
        (
            Mistake::TooManyValues,
            "emitted 3 values on stream `default`",
        ),
        (Mistake::EmitOnDirectStream, "use emit_direct"),
        (Mistake::EmitDirectOnPlainStream, "use emit"),
        (Mistake::EmitDirectToAStranger, "task 1"),
        (Mistake::ReportError, "odd tuple"),
    ];
    for (mistake, says) in cases {
        let sink = Sink::new();
        let mut b = TopologyBuilder::new("clumsy");
        // Tasks: numbers 1, clumsy 2, 3, after 4, direct 5.
        b.set_spout("numbers", || Numbers::new(N), 1);
        b.set_bolt("clumsy", move || Clumsy(mistake), 2)
            .shuffle_grouping("numbers");
        let s = Arc::clone(&sink);
        b.set_bolt("after", move || Recorder::new(&s), 1)
            .shuffle_grouping("clumsy");
        let s = Arc::clone(&sink);
        b.set_bolt("direct", move || Recorder::new(&s), 1)
            .direct_grouping("clumsy", "direct");
        let stats = run_with(b.build().unwrap(), config(2, 4096)).unwrap();

        assert_eq!(
            stats.errors.len() as u64,
            N,
            "{mistake:?}: {:?}",
            stats.errors
        );
        for e in &stats.errors {
            assert_eq!(e.component, "clumsy", "{mistake:?}: {e:?}");
            assert!(e.task == 2 || e.task == 3, "{mistake:?}: {e:?}");
            assert!(e.message.contains(says), "{mistake:?}: {e:?}");
        }
        assert_eq!(stats.components["clumsy"].errors, N, "{mistake:?}");
        assert_eq!(stats.components["numbers"].errors, 0);
        // The bad emit went nowhere; the good one arrived.
        assert!(sink.received_by("direct").is_empty(), "{mistake:?}");
        assert_each_id(
            &sink.received_by("after"),
            &all_ids(&[1], N),
            1,
            &format!("{mistake:?}"),
        );
        // `emitted` counts emits that reached a declared stream, even one
        // whose direct target turned out not to subscribe.
        let reached_a_stream = matches!(mistake, Mistake::EmitDirectToAStranger);
        assert_eq!(
            stats.components["clumsy"].emitted,
            if reached_a_stream { 2 * N } else { N },
            "{mistake:?}"
        );
        assert_eq!(stats.components["clumsy"].transferred, N, "{mistake:?}");
    }
}

/// Emits once to an undeclared stream, then `n` good tuples.
struct SloppySpout {
    n: i64,
    i: i64,
}
impl Spout for SloppySpout {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare(["id", "key"]);
    }
    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        if self.i == 0 {
            out.emit_to("elsewhere", &[Value::I64(-1), Value::from("x")]);
        }
        if self.i < self.n {
            out.emit(&[Value::I64(ID_STRIDE + self.i), Value::from("k")]);
            self.i += 1;
        }
    }
    fn is_finished(&self) -> bool {
        self.i == self.n
    }
}

#[test]
fn a_spout_emit_mistake_names_the_spout() {
    let sink = Sink::new();
    let mut b = TopologyBuilder::new("sloppy");
    b.set_spout("sloppy", || SloppySpout { n: 10, i: 0 }, 1);
    let s = Arc::clone(&sink);
    b.set_bolt("sink", move || Recorder::new(&s), 1)
        .shuffle_grouping("sloppy");
    let stats = run_with(b.build().unwrap(), config(1, 4096)).unwrap();
    assert_eq!(stats.errors.len(), 1, "{:?}", stats.errors);
    let e = &stats.errors[0];
    assert_eq!((e.component.as_str(), e.task), ("sloppy", 1));
    assert!(e.message.contains("`elsewhere`"), "{e:?}");
    assert_eq!(stats.components["sloppy"].emitted, 10);
    assert_each_id(&sink.received_by("sink"), &all_ids(&[1], 10), 1, "sloppy");
}

#[test]
fn run_helper_reports_recorder_state() {
    // The helpers themselves: a recorder records what it executed.
    let sink = Sink::new();
    let mut b = TopologyBuilder::new("helpers");
    b.set_spout("numbers", || Numbers::new(3).keys(2), 1);
    let s = Arc::clone(&sink);
    b.set_bolt("sink", move || Recorder::new(&s), 1)
        .shuffle_grouping("numbers");
    let stats = run(b.build().unwrap(), 1, 4096);
    let recs: Vec<Rec> = sink.received_by("sink");
    let got: Vec<(TaskId, usize, TaskId, &str, i64, &str)> = recs
        .iter()
        .map(|r| {
            (
                r.task,
                r.thread,
                r.source_task,
                r.source_stream.as_str(),
                r.id(),
                r.key(),
            )
        })
        .collect();
    let s = ID_STRIDE;
    assert_eq!(
        got,
        [
            (2, 0, 1, "default", s, "k0"),
            (2, 0, 1, "default", s + 1, "k1"),
            (2, 0, 1, "default", s + 2, "k0"),
        ]
    );
    assert_eq!(stats.components["sink"].executed, 3);
}

/// Panics in `cleanup`.
struct BadCleanup;
impl Bolt for BadCleanup {
    fn declare_output_fields(&self, _d: &mut OutputFieldsDeclarer) {}
    fn execute(&mut self, _input: &Input<'_>, _out: &mut BoltOutput<'_>) {}
    fn cleanup(&mut self) {
        panic!("cannot clean up");
    }
}

fn bad_cleanup() -> TopologyStats {
    let sink = Sink::new();
    let mut b = TopologyBuilder::new("bad-cleanup");
    let s = Arc::clone(&sink);
    b.set_spout("numbers", move || Numbers::new(10).sink(&s), 1);
    b.set_bolt("bad", || BadCleanup, 2)
        .shuffle_grouping("numbers");
    let stats = run_with(b.build().unwrap(), config(2, 4096))
        .expect("a panic in cleanup, after the last tuple, does not fail the run");
    // The spout was still closed.
    assert_eq!(sink.events_of(1).last(), Some(&Event::Close));
    stats
}

#[test]
fn a_panic_in_cleanup_is_reported() {
    let stats = bad_cleanup();
    let mut tasks: Vec<TaskId> = stats.errors.iter().map(|e| e.task).collect();
    tasks.sort_unstable();
    assert_eq!(tasks, [2, 3], "{:?}", stats.errors);
    for e in &stats.errors {
        assert_eq!(e.component, "bad", "{e:?}");
        assert!(
            e.message.contains("cleanup") && e.message.contains("cannot clean up"),
            "{e:?}"
        );
    }
    assert_eq!(stats.components["bad"].executed, 10);
}

#[test]

fn a_panic_in_cleanup_is_counted() {
    let stats = bad_cleanup();
    assert_eq!(stats.errors.len(), 2, "{:?}", stats.errors);
    assert_eq!(
        stats.components["bad"].errors, 2,
        "stats.errors lists 2 errors of `bad`, its counter says {:?}",
        stats.components["bad"]
    );
}

/// Reports an error per input.
struct Complainer;
impl Bolt for Complainer {
    fn declare_output_fields(&self, _d: &mut OutputFieldsDeclarer) {}
    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        out.report_error(format_args!("complaint about {:?}", input.get(0)));
    }
}

#[test]
fn reported_errors_are_kept_up_to_a_thousand_and_all_counted() {
    let mut b = TopologyBuilder::new("complaints");
    b.set_spout("numbers", || Numbers::new(1500), 1);
    b.set_bolt("complainer", || Complainer, 2)
        .shuffle_grouping("numbers");
    let stats = run_with(b.build().unwrap(), config(2, 4096)).unwrap();
    assert_eq!(stats.errors.len(), 1000);
    assert!(stats
        .errors
        .iter()
        .all(|e| e.component == "complainer" && e.message.contains("complaint about")));
    assert_eq!(stats.components["complainer"].errors, 1500);
    assert_eq!(stats.components["complainer"].executed, 1500);
}
