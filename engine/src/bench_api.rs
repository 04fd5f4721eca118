//! Not part of Gale's API: the acker's data structures, opened up for
//! `benches/acker.rs` (updates per second through a worker's acker log
//! and an acker task, batched against unbatched). Nothing here is stable.

use crate::acker::{self, DONE_RECORD};
use crate::TaskId;

/// A worker's acker updates, logged (consecutive updates of a root
/// folded into one record) until drained: the engine's per-worker log.
#[derive(Default)]
pub struct AckTable(acker::AckTable);

impl AckTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// XORs `value` into `root`'s tree.
    pub fn xor(&mut self, root: u64, value: u64) {
        self.0.xor(root, value);
    }

    /// Roots with pending updates.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no update is pending.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Empties the table into one message per acker task.
    pub fn drain(&mut self, ackers: &[TaskId], mut send: impl FnMut(TaskId, &[u8])) {
        self.0.drain(ackers, |acker, bytes| send(acker, bytes));
    }
}

/// Root id `seq` of spout task `spout_task`, as the engine makes them (an
/// acker opens the tree with it as its XOR: the tree's first edge).
pub fn root_id(spout_task: TaskId, seq: u64) -> u64 {
    acker::RootIds::new(spout_task).root(seq)
}

/// One acker task's state: the XOR per root, completions per spout task.
pub struct Acker(acker::Acker);

impl Acker {
    /// An acker with nothing pending, of the trees of `spout_tasks`.
    pub fn new(spout_tasks: &[TaskId]) -> Self {
        Self(acker::Acker::new(spout_tasks.iter().copied()))
    }

    /// Applies one message of update records (as [`AckTable::drain`]
    /// makes them).
    pub fn apply(&mut self, bytes: &[u8]) {
        self.0.apply(bytes);
    }

    /// Takes the completions decided since the last call and returns how
    /// many there were (acked, failed or reset trees).
    pub fn take_completions(&mut self) -> usize {
        let mut n = 0;
        self.0.send_out(|_, b| n += b.len() / DONE_RECORD);
        n
    }
}
