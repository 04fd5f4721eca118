//! [`Chain`]: which emits to bolts of the emitting thread run *chained*.
//!
//! A tuple for a bolt task on the thread that emits it need not wait in the
//! worker's local queue for a later part of the loop: it is archived into
//! a small scratch buffer of the current chain depth (hot in the cache) and
//! the bolt executes it as soon as the emitting call (`next_tuple`, a
//! bolt's run of `execute`, `poll`) returns, as Flink chains operators
//! (and, as Flink does by default, on a copy: the bolt reads the archived
//! tuple in place, through the same [`Input`](crate::Input) API and with
//! the same acking as a tuple from a ring). What one call emits to one
//! bolt reaches it as one run (`Bolt::execute_batch`), so the cost of a run
//! is paid once per call, not per emit; a call that emits more than
//! [`CHAIN_BYTES`] has them run at that point, so the scratch buffer stays
//! small.
//!
//! A tuple still goes through the local queue when chaining it could
//! change what a bolt observes:
//! - the bolt is running (a cycle: it emitted, directly or through others,
//!   to itself), so it cannot be entered again;
//! - records for the bolt wait in the local queue (they were emitted first
//!   and must be executed first: tuples from one task to another arrive in
//!   the order they were emitted);
//! - the chain is [`MAX_DEPTH`] calls deep (each level keeps a frame on the
//!   thread's stack);
//! - chaining is off ([`RunConfig::chain`](crate::RunConfig::chain)).
//!
//! Chained tuples are executed before the worker's loop moves on (every
//! call that may emit is followed by a run of what it chained), so they
//! are neither *sent* nor *processed* for termination detection.

use super::queue::ByteQueue;
use crate::TaskId;

/// Chained calls in progress at most (deeper emits use the local queue).
pub(crate) const MAX_DEPTH: usize = 8;
/// Bytes of chained tuples one call may emit before they run (within the
/// call).
pub(crate) const CHAIN_BYTES: usize = 16 << 10;

/// What the chain knows of one task (by task id).
#[derive(Clone, Copy, Default)]
struct ChainTask {
    /// The task is a bolt of this thread.
    bolt: bool,
    /// Its `execute` is running (entered from the loop or a chain).
    running: bool,
    /// Its records waiting in the local queue.
    queued: u32,
}

/// The chained destinations of one worker thread and the scratch buffers
/// their tuples are archived into.
pub(crate) struct Chain {
    /// By task id.
    tasks: Vec<ChainTask>,
    /// `scratch[d]`: tuples emitted at depth `d` for chained bolts, as
    /// records (task, length, archived tuple), run when the emitting call
    /// returns.
    scratch: Vec<ByteQueue>,
    /// Chained calls in progress.
    depth: usize,
    /// [`MAX_DEPTH`], or 0 with chaining off.
    max_depth: usize,
}

impl Chain {
    /// The chain of a thread running the bolt tasks `bolts`, among tasks
    /// numbered up to `max_task`; `enabled: false` never chains.
    pub(crate) fn new(
        bolts: impl IntoIterator<Item = TaskId>,
        max_task: usize,
        enabled: bool,
    ) -> Self {
        let mut tasks = vec![ChainTask::default(); max_task + 1];
        for task in bolts {
            if let Some(t) = tasks.get_mut(task as usize) {
                t.bolt = true;
            }
        }
        Self {
            tasks,
            scratch: Vec::new(),
            depth: 0,
            max_depth: if enabled { MAX_DEPTH } else { 0 },
        }
    }

    /// Whether a tuple for task `dest` of this thread goes chained, into
    /// [`scratch`](Self::scratch); if not, it goes into the local queue
    /// (say so with [`queued`](Self::queued)).
    #[inline]
    pub(crate) fn accepts(&mut self, dest: TaskId) -> bool {
        let depth = self.depth;
        let takes = self
            .tasks
            .get(dest as usize)
            .is_some_and(|t| t.bolt && !t.running && t.queued == 0)
            && depth < self.max_depth;
        if takes && self.scratch.len() <= depth {
            self.scratch.resize_with(depth + 1, ByteQueue::default);
        }
        takes
    }

    /// The scratch buffer of this depth (made by [`accepts`](Self::accepts)).
    #[inline]
    pub(crate) fn scratch(&mut self) -> &mut ByteQueue {
        &mut self.scratch[self.depth]
    }

    /// `n` more records for `dest` wait in the local queue.
    #[inline]
    pub(crate) fn queued(&mut self, dest: TaskId, n: u64) {
        if let Some(t) = self.tasks.get_mut(dest as usize) {
            t.queued = t
                .queued
                .saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
        }
    }

    /// `n` records for `dest` left the local queue (were executed).
    #[inline]
    pub(crate) fn dequeued(&mut self, dest: TaskId, n: u32) {
        if let Some(t) = self.tasks.get_mut(dest as usize) {
            t.queued = t.queued.saturating_sub(n);
        }
    }

    /// Marks `dest` as running (or not): a running task is not chained to.
    #[inline]
    pub(crate) fn set_running(&mut self, dest: TaskId, running: bool) {
        if let Some(t) = self.tasks.get_mut(dest as usize) {
            t.running = running;
        }
    }

    /// Whether tuples wait in this depth's scratch buffer.
    #[inline]
    pub(crate) fn has_work(&self) -> bool {
        self.scratch.get(self.depth).is_some_and(|s| !s.is_empty())
    }

    /// Whether this depth's scratch buffer holds [`CHAIN_BYTES`] or more:
    /// its tuples run now, within the emitting call.
    #[inline]
    pub(crate) fn over_limit(&self) -> bool {
        self.scratch
            .get(self.depth)
            .is_some_and(|s| s.bytes() >= CHAIN_BYTES)
    }

    /// Takes this depth's scratch buffer to run its tuples, one level
    /// deeper; give it back with [`leave`](Self::leave).
    pub(crate) fn enter(&mut self) -> ByteQueue {
        let scratch = std::mem::take(&mut self.scratch[self.depth]);
        self.depth += 1;
        scratch
    }

    /// Ends the run [`enter`](Self::enter) started: `scratch` (its tuples
    /// executed) is this depth's scratch buffer again, empty.
    pub(crate) fn leave(&mut self, mut scratch: ByteQueue) {
        self.depth -= 1;
        scratch.clear();
        self.scratch[self.depth] = scratch;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pushes a record for `dest` (on stream 7) as the outbox does;
    /// whether it went chained.
    fn chained(chain: &mut Chain, dest: TaskId) -> bool {
        if chain.accepts(dest) {
            chain.scratch().push_bytes(dest, &[1, 2, 3]);
            return true;
        }
        chain.queued(dest, 1);
        false
    }

    #[test]
    fn chains_only_idle_bolts_of_this_thread_with_nothing_queued() {
        let mut chain = Chain::new([2, 3], 4, true);
        assert!(chained(&mut chain, 2));
        // Task 1 is not a bolt of this thread; 9 is no task at all.
        assert!(!chained(&mut chain, 1));
        assert!(!chained(&mut chain, 9));
        chain.set_running(3, true);
        assert!(!chained(&mut chain, 3), "a running bolt is not re-entered");
        chain.set_running(3, false);
        // Its queued record must run first: later ones queue behind it.
        assert!(!chained(&mut chain, 3));
        chain.dequeued(3, 1);
        assert!(!chained(&mut chain, 3), "one of the two still queued");
        chain.dequeued(3, 2);
        assert!(chained(&mut chain, 3));
        assert!(!chained(&mut Chain::new([2], 2, false), 2), "chaining off");
    }

    #[test]
    fn each_depth_has_its_own_scratch_and_the_depth_is_bounded() {
        let mut chain = Chain::new([1], 1, true);
        let mut taken = Vec::new();
        for _ in 0..MAX_DEPTH {
            assert!(chained(&mut chain, 1));
            assert!(chain.has_work());
            taken.push(chain.enter());
            assert!(!chain.has_work(), "a new depth starts empty");
        }
        assert!(!chained(&mut chain, 1), "too deep: queued");
        while let Some(scratch) = taken.pop() {
            assert!(!scratch.is_empty());
            chain.leave(scratch);
            assert!(!chain.has_work(), "left scratch buffers are cleared");
        }
    }
}
