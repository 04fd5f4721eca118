//! [`Acker`]: the state of one acker task.

use super::done::{push_done, Done, DONE_RECORD};
use super::pending::BUCKETS;
use super::table::{read, TaskMap};
use super::trees::{Tree, Trees};
use crate::TaskId;

/// Pending trees of one acker task. Trees nobody completes are forgotten
/// after [`BUCKETS`] rotations (the spout side times them out and fails
/// them itself), as Storm's rotating buckets do, but in one map: each
/// entry carries the rotation it arrived in and a rotation drops the old
/// ones, so an update costs one lookup instead of one per bucket.
#[derive(Default)]
pub(crate) struct Acker {
    pending: Trees,
    generation: u64,
    /// Completions to send, per spout task (but the last one's).
    out: TaskMap<Vec<u8>>,
    /// The spout task completions went to last, and its buffer.
    last_out: Option<(TaskId, Vec<u8>)>,
}

impl Acker {
    /// Applies a batch of update records.
    pub(crate) fn apply(&mut self, bytes: &[u8]) {
        // Room for a completion per record (up to a cap) in each spout's
        // buffer, reserved once rather than grown by doubling.
        let room = (bytes.len() / super::table::RECORD).min(4096) * DONE_RECORD;
        let generation = self.generation;
        for r in read(bytes) {
            if r.root == 0 {
                // Never a root (the spouts skip it): nothing to track.
                continue;
            }
            let (slot, entry) = self.pending.entry(r.root, || Tree {
                generation,
                ..Tree::default()
            });
            entry.xor ^= r.xor;
            entry.failed |= r.fail;
            if let Some(spout) = r.init {
                entry.spout = Some(spout);
            }
            let Some(spout) = entry.spout else { continue };
            let done = if entry.failed || entry.xor == 0 {
                let done = if entry.failed {
                    Done::Failed
                } else {
                    Done::Acked
                };
                self.pending.remove_at(slot);
                done
            } else if r.reset {
                // Keep it as long as the spout does.
                entry.generation = generation;
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

    /// Completions gathered since the last call, per spout task.
    pub(crate) fn take_out(&mut self) -> impl Iterator<Item = (TaskId, Vec<u8>)> + '_ {
        if let Some((task, out)) = self.last_out.take() {
            self.out.insert(task, out);
        }
        self.out.drain().filter(|(_, b)| !b.is_empty())
    }

    /// Forgets the trees that arrived [`BUCKETS`] rotations ago (they
    /// timed out at their spouts).
    pub(crate) fn rotate(&mut self) {
        self.generation += 1;
        let now = self.generation;
        self.pending.retain(|e| now - e.generation < BUCKETS as u64);
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
        table.drain(&[1], usize::MAX, |_, bytes| acker.apply(&bytes));
    }

    fn done(acker: &mut Acker) -> Vec<(TaskId, u64, Done)> {
        let mut v: Vec<_> = acker
            .take_out()
            .flat_map(|(t, b)| {
                read_done(&b)
                    .map(|(r, d)| (t, r, d.unwrap()))
                    .collect::<Vec<_>>()
            })
            .collect();
        v.sort_by_key(|x| x.1);
        v
    }

    #[test]
    fn completes_when_xor_reaches_zero_in_any_order() {
        let mut a = Acker::default();
        let mut t = AckTable::default();
        // An ack from another worker arrives before the spout's init.
        t.xor(42, 0xabc);
        feed(&mut a, &mut t);
        assert!(done(&mut a).is_empty());
        t.xor(42, 0xabc ^ 0x111);
        t.init(42, 9);
        feed(&mut a, &mut t);
        assert!(done(&mut a).is_empty(), "0x111 still outstanding");
        t.xor(42, 0x111);
        feed(&mut a, &mut t);
        assert_eq!(done(&mut a), vec![(9, 42, Done::Acked)]);
        assert_eq!(a.pending(), 0);
    }

    #[test]
    fn fail_wins_and_rotation_forgets() {
        let mut a = Acker::default();
        let mut t = AckTable::default();
        t.xor(1, 5);
        t.init(1, 3);
        t.fail(1);
        t.xor(2, 6);
        t.init(2, 3);
        feed(&mut a, &mut t);
        assert_eq!(done(&mut a), vec![(3, 1, Done::Failed)]);
        assert_eq!(a.pending(), 1);
        // A reset keeps a tree as if it had just arrived.
        for _ in 0..BUCKETS - 1 {
            a.rotate();
        }
        assert_eq!(a.pending(), 1, "kept for BUCKETS - 1 rotations");
        t.reset(2);
        feed(&mut a, &mut t);
        assert_eq!(done(&mut a), vec![(3, 2, Done::Reset)]);
        for _ in 0..BUCKETS - 1 {
            a.rotate();
        }
        assert_eq!(a.pending(), 1, "the reset restarted its time");
        a.rotate();
        assert_eq!(a.pending(), 0, "forgotten after BUCKETS rotations");
        // Updates for a forgotten tree start a new entry (never completed).
        t.xor(2, 6);
        feed(&mut a, &mut t);
        assert!(done(&mut a).is_empty());
    }
}
