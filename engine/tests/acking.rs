//! At-least-once delivery: a spout's emit with a message id starts a tuple
//! tree, and the spout task gets exactly one `ack` or one `fail` for it —
//! `ack` only once every tuple of the tree was acked, `fail` as soon as one
//! is failed (or its bolt panics), or when the tree times out. With no
//! ackers every reliable emit is acked at once. `max_spout_pending` bounds
//! the trees in flight per spout task, `reset_timeout` keeps a slow tree
//! alive, a finished spout lets the topology stop only once its trees are
//! done, and spouts report their complete latency.
//!
//! Every component writes what it does into one [`Log`], in one order (the
//! order of its lock), so the checks are causal rather than timed: a tree
//! acked at the spout must have had every one of its tuples acked *before*
//! the spout heard of it.

mod util;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use gale_codec::Value;
use gale_engine::{
    Bolt, BoltOutput, ComponentStats, Input, LocalCluster, OutputFieldsDeclarer, RunConfig, Spout,
    SpoutOutput, TaskId, TopologyBuilder, TopologyContext, TopologyStats, DEFAULT_STREAM,
};
use util::{config, run_config, run_with, ID_STRIDE};

/// Fields of every data tuple: the spout's message id, the attempt (0 for
/// the first emit, one more per replay) and the tuple's child number in its
/// tree.
const FIELDS: [&str; 3] = ["id", "attempt", "child"];

/// Rings large enough that nothing ever waits for room.
const BIG_RING: usize = 1 << 20;

// ---------------------------------------------------------------------------
// The shared log.

/// What a bolt does with one input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    Ack,
    Fail,
    /// Neither ack nor fail: the tree can only time out.
    Drop,
    /// Panic in `execute` (after emitting the children).
    Panic,
}

/// One thing a task did, as logged.
#[derive(Clone, Debug)]
enum Ev {
    /// A spout task emitted attempt `attempt` of message `id`.
    Emit { task: TaskId, id: u64, attempt: u32 },
    /// The spout task got `ack(id)`; `attempt` was the one in flight.
    Acked { id: u64, attempt: u32 },
    /// The spout task got `fail(id)`; `attempt` was the one in flight.
    Failed { id: u64, attempt: u32 },
    /// A bolt task got a tuple of attempt `attempt` of `id` and is about to
    /// act on it with `fate` (logged before the ack or fail, after emitting
    /// the children).
    Bolt {
        component: String,
        task: TaskId,
        id: u64,
        attempt: u32,
        child: u32,
        fate: Fate,
        /// Trees the input belongs to.
        roots: usize,
    },
}

/// Where every task of a test reports.
#[derive(Default)]
struct Log {
    events: Mutex<Vec<Ev>>,
    /// Broken expectations noticed inside the tasks (a panic there would
    /// stop the topology and hide the rest).
    violations: Mutex<Vec<String>>,
    /// Worker thread of every spout and bolt task.
    threads: Mutex<BTreeMap<TaskId, usize>>,
    /// Spout tasks, by component.
    spouts: Mutex<BTreeMap<String, BTreeSet<TaskId>>>,
    /// Per spout task: the most trees it had in flight at once.
    max_in_flight: Mutex<BTreeMap<TaskId, usize>>,
}

impl Log {
    fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn push(&self, ev: Ev) {
        self.events.lock().unwrap().push(ev);
    }

    fn violation(&self, message: String) {
        self.violations.lock().unwrap().push(message);
    }

    fn events(&self) -> Vec<Ev> {
        self.events.lock().unwrap().clone()
    }

    fn placed(&self, context: &TopologyContext) {
        self.threads
            .lock()
            .unwrap()
            .insert(context.task_id(), context.thread_index());
    }

    /// Fails the test if any task noticed something wrong.
    #[track_caller]
    fn assert_clean(&self, what: &str) {
        let v = self.violations.lock().unwrap();
        assert!(
            v.is_empty(),
            "{what}: {} violation(s), first 10: {:#?}",
            v.len(),
            &v[..v.len().min(10)]
        );
    }

    /// Every message id the spout `component` had to deliver: `n` per task.
    #[track_caller]
    fn ids_of(&self, component: &str, tasks: usize, n: u64) -> BTreeSet<u64> {
        let spouts = self.spouts.lock().unwrap();
        let ids = spouts.get(component).cloned().unwrap_or_default();
        assert_eq!(ids.len(), tasks, "tasks of spout `{component}`: {ids:?}");
        ids.iter()
            .flat_map(|t| (0..n).map(move |i| u64::from(*t) * ID_STRIDE as u64 + i))
            .collect()
    }

    /// Bolt events of `component`, by fate.
    fn fates_of(&self, component: &str) -> BTreeMap<&'static str, u64> {
        let mut counts = BTreeMap::new();
        for ev in self.events() {
            if let Ev::Bolt {
                component: c, fate, ..
            } = ev
            {
                if c == component {
                    let name = match fate {
                        Fate::Ack => "ack",
                        Fate::Fail => "fail",
                        Fate::Drop => "drop",
                        Fate::Panic => "panic",
                    };
                    *counts.entry(name).or_default() += 1;
                }
            }
        }
        counts
    }
}

// ---------------------------------------------------------------------------
// The spout.

/// A spout emitting `n` messages per task, each `[id, attempt, 0]` with
/// its id as message id, which checks every `ack`/`fail` against what it
/// has in flight and logs everything.
#[derive(Clone)]
struct Reliable {
    log: Arc<Log>,
    n: u64,
    /// Re-emit every failed id (same id, next attempt).
    replay: bool,
    /// Report `is_finished` right after the last emit, trees in flight or
    /// not (otherwise: once every id is done).
    finish_early: bool,
    /// Emit without message ids.
    unreliable: bool,
    /// Whether the topology has ackers (`pending()` is then what this task
    /// has in flight; without ackers it is always 0).
    ackers: bool,
    /// The `max_spout_pending` the engine should enforce.
    bound: Option<usize>,
    /// The last message of each task carries a string of this many bytes as
    /// its `child` field.
    big: Option<usize>,
    /// Messages emitted per `next_tuple` call.
    burst: u64,
    /// Emit each call's messages as one run (`emit_many_with_ids`), not
    /// one `emit_with_id` each.
    batched: bool,
    /// Trees may be completed at emit (not pending, yet not acked until
    /// `next_tuple` returns): `pending()` may be below what is in flight.
    completed_at_emit: bool,
    // Per task, from `open` on.
    component: String,
    task: TaskId,
    next: u64,
    replays: VecDeque<u64>,
    /// Last attempt emitted, per id.
    attempts: HashMap<u64, u32>,
    /// Attempt in flight, per id.
    in_flight: HashMap<u64, u32>,
    acked: u64,
    max_in_flight: usize,
}

impl Reliable {
    fn new(log: &Arc<Log>, n: u64) -> Self {
        Self {
            log: Arc::clone(log),
            n,
            replay: false,
            finish_early: false,
            unreliable: false,
            ackers: true,
            bound: None,
            big: None,
            burst: 1,
            batched: false,
            completed_at_emit: false,
            component: String::new(),
            task: 0,
            next: 0,
            replays: VecDeque::new(),
            attempts: HashMap::new(),
            in_flight: HashMap::new(),
            acked: 0,
            max_in_flight: 0,
        }
    }

    fn replaying(mut self) -> Self {
        self.replay = true;
        self
    }

    fn finish_early(mut self) -> Self {
        self.finish_early = true;
        self
    }

    fn unreliable(mut self) -> Self {
        self.unreliable = true;
        self
    }

    fn without_ackers(mut self) -> Self {
        self.ackers = false;
        self
    }

    fn bound(mut self, bound: usize) -> Self {
        self.bound = Some(bound);
        self
    }

    fn big(mut self, bytes: usize) -> Self {
        self.big = Some(bytes);
        self
    }

    fn burst(mut self, burst: u64) -> Self {
        self.burst = burst;
        self
    }

    /// Emits `burst` messages per call as one run.
    fn batched(mut self, burst: u64) -> Self {
        self.burst = burst;
        self.batched = true;
        self
    }

    fn completed_at_emit(mut self) -> Self {
        self.completed_at_emit = true;
        self
    }

    fn emit_one(&mut self, out: &mut SpoutOutput<'_>) {
        self.check_pending(out);
        if let Some((values, id)) = self.next_message() {
            if self.unreliable {
                out.emit(&values);
            } else {
                out.emit_with_id(&values, id);
            }
        }
    }

    /// Checks `pending()` and the bound against the trees in flight.
    fn check_pending(&self, out: &SpoutOutput<'_>) {
        if !self.unreliable {
            let expected = if self.ackers { self.in_flight.len() } else { 0 };
            let wrong = if self.completed_at_emit {
                out.pending() > expected
            } else {
                out.pending() != expected
            };
            if wrong {
                self.violation(format_args!(
                    "pending() = {} but {expected} trees are in flight",
                    out.pending()
                ));
            }
            if let Some(bound) = self.bound {
                if self.in_flight.len() >= bound {
                    self.violation(format_args!(
                        "next_tuple called with {} trees in flight (max_spout_pending {bound})",
                        self.in_flight.len()
                    ));
                }
            }
        }
    }

    /// The next message to emit, logged and (reliable) in flight from now.
    fn next_message(&mut self) -> Option<([Value; 3], u64)> {
        let id = if let Some(id) = self.replays.pop_front() {
            id
        } else if self.next < self.n {
            self.next += 1;
            u64::from(self.task) * ID_STRIDE as u64 + self.next - 1
        } else {
            return None;
        };
        let attempt = match self.attempts.get_mut(&id) {
            Some(a) => {
                *a += 1;
                *a
            }
            None => {
                self.attempts.insert(id, 0);
                0
            }
        };
        let child = match self.big {
            Some(bytes) if id % ID_STRIDE as u64 == self.n - 1 => Value::from("x".repeat(bytes)),
            _ => Value::I64(0),
        };
        let values = [Value::I64(id as i64), Value::I64(attempt.into()), child];
        self.log.push(Ev::Emit {
            task: self.task,
            id,
            attempt,
        });
        if !self.unreliable {
            if self.in_flight.insert(id, attempt).is_some() {
                self.violation(format_args!("emitted {id} while it was in flight"));
            }
            self.max_in_flight = self.max_in_flight.max(self.in_flight.len());
        }
        Some((values, id))
    }

    fn violation(&self, what: impl std::fmt::Display) {
        self.log.violation(format!(
            "spout `{}` task {}: {what}",
            self.component, self.task
        ));
    }
}

impl Spout for Reliable {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare(FIELDS);
    }

    fn open(&mut self, context: &TopologyContext) {
        self.component = context.component_id().to_owned();
        self.task = context.task_id();
        self.log.placed(context);
        self.log
            .spouts
            .lock()
            .unwrap()
            .entry(self.component.clone())
            .or_default()
            .insert(self.task);
    }

    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        if self.batched && !self.unreliable {
            self.check_pending(out);
            let run: Vec<([Value; 3], u64)> =
                (0..self.burst).map_while(|_| self.next_message()).collect();
            out.emit_many_with_ids(run.iter().map(|(values, id)| (&values[..], *id)));
            return;
        }
        for _ in 0..self.burst {
            self.emit_one(out);
        }
    }

    fn ack(&mut self, id: u64) {
        match self.in_flight.remove(&id) {
            Some(attempt) => {
                self.acked += 1;
                self.log.push(Ev::Acked { id, attempt });
            }
            None => self.violation(format_args!("ack({id}) for an id not in flight")),
        }
    }

    fn fail(&mut self, id: u64) {
        match self.in_flight.remove(&id) {
            Some(attempt) => {
                self.log.push(Ev::Failed { id, attempt });
                if self.replay {
                    self.replays.push_back(id);
                }
            }
            None => self.violation(format_args!("fail({id}) for an id not in flight")),
        }
    }

    fn close(&mut self) {
        self.log
            .max_in_flight
            .lock()
            .unwrap()
            .insert(self.task, self.max_in_flight);
        // Every test topology stops by itself, which must wait for the
        // spout's trees.
        if !self.in_flight.is_empty() || !self.replays.is_empty() {
            self.violation(format_args!(
                "closed with {} trees in flight and {} replays to do",
                self.in_flight.len(),
                self.replays.len()
            ));
        }
    }

    fn is_finished(&self) -> bool {
        let emitted_all = self.next == self.n && self.replays.is_empty();
        if self.unreliable || self.finish_early {
            emitted_all
        } else if self.replay {
            self.acked == self.n
        } else {
            emitted_all && self.in_flight.is_empty()
        }
    }
}

// ---------------------------------------------------------------------------
// The bolt.

/// Decides a bolt's [`Fate`] for `(id, attempt, child)`.
type Decide = Arc<dyn Fn(u64, u32, u32) -> Fate + Send + Sync>;

fn always(fate: Fate) -> Decide {
    Arc::new(move |_, _, _| fate)
}

fn decide(f: impl Fn(u64, u32, u32) -> Fate + Send + Sync + 'static) -> Decide {
    Arc::new(f)
}

/// What a [`Node`] emits per input, always anchored to it.
#[derive(Clone)]
enum Emits {
    Nothing,
    /// A copy of the input (same child number) on the default stream.
    Relay,
    /// The same, anchored to the input twice (`&[input, input]`): it is
    /// still one edge of one tree.
    RelayAnchoredTwice,
    /// `count` children on each stream in turn, numbered from 0, then one
    /// more on the direct stream `.0` to the task of component `.1` picked
    /// by id.
    Split {
        streams: Vec<(&'static str, u32)>,
        direct: Option<(&'static str, &'static str)>,
    },
}

/// A bolt that emits its children anchored to the input, then acks, fails,
/// drops or panics as `decide` says, logging each input first.
#[derive(Clone)]
struct Node {
    log: Arc<Log>,
    emits: Emits,
    decide: Decide,
    /// Call `reset_timeout` before each round of work.
    reset: bool,
    /// Rounds of work per input and how long each sleeps.
    work: (u32, Duration),
    /// Sleep this long on the task's first input only.
    stall_first: Duration,
    // Per task.
    executed: u64,
    component: String,
    task: TaskId,
    direct_targets: Vec<TaskId>,
}

impl Node {
    fn new(log: &Arc<Log>, decide: Decide) -> Self {
        Self {
            log: Arc::clone(log),
            emits: Emits::Nothing,
            decide,
            reset: false,
            work: (0, Duration::ZERO),
            stall_first: Duration::ZERO,
            executed: 0,
            component: String::new(),
            task: 0,
            direct_targets: Vec::new(),
        }
    }

    fn relay(mut self) -> Self {
        self.emits = Emits::Relay;
        self
    }

    fn relay_anchored_twice(mut self) -> Self {
        self.emits = Emits::RelayAnchoredTwice;
        self
    }

    fn split(
        mut self,
        streams: &[(&'static str, u32)],
        direct: Option<(&'static str, &'static str)>,
    ) -> Self {
        self.emits = Emits::Split {
            streams: streams.to_vec(),
            direct,
        };
        self
    }

    fn reset(mut self) -> Self {
        self.reset = true;
        self
    }

    fn work(mut self, rounds: u32, each: Duration) -> Self {
        self.work = (rounds, each);
        self
    }

    fn stall_first(mut self, stall: Duration) -> Self {
        self.stall_first = stall;
        self
    }
}

/// `(id, attempt, child)` of a data tuple.
fn parse(input: &Input<'_>) -> (u64, u32, u32) {
    let int = |i: usize| input.get(i).and_then(|v| v.as_i64()).unwrap_or(-1);
    (int(0) as u64, int(1) as u32, int(2) as u32)
}

fn values(id: u64, attempt: u32, child: u32) -> [Value; 3] {
    [
        Value::I64(id as i64),
        Value::I64(attempt.into()),
        Value::I64(child.into()),
    ]
}

impl Bolt for Node {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        match &self.emits {
            Emits::Nothing => {}
            Emits::Relay | Emits::RelayAnchoredTwice => d.declare(FIELDS),
            Emits::Split { streams, direct } => {
                let mut declared = BTreeSet::new();
                for (s, _) in streams {
                    if declared.insert(*s) {
                        d.declare_stream(s, FIELDS);
                    }
                }
                if let Some((s, _)) = direct {
                    d.declare_direct_stream(s, FIELDS);
                }
            }
        }
    }

    fn prepare(&mut self, context: &TopologyContext) {
        self.component = context.component_id().to_owned();
        self.task = context.task_id();
        self.log.placed(context);
        if let Emits::Split {
            direct: Some((_, target)),
            ..
        } = &self.emits
        {
            self.direct_targets = context.tasks_of(target);
        }
    }

    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        if input.is_tick() {
            return;
        }
        let (id, attempt, child) = parse(input);
        let fate = (self.decide)(id, attempt, child);
        if self.executed == 0 {
            thread::sleep(self.stall_first);
        }
        self.executed += 1;
        for _ in 0..self.work.0 {
            if self.reset {
                out.reset_timeout(input);
            }
            thread::sleep(self.work.1);
        }
        match &self.emits {
            Emits::Nothing => {}
            Emits::Relay => {
                out.emit_anchored(DEFAULT_STREAM, &[input], &values(id, attempt, child))
            }
            Emits::RelayAnchoredTwice => {
                out.emit_anchored(DEFAULT_STREAM, &[input, input], &values(id, attempt, child))
            }
            Emits::Split { streams, direct } => {
                let mut c = 0;
                for (s, count) in streams {
                    for _ in 0..*count {
                        out.emit_anchored(s, &[input], &values(id, attempt, c));
                        c += 1;
                    }
                }
                if let Some((s, _)) = direct {
                    let targets = &self.direct_targets;
                    let t = targets[(id % targets.len() as u64) as usize];
                    out.emit_direct_anchored(t, s, &[input], &values(id, attempt, c));
                }
            }
        }
        self.log.push(Ev::Bolt {
            component: self.component.clone(),
            task: self.task,
            id,
            attempt,
            child,
            fate,
            roots: input.view().roots().len(),
        });
        match fate {
            Fate::Ack => out.ack(input),
            Fate::Fail => out.fail(input),
            Fate::Drop => {}
            // `resume_unwind` skips the panic hook: no noise in the output.
            Fate::Panic => std::panic::resume_unwind(Box::new("boom: panicking on purpose")),
        }
    }
}

// ---------------------------------------------------------------------------
// Checks.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Acked,
    Failed,
}

/// One emit of a message and how it ended: the outcome and its position in
/// the log.
#[derive(Clone, Copy, Debug)]
struct Attempt {
    attempt: u32,
    outcome: Option<(Outcome, usize)>,
}

/// Per message id, its attempts in emit order. Fails the test if an `ack`
/// or `fail` matches no emit or a second one arrives for an attempt.
#[track_caller]
fn history(events: &[Ev], what: &str) -> BTreeMap<u64, Vec<Attempt>> {
    let mut h: BTreeMap<u64, Vec<Attempt>> = BTreeMap::new();
    let mut wrong = Vec::new();
    for (i, ev) in events.iter().enumerate() {
        let (id, attempt, outcome) = match *ev {
            Ev::Emit { id, attempt, .. } => {
                h.entry(id).or_default().push(Attempt {
                    attempt,
                    outcome: None,
                });
                continue;
            }
            Ev::Acked { id, attempt, .. } => (id, attempt, Outcome::Acked),
            Ev::Failed { id, attempt, .. } => (id, attempt, Outcome::Failed),
            Ev::Bolt { .. } => continue,
        };
        match h
            .get_mut(&id)
            .and_then(|v| v.iter_mut().find(|a| a.attempt == attempt))
        {
            Some(a) if a.outcome.is_none() => a.outcome = Some((outcome, i)),
            Some(a) => wrong.push(format!(
                "{id} attempt {attempt}: {outcome:?} after {:?}",
                a.outcome
            )),
            None => wrong.push(format!("{id} attempt {attempt}: {outcome:?} with no emit")),
        }
    }
    assert!(
        wrong.is_empty(),
        "{what}: an attempt got a second ack/fail or one without emit (first 10): {:?}",
        &wrong[..wrong.len().min(10)]
    );
    h
}

/// For a replaying spout: every id of `ids` (and no other) was emitted as
/// attempts 0, 1, .., k where every attempt but the last failed and was
/// replayed, and the last was acked — so each id was acked exactly once.
/// Returns how many attempts failed.
#[track_caller]
fn check_replayed(events: &[Ev], ids: &BTreeSet<u64>, what: &str) -> u64 {
    let h = history(events, what);
    let seen: BTreeSet<u64> = h.keys().copied().collect();
    assert_eq!(
        seen.len(),
        ids.len(),
        "{what}: ids emitted vs expected; missing (first 10) {:?}, unexpected {:?}",
        ids.difference(&seen).take(10).collect::<Vec<_>>(),
        seen.difference(ids).take(10).collect::<Vec<_>>()
    );
    assert_eq!(&seen, ids, "{what}");
    let mut fails = 0;
    for (id, attempts) in &h {
        let numbers: Vec<u32> = attempts.iter().map(|a| a.attempt).collect();
        let expected: Vec<u32> = (0..attempts.len() as u32).collect();
        assert_eq!(numbers, expected, "{what}: attempts of {id}");
        let outcomes: Vec<Option<Outcome>> =
            attempts.iter().map(|a| a.outcome.map(|o| o.0)).collect();
        let (last, before) = outcomes.split_last().expect("emitted at least once");
        assert!(
            before.iter().all(|o| *o == Some(Outcome::Failed)) && *last == Some(Outcome::Acked),
            "{what}: id {id} must fail, be replayed, .. and be acked once; got {outcomes:?}"
        );
        fails += before.len() as u64;
    }
    fails
}

/// For a spout that does not replay: every id of `expected` was emitted once
/// and got exactly the expected outcome.
#[track_caller]
fn check_outcomes(events: &[Ev], expected: &BTreeMap<u64, Outcome>, what: &str) {
    let h = history(events, what);
    let got: BTreeMap<u64, Vec<Option<Outcome>>> = h
        .iter()
        .map(|(id, a)| (*id, a.iter().map(|a| a.outcome.map(|o| o.0)).collect()))
        .collect();
    let want: BTreeMap<u64, Vec<Option<Outcome>>> = expected
        .iter()
        .map(|(id, o)| (*id, vec![Some(*o)]))
        .collect();
    if got != want {
        let diff: Vec<_> = want
            .keys()
            .chain(got.keys())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .filter(|id| got.get(id) != want.get(id))
            .take(10)
            .map(|id| (id, want.get(id), got.get(id)))
            .collect();
        panic!(
            "{what}: outcomes differ for {} ids; first 10 (id, expected, got): {diff:?}",
            want.len()
        );
    }
}

/// The tree checks, for topologies with ackers:
/// - every tuple of every tree carries exactly one root;
/// - a tree acked at the spout had exactly `per_tree` tuples, all acked
///   *before* the spout's `ack` (and none processed after it);
/// - a tree with a tuple failed, dropped or panicked on was not acked.
#[track_caller]
fn check_trees(events: &[Ev], per_tree: usize, what: &str) {
    let h = history(events, what);
    // Per (id, attempt): (log position, fate, roots) of each tuple.
    type Tuples = Vec<(usize, Fate, usize)>;
    let mut bolts: HashMap<(u64, u32), Tuples> = HashMap::new();
    for (i, ev) in events.iter().enumerate() {
        if let Ev::Bolt {
            id,
            attempt,
            fate,
            roots,
            ..
        } = *ev
        {
            bolts
                .entry((id, attempt))
                .or_default()
                .push((i, fate, roots));
        }
    }
    let no_tuples = Vec::new();
    for (id, attempts) in &h {
        for a in attempts {
            let tuples = bolts.get(&(*id, a.attempt)).unwrap_or(&no_tuples);
            if let Some(t) = tuples.iter().find(|t| t.2 != 1) {
                panic!(
                    "{what}: a tuple of {id} attempt {} carries {} roots",
                    a.attempt, t.2
                );
            }
            match a.outcome {
                Some((Outcome::Acked, at)) => {
                    let before = tuples.iter().filter(|t| t.0 < at).count();
                    assert!(
                        before == per_tree && tuples.len() == per_tree,
                        "{what}: {id} attempt {} was acked when {before} of its {per_tree} \
                         tuples were processed ({} in all)",
                        a.attempt,
                        tuples.len()
                    );
                    assert!(
                        tuples.iter().all(|t| t.1 == Fate::Ack),
                        "{what}: {id} attempt {} was acked although a tuple of it was not: \
                         {tuples:?}",
                        a.attempt
                    );
                }
                Some((Outcome::Failed, _)) => {}
                None => panic!("{what}: {id} attempt {} never completed", a.attempt),
            }
        }
    }
}

/// Stats of `component`.
#[track_caller]
fn of<'a>(stats: &'a TopologyStats, component: &str) -> &'a ComponentStats {
    stats
        .components
        .get(component)
        .unwrap_or_else(|| panic!("no stats for `{component}`: {stats:?}"))
}

fn count(events: &[Ev], f: impl Fn(&Ev) -> bool) -> u64 {
    events.iter().filter(|e| f(e)).count() as u64
}

/// A deterministic roll in `0..100` for `(id, attempt)` (splitmix64).
fn roll(seed: u64, id: u64, attempt: u32) -> u64 {
    fn mix(mut x: u64) -> u64 {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^ (x >> 31)
    }
    mix(seed ^ mix(id ^ mix(u64::from(attempt)))) % 100
}

// ---------------------------------------------------------------------------
// 1. Replays until everything is acked.

/// Messages per spout task in the chaos test (two tasks).
const CHAOS_N: u64 = 1000;

/// ~10% of attempts fail, ~5% are dropped, the rest are acked.
fn chaos(id: u64, attempt: u32, _child: u32) -> Fate {
    match roll(0x5eed, id, attempt) {
        0..10 => Fate::Fail,
        10..15 => Fate::Drop,
        _ => Fate::Ack,
    }
}

/// `src` (x2, replaying) -> `relay` (x2, shuffle, one anchored child) ->
/// `chaos` (x3, fields on id): fails ~10% and drops ~5% of attempts; 200 ms
/// message timeout. Every id must end up acked exactly once.
///
/// `batched`: one `src` task emitting runs of 16 at once
/// (`emit_many_with_ids`) to one `relay` task, so that the route is
/// resolved at start and each run goes down it as one.
fn replay_under_chaos(threads: usize, batched: bool) {
    let what = format!("chaos, threads={threads}, batched={batched}");
    let tasks = if batched { 1 } else { 2 };
    let log = Log::new();
    let mut b = TopologyBuilder::new("chaos");
    b.set_num_ackers(threads)
        .set_message_timeout(Duration::from_millis(200));
    let l = Arc::clone(&log);
    let spout = move || {
        let spout = Reliable::new(&l, CHAOS_N).replaying();
        if batched {
            spout.batched(16)
        } else {
            spout
        }
    };
    b.set_spout("src", spout, tasks);
    let l = Arc::clone(&log);
    b.set_bolt(
        "relay",
        move || Node::new(&l, always(Fate::Ack)).relay(),
        tasks,
    )
    .shuffle_grouping("src");
    let l = Arc::clone(&log);
    b.set_bolt("chaos", move || Node::new(&l, decide(chaos)), 3)
        .fields_grouping("relay", ["id"]);
    let stats = run_config(b.build().unwrap(), config(threads, BIG_RING));

    log.assert_clean(&what);
    let events = log.events();
    let ids = log.ids_of("src", tasks, CHAOS_N);
    let fails = check_replayed(&events, &ids, &what);
    check_trees(&events, 2, &what);

    // Every attempt reached each bolt exactly once.
    let emits = count(&events, |e| matches!(e, Ev::Emit { .. }));
    let mut per_bolt: BTreeMap<(String, u64, u32), u32> = BTreeMap::new();
    for e in &events {
        if let Ev::Bolt {
            component,
            id,
            attempt,
            ..
        } = e
        {
            *per_bolt
                .entry((component.clone(), *id, *attempt))
                .or_default() += 1;
        }
    }
    for bolt in ["relay", "chaos"] {
        let got: Vec<_> = per_bolt.iter().filter(|(k, _)| k.0 == bolt).collect();
        assert_eq!(got.len() as u64, emits, "{what}: attempts `{bolt}` saw");
        assert!(
            got.iter().all(|(_, n)| **n == 1),
            "{what}: `{bolt}` saw an attempt twice"
        );
    }

    // The fates really happened, and the counters agree with the log.
    let fates = log.fates_of("chaos");
    assert!(
        fates.get("fail").copied().unwrap_or(0) > 0 && fates.get("drop").copied().unwrap_or(0) > 0,
        "{what}: the test did not fail or drop anything: {fates:?}"
    );
    let src = of(&stats, "src");
    assert_eq!(src.acked, tasks as u64 * CHAOS_N, "{what}: {src:?}");
    assert_eq!(src.failed, fails, "{what}: {src:?}");
    assert_eq!(src.emitted, emits, "{what}: {src:?}");
    assert!(
        fails >= fates["fail"] + fates["drop"],
        "{what}: {fails} fails for {fates:?}"
    );
    let chaos = of(&stats, "chaos");
    assert_eq!(chaos.acked, fates["ack"], "{what}: {chaos:?}");
    assert_eq!(chaos.failed, fates["fail"], "{what}: {chaos:?}");
    let relay = of(&stats, "relay");
    assert_eq!(relay.acked, emits, "{what}: {relay:?}");
    assert_eq!(relay.failed, 0, "{what}: {relay:?}");
    let latency = src.complete_latency.as_ref().expect("complete latency");
    assert_eq!(latency.count, src.acked, "{what}: {latency:?}");
}

#[test]
fn a_spout_emitting_runs_with_ids_gets_each_id_acked_exactly_once_one_thread() {
    replay_under_chaos(1, true);
}

#[test]
fn a_spout_emitting_runs_with_ids_gets_each_id_acked_exactly_once_two_threads() {
    replay_under_chaos(2, true);
}

#[test]
fn replaying_spout_gets_each_id_acked_exactly_once_one_thread() {
    replay_under_chaos(1, false);
}

#[test]
fn replaying_spout_gets_each_id_acked_exactly_once_two_threads() {
    replay_under_chaos(2, false);
}

// ---------------------------------------------------------------------------
// 2. Trees with fan-out, depth and direct children.

const DAG_N: u64 = 150;

/// The leaf's fate for child `child` of `id` (children 0 and 1 come through
/// `mid`, child 2 directly from `split`).
fn dag_leaf(id: u64, _attempt: u32, child: u32) -> Fate {
    match (id % 10, child) {
        (3, 2) => Fate::Drop,
        (5, 0) => Fate::Drop,
        (7, 1) => Fate::Fail,
        _ => Fate::Ack,
    }
}

/// `src` (x2) -> `split` (x2): two children on `a` and one on the direct
/// stream `d` (`emit_direct_anchored`); `a` -> `mid` (x2, one grandchild
/// each, anchored to its input twice) -> `leaf` (x3), which also gets `d`
/// directly. A tree is six tuples; it is acked only once all six are (each
/// before the spout hears of it); one dropped leaf tuple makes the tree time
/// out, one failed leaf tuple fails it; never an ack for those.
#[test]
fn fan_out_tree_is_acked_only_when_every_tuple_is() {
    let what = "fan-out tree";
    let log = Log::new();
    let mut b = TopologyBuilder::new("dag");
    b.set_num_ackers(2)
        .set_message_timeout(Duration::from_millis(300));
    let l = Arc::clone(&log);
    b.set_spout("src", move || Reliable::new(&l, DAG_N), 2);
    let l = Arc::clone(&log);
    b.set_bolt(
        "split",
        move || Node::new(&l, always(Fate::Ack)).split(&[("a", 2)], Some(("d", "leaf"))),
        2,
    )
    .shuffle_grouping("src");
    let l = Arc::clone(&log);
    b.set_bolt(
        "mid",
        move || Node::new(&l, always(Fate::Ack)).relay_anchored_twice(),
        2,
    )
    .shuffle_grouping_stream("split", "a");
    let l = Arc::clone(&log);
    b.set_bolt("leaf", move || Node::new(&l, decide(dag_leaf)), 3)
        .fields_grouping("mid", ["id"])
        .direct_grouping("split", "d");
    let stats = run_config(b.build().unwrap(), config(2, BIG_RING));

    log.assert_clean(what);
    let events = log.events();
    let expected: BTreeMap<u64, Outcome> = log
        .ids_of("src", 2, DAG_N)
        .into_iter()
        .map(|id| {
            let o = match id % 10 {
                3 | 5 | 7 => Outcome::Failed,
                _ => Outcome::Acked,
            };
            (id, o)
        })
        .collect();
    check_outcomes(&events, &expected, what);
    check_trees(&events, 6, what);
    let acked = expected.values().filter(|o| **o == Outcome::Acked).count() as u64;
    let src = of(&stats, "src");
    assert_eq!(
        (src.acked, src.failed),
        (acked, 2 * DAG_N - acked),
        "{what}: {src:?}"
    );
    // Every child and grandchild was delivered: 6 tuples per tree, and the
    // leaf got children 0 and 1 (through `mid`) and 2 (direct) of each.
    let tuples = count(&events, |e| matches!(e, Ev::Bolt { .. }));
    assert_eq!(tuples, 6 * 2 * DAG_N, "{what}");
    let mut leaf: BTreeMap<u64, BTreeSet<u32>> = BTreeMap::new();
    for e in &events {
        if let Ev::Bolt {
            component,
            id,
            child,
            ..
        } = e
        {
            if component == "leaf" {
                leaf.entry(*id).or_default().insert(*child);
            }
        }
    }
    assert_eq!(leaf.len() as u64, 2 * DAG_N, "{what}");
    assert!(
        leaf.values().all(|c| *c == BTreeSet::from([0, 1, 2])),
        "{what}: children reaching the leaf: {leaf:?}"
    );
}

// ---------------------------------------------------------------------------
// 3. Threads, zero ackers, timeouts, max pending, panics, reset_timeout.

const CROSS_N: u64 = 300;

/// Shape of [`fan_out_all_acked`]'s topology.
struct FanOut {
    spouts: usize,
    per_spout: u64,
    splits: usize,
    children: u32,
    sinks: usize,
    ackers: usize,
    pending: Option<usize>,
}

/// `src` -> `split` (each input fanned out to `children` anchored tuples)
/// -> `sink` (fields on id), acking on with a 10 s timeout: runs it and
/// checks that every tree is acked exactly once and none fails. Returns
/// the log and the stats for further checks.
fn fan_out_all_acked(
    shape: FanOut,
    config: RunConfig,
    what: &str,
) -> (Arc<Log>, Vec<Ev>, TopologyStats) {
    let FanOut {
        spouts,
        per_spout,
        splits,
        children,
        sinks,
        ackers,
        pending,
    } = shape;
    let log = Log::new();
    let mut b = TopologyBuilder::new("fan-out");
    b.set_num_ackers(ackers)
        .set_message_timeout(Duration::from_secs(10));
    if let Some(p) = pending {
        b.set_max_spout_pending(p);
    }
    let l = Arc::clone(&log);
    b.set_spout("src", move || Reliable::new(&l, per_spout), spouts);
    let l = Arc::clone(&log);
    b.set_bolt(
        "split",
        move || Node::new(&l, always(Fate::Ack)).split(&[("out", children)], None),
        splits,
    )
    .shuffle_grouping("src");
    let l = Arc::clone(&log);
    b.set_bolt("sink", move || Node::new(&l, always(Fate::Ack)), sinks)
        .fields_grouping_stream("split", "out", ["id"]);
    let stats = run_config(b.build().unwrap(), config);

    log.assert_clean(what);
    let events = log.events();
    let expected = log
        .ids_of("src", spouts, per_spout)
        .into_iter()
        .map(|id| (id, Outcome::Acked))
        .collect();
    check_outcomes(&events, &expected, what);
    check_trees(&events, 1 + children as usize, what);
    let src = of(&stats, "src");
    assert_eq!(
        (src.acked, src.failed),
        (spouts as u64 * per_spout, 0),
        "{what}: {src:?}"
    );
    (log, events, stats)
}

/// Three spout tasks, fan-out 1:2, three ackers, every component spread
/// over 2 or 4 threads: every tree is acked once, none fails.
#[test]
fn trees_crossing_threads_are_acked_once() {
    for threads in [2, 4] {
        let what = format!("crossing threads, threads={threads}");
        let shape = FanOut {
            spouts: 3,
            per_spout: CROSS_N,
            splits: 3,
            children: 2,
            sinks: 4,
            ackers: 3,
            pending: None,
        };
        let (log, events, _) = fan_out_all_acked(shape, config(threads, BIG_RING), &what);

        // The trees did cross threads.
        let thread_of = log.threads.lock().unwrap().clone();
        let used: BTreeSet<usize> = thread_of.values().copied().collect();
        assert_eq!(used.len(), threads, "{what}: tasks on {used:?}");
        let spout_of: HashMap<u64, TaskId> = events
            .iter()
            .filter_map(|e| match e {
                Ev::Emit { task, id, .. } => Some((*id, *task)),
                _ => None,
            })
            .collect();
        let crossed = events
            .iter()
            .filter(|e| match e {
                Ev::Bolt { id, task, .. } => thread_of[task] != thread_of[&spout_of[id]],
                _ => false,
            })
            .count();
        assert!(crossed > 0, "{what}: no tuple left its spout's thread");
    }
}

/// With `set_num_ackers(0)` every reliable emit is acked at once — even
/// though the bolt fails or drops every tuple — and tuples carry no root.
#[test]
fn zero_ackers_ack_every_emit_at_once() {
    const N: u64 = 200;
    for (threads, chain) in [(1, true), (1, false), (2, true)] {
        let what = format!("zero ackers, threads={threads}, chain={chain}");
        let log = Log::new();
        let mut b = TopologyBuilder::new("no-ackers");
        b.set_num_ackers(0)
            .set_message_timeout(Duration::from_millis(100));
        let l = Arc::clone(&log);
        b.set_spout("src", move || Reliable::new(&l, N).without_ackers(), 2);
        let l = Arc::clone(&log);
        let fate = decide(|id, _, _| if id % 2 == 0 { Fate::Fail } else { Fate::Drop });
        b.set_bolt("sink", move || Node::new(&l, Arc::clone(&fate)), 2)
            .shuffle_grouping("src");
        let config = RunConfig {
            chain,
            ..config(threads, BIG_RING)
        };
        let stats = run_config(b.build().unwrap(), config);

        log.assert_clean(&what);
        let events = log.events();
        let expected = log
            .ids_of("src", 2, N)
            .into_iter()
            .map(|id| (id, Outcome::Acked))
            .collect();
        check_outcomes(&events, &expected, &what);
        assert!(
            events
                .iter()
                .all(|e| !matches!(e, Ev::Bolt { roots, .. } if *roots != 0)),
            "{what}: a tuple carries a root with acking off"
        );
        let src = of(&stats, "src");
        assert_eq!((src.acked, src.failed), (2 * N, 0), "{what}: {src:?}");
        let sink = of(&stats, "sink");
        assert_eq!(sink.executed, 2 * N, "{what}: {sink:?}");
        assert_eq!(
            sink.failed, N,
            "{what}: bolt fail calls are counted: {sink:?}"
        );
        if threads == 1 && !chain {
            // On one thread, unchained, the bolt only runs after the
            // spout's batch and its acks: each ack precedes the tuple's
            // execution. (Chained, the bolt runs within the emit, before
            // the spout's ack: Storm makes no promise either way.)
            let mut acked_at = HashMap::new();
            for (i, e) in events.iter().enumerate() {
                match e {
                    Ev::Acked { id, .. } => {
                        acked_at.insert(*id, i);
                    }
                    Ev::Bolt { id, .. } => assert!(
                        acked_at.contains_key(id),
                        "{what}: {id} was executed before the spout got its ack"
                    ),
                    _ => {}
                }
            }
        }
    }
}

/// A bolt that drops everything: each tree times out and fails exactly
/// once, never acks; the spout reports `is_finished` right after its last
/// emit, yet the topology waits for its trees before it stops.
#[test]
fn dropped_trees_time_out_and_fail_once() {
    const N: u64 = 100;
    let what = "timeouts";
    let log = Log::new();
    let mut b = TopologyBuilder::new("timeouts");
    b.set_message_timeout(Duration::from_millis(200));
    let l = Arc::clone(&log);
    b.set_spout("src", move || Reliable::new(&l, N).finish_early(), 2);
    let l = Arc::clone(&log);
    b.set_bolt("sink", move || Node::new(&l, always(Fate::Drop)), 2)
        .shuffle_grouping("src");
    let stats = run_config(b.build().unwrap(), config(2, BIG_RING));

    // `close` found no tree in flight (else a violation).
    log.assert_clean(what);
    let events = log.events();
    let expected = log
        .ids_of("src", 2, N)
        .into_iter()
        .map(|id| (id, Outcome::Failed))
        .collect();
    check_outcomes(&events, &expected, what);
    let src = of(&stats, "src");
    assert_eq!((src.acked, src.failed), (0, 2 * N), "{what}: {src:?}");
    assert_eq!(src.complete_latency, None, "{what}: nothing completed");
    let sink = of(&stats, "sink");
    assert_eq!(sink.executed, 2 * N, "{what}: {sink:?}");
    assert_eq!((sink.acked, sink.failed), (0, 0), "{what}: {sink:?}");
}

/// `max_spout_pending` per spout (5) and topology-wide (16): `next_tuple`
/// is never called with that many trees in flight, the bound is reached,
/// and `pending()` always matches what the spout has in flight — with
/// ~10% of trees failed and replayed.
#[test]
fn max_spout_pending_bounds_trees_in_flight() {
    const OWN: usize = 5;
    const DEFAULT: usize = 16;
    let what = "max spout pending";
    let log = Log::new();
    let mut b = TopologyBuilder::new("pending");
    b.set_max_spout_pending(DEFAULT)
        .set_message_timeout(Duration::from_secs(10));
    let l = Arc::clone(&log);
    b.set_spout(
        "own",
        move || Reliable::new(&l, 300).replaying().bound(OWN),
        2,
    )
    .max_spout_pending(OWN);
    let l = Arc::clone(&log);
    b.set_spout(
        "default",
        move || Reliable::new(&l, 300).replaying().bound(DEFAULT),
        1,
    );
    let l = Arc::clone(&log);
    let fate = decide(|id, attempt, _| {
        if roll(7, id, attempt) < 10 {
            Fate::Fail
        } else {
            Fate::Ack
        }
    });
    b.set_bolt("work", move || Node::new(&l, Arc::clone(&fate)), 2)
        .shuffle_grouping("own")
        .shuffle_grouping("default");
    let stats = run_config(b.build().unwrap(), config(2, BIG_RING));

    log.assert_clean(what);
    let events = log.events();
    let mut ids = log.ids_of("own", 2, 300);
    ids.extend(log.ids_of("default", 1, 300));
    let fails = check_replayed(&events, &ids, what);
    assert!(fails > 0, "{what}: nothing failed");
    check_trees(&events, 1, what);
    let maxima = log.max_in_flight.lock().unwrap().clone();
    let spouts = log.spouts.lock().unwrap().clone();
    for (component, bound) in [("own", OWN), ("default", DEFAULT)] {
        for t in &spouts[component] {
            assert_eq!(
                maxima.get(t),
                Some(&bound),
                "{what}: most trees in flight of `{component}` task {t} (bound {bound})"
            );
        }
        let s = of(&stats, component);
        assert_eq!(
            s.acked,
            300 * spouts[component].len() as u64,
            "{what}: {s:?}"
        );
    }
}

/// A bolt panicking in `execute` on the first attempt of every 7th id:
/// that tree fails (the message timeout is far beyond the watchdog, so
/// only the panic can fail it), is replayed and then acked; the topology
/// keeps running and reports each panic.
#[test]
fn panic_in_execute_fails_the_tree_which_is_replayed() {
    const N: u64 = 200;
    let what = "panicking bolt";
    let log = Log::new();
    let mut b = TopologyBuilder::new("panics");
    b.set_num_ackers(2)
        .set_message_timeout(Duration::from_secs(600));
    let l = Arc::clone(&log);
    b.set_spout("src", move || Reliable::new(&l, N).replaying(), 2);
    let l = Arc::clone(&log);
    let fate = decide(|id, attempt, _| {
        if attempt == 0 && id % 7 == 0 {
            Fate::Panic
        } else {
            Fate::Ack
        }
    });
    b.set_bolt("boom", move || Node::new(&l, Arc::clone(&fate)).relay(), 2)
        .shuffle_grouping("src");
    let l = Arc::clone(&log);
    b.set_bolt("sink", move || Node::new(&l, always(Fate::Ack)), 2)
        .shuffle_grouping("boom");
    let stats = run_with(b.build().unwrap(), config(2, BIG_RING))
        .unwrap_or_else(|e| panic!("{what}: the topology stopped: {e}"));

    log.assert_clean(what);
    let events = log.events();
    let ids = log.ids_of("src", 2, N);
    let fails = check_replayed(&events, &ids, what);
    check_trees(&events, 2, what);
    let panics = ids.iter().filter(|id| *id % 7 == 0).count() as u64;
    assert!(panics > 0);
    assert_eq!(fails, panics, "{what}: only the panicked trees fail");
    let h = history(&events, what);
    for (id, attempts) in &h {
        assert_eq!(
            attempts.len(),
            if id % 7 == 0 { 2 } else { 1 },
            "{what}: attempts of {id}"
        );
    }
    assert_eq!(
        stats.errors.len() as u64,
        panics,
        "{what}: {:?}",
        stats.errors
    );
    assert!(
        stats
            .errors
            .iter()
            .all(|e| e.component == "boom" && e.message.contains("panicked in execute")),
        "{what}: {:?}",
        stats.errors
    );
    let boom = of(&stats, "boom");
    assert_eq!(
        (boom.failed, boom.errors),
        (panics, panics),
        "{what}: {boom:?}"
    );
    assert_eq!(of(&stats, "src").failed, panics, "{what}");
}

/// `reset_timeout` then `ack`: the ack still arrives, nothing fails.
#[test]
fn reset_timeout_then_ack_completes() {
    const N: u64 = 100;
    let what = "reset then ack";
    let log = Log::new();
    let mut b = TopologyBuilder::new("reset");
    b.set_message_timeout(Duration::from_secs(10));
    let l = Arc::clone(&log);
    b.set_spout("src", move || Reliable::new(&l, N), 2);
    let l = Arc::clone(&log);
    b.set_bolt(
        "resetter",
        move || {
            Node::new(&l, always(Fate::Ack))
                .relay()
                .reset()
                .work(1, Duration::ZERO)
        },
        2,
    )
    .shuffle_grouping("src");
    let l = Arc::clone(&log);
    b.set_bolt("sink", move || Node::new(&l, always(Fate::Ack)), 2)
        .shuffle_grouping("resetter");
    let stats = run_config(b.build().unwrap(), config(2, BIG_RING));

    log.assert_clean(what);
    let events = log.events();
    let expected = log
        .ids_of("src", 2, N)
        .into_iter()
        .map(|id| (id, Outcome::Acked))
        .collect();
    check_outcomes(&events, &expected, what);
    check_trees(&events, 2, what);
    assert_eq!(of(&stats, "src").acked, 2 * N, "{what}");
}

/// One message through `hops` bolts (each on its own thread, spout and
/// acker alone on theirs), each spending `work` in `execute`, calling
/// `reset_timeout` first if `reset`; 1 s message timeout. Returns how the
/// message ended.
fn slow_chain(hops: usize, work: (u32, Duration), reset: bool, timeout: Duration) -> Outcome {
    let log = Log::new();
    let mut b = TopologyBuilder::new("slow-chain");
    b.set_message_timeout(timeout);
    let l = Arc::clone(&log);
    b.set_spout("src", move || Reliable::new(&l, 1), 1);
    let mut prev = "src".to_owned();
    for hop in 0..hops {
        let name = format!("hop{hop}");
        let l = Arc::clone(&log);
        b.set_bolt(
            &name,
            move || {
                let node = Node::new(&l, always(Fate::Ack)).work(work.0, work.1);
                let node = if reset { node.reset() } else { node };
                if hop + 1 < hops {
                    node.relay()
                } else {
                    node
                }
            },
            1,
        )
        .shuffle_grouping(&prev);
        prev = name;
    }
    // One thread per task: the spout's and the acker's threads never sleep.
    run_config(b.build().unwrap(), config(hops + 2, BIG_RING));
    let what = format!("slow chain, reset={reset}");
    log.assert_clean(&what);
    let h = history(&log.events(), &what);
    let attempts: Vec<_> = h.values().flatten().collect();
    assert_eq!(attempts.len(), 1, "{what}: {h:?}");
    attempts[0].outcome.expect("completed").0
}

/// A tree living longer than 1.5 x the message timeout (four hops of
/// 450 ms, 1 s timeout) is acked when each hop calls `reset_timeout`, and
/// — the control, which shows the tree does outlive the timeout — fails
/// when they do not.
#[test]
fn reset_timeout_keeps_a_slow_tree_alive() {
    let work = (1, Duration::from_millis(450));
    let timeout = Duration::from_secs(1);
    let (with, without) = thread::scope(|s| {
        let with = s.spawn(|| slow_chain(4, work, true, timeout));
        let without = s.spawn(|| slow_chain(4, work, false, timeout));
        (with.join().unwrap(), without.join().unwrap())
    });
    assert_eq!(
        without,
        Outcome::Failed,
        "control: the tree must outlive the timeout"
    );
    assert_eq!(
        with,
        Outcome::Acked,
        "reset_timeout at each hop keeps it alive"
    );
}

/// `reset_timeout` is documented "for long-running work on one tuple": a
/// bolt working 900 ms on one tuple in one `execute` (the only place it
/// has the tuple), resetting every 150 ms, with a 400 ms timeout.
#[test]
fn reset_timeout_during_one_long_execute_keeps_the_tree_alive() {
    let outcome = slow_chain(
        1,
        (6, Duration::from_millis(150)),
        true,
        Duration::from_millis(400),
    );
    assert_eq!(outcome, Outcome::Acked);
}

// ---------------------------------------------------------------------------
// 4. Tiny rings.

/// Runs `topology` like `util::run_with`, but fails the test after 20 s
/// (for the ignored tests of bugs that hang, so they fail sooner than the
/// watchdog; the hung topology's threads are left behind).
fn run_briefly(topology: gale_engine::Topology, config: RunConfig, what: &str) -> TopologyStats {
    const LIMIT: Duration = Duration::from_secs(20);
    let running = LocalCluster::new(config).submit(topology).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || tx.send(running.wait()));
    rx.recv_timeout(LIMIT)
        .unwrap_or_else(|_| panic!("{what}: the topology did not finish within {LIMIT:?}"))
        .unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// `src` (x2) -> `split` (x2, three anchored children each) -> `sink` (x3,
/// fields on id), acking on, rings of `ring_bytes` over `threads` threads:
/// the topology finishes (no deadlock) and every tree is acked, none fails
/// (a 10 s timeout turns lost acker traffic into fails, under the watchdog).
fn tiny_rings(threads: usize, ring_bytes: usize, pending: Option<usize>) {
    let what = format!("threads={threads} ring_bytes={ring_bytes} max_spout_pending={pending:?}");
    let shape = FanOut {
        spouts: 2,
        per_spout: 300,
        splits: 2,
        children: 3,
        sinks: 3,
        ackers: 2,
        pending,
    };
    fan_out_all_acked(shape, config(threads, ring_bytes), &what);
}

/// Rings of 512 and 1024 bytes at 2 and 4 threads (and one thread, which
/// has no rings), fan-out 1:3, acking on: no deadlock, every tree acked.
/// On several threads the trees in flight are bounded (2 per spout task, so
/// an acker batch holds at most 4 roots and fits in half a 512-byte ring);
/// the ignored test below is the unbounded case.
#[test]
fn tiny_rings_with_acking_do_not_deadlock() {
    for threads in [1, 2, 4] {
        for ring_bytes in [512, 1024] {
            let pending = (threads > 1).then_some(2);
            tiny_rings(threads, ring_bytes, pending);
        }
    }
}

/// The same with unbounded pending: a worker folds more roots into one
/// acker batch than a record of a 512-byte ring holds (about 8), and the
/// batch is dropped or wedges the ring.
#[test]
fn tiny_rings_with_unbounded_pending_ack_everything() {
    for threads in [2, 4] {
        for ring_bytes in [512, 1024] {
            tiny_rings(threads, ring_bytes, None);
        }
    }
}

/// The bug above, failing every time (by timeouts, or by hanging when the
/// ring's overflow is not empty) and with rings that are not tiny: one
/// spout task emits 500 reliable tuples in one `next_tuple` call, so its
/// worker's next acker batch holds 500 roots (500 x 24 bytes), while a
/// record of a 16 KiB ring may be 8 KiB. Tasks are placed round robin in declaration order, ackers
/// last: `src` on thread 0, `sink` on 1 and 0, the acker on 1.
#[test]
fn acker_batch_larger_than_a_ring_record_is_not_lost() {
    const N: u64 = 500;
    let what = "burst of 500 reliable emits, 16 KiB rings";
    let log = Log::new();
    let mut b = TopologyBuilder::new("burst");
    b.set_message_timeout(Duration::from_millis(300));
    let l = Arc::clone(&log);
    b.set_spout("src", move || Reliable::new(&l, N).burst(N), 1);
    let l = Arc::clone(&log);
    b.set_bolt("sink", move || Node::new(&l, always(Fate::Ack)), 2)
        .shuffle_grouping("src");
    let stats = run_briefly(b.build().unwrap(), config(2, 1 << 14), what);
    assert!(stats.errors.is_empty(), "{what}: {:?}", stats.errors);
    log.assert_clean(what);
    let expected = log
        .ids_of("src", 1, N)
        .into_iter()
        .map(|id| (id, Outcome::Acked))
        .collect();
    check_outcomes(&log.events(), &expected, what);
    assert_eq!(of(&stats, "src").acked, N, "{what}");
}

/// A reliable emit whose only delivery fails (the second message is larger
/// than half the 1 KiB ring to the other thread; the error is reported) was
/// processed by nobody: it must fail, not be acked. `src` is on thread 0,
/// `sink` on thread 1.
#[test]
fn undeliverable_reliable_emit_is_not_acked() {
    let what = "undeliverable emit";
    let log = Log::new();
    let mut b = TopologyBuilder::new("undeliverable");
    b.set_message_timeout(Duration::from_millis(200));
    let l = Arc::clone(&log);
    b.set_spout(
        "src",
        move || Reliable::new(&l, 2).big(2000).completed_at_emit(),
        1,
    );
    let l = Arc::clone(&log);
    b.set_bolt("sink", move || Node::new(&l, always(Fate::Ack)), 1)
        .shuffle_grouping("src");
    let stats =
        run_with(b.build().unwrap(), config(2, 1024)).unwrap_or_else(|e| panic!("{what}: {e}"));

    assert!(
        stats
            .errors
            .iter()
            .any(|e| e.message.contains("could not deliver")),
        "{what}: the failed delivery is reported: {:?}",
        stats.errors
    );
    log.assert_clean(what);
    let ids: Vec<u64> = log.ids_of("src", 1, 2).into_iter().collect();
    let expected = BTreeMap::from([(ids[0], Outcome::Acked), (ids[1], Outcome::Failed)]);
    check_outcomes(&log.events(), &expected, what);
}

/// A tuple too large for the ring, emitted while that ring's overflow queue
/// is not empty: `sink` (thread 1) sleeps on its first tuple while `src`
/// (thread 0) emits 100 small tuples in one `next_tuple` (filling the
/// 1 KiB ring and queueing the rest), then one of 2000 bytes. It must be
/// reported and dropped like one emitted with an empty overflow, and the
/// topology must finish; acker batches too large for a ring meet the same
/// fate (see `tiny_rings_with_unbounded_pending_ack_everything`). Waits 20 s
/// rather than the 60 s watchdog.
#[test]
fn oversized_record_behind_an_overflow_does_not_wedge_the_ring() {
    const N: u64 = 101;
    let what = "oversized record behind an overflow";
    let log = Log::new();
    let mut b = TopologyBuilder::new("wedge");
    let l = Arc::clone(&log);
    b.set_spout(
        "src",
        move || Reliable::new(&l, N).unreliable().burst(N).big(2000),
        1,
    );
    let l = Arc::clone(&log);
    b.set_bolt(
        "sink",
        move || Node::new(&l, always(Fate::Ack)).stall_first(Duration::from_millis(500)),
        1,
    )
    .shuffle_grouping("src");
    let stats = run_briefly(b.build().unwrap(), config(2, 1024), what);
    assert!(
        stats
            .errors
            .iter()
            .any(|e| e.message.contains("could not deliver")),
        "{what}: {:?}",
        stats.errors
    );
    assert_eq!(of(&stats, "sink").executed, N - 1, "{what}");
}

// ---------------------------------------------------------------------------
// 5. Complete latency.

/// A reliable spout's complete latency counts exactly its acked trees
/// (failed ones are not); an unreliable spout has none.
#[test]
fn complete_latency_counts_acked_trees() {
    const N: u64 = 300;
    let what = "complete latency";
    let log = Log::new();
    let mut b = TopologyBuilder::new("latency");
    let l = Arc::clone(&log);
    b.set_spout("reliable", move || Reliable::new(&l, N), 2);
    let l = Arc::clone(&log);
    b.set_spout("plain", move || Reliable::new(&l, N).unreliable(), 1);
    let l = Arc::clone(&log);
    let fate = decide(|id, _, _| if id % 4 == 0 { Fate::Fail } else { Fate::Ack });
    b.set_bolt("sink", move || Node::new(&l, Arc::clone(&fate)), 2)
        .shuffle_grouping("reliable")
        .shuffle_grouping("plain");
    let stats = run_config(b.build().unwrap(), config(2, BIG_RING));

    log.assert_clean(what);
    let reliable = of(&stats, "reliable");
    let failed = N / 2; // ids 0, 4, 8, .. of each of the two tasks
    assert_eq!(
        (reliable.acked, reliable.failed),
        (2 * N - failed, failed),
        "{what}: {reliable:?}"
    );
    let l = reliable
        .complete_latency
        .as_ref()
        .unwrap_or_else(|| panic!("{what}: no complete latency: {reliable:?}"));
    assert_eq!(l.count, reliable.acked, "{what}: {l:?}");
    assert!(
        0 < l.p50_ns && l.p50_ns <= l.p99_ns && l.p99_ns <= l.p999_ns && l.p999_ns <= l.max_ns,
        "{what}: {l:?}"
    );
    let plain = of(&stats, "plain");
    assert_eq!(
        (plain.acked, plain.failed, &plain.complete_latency),
        (0, 0, &None),
        "{what}: {plain:?}"
    );
}
