//! The receive buffer of a connection: 8-aligned, bounded, compacting.

use gale_codec::AlignedVec;

/// Bytes received but not yet consumed, stored 8-aligned so frames are
/// validated and read in place.
pub(crate) struct RecvBuf {
    bytes: AlignedVec<16>,
    start: usize,
    end: usize,
    limit: usize,
}

impl RecvBuf {
    /// A buffer of `initial` bytes that may grow to `limit` bytes.
    pub fn new(initial: usize, limit: usize) -> Self {
        let mut bytes = AlignedVec::new();
        bytes.resize(initial.next_multiple_of(8), 0);
        RecvBuf {
            bytes,
            start: 0,
            end: 0,
            limit: limit.next_multiple_of(8),
        }
    }

    fn capacity(&self) -> usize {
        self.bytes.len()
    }

    /// The received, unconsumed bytes; they start 8-aligned whenever every
    /// consumed length was a multiple of 8.
    pub fn filled(&self) -> &[u8] {
        &self.bytes.as_slice()[self.start..self.end]
    }

    /// The received, unconsumed bytes, writable (to decrypt in place).
    pub fn filled_mut(&mut self) -> &mut [u8] {
        let (start, end) = (self.start, self.end);
        &mut self.bytes.as_mut_slice()[start..end]
    }

    /// Marks `n` bytes at the front as consumed.
    pub fn consume(&mut self, n: usize) {
        self.start += n;
        debug_assert!(self.start <= self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Makes room for at least `total` unconsumed bytes in all (moving the
    /// unconsumed bytes to the front and growing up to the limit). Returns
    /// false if `total` is over the limit. Must not be called while the
    /// kernel may be writing into [`spare`](Self::spare).
    pub fn make_room(&mut self, total: usize) -> bool {
        if total > self.limit {
            return false;
        }
        if self.start > 0 && (self.capacity() - self.start < total || self.spare_len() == 0) {
            let (start, end) = (self.start, self.end);
            self.bytes.as_mut_slice().copy_within(start..end, 0);
            self.end -= start;
            self.start = 0;
        }
        if self.capacity() < total {
            self.bytes.resize(total.next_multiple_of(8), 0);
        }
        true
    }

    /// Bytes that can be received without moving anything.
    pub fn spare_len(&self) -> usize {
        self.capacity() - self.end
    }

    /// The free space after the unconsumed bytes, to receive into.
    pub fn spare(&mut self) -> &mut [u8] {
        let end = self.end;
        &mut self.bytes.as_mut_slice()[end..]
    }

    /// Marks `n` bytes written into [`spare`](Self::spare) as received.
    pub fn commit(&mut self, n: usize) {
        self.end += n;
        debug_assert!(self.end <= self.capacity());
    }
}

#[cfg(test)]
mod tests {
    use super::RecvBuf;

    #[test]
    fn receives_consumes_and_compacts_within_the_limit() {
        let mut b = RecvBuf::new(16, 32);
        b.spare()[..16].copy_from_slice(&[7; 16]);
        b.commit(16);
        assert_eq!(b.spare_len(), 0);
        b.consume(8);
        assert!(b.make_room(24));
        assert_eq!(b.filled(), &[7; 8]);
        assert_eq!(b.filled().as_ptr() as usize % 8, 0);
        assert!(b.spare_len() >= 16);
        assert!(!b.make_room(40));
    }
}
