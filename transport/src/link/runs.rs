//! [`Runs`]: delivering a validated record batch (a frame's body from a TCP
//! peer, or a batch from a same-host peer's ring) into the workers'
//! inbound rings. Each run of consecutive records for one worker goes into
//! that worker's ring as one ring record: one reservation and one copy,
//! since the records already have the layout of an inbound batch
//! ([`InboundRecords`](super::InboundRecords)). The runs are found while
//! the records are validated ([`WorkerRuns::push`], a comparison and two
//! additions per record), so that the delivery is paid per run, not per
//! record. A run ends before it would outgrow the largest record the rings
//! take ([`WorkerRuns::reset`]), so that delivering it needs no second walk
//! over its records' headers. A full ring pauses the delivery at its run;
//! [`Runs::deliver`] resumes there.

use crate::{Producer, ReserveError};

/// The workers of a record batch's records, in order, as runs of
/// consecutive records for one worker: what an
/// [`InboundRoute`](super::InboundRoute) fills as it validates a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerRuns {
    runs: Vec<Run>,
    /// Records over all runs.
    records: usize,
    /// The most bytes a run takes (unless one record alone takes more).
    limit: usize,
}

impl Default for WorkerRuns {
    fn default() -> Self {
        Self {
            runs: Vec::new(),
            records: 0,
            limit: usize::MAX,
        }
    }
}

/// Consecutive records of a batch for one worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    worker: u32,
    /// How many.
    records: usize,
    /// The bytes they take in the batch, their record headers and
    /// padding included.
    bytes: usize,
}

impl WorkerRuns {
    /// No records.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets every record; the runs of the next records end before
    /// they would take more than `limit` bytes (the largest record the
    /// workers' rings take), so that each goes into its ring whole.
    pub fn reset(&mut self, limit: usize) {
        self.runs.clear();
        self.records = 0;
        self.limit = limit;
    }

    /// Appends the next record of the batch, `record` (its bytes, without
    /// its record header), for `worker`.
    #[inline]
    pub fn push(&mut self, worker: u32, record: &[u8]) {
        let bytes = gale_codec::BodyRecords::one_len(record);
        self.records += 1;
        match self.runs.last_mut() {
            Some(run) if run.worker == worker && run.bytes + bytes <= self.limit => {
                run.records += 1;
                run.bytes += bytes;
            }
            _ => self.runs.push(Run {
                worker,
                records: 1,
                bytes,
            }),
        }
    }

    /// How many records were pushed.
    pub fn len(&self) -> usize {
        self.records
    }

    /// `true` before the first [`push`](Self::push).
    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// Each record's worker, in order.
    pub fn workers(&self) -> impl Iterator<Item = u32> + '_ {
        self.runs
            .iter()
            .flat_map(|run| std::iter::repeat_n(run.worker, run.records))
    }

    /// The index of the first record whose worker is `workers` or more,
    /// with that worker.
    pub fn first_beyond(&self, workers: usize) -> Option<(usize, u32)> {
        let mut index = 0;
        for run in &self.runs {
            if run.worker as usize >= workers {
                return Some((index, run.worker));
            }
            index += run.records;
        }
        None
    }
}

/// Where the delivery of one record batch stands: its records' runs, the
/// next run (and how much of it is delivered) and where its next record
/// starts.
#[derive(Debug, Default)]
pub(super) struct Runs {
    /// The batch's records by worker (filled by the caller as it
    /// validates the records).
    pub targets: WorkerRuns,
    /// The next run to deliver.
    run: usize,
    /// Records and bytes of that run delivered already (it did not fit
    /// its ring's record limit whole).
    done: (usize, usize),
    /// Records delivered so far.
    delivered: usize,
    /// Where the next record starts in the bytes given to
    /// [`deliver`](Self::deliver).
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
    /// The run limit for the rings of `inbound` ([`WorkerRuns::reset`]):
    /// the largest record every one of them takes.
    pub fn limit_of(inbound: &[Producer]) -> usize {
        inbound
            .iter()
            .map(Producer::max_record)
            .min()
            .unwrap_or(usize::MAX)
    }

    /// Starts delivering a batch whose first record is at `pos` of the
    /// bytes [`deliver`](Self::deliver) will get;
    /// [`targets`](Self::targets) names each record's worker.
    pub fn start(&mut self, pos: usize) {
        self.run = 0;
        self.done = (0, 0);
        self.delivered = 0;
        self.pos = pos;
    }

    /// Records delivered so far.
    pub fn delivered(&self) -> usize {
        self.delivered
    }

    /// Copies the batch's remaining records, run by run, into the rings
    /// of `inbound` (indexed by worker; every target must be one). A run
    /// longer than its ring's largest record (a limit above the ring's
    /// given to [`WorkerRuns::reset`]) is cut at its records' headers.
    /// `bytes` holds the batch at the position given to
    /// [`start`](Self::start), with headers already checked and the runs'
    /// lengths theirs. Returns whether every record is delivered
    /// (`false`: a ring is full; call again once the worker has drained
    /// it).
    pub fn deliver(&mut self, bytes: &[u8], inbound: &mut [Producer]) -> Result<bool, TooLarge> {
        while let Some(&run) = self.targets.runs.get(self.run) {
            let ring = &mut inbound[run.worker as usize];
            let max = ring.max_record();
            let (done_records, done_bytes) = self.done;
            let (mut n, mut len) = (run.records - done_records, run.bytes - done_bytes);
            if len > max {
                // More than one ring record takes: as many records as fit.
                (n, len) = (0, 0);
                while n < run.records - done_records {
                    let h = &bytes[self.pos + len..self.pos + len + 8];
                    let one = 8
                        + (u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize)
                            .next_multiple_of(8);
                    if len + one > max {
                        break;
                    }
                    (n, len) = (n + 1, len + one);
                }
            }
            if n == 0 {
                return Err(TooLarge {
                    index: self.delivered,
                    worker: run.worker,
                    max,
                });
            }
            match ring.try_reserve(len) {
                Ok(mut slot) => {
                    slot.copy_from_slice(&bytes[self.pos..self.pos + len]);
                    slot.commit();
                }
                Err(ReserveError::Full) => return Ok(false),
                Err(ReserveError::TooLarge { .. }) => {
                    return Err(TooLarge {
                        index: self.delivered,
                        worker: run.worker,
                        max,
                    })
                }
            }
            self.pos += len;
            self.delivered += n;
            if done_records + n == run.records {
                self.run += 1;
                self.done = (0, 0);
            } else {
                self.done = (done_records + n, done_bytes + len);
            }
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ring, Consumer, RingConfig};

    /// A batch of records of `lens` bytes each (each record's bytes are its
    /// index), laid out as an inbound batch.
    fn batch(lens: &[usize]) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, &len) in lens.iter().enumerate() {
            let record = vec![i as u8; len];
            let mut one = vec![0; gale_codec::BodyRecords::one_len(&record)];
            gale_codec::BodyRecords::write_one(i as u32, &record, &mut one);
            out.extend_from_slice(&one);
        }
        out
    }

    /// Each ring record `consumer` holds, as the tags of its records.
    fn drain(consumer: &mut Consumer) -> Vec<Vec<u32>> {
        let mut read = consumer.try_read_batch(usize::MAX);
        let out = read
            .records()
            .map(|r| {
                gale_codec::BodyRecords::new(r)
                    .map(|(tag, _)| tag)
                    .collect()
            })
            .collect();
        drop(read);
        out
    }

    /// The runs of records of `lens` bytes for `workers`, cut at `limit`
    /// bytes.
    fn runs_of(lens: &[usize], workers: &[u32], limit: usize) -> Runs {
        let bytes = batch(lens);
        let mut runs = Runs::default();
        runs.targets.reset(limit);
        for (record, &w) in gale_codec::BodyRecords::new(&bytes).zip(workers) {
            runs.targets.push(w, record.1);
        }
        runs.start(0);
        runs
    }

    #[test]
    fn consecutive_records_for_one_worker_are_one_run() {
        let mut runs = WorkerRuns::new();
        for (w, len) in [(0, 3), (0, 9), (1, 0), (0, 8), (0, 1)] {
            runs.push(w, &vec![0; len]);
        }
        assert_eq!(runs.len(), 5);
        assert_eq!(runs.workers().collect::<Vec<_>>(), [0, 0, 1, 0, 0]);
        assert_eq!(runs.runs.len(), 3);
        assert_eq!(runs.runs[0].bytes, 16 + 24);
        assert_eq!(runs.first_beyond(2), None);
        assert_eq!(runs.first_beyond(1), Some((2, 1)));
        runs.reset(usize::MAX);
        assert!(runs.is_empty());
        assert_eq!(runs.workers().count(), 0);
    }

    #[test]
    fn each_run_is_one_ring_record_in_order() {
        let (p0, mut c0) = ring(RingConfig::new(1 << 12).with_batch(1)).unwrap();
        let (p1, mut c1) = ring(RingConfig::new(1 << 12).with_batch(1)).unwrap();
        let lens = [5, 0, 17, 8, 3, 40];
        let mut runs = runs_of(&lens, &[1, 1, 0, 0, 1, 1], usize::MAX);
        let bytes = batch(&lens);
        let mut inbound = [p0, p1];
        assert!(runs.deliver(&bytes, &mut inbound).unwrap());
        assert_eq!(runs.delivered(), 6);
        assert_eq!(drain(&mut c0), [vec![2, 3]]);
        assert_eq!(drain(&mut c1), [vec![0, 1], vec![4, 5]]);
    }

    #[test]
    fn a_run_longer_than_a_ring_record_is_split_and_a_full_ring_resumed() {
        // Records of 16 + 8 bytes; at most 64 bytes (two records) per
        // ring record, and room for four ring records of two. Cut while
        // pushed (the limit of the ring) or while delivered (no limit),
        // the ring records are the same.
        for limit in [64, usize::MAX] {
            let config = RingConfig::new(256).with_max_record(64).with_batch(1);
            let (p, mut c) = ring(config).unwrap();
            let mut inbound = [p];
            let lens = [16; 11];
            let bytes = batch(&lens);
            let mut runs = runs_of(&lens, &[0; 11], limit);
            if limit == 64 {
                assert_eq!(Runs::limit_of(&inbound), 64);
                assert_eq!(runs.targets.runs.len(), 6);
            }
            let mut got = Vec::new();
            let mut rounds = 0;
            while !runs.deliver(&bytes, &mut inbound).unwrap() {
                got.extend(drain(&mut c));
                rounds += 1;
                assert!(rounds < 10, "no progress");
            }
            got.extend(drain(&mut c));
            assert!(rounds > 0, "the ring never filled");
            assert_eq!(runs.delivered(), 11);
            assert!(got.iter().all(|r| r.len() <= 2), "{got:?}");
            assert_eq!(got.concat(), (0..11).collect::<Vec<u32>>());
        }
    }

    #[test]
    fn a_record_longer_than_the_limit_is_a_run_of_its_own() {
        let mut runs = WorkerRuns::new();
        runs.reset(64);
        for len in [8, 100, 8, 8] {
            runs.push(0, &vec![0; len]);
        }
        let lens: Vec<_> = runs.runs.iter().map(|r| (r.records, r.bytes)).collect();
        assert_eq!(lens, [(1, 16), (1, 112), (2, 32)]);
    }

    #[test]
    fn a_record_larger_than_its_rings_limit_is_named() {
        let config = RingConfig::new(1 << 12).with_max_record(64);
        let (p, _c) = ring(config).unwrap();
        let mut inbound = [p];
        let lens = [8, 8, 100];
        let bytes = batch(&lens);
        let mut runs = runs_of(&lens, &[0, 0, 0], usize::MAX);
        match runs.deliver(&bytes, &mut inbound) {
            Err(TooLarge { index, worker, max }) => {
                assert_eq!((index, worker, max), (2, 0, 64));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(runs.delivered(), 2);
    }
}
