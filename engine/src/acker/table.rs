//! [`AckTable`]: a worker's acker updates, folded per root until flushed.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::TaskId;

/// Root ids are uniformly random: they are their own hash.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A map keyed by random 64-bit ids.
pub(crate) type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

/// Task ids are small and dense: a multiplication spreads them over the
/// hash's high bits (which hashbrown's control bytes use). Not SipHash: the
/// acker looks up a spout task per update record.
#[derive(Default)]
pub(crate) struct TaskHasher(u64);

impl Hasher for TaskHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b) ^ self.0.rotate_left(8));
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        // Fibonacci hashing: 2^64 / the golden ratio.
        self.0 = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// A map keyed by task id.
pub(crate) type TaskMap<V> = HashMap<TaskId, V, BuildHasherDefault<TaskHasher>>;

const FAIL: u64 = 1;
const RESET: u64 = 2;

#[derive(Clone, Copy, Default)]
struct Update {
    xor: u64,
    /// Flag bits (`FAIL`, `RESET`).
    meta: u64,
}

/// Acker updates of one worker's tasks, in the order they were made, each
/// run of consecutive updates of one root folded into one record (a bolt
/// that emits anchored tuples and then acks their input makes one record
/// per root). Appending
/// to a log costs a compare and a store where a hash map cost a lookup;
/// the acker folds whatever is left, as it folds the records of different
/// workers.
#[derive(Default)]
pub(crate) struct AckTable {
    log: Vec<(u64, Update)>,
}

/// Bytes of one update record: root, xor, meta.
pub(crate) const RECORD: usize = 24;

impl AckTable {
    /// Applies `change` to the record of `root`: the newest if it is
    /// `root`'s, else a new one.
    #[inline]
    fn update(&mut self, root: u64, change: impl FnOnce(&mut Update)) {
        if !matches!(self.log.last(), Some((r, _)) if *r == root) {
            self.log.push((root, Update::default()));
        }
        if let Some((_, u)) = self.log.last_mut() {
            change(u);
        }
    }

    /// XORs `value` into `root`'s tree (an edge created or acked).
    #[inline]
    pub(crate) fn xor(&mut self, root: u64, value: u64) {
        self.update(root, |u| u.xor ^= value);
    }

    /// Fails `root`'s tree.
    pub(crate) fn fail(&mut self, root: u64) {
        self.update(root, |u| u.meta |= FAIL);
    }

    /// Restarts `root`'s timeout.
    pub(crate) fn reset(&mut self, root: u64) {
        self.update(root, |u| u.meta |= RESET);
    }

    /// Records waiting.
    pub(crate) fn len(&self) -> usize {
        self.log.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.log.is_empty()
    }

    /// Empties the table into packed messages per acker task of at most
    /// `max_bytes` each (whole records, at least one), passed to `send`
    /// with the acker's task id.
    pub(crate) fn drain(
        &mut self,
        ackers: &[TaskId],
        max_bytes: usize,
        mut send: impl FnMut(TaskId, Vec<u8>),
    ) {
        if ackers.is_empty() {
            self.log.clear();
            return;
        }
        let per_message = (max_bytes / RECORD).max(1) * RECORD;
        // Each acker's share of the records, room reserved up front (an
        // even split, plus a quarter for unevenness, up to a message)
        // rather than grown by doubling from nothing at every flush.
        let share = self.log.len() / ackers.len();
        let room = ((share + share / 4 + 1) * RECORD).min(per_message);
        let mut out: Vec<Vec<u8>> = ackers.iter().map(|_| Vec::with_capacity(room)).collect();
        for (root, u) in self.log.drain(..) {
            let i = acker_index(root, ackers.len());
            let buf = &mut out[i];
            // One append (one capacity check) per record.
            let mut record = [0u8; RECORD];
            record[..8].copy_from_slice(&root.to_le_bytes());
            record[8..16].copy_from_slice(&u.xor.to_le_bytes());
            record[16..].copy_from_slice(&u.meta.to_le_bytes());
            buf.extend_from_slice(&record);
            if buf.len() == per_message {
                send(ackers[i], std::mem::replace(buf, Vec::with_capacity(room)));
            }
        }
        for (i, buf) in out.into_iter().enumerate() {
            if !buf.is_empty() {
                send(ackers[i], buf);
            }
        }
    }
}

/// The index of the acker task responsible for `root`, of `n` (> 0):
/// the high word of `root * n` (roots are uniformly spread; a multiply
/// where `root % n` would be a division per record).
#[inline]
fn acker_index(root: u64, n: usize) -> usize {
    ((u128::from(root) * n as u128) >> 64) as usize
}

/// One decoded update record.
pub(crate) struct Record {
    pub(crate) root: u64,
    pub(crate) xor: u64,
    pub(crate) fail: bool,
    pub(crate) reset: bool,
}

/// Reads update records (from our own workers).
pub(crate) fn read(bytes: &[u8]) -> impl Iterator<Item = Record> + '_ {
    bytes.chunks_exact(RECORD).map(|c| {
        let word =
            |i: usize| u64::from_le_bytes(c[i * 8..i * 8 + 8].try_into().unwrap_or_default());
        let meta = word(2);
        Record {
            root: word(0),
            xor: word(1),
            fail: meta & FAIL != 0,
            reset: meta & RESET != 0,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drains `t` towards acker tasks 100 and 101; every record with the
    /// acker it went to.
    fn drained(t: &mut AckTable) -> Vec<(TaskId, Record)> {
        let mut sent = Vec::new();
        t.drain(&[100, 101], usize::MAX, |a, bytes| sent.push((a, bytes)));
        sent.iter()
            .flat_map(|(a, b)| read(b).map(move |r| (*a, r)))
            .collect()
    }

    #[test]
    fn folds_per_root_and_splits_per_acker() {
        // The acker is chosen by a root's high bits.
        const HIGH: u64 = 1 << 63 | 11;
        let mut t = AckTable::default();
        t.xor(10, 0b1100);
        t.xor(10, 0b0100);
        t.xor(HIGH, 5);
        t.fail(HIGH);
        t.reset(12);
        assert_eq!(t.len(), 3);
        let mut recs = drained(&mut t);
        assert!(t.is_empty());
        recs.sort_by_key(|(_, r)| r.root);
        let (a, r) = &recs[0];
        assert_eq!((*a, r.root, r.xor, r.fail), (100, 10, 0b1000, false));
        let (a, r) = &recs[1];
        assert_eq!((*a, r.root, r.reset), (100, 12, true));
        let (a, r) = &recs[2];
        assert_eq!((*a, r.root, r.xor, r.fail), (101, HIGH, 5, true));
    }

    #[test]
    fn updates_of_a_root_between_others_are_records_of_their_own_in_order() {
        let mut t = AckTable::default();
        t.xor(10, 1);
        t.xor(12, 2);
        t.xor(10, 4);
        t.fail(10);
        assert_eq!(t.len(), 3);
        let tens: Vec<(u64, bool)> = drained(&mut t)
            .into_iter()
            .map(|(_, r)| r)
            .filter(|r| r.root == 10)
            .map(|r| (r.xor, r.fail))
            .collect();
        assert_eq!(tens, [(1, false), (4, true)]);
    }

    #[test]
    fn a_drain_sends_messages_of_at_most_max_bytes_of_whole_records_in_order() {
        let mut t = AckTable::default();
        for root in 1..=10u64 {
            t.xor(root, root * 3);
        }
        let mut sent = Vec::new();
        // Two and a half records per message: two are sent each time.
        t.drain(&[100], RECORD * 5 / 2, |a, bytes| sent.push((a, bytes)));
        let sizes: Vec<usize> = sent.iter().map(|(_, b)| b.len() / RECORD).collect();
        assert_eq!(sizes, [2, 2, 2, 2, 2]);
        let roots: Vec<(u64, u64)> = sent
            .iter()
            .flat_map(|(_, b)| read(b).map(|r| (r.root, r.xor)))
            .collect();
        assert_eq!(roots, (1..=10).map(|r| (r, r * 3)).collect::<Vec<_>>());
        // Less than a record: still one per message.
        t.xor(1, 1);
        t.xor(2, 1);
        sent.clear();
        t.drain(&[100], 1, |a, bytes| sent.push((a, bytes)));
        assert_eq!(
            sent.iter().map(|(_, b)| b.len()).collect::<Vec<_>>(),
            [RECORD, RECORD]
        );
    }
}
