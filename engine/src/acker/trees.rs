//! [`Trees`]: an acker task's trees in flight, by root id: an open
//! addressing table written for the acker's one access pattern.
//!
//! Root ids are uniformly spread, never 0, and each tree is looked up
//! about three times (created, updated, completed) in a short while. So the
//! table hashes a root with one multiply (by an odd number drawn per table,
//! so that roots sent by another node cannot be chosen to collide), takes
//! the product's high bits as the slot, marks an empty slot with root 0,
//! probes linearly, and removes by shifting the
//! entries after a removed one back (no tombstones, so a table that sees
//! millions of trees come and go never degrades). It stays at most half
//! full. Compared with a general hash map this is a few instructions per
//! update instead of a few dozen: the acker's updates were a tenth of the
//! acked topology's instructions.

/// Slots of a new (or emptied) table.
const MIN_SLOTS: usize = 16;

/// One tree in flight.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Tree {
    /// The XOR of the edges created and acked so far.
    pub(crate) xor: u64,
    /// The spout task its completion goes to (the one its root names).
    pub(crate) spout: u32,
    pub(crate) failed: bool,
    /// The rotation it arrived in (or was last reset in).
    pub(crate) generation: u64,
}

/// A slot: root 0 is empty.
#[derive(Clone, Copy, Default)]
struct Slot {
    root: u64,
    tree: Tree,
}

/// Trees by root id (never 0).
pub(crate) struct Trees {
    slots: Vec<Slot>,
    /// `slots.len() - 1` (a power of two less one).
    mask: usize,
    /// `64 - log2(slots.len())`: a product's top bits pick a slot.
    shift: u32,
    /// The odd multiplier of [`home`](Self::home), random per table.
    mul: u64,
    len: usize,
}

impl Default for Trees {
    fn default() -> Self {
        Self::with_slots(MIN_SLOTS)
    }
}

impl Trees {
    fn with_slots(n: usize) -> Self {
        Self::sized(n, random_odd())
    }

    fn sized(n: usize, mul: u64) -> Self {
        debug_assert!(n.is_power_of_two() && n >= 2);
        Self {
            slots: vec![Slot::default(); n],
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

    /// Trees held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
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

    /// The tree of `root` (never 0), made with `new` if there is none
    /// (`None` if `new` makes none); and its slot, for
    /// [`remove_at`](Self::remove_at).
    #[inline]
    pub(crate) fn entry(
        &mut self,
        root: u64,
        new: impl FnOnce() -> Option<Tree>,
    ) -> Option<(usize, &mut Tree)> {
        let mut i = self.find(root);
        if self.slots[i].root == 0 {
            let tree = new()?;
            if (self.len + 1) * 2 > self.slots.len() {
                self.grow();
                i = self.find(root);
            }
            self.slots[i] = Slot { root, tree };
            self.len += 1;
        }
        Some((i, &mut self.slots[i].tree))
    }

    /// Removes the tree at slot `i` (from [`entry`](Self::entry), with
    /// nothing inserted since), shifting back the entries after it that
    /// would otherwise be cut off from their home slot.
    #[inline]
    pub(crate) fn remove_at(&mut self, i: usize) {
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
                hole = j;
            }
        }
        self.slots[hole] = Slot::default();
        self.len -= 1;
    }

    /// Keeps only the trees `keep` says to, in a table sized for them.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&Tree) -> bool) {
        let kept: Vec<Slot> = self
            .slots
            .iter()
            .filter(|s| s.root != 0 && keep(&s.tree))
            .copied()
            .collect();
        let n = (kept.len() * 4).next_power_of_two().max(MIN_SLOTS);
        self.rebuild(n, kept);
    }

    #[cold]
    fn grow(&mut self) {
        let n = self.slots.len() * 2;
        let old = std::mem::take(&mut self.slots);
        self.rebuild(n, old.into_iter().filter(|s| s.root != 0));
    }

    fn rebuild(&mut self, n: usize, entries: impl IntoIterator<Item = Slot>) {
        *self = Self::sized(n, self.mul);
        for s in entries {
            let i = self.find(s.root);
            self.slots[i] = s;
            self.len += 1;
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
        /// XOR into the tree of root (key index), creating it.
        Xor(usize, u64),
        /// Remove the tree of root (key index), if present.
        Remove(usize),
        /// Keep the trees with an even XOR.
        RetainEven,
    }

    /// Roots drawn from a small pool, never 0 (40 of them in tables of 16
    /// to 128 slots: they collide and probe).
    fn roots() -> Vec<u64> {
        (1..=40u64)
            .map(|k| {
                if k % 3 == 0 {
                    k << 40 | 5
                } else {
                    k.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1
                }
            })
            .collect()
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0..40usize, any::<u64>()).prop_map(|(k, x)| Op::Xor(k, x)),
            4 => (0..40usize).prop_map(Op::Remove),
            1 => Just(Op::RetainEven),
        ]
    }

    proptest! {
        /// The table holds exactly what a `HashMap` given the same
        /// operations holds, through collisions, growth, removals that
        /// shift entries back and rebuilds.
        #[test]
        fn behaves_as_a_map(ops in proptest::collection::vec(op(), 1..400)) {
            let keys = roots();
            let mut t = Trees::default();
            let mut model: HashMap<u64, u64> = HashMap::new();
            for op in ops {
                match op {
                    Op::Xor(k, x) => {
                        let root = keys[k];
                        let (_, tree) = t.entry(root, || Some(Tree::default())).unwrap();
                        tree.xor ^= x;
                        *model.entry(root).or_default() ^= x;
                    }
                    Op::Remove(k) => {
                        let root = keys[k];
                        let i = t.find(root);
                        if t.slots[i].root == root {
                            t.remove_at(i);
                        }
                        model.remove(&root);
                    }
                    Op::RetainEven => {
                        t.retain(|tree| tree.xor % 2 == 0);
                        model.retain(|_, x| *x % 2 == 0);
                    }
                }
                prop_assert_eq!(t.len(), model.len());
                for &root in &keys {
                    let i = t.find(root);
                    let got = (t.slots[i].root == root).then(|| t.slots[i].tree.xor);
                    prop_assert_eq!(got, model.get(&root).copied(), "root {:#x}", root);
                }
            }
        }
    }

    #[test]
    fn stays_at_most_half_full_and_shrinks_on_retain() {
        let mut t = Trees::default();
        for r in 1..=1000u64 {
            t.entry(r.wrapping_mul(0x9e37_79b9_7f4a_7c15), || {
                Some(Tree::default())
            });
            assert!(t.len() * 2 <= t.slots.len());
        }
        assert_eq!(t.len(), 1000);
        t.retain(|_| false);
        assert_eq!((t.len(), t.slots.len()), (0, MIN_SLOTS));
    }
}
