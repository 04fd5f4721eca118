//! [`Runs`]: delivering a validated record batch (a frame's body from a TCP
//! peer, or a batch from a same-host peer's ring) into the workers'
//! inbound rings. Each run of consecutive records for one worker goes into
//! that worker's ring as one ring record: one reservation and one copy,
//! since the records already have the layout of an inbound batch
//! ([`InboundRecords`](super::InboundRecords)). A full ring pauses the
//! delivery at its run; [`Runs::deliver`] resumes there.

use crate::{Producer, ReserveError};

/// Where the delivery of one record batch stands: the worker of each of
/// its records, the next record and where it starts.
#[derive(Debug, Default)]
pub(super) struct Runs {
    /// The worker of each record of the batch, in order (filled by the
    /// caller as it validates the records).
    pub targets: Vec<u32>,
    /// The next record to deliver.
    next: usize,
    /// Where it starts in the bytes given to [`deliver`](Self::deliver).
    pos: usize,
}

/// A record that does not fit its worker's ring.
#[derive(Debug)]
pub(super) struct TooLarge {
    /// Its index in the batch.
    pub index: usize,
    /// The worker.
    pub worker: u32,
    /// The ring's record limit.
    pub max: usize,
}

impl Runs {
    /// Starts delivering a batch whose first record is at `pos` of the
    /// bytes [`deliver`](Self::deliver) will get; [`targets`](Self::targets)
    /// names each record's worker.
    pub fn start(&mut self, pos: usize) {
        self.next = 0;
        self.pos = pos;
    }

    /// Records delivered so far.
    pub fn delivered(&self) -> usize {
        self.next
    }

    /// Copies the batch's remaining records, run by run, into the rings
    /// of `inbound` (indexed by worker; every target must be one).
    /// `bytes` holds the batch at the position given to
    /// [`start`](Self::start), with headers already checked. Returns
    /// whether every record is delivered (`false`: a ring is full; call
    /// again once the worker has drained it).
    pub fn deliver(&mut self, bytes: &[u8], inbound: &mut [Producer]) -> Result<bool, TooLarge> {
        while let Some(&target) = self.targets.get(self.next) {
            let ring = &mut inbound[target as usize];
            let max = ring.max_record();
            let (mut end, mut n) = (self.pos, 0);
            while self.targets.get(self.next + n) == Some(&target) {
                let h = &bytes[end..end + 8];
                let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
                let next = end + 8 + len.next_multiple_of(8);
                if next - self.pos > max {
                    break;
                }
                (end, n) = (next, n + 1);
            }
            let too_large = TooLarge {
                index: self.next,
                worker: target,
                max,
            };
            if n == 0 {
                return Err(too_large);
            }
            match ring.try_reserve(end - self.pos) {
                Ok(mut slot) => {
                    slot.copy_from_slice(&bytes[self.pos..end]);
                    slot.commit();
                }
                Err(ReserveError::Full) => return Ok(false),
                Err(ReserveError::TooLarge { .. }) => return Err(too_large),
            }
            self.pos = end;
            self.next += n;
        }
        Ok(true)
    }
}
