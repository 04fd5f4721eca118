//! [`RingPrefix`]: the 8 bytes before the archived tuple in every record of
//! a worker's rings (and of the records a link puts into them): the
//! destination task, then a reserved zero word that keeps the tuple
//! 8-aligned. The only place that writes or reads this layout.

use crate::TaskId;

/// The prefix of a ring record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RingPrefix {
    /// The task the record is for.
    pub(crate) dest: TaskId,
}

/// Why a prefix read from untrusted bytes was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PrefixError {
    /// Fewer than [`RingPrefix::LEN`] bytes.
    Short,
    /// The reserved word is not zero (for this destination).
    Reserved(TaskId),
}

impl RingPrefix {
    /// Bytes of the prefix; the archived tuple starts right after it.
    pub(crate) const LEN: usize = 8;

    /// Writes the prefix into the first [`LEN`](Self::LEN) bytes of
    /// `record` (which has at least that many).
    #[inline]
    pub(crate) fn write(self, record: &mut [u8]) {
        record[..Self::LEN].copy_from_slice(&u64::from(self.dest).to_le_bytes());
    }

    /// Reads the prefix of a record of our own rings (written by
    /// [`write`](Self::write) or checked by [`read_checked`](Self::read_checked));
    /// returns it and the archived tuple after it.
    #[inline]
    pub(crate) fn read(record: &[u8]) -> (Self, &[u8]) {
        let (head, tuple) = record.split_at(Self::LEN);
        let dest = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        (Self { dest }, tuple)
    }

    /// Reads the prefix of untrusted bytes: there must be a whole prefix
    /// and its reserved word must be zero.
    pub(crate) fn read_checked(record: &[u8]) -> Result<(Self, &[u8]), PrefixError> {
        if record.len() < Self::LEN {
            return Err(PrefixError::Short);
        }
        let (prefix, tuple) = Self::read(record);
        if record[4..Self::LEN] != [0; 4] {
            return Err(PrefixError::Reserved(prefix.dest));
        }
        Ok((prefix, tuple))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_reads_back() {
        let mut record = [0xa5u8; 12];
        RingPrefix { dest: 0x0102_0304 }.write(&mut record);
        assert_eq!(&record[..8], &[4, 3, 2, 1, 0, 0, 0, 0]);
        let (prefix, tuple) = RingPrefix::read(&record);
        assert_eq!(prefix.dest, 0x0102_0304);
        assert_eq!(tuple, &[0xa5; 4]);
        assert_eq!(RingPrefix::read_checked(&record).unwrap().0, prefix);
    }

    #[test]
    fn refuses_short_or_reserved() {
        assert_eq!(
            RingPrefix::read_checked(&[1, 2, 3]),
            Err(PrefixError::Short)
        );
        let mut record = [0u8; 8];
        RingPrefix { dest: 7 }.write(&mut record);
        record[6] = 1;
        assert_eq!(
            RingPrefix::read_checked(&record),
            Err(PrefixError::Reserved(7))
        );
    }
}
