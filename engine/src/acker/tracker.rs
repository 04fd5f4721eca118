//! [`Acker`]: the state of one acker task.

use super::done::{push_done, Done, DONE_RECORD};
use super::pending::{RootIds, BUCKETS};
use super::table::{read, TaskMap};
use super::trees::Trees;
use crate::TaskId;

/// Pending trees of one acker task. Trees nobody completes are forgotten
/// after [`BUCKETS`] rotations (the spout side times them out and fails
/// them itself), as Storm's rotating buckets do, but in one map: each
/// entry carries the rotation it arrived in and a rotation drops the old
/// ones, so an update costs one lookup instead of one per bucket.
///
/// The first update of a root opens its tree with the root id as the XOR
/// (the spout's first edge, see the [module](super)) and the spout task
/// the root names; an update whose root names no spout task of the
/// topology (no spout made it) is dropped.
pub(crate) struct Acker {
    pending: Trees,
    /// Rotations so far, modulo 256 (the trees' stamps).
    generation: u8,
    /// By task id: whether the task is a spout.
    spouts: Vec<bool>,
    /// Completions to send, per spout task (but the last one's).
    out: TaskMap<Vec<u8>>,
    /// The spout task completions went to last, and its buffer.
    last_out: Option<(TaskId, Vec<u8>)>,
}

impl Acker {
    /// An acker of the trees of the spout tasks `spouts`.
    pub(crate) fn new(spouts: impl IntoIterator<Item = TaskId>) -> Self {
        let mut is_spout = Vec::new();
        for task in spouts {
            let i = task as usize;
            if is_spout.len() <= i {
                is_spout.resize(i + 1, false);
            }
            is_spout[i] = true;
        }
        Self {
            pending: Trees::default(),
            generation: 0,
            spouts: is_spout,
            out: TaskMap::default(),
            last_out: None,
        }
    }

    /// Applies a batch of update records.
    pub(crate) fn apply(&mut self, bytes: &[u8]) {
        // Room for a completion per record (up to a cap) in each spout's
        // buffer, reserved once rather than grown by doubling.
        let room = (bytes.len() / super::table::RECORD).min(4096) * DONE_RECORD;
        let stamp = self.generation;
        for r in read(bytes) {
            if r.root == 0 {
                // Never a root (the spouts skip it): nothing to track.
                continue;
            }
            let (spout, seq) = RootIds::split(r.root);
            let spouts = &self.spouts;
            let opened = self.pending.entry(r.root, seq, || {
                let is_spout = spouts.get(spout as usize).copied().unwrap_or(false);
                is_spout.then_some((r.root, stamp))
            });
            let Some((at, xor)) = opened else {
                continue;
            };
            *xor ^= r.xor;
            let done = if r.fail || *xor == 0 {
                // A failed tree completes at once: nothing of it is kept.
                self.pending.remove(at);
                if r.fail {
                    Done::Failed
                } else {
                    Done::Acked
                }
            } else if r.reset {
                // Keep it as long as the spout does.
                self.pending.stamp(at, stamp);
                Done::Reset
            } else {
                // Still in flight: nothing to tell the spout.
                continue;
            };
            // The spout's buffer is looked up only for a record that
            // completes or resets a tree, and the last one is kept.
            let out = match &mut self.last_out {
                Some((task, out)) if *task == spout => out,
                last => {
                    if let Some((task, out)) = last.take() {
                        self.out.insert(task, out);
                    }
                    let out = self
                        .out
                        .remove(&spout)
                        .unwrap_or_else(|| Vec::with_capacity(room));
                    &mut last.insert((spout, out)).1
                }
            };
            push_done(out, r.root, done);
        }
    }

    /// Passes the completions gathered since the last call to `send`,
    /// per spout task (never empty); the buffers are emptied after, their
    /// allocations kept for the next completions.
    pub(crate) fn send_out(&mut self, mut send: impl FnMut(TaskId, &mut Vec<u8>)) {
        let last = self.last_out.as_mut().map(|(task, out)| (&*task, out));
        for (&task, out) in last.into_iter().chain(&mut self.out) {
            if !out.is_empty() {
                send(task, out);
                out.clear();
            }
        }
    }

    /// Forgets the trees that arrived [`BUCKETS`] rotations ago (they
    /// timed out at their spouts).
    pub(crate) fn rotate(&mut self) {
        const _: () = assert!(BUCKETS < 256);
        self.generation = self.generation.wrapping_add(1);
        // Every tree's stamp is at most `BUCKETS - 1` rotations behind, so
        // the wrapping difference is its age.
        let now = self.generation;
        self.pending
            .retain(|stamp| usize::from(now.wrapping_sub(stamp)) < BUCKETS);
    }

    /// Trees being tracked.
    #[cfg(test)]
    pub(crate) fn pending(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::super::done::read_done;
    use super::super::table::AckTable;
    use super::*;

    fn feed(acker: &mut Acker, table: &mut AckTable) {
        table.drain(&[1], |_, bytes| acker.apply(bytes));
    }

    fn done(acker: &mut Acker) -> Vec<(TaskId, u64, Done)> {
        let mut v = Vec::new();
        acker.send_out(|t, b| v.extend(read_done(b).map(|(r, d)| (t, r, d.unwrap()))));
        v.sort_by_key(|x| x.1);
        v
    }

    /// Root `seq` of spout task `task`.
    fn root(task: TaskId, seq: u64) -> u64 {
        RootIds::new(task).root(seq)
    }

    #[test]
    fn a_tree_opens_at_its_root_and_completes_in_any_order() {
        let mut a = Acker::new([9]);
        let mut t = AckTable::default();
        let r = root(9, 1);
        // The spout's tuple went to one task with edge `r` (no update);
        // the bolt acked it and created 0x111, whose ack arrives first.
        t.xor(r, 0x111);
        feed(&mut a, &mut t);
        assert!(done(&mut a).is_empty());
        assert_eq!(a.pending(), 1);
        t.xor(r, r ^ 0x111);
        feed(&mut a, &mut t);
        assert_eq!(done(&mut a), vec![(9, r, Done::Acked)]);
        assert_eq!(a.pending(), 0);
    }

    #[test]
    fn a_tree_delivered_to_several_tasks_waits_for_every_edge() {
        let mut a = Acker::new([2, 5]);
        let mut t = AckTable::default();
        let r = root(5, 77);
        // Delivered twice: edge `r`, then 0xabc (the spout's one update).
        t.xor(r, 0xabc);
        feed(&mut a, &mut t);
        t.xor(r, r);
        feed(&mut a, &mut t);
        assert!(done(&mut a).is_empty(), "0xabc still outstanding");
        t.xor(r, 0xabc);
        feed(&mut a, &mut t);
        assert_eq!(done(&mut a), vec![(5, r, Done::Acked)]);
    }

    #[test]
    fn a_root_that_names_no_spout_task_is_dropped() {
        let mut a = Acker::new([3]);
        let mut t = AckTable::default();
        // Task 4 is no spout, task 1000 no task at all.
        for r in [root(4, 1), root(1000, 1)] {
            t.xor(r, r);
            t.fail(r);
        }
        feed(&mut a, &mut t);
        assert!(done(&mut a).is_empty());
        assert_eq!(a.pending(), 0);
    }

    #[test]
    fn a_tree_reset_every_rotation_outlives_the_stamps_wrapping() {
        let mut a = Acker::new([3]);
        let mut t = AckTable::default();
        let (kept, left) = (root(3, 1), root(3, 2));
        t.xor(kept, 5);
        feed(&mut a, &mut t);
        // 600 rotations (the stamps wrap twice): the reset tree stays,
        // each other tree is forgotten BUCKETS rotations after it arrived.
        for n in 0..600 {
            t.reset(kept);
            if n == 400 {
                t.xor(left, 6);
            }
            feed(&mut a, &mut t);
            assert_eq!(done(&mut a), vec![(3, kept, Done::Reset)]);
            let with_left = (400..400 + BUCKETS).contains(&n);
            assert_eq!(a.pending(), 1 + usize::from(with_left), "rotation {n}");
            a.rotate();
        }
        t.xor(kept, kept ^ 5);
        feed(&mut a, &mut t);
        assert_eq!(done(&mut a), vec![(3, kept, Done::Acked)]);
    }

    #[test]
    fn fail_wins_and_rotation_forgets() {
        let mut a = Acker::new([3]);
        let mut t = AckTable::default();
        let (r1, r2) = (root(3, 1), root(3, 2));
        t.xor(r1, 5);
        t.fail(r1);
        t.xor(r2, 6);
        feed(&mut a, &mut t);
        assert_eq!(done(&mut a), vec![(3, r1, Done::Failed)]);
        assert_eq!(a.pending(), 1);
        // A reset keeps a tree as if it had just arrived.
        for _ in 0..BUCKETS - 1 {
            a.rotate();
        }
        assert_eq!(a.pending(), 1, "kept for BUCKETS - 1 rotations");
        t.reset(r2);
        feed(&mut a, &mut t);
        assert_eq!(done(&mut a), vec![(3, r2, Done::Reset)]);
        for _ in 0..BUCKETS - 1 {
            a.rotate();
        }
        assert_eq!(a.pending(), 1, "the reset restarted its time");
        a.rotate();
        assert_eq!(a.pending(), 0, "forgotten after BUCKETS rotations");
        // Updates for a forgotten tree start a new entry (never completed).
        t.xor(r2, 6);
        feed(&mut a, &mut t);
        assert!(done(&mut a).is_empty());
    }
}
