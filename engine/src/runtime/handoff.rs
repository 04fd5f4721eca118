//! [`SpoutHandoff`]: spout instances carried from one run of a topology to
//! the next on the same node, so a rebalance (stop, re-plan, start again
//! in-process) does not reopen a spout and lose its position in its
//! source.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::Spout;

/// A spout task's place: component, task index, task count.
pub(crate) type Place = (String, usize, usize);

/// Spout instances parked by a run that stopped for a rebalance, taken by
/// the next run's tasks at the same place.
///
/// Give the same handoff to both runs ([`RunConfig::handoff`](super::RunConfig::handoff)),
/// [`arm`](Self::arm) it before stopping the first. When an armed run's
/// workers exit, each spout task first gets `fail(id)` for every tree
/// still pending (the spout replays it later: at-least-once), then its
/// instance is parked instead of closed. A task of the next run whose
/// component, task index and task count are the same, and which runs on
/// this node, takes the parked instance: it is not opened again, only
/// activated. The rest are closed when the next run starts
/// ([`take_closed`](Self::take_closed) counts them): those tasks start
/// afresh, from the factory.
#[derive(Clone, Default)]
pub struct SpoutHandoff {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    armed: AtomicBool,
    parked: Mutex<Vec<(Place, Box<dyn Spout>)>>,
    failed: AtomicU64,
    closed: AtomicU64,
}

impl std::fmt::Debug for SpoutHandoff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpoutHandoff")
            .field("armed", &self.armed())
            .field("parked", &self.parked())
            .finish()
    }
}

impl SpoutHandoff {
    /// An empty, unarmed handoff.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next run that exits parks its spouts (see the type's docs).
    pub fn arm(&self) {
        // SYNC: Release pairs with the Acquire load in `armed` (a worker
        // exiting after the run's stop, which is published after this).
        self.inner.armed.store(true, Ordering::Release);
    }

    /// Whether exiting spouts are parked.
    pub(crate) fn armed(&self) -> bool {
        // SYNC: Acquire pairs with the Release store in `arm`/`take_failed`.
        self.inner.armed.load(Ordering::Acquire)
    }

    /// Parks `spout`, which ran as task `index` of `tasks` of `component`;
    /// `failed` of its trees were failed for replay.
    pub(crate) fn park(
        &self,
        component: &str,
        index: usize,
        tasks: usize,
        spout: Box<dyn Spout>,
        failed: u64,
    ) {
        // SYNC: Relaxed: a counter read once the workers have joined.
        self.inner.failed.fetch_add(failed, Ordering::Relaxed);
        self.lock()
            .push(((component.to_owned(), index, tasks), spout));
    }

    /// The instance parked for task `index` of `tasks` of `component`.
    pub(crate) fn take(
        &self,
        component: &str,
        index: usize,
        tasks: usize,
    ) -> Option<Box<dyn Spout>> {
        let mut parked = self.lock();
        let at = parked
            .iter()
            .position(|((c, i, n), _)| c == component && *i == index && *n == tasks)?;
        Some(parked.swap_remove(at).1)
    }

    /// Spout instances parked and not taken yet.
    pub fn parked(&self) -> usize {
        self.lock().len()
    }

    /// Disarms the handoff and returns how many trees were failed for
    /// replay since the last call.
    pub fn take_failed(&self) -> u64 {
        // SYNC: Release pairs with the Acquire load in `armed`.
        self.inner.armed.store(false, Ordering::Release);
        // SYNC: Relaxed: the workers that added to it have joined.
        self.inner.failed.swap(0, Ordering::Relaxed)
    }

    /// Closes every parked instance whose place is not among `places`
    /// (the next run's spout tasks on this node: its task moved to another
    /// node or its component's task count changed); called when the next
    /// run starts, before its workers take theirs.
    pub(crate) fn close_except(&self, places: &[Place]) {
        let parked = std::mem::take(&mut *self.lock());
        let (keep, close): (Vec<_>, Vec<_>) =
            parked.into_iter().partition(|(p, _)| places.contains(p));
        *self.lock() = keep;
        // SYNC: Relaxed: a counter read after the run has started.
        self.inner
            .closed
            .fetch_add(close.len() as u64, Ordering::Relaxed);
        for ((component, index, _), mut spout) in close {
            let closed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| spout.close()));
            if closed.is_err() {
                tracing::warn!(component, index, "a parked spout panicked in close");
            }
        }
    }

    /// How many parked spouts were closed (their tasks start afresh)
    /// since the last call.
    pub fn take_closed(&self) -> u64 {
        // SYNC: Relaxed: see `close_except`.
        self.inner.closed.swap(0, Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(Place, Box<dyn Spout>)>> {
        self.inner.parked.lock().unwrap_or_else(|e| e.into_inner())
    }
}
