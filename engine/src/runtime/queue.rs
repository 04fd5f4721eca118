//! [`ByteQueue`]: a FIFO of archived records for one thread's own use: the
//! same-thread delivery queue (tuples to a task on the emitting thread skip
//! the rings) and each outbound ring's overflow when the ring is full.

use gale_codec::AlignedVec;

use crate::TaskId;

/// Per-record header: destination task and payload length.
const HEADER: usize = 8;

/// A growable FIFO of `(destination task, archived tuple)` records. Every
/// payload starts 8-aligned, so it can be read in place.
#[derive(Default)]
pub(crate) struct ByteQueue {
    buf: AlignedVec<16>,
    read: usize,
    len: usize,
}

impl ByteQueue {
    /// Appends a record of at most `max_len` bytes written by `write`, which
    /// returns how many bytes it used. On error nothing is appended.
    pub(crate) fn push_with<E>(
        &mut self,
        dest: TaskId,
        max_len: usize,
        write: impl FnOnce(&mut [u8]) -> Result<usize, E>,
    ) -> Result<(), E> {
        let start = self.buf.len();
        self.buf.resize(start + HEADER + max_len, 0);
        match write(&mut self.buf[start + HEADER..]) {
            Ok(used) => {
                self.buf[start..start + 4].copy_from_slice(&dest.to_le_bytes());
                self.buf[start + 4..start + 8].copy_from_slice(&(used as u32).to_le_bytes());
                self.buf
                    .resize(start + HEADER + used.next_multiple_of(8), 0);
                self.len += 1;
                Ok(())
            }
            Err(e) => {
                self.buf.resize(start, 0);
                Err(e)
            }
        }
    }

    /// The oldest record.
    pub(crate) fn front(&self) -> Option<(TaskId, &[u8])> {
        if self.len == 0 {
            return None;
        }
        let h = &self.buf[self.read..self.read + HEADER];
        let dest = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
        let len = u32::from_le_bytes([h[4], h[5], h[6], h[7]]) as usize;
        let start = self.read + HEADER;
        Some((dest, &self.buf[start..start + len]))
    }

    /// Drops the oldest record.
    pub(crate) fn pop(&mut self) {
        if let Some((_, payload)) = self.front() {
            self.read += HEADER + payload.len().next_multiple_of(8);
            self.len -= 1;
            if self.len == 0 {
                self.buf.clear();
                self.read = 0;
            }
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Bytes held (for backpressure decisions).
    pub(crate) fn bytes(&self) -> usize {
        self.buf.len() - self.read
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_with_aligned_payloads() {
        let mut q = ByteQueue::default();
        for i in 0..5u32 {
            q.push_with::<()>(i, 32, |b| {
                b[..i as usize].fill(i as u8);
                Ok(i as usize)
            })
            .unwrap();
        }
        assert!(q.push_with(9, 8, |_| Err("no")).is_err());
        assert_eq!(q.len(), 5);
        for i in 0..5u32 {
            let (dest, p) = q.front().unwrap();
            assert_eq!((dest, p.len()), (i, i as usize));
            assert_eq!(p.as_ptr() as usize % 8, 0);
            assert!(p.iter().all(|b| *b == i as u8));
            q.pop();
        }
        assert!(q.is_empty() && q.front().is_none() && q.bytes() == 0);
    }
}
