//! A stable 64-bit hash of values for fields and partial-key groupings.
//!
//! Stable means the same on every node, in every process and across
//! restarts (no random seed), so a key always maps to the same task in a
//! multi-node cluster. FNV-1a over a type-tagged encoding of each value,
//! finished with a 64-bit avalanche so `hash % n` spreads well.

use gale_codec::Value;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Incremental stable hasher.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StableHasher(u64);

impl StableHasher {
    pub(crate) fn new(seed: u64) -> Self {
        Self(FNV_OFFSET ^ seed.wrapping_mul(FNV_PRIME))
    }

    fn bytes(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(FNV_PRIME);
        }
    }

    pub(crate) fn value(&mut self, v: &Value) {
        match v {
            Value::Null => self.bytes(&[0]),
            Value::Bool(b) => self.bytes(&[1, u8::from(*b)]),
            Value::I64(n) => {
                self.bytes(&[2]);
                self.bytes(&n.to_le_bytes());
            }
            Value::F64(f) => {
                self.bytes(&[3]);
                self.bytes(&f.to_bits().to_le_bytes());
            }
            Value::Str(s) => {
                self.bytes(&[4]);
                self.bytes(&(s.len() as u64).to_le_bytes());
                self.bytes(s.as_bytes());
            }
            Value::Bytes(b) => {
                self.bytes(&[5]);
                self.bytes(&(b.len() as u64).to_le_bytes());
                self.bytes(b);
            }
            Value::List(items) => {
                self.bytes(&[6]);
                self.bytes(&(items.len() as u64).to_le_bytes());
                items.iter().for_each(|i| self.value(i));
            }
            Value::Map(entries) => {
                self.bytes(&[7]);
                self.bytes(&(entries.len() as u64).to_le_bytes());
                for (k, v) in entries {
                    self.bytes(k.as_bytes());
                    self.value(v);
                }
            }
        }
    }

    pub(crate) fn finish(self) -> u64 {
        // splitmix64's finalizer.
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Hash of the values at `indices` (a fields grouping's key).
pub(crate) fn key_hash(values: &[Value], indices: &[usize], seed: u64) -> u64 {
    let mut h = StableHasher::new(seed);
    for &i in indices {
        match values.get(i) {
            Some(v) => h.value(v),
            None => h.bytes(&[0xff]),
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
        // Fixed value: the hash must never change between versions or hosts.
        assert_eq!(
            key_hash(&[Value::from("gale")], &[0], 0),
            0xc8c3_c33e_1c9b_6cd9
        );
    }
}
