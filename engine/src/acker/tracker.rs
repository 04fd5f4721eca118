//! [`Acker`]: the state of one acker task.

use std::collections::{HashMap, VecDeque};

use super::table::{read, IdMap};
use super::{push_done, Done, BUCKETS};
use crate::TaskId;

#[derive(Clone, Copy, Default)]
struct Entry {
    xor: u64,
    /// The spout task, once the init record arrived (it may come after
    /// updates from other workers).
    spout: Option<TaskId>,
    failed: bool,
}

/// Pending trees of one acker task, in rotating buckets (newest first) so
/// that trees nobody completes are forgotten without scanning: the spout
/// side times them out and fails them itself.
pub(crate) struct Acker {
    buckets: VecDeque<IdMap<Entry>>,
    /// Completions to send, per spout task.
    out: HashMap<TaskId, Vec<u8>>,
}

impl Default for Acker {
    fn default() -> Self {
        Self {
            buckets: (0..BUCKETS).map(|_| IdMap::default()).collect(),
            out: HashMap::new(),
        }
    }
}

impl Acker {
    /// Applies a batch of update records.
    pub(crate) fn apply(&mut self, bytes: &[u8]) {
        for r in read(bytes) {
            let found = self.buckets.iter().position(|b| b.contains_key(&r.root));
            let bucket = found.unwrap_or(0);
            let entry = self.buckets[bucket].entry(r.root).or_default();
            entry.xor ^= r.xor;
            entry.failed |= r.fail;
            if let Some(spout) = r.init {
                entry.spout = Some(spout);
            }
            let entry = *entry;
            let Some(spout) = entry.spout else { continue };
            let out = self.out.entry(spout).or_default();
            if entry.failed || entry.xor == 0 {
                self.buckets[bucket].remove(&r.root);
                let done = if entry.failed {
                    Done::Failed
                } else {
                    Done::Acked
                };
                push_done(out, r.root, done);
            } else if r.reset {
                // Keep it here as long as the spout does.
                if bucket != 0 {
                    self.buckets[bucket].remove(&r.root);
                    self.buckets[0].insert(r.root, entry);
                }
                push_done(out, r.root, Done::Reset);
            }
        }
    }

    /// Completions gathered since the last call, per spout task.
    pub(crate) fn take_out(&mut self) -> impl Iterator<Item = (TaskId, Vec<u8>)> + '_ {
        self.out.drain().filter(|(_, b)| !b.is_empty())
    }

    /// Drops the oldest bucket (its trees timed out at their spouts).
    pub(crate) fn rotate(&mut self) {
        self.buckets.pop_back();
        self.buckets.push_front(IdMap::default());
    }

    /// Trees being tracked.
    #[cfg(test)]
    pub(crate) fn pending(&self) -> usize {
        self.buckets.iter().map(|b| b.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{read_done, AckTable};
    use super::*;

    fn feed(acker: &mut Acker, table: &mut AckTable) {
        table.drain(&[1], |_, bytes| acker.apply(&bytes));
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
        t.reset(2);
        feed(&mut a, &mut t);
        assert_eq!(done(&mut a), vec![(3, 2, Done::Reset)]);
        for _ in 0..BUCKETS {
            a.rotate();
        }
        assert_eq!(a.pending(), 0);
    }
}
