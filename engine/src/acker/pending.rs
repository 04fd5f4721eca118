//! [`SpoutPending`]: one spout task's trees in flight, its timeouts and
//! its complete latency.
//!
//! A spout task numbers its trees: the root id of a tree is an invertible
//! mix of the task id and the tree's sequence number ([`RootIds`]), so it
//! looks as random as any 64-bit id to the ackers (which pick an acker by
//! by the root's high bits and hash roots as they are), and the spout turns a
//! completed root back into its sequence number with a few multiplies.
//! Trees then live in a window indexed by sequence number, in emit order:
//! starting a tree is a push at the back, a completion a store into its
//! slot, and timeouts pop from the front, the oldest first. No hashing on
//! the common path.
//!
//! The window's front is always a tree still pending. A tree that stays
//! pending while [`WINDOW`] younger ones start (a straggler, or a lost
//! tuple waiting for its timeout) moves to a hash map, the spill, so the
//! window's memory stays bounded whatever the message timeout; so does a
//! tree whose timeout was reset (its deadline no longer follows emit
//! order). The spill is swept for timeouts every quarter of the timeout.

use std::time::Duration;

use super::table::IdMap;
use crate::runtime::LatencyCounts;
use crate::TaskId;

/// Generations of the ackers' rotating buckets (see the tracker): an
/// acker forgets a tree between `timeout` and
/// `timeout * BUCKETS / (BUCKETS - 1)` after it arrived.
pub(crate) const BUCKETS: usize = 3;

/// Trees the window holds before its oldest pending ones spill.
const WINDOW: usize = 1 << 15;

/// Bits of a sequence number in a root id (the rest hold the task id).
const SEQ_BITS: u32 = 40;
const SEQ_MASK: u64 = (1 << SEQ_BITS) - 1;

/// Emit time of a slot whose tree is no longer pending.
const VACANT: u64 = u64::MAX;

/// Root ids of one spout task: `mix(task << 40 | seq)`, where `mix` is a
/// bijection of 64-bit words (murmur3's finalizer), so distinct
/// (task, sequence number) pairs give distinct roots, roots spread evenly
/// over acker tasks and hash buckets, and a root can be inverted: by the
/// spout, to its sequence number, and by an acker, to the spout task it
/// reports the tree to ([`spout_of`](Self::spout_of)).
/// Sequence numbers start at a random offset, so a task restarted in a
/// new process does not reuse the roots its predecessor may have left in
/// an acker.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RootIds {
    /// The task id in the high 24 bits.
    task: u64,
}

impl RootIds {
    const M1: u64 = 0xff51_afd7_ed55_8ccd;
    const M2: u64 = 0xc4ce_b9fe_1a85_ec53;
    const M1_INV: u64 = inverse(Self::M1);
    const M2_INV: u64 = inverse(Self::M2);

    /// The roots of spout task `task` (below
    /// [`MAX_TASKS`](crate::MAX_TASKS), which topologies are checked for).
    pub(crate) fn new(task: TaskId) -> Self {
        debug_assert!(task as usize <= crate::MAX_TASKS);
        Self {
            task: (u64::from(task) << SEQ_BITS) & !SEQ_MASK,
        }
    }

    /// The root id of sequence number `seq` (never 0: task ids start at 1
    /// and stay below 2^24, so the mixed word is never 0, and the mix maps
    /// only 0 to 0; `new_root` still skips a 0 rather than rely on it).
    #[inline]
    pub(crate) fn root(self, seq: u64) -> u64 {
        let mut k = self.task | (seq & SEQ_MASK);
        k ^= k >> 33;
        k = k.wrapping_mul(Self::M1);
        k ^= k >> 33;
        k = k.wrapping_mul(Self::M2);
        k ^ (k >> 33)
    }

    /// The sequence number (its low 40 bits) of `root`, if it is one of
    /// this task's roots.
    #[inline]
    fn seq(self, root: u64) -> Option<u64> {
        let k = Self::unmix(root);
        (k & !SEQ_MASK == self.task).then_some(k & SEQ_MASK)
    }

    /// The task id whose roots `root` is one of (a root that no spout
    /// made gives some task id: the caller checks it is a spout's).
    #[inline]
    pub(crate) fn spout_of(root: u64) -> TaskId {
        Self::split(root).0
    }

    /// The task id and the sequence number that `root` is the root of
    /// (any root gives some: the caller checks that the task is a
    /// spout's).
    #[inline]
    pub(crate) fn split(root: u64) -> (TaskId, u64) {
        let k = Self::unmix(root);
        ((k >> SEQ_BITS) as TaskId, k & SEQ_MASK)
    }

    /// The inverse of [`root`](Self::root)'s mix.
    #[inline]
    fn unmix(root: u64) -> u64 {
        let mut k = root;
        k ^= k >> 33;
        k = k.wrapping_mul(Self::M2_INV);
        k ^= k >> 33;
        k = k.wrapping_mul(Self::M1_INV);
        k ^ (k >> 33)
    }
}

/// The inverse of odd `m` modulo 2^64 (Newton's iteration: each step
/// doubles the bits that are right; `m` itself is right in 3).
const fn inverse(m: u64) -> u64 {
    let mut x = m;
    let mut i = 0;
    while i < 5 {
        x = x.wrapping_mul(2u64.wrapping_sub(m.wrapping_mul(x)));
        i += 1;
    }
    x
}

/// A pending tree in the window: its message id and emit time (ns), or
/// [`VACANT`].
#[derive(Clone, Copy)]
struct Slot {
    msg_id: u64,
    emit_ns: u64,
}

/// A pending tree in the spill: message id, emit time and deadline (ns).
#[derive(Clone, Copy)]
struct Spilled {
    msg_id: u64,
    emit_ns: u64,
    deadline_ns: u64,
}

/// The window's slots by sequence number, from `base` (the front) for
/// `len`: a ring whose capacity is a power of two, where the slot of
/// sequence number `seq` is at `seq & (capacity - 1)` (capacities divide
/// 2^40, so that holds across the sequence numbers' wrap). Finding a tree
/// is a mask, with no front index to add and no wrap to test, and moving
/// the front is an increment.
#[derive(Default)]
struct Window {
    slots: Vec<Slot>,
    /// The front's sequence number.
    base: u64,
    len: usize,
}

impl Window {
    /// Slots of a window's first allocation.
    const MIN_SLOTS: usize = 64;

    fn len(&self) -> usize {
        self.len
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The sequence number one past the back.
    fn end(&self) -> u64 {
        (self.base + self.len as u64) & SEQ_MASK
    }

    /// The slot of `seq`, if it is in the window.
    #[inline]
    fn get_mut(&mut self, seq: u64) -> Option<&mut Slot> {
        let i = seq.wrapping_sub(self.base) & SEQ_MASK;
        if i >= self.len as u64 {
            return None;
        }
        let mask = self.slots.len() - 1;
        self.slots.get_mut(seq as usize & mask)
    }

    /// The front slot, if any.
    #[inline]
    fn front(&self) -> Option<&Slot> {
        if self.len == 0 {
            return None;
        }
        self.slots.get(self.base as usize & (self.slots.len() - 1))
    }

    /// Removes the front slot: its sequence number and the slot.
    #[inline]
    fn pop_front(&mut self) -> Option<(u64, Slot)> {
        let slot = *self.front()?;
        let seq = self.base;
        self.base = (seq + 1) & SEQ_MASK;
        self.len -= 1;
        Some((seq, slot))
    }

    /// Adds `slot` at the back (the sequence number [`end`](Self::end)).
    #[inline]
    fn push_back(&mut self, slot: Slot) {
        if self.len == self.slots.len() {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let at = self.end() as usize & mask;
        if let Some(s) = self.slots.get_mut(at) {
            *s = slot;
        }
        self.len += 1;
    }

    /// Empties the window and starts it at sequence number `seq`.
    fn restart(&mut self, seq: u64) {
        self.base = seq & SEQ_MASK;
        self.len = 0;
    }

    /// Doubles the capacity, each slot moved to its place in the new one.
    #[cold]
    fn grow(&mut self) {
        let n = (self.slots.len() * 2).max(Self::MIN_SLOTS);
        let vacant = Slot {
            msg_id: 0,
            emit_ns: VACANT,
        };
        let mut slots = vec![vacant; n];
        let (old_mask, new_mask) = (self.slots.len().wrapping_sub(1), n - 1);
        for k in 0..self.len as u64 {
            let seq = (self.base + k) & SEQ_MASK;
            slots[seq as usize & new_mask] = self.slots[seq as usize & old_mask];
        }
        self.slots = slots;
    }
}

/// A spout task's pending trees. The spout side decides: whatever comes
/// first, completion or timeout, is the one `ack` or `fail` of the tree;
/// anything later is ignored.
///
/// Times are nanoseconds on the emitting worker's clock (see
/// `Emitter::now_ns`): one subtraction gives a tree's complete latency.
pub(crate) struct SpoutPending {
    ids: RootIds,
    /// Sequence number of the next tree.
    next: u64,
    /// Trees by sequence number (40-bit arithmetic), in emit order; the
    /// front is pending whenever the window is not empty.
    window: Window,
    /// Pending trees out of the window, by root id (random-looking, so
    /// hashed as it is).
    spill: IdMap<Spilled>,
    /// Trees pending, in the window and the spill.
    len: usize,
    timeout_ns: u64,
    /// When the spill is next swept for timeouts.
    next_sweep_ns: u64,
    sweep_every_ns: u64,
    /// Completions decided without an acker (acking off, or no
    /// subscribers), delivered after `next_tuple` returns: (msg id, acked).
    pub(crate) immediate: Vec<(u64, bool)>,
    /// Spout emit to completion, in nanoseconds.
    pub(crate) latency: LatencyCounts,
}

impl SpoutPending {
    /// The pending trees of spout task `task`, timed out after `timeout`;
    /// sequence numbers start at a point drawn from `seed`.
    pub(crate) fn new(task: TaskId, timeout: Duration, seed: u64) -> Self {
        let timeout_ns = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX).max(1);
        let sweep_every_ns = (timeout_ns / 4).max(1_000_000);
        Self {
            ids: RootIds::new(task),
            next: seed & SEQ_MASK,
            window: Window::default(),
            spill: IdMap::default(),
            len: 0,
            timeout_ns,
            next_sweep_ns: 0,
            sweep_every_ns,
            immediate: Vec::new(),
            latency: LatencyCounts::new(),
        }
    }

    /// Trees in flight.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The root id of a new tree. A root that is never
    /// [`insert`](Self::insert)ed (its emit reached no task) leaves a gap
    /// in the sequence, nothing else.
    #[inline]
    pub(crate) fn new_root(&mut self) -> u64 {
        loop {
            let root = self.ids.root(self.next);
            self.next = (self.next + 1) & SEQ_MASK;
            if root != 0 {
                return root;
            }
        }
    }

    /// Adds tree `root` (from [`new_root`](Self::new_root)) of message
    /// `msg_id`, emitted at `now_ns` (the engine inserts the newest root
    /// only, with [`insert_newest`](Self::insert_newest)).
    #[cfg(test)]
    pub(crate) fn insert(&mut self, root: u64, msg_id: u64, now_ns: u64) {
        let Some(seq) = self.ids.seq(root) else {
            debug_assert!(false, "root {root:#x} is not this task's");
            return;
        };
        self.insert_seq(seq, msg_id, now_ns);
    }

    /// [`insert`](Self::insert) of `root`, the root the last
    /// [`new_root`](Self::new_root) gave: its sequence number is known, not
    /// computed from the root.
    #[inline]
    pub(crate) fn insert_newest(&mut self, root: u64, msg_id: u64, now_ns: u64) {
        let seq = self.next.wrapping_sub(1) & SEQ_MASK;
        debug_assert_eq!(self.ids.root(seq), root, "not the newest root");
        self.insert_seq(seq, msg_id, now_ns);
    }

    /// [`insert`](Self::insert) of the tree of sequence number `seq`.
    #[inline]
    fn insert_seq(&mut self, seq: u64, msg_id: u64, now_ns: u64) {
        let slot = Slot {
            msg_id,
            emit_ns: now_ns,
        };
        self.len += 1;
        if self.window.is_empty() {
            self.window.restart(seq);
            self.window.push_back(slot);
            return;
        }
        let gap = seq.wrapping_sub(self.window.end()) & SEQ_MASK;
        if gap == 0 {
            self.window.push_back(slot);
        } else if gap < WINDOW as u64 {
            // Roots whose emits reached nobody.
            let vacant = Slot {
                msg_id: 0,
                emit_ns: VACANT,
            };
            for _ in 0..gap {
                self.window.push_back(vacant);
            }
            self.window.push_back(slot);
        } else if gap < 1 << (SEQ_BITS - 1) {
            // Far ahead (many roots reached nobody while the front stayed
            // pending): the window starts over at `seq`.
            self.spill_front(0);
            self.window.restart(seq);
            self.window.push_back(slot);
        } else {
            // Behind the window (out of order): kept aside.
            self.len -= 1;
            self.spill_one(seq, slot, now_ns.saturating_add(self.timeout_ns));
            return;
        }
        if self.window.len() > WINDOW {
            self.spill_front(WINDOW / 2);
        }
    }

    /// Moves the window's oldest trees to the spill until it holds at
    /// most `keep`.
    #[cold]
    fn spill_front(&mut self, keep: usize) {
        while self.window.len() > keep {
            let Some((seq, slot)) = self.window.pop_front() else {
                break;
            };
            if slot.emit_ns != VACANT {
                self.len -= 1;
                let deadline = slot.emit_ns.saturating_add(self.timeout_ns);
                self.spill_one(seq, slot, deadline);
            }
        }
        self.pop_vacant();
    }

    fn spill_one(&mut self, seq: u64, slot: Slot, deadline_ns: u64) {
        let spilled = Spilled {
            msg_id: slot.msg_id,
            emit_ns: slot.emit_ns,
            deadline_ns,
        };
        if self.spill.insert(self.ids.root(seq), spilled).is_none() {
            self.len += 1;
        }
    }

    /// Drops vacant slots from the front, so the front is pending.
    #[inline]
    fn pop_vacant(&mut self) {
        while self.window.front().is_some_and(|s| s.emit_ns == VACANT) {
            self.window.pop_front();
        }
    }

    /// Removes `root`; its message id and emit time (ns) if it was
    /// pending.
    #[inline]
    pub(crate) fn take(&mut self, root: u64) -> Option<(u64, u64)> {
        let seq = self.ids.seq(root)?;
        let front = self.window.base == seq;
        if let Some(slot) = self.window.get_mut(seq) {
            if slot.emit_ns == VACANT {
                // Completed, never started, or spilled by a reset.
                return self.take_spilled(root);
            }
            let found = (slot.msg_id, slot.emit_ns);
            slot.emit_ns = VACANT;
            self.len -= 1;
            if front {
                self.pop_vacant();
            }
            return Some(found);
        }
        self.take_spilled(root)
    }

    #[cold]
    fn take_spilled(&mut self, root: u64) -> Option<(u64, u64)> {
        let s = self.spill.remove(&root)?;
        self.len -= 1;
        Some((s.msg_id, s.emit_ns))
    }

    /// Restarts `root`'s timeout at `now_ns`.
    pub(crate) fn reset(&mut self, root: u64, now_ns: u64) {
        let Some(seq) = self.ids.seq(root) else {
            return;
        };
        let deadline = now_ns.saturating_add(self.timeout_ns);
        if let Some(s) = self.spill.get_mut(&root) {
            s.deadline_ns = deadline;
            return;
        }
        let front = self.window.base == seq;
        let Some(slot) = self.window.get_mut(seq) else {
            return;
        };
        let slot = std::mem::replace(
            slot,
            Slot {
                msg_id: 0,
                emit_ns: VACANT,
            },
        );
        if slot.emit_ns == VACANT {
            return;
        }
        // Its deadline no longer follows emit order: kept aside.
        self.len -= 1;
        self.spill_one(seq, slot, deadline);
        if front {
            self.pop_vacant();
        }
    }

    /// Records a completed tree's latency: emitted at `started_ns`,
    /// completed at `now_ns`.
    #[inline]
    pub(crate) fn record(&mut self, started_ns: u64, now_ns: u64) {
        self.latency.record(now_ns.saturating_sub(started_ns));
    }

    /// Removes the trees whose timeout passed by `now_ns` and appends
    /// their message ids to `expired`, oldest first (from the window at
    /// once; from the spill within a quarter of the timeout).
    pub(crate) fn expire(&mut self, now_ns: u64, expired: &mut Vec<u64>) {
        while let Some(front) = self.window.front() {
            if front.emit_ns.saturating_add(self.timeout_ns) > now_ns {
                break;
            }
            expired.push(front.msg_id);
            self.len -= 1;
            self.window.pop_front();
            self.pop_vacant();
        }
        if now_ns < self.next_sweep_ns {
            return;
        }
        self.next_sweep_ns = now_ns.saturating_add(self.sweep_every_ns);
        if self.spill.is_empty() {
            return;
        }
        let mut due: Vec<(u64, u64)> = Vec::new();
        self.spill.retain(|_, s| {
            let keep = s.deadline_ns > now_ns;
            if !keep {
                due.push((s.emit_ns, s.msg_id));
            }
            keep
        });
        self.len -= due.len();
        due.sort_unstable();
        expired.extend(due.into_iter().map(|(_, id)| id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn pending() -> SpoutPending {
        SpoutPending::new(7, Duration::from_millis(20), 0x1234)
    }

    fn expire(p: &mut SpoutPending, now_ns: u64) -> Vec<u64> {
        let mut out = Vec::new();
        p.expire(now_ns, &mut out);
        out
    }

    #[test]
    fn the_window_grows_and_pops_across_the_sequence_numbers_wrap() {
        let mut w = Window::default();
        let first = SEQ_MASK - 70;
        w.restart(first);
        for k in 0..200u64 {
            w.push_back(Slot {
                msg_id: k,
                emit_ns: k,
            });
        }
        assert_eq!(w.len(), 200);
        assert_eq!(w.end(), (first + 200) & SEQ_MASK);
        for k in 0..200u64 {
            let seq = (first + k) & SEQ_MASK;
            assert_eq!(w.get_mut(seq).map(|s| s.msg_id), Some(k), "seq {seq}");
        }
        assert!(
            w.get_mut(first.wrapping_sub(1) & SEQ_MASK).is_none(),
            "before the front"
        );
        assert!(w.get_mut(w.end()).is_none(), "past the back");
        for k in 0..150u64 {
            let (seq, slot) = w.pop_front().unwrap();
            assert_eq!((seq, slot.msg_id), ((first + k) & SEQ_MASK, k));
        }
        // Pushed past the old front's slots, then grown again.
        for k in 200..600u64 {
            w.push_back(Slot {
                msg_id: k,
                emit_ns: k,
            });
        }
        let rest: Vec<u64> = std::iter::from_fn(|| w.pop_front().map(|(_, s)| s.msg_id)).collect();
        assert_eq!(rest, (150..600).collect::<Vec<_>>());
        assert!(w.is_empty() && w.front().is_none());
    }

    #[test]
    fn roots_invert_and_belong_to_their_task() {
        let ids = RootIds::new(7);
        let other = RootIds::new(8);
        for seq in [0, 1, 2, 12345, SEQ_MASK] {
            let root = ids.root(seq);
            assert_ne!(root, 0);
            assert_eq!(ids.seq(root), Some(seq));
            assert_eq!(other.seq(root), None, "another task's root");
            assert_ne!(other.root(seq), root);
        }
        assert_eq!(inverse(RootIds::M1).wrapping_mul(RootIds::M1), 1);
        assert_eq!(inverse(RootIds::M2).wrapping_mul(RootIds::M2), 1);
    }

    #[test]
    fn a_root_completes_once_in_any_order() {
        let mut p = pending();
        let roots: Vec<u64> = (0..100).map(|_| p.new_root()).collect();
        for (i, &r) in roots.iter().enumerate() {
            p.insert(r, i as u64 + 1000, i as u64);
        }
        assert_eq!(p.len(), 100);
        // Every third first, then the rest backwards.
        for (i, &r) in roots.iter().enumerate().step_by(3) {
            assert_eq!(p.take(r), Some((i as u64 + 1000, i as u64)));
            assert_eq!(p.take(r), None, "a root completes once");
        }
        for (i, &r) in roots.iter().enumerate().rev() {
            let again = i % 3 == 0;
            assert_eq!(p.take(r).is_none(), again, "root {i}");
        }
        assert_eq!(p.len(), 0);
        assert!(p.window.is_empty(), "vacant slots are dropped");
        assert_eq!(p.take(12345), None, "an unknown root");
    }

    #[test]
    fn roots_never_inserted_leave_gaps_only() {
        let mut p = pending();
        let a = p.new_root();
        p.insert(a, 1, 0);
        let _unused = (p.new_root(), p.new_root());
        let b = p.new_root();
        p.insert(b, 2, 0);
        assert_eq!(p.len(), 2);
        assert_eq!(p.take(a), Some((1, 0)));
        assert_eq!(p.window.len(), 1, "the gap is dropped with the front");
        assert_eq!(p.take(b), Some((2, 0)));
    }

    #[test]
    fn times_out_oldest_first() {
        let mut p = pending();
        let a = p.new_root();
        p.insert(a, 100, 0);
        let b = p.new_root();
        p.insert(b, 200, 5 * MS);
        let c = p.new_root();
        p.insert(c, 300, 6 * MS);
        assert_eq!(p.take(b).map(|v| v.0), Some(200));
        assert_eq!(expire(&mut p, 19 * MS), Vec::<u64>::new(), "not due yet");
        assert_eq!(expire(&mut p, 20 * MS), vec![100]);
        assert_eq!(expire(&mut p, 26 * MS), vec![300]);
        assert_eq!(p.len(), 0);
        assert_eq!(p.take(a), None, "timed out: ignored");
    }

    #[test]
    fn reset_restarts_the_timeout() {
        let mut p = pending();
        let a = p.new_root();
        p.insert(a, 100, 0);
        let b = p.new_root();
        p.insert(b, 200, MS);
        p.reset(a, 15 * MS);
        assert_eq!(expire(&mut p, 21 * MS), vec![200]);
        assert_eq!(p.len(), 1);
        assert_eq!(expire(&mut p, 30 * MS), Vec::<u64>::new(), "reset");
        assert_eq!(expire(&mut p, 35 * MS), vec![100]);
        assert_eq!(p.len(), 0);
        let c = p.new_root();
        p.insert(c, 300, 40 * MS);
        let d = p.new_root();
        p.insert(d, 400, 41 * MS);
        p.reset(d, 45 * MS);
        assert_eq!(p.take(d), Some((400, 41 * MS)), "latency from the emit");
        assert_eq!(p.take(d), None);
        p.reset(c, 45 * MS);
        assert_eq!(p.take(c), Some((300, 40 * MS)), "from the window's front");
        assert_eq!(p.len(), 0);
    }

    #[test]
    fn stragglers_spill_and_still_complete_or_time_out() {
        let mut p = pending();
        let first = p.new_root();
        p.insert(first, 1, 0);
        let second = p.new_root();
        p.insert(second, 2, 0);
        let mut last = 0;
        for i in 0..(3 * WINDOW as u64) {
            let r = p.new_root();
            p.insert(r, 10 + i, MS);
            assert_eq!(p.take(r), Some((10 + i, MS)));
            last = r;
        }
        assert!(p.window.len() <= WINDOW, "window bounded");
        assert_eq!(p.len(), 2);
        assert_eq!(p.take(last), None);
        assert_eq!(p.take(first), Some((1, 0)), "from the spill");
        assert_eq!(expire(&mut p, 30 * MS), vec![2]);
        assert_eq!(p.len(), 0);
    }

    #[test]
    fn a_long_gap_restarts_the_window() {
        let mut p = pending();
        let first = p.new_root();
        p.insert(first, 1, 0);
        for _ in 0..2 * WINDOW {
            p.new_root();
        }
        let r = p.new_root();
        p.insert(r, 2, 0);
        assert_eq!(p.window.len(), 1, "the straggler spilled");
        assert_eq!(p.take(first), Some((1, 0)));
        assert_eq!(p.take(r), Some((2, 0)));
        assert_eq!(p.len(), 0);
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut p = SpoutPending::new(3, Duration::from_millis(20), SEQ_MASK - 2);
        let roots: Vec<u64> = (0..6).map(|_| p.new_root()).collect();
        for (i, &r) in roots.iter().enumerate() {
            p.insert(r, i as u64, 0);
        }
        for (i, &r) in roots.iter().enumerate().rev() {
            assert_eq!(p.take(r), Some((i as u64, 0)));
        }
        assert_eq!(p.len(), 0);
    }

    #[test]
    fn insert_newest_is_insert_of_the_last_new_root() {
        let mut a = SpoutPending::new(5, Duration::from_secs(30), 77);
        let mut b = SpoutPending::new(5, Duration::from_secs(30), 77);
        for i in 0..10u64 {
            let (ra, rb) = (a.new_root(), b.new_root());
            assert_eq!(ra, rb);
            if i % 3 == 1 {
                // A root whose emit reached nobody: a gap in both.
                continue;
            }
            a.insert(ra, i, i * 10);
            b.insert_newest(rb, i, i * 10);
        }
        assert_eq!(a.len(), b.len());
        for i in 0..10u64 {
            let r = RootIds::new(5).root((77 + i) & SEQ_MASK);
            assert_eq!(a.take(r), b.take(r));
        }
        assert_eq!((a.len(), b.len()), (0, 0));
    }
}
