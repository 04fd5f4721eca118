//! State shared between the worker threads and the topology's handle:
//! stop flags, per-worker progress counters for termination detection,
//! per-task counters, live metrics (the `MetricsStore`), and reported
//! errors.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::SystemTime;

use crossbeam_utils::CachePadded;

use super::counters::AtomicCounters;
use super::error::ErrorSummary;
use super::recorder::MetricsStore;
use crate::TaskId;

// The worker and its emitter name these here (kept while the data path is
// being rewritten); they are defined in `counters` and `error`.
pub(crate) use super::counters::TaskCounters;
pub(crate) use super::error::TaskError;

/// A worker's progress, for detecting that nothing is in flight.
#[derive(Default)]
pub(crate) struct WorkerProgress {
    /// Records this worker handed to a ring, an overflow or its local queue.
    pub(crate) sent: AtomicU64,
    /// Records this worker took out and executed.
    pub(crate) processed: AtomicU64,
    /// All of this worker's spouts are finished (or drained on request).
    pub(crate) spouts_done: AtomicBool,
    /// The published pass began after the worker saw
    /// [`Shared::quiescing`]: from it on, the worker sends only what the
    /// tuples it executes emit (no ticks, no polls of idle bolts).
    pub(crate) quiet: AtomicBool,
}

/// A worker's published state, as the coordinator reads it.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Progress {
    pub(crate) sent: u64,
    pub(crate) processed: u64,
    pub(crate) spouts_done: bool,
    pub(crate) quiet: bool,
}

impl WorkerProgress {
    /// Publishes a consistent point of this worker's state: every tuple
    /// counted in `processed` has had its emits counted in `sent`.
    pub(crate) fn publish(&self, progress: Progress) {
        // SYNC: Release pairs with the Acquire loads in `snapshot`; the
        // coordinator only compares values, so the stores' order matters
        // (sent first) and nothing else is published through them.
        self.sent.store(progress.sent, Ordering::Release);
        self.processed.store(progress.processed, Ordering::Release);
        self.spouts_done
            .store(progress.spouts_done, Ordering::Release);
        self.quiet.store(progress.quiet, Ordering::Release);
    }

    /// The last published state, read in the reverse order of `publish`.
    pub(crate) fn snapshot(&self) -> Progress {
        // SYNC: Acquire pairs with the Release stores in `publish`.
        let quiet = self.quiet.load(Ordering::Acquire);
        let spouts_done = self.spouts_done.load(Ordering::Acquire);
        let processed = self.processed.load(Ordering::Acquire);
        let sent = self.sent.load(Ordering::Acquire);
        Progress {
            sent,
            processed,
            spouts_done,
            quiet,
        }
    }
}

/// Errors are grouped by (component, task, message).
type ErrorKey = (String, TaskId, String);

/// Shared by the workers, the coordinator and the handle.
pub(crate) struct Shared {
    /// Stop polling spouts and shut down once everything in flight is done.
    pub(crate) drain: AtomicBool,
    /// Deactivated (Storm's `deactivate`): spouts are not polled until
    /// activated again; everything else runs.
    pub(crate) inactive: AtomicBool,
    /// The coordinator is about to stop a drained topology: workers stop
    /// sending on their own (ticks, polls of bolts with nothing pending)
    /// and say so ([`WorkerProgress::quiet`]). Never cleared.
    pub(crate) quiesce: AtomicBool,
    /// Exit now (set by the coordinator once drained, or on failure).
    pub(crate) stop: AtomicBool,
    /// A task panicked or stopped the topology; the first such failure is
    /// in `panic`.
    pub(crate) failed: AtomicBool,
    pub(crate) panic: Mutex<Option<Failure>>,
    /// Each on its own cache line: workers write theirs every loop pass.
    pub(crate) workers: Vec<CachePadded<WorkerProgress>>,
    /// Each worker's busy share of its last load window, in millionths
    /// (`load.rs`), for load-aware shuffles. Apart from `workers`, which
    /// change every pass: these change once a window.
    busy: Vec<CachePadded<AtomicU32>>,
    /// Indexed by task id - 1; padded like `workers`.
    pub(crate) tasks: Vec<CachePadded<AtomicCounters>>,
    errors: Mutex<Vec<TaskError>>,
    /// Errors grouped by (component, task, message): count, first, last.
    error_groups: Mutex<BTreeMap<ErrorKey, (u64, SystemTime, SystemTime)>>,
    /// Live metrics published by the workers.
    pub(crate) metrics: MetricsStore,
}

/// The first failure that stopped a topology.
pub(crate) struct Failure {
    /// Which task (0: an engine thread) and what.
    pub(crate) error: TaskError,
    /// The task stopped the topology itself (`fail_topology`); else it
    /// panicked.
    pub(crate) asked: bool,
}

/// Reported errors kept for the handle (older ones are counted, not kept).
const MAX_KEPT_ERRORS: usize = 1000;

impl Shared {
    pub(crate) fn new(workers: usize, tasks: usize, metrics: MetricsStore) -> Self {
        Self {
            drain: AtomicBool::new(false),
            inactive: AtomicBool::new(false),
            quiesce: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            failed: AtomicBool::new(false),
            panic: Mutex::new(None),
            workers: (0..workers).map(|_| CachePadded::default()).collect(),
            busy: (0..workers).map(|_| CachePadded::default()).collect(),
            tasks: (0..tasks).map(|_| CachePadded::default()).collect(),
            errors: Mutex::new(Vec::new()),
            error_groups: Mutex::new(BTreeMap::new()),
            metrics,
        }
    }

    /// Publishes worker `index`'s busy share (0 to 1) of its last load
    /// window.
    pub(crate) fn set_busy(&self, index: usize, share: f64) {
        if let Some(b) = self.busy.get(index) {
            // SYNC: Relaxed: a lone gauge, read by `busy`; nothing else is
            // published through it.
            b.store((share.clamp(0.0, 1.0) * 1e6) as u32, Ordering::Relaxed);
        }
    }

    /// Worker `index`'s last published busy share (0 before its first
    /// window, and for a thread not of this node).
    pub(crate) fn busy(&self, index: usize) -> f64 {
        // SYNC: Relaxed, as its store in `set_busy`.
        self.busy
            .get(index)
            .map_or(0.0, |b| f64::from(b.load(Ordering::Relaxed)) / 1e6)
    }

    /// Records an error reported by or about a task and logs it.
    pub(crate) fn report(&self, component: &str, task: TaskId, message: String) {
        tracing::error_span!("task", component, task).in_scope(|| tracing::error!("{message}"));
        self.group_error(component, task, &message);
        let mut errors = self.errors.lock().unwrap_or_else(|e| e.into_inner());
        if errors.len() < MAX_KEPT_ERRORS {
            errors.push(TaskError {
                component: component.to_owned(),
                task,
                message,
            });
        }
    }

    /// Counts an error in its group (distinct groups beyond the first
    /// thousand are not kept; the task's error counter still counts them).
    fn group_error(&self, component: &str, task: TaskId, message: &str) {
        let now = SystemTime::now();
        let mut groups = self.error_groups.lock().unwrap_or_else(|e| e.into_inner());
        let key = (component.to_owned(), task, message.to_owned());
        if let Some((count, _, last)) = groups.get_mut(&key) {
            *count += 1;
            *last = now;
        } else if groups.len() < MAX_KEPT_ERRORS {
            groups.insert(key, (1, now, now));
        }
    }

    /// Reported errors grouped, most recent first.
    pub(crate) fn error_summaries(&self) -> Vec<ErrorSummary> {
        let groups = self.error_groups.lock().unwrap_or_else(|e| e.into_inner());
        let mut all: Vec<ErrorSummary> = groups
            .iter()
            .map(
                |((component, task, message), (count, first, last))| ErrorSummary {
                    component: component.clone(),
                    task: *task,
                    message: message.clone(),
                    count: *count,
                    first: *first,
                    last: *last,
                },
            )
            .collect();
        all.sort_by_key(|e| std::cmp::Reverse(e.last));
        all
    }

    pub(crate) fn errors(&self) -> Vec<TaskError> {
        self.errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Records a task's panic and makes every worker stop.
    pub(crate) fn fail(&self, error: TaskError) {
        self.stop_with(error, false);
    }

    /// Records the error a task stopped the topology with
    /// ([`BoltOutput::fail_topology`](crate::BoltOutput::fail_topology))
    /// and makes every worker stop.
    pub(crate) fn fail_asked(&self, error: TaskError) {
        self.stop_with(error, true);
    }

    fn stop_with(&self, error: TaskError, asked: bool) {
        if asked {
            // Reported as any other error too (the handle's and the
            // metrics' lists show it).
            let message = format!("stopped the topology: {}", error.message);
            self.report(&error.component, error.task, message);
        } else {
            let span = tracing::error_span!("task", component = error.component, task = error.task);
            span.in_scope(|| tracing::error!("task panicked: {}", error.message));
            self.group_error(&error.component, error.task, &error.message);
        }
        let mut panic = self.panic.lock().unwrap_or_else(|e| e.into_inner());
        if panic.is_none() {
            *panic = Some(Failure { error, asked });
        }
        // SYNC: Release pairs with the Acquire loads of `failed`/`stop` in
        // the worker loop and the coordinator; the panic record above is
        // behind a mutex anyway.
        self.failed.store(true, Ordering::Release);
        self.stop.store(true, Ordering::Release);
    }

    pub(crate) fn should_stop(&self) -> bool {
        // SYNC: pairs with the Release stores in `fail` and the coordinator.
        self.stop.load(Ordering::Acquire)
    }

    /// Whether workers must stop sending on their own (see `quiesce`).
    pub(crate) fn quiescing(&self) -> bool {
        // SYNC: pairs with the Release store in `coordinate_local`.
        self.quiesce.load(Ordering::Acquire)
    }

    pub(crate) fn inactive(&self) -> bool {
        // SYNC: pairs with the Release store in `ControlHandle::set_active`.
        self.inactive.load(Ordering::Acquire)
    }

    pub(crate) fn draining(&self) -> bool {
        // SYNC: pairs with the Release store in `RunningTopology::stop` and
        // the coordinator's duration check.
        self.drain.load(Ordering::Acquire)
    }
}
