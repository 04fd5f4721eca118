//! What a spout has emitted and not yet seen acked, keyed by the message
//! ids it hands out itself (consecutive numbers), so a lookup is an index
//! into a ring, with no hashing: the ring spans from the oldest entry
//! still in flight to the newest (an entry that keeps failing holds its
//! place until it is acked, and the span grows behind it meanwhile).

use std::collections::VecDeque;

/// Entries in flight by message id.
#[derive(Debug)]
pub(crate) struct InFlightTable<T> {
    base: u64,
    slots: VecDeque<Option<T>>,
    live: usize,
}

impl<T> InFlightTable<T> {
    pub(crate) fn new() -> Self {
        Self {
            base: 0,
            slots: VecDeque::new(),
            live: 0,
        }
    }

    /// Keeps `v`; returns its message id.
    pub(crate) fn insert(&mut self, v: T) -> u64 {
        let id = self.base + self.slots.len() as u64;
        self.slots.push_back(Some(v));
        self.live += 1;
        id
    }

    fn index(&self, id: u64) -> Option<usize> {
        usize::try_from(id.checked_sub(self.base)?).ok()
    }

    /// The entry of message `id`, if still in flight.
    pub(crate) fn get(&self, id: u64) -> Option<&T> {
        self.slots.get(self.index(id)?)?.as_ref()
    }

    /// Takes the entry of message `id` out (it was acked).
    pub(crate) fn remove(&mut self, id: u64) -> Option<T> {
        let i = self.index(id)?;
        let v = self.slots.get_mut(i)?.take()?;
        self.live -= 1;
        while matches!(self.slots.front(), Some(None)) {
            self.slots.pop_front();
            self.base += 1;
        }
        Some(v)
    }

    /// Entries in flight.
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// Whether none is in flight.
    pub(crate) fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// The entries in flight.
    pub(crate) fn values(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_stay_valid_while_older_entries_are_acked_in_any_order() {
        let mut t = InFlightTable::new();
        let ids: Vec<u64> = (0..5).map(|i| t.insert(i * 10)).collect();
        assert_eq!(ids, [0, 1, 2, 3, 4]);
        assert_eq!(t.remove(2), Some(20));
        assert_eq!(t.remove(2), None, "twice");
        assert_eq!(t.remove(0), Some(0));
        assert_eq!(t.get(1), Some(&10));
        assert_eq!(t.remove(1), Some(10));
        assert_eq!(t.get(0), None);
        assert_eq!(t.len(), 2);
        assert_eq!(t.insert(50), 5);
        assert_eq!(t.values().copied().collect::<Vec<_>>(), [30, 40, 50]);
        assert_eq!(t.remove(99), None);
        for id in [3, 4, 5] {
            t.remove(id);
        }
        assert!(t.is_empty());
        assert_eq!(t.insert(60), 6);
    }
}
