//! A stable 64-bit hash of values for fields and partial-key groupings.
//!
//! Stable means the same on every node, in every process and across
//! restarts (no random seed), so a key always maps to the same task in a
//! multi-node cluster. A word at a time: each 8 bytes of a type-tagged,
//! length-prefixed encoding of the values are folded in with a rotate,
//! an xor and a multiply by an odd constant (a bijection of the state per
//! word, so no input is lost along the way), and the result is finished
//! with a 64-bit avalanche so `hash` spreads well over any number of
//! tasks. Not meant to resist chosen keys (no hash of this family is).
//!
//! Values are read through [`KeyValue`], so that an owned [`Value`] and
//! the same value archived in place ([`ArchivedValue`], a forwarded
//! input's) hash alike with one body of code.

use gale_codec::{ArchivedValue, Value};

/// A value as the hash reads it: its kind and, for a scalar, a string or
/// bytes, its content; a list's elements and a map's entries are read
/// through [`KeyValue`] again.
pub(crate) enum Key<'a, V> {
    Null,
    Bool(bool),
    I64(i64),
    F64(f64),
    Str(&'a str),
    Bytes(&'a [u8]),
    List(&'a [V]),
    /// A map with this many entries ([`KeyValue::entries`]).
    Map(usize),
}

/// A value a grouping's key is read from: a [`Value`], or an
/// [`ArchivedValue`] read in place. Both hash alike.
pub(crate) trait KeyValue: Sized {
    /// The value's kind and content.
    fn key(&self) -> Key<'_, Self>;
    /// A map's entries, in order (nothing for another kind).
    fn entries(&self) -> impl Iterator<Item = (&str, &Self)>;
}

impl KeyValue for Value {
    #[inline(always)]
    fn key(&self) -> Key<'_, Self> {
        match self {
            Value::Null => Key::Null,
            Value::Bool(b) => Key::Bool(*b),
            Value::I64(n) => Key::I64(*n),
            Value::F64(f) => Key::F64(*f),
            Value::Str(s) => Key::Str(s),
            Value::Bytes(b) => Key::Bytes(b),
            Value::List(items) => Key::List(items),
            Value::Map(entries) => Key::Map(entries.len()),
        }
    }

    fn entries(&self) -> impl Iterator<Item = (&str, &Self)> {
        let entries: &[(String, Value)] = match self {
            Value::Map(entries) => entries,
            _ => &[],
        };
        entries.iter().map(|(k, v)| (k.as_str(), v))
    }
}

impl KeyValue for ArchivedValue {
    #[inline(always)]
    fn key(&self) -> Key<'_, Self> {
        match self {
            ArchivedValue::Null => Key::Null,
            ArchivedValue::Bool(b) => Key::Bool(*b),
            ArchivedValue::I64(n) => Key::I64(n.to_native()),
            ArchivedValue::F64(f) => Key::F64(f.to_native()),
            ArchivedValue::Str(s) => Key::Str(s.as_str()),
            ArchivedValue::Bytes(b) => Key::Bytes(b.as_slice()),
            ArchivedValue::List(items) => Key::List(items.as_slice()),
            ArchivedValue::Map(entries) => Key::Map(entries.len()),
        }
    }

    fn entries(&self) -> impl Iterator<Item = (&str, &Self)> {
        self.map_entries().into_iter().flatten()
    }
}

const SEED: u64 = 0xcbf2_9ce4_8422_2325;
const MUL: u64 = 0x9e37_79b9_7f4a_7c15;

#[derive(Clone, Copy, Debug)]
pub(crate) struct StableHasher(u64);

impl StableHasher {
    pub(crate) fn new(seed: u64) -> Self {
        Self(SEED ^ seed.wrapping_mul(MUL))
    }

    #[inline]
    fn word(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(26) ^ w).wrapping_mul(MUL);
    }

    /// A type tag with a length (or payload) in the same word.
    #[inline]
    fn tagged(&mut self, tag: u8, n: u64) {
        self.word(u64::from(tag) | n << 8);
    }

    /// `bytes`, 8 at a time, the last few zero-filled (the caller hashed
    /// their length first, so no two inputs share the padded words). Up
    /// to 16 bytes (most keys: words, ids) without a loop: the same words.
    #[inline]
    fn bytes(&mut self, bytes: &[u8]) {
        match bytes.len() {
            0 => {}
            1..=8 => self.word(gale_codec::le_word(bytes)),
            9..=16 => {
                let (first, rest) = bytes.split_at(8);
                self.word(u64::from_le_bytes(first.try_into().expect("8 bytes")));
                self.word(gale_codec::le_word(rest));
            }
            _ => self.long_bytes(bytes),
        }
    }

    /// [`bytes`](Self::bytes) of more than 16.
    #[inline(never)]
    fn long_bytes(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            let mut b = [0u8; 8];
            b.copy_from_slice(w);
            self.word(u64::from_le_bytes(b));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            self.word(gale_codec::le_word(rest));
        }
    }

    /// Hashes one value: inline for the values a key usually is (a
    /// string, an integer), out of line for the others.
    #[inline(always)]
    pub(crate) fn value<V: KeyValue>(&mut self, v: &V) {
        match v.key() {
            Key::Str(s) => {
                self.tagged(4, s.len() as u64);
                self.bytes(s.as_bytes());
            }
            Key::I64(n) => {
                self.tagged(2, 0);
                self.word(n as u64);
            }
            _ => self.other_value(v),
        }
    }

    /// [`value`](Self::value) of any value (the same words for a string
    /// or an integer).
    #[inline(never)]
    fn other_value<V: KeyValue>(&mut self, v: &V) {
        match v.key() {
            Key::Null => self.tagged(0, 0),
            Key::Bool(b) => self.tagged(1, u64::from(b)),
            Key::I64(n) => {
                self.tagged(2, 0);
                self.word(n as u64);
            }
            Key::F64(f) => {
                self.tagged(3, 0);
                self.word(f.to_bits());
            }
            Key::Str(s) => {
                self.tagged(4, s.len() as u64);
                self.bytes(s.as_bytes());
            }
            Key::Bytes(b) => {
                self.tagged(5, b.len() as u64);
                self.bytes(b);
            }
            Key::List(items) => {
                self.tagged(6, items.len() as u64);
                items.iter().for_each(|i| self.value(i));
            }
            Key::Map(len) => {
                self.tagged(7, len as u64);
                for (k, v) in v.entries() {
                    self.tagged(8, k.len() as u64);
                    self.bytes(k.as_bytes());
                    self.value(v);
                }
            }
        }
    }

    #[inline(always)]
    pub(crate) fn finish(self) -> u64 {
        // splitmix64's finalizer.
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Which of `n` buckets (`n > 0`) `hash` falls in: the high 64 bits of
/// `hash * n`, a multiply instead of a division (Lemire's reduction),
/// as even as `hash % n` for a well-mixed hash.
#[inline]
pub(crate) fn bucket(hash: u64, n: usize) -> usize {
    ((u128::from(hash) * n as u128) >> 64) as usize
}

/// Hash of the values at `indices` (a fields grouping's key).
#[inline(always)]
pub(crate) fn key_hash<V: KeyValue>(values: &[V], indices: &[usize], seed: u64) -> u64 {
    let mut h = StableHasher::new(seed);
    for &i in indices {
        match values.get(i) {
            Some(v) => h.value(v),
            None => h.tagged(0xff, 0),
        }
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_and_type_tagged() {
        let a = [Value::from("x"), Value::I64(1)];
        assert_eq!(key_hash(&a, &[0], 0), key_hash(&a, &[0], 0));
        assert_ne!(key_hash(&a, &[0], 0), key_hash(&a, &[0], 1));
        // A string and bytes with the same content hash differently.
        let b = [Value::Bytes(b"x".to_vec())];
        assert_ne!(key_hash(&a, &[0], 0), key_hash(&b, &[0], 0));
        // Fixed value: the hash must not change between hosts, and only
        // with the plan's version line (`cluster::canonical`).
        assert_eq!(
            key_hash(&[Value::from("gale")], &[0], 0),
            0xe583_a7cb_bc94_faae
        );
        // Every byte counts, at any length and position.
        let words: Vec<String> = (0..40).map(|n| "a".repeat(n)).collect();
        let mut seen = std::collections::HashSet::new();
        for w in &words {
            assert!(seen.insert(key_hash(&[Value::from(w.as_str())], &[0], 0)));
            for i in 0..w.len() {
                let mut b = w.clone().into_bytes();
                b[i] = b'b';
                let v = Value::from(String::from_utf8(b).unwrap());
                assert!(seen.insert(key_hash(&[v], &[0], 0)), "{w:?} at {i}");
            }
        }
    }

    #[test]
    fn keys_spread_evenly_over_any_number_of_tasks() {
        // 60,000 distinct word-like keys (short, similar strings and
        // integers): every bucket within 5 % of an even share.
        let keys: Vec<Value> = (0..30_000)
            .map(|i| Value::from(format!("w{i}")))
            .chain((0..30_000).map(|i| Value::I64(i * 1000)))
            .collect();
        for n in [2, 3, 4, 7, 10, 16, 33] {
            let mut counts = vec![0u32; n];
            for k in &keys {
                counts[bucket(key_hash(std::slice::from_ref(k), &[0], 0), n)] += 1;
            }
            let even = keys.len() as f64 / n as f64;
            for c in &counts {
                assert!(
                    (f64::from(*c) - even).abs() < even * 0.05,
                    "{n} tasks: {counts:?}"
                );
            }
        }
    }

    fn any_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::I64),
            any::<f64>().prop_map(Value::F64),
            ".{0,24}".prop_map(Value::Str),
            proptest::collection::vec(any::<u8>(), 0..24).prop_map(Value::Bytes),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::List),
                proptest::collection::vec((".{0,6}", inner), 0..4).prop_map(Value::Map),
            ]
        })
    }

    proptest::proptest! {
        /// A key read in place from an archived tuple (a forwarded input)
        /// hashes as the same key built as `Value`s, so both go to the
        /// same task.
        #[test]
        fn archived_values_hash_as_owned_ones(
            values in proptest::collection::vec(any_value(), 0..5),
            key in proptest::collection::vec(0usize..6, 1..4),
            seed in proptest::prelude::any::<u64>(),
        ) {
            let header = gale_codec::Header::default();
            let mut buf = gale_codec::AlignedVec::<16>::new();
            buf.resize(1 << 16, 0);
            let tuple = gale_codec::TupleRef { header: &header, values: &values };
            let len = gale_codec::Encoder::new().encode_into(tuple, &mut buf).unwrap();
            let view = gale_codec::view_checked(&buf[..len]).unwrap();
            proptest::prop_assert_eq!(
                key_hash(view.values(), &key, seed),
                key_hash(&values, &key, seed)
            );
        }
    }
}
