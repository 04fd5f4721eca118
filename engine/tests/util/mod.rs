//! Helpers shared by the engine's integration tests: finite and infinite
//! spouts, a bolt that records where every tuple went, and `run` helpers
//! with a watchdog so a hung topology fails its test instead of hanging it.
//!
//! Each test file compiles this module on its own and uses only part of it.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use gale_codec::Value;
use gale_engine::{
    Bolt, BoltOutput, Input, LocalCluster, OutputFieldsDeclarer, RunConfig, RunError,
    RunningTopology, Spout, SpoutOutput, TaskId, Topology, TopologyContext, TopologyStats,
};

/// How long a topology may run before the watchdog fails the test. Far
/// above what any test needs; only a hang (deadlock, lost termination)
/// reaches it.
pub const WATCHDOG: Duration = Duration::from_secs(60);

/// Fields of every tuple [`Numbers`] emits.
pub const FIELDS: [&str; 2] = ["id", "key"];

/// Ids emitted by spout task `task` are `task * ID_STRIDE + i`, so ids are
/// unique across tasks and tell which task emitted them.
pub const ID_STRIDE: i64 = 1_000_000;

/// Acks and fails of each message id of a reliable [`Numbers`].
pub type Acks = Arc<Mutex<BTreeMap<i64, (u32, u32)>>>;

/// What a task saw of itself when it was opened or prepared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSeen {
    pub component: String,
    pub task: TaskId,
    pub task_index: usize,
    pub thread: usize,
    pub component_tasks: Vec<TaskId>,
}

/// One tuple as a recording bolt received it.
#[derive(Debug, Clone, PartialEq)]
pub struct Rec {
    /// Component of the receiving task.
    pub component: String,
    /// The receiving task.
    pub task: TaskId,
    /// The receiving task's worker thread.
    pub thread: usize,
    pub source_task: TaskId,
    pub source_component: String,
    pub source_stream: String,
    pub tick: bool,
    pub values: Vec<Value>,
}

impl Rec {
    /// The `id` value (first field) of a [`Numbers`] tuple.
    pub fn id(&self) -> i64 {
        match self.values.first() {
            Some(Value::I64(id)) => *id,
            other => panic!("tuple without an integer id: {other:?} in {self:?}"),
        }
    }

    /// The `key` value (second field) of a [`Numbers`] tuple.
    pub fn key(&self) -> &str {
        match self.values.get(1) {
            Some(Value::Str(k)) => k,
            other => panic!("tuple without a string key: {other:?} in {self:?}"),
        }
    }
}

/// Where the test's components report: tasks opened/prepared, tuples
/// received, and lifecycle events in order.
#[derive(Debug, Default)]
pub struct Sink {
    pub seen: Mutex<Vec<TaskSeen>>,
    pub tuples: Mutex<Vec<Rec>>,
    pub events: Mutex<Vec<(TaskId, Event)>>,
}

/// A lifecycle call or a tuple, as one task saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Open,
    Activate,
    Deactivate,
    Close,
    Prepare,
    Execute,
    Cleanup,
}

impl Sink {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn see(&self, context: &TopologyContext) {
        self.seen.lock().unwrap().push(TaskSeen {
            component: context.component_id().to_owned(),
            task: context.task_id(),
            task_index: context.task_index(),
            thread: context.thread_index(),
            component_tasks: context.component_tasks().to_vec(),
        });
    }

    fn event(&self, task: TaskId, event: Event) {
        self.events.lock().unwrap().push((task, event));
    }

    /// Every tuple received (ticks included).
    pub fn tuples(&self) -> Vec<Rec> {
        self.tuples.lock().unwrap().clone()
    }

    /// Data tuples received by `component` (ticks excluded).
    pub fn received_by(&self, component: &str) -> Vec<Rec> {
        self.tuples()
            .into_iter()
            .filter(|r| r.component == component && !r.tick)
            .collect()
    }

    /// Task ids of `component`, from what its tasks saw when prepared.
    pub fn tasks_of(&self, component: &str) -> Vec<TaskId> {
        let seen = self.seen.lock().unwrap();
        let mut tasks: Vec<TaskId> = seen
            .iter()
            .filter(|s| s.component == component)
            .map(|s| s.task)
            .collect();
        tasks.sort_unstable();
        tasks
    }

    /// Worker thread of every task that was opened or prepared.
    pub fn thread_of(&self) -> BTreeMap<TaskId, usize> {
        let seen = self.seen.lock().unwrap();
        seen.iter().map(|s| (s.task, s.thread)).collect()
    }

    /// Events of one task, in order.
    pub fn events_of(&self, task: TaskId) -> Vec<Event> {
        let events = self.events.lock().unwrap();
        events
            .iter()
            .filter(|(t, _)| *t == task)
            .map(|(_, e)| *e)
            .collect()
    }
}

/// A spout that emits `[id, key]` tuples: `n` per task (or forever), on
/// each of its streams in turn, optionally pacing itself.
#[derive(Clone)]
pub struct Numbers {
    /// Tuples per task; `None` for an infinite spout.
    limit: Option<u64>,
    /// With message ids (the id): acks and fails by id, and the failed
    /// ids to emit again.
    reliable: Option<(Acks, Vec<i64>)>,
    /// Trees in flight (reliable).
    in_flight: u64,
    /// Keys are `k0 .. k{keys - 1}`, cycling with the tuple's index.
    keys: u64,
    streams: Vec<&'static str>,
    sink: Option<Arc<Sink>>,
    // Per task, set in `open`.
    task: TaskId,
    emitted: u64,
}

impl Numbers {
    /// `n` tuples per task on the default stream, keys `k0..k9`.
    pub fn new(n: u64) -> Self {
        Self {
            limit: Some(n),
            reliable: None,
            in_flight: 0,
            keys: 10,
            streams: vec![gale_engine::DEFAULT_STREAM],
            sink: None,
            task: 0,
            emitted: 0,
        }
    }

    /// Emits until the topology is stopped.
    pub fn infinite() -> Self {
        Self {
            limit: None,
            ..Self::new(0)
        }
    }

    /// Keys `k0 .. k{keys - 1}`.
    pub fn keys(mut self, keys: u64) -> Self {
        self.keys = keys;
        self
    }

    /// Declares these streams (all with [`FIELDS`]) and emits every tuple
    /// on each of them.
    pub fn streams(mut self, streams: &[&'static str]) -> Self {
        self.streams = streams.to_vec();
        self
    }

    /// Emits with message ids (the tuple's id), counts each id's acks and
    /// fails in `acks`, replays failed ids, and is finished only once
    /// every tree is complete.
    pub fn reliable(mut self, acks: &Acks) -> Self {
        self.reliable = Some((Arc::clone(acks), Vec::new()));
        self
    }

    /// Reports `open` and lifecycle events to `sink`.
    pub fn sink(mut self, sink: &Arc<Sink>) -> Self {
        self.sink = Some(Arc::clone(sink));
        self
    }

    fn values(&self) -> [Value; 2] {
        self.values_of(self.emitted)
    }

    fn values_of(&self, index: u64) -> [Value; 2] {
        let id = i64::from(self.task) * ID_STRIDE + index as i64;
        let key = format!("k{}", index % self.keys);
        [Value::I64(id), Value::from(key)]
    }
}

impl Spout for Numbers {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        for s in &self.streams {
            d.declare_stream(s, FIELDS);
        }
    }

    fn open(&mut self, context: &TopologyContext) {
        self.task = context.task_id();
        if let Some(sink) = &self.sink {
            sink.see(context);
            sink.event(self.task, Event::Open);
        }
    }

    fn activate(&mut self) {
        if let Some(sink) = &self.sink {
            sink.event(self.task, Event::Activate);
        }
    }

    fn deactivate(&mut self) {
        if let Some(sink) = &self.sink {
            sink.event(self.task, Event::Deactivate);
        }
    }

    fn close(&mut self) {
        if let Some(sink) = &self.sink {
            sink.event(self.task, Event::Close);
        }
    }

    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        if let Some((_, replay)) = &mut self.reliable {
            if let Some(id) = replay.pop() {
                let values = self.values_of((id - i64::from(self.task) * ID_STRIDE) as u64);
                for s in &self.streams {
                    out.emit_to_with_id(s, &values, id as u64);
                }
                self.in_flight += self.streams.len() as u64;
                return;
            }
        }
        if self.limit.is_some_and(|n| self.emitted >= n) {
            return;
        }
        let values = self.values();
        for s in &self.streams {
            match &self.reliable {
                Some(_) => {
                    let id = i64::from(self.task) * ID_STRIDE + self.emitted as i64;
                    out.emit_to_with_id(s, &values, id as u64);
                }
                None => out.emit_to(s, &values),
            }
        }
        if self.reliable.is_some() {
            // One tree per stream.
            self.in_flight += self.streams.len() as u64;
        }
        self.emitted += 1;
    }

    fn ack(&mut self, msg_id: u64) {
        if let Some((acks, _)) = &self.reliable {
            acks.lock().unwrap().entry(msg_id as i64).or_default().0 += 1;
            self.in_flight -= 1;
        }
    }

    fn fail(&mut self, msg_id: u64) {
        if let Some((acks, replay)) = &mut self.reliable {
            acks.lock().unwrap().entry(msg_id as i64).or_default().1 += 1;
            replay.push(msg_id as i64);
            self.in_flight -= 1;
        }
    }

    fn is_finished(&self) -> bool {
        let settled = match &self.reliable {
            Some((_, replay)) => replay.is_empty() && self.in_flight == 0,
            None => true,
        };
        settled && self.limit.is_some_and(|n| self.emitted >= n)
    }
}

/// What a [`Recorder`] emits per input.
#[derive(Clone, Copy, Debug)]
pub enum Relay {
    /// Nothing (a sink).
    None,
    /// The input's values, this many times, on the default stream.
    Copies(usize),
    /// The same, anchored to the input.
    Anchored(usize),
    /// The same, in one `emit_many` call.
    Many(usize),
    /// The input, this many times, by `forward` (anchored, the values
    /// written from their archived form).
    Forwarded(usize),
}

/// A bolt that records every tuple it receives into a [`Sink`] (with its
/// own task id and thread) and optionally passes tuples on.
pub struct Recorder {
    sink: Arc<Sink>,
    relay: Relay,
    component: String,
    task: TaskId,
    thread: usize,
}

impl Recorder {
    /// A sink that records and emits nothing.
    pub fn new(sink: &Arc<Sink>) -> Self {
        Self {
            sink: Arc::clone(sink),
            relay: Relay::None,
            component: String::new(),
            task: 0,
            thread: usize::MAX,
        }
    }

    /// Records and emits each input's values `copies` times on the default
    /// stream (declared with [`FIELDS`]).
    pub fn relay(sink: &Arc<Sink>, copies: usize) -> Self {
        Self::relay_with(sink, Relay::Copies(copies))
    }

    /// Records and emits each input's values as `relay` says.
    pub fn relay_with(sink: &Arc<Sink>, relay: Relay) -> Self {
        Self {
            relay,
            ..Self::new(sink)
        }
    }
}

impl Bolt for Recorder {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        if !matches!(self.relay, Relay::None) {
            d.declare(FIELDS);
        }
    }

    fn prepare(&mut self, context: &TopologyContext) {
        self.component = context.component_id().to_owned();
        self.task = context.task_id();
        self.thread = context.thread_index();
        self.sink.see(context);
        self.sink.event(self.task, Event::Prepare);
    }

    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        let values: Vec<Value> = input.values().iter().map(|v| v.to_value()).collect();
        if !input.is_tick() {
            match self.relay {
                Relay::None => {}
                Relay::Copies(n) => (0..n).for_each(|_| out.emit(&values)),
                Relay::Anchored(n) => (0..n).for_each(|_| {
                    out.emit_anchored(gale_engine::DEFAULT_STREAM, &[input], &values);
                }),
                Relay::Many(n) => out.emit_many((0..n).map(|_| values.as_slice())),
                Relay::Forwarded(n) => {
                    (0..n).for_each(|_| out.forward(gale_engine::DEFAULT_STREAM, input));
                }
            }
        }
        self.sink.event(self.task, Event::Execute);
        self.sink.tuples.lock().unwrap().push(Rec {
            component: self.component.clone(),
            task: self.task,
            thread: self.thread,
            source_task: input.source_task(),
            source_component: input.source_component().to_owned(),
            source_stream: input.source_stream().to_owned(),
            tick: input.is_tick(),
            values,
        });
        out.ack(input);
    }

    fn cleanup(&mut self) {
        self.sink.event(self.task, Event::Cleanup);
    }
}

/// A test configuration: `threads` unpinned workers, rings of
/// `ring_bytes`, everything else default.
pub fn config(threads: usize, ring_bytes: usize) -> RunConfig {
    RunConfig {
        threads,
        pin: false,
        ring_bytes,
        ..RunConfig::default()
    }
}

/// Runs `topology` to completion and returns its final stats; fails the
/// test if it panics, reports errors, or does not finish in time.
pub fn run(topology: Topology, threads: usize, ring_bytes: usize) -> TopologyStats {
    run_config(topology, config(threads, ring_bytes))
}

/// [`run`] with a whole configuration.
pub fn run_config(topology: Topology, config: RunConfig) -> TopologyStats {
    let what = format!("`{}` with {config:?}", topology.name());
    let stats = run_with(topology, config).unwrap_or_else(|e| panic!("{what} failed: {e}"));
    assert!(
        stats.errors.is_empty(),
        "{what} reported errors: {:?}",
        stats.errors
    );
    stats
}

/// Submits `topology` with `config` and waits for it under the watchdog.
pub fn run_with(topology: Topology, config: RunConfig) -> Result<TopologyStats, RunError> {
    let name = topology.name().to_owned();
    let running = LocalCluster::new(config.clone())
        .submit(topology)
        .unwrap_or_else(|e| panic!("could not start `{name}`: {e}"));
    wait(running, &format!("`{name}` with {config:?}"))
}

/// Waits for a running topology; fails the test with `what` in the
/// message if it has not stopped after [`WATCHDOG`].
pub fn wait(running: RunningTopology, what: &str) -> Result<TopologyStats, RunError> {
    let (tx, rx) = mpsc::channel();
    thread::Builder::new()
        .name("test-wait".into())
        .spawn(move || {
            let _ = tx.send(running.wait());
        })
        .expect("spawn the waiting thread");
    match rx.recv_timeout(WATCHDOG) {
        Ok(result) => result,
        Err(_) => panic!(
            "watchdog: topology {what} did not finish within {WATCHDOG:?} \
             (deadlock or lost termination?)"
        ),
    }
}

/// Polls `condition` every millisecond until it holds; fails the test after
/// [`WATCHDOG`] with `what` in the message.
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !condition() {
        assert!(
            start.elapsed() < WATCHDOG,
            "watchdog: waited {WATCHDOG:?} for {what}"
        );
        thread::sleep(Duration::from_millis(1));
    }
}

/// Every id the [`Numbers`] spout tasks `tasks` emit when each emits `n`.
pub fn all_ids(tasks: &[TaskId], n: u64) -> BTreeSet<i64> {
    tasks
        .iter()
        .flat_map(|t| (0..n as i64).map(move |i| i64::from(*t) * ID_STRIDE + i))
        .collect()
}

/// How many times each id was received.
pub fn id_counts(recs: &[Rec]) -> BTreeMap<i64, usize> {
    let mut counts = BTreeMap::new();
    for r in recs {
        *counts.entry(r.id()).or_default() += 1;
    }
    counts
}

/// Asserts that `recs` hold every id of `expected` exactly `times` times
/// and nothing else.
#[track_caller]
pub fn assert_each_id(recs: &[Rec], expected: &BTreeSet<i64>, times: usize, what: &str) {
    let counts = id_counts(recs);
    let missing: Vec<i64> = expected
        .iter()
        .filter(|id| !counts.contains_key(id))
        .copied()
        .take(10)
        .collect();
    let unexpected: Vec<i64> = counts
        .keys()
        .filter(|id| !expected.contains(id))
        .copied()
        .take(10)
        .collect();
    let wrong: Vec<(i64, usize)> = counts
        .iter()
        .filter(|(_, c)| **c != times)
        .map(|(id, c)| (*id, *c))
        .take(10)
        .collect();
    assert!(
        missing.is_empty() && unexpected.is_empty() && wrong.is_empty(),
        "{what}: expected each of {} ids {times} time(s); missing (first 10) {missing:?}, \
         unexpected {unexpected:?}, wrong counts (id, count) {wrong:?}",
        expected.len()
    );
}

/// Tuples received per task.
pub fn per_task(recs: &[Rec]) -> BTreeMap<TaskId, usize> {
    let mut counts = BTreeMap::new();
    for r in recs {
        *counts.entry(r.task).or_default() += 1;
    }
    counts
}
