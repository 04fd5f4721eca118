//! [`IdGen`]: random root and edge ids.

/// A per-worker xorshift64* generator for root and edge ids (never 0).
#[derive(Clone, Debug)]
pub(crate) struct IdGen(u64);

impl IdGen {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    pub(crate) fn next_id(&mut self) -> u64 {
        loop {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let id = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
            if id != 0 {
                return id;
            }
        }
    }
}
