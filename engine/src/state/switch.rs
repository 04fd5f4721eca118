//! A checkpoint taken at a rebalance's switch (Flink's stop with
//! savepoint): every spout of the process emits barriers up to a target
//! id chosen for the whole cluster, then stops emitting (its spout is
//! deactivated) until the switch or an abort.
//!
//! Once every spout of every node has paused, no barrier is emitted any
//! more, so the greatest checkpoint that can still complete is the
//! smallest last barrier of the spouts still running (a finished spout
//! no longer holds checkpoints back); the rebalance waits until that one
//! is complete, and every node then restores it: the same cut, whenever
//! each node gets to read the backend.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Where this process's spouts stand in a switch (see the module docs),
/// for the node that runs the rebalance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SwitchStatus {
    /// Every spout task of this process has paused (or finished).
    pub paused: bool,
    /// The greatest barrier id emitted by a spout of this process.
    pub last_max: u64,
    /// The smallest last barrier id of the spouts still running (not
    /// finished); `None` if every one has finished.
    pub live_min: Option<u64>,
}

/// One spout task's part.
#[derive(Debug, Clone, Copy, Default)]
struct SpoutMark {
    /// Its last barrier.
    last: u64,
    paused: bool,
    finished: bool,
}

/// The switch state of a process: the target asked for (0: none) and
/// each spout task's part.
#[derive(Debug, Default)]
pub(crate) struct Switch {
    target: AtomicU64,
    spouts: Mutex<BTreeMap<String, SpoutMark>>,
}

impl Switch {
    /// The target barrier id, if a switch is asked for (read by every
    /// spout call: one load).
    #[inline]
    pub(crate) fn target(&self) -> Option<u64> {
        // SYNC: Acquire pairs with the Release store in `ask`/`clear`
        // (the control thread's request).
        match self.target.load(Ordering::Acquire) {
            0 => None,
            t => Some(t),
        }
    }

    /// Asks every spout to emit barriers up to `target`, then pause;
    /// `None` resumes them (an aborted rebalance).
    pub(crate) fn ask(&self, target: Option<u64>) {
        // SYNC: Release pairs with the Acquire load in `target`.
        self.target.store(target.unwrap_or(0), Ordering::Release);
    }

    fn spouts(&self) -> MutexGuard<'_, BTreeMap<String, SpoutMark>> {
        self.spouts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Spout task `key` starts in this run, its last barrier `last`.
    pub(crate) fn open(&self, key: &str, last: u64) {
        self.spouts().insert(
            key.to_owned(),
            SpoutMark {
                last,
                ..SpoutMark::default()
            },
        );
    }

    /// Spout task `key` emitted barrier `n`.
    pub(crate) fn barrier(&self, key: &str, n: u64) {
        if let Some(m) = self.spouts().get_mut(key) {
            m.last = m.last.max(n);
        }
    }

    /// Spout task `key` paused (`true`) or resumed.
    pub(crate) fn paused(&self, key: &str, paused: bool) {
        if let Some(m) = self.spouts().get_mut(key) {
            m.paused = paused;
        }
    }

    /// Spout task `key` finished: it emits no barrier any more.
    pub(crate) fn finished(&self, key: &str) {
        if let Some(m) = self.spouts().get_mut(key) {
            m.finished = true;
        }
    }

    /// A new run starts: no switch asked, no spout yet.
    pub(crate) fn reset(&self) {
        self.ask(None);
        self.spouts().clear();
    }

    pub(crate) fn status(&self) -> SwitchStatus {
        let spouts = self.spouts();
        SwitchStatus {
            paused: spouts.values().all(|m| m.paused || m.finished),
            last_max: spouts.values().map(|m| m.last).max().unwrap_or(0),
            live_min: spouts
                .values()
                .filter(|m| !m.finished)
                .map(|m| m.last)
                .min(),
        }
    }
}
