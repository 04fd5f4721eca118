//! [`KeyValueState`]: a bolt task's key-value state, and its snapshots.
//!
//! The keys live in a hash map (foldhash): a stateful bolt looks a key up
//! for every tuple, and ordering the keys is needed only by a snapshot
//! (once per checkpoint) and by iteration. A snapshot is the archive of
//! the entries in key order, byte for byte what rkyv makes of a
//! `BTreeMap<String, Value>`, so checkpoints written by earlier versions
//! restore and theirs stay readable.

use std::collections::{BTreeMap, HashMap};

use gale_codec::{ArchivedValue, Value};
use rkyv::collections::btree_map::{ArchivedBTreeMap, BTreeMapResolver};
use rkyv::rancor::{Fallible, Source};
use rkyv::ser::{Allocator, Writer};
use rkyv::string::ArchivedString;
use rkyv::{Archive, Place, Serialize};

use super::file::StateError;

/// The entries: a fast hash of the key, no ordering kept.
type Map = HashMap<String, Value, foldhash::fast::RandomState>;

/// A bolt task's key-value state (Storm's `KeyValueState`): string keys,
/// [`Value`]s, iterated in key order.
///
/// ```
/// use gale_codec::Value;
/// use gale_engine::state::KeyValueState;
///
/// let mut state = KeyValueState::default();
/// state.put("cow", Value::I64(2));
/// state.put("moon", Value::I64(1));
/// assert_eq!(state.get("cow"), Some(&Value::I64(2)));
/// assert_eq!(state.delete("moon"), Some(Value::I64(1)));
/// let bytes = state.snapshot()?;
/// let back = KeyValueState::restore(&bytes).unwrap();
/// assert_eq!(back.iter().collect::<Vec<_>>(), [("cow", &Value::I64(2))]);
/// # Ok::<(), gale_engine::state::StateError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyValueState {
    map: Map,
}

impl KeyValueState {
    /// The value of `key`.
    #[inline]
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.map.get(key)
    }

    /// The value of `key`, to change in place.
    #[inline]
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.map.get_mut(key)
    }

    /// Sets `key` to `value`; returns the value it had.
    #[inline]
    pub fn put(&mut self, key: impl Into<String>, value: Value) -> Option<Value> {
        self.map.insert(key.into(), value)
    }

    /// Removes `key`; returns the value it had.
    #[inline]
    pub fn delete(&mut self, key: &str) -> Option<Value> {
        self.map.remove(key)
    }

    /// Every key and value, in key order (sorted at each call).
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &Value)> {
        self.in_key_order()
            .into_iter()
            .map(|(k, v)| (k.as_str(), v))
    }

    /// Number of keys.
    #[inline]
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether there is no key.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The state as bytes (rkyv's archive of its entries as a
    /// `BTreeMap<String, Value>`).
    pub fn snapshot(&self) -> Result<Vec<u8>, StateError> {
        rkyv::to_bytes::<rkyv::rancor::Error>(&InKeyOrder(self.in_key_order()))
            .map(|b| b.to_vec())
            .map_err(|e| StateError::Snapshot {
                reason: e.to_string(),
            })
    }

    /// The state [`snapshot`](Self::snapshot) made, validated completely
    /// (bytes from a file are untrusted): an error, never a panic, for
    /// bytes that are not such a snapshot.
    pub fn restore(bytes: &[u8]) -> Result<Self, StateError> {
        let mut aligned = rkyv::util::AlignedVec::<16>::with_capacity(bytes.len());
        aligned.extend_from_slice(bytes);
        let map = rkyv::from_bytes::<BTreeMap<String, Value>, rkyv::rancor::Error>(&aligned)
            .map_err(|e| StateError::Snapshot {
                reason: e.to_string(),
            })?;
        Ok(Self {
            map: map.into_iter().collect(),
        })
    }

    /// The entries sorted by key.
    fn in_key_order(&self) -> Vec<(&String, &Value)> {
        let mut entries: Vec<_> = self.map.iter().collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        entries
    }
}

/// Entries sorted by key, archived as a `BTreeMap<String, Value>` is
/// (the snapshot format) without copying them into one.
struct InKeyOrder<'a>(Vec<(&'a String, &'a Value)>);

impl Archive for InKeyOrder<'_> {
    type Archived = ArchivedBTreeMap<ArchivedString, ArchivedValue>;
    type Resolver = BTreeMapResolver;

    fn resolve(&self, resolver: Self::Resolver, out: Place<Self::Archived>) {
        ArchivedBTreeMap::resolve_from_len(self.0.len(), resolver, out);
    }
}

impl<S> Serialize<S> for InKeyOrder<'_>
where
    S: Fallible + Allocator + Writer + ?Sized,
    S::Error: Source,
{
    fn serialize(&self, serializer: &mut S) -> Result<Self::Resolver, S::Error> {
        ArchivedBTreeMap::<ArchivedString, ArchivedValue>::serialize_from_ordered_iter::<
            _,
            _,
            _,
            String,
            Value,
            _,
        >(self.0.iter().copied(), serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(n: usize) -> BTreeMap<String, Value> {
        let mut map = BTreeMap::new();
        for i in 0..n {
            let value = match i % 3 {
                0 => Value::I64(i as i64),
                1 => Value::from(format!("v{i}").as_str()),
                _ => Value::List(vec![Value::Null, Value::I64(-1)]),
            };
            map.insert(format!("key{}", (i * 7919) % 10_007), value);
        }
        map
    }

    /// Snapshots keep the format of the BTreeMap the state used to be:
    /// the same bytes, so old checkpoints restore and new ones read the
    /// same way everywhere.
    #[test]
    fn snapshot_is_the_archive_of_a_btree_map() {
        for n in [0, 1, 2, 5, 6, 31, 1000] {
            let map = entries(n);
            let mut state = KeyValueState::default();
            for (k, v) in map.iter().rev() {
                state.put(k.clone(), v.clone());
            }
            let old = rkyv::to_bytes::<rkyv::rancor::Error>(&map).unwrap();
            assert_eq!(state.snapshot().unwrap(), old.as_slice(), "{n} keys");
            let back = KeyValueState::restore(&old).unwrap();
            assert_eq!(back, state, "{n} keys");
            let keys: Vec<&str> = back.iter().map(|(k, _)| k).collect();
            let sorted: Vec<&str> = map.keys().map(String::as_str).collect();
            assert_eq!(keys, sorted, "{n} keys: iteration in key order");
        }
    }
}
