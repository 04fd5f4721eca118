//! [`Outbox`]: where a worker's archived tuples go. Each tuple is archived
//! once, straight into the destination thread's outbound ring (or, when
//! that ring is full, into its overflow queue, drained as the ring frees
//! up), or into this thread's local queue for a task of its own.

use gale_codec::{encoded_len_bound, EncodeError, Encoder, Header, TupleRef, Value};
use gale_transport::{Producer, ReserveError};

use super::queue::ByteQueue;
use super::record::RingPrefix;
use crate::TaskId;

/// One outbound ring to another worker thread, with the records that did
/// not fit yet.
pub(crate) struct Outbound {
    pub(crate) ring: Producer,
    pub(crate) overflow: ByteQueue,
}

impl Outbound {
    /// A ring with an empty overflow.
    pub(crate) fn new(ring: Producer) -> Self {
        Self {
            ring,
            overflow: ByteQueue::default(),
        }
    }

    /// Moves overflowed records into the ring while it has room; returns
    /// how many moved.
    fn drain_overflow(&mut self) -> usize {
        let mut moved = 0;
        while let Some((dest, payload)) = self.overflow.front() {
            let Ok(mut slot) = self.ring.try_reserve(RingPrefix::LEN + payload.len()) else {
                break;
            };
            RingPrefix { dest }.write(&mut slot);
            slot[RingPrefix::LEN..].copy_from_slice(payload);
            slot.commit();
            self.overflow.pop();
            moved += 1;
        }
        moved
    }
}

/// Why a tuple could not be delivered.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DeliverError {
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error("the archived tuple needs {len} bytes; rings carry at most {max} (raise ring_bytes)")]
    TooLarge { len: usize, max: usize },
}

/// A worker's outbound rings, their overflows and its local queue.
pub(crate) struct Outbox {
    thread: usize,
    /// Worker thread of each task, indexed by task id.
    thread_of: Vec<usize>,
    encoder: Encoder,
    /// Indexed by destination thread; `None` for this thread.
    outbound: Vec<Option<Outbound>>,
    local: ByteQueue,
    /// Records handed to a queue or ring (for termination detection).
    sent: u64,
    /// Some outbound ring has an overflow (kept so the check per spout
    /// call is one load).
    overflowing: bool,
    /// The header of system messages (acker traffic).
    system: Header,
}

impl Outbox {
    /// The outbox of worker `thread`, whose tasks' threads are `thread_of`
    /// (by task id) and whose rings to the other threads are `outbound`.
    pub(crate) fn new(
        thread: usize,
        thread_of: Vec<usize>,
        outbound: Vec<Option<Outbound>>,
    ) -> Self {
        Self {
            thread,
            thread_of,
            encoder: Encoder::new(),
            outbound,
            local: ByteQueue::default(),
            sent: 0,
            overflowing: false,
            system: Header::default(),
        }
    }

    /// The worker thread that runs task `dest` (this one for an unknown
    /// task, which then fails as a missing task where it is executed).
    #[inline]
    pub(crate) fn thread_of(&self, dest: TaskId) -> usize {
        self.thread_of
            .get(dest as usize)
            .copied()
            .unwrap_or(self.thread)
    }

    /// Records handed to a ring or queue so far.
    pub(crate) fn sent(&self) -> u64 {
        self.sent
    }

    /// The same-thread queue, for the worker to run.
    pub(crate) fn local_mut(&mut self) -> &mut ByteQueue {
        &mut self.local
    }

    /// Whether emits are piling up locally (ring overflow or a long local
    /// queue): spouts are not polled while this holds.
    #[inline]
    pub(crate) fn blocked(&self) -> bool {
        const LOCAL_LIMIT: usize = 1 << 20;
        self.overflowing || self.local.bytes() > LOCAL_LIMIT
    }

    /// Bytes waiting in the overflow queues.
    pub(crate) fn overflow_bytes(&self) -> usize {
        self.outbound
            .iter()
            .flatten()
            .map(|o| o.overflow.bytes())
            .sum()
    }

    /// Publishes every committed record of every outbound ring.
    pub(crate) fn flush(&mut self) {
        for out in self.outbound.iter_mut().flatten() {
            out.ring.flush();
        }
    }

    /// Moves overflowed records into their rings where there is room;
    /// returns whether any moved.
    pub(crate) fn drain_overflows(&mut self) -> bool {
        if !self.overflowing {
            return false;
        }
        let mut moved = false;
        let mut left = false;
        for out in self.outbound.iter_mut().flatten() {
            moved |= out.drain_overflow() > 0;
            left |= !out.overflow.is_empty();
        }
        self.overflowing = left;
        moved
    }

    /// Sends a system message (`values` = one bytes field) to `dest`,
    /// split into as many messages as it takes for each to fit in a ring
    /// record; `bytes` holds whole records of `record` bytes each.
    pub(crate) fn deliver_system(
        &mut self,
        dest: TaskId,
        stream: u32,
        bytes: Vec<u8>,
        record: usize,
    ) {
        /// Room for the tuple around the bytes: ring prefix, archived root
        /// and value, padding.
        const OVERHEAD: usize = 128;
        let max_record = self
            .outbound
            .iter()
            .flatten()
            .map(|o| o.ring.max_record())
            .min()
            .unwrap_or(usize::MAX);
        let per_message = (max_record.saturating_sub(OVERHEAD) / record).max(1) * record;
        let mut header = std::mem::take(&mut self.system);
        header.stream = stream;
        let mut send = |chunk: Vec<u8>| {
            let values = [Value::Bytes(chunk)];
            let tuple = TupleRef {
                header: &header,
                values: &values,
            };
            let thread = self.thread_of(dest);
            if let Err(e) = self.deliver(dest, thread, tuple) {
                // Only a ring too small for a single record gets here.
                tracing::error!(dest, "cannot deliver acker traffic: {e}");
            }
        };
        if bytes.len() <= per_message {
            send(bytes);
        } else {
            bytes.chunks(per_message).for_each(|c| send(c.to_vec()));
        }
        self.system = header;
    }

    /// Archives `tuple` once for task `dest` on worker `thread`: into that
    /// thread's ring, its overflow, or this thread's local queue.
    #[inline]
    pub(crate) fn deliver(
        &mut self,
        dest: TaskId,
        thread: usize,
        tuple: TupleRef<'_>,
    ) -> Result<(), DeliverError> {
        /// First try this much room in a ring: most tuples fit, and it
        /// saves computing the exact bound.
        const GUESS: usize = 256;
        let encoder = &mut self.encoder;
        let Some(out) = self.outbound.get_mut(thread).and_then(Option::as_mut) else {
            return self.push_local(dest, tuple);
        };
        if out.overflow.is_empty() {
            if let Ok(mut slot) = out.ring.try_reserve(RingPrefix::LEN + GUESS) {
                if let Ok(used) = encoder.encode_into(tuple, &mut slot[RingPrefix::LEN..]) {
                    RingPrefix { dest }.write(&mut slot);
                    slot.commit_len(RingPrefix::LEN + used);
                    self.sent += 1;
                    return Ok(());
                }
                // Larger than the guess: the slot is abandoned unpublished.
            }
        }
        self.deliver_slow(dest, thread, tuple)
    }

    /// Archives `tuple` into this thread's local queue.
    fn push_local(&mut self, dest: TaskId, tuple: TupleRef<'_>) -> Result<(), DeliverError> {
        let encoder = &mut self.encoder;
        let encode = |buf: &mut [u8]| encoder.encode_into(tuple, buf);
        self.local
            .push_with(dest, encoded_len_bound(tuple)?, encode)?;
        self.sent += 1;
        Ok(())
    }

    /// [`deliver`](Self::deliver) for a tuple larger than the first guess
    /// or a ring that is full or overflowing.
    #[cold]
    fn deliver_slow(
        &mut self,
        dest: TaskId,
        thread: usize,
        tuple: TupleRef<'_>,
    ) -> Result<(), DeliverError> {
        let bound = encoded_len_bound(tuple)?;
        let encoder = &mut self.encoder;
        let mut encode = |buf: &mut [u8]| encoder.encode_into(tuple, buf);
        let Some(out) = self.outbound.get_mut(thread).and_then(Option::as_mut) else {
            return self.push_local(dest, tuple);
        };
        if out.overflow.is_empty() {
            match out.ring.try_reserve(RingPrefix::LEN + bound) {
                Ok(mut slot) => {
                    RingPrefix { dest }.write(&mut slot);
                    let used = encode(&mut slot[RingPrefix::LEN..])?;
                    slot.commit_len(RingPrefix::LEN + used);
                    self.sent += 1;
                    return Ok(());
                }
                Err(ReserveError::TooLarge { len, max }) => {
                    return Err(DeliverError::TooLarge { len, max })
                }
                Err(ReserveError::Full) => {}
            }
        }
        let max = out.ring.max_record();
        if RingPrefix::LEN + bound > max {
            // Checked here too: a record that can never fit would wedge
            // the overflow queue behind it.
            return Err(DeliverError::TooLarge {
                len: RingPrefix::LEN + bound,
                max,
            });
        }
        out.overflow.push_with(dest, bound, encode)?;
        self.overflowing = true;
        self.sent += 1;
        Ok(())
    }
}
