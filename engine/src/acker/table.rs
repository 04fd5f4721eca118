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

/// Acker updates of one worker's tasks, in the order they were made, each
/// run of consecutive updates of one root folded into one record (a bolt
/// that emits anchored tuples and then acks their input makes one record
/// per root). Appending
/// to a log costs a compare and a store where a hash map cost a lookup;
/// the acker folds whatever is left, as it folds the records of different
/// workers.
///
/// The log holds its records as they go to the acker ([`read`]: root,
/// XOR, flags, each a little-endian word), so with one acker task it is
/// sent as it is, and with several each record is copied once, into its
/// acker's buffer (kept from one drain to the next).
#[derive(Default)]
pub(crate) struct AckTable {
    log: Vec<u8>,
    /// With several acker tasks: each one's share of a drain.
    split: Vec<Vec<u8>>,
}

/// Bytes of one update record: root, xor, meta.
pub(crate) const RECORD: usize = 24;

/// The little-endian word at `at` of `bytes` (within it).
#[inline]
fn word(bytes: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(w)
}

impl AckTable {
    /// XORs `xor` and ORs `meta` into the record of `root`: the newest if
    /// it is `root`'s, else a new one.
    #[inline]
    fn update(&mut self, root: u64, xor: u64, meta: u64) {
        if let Some(at) = self.log.len().checked_sub(RECORD) {
            let last = &mut self.log[at..];
            if word(last, 0) == root {
                let xor = word(last, 8) ^ xor;
                let meta = word(last, 16) | meta;
                last[8..16].copy_from_slice(&xor.to_le_bytes());
                last[16..].copy_from_slice(&meta.to_le_bytes());
                return;
            }
        }
        let mut record = [0u8; RECORD];
        record[..8].copy_from_slice(&root.to_le_bytes());
        record[8..16].copy_from_slice(&xor.to_le_bytes());
        record[16..].copy_from_slice(&meta.to_le_bytes());
        self.log.extend_from_slice(&record);
    }

    /// XORs `value` into `root`'s tree (an edge created or acked).
    #[inline]
    pub(crate) fn xor(&mut self, root: u64, value: u64) {
        self.update(root, value, 0);
    }

    /// Fails `root`'s tree.
    pub(crate) fn fail(&mut self, root: u64) {
        self.update(root, 0, FAIL);
    }

    /// Restarts `root`'s timeout.
    pub(crate) fn reset(&mut self, root: u64) {
        self.update(root, 0, RESET);
    }

    /// Records waiting.
    pub(crate) fn len(&self) -> usize {
        self.log.len() / RECORD
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.log.is_empty()
    }

    /// Empties the table: each acker task's records (whole, in the order
    /// they were logged) are passed to `send` with the acker's task id, at
    /// most once per acker and never empty. `send` may take the buffer's
    /// bytes (it is emptied after, its capacity kept if it is left).
    pub(crate) fn drain(&mut self, ackers: &[TaskId], mut send: impl FnMut(TaskId, &mut Vec<u8>)) {
        match ackers {
            [] => {}
            [acker] => {
                if !self.log.is_empty() {
                    send(*acker, &mut self.log);
                }
            }
            _ => {
                self.split.resize_with(ackers.len(), Vec::new);
                let share = self.log.len() / ackers.len();
                for buf in &mut self.split {
                    buf.clear();
                    // Room for an even share plus a quarter up front,
                    // rather than grown by doubling.
                    buf.reserve(share + share / 4 + RECORD);
                }
                for record in self.log.chunks_exact(RECORD) {
                    let i = acker_index(word(record, 0), ackers.len());
                    self.split[i].extend_from_slice(record);
                }
                for (&acker, buf) in ackers.iter().zip(&mut self.split) {
                    if !buf.is_empty() {
                        send(acker, buf);
                        buf.clear();
                    }
                }
            }
        }
        self.log.clear();
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
        let meta = word(c, 16);
        Record {
            root: word(c, 0),
            xor: word(c, 8),
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
        t.drain(&[100, 101], |a, bytes| {
            sent.push((a, std::mem::take(bytes)))
        });
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
    fn a_drain_sends_each_acker_its_records_once_in_order_and_empties_the_table() {
        let mut t = AckTable::default();
        for root in 1..=10u64 {
            t.xor(root, root * 3);
        }
        t.fail(4);
        // One acker: the log as it is, in one message.
        let mut sent = Vec::new();
        t.drain(&[100], |a, bytes| sent.push((a, bytes.clone())));
        assert!(t.is_empty());
        assert_eq!(sent.len(), 1);
        let got: Vec<(u64, u64, bool)> =
            read(&sent[0].1).map(|r| (r.root, r.xor, r.fail)).collect();
        // (The fail of 4 follows another root: a record of its own.)
        let mut want: Vec<(u64, u64, bool)> = (1..=10).map(|r| (r, r * 3, false)).collect();
        want.push((4, 0, true));
        assert_eq!(got, want);
        // Several: each at most once, each share in order, none empty;
        // the buffers are reused by the next drain.
        for round in 0..2u64 {
            for root in 1..=64u64 {
                t.xor(root.wrapping_mul(0x9e37_79b9_7f4a_7c15), root + round);
            }
            let mut sent: Vec<(TaskId, Vec<u8>)> = Vec::new();
            t.drain(&[100, 101, 102], |a, bytes| {
                sent.push((a, std::mem::take(bytes)))
            });
            assert!(t.is_empty());
            let mut ackers: Vec<TaskId> = sent.iter().map(|(a, _)| *a).collect();
            ackers.dedup();
            assert_eq!(ackers.len(), sent.len(), "one message per acker");
            assert!(sent
                .iter()
                .all(|(_, b)| !b.is_empty() && b.len() % RECORD == 0));
            for (_, b) in &sent {
                let logged: Vec<u64> = read(b)
                    .map(|r| {
                        (1..=64u64)
                            .position(|k| k.wrapping_mul(0x9e37_79b9_7f4a_7c15) == r.root)
                            .unwrap() as u64
                    })
                    .collect();
                assert!(
                    logged.windows(2).all(|w| w[0] < w[1]),
                    "in the order logged"
                );
            }
            let mut all: Vec<(u64, u64)> = sent
                .iter()
                .flat_map(|(a, b)| {
                    let i = [100, 101, 102].iter().position(|x| x == a).unwrap();
                    read(b)
                        .inspect(move |r| assert_eq!(acker_index(r.root, 3), i))
                        .map(|r| (r.root, r.xor))
                        .collect::<Vec<_>>()
                })
                .collect();
            all.sort_unstable();
            let mut want: Vec<(u64, u64)> = (1..=64u64)
                .map(|r| (r.wrapping_mul(0x9e37_79b9_7f4a_7c15), r + round))
                .collect();
            want.sort_unstable();
            assert_eq!(all, want);
        }
        // No ackers: the updates are dropped.
        t.xor(1, 1);
        t.drain(&[], |_, _| panic!("no acker to send to"));
        assert!(t.is_empty());
    }
}
