//! [`Trees`]: an acker task's trees in flight, by root id, in a table
//! written for the acker's access pattern.
//!
//! A spout task numbers its trees and mixes the number into the root id
//! ([`RootIds`]); the acker unmixes it. Trees reach an acker roughly in
//! the order their spouts started them, each looked up about three times
//! (opened, updated, completed) in a short while. So the table is first a
//! window by sequence number: the tree of sequence number `seq` sits in
//! slot `seq mod size`, the trees in flight of one spout task fill
//! consecutive slots, and the acker walks through memory in order rather
//! than jumping to a hashed slot for each update (the hashed slots missed
//! the caches: about a fifth of the acker's thread's time in the acked
//! benchmark). A slot holds the root and the XOR (16 bytes, four to a
//! cache line); a byte beside it, the tree's stamp (the rotation it
//! arrived in), is read only when the acker rotates.
//!
//! A tree whose slot is taken by another (a straggler a window's length
//! behind, or another spout task's trees in the same slots) goes to the
//! spill, an open addressing table hashed by a multiply with an odd number
//! drawn per table (so that roots sent by another node cannot be chosen to
//! collide): the product's high bits pick the slot, root 0 marks an empty
//! one, probes are linear, and a removal shifts the entries after it back
//! (no tombstones). The window doubles when a collision finds it half
//! full, up to [`MAX_WINDOW`] slots; each rotation resizes it to its
//! trees. The spill is looked at only when it holds trees.

use super::pending::RootIds;

/// Slots of a new (or emptied) window or spill.
const MIN_SLOTS: usize = 16;

/// The largest window, in slots (4 MiB of slots, 16 bytes each); past
/// that, colliding trees spill.
const MAX_WINDOW: usize = 1 << 18;

/// A tree: its root (0: none) and the XOR of the edges created and acked
/// so far.
#[derive(Clone, Copy, Default)]
struct Slot {
    root: u64,
    xor: u64,
}

/// Where a tree is, from [`Trees::entry`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum At {
    /// In the window's slot.
    Window(usize),
    /// In the spill's slot.
    Spill(usize),
}

/// Trees by root id (never 0).
pub(crate) struct Trees {
    /// By sequence number modulo its length (a power of two).
    window: Vec<Slot>,
    /// By window slot: its tree's stamp.
    stamps: Vec<u8>,
    /// Trees in the window.
    in_window: usize,
    spill: Spill,
}

impl Default for Trees {
    fn default() -> Self {
        Self::with_window(MIN_SLOTS, random_odd())
    }
}

impl Trees {
    /// An empty table: a window of `n` slots, a spill hashed with `mul`.
    fn with_window(n: usize, mul: u64) -> Self {
        debug_assert!(n.is_power_of_two());
        Self {
            window: vec![Slot::default(); n],
            stamps: vec![0; n],
            in_window: 0,
            spill: Spill::sized(MIN_SLOTS, mul),
        }
    }

    /// Trees held.
    pub(crate) fn len(&self) -> usize {
        self.in_window + self.spill.len
    }

    /// The window slot of sequence number `seq`.
    #[inline]
    fn slot_of(&self, seq: u64) -> usize {
        seq as usize & (self.window.len() - 1)
    }

    /// The XOR of the tree of `root` (never 0; `seq`: its sequence number,
    /// [`RootIds::split`]), opened with the XOR and stamp `open` gives if
    /// there is none (`None` if `open` gives none); and where it is, for
    /// [`remove`](Self::remove) and [`stamp`](Self::stamp).
    #[inline]
    pub(crate) fn entry(
        &mut self,
        root: u64,
        seq: u64,
        open: impl FnOnce() -> Option<(u64, u8)>,
    ) -> Option<(At, &mut u64)> {
        debug_assert_ne!(root, 0);
        let i = self.slot_of(seq);
        let held = self.window[i].root;
        if held != root {
            if self.spill.len > 0 {
                let j = self.spill.find(root);
                if self.spill.slots[j].root == root {
                    return Some((At::Spill(j), &mut self.spill.slots[j].xor));
                }
            }
            let (xor, stamp) = open()?;
            if held != 0 {
                return Some(self.collide(root, seq, xor, stamp));
            }
            self.put(i, Slot { root, xor }, stamp);
        }
        Some((At::Window(i), &mut self.window[i].xor))
    }

    /// Places a new tree whose window slot is taken: in a window twice
    /// the size if this one is half full (and may grow), else in the
    /// spill.
    #[cold]
    #[inline(never)]
    fn collide(&mut self, root: u64, seq: u64, xor: u64, stamp: u8) -> (At, &mut u64) {
        let n = self.window.len();
        if self.len() * 2 >= n && n < MAX_WINDOW {
            self.resize(n * 2);
            let i = self.slot_of(seq);
            if self.window[i].root == 0 {
                self.put(i, Slot { root, xor }, stamp);
                return (At::Window(i), &mut self.window[i].xor);
            }
        }
        let j = self.spill.insert(root, xor, stamp);
        (At::Spill(j), &mut self.spill.slots[j].xor)
    }

    /// Puts a tree into the empty window slot `i`.
    #[inline]
    fn put(&mut self, i: usize, slot: Slot, stamp: u8) {
        self.window[i] = slot;
        self.stamps[i] = stamp;
        self.in_window += 1;
    }

    /// Sets the stamp of the tree at `at` (from [`entry`](Self::entry),
    /// with nothing added or removed since).
    #[inline]
    pub(crate) fn stamp(&mut self, at: At, stamp: u8) {
        match at {
            At::Window(i) => self.stamps[i] = stamp,
            At::Spill(j) => self.spill.stamps[j] = stamp,
        }
    }

    /// Removes the tree at `at` (from [`entry`](Self::entry), with nothing
    /// added or removed since).
    #[inline]
    pub(crate) fn remove(&mut self, at: At) {
        match at {
            At::Window(i) => {
                debug_assert_ne!(self.window[i].root, 0);
                self.window[i] = Slot::default();
                self.in_window -= 1;
            }
            At::Spill(j) => self.spill.remove_at(j),
        }
    }

    /// Keeps only the trees whose stamp `keep` says to, in a window sized
    /// for them.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(u8) -> bool) {
        let kept: Vec<(Slot, u8)> = self.entries().filter(|&(_, stamp)| keep(stamp)).collect();
        let n = (kept.len() * 4)
            .next_power_of_two()
            .clamp(MIN_SLOTS, MAX_WINDOW);
        self.rebuild(n, kept);
    }

    /// Every tree, with its stamp.
    fn entries(&self) -> impl Iterator<Item = (Slot, u8)> + '_ {
        let window = self.window.iter().zip(&self.stamps);
        let spill = self.spill.slots.iter().zip(&self.spill.stamps);
        window
            .chain(spill)
            .filter(|(s, _)| s.root != 0)
            .map(|(s, &stamp)| (*s, stamp))
    }

    fn resize(&mut self, n: usize) {
        let all: Vec<(Slot, u8)> = self.entries().collect();
        self.rebuild(n, all);
    }

    /// Empties the table into a window of `n` slots and puts `entries`
    /// back (those whose slot is taken into the spill).
    fn rebuild(&mut self, n: usize, entries: Vec<(Slot, u8)>) {
        *self = Self::with_window(n, self.spill.mul);
        for (s, stamp) in entries {
            let i = self.slot_of(RootIds::split(s.root).1);
            if self.window[i].root == 0 {
                self.put(i, s, stamp);
            } else {
                self.spill.insert(s.root, s.xor, stamp);
            }
        }
    }
}

/// The trees whose window slot was taken: open addressing by a hash of
/// the root, at most half full.
struct Spill {
    slots: Vec<Slot>,
    /// By slot: its tree's stamp.
    stamps: Vec<u8>,
    /// `slots.len() - 1` (a power of two less one).
    mask: usize,
    /// `64 - log2(slots.len())`: a product's top bits pick a slot.
    shift: u32,
    /// The odd multiplier of [`home`](Self::home), random per table.
    mul: u64,
    len: usize,
}

impl Spill {
    fn sized(n: usize, mul: u64) -> Self {
        debug_assert!(n.is_power_of_two() && n >= 2);
        Self {
            slots: vec![Slot::default(); n],
            stamps: vec![0; n],
            mask: n - 1,
            shift: 64 - n.trailing_zeros(),
            mul,
            len: 0,
        }
    }

    /// The slot where `root`'s probe starts.
    #[inline]
    fn home(&self, root: u64) -> usize {
        (root.wrapping_mul(self.mul) >> self.shift) as usize
    }

    /// The slot of `root` (never 0), or of the empty slot where it would
    /// go.
    #[inline]
    fn find(&self, root: u64) -> usize {
        debug_assert_ne!(root, 0);
        let mut i = self.home(root);
        loop {
            let r = self.slots[i].root;
            if r == root || r == 0 {
                return i;
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Adds the tree of `root` (not held); returns its slot.
    fn insert(&mut self, root: u64, xor: u64, stamp: u8) -> usize {
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let i = self.find(root);
        debug_assert_eq!(self.slots[i].root, 0);
        self.slots[i] = Slot { root, xor };
        self.stamps[i] = stamp;
        self.len += 1;
        i
    }

    /// Removes the tree at slot `i`, shifting back the entries after it
    /// that would otherwise be cut off from their home slot.
    fn remove_at(&mut self, i: usize) {
        debug_assert_ne!(self.slots[i].root, 0);
        let mut hole = i;
        let mut j = i;
        loop {
            j = (j + 1) & self.mask;
            let root = self.slots[j].root;
            if root == 0 {
                break;
            }
            let home = self.home(root);
            // The entry at `j` may fill the hole unless its home lies
            // cyclically in (hole, j].
            if (j.wrapping_sub(home) & self.mask) >= (j.wrapping_sub(hole) & self.mask) {
                self.slots[hole] = self.slots[j];
                self.stamps[hole] = self.stamps[j];
                hole = j;
            }
        }
        self.slots[hole] = Slot::default();
        self.len -= 1;
    }

    #[cold]
    fn grow(&mut self) {
        let n = self.slots.len() * 2;
        let old = std::mem::replace(self, Self::sized(n, self.mul));
        for (s, stamp) in old.slots.into_iter().zip(old.stamps) {
            if s.root != 0 {
                let i = self.find(s.root);
                self.slots[i] = s;
                self.stamps[i] = stamp;
                self.len += 1;
            }
        }
    }
}

/// An odd 64-bit number from the process's random hash keys.
fn random_odd() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(0x6761_6c65_u64) | 1
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Op {
        /// XOR into the tree of root (key index), opening it.
        Xor(usize, u64),
        /// Remove the tree of root (key index), if held.
        Remove(usize),
        /// Keep the trees with an even XOR.
        RetainEven,
    }

    /// Roots of three spout tasks whose sequence numbers share window
    /// slots (equal modulo 16, 64, 1024, 4096): they collide, spill and
    /// grow the window, and the spill's hashed slots collide too.
    fn roots() -> Vec<u64> {
        let seqs = [
            0,
            1,
            2,
            3,
            16,
            17,
            32,
            48,
            64,
            1024,
            1025,
            4096,
            4097,
            1 << 20,
        ];
        (1..=3)
            .flat_map(|task| {
                let ids = RootIds::new(task);
                seqs.iter().map(move |&seq| ids.root(seq))
            })
            .collect()
    }

    fn op(keys: usize) -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0..keys, any::<u64>()).prop_map(|(k, x)| Op::Xor(k, x)),
            4 => (0..keys).prop_map(Op::Remove),
            1 => Just(Op::RetainEven),
        ]
    }

    /// The tree of `root`, if held: where, and its XOR.
    fn get(t: &mut Trees, root: u64) -> Option<(At, u64)> {
        let seq = RootIds::split(root).1;
        t.entry(root, seq, || None).map(|(at, x)| (at, *x))
    }

    proptest! {
        /// The table holds exactly what a `HashMap` given the same
        /// operations holds, through collisions, spills, growth, removals
        /// that shift spilled entries back and rebuilds; and each tree's
        /// stamp moves with it.
        #[test]
        fn behaves_as_a_map(ops in proptest::collection::vec(op(42), 1..400)) {
            let keys = roots();
            prop_assert_eq!(keys.len(), 42);
            let mut t = Trees::default();
            let mut model: HashMap<u64, u64> = HashMap::new();
            for op in ops {
                match op {
                    Op::Xor(k, x) => {
                        let root = keys[k];
                        let seq = RootIds::split(root).1;
                        let (at, xor) = t.entry(root, seq, || Some((0, 0))).unwrap();
                        *xor ^= x;
                        // The stamp: the XOR's low byte.
                        let low = *xor as u8;
                        t.stamp(at, low);
                        *model.entry(root).or_default() ^= x;
                    }
                    Op::Remove(k) => {
                        let root = keys[k];
                        if let Some((at, _)) = get(&mut t, root) {
                            t.remove(at);
                        }
                        model.remove(&root);
                    }
                    Op::RetainEven => {
                        t.retain(|stamp| stamp % 2 == 0);
                        model.retain(|_, x| *x % 2 == 0);
                    }
                }
                prop_assert_eq!(t.len(), model.len());
                for &root in &keys {
                    let got = get(&mut t, root).map(|(_, x)| x);
                    prop_assert_eq!(got, model.get(&root).copied(), "root {:#x}", root);
                }
                for (s, stamp) in t.entries() {
                    prop_assert_eq!(stamp, s.xor as u8);
                }
            }
        }
    }

    #[test]
    fn trees_in_order_stay_in_a_window_sized_for_those_in_flight() {
        let ids = RootIds::new(7);
        let mut t = Trees::default();
        // A million trees, 3000 in flight at a time, opened and completed
        // in order: none spills, and the window stops growing at the
        // first power of two above the trees in flight.
        for seq in 0..1_000_000u64 {
            let root = ids.root(seq);
            t.entry(root, seq, || Some((root, 0))).unwrap();
            if seq >= 3000 {
                let old = ids.root(seq - 3000);
                let (at, _) = t.entry(old, seq - 3000, || None).unwrap();
                assert!(matches!(at, At::Window(_)));
                t.remove(at);
            }
        }
        assert_eq!((t.len(), t.spill.len), (3000, 0));
        assert_eq!(t.window.len(), 4096);
        t.retain(|_| false);
        assert_eq!((t.len(), t.window.len()), (0, MIN_SLOTS));
    }

    #[test]
    fn a_straggler_spills_rather_than_grow_the_window() {
        let ids = RootIds::new(3);
        let mut t = Trees::default();
        // Tree 0 never completes; trees after it come and go, 100 at a
        // time. The window stays small and tree 0 survives every pass.
        t.entry(ids.root(0), 0, || Some((1, 0))).unwrap();
        for seq in 1..100_000u64 {
            t.entry(ids.root(seq), seq, || Some((1, 0))).unwrap();
            if seq > 100 {
                let old = seq - 100;
                let (at, _) = t.entry(ids.root(old), old, || None).unwrap();
                t.remove(at);
            }
        }
        assert!(t.window.len() <= 512, "window {}", t.window.len());
        assert_eq!(get(&mut t, ids.root(0)).map(|(_, x)| x), Some(1));
        assert_eq!(t.len(), 101);
    }
}
