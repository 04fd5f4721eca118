//! [`KeyValueState`]: a bolt task's key-value state, and its snapshots.

use std::collections::BTreeMap;

use gale_codec::Value;

use super::file::StateError;

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
    map: BTreeMap<String, Value>,
}

impl KeyValueState {
    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.map.get(key)
    }

    /// The value of `key`, to change in place.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.map.get_mut(key)
    }

    /// Sets `key` to `value`; returns the value it had.
    pub fn put(&mut self, key: impl Into<String>, value: Value) -> Option<Value> {
        self.map.insert(key.into(), value)
    }

    /// Removes `key`; returns the value it had.
    pub fn delete(&mut self, key: &str) -> Option<Value> {
        self.map.remove(key)
    }

    /// Every key and value, in key order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &Value)> {
        self.map.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether there is no key.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The state as bytes (rkyv's archive of its entries).
    pub fn snapshot(&self) -> Result<Vec<u8>, StateError> {
        rkyv::to_bytes::<rkyv::rancor::Error>(&self.map)
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
        Ok(Self { map })
    }
}
