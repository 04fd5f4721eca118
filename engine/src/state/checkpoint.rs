//! Checkpoints by aligned barriers, carried as ordinary tuples (Storm's
//! `$checkpoint` stream, Flink's alignment), so the engine's data path
//! needs nothing new.
//!
//! - [`Checkpointing`]: the settings (backend, interval) and the one
//!   coordinator of a process: it counts the tasks that saved checkpoint
//!   `n` and makes `n` current once all have (over several nodes: marks
//!   `n` as saved by this node; see `cluster.rs`).
//! - [`CheckpointSpout`] wraps every spout: every interval it saves the
//!   spout's position (a [`RewindableSpout`]'s; none for others) and emits
//!   barrier `n` on [`CHECKPOINT_STREAM`] to every task downstream, between
//!   two of the spout's tuples; at open it restores the position of the
//!   current checkpoint. A finished spout emits one last barrier.
//! - [`CheckpointBolt`] wraps every bolt: a barrier from an upstream task
//!   blocks that input channel (its later tuples wait in a buffer) until
//!   the barrier has come from every upstream task; then the bolt's
//!   [`KeyValueState`] is saved (a [`StatefulBolt`]'s; nothing for others),
//!   the barrier goes downstream, and the buffered tuples run. So every
//!   task saves the same cut of the stream, and a spout restored to its
//!   position emits exactly what came after it: state is exactly-once.
//!
//! Tuples from one task to another keep their order (same ring, same
//! queue), which is what makes a barrier a cut of its channel.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};
use std::time::{Duration, Instant};

use gale_codec::{view_checked, AlignedVec, Encoder, Fields, Value, RECORD_ALIGN};

use super::backend::StateBackend;
use super::cluster::{Cluster, LinkHealth};
use super::file::StateError;
use super::key_value::KeyValueState;
use super::rescale::{self, Layout, LAYOUT};
use super::switch::{Switch, SwitchStatus};
use crate::runtime::{MetricSource, Sample, SampleKind};
use crate::{
    Bolt, BoltOutput, Input, InputBatch, OutputFieldsDeclarer, Spout, SpoutOutput, TaskId,
    TopologyContext,
};

/// The stream barriers travel on (Storm's name).
pub const CHECKPOINT_STREAM: &str = "$checkpoint";
/// Its one field: the checkpoint id.
pub const CHECKPOINT_FIELD: &str = "checkpoint";

/// A spout that can go back to a saved position (for exactly-once state):
/// after a crash it is restored to the position of the last complete
/// checkpoint and emits again everything after it.
pub trait RewindableSpout: Spout {
    /// Where the spout is now (what it has emitted so far).
    fn checkpoint(&self) -> Value;
    /// Goes back to `position`, made by [`checkpoint`](Self::checkpoint)
    /// (called after `open`, before the first `next_tuple`).
    fn restore(&mut self, position: &Value);
}

/// A bolt with key-value state (Storm's `IStatefulBolt`): the state is
/// restored from the last complete checkpoint before its first tuple and
/// saved at every checkpoint.
pub trait StatefulBolt: Send + 'static {
    /// Declares the streams this bolt emits.
    fn declare_output_fields(&self, declarer: &mut OutputFieldsDeclarer);
    /// Called once before the first tuple, with the state restored.
    fn prepare(&mut self, _context: &TopologyContext, _state: &KeyValueState) {}
    /// Processes one input, reading and changing `state`.
    fn execute(&mut self, input: &Input<'_>, state: &mut KeyValueState, out: &mut BoltOutput<'_>);
    /// Processes a run of inputs, as [`Bolt::execute_batch`] does (runs
    /// are handed over whole between checkpoints); the default calls
    /// [`execute`](Self::execute) for each.
    fn execute_batch(
        &mut self,
        inputs: &mut InputBatch<'_, '_>,
        state: &mut KeyValueState,
        out: &mut BoltOutput<'_>,
    ) {
        for input in inputs {
            self.execute(&input, state, out);
        }
    }
    /// Called once at shutdown, with the final state.
    fn cleanup(&mut self, _state: &KeyValueState) {}
}

/// How a topology checkpoints: where, how often, and the coordinator of
/// this process's tasks.
#[derive(Debug)]
pub struct Checkpointing {
    backend: Box<dyn StateBackend>,
    interval: Duration,
    /// Tasks taking part (every spout and bolt task), set at build.
    tasks: OnceLock<usize>,
    /// Which tasks saved which checkpoints, and which stopped taking part.
    progress: Mutex<Progress>,
    /// The first error of a save or commit.
    error: Mutex<Option<String>>,
    /// What the metrics report.
    stats: Mutex<CheckpointStats>,
    /// Whether this is a metric source of the running topology yet.
    registered: AtomicBool,
    /// This node's part, when the topology runs over several nodes (a
    /// new one for each run of the process: see [`join_cluster`](Self::join_cluster)).
    cluster: RwLock<Option<Arc<Cluster>>>,
    /// The task count of every component in this run (saved with every
    /// checkpoint: see `rescale.rs`).
    layout: Mutex<Layout>,
    /// The layout of the checkpoint restored, once read (`None` inside:
    /// the checkpoint has none).
    restored_layout: Mutex<Option<(u64, Option<Layout>)>>,
    /// A checkpoint at a rebalance's switch (see `switch.rs`).
    switch: Switch,
}

/// What [`Checkpointing`] measures of its checkpoints (see its
/// [`MetricSource`] implementation).
#[derive(Debug, Default)]
struct CheckpointStats {
    /// Per checkpoint not yet complete: when its first task saved it, the
    /// bytes saved so far and the longest alignment of a bolt.
    open: BTreeMap<u64, Open>,
    /// The newest checkpoint made current.
    last: Option<Completed>,
    completed: u64,
    errors: u64,
}

#[derive(Debug, Clone, Copy)]
struct Open {
    started: Instant,
    bytes: u64,
    alignment: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Completed {
    id: u64,
    /// From the first task's save (a spout's barrier) to the commit.
    duration: Duration,
    bytes: u64,
    alignment: Duration,
}

impl Checkpointing {
    /// Checkpoints to `backend` every `interval`.
    pub fn new(backend: impl StateBackend + 'static, interval: Duration) -> Arc<Self> {
        Self::boxed(Box::new(backend), interval)
    }

    /// [`new`](Self::new) with a backend chosen at run time.
    pub fn boxed(backend: Box<dyn StateBackend>, interval: Duration) -> Arc<Self> {
        Arc::new(Self {
            backend,
            interval,
            tasks: OnceLock::new(),
            progress: Mutex::new(Progress::default()),
            error: Mutex::new(None),
            stats: Mutex::new(CheckpointStats::default()),
            registered: AtomicBool::new(false),
            cluster: RwLock::new(None),
            layout: Mutex::new(Layout::default()),
            restored_layout: Mutex::new(None),
            switch: Switch::default(),
        })
    }

    /// Takes part in checkpoints over several nodes as node `node` of
    /// `nodes`, with `tasks` of the topology's spout and bolt tasks: the
    /// greatest checkpoint every node saved is restored, and checkpoint
    /// `n` is complete once every node has saved it (see `cluster.rs`).
    /// Returns this node's epoch, which its peers must share (it goes into
    /// the fingerprint). Call it before the node's link starts. A later
    /// call is a later run of the process (after a rebalance, with the
    /// old run stopped): it joins again, as a restarted node does, and
    /// starts the next epoch.
    pub fn join_cluster(&self, node: u32, nodes: &[u32], tasks: usize) -> Result<u64, StateError> {
        let joined = Cluster::join(&*self.backend, node, nodes, tasks)?;
        if self.cluster().is_some() {
            // A run before this one: start afresh.
            *self.progress.lock().unwrap_or_else(PoisonError::into_inner) = Progress::default();
            self.stats().open.clear();
            *self
                .restored_layout
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = None;
            self.switch.reset();
        }
        tracing::info!(
            node,
            epoch = joined.epoch,
            restored = ?joined.restored,
            location = %self.backend.location(),
            "checkpoints across nodes: joined"
        );
        let epoch = joined.epoch;
        *self.cluster.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(joined));
        Ok(epoch)
    }

    /// This node's part in checkpoints over several nodes, if it joined.
    fn cluster(&self) -> Option<Arc<Cluster>> {
        self.cluster
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The task count of every component of the run (what each
    /// checkpoint records: see `rescale.rs`).
    pub(crate) fn set_layout<'a>(&self, counts: impl IntoIterator<Item = (&'a str, usize)>) {
        *self.layout.lock().unwrap_or_else(PoisonError::into_inner) = Layout::of(counts);
    }

    /// A rebalance's switch: every spout of this process emits barriers up
    /// to `target`, then pauses until the next run; `None` resumes them (an
    /// aborted rebalance). See [`switch_status`](Self::switch_status).
    pub fn ask_switch(&self, target: Option<u64>) {
        self.switch.ask(target);
    }

    /// Where this process's spouts stand in a switch, and the greatest
    /// complete checkpoint (over several nodes: the greatest every node
    /// has marked).
    pub fn switch_status(&self) -> Result<(SwitchStatus, Option<u64>), StateError> {
        let complete = match self.cluster() {
            Some(c) => c.complete_now(&*self.backend)?,
            None => self.backend.current()?,
        };
        Ok((self.switch.status(), complete))
    }

    /// Over several nodes: the link is up; checks that every peer keeps
    /// its checkpoints in the same place, then watches the link.
    pub(crate) fn connected(
        &self,
        link: gale_transport::link::LinkStatsHandle,
    ) -> Result<(), StateError> {
        match self.cluster() {
            Some(c) => c.connected(&*self.backend, link),
            None => Ok(()),
        }
    }

    /// Over several nodes, what the link says about this node's
    /// checkpoints; `None` within one process, and while a rebalance's
    /// switch is asked.
    pub(crate) fn link_health(&self) -> Option<LinkHealth> {
        // While a rebalance's switch is asked, the runs are about to stop:
        // a peer stopping first, or a connection cut as it does, must not
        // stop this run (its marks still check the link: a checkpoint cut
        // short does not complete, and the rebalance aborts).
        if self.switch.target().is_some() {
            return None;
        }
        self.cluster().map(|c| c.health())
    }

    /// Makes this a metric source of the topology `context` runs in, once.
    fn register(self: &Arc<Self>, context: &TopologyContext) {
        // SYNC: Relaxed: a flag only this method reads, with no data
        // published through it (registering twice would only duplicate
        // samples).
        if !self.registered.swap(true, Ordering::Relaxed) {
            context.register_metric(Arc::clone(self) as Arc<dyn MetricSource>);
        }
    }

    fn stats(&self) -> std::sync::MutexGuard<'_, CheckpointStats> {
        self.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The backend.
    pub fn backend(&self) -> &dyn StateBackend {
        &*self.backend
    }

    /// The last checkpoint made current, if any.
    pub fn current(&self) -> Result<Option<u64>, StateError> {
        self.backend.current()
    }

    /// The first error saving or committing a checkpoint, if any (the
    /// topology keeps running; the checkpoint is not made current).
    pub fn error(&self) -> Option<String> {
        self.error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn set_tasks(&self, tasks: usize) {
        let _ = self.tasks.set(tasks);
    }

    fn fail(&self, e: &StateError) {
        self.stats().errors += 1;
        let mut error = self.error.lock().unwrap_or_else(PoisonError::into_inner);
        error.get_or_insert_with(|| e.to_string());
        tracing::error!("{e}");
    }

    /// Saves `state` (if any) as `task`'s part of checkpoint `n` and
    /// counts it (`alignment`: how long the task's inputs were aligned for
    /// it); the last task of `n` makes it current.
    fn save(&self, n: u64, task: &str, state: Option<&KeyValueState>, alignment: Duration) {
        let result = match state {
            Some(s) => s
                .snapshot()
                .and_then(|b| self.backend.save(n, task, &b).map(|()| b.len())),
            None => Ok(0),
        };
        let bytes = match result {
            Ok(bytes) => bytes,
            Err(e) => return self.fail(&e),
        };
        {
            let mut stats = self.stats();
            let open = stats.open.entry(n).or_insert(Open {
                started: Instant::now(),
                bytes: 0,
                alignment: Duration::ZERO,
            });
            open.bytes += bytes as u64;
            open.alignment = open.alignment.max(alignment);
        }
        let mut progress = self.progress.lock().unwrap_or_else(PoisonError::into_inner);
        *progress.saved.entry(n).or_default() += 1;
        self.commit_complete(&mut progress);
    }

    /// A task whose inputs (or, for a spout, whose emits) have ended: it
    /// took part in checkpoints up to `last` and in none after; its final
    /// `state` (if it has state) is written into each later checkpoint
    /// before that is made current, so every checkpoint stays whole.
    fn retire(&self, last: u64, task: &str, state: Option<&KeyValueState>) {
        let snapshot = match state.map(KeyValueState::snapshot).transpose() {
            Ok(s) => s,
            Err(e) => return self.fail(&e),
        };
        let mut progress = self.progress.lock().unwrap_or_else(PoisonError::into_inner);
        progress.retired.push(Retired {
            last,
            task: task.to_owned(),
            snapshot,
        });
        self.commit_complete(&mut progress);
    }

    /// Makes current the newest checkpoint that every task taking part in
    /// it has saved, and forgets the older ones (over several nodes: marks
    /// it as this node's, and forgets the checkpoints older than the
    /// newest complete one).
    fn commit_complete(&self, progress: &mut Progress) {
        let cluster = self.cluster();
        let tasks = match &cluster {
            Some(c) => c.tasks,
            None => self.tasks.get().copied().unwrap_or(usize::MAX),
        };
        let complete = progress
            .saved
            .iter()
            .filter(|(n, count)| {
                let gone = progress.retired.iter().filter(|r| r.last < **n).count();
                **count >= tasks.saturating_sub(gone)
            })
            .map(|(n, _)| *n)
            .max();
        if let Some(n) = complete {
            progress.saved.retain(|id, _| *id > n);
            let mut carried_bytes = 0;
            let carried = progress
                .retired
                .iter()
                .filter(|r| r.last < n)
                .filter_map(|r| r.snapshot.as_ref().map(|s| (&r.task, s)))
                .try_for_each(|(task, s)| {
                    carried_bytes += s.len() as u64;
                    self.backend.save(n, task, s)
                });
            let layout = carried.and_then(|()| {
                // One writer: the only process, or the cluster's first node.
                if cluster.as_ref().is_none_or(|c| c.writes_layout()) {
                    let layout = self.layout.lock().unwrap_or_else(PoisonError::into_inner);
                    self.backend.save(n, LAYOUT, &layout.snapshot()?)?;
                }
                Ok(())
            });
            let committed = layout.and_then(|()| match &cluster {
                Some(c) => c.mark(&*self.backend, n),
                None => self.backend.commit(n).map(|()| Some(n)),
            });
            match committed {
                Ok(Some(c)) => self.completed(c, carried_bytes),
                Ok(None) => {}
                Err(e) => self.fail(&e),
            }
        }
        if progress.retired.len() == tasks && !progress.finished {
            progress.finished = true;
            let last = progress.retired.iter().map(|r| r.last).max().unwrap_or(0);
            tracing::info!(
                checkpoint = last,
                "checkpoints: every task of this process has finished (its final state is in checkpoint {last})"
            );
        }
    }

    /// Over several nodes: counts the checkpoints completed since this
    /// node's last marker by the other nodes' markers (read from the
    /// backend only while this node has a checkpoint not seen complete).
    fn refresh(&self) {
        let Some(cluster) = self.cluster() else {
            return;
        };
        if self.stats().open.is_empty() {
            return;
        }
        match cluster.newly_complete(&*self.backend) {
            Ok(Some(n)) => self.completed(n, 0),
            Ok(None) => {}
            Err(e) => tracing::warn!("cannot read which checkpoints are complete: {e}"),
        }
    }

    /// Checkpoint `n` was made current (with `carried` bytes of retired
    /// tasks' state written into it).
    fn completed(&self, n: u64, carried: u64) {
        let mut stats = self.stats();
        if stats.last.is_some_and(|l| l.id >= n) {
            return; // a newer one was counted first (another thread)
        }
        let open = stats.open.get(&n).copied();
        stats.open.retain(|id, _| *id > n);
        stats.completed += 1;
        stats.last = Some(Completed {
            id: n,
            duration: open.map_or(Duration::ZERO, |o| o.started.elapsed()),
            bytes: open.map_or(0, |o| o.bytes) + carried,
            alignment: open.map_or(Duration::ZERO, |o| o.alignment),
        });
    }

    /// The state of task `place` in the checkpoint restored (`None`: none
    /// committed); for a task without state (`saves` false) only the
    /// checkpoint's id, with empty state. A task whose component had
    /// another task count in that checkpoint gets the entries it owns now
    /// (see `rescale.rs`). A damaged or missing file stops the task with
    /// the error: never a silent start from empty state.
    fn restore(&self, place: &Place, saves: bool) -> Option<(u64, KeyValueState)> {
        let restored = match self.cluster() {
            Some(c) => Ok(c.restored),
            None => self.backend.current(),
        };
        let loaded = restored.and_then(|n| {
            n.map(|n| {
                let state = if saves {
                    self.restore_task(n, place)?
                } else {
                    KeyValueState::default()
                };
                Ok((n, state))
            })
            .transpose()
        });
        match loaded {
            Ok(l) => l,
            Err(e) => panic!("cannot restore the state of `{}`: {e}", place.key()),
        }
    }

    /// Task `place`'s state in checkpoint `n`, split anew if its
    /// component's task count changed since.
    fn restore_task(&self, n: u64, place: &Place) -> Result<KeyValueState, StateError> {
        let load = |index: usize| {
            let key = format!("{}-{index}", place.component);
            KeyValueState::restore(&self.backend.load_at(n, &key)?)
        };
        let old = match self.layout_at(n)? {
            Some(layout) => layout.tasks(&place.component).unwrap_or(place.tasks),
            None => {
                // No layout: only the task counts it was saved with. A
                // saved task beyond this run's is not dropped silently.
                let beyond = format!("{}-{}", place.component, place.tasks);
                if place.index == 0 && self.backend.load_at(n, &beyond).is_ok() {
                    return Err(StateError::Rescale {
                        component: place.component.clone(),
                        reason: format!(
                            "checkpoint {n} holds the state of `{beyond}`, but this run has \
                             {} task(s), and the checkpoint does not say how many it was \
                             saved with: run it with its old task count",
                            place.tasks
                        ),
                    });
                }
                place.tasks
            }
        };
        if old == place.tasks {
            return load(place.index);
        }
        if place.spout {
            return Err(StateError::Rescale {
                component: place.component.clone(),
                reason: format!(
                    "checkpoint {n} holds the positions of {old} task(s) of this rewindable \
                     spout, this run has {}: a position belongs to its task",
                    place.tasks
                ),
            });
        }
        tracing::info!(
            component = %place.component,
            task = place.index,
            from = old,
            to = place.tasks,
            checkpoint = n,
            "restoring the entries this task owns under the new task count"
        );
        rescale::split(&place.component, place.index, place.tasks, old, load)
    }

    /// The layout saved with checkpoint `n` (read once).
    fn layout_at(&self, n: u64) -> Result<Option<Layout>, StateError> {
        let mut cached = self
            .restored_layout
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((id, layout)) = cached.as_ref() {
            if *id == n {
                return Ok(layout.clone());
            }
        }
        // A checkpoint made before layouts were saved has none; one that
        // has a damaged layout is an error.
        let layout = match self.backend.load_at(n, LAYOUT) {
            Ok(bytes) => Some(Layout::restore(&bytes)?),
            Err(StateError::Missing { .. } | StateError::Remote { .. }) => None,
            Err(e) => return Err(e),
        };
        *cached = Some((n, layout.clone()));
        Ok(layout)
    }
}

/// A task's place in its run: what its state is restored for.
struct Place {
    component: String,
    index: usize,
    tasks: usize,
    spout: bool,
}

impl Place {
    fn of(context: &TopologyContext, spout: bool) -> Self {
        Self {
            component: context.component_id().to_owned(),
            index: context.task_index(),
            tasks: context.component_tasks().len(),
            spout,
        }
    }

    /// Its state's name in a checkpoint (stable across restarts).
    fn key(&self) -> String {
        format!("{}-{}", self.component, self.index)
    }
}

/// Checkpoint metrics: the last completed checkpoint's id, duration
/// (from the first task's save, a spout's barrier, to the commit), size
/// (bytes of state written) and longest alignment (a bolt's wait from the
/// first barrier of the checkpoint to the last of its inputs'); counts of
/// completed checkpoints and of errors.
impl MetricSource for Checkpointing {
    fn collect(&self, out: &mut Vec<Sample>) {
        self.refresh();
        let stats = self.stats();
        let mut sample = |name: &str, help: &str, kind, value: f64| {
            out.push(Sample {
                name: name.to_owned(),
                help: help.to_owned(),
                kind,
                labels: Vec::new(),
                value,
            });
        };
        sample(
            "gale_checkpoints_completed_total",
            "Checkpoints completed (made current)",
            SampleKind::Counter,
            stats.completed as f64,
        );
        sample(
            "gale_checkpoint_errors_total",
            "Errors saving or committing a checkpoint",
            SampleKind::Counter,
            stats.errors as f64,
        );
        let Some(last) = stats.last else { return };
        sample(
            "gale_checkpoint_last_id",
            "Id of the last completed checkpoint",
            SampleKind::Gauge,
            last.id as f64,
        );
        sample(
            "gale_checkpoint_last_duration_seconds",
            "Last completed checkpoint: from its first barrier to its commit",
            SampleKind::Gauge,
            last.duration.as_secs_f64(),
        );
        sample(
            "gale_checkpoint_last_size_bytes",
            "Last completed checkpoint: bytes of state written",
            SampleKind::Gauge,
            last.bytes as f64,
        );
        sample(
            "gale_checkpoint_last_alignment_seconds",
            "Last completed checkpoint: the longest barrier alignment of a bolt",
            SampleKind::Gauge,
            last.alignment.as_secs_f64(),
        );
    }
}

/// The coordinator's count.
#[derive(Debug, Default)]
struct Progress {
    /// Checkpoint id → tasks that saved it.
    saved: BTreeMap<u64, usize>,
    /// The tasks that stopped taking part.
    retired: Vec<Retired>,
    /// Whether every task has stopped taking part (logged once).
    finished: bool,
}

/// A task that stopped taking part in checkpoints.
#[derive(Debug)]
struct Retired {
    /// The last checkpoint it took part in.
    last: u64,
    /// Its state file's name.
    task: String,
    /// Its final state, if it has state.
    snapshot: Option<Vec<u8>>,
}

/// The barrier value that says "this channel has ended" (Flink's end of
/// partition): it counts as delivered for every later barrier.
const END: i64 = -1;

/// The file name of a task's state: its component and index (stable
/// across restarts).
fn task_key(context: &TopologyContext) -> String {
    format!("{}-{}", context.component_id(), context.task_index())
}

/// The setting shared by a topology's wrappers, filled when it is built.
pub(crate) type Slot = Arc<OnceLock<Arc<Checkpointing>>>;

/// A spout's position, if it can rewind.
pub(crate) trait Source: Send {
    /// The spout's `next_tuple`, called straight (one dynamic call, not
    /// two, per tuple).
    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>);
    fn spout(&mut self) -> &mut dyn Spout;
    fn spout_ref(&self) -> &dyn Spout;
    fn position(&self) -> Option<Value>;
    fn rewind(&mut self, position: &Value);
}

pub(crate) struct Plain(pub(crate) Box<dyn Spout>);

impl Source for Plain {
    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        self.0.next_tuple(out);
    }
    fn spout(&mut self) -> &mut dyn Spout {
        &mut *self.0
    }
    fn spout_ref(&self) -> &dyn Spout {
        &*self.0
    }
    fn position(&self) -> Option<Value> {
        None
    }
    fn rewind(&mut self, _position: &Value) {}
}

pub(crate) struct Rewind<S>(pub(crate) S);

impl<S: RewindableSpout> Source for Rewind<S> {
    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        self.0.next_tuple(out);
    }
    fn spout(&mut self) -> &mut dyn Spout {
        &mut self.0
    }
    fn spout_ref(&self) -> &dyn Spout {
        &self.0
    }
    fn position(&self) -> Option<Value> {
        Some(self.0.checkpoint())
    }
    fn rewind(&mut self, position: &Value) {
        self.0.restore(position);
    }
}

/// Wraps a spout: restores its position, emits barriers (see the module
/// docs).
pub struct CheckpointSpout {
    source: Box<dyn Source>,
    slot: Slot,
    key: String,
    next: u64,
    due: Option<Instant>,
    /// The spout said it has finished (asked after a call that emitted
    /// nothing).
    finished: bool,
    last_sent: bool,
    /// Paused for a rebalance's switch (see `switch.rs`).
    paused: bool,
}

impl CheckpointSpout {
    pub(crate) fn new(source: Box<dyn Source>, slot: Slot) -> Self {
        Self {
            source,
            slot,
            key: String::new(),
            next: 1,
            due: None,
            finished: false,
            last_sent: false,
            paused: false,
        }
    }

    /// The spout's position as state (`None` if it cannot rewind).
    fn position_state(&self) -> Option<KeyValueState> {
        self.source.position().map(|p| {
            let mut s = KeyValueState::default();
            s.put("position", p);
            s
        })
    }

    fn barrier(&mut self, out: &mut SpoutOutput<'_>) {
        let Some(c) = self.slot.get() else { return };
        let state = self.position_state();
        c.save(self.next, &self.key, state.as_ref(), Duration::ZERO);
        out.emit_to(CHECKPOINT_STREAM, &[Value::I64(self.next as i64)]);
        // Sent now, not at the next flush: the bolts downstream hold the
        // inputs of the channels that delivered it until it comes through
        // every channel.
        out.emitter.outbox.flush();
        c.switch.barrier(&self.key, self.next);
        self.next += 1;
        self.due = Some(Instant::now() + c.interval);
    }

    /// A rebalance's switch (see `switch.rs`): while one is asked, emits
    /// the barriers up to its target, then pauses the spout; once it is
    /// no longer asked (aborted), resumes. Whether to emit nothing now.
    fn switching(&mut self, out: &mut SpoutOutput<'_>) -> bool {
        let Some(target) = self.slot.get().map(|c| c.switch.target()) else {
            return false;
        };
        match target {
            Some(target) => {
                if self.last_sent {
                    return false; // finished: nothing to pause
                }
                while self.next <= target {
                    self.barrier(out);
                }
                if !self.paused {
                    self.paused = true;
                    self.source.spout().deactivate();
                    if let Some(c) = self.slot.get() {
                        c.switch.paused(&self.key, true);
                    }
                }
                true
            }
            None if self.paused => {
                self.paused = false;
                self.source.spout().activate();
                if let Some(c) = self.slot.get() {
                    c.switch.paused(&self.key, false);
                }
                false
            }
            None => false,
        }
    }
}

impl Spout for CheckpointSpout {
    fn declare_output_fields(&self, declarer: &mut OutputFieldsDeclarer) {
        self.source.spout_ref().declare_output_fields(declarer);
    }

    fn open(&mut self, context: &TopologyContext) {
        self.key = task_key(context);
        self.source.spout().open(context);
        if let Some(c) = self.slot.get() {
            c.register(context);
            let saves = self.source.position().is_some();
            if let Some((n, state)) = c.restore(&Place::of(context, true), saves) {
                if let Some(p) = state.get("position") {
                    self.source.rewind(p);
                }
                self.next = n + 1;
            }
            c.switch.open(&self.key, self.next - 1);
            self.due = Some(Instant::now() + c.interval);
        }
    }

    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        if self.switching(out) {
            return;
        }
        // The worker's clock of this pass, not a clock read per tuple: a
        // barrier is due at most one pass late.
        if self.due.is_some_and(|d| out.emitter.now >= d) {
            self.barrier(out);
        }
        // Whether the spout has finished is asked only when a call emits
        // nothing (a finished spout emits nothing; the worker already
        // allows one call more), not before every tuple.
        let before = out.emitter.counters[out.slot].emitted;
        if !self.finished {
            self.source.next_tuple(out);
            if out.emitter.counters[out.slot].emitted != before {
                return;
            }
            self.finished = self.source.spout_ref().is_finished();
        }
        if self.finished && !self.last_sent {
            // A last checkpoint with everything emitted, then the end of
            // this spout's channels: later checkpoints go on without it.
            self.barrier(out);
            self.last_sent = true;
            if let Some(c) = self.slot.get() {
                out.emit_to(CHECKPOINT_STREAM, &[Value::I64(END)]);
                let state = self.position_state();
                c.retire(self.next - 1, &self.key, state.as_ref());
                c.switch.finished(&self.key);
            }
        }
    }

    fn ack(&mut self, msg_id: u64) {
        self.source.spout().ack(msg_id);
    }
    fn fail(&mut self, msg_id: u64) {
        self.source.spout().fail(msg_id);
    }
    fn activate(&mut self) {
        self.source.spout().activate();
    }
    fn deactivate(&mut self) {
        self.source.spout().deactivate();
    }
    fn close(&mut self) {
        self.source.spout().close();
    }
    fn is_finished(&self) -> bool {
        self.source.spout_ref().is_finished() && (self.last_sent || self.slot.get().is_none())
    }
}

/// The bolt inside a [`CheckpointBolt`].
pub(crate) enum Inner {
    Plain(Box<dyn Bolt>),
    Stateful(Box<dyn StatefulBolt>),
}

/// Inputs kept while their channels wait for a barrier: each one's
/// archived bytes (header included, so acking it later is acking the
/// original), back to back in one buffer reused from one alignment to the
/// next, each at a [`RECORD_ALIGN`] offset.
#[derive(Default)]
struct Held {
    bytes: AlignedVec<16>,
    /// The sources of held inputs (a few; looked up in order).
    sources: Vec<HeldSource>,
    /// For an input whose bytes are not at hand.
    encoder: Encoder,
}

/// Where held inputs came from.
struct HeldSource {
    component: String,
    stream: String,
    fields: Option<Fields>,
}

impl Held {
    /// Keeps `input`: a copy of `record`, its archived bytes, when the
    /// caller has them, else `input` encoded anew (`None` if it cannot be).
    fn hold(&mut self, input: &Input<'_>, record: Option<&[u8]>) -> Option<Waiting> {
        let source = self.source_of(input);
        let at = self.bytes.len().next_multiple_of(RECORD_ALIGN);
        self.bytes.resize(at, 0);
        let len = match record {
            Some(record) => {
                self.bytes.extend_from_slice(record);
                record.len()
            }
            None => {
                let tuple = input.to_tuple();
                let encoded =
                    gale_codec::encoded_len_bound(tuple.as_ref())
                        .ok()
                        .and_then(|bound| {
                            self.bytes.resize(at + bound, 0);
                            self.encoder
                                .encode_into(tuple.as_ref(), &mut self.bytes[at..])
                                .ok()
                        });
                self.bytes.resize(at + encoded.unwrap_or(0), 0);
                encoded?
            }
        };
        Some(Waiting::Tuple { at, len, source })
    }

    fn source_of(&mut self, input: &Input<'_>) -> usize {
        let (component, stream) = (input.source_component(), input.source_stream());
        if let Some(i) = self
            .sources
            .iter()
            .position(|s| s.component == component && s.stream == stream)
        {
            return i;
        }
        self.sources.push(HeldSource {
            component: component.to_owned(),
            stream: stream.to_owned(),
            fields: input.fields().cloned(),
        });
        self.sources.len() - 1
    }

    /// The input held at `at` (`None` if `at`, `len` or `source` are not
    /// what [`hold`](Self::hold) returned).
    fn input(&self, at: usize, len: usize, source: usize) -> Option<Input<'_>> {
        let record = self.bytes.get(at..at + len)?;
        debug_assert!(view_checked(record).is_ok());
        // SAFETY: `hold` wrote exactly these bytes at this offset, a
        // multiple of RECORD_ALIGN in a 16-aligned buffer, and nothing
        // changed them since (the buffer is only appended to, or cleared
        // once nothing is held): a copy of a record our encoder wrote,
        // taken from our own rings (trusted, `RecordSource`'s contract),
        // or our encoder's own output.
        let view = unsafe { gale_codec::view_trusted(record) };
        let source = self.sources.get(source)?;
        let view = match &source.fields {
            Some(f) => view.with_fields(f),
            None => view,
        };
        Some(Input {
            view,
            component: &source.component,
            stream: &source.stream,
            typed: None,
        })
    }
}

/// One item waiting in a blocked channel.
enum Waiting {
    /// An input in [`Held`]: its offset, length and source.
    Tuple {
        at: usize,
        len: usize,
        source: usize,
    },
    Barrier(u64),
    End,
}

/// Wraps a bolt: aligns barriers, saves state, forwards barriers (see the
/// module docs).
pub struct CheckpointBolt {
    inner: Inner,
    state: KeyValueState,
    slot: Slot,
    key: String,
    /// Upstream tasks a barrier must come from.
    upstream: usize,
    /// The barrier being aligned, the channels that delivered it, and
    /// when the first did.
    aligning: Option<(u64, Vec<TaskId>, Instant)>,
    /// Per upstream task, what arrived after its barrier.
    waiting: HashMap<TaskId, VecDeque<Waiting>, foldhash::fast::RandomState>,
    /// The last checkpoint completed here.
    done: u64,
    /// Upstream tasks whose channels ended.
    ended: Vec<TaskId>,
    /// The inputs in `waiting`.
    held: Held,
}

impl CheckpointBolt {
    pub(crate) fn new(inner: Inner, slot: Slot) -> Self {
        Self {
            inner,
            state: KeyValueState::default(),
            slot,
            key: String::new(),
            upstream: 0,
            aligning: None,
            waiting: HashMap::default(),
            done: 0,
            ended: Vec::new(),
            held: Held::default(),
        }
    }

    fn blocked(&self, task: TaskId) -> bool {
        self.aligning
            .as_ref()
            .is_some_and(|(_, from, _)| from.contains(&task))
    }

    fn process(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        process(&mut self.inner, &mut self.state, input, out);
    }

    /// Barrier `n` from `task` (not blocked): completes the checkpoint
    /// once every upstream task's barrier is in.
    fn barrier(&mut self, task: TaskId, n: u64, out: &mut BoltOutput<'_>) {
        if n <= self.done {
            return; // from before a restore
        }
        let (_, from, _) = self
            .aligning
            .get_or_insert_with(|| (n, Vec::new(), Instant::now()));
        from.push(task);
        self.complete(out);
    }

    /// Completes the barrier being aligned if every channel still open has
    /// delivered it.
    fn complete(&mut self, out: &mut BoltOutput<'_>) {
        let live = self.upstream.saturating_sub(self.ended.len());
        if self
            .aligning
            .as_ref()
            .is_none_or(|(_, from, _)| from.len() < live)
        {
            return;
        }
        let Some((n, _, first)) = self.aligning.take() else {
            return;
        };
        if let Some(c) = self.slot.get() {
            let state = matches!(self.inner, Inner::Stateful(_)).then_some(&self.state);
            c.save(n, &self.key, state, first.elapsed());
        }
        self.done = n;
        out.emit_to(CHECKPOINT_STREAM, &[Value::I64(n as i64)]);
        // Sent now, as a spout's barrier is.
        out.emitter.outbox.flush();
    }

    /// The channel from `task` ended: later barriers do not wait for it;
    /// once every channel has ended, this task's do too.
    fn end(&mut self, task: TaskId, out: &mut BoltOutput<'_>) {
        if self.ended.contains(&task) {
            return;
        }
        self.ended.push(task);
        self.complete(out);
        if self.ended.len() >= self.upstream {
            out.emit_to(CHECKPOINT_STREAM, &[Value::I64(END)]);
            if let Some(c) = self.slot.get() {
                let state = matches!(self.inner, Inner::Stateful(_)).then_some(&self.state);
                c.retire(self.done, &self.key, state);
            }
        }
    }

    /// Runs what waited in channels that are no longer blocked, until
    /// each is empty or blocked again.
    fn drain(&mut self, out: &mut BoltOutput<'_>) {
        loop {
            let ready: Vec<TaskId> = self
                .waiting
                .iter()
                .filter(|(t, q)| !q.is_empty() && !self.blocked(**t))
                .map(|(t, _)| *t)
                .collect();
            if ready.is_empty() {
                return;
            }
            for task in ready {
                while !self.blocked(task) {
                    let Some(item) = self.waiting.get_mut(&task).and_then(VecDeque::pop_front)
                    else {
                        break;
                    };
                    match item {
                        Waiting::Barrier(n) => self.barrier(task, n, out),
                        Waiting::End => self.end(task, out),
                        Waiting::Tuple { at, len, source } => {
                            if let Some(input) = self.held.input(at, len, source) {
                                process(&mut self.inner, &mut self.state, &input, out);
                            }
                        }
                    }
                }
            }
            if self.waiting.values().all(VecDeque::is_empty) {
                // Everything held has run: the buffer starts again.
                self.held.bytes.clear();
            }
        }
    }

    /// One input (`record`: its archived bytes, when at hand): held if
    /// its channel is blocked, else a barrier or a tuple for the bolt.
    fn input(&mut self, input: &Input<'_>, record: Option<&[u8]>, out: &mut BoltOutput<'_>) {
        let task = input.source_task();
        if self.blocked(task) {
            let item = if input.source_stream() == CHECKPOINT_STREAM {
                input.get(0).and_then(|v| v.as_i64()).map(|n| match n {
                    END => Waiting::End,
                    n => Waiting::Barrier(n as u64),
                })
            } else {
                self.held.hold(input, record)
            };
            match item {
                Some(item) => self.waiting.entry(task).or_default().push_back(item),
                None => out.report_error("a tuple too large to hold while aligning a checkpoint"),
            }
            return;
        }
        if input.source_stream() == CHECKPOINT_STREAM {
            match input.get(0).and_then(|v| v.as_i64()) {
                Some(END) => self.end(task, out),
                Some(n) => self.barrier(task, n as u64, out),
                None => return,
            }
            self.drain(out);
            return;
        }
        self.process(input, out);
    }
}

/// Runs `input` through the bolt.
fn process(
    inner: &mut Inner,
    state: &mut KeyValueState,
    input: &Input<'_>,
    out: &mut BoltOutput<'_>,
) {
    match inner {
        Inner::Plain(b) => b.execute(input, out),
        Inner::Stateful(b) => b.execute(input, state, out),
    }
}

impl Bolt for CheckpointBolt {
    fn declare_output_fields(&self, declarer: &mut OutputFieldsDeclarer) {
        match &self.inner {
            Inner::Plain(b) => b.declare_output_fields(declarer),
            Inner::Stateful(b) => b.declare_output_fields(declarer),
        }
    }

    fn prepare(&mut self, context: &TopologyContext) {
        self.key = task_key(context);
        self.upstream = context
            .sources()
            .keys()
            .map(|c| context.tasks_of(c).len())
            .sum();
        if let Some(c) = self.slot.get() {
            c.register(context);
            let saves = matches!(self.inner, Inner::Stateful(_));
            if let Some((n, state)) = c.restore(&Place::of(context, false), saves) {
                self.done = n;
                if matches!(self.inner, Inner::Stateful(_)) {
                    self.state = state;
                }
            }
        }
        match &mut self.inner {
            Inner::Plain(b) => b.prepare(context),
            Inner::Stateful(b) => b.prepare(context, &self.state),
        }
    }

    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        self.input(input, None, out);
    }

    fn execute_batch(&mut self, inputs: &mut InputBatch<'_, '_>, out: &mut BoltOutput<'_>) {
        // No channel blocked and no barrier in the run (a run is of one
        // stream): the bolt gets the run whole, as it would unwrapped.
        if self.aligning.is_none() && inputs.source_stream() != CHECKPOINT_STREAM {
            match &mut self.inner {
                Inner::Plain(b) => b.execute_batch(inputs, out),
                Inner::Stateful(b) => b.execute_batch(inputs, &mut self.state, out),
            }
            return;
        }
        while let Some(input) = inputs.next() {
            let record = inputs.last_record();
            self.input(&input, record, out);
        }
    }

    fn cleanup(&mut self) {
        match &mut self.inner {
            Inner::Plain(b) => b.cleanup(),
            Inner::Stateful(b) => b.cleanup(&self.state),
        }
    }

    fn wants_poll(&self) -> bool {
        matches!(&self.inner, Inner::Plain(b) if b.wants_poll())
    }

    fn poll(&mut self, out: &mut BoltOutput<'_>) -> bool {
        match &mut self.inner {
            Inner::Plain(b) => b.poll(out),
            Inner::Stateful(_) => false,
        }
    }

    fn has_pending(&self) -> bool {
        matches!(&self.inner, Inner::Plain(b) if b.has_pending())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::DirBackend;

    fn last_id(c: &Checkpointing) -> Option<f64> {
        let mut samples = Vec::new();
        c.collect(&mut samples);
        samples
            .iter()
            .find(|s| s.name == "gale_checkpoint_last_id")
            .map(|s| s.value)
    }

    /// Over several nodes only the node that marks a checkpoint last sees
    /// it complete when it marks; the others learn it when their metrics
    /// are read (before, their `gale_checkpoint_last_id` lagged one
    /// checkpoint behind, and the final checkpoint never showed).
    #[test]
    fn a_node_that_marked_first_reports_the_checkpoint_the_last_node_completed() {
        let dir = std::env::temp_dir().join(format!("gale-checkpoint-lag-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let nodes = [0, 1];
        let joined = |node| {
            let c = Checkpointing::new(DirBackend::open(&dir).unwrap(), Duration::from_secs(1));
            c.join_cluster(node, &nodes, 1).unwrap();
            c
        };
        let (zero, _one) = (joined(0), joined(1));
        let backend = DirBackend::open(&dir).unwrap();
        // Node 0's one task saves checkpoint 1, and node 0 marks it (as
        // `Cluster::mark` does once the link is whole; there is no link
        // here, so the marker is written as it would be).
        zero.save(1, "t-0", None, Duration::ZERO);
        backend.mark(1, 0).unwrap();
        assert_eq!(last_id(&zero), None, "node 1 has not marked it yet");
        // Node 1 marks it last: it is complete, and node 0 says so.
        backend.mark(1, 1).unwrap();
        assert_eq!(last_id(&zero), Some(1.0));
        assert_eq!(zero.stats().completed, 1);
        // Read again: counted once.
        assert_eq!(last_id(&zero), Some(1.0));
        assert_eq!(zero.stats().completed, 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
