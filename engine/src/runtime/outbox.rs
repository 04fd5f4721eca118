//! [`Outbox`]: where a worker's archived tuples go. Each tuple is archived
//! once per destination task: for another worker of this node or for the
//! link (a task of another node), into the stage [`Outbound`] keeps for
//! that ring, a buffer of this thread's that stays in its cache, copied
//! into the ring as one ring record per 4 KiB of records (and whenever the
//! worker flushes); for a task of this thread, into the [`Chain`]'s
//! scratch buffer (executed before the emit returns) or the local queue.
//! A full ring's records wait, in order, in its overflow queue, drained as
//! the ring frees up. A batch has the layout of a frame's body, so the
//! link puts it into a frame whole.
//!
//! Why a stage and a copy rather than archiving straight into the ring:
//! the ring's cache lines were last read by the consumer's core, so each
//! store into them first waits for the line to come back, one line after
//! another as the encoder reaches it. Copying a whole record batch at
//! once (as `memcpy` does, the way `gale bench baseline-ring` writes)
//! lets those transfers overlap. Where the two cores share no cache
//! (here: the machine's slow mode, see BENCHMARKS.md) that made
//! const-spout-null-bolt on two workers about 40 % faster, at about 8
//! more instructions per tuple (the copy), and it was no slower where
//! they do.

use gale_codec::{
    encode_fast, encode_fast_as, encode_forwarded, encoded_len_bound, EncodeError, Encoder,
    FastKind, Header, PlainHeader, TupleRef, TupleView, Value, MAX_RECORD_LEN,
};
use gale_transport::Producer;

use super::chain::Chain;
use super::queue::{Appender, ByteQueue, RecordWriter, SubRecords, HEADER};
use crate::TaskId;

/// Bytes of staged records that make a batch worth a ring record: a ring
/// record then carries some dozens of tuples, so the ring's reservation,
/// commit and publication are paid once for all of them.
const STAGE_BYTES: usize = 4096;

/// One outbound ring, to another worker thread or to the link: tuples are
/// staged and go into the ring as one record batch per ring record; with
/// the batches that did not fit yet.
pub(crate) struct Outbound {
    ring: Producer,
    /// The tuples staged for the next ring record.
    stage: ByteQueue,
    /// Ring records waiting for room, in order: record batches (each as
    /// the payload of one record, dest 0).
    overflow: ByteQueue,
    /// Stage at most this many bytes (a ring record's limit, and
    /// [`STAGE_BYTES`]).
    stage_limit: usize,
    /// The largest payload of a record that fits a ring record alone.
    record_room: usize,
}

impl Outbound {
    /// A ring to another worker thread of this node, or to the link.
    pub(crate) fn new(ring: Producer) -> Self {
        let stage_limit = STAGE_BYTES.min(ring.max_record());
        Self {
            stage_limit,
            record_room: ring.max_record().saturating_sub(HEADER) & !7,
            ring,
            stage: ByteQueue::default(),
            overflow: ByteQueue::default(),
        }
    }

    /// Archives `tuple` for task `dest` into the stage, and puts the
    /// stage into the ring once it holds [`STAGE_BYTES`]; returns whether
    /// the ring overflowed. A tuple too large for one ring record is
    /// refused, and nothing of it stays staged.
    #[inline(always)]
    fn stage(
        &mut self,
        encoder: &mut Encoder,
        dest: TaskId,
        tuple: TupleRef<'_>,
    ) -> Result<bool, DeliverError> {
        let mut stage = self.stage.appender();
        let mark = stage.bytes();
        match encoder.encode_into(tuple, stage.spare()) {
            Ok(used) => stage.commit(dest, used),
            Err(_) => {
                drop(stage);
                return self.stage_large(encoder, dest, tuple);
            }
        }
        drop(stage);
        self.staged(mark)
    }

    /// After a tuple was staged at `mark`: puts the stage into the ring
    /// if it reached its limit; returns whether the ring overflowed.
    #[inline(always)]
    fn staged(&mut self, mark: usize) -> Result<bool, DeliverError> {
        if self.stage.bytes() >= self.stage_limit {
            return self.stage_full(mark);
        }
        Ok(!self.overflow.is_empty())
    }

    /// [`stage`](Self::stage) of a tuple larger than the stage's room at
    /// hand (an acker's batch of updates, say): archived once, straight
    /// into a ring record of its own after the staged records (a large
    /// payload is copied in one `memcpy` either way), rather than staged
    /// and copied again; staged only if the ring has no room for it now.
    #[cold]
    #[inline(never)]
    fn stage_large(
        &mut self,
        encoder: &mut Encoder,
        dest: TaskId,
        tuple: TupleRef<'_>,
    ) -> Result<bool, DeliverError> {
        let max = self.ring.max_record();
        let bound = encoded_len_bound(tuple)?;
        if self.overflow.is_empty() && HEADER + bound <= max {
            self.flush_stage();
            if self.overflow.is_empty() {
                if let Ok(mut slot) = self.ring.try_reserve(HEADER + bound) {
                    let mut ring = RecordWriter::over(&mut slot, 0);
                    let (n, _) = ring.append_run(dest, usize::MAX, &[tuple], |tuple, room| {
                        encoder.encode_into(*tuple, room).ok()
                    });
                    let used = ring.bytes();
                    if n == 1 {
                        slot.commit_len(used);
                        return Ok(false);
                    }
                    // Not archived (the stage's path reports why); the
                    // slot is abandoned unpublished.
                }
            }
        }
        let mut stage = self.stage.appender();
        let mark = stage.bytes();
        push_encoded(&mut stage, encoder, dest, tuple, max)?;
        drop(stage);
        // (The flush above may have found the ring full.)
        self.staged(mark)
    }

    /// Appends `tuple` for `dest` to the stage, if the tuple is of one
    /// flat value ([`encode_fast`]) and the stage has room at hand, and
    /// puts the stage into the ring once it reaches its limit; returns
    /// whether the ring overflowed then. `None`, with nothing written,
    /// otherwise.
    #[inline(always)]
    fn append_staged(&mut self, dest: TaskId, tuple: impl FastWrite) -> Option<bool> {
        let mut stage = self.stage.appender();
        // No more than a ring record takes: a larger record, once staged,
        // could never go into the ring (left uncommitted here, the general
        // path refuses it).
        let max = self.record_room;
        let written = stage
            .headroom()
            .and_then(|room| tuple.write(room))
            .filter(|&used| used <= max)?;
        stage.commit(dest, written);
        let full = stage.bytes() >= self.stage_limit;
        drop(stage);
        Some(full && self.put_stage())
    }

    /// Puts the full stage into the ring; returns whether it overflowed.
    #[inline(never)]
    fn put_stage(&mut self) -> bool {
        self.flush_stage();
        !self.overflow.is_empty()
    }

    /// The stage reached its limit after the record at `mark` was staged:
    /// into the ring, unless that record alone exceeds a ring record.
    #[cold]
    fn stage_full(&mut self, mark: usize) -> Result<bool, DeliverError> {
        let len = self.stage.bytes() - mark;
        let max = self.ring.max_record();
        if len > max {
            self.stage.drop_newest(mark);
            return Err(DeliverError::TooLarge { len, max });
        }
        self.flush_stage();
        Ok(!self.overflow.is_empty())
    }

    /// Moves overflowed records into the ring while it has room; returns
    /// how many moved.
    fn drain_overflow(&mut self) -> usize {
        let mut moved = 0;
        while let Some((_, batch)) = self.overflow.front() {
            let Ok(mut slot) = self.ring.try_reserve(batch.len()) else {
                break;
            };
            slot.copy_from_slice(batch);
            slot.commit();
            self.overflow.pop();
            moved += 1;
        }
        if moved > 0 {
            self.ring.flush();
        }
        moved
    }

    /// Puts the staged tuples into the ring (or, if it is full, behind the
    /// overflow), as few ring records as the ring's record limit allows.
    fn flush_stage(&mut self) {
        let batch = self.stage.as_batch();
        if batch.is_empty() {
            return;
        }
        if self.overflow.is_empty() && batch.len() <= self.ring.max_record() {
            if let Ok(mut slot) = self.ring.try_reserve(batch.len()) {
                slot.copy_from_slice(batch);
                slot.commit();
                self.ring.flush();
                self.stage.clear();
                return;
            }
        }
        self.flush_stage_slow();
    }

    #[cold]
    fn flush_stage_slow(&mut self) {
        let batch = self.stage.as_batch();
        let max = self.ring.max_record();
        // Whole records, as many as fit in a ring record each (a record
        // alone never exceeds it: `Outbox::deliver` refuses those).
        let mut start = 0;
        let mut end = 0;
        let mut records = SubRecords::new(batch);
        loop {
            let next = records
                .next()
                .map(|(_, p)| HEADER + p.len().next_multiple_of(8));
            let full = next.is_some_and(|n| end + n - start > max);
            if (next.is_none() || full) && end > start {
                let chunk = &batch[start..end];
                let written = self.overflow.is_empty()
                    && match self.ring.try_reserve(chunk.len()) {
                        Ok(mut slot) => {
                            slot.copy_from_slice(chunk);
                            slot.commit();
                            true
                        }
                        Err(_) => false,
                    };
                if !written {
                    self.overflow.push_bytes(0, chunk);
                }
                start = end;
            }
            match next {
                Some(n) => end += n,
                None => break,
            }
        }
        self.ring.flush();
        self.stage.clear();
    }
}

/// A tuple the outbox writes straight into the room at hand, or not at
/// all (`None`): a tuple of one flat value ([`encode_fast`]), or archived
/// values forwarded ([`Forwarded`]). (A trait, not a closure: its `write`
/// is inlined into the emit for certain.)
pub(crate) trait FastWrite {
    /// Writes the tuple at the start of `room`; returns its length, or
    /// `None` with nothing meaningful written.
    fn write(self, room: &mut [u8]) -> Option<usize>;
}

impl FastWrite for TupleRef<'_> {
    #[inline(always)]
    fn write(self, room: &mut [u8]) -> Option<usize> {
        encode_fast(self.header, self.values, room)
    }
}

/// A tuple of `header` and all the values of an input, in order (a bolt
/// forwarding its input), written by [`encode_forwarded`]: the input's
/// record copied with the header written into it where `header` has its
/// roots, else its archived values read in place; the same bytes as for
/// their [`Value`]s.
#[derive(Clone, Copy)]
pub(crate) struct Forwarded<'a> {
    pub(crate) header: &'a Header,
    pub(crate) input: &'a TupleView<'a>,
}

impl FastWrite for Forwarded<'_> {
    #[inline(always)]
    fn write(self, room: &mut [u8]) -> Option<usize> {
        encode_forwarded(self.header, self.input, room)
    }
}

/// One tuple's values as a run of emits holds them: a slice of values
/// (`&[Value]`, any arity) or, for a stream of one field, the one value
/// itself (a run of them is a `&[Value]` of tuples).
pub(crate) trait AsValues {
    /// The tuple's values.
    fn values(&self) -> &[Value];
}

impl AsValues for &[Value] {
    #[inline(always)]
    fn values(&self) -> &[Value] {
        self
    }
}

impl AsValues for Value {
    #[inline(always)]
    fn values(&self) -> &[Value] {
        std::slice::from_ref(self)
    }
}

/// Why [`append_fast`] stopped.
enum RunEnd {
    /// Every tuple was appended.
    Done,
    /// The queue reached its limit with the last tuple appended, whose
    /// record starts at `mark` (the queue's bytes before it).
    Limit { mark: usize },
    /// The next tuple needs the general path: not of the fast shape (see
    /// [`FastKind`]), or larger than the queue's free space.
    Slow,
}

impl RunEnd {
    /// Why a run of `len` tuples stopped after `n`, as
    /// [`RecordWriter::append_run`] returned them (`limited`: the mark of
    /// the record that reached the limit).
    #[inline(always)]
    fn of_run(n: usize, len: usize, limited: Option<usize>) -> Self {
        match limited {
            Some(mark) => RunEnd::Limit { mark },
            None if n == len => RunEnd::Done,
            None => RunEnd::Slow,
        }
    }
}

/// Appends a record for `dest` for each of `tuples` (with `header`) to
/// `queue` while they take the fast path, until the queue holds `limit`
/// bytes; returns how many it appended and why it stopped. Each run of
/// tuples of one [`FastKind`] goes through a loop of its own
/// ([`append_kind`]), so a run of strings does not branch on the kind of
/// each value beyond checking it.
#[inline(never)]
fn append_fast<E: AsValues>(
    writer: &mut RecordWriter<'_>,
    dest: TaskId,
    header: &Header,
    tuples: &[E],
    limit: usize,
) -> (usize, RunEnd) {
    const SCALAR: u8 = FastKind::Scalar as u8;
    const SHORT_STR: u8 = FastKind::ShortStr as u8;
    const LONG_STR: u8 = FastKind::LongStr as u8;
    const BYTES: u8 = FastKind::Bytes as u8;
    if header.is_tracked() {
        return (0, RunEnd::Slow);
    }
    let full = header;
    let header = header.plain();
    let mut done = 0;
    while let Some(first) = tuples.get(done) {
        let run = &tuples[done..];
        let (n, end) = match FastKind::of(first.values()) {
            Some(FastKind::Scalar) => append_kind::<SCALAR, E>(writer, dest, header, run, limit),
            Some(FastKind::ShortStr) => {
                append_kind::<SHORT_STR, E>(writer, dest, header, run, limit)
            }
            Some(FastKind::LongStr) => append_kind::<LONG_STR, E>(writer, dest, header, run, limit),
            Some(FastKind::Bytes) => append_kind::<BYTES, E>(writer, dest, header, run, limit),
            // Several fields: each by the codec's straight-line encoder of
            // a few flat values (anything else stops the run).
            None => append_flat(writer, dest, full, run, limit),
        };
        done += n;
        match end {
            // Another kind follows: its own loop takes it (unless the
            // first of the run did not fit, which its kind cannot change).
            RunEnd::Slow if n > 0 => {}
            end => return (done, end),
        }
    }
    (done, RunEnd::Done)
}

/// [`append_fast`] over tuples whose one value is of kind `K` (a
/// [`FastKind`] as `u8`): stops at the first that is not ([`RunEnd::Slow`]),
/// or that does not fit. Nothing in the loop is a call, so the queue's
/// cursor stays in registers ([`RecordWriter::append_run`]); each kind's
/// loop is a function of its own, so that registers are allocated for it
/// alone (inlined together, the loops spilled more).
#[inline(never)]
fn append_kind<const K: u8, E: AsValues>(
    writer: &mut RecordWriter<'_>,
    dest: TaskId,
    header: PlainHeader,
    tuples: &[E],
    limit: usize,
) -> (usize, RunEnd) {
    append_each(writer, dest, tuples, limit, |values, room| {
        encode_fast_as::<K>(header, values, room)
    })
}

/// [`append_fast`] over tuples of a few flat fields
/// ([`encode_few`](gale_codec::encode_few)), each checked as it is
/// written: stops at the first it refuses ([`RunEnd::Slow`]) or that does
/// not fit.
#[cold]
#[inline(never)]
fn append_flat<E: AsValues>(
    writer: &mut RecordWriter<'_>,
    dest: TaskId,
    header: &Header,
    tuples: &[E],
    limit: usize,
) -> (usize, RunEnd) {
    append_each(writer, dest, tuples, limit, |values, room| {
        gale_codec::encode_few(header, values, room)
    })
}

/// Appends a record for `dest` for each of `tuples`, written by
/// `encode(values, room)` (`None`: not this loop's shape, or no room),
/// until one is refused or the queue holds `limit` bytes.
#[inline(always)]
fn append_each<E: AsValues>(
    writer: &mut RecordWriter<'_>,
    dest: TaskId,
    tuples: &[E],
    limit: usize,
    encode: impl Fn(&[Value], &mut [u8]) -> Option<usize>,
) -> (usize, RunEnd) {
    let (n, limited) = writer.append_run(dest, limit, tuples, |tuple, room| {
        encode(tuple.values(), room)
    });
    (n, RunEnd::of_run(n, tuples.len(), limited))
}

/// Archives `tuple` into `queue` as a record for `dest`, refusing one that
/// could exceed `max` bytes before writing any of it. Written in place
/// here (not through [`ByteQueue::push_with`]'s closure) so that the
/// encoder's one-value path is inlined into the caller's loop.
#[inline(always)]
fn push_encoded(
    queue: &mut Appender<'_>,
    encoder: &mut Encoder,
    dest: TaskId,
    tuple: TupleRef<'_>,
    max: usize,
) -> Result<(), DeliverError> {
    let used = match encoder.encode_into(tuple, queue.spare()) {
        Ok(used) => used,
        Err(_) => push_large(queue, encoder, tuple, max)?,
    };
    queue.commit(dest, used);
    Ok(())
}

/// [`push_encoded`] for a tuple larger than the queue's headroom: its size
/// bound is checked against `max` first, so an oversized tuple costs no
/// memory.
#[cold]
#[inline(never)]
fn push_large(
    queue: &mut Appender<'_>,
    encoder: &mut Encoder,
    tuple: TupleRef<'_>,
    max: usize,
) -> Result<usize, DeliverError> {
    let bound = encoded_len_bound(tuple)?;
    if bound > max {
        return Err(DeliverError::TooLarge { len: bound, max });
    }
    let used = queue.write_large(&mut |buf| encoder.encode_into(tuple, buf), || Ok(bound))?;
    Ok(used)
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
    /// Which tasks of this thread take tuples chained, and their scratch
    /// buffers.
    pub(crate) chain: Chain,
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
    /// (by task id), whose rings to the other threads are `outbound` and
    /// whose own bolts take tuples as `chain` allows.
    pub(crate) fn new(
        thread: usize,
        thread_of: Vec<usize>,
        outbound: Vec<Option<Outbound>>,
        chain: Chain,
    ) -> Self {
        Self {
            thread,
            thread_of,
            encoder: Encoder::new(),
            outbound,
            local: ByteQueue::default(),
            chain,
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

    /// Puts every staged tuple into its ring and publishes every
    /// committed record of every outbound ring.
    pub(crate) fn flush(&mut self) {
        for out in self.outbound.iter_mut().flatten() {
            out.flush_stage();
            self.overflowing |= !out.overflow.is_empty();
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

    /// Bytes of whole records of `record` bytes each that one system
    /// message carries at most: as many as fit in a ring record of every
    /// outbound ring.
    pub(crate) fn system_message_bytes(&self, record: usize) -> usize {
        /// Room for the tuple around the bytes: record header, archived
        /// root and value, padding.
        const OVERHEAD: usize = 128;
        let limit = self
            .outbound
            .iter()
            .flatten()
            .map(|o| o.ring.max_record())
            .min()
            .unwrap_or(usize::MAX);
        (limit.saturating_sub(OVERHEAD) / record).max(1) * record
    }

    /// Sends a system message (`values` = one bytes field) to `dest`,
    /// split into as many messages as it takes for each to be at most
    /// [`system_message_bytes`](Self::system_message_bytes); `bytes` holds
    /// whole records of `record` bytes each, and is left empty (its
    /// allocation kept, for the caller's next message, when it is sent as
    /// one message).
    pub(crate) fn deliver_system(
        &mut self,
        dest: TaskId,
        stream: u32,
        bytes: &mut Vec<u8>,
        record: usize,
    ) {
        let per_message = self.system_message_bytes(record);
        let mut header = std::mem::take(&mut self.system);
        header.stream = stream;
        let thread = self.thread_of(dest);
        let mut send = |values: &[Value]| {
            let tuple = TupleRef {
                header: &header,
                values,
            };
            if let Err(e) = self.deliver(dest, thread, tuple) {
                // Only a ring too small for a single record gets here.
                tracing::error!(dest, "cannot deliver acker traffic: {e}");
            }
        };
        if bytes.len() <= per_message {
            // The buffer itself is the value, and comes back after.
            let mut values = [Value::Bytes(std::mem::take(bytes))];
            send(&values);
            if let [Value::Bytes(b)] = &mut values {
                *bytes = std::mem::take(b);
            }
        } else {
            for chunk in bytes.chunks(per_message) {
                send(&[Value::Bytes(chunk.to_vec())]);
            }
        }
        bytes.clear();
        self.system = header;
    }

    /// Archives `tuple` once for task `dest` on worker `thread`: into that
    /// thread's stage (or the link's), or this thread's local queue.
    ///
    /// The commonest case, a tuple of one flat value for another worker
    /// whose stage has room at hand, is written here, inlined into the
    /// emit; every other by [`deliver_any`](Self::deliver_any).
    #[inline(always)]
    pub(crate) fn deliver(
        &mut self,
        dest: TaskId,
        thread: usize,
        tuple: TupleRef<'_>,
    ) -> Result<(), DeliverError> {
        if let Some(Some(out)) = self.outbound.get_mut(thread) {
            if let Some(overflowing) = out.append_staged(dest, tuple) {
                self.overflowing |= overflowing;
                self.sent += 1;
                return Ok(());
            }
        } else if self.write_here(dest, tuple) {
            return Ok(());
        }
        self.deliver_any(dest, thread, tuple)
    }

    /// [`deliver`](Self::deliver) of a tuple whose values are all those
    /// of an input, in order (a bolt forwarding its input), written
    /// straight from its record ([`Forwarded`]) where the stage or queue
    /// has room at hand and the values are flat or the record can be
    /// copied: the same bytes as for their [`Value`]s. Returns whether it
    /// was delivered; `false`, with nothing written, otherwise (the caller
    /// delivers the values built).
    #[inline(always)]
    pub(crate) fn deliver_archived(
        &mut self,
        dest: TaskId,
        thread: usize,
        tuple: Forwarded<'_>,
    ) -> bool {
        if let Some(Some(out)) = self.outbound.get_mut(thread) {
            let Some(overflowing) = out.append_staged(dest, tuple) else {
                return false;
            };
            self.overflowing |= overflowing;
            self.sent += 1;
            return true;
        }
        self.write_here(dest, tuple)
    }

    /// Writes `tuple` for task `dest` of this thread, where
    /// [`FastWrite`] can and there is room at hand: into the chain's
    /// scratch buffer if `dest` runs chained, else into the local queue.
    /// Returns whether it was written; `false`, with nothing written,
    /// otherwise (the caller takes [`push_local`](Self::push_local)'s
    /// path).
    #[inline(always)]
    fn write_here(&mut self, dest: TaskId, tuple: impl FastWrite) -> bool {
        if self.chain.accepts(dest) {
            let mut scratch = self.chain.scratch().appender();
            let room = scratch.spare();
            let cap = room.len().min(MAX_RECORD_LEN);
            let Some(used) = tuple.write(&mut room[..cap]) else {
                return false;
            };
            scratch.commit(dest, used);
            return true;
        }
        let mut local = self.local.appender();
        let room = local.spare();
        let cap = room.len().min(MAX_RECORD_LEN);
        let Some(used) = tuple.write(&mut room[..cap]) else {
            return false;
        };
        local.commit(dest, used);
        drop(local);
        self.chain.queued(dest, 1);
        self.sent += 1;
        true
    }

    /// [`deliver`](Self::deliver) of any tuple.
    #[inline(never)]
    fn deliver_any(
        &mut self,
        dest: TaskId,
        thread: usize,
        tuple: TupleRef<'_>,
    ) -> Result<(), DeliverError> {
        let encoder = &mut self.encoder;
        let Some(out) = self.outbound.get_mut(thread).and_then(Option::as_mut) else {
            return self.push_local(dest, tuple);
        };
        self.overflowing |= out.stage(encoder, dest, tuple)?;
        self.sent += 1;
        Ok(())
    }

    /// [`deliver`](Self::deliver) of each of `tuples`, with `header`, to
    /// task `dest` on worker `thread`: the destination is looked up once
    /// for all of them. Returns how many were delivered and the last
    /// error, if any could not be (the others are delivered all the same).
    #[inline(never)]
    pub(crate) fn deliver_many<E: AsValues>(
        &mut self,
        dest: TaskId,
        thread: usize,
        header: &Header,
        tuples: &[E],
    ) -> (u64, Option<DeliverError>) {
        let mut delivered = 0;
        let mut failure = None;
        // Counts one delivery: delivered, or the error kept.
        let mut count = |delivered: &mut u64, result: Result<(), DeliverError>| match result {
            Ok(()) => *delivered += 1,
            Err(e) => failure = Some(e),
        };
        let tuple = |values| TupleRef { header, values };
        match self.outbound.get_mut(thread).and_then(Option::as_mut) {
            Some(out) => {
                let mut rest = tuples;
                while !rest.is_empty() {
                    let (n, end) = append_fast(
                        &mut out.stage.appender(),
                        dest,
                        header,
                        rest,
                        out.stage_limit,
                    );
                    rest = &rest[n..];
                    let last = match end {
                        RunEnd::Done => None,
                        // The tuple that filled the stage: it goes into
                        // the ring with it.
                        RunEnd::Limit { mark } => Some(out.stage_full(mark)),
                        RunEnd::Slow => rest.split_first().map(|(first, tail)| {
                            rest = tail;
                            out.stage(&mut self.encoder, dest, tuple(first.values()))
                        }),
                    };
                    // The fast ones before `last` (or all `n`).
                    let fast = n - usize::from(matches!(end, RunEnd::Limit { .. }));
                    delivered += fast as u64;
                    if let Some(last) = last {
                        count(
                            &mut delivered,
                            last.map(|overflowing| self.overflowing |= overflowing),
                        );
                    }
                }
                self.sent += delivered;
            }
            None => {
                // The whole run goes one way: chained, or queued.
                let chained = self.chain.accepts(dest);
                let queue = if chained {
                    self.chain.scratch()
                } else {
                    &mut self.local
                };
                let mut rest = tuples;
                while !rest.is_empty() {
                    let (n, _) = append_fast(&mut queue.appender(), dest, header, rest, usize::MAX);
                    delivered += n as u64;
                    rest = &rest[n..];
                    if let Some((first, tail)) = rest.split_first() {
                        let mut queue = queue.appender();
                        count(
                            &mut delivered,
                            push_encoded(
                                &mut queue,
                                &mut self.encoder,
                                dest,
                                tuple(first.values()),
                                MAX_RECORD_LEN,
                            ),
                        );
                        rest = tail;
                    }
                }
                if !chained {
                    self.sent += delivered;
                    self.chain.queued(dest, delivered);
                }
            }
        }
        (delivered, failure)
    }

    /// Archives `tuple` for task `dest` of this thread: chained (into the
    /// chain's scratch buffer) or into the local queue.
    fn push_local(&mut self, dest: TaskId, tuple: TupleRef<'_>) -> Result<(), DeliverError> {
        if self.chain.accepts(dest) {
            let scratch = self.chain.scratch();
            push_encoded(
                &mut scratch.appender(),
                &mut self.encoder,
                dest,
                tuple,
                MAX_RECORD_LEN,
            )?;
            return Ok(());
        }
        push_encoded(
            &mut self.local.appender(),
            &mut self.encoder,
            dest,
            tuple,
            MAX_RECORD_LEN,
        )?;
        self.chain.queued(dest, 1);
        self.sent += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use gale_codec::view_checked;
    use gale_transport::{ring, Consumer, RingConfig};

    use super::*;

    /// An outbox on thread 0 whose task 1 runs on thread 1, behind a ring
    /// of `capacity` bytes.
    fn outbox(capacity: usize, max_record: usize) -> (Outbox, Consumer) {
        let (tx, rx) = ring(RingConfig {
            capacity,
            max_record,
            batch: 4,
        })
        .expect("ring");
        let outbound = vec![None, Some(Outbound::new(tx))];
        let chain = Chain::new([], 1, false);
        (Outbox::new(0, vec![0, 1], outbound, chain), rx)
    }

    /// Everything in the ring, flushing and draining the overflow until
    /// the outbox holds nothing more.
    fn received(out: &mut Outbox, rx: &mut Consumer, into: &mut Vec<Value>) {
        loop {
            out.flush();
            out.drain_overflows();
            let mut any = false;
            while let Some(()) = rx.try_pop_with(|batch| {
                for (dest, payload) in SubRecords::new(batch) {
                    assert_eq!(dest, 1);
                    let view = view_checked(payload).expect("a whole archived tuple");
                    into.push(view.values()[0].to_value());
                }
            }) {
                any = true;
            }
            if !any && out.overflow_bytes() == 0 {
                return;
            }
        }
    }

    /// Runs of small tuples, tuples larger than the stage's limit, single
    /// emits, a full ring and its overflow all keep the order, and
    /// nothing is lost or duplicated.
    #[test]
    fn runs_large_tuples_and_overflow_keep_order() {
        for (capacity, max_record) in [(1 << 20, 64 << 10), (16 << 10, 5000), (8192, 3000)] {
            let (mut out, mut rx) = outbox(capacity, max_record);
            let header = Header::default();
            let mut sent = Vec::new();
            let mut got = Vec::new();
            for round in 0..40u32 {
                let run: Vec<Vec<Value>> = (0..150 + round as usize % 7)
                    .map(|i| vec![Value::Str(format!("r{round}-{i}-{}", "x".repeat(i % 20)))])
                    .collect();
                let refs: Vec<&[Value]> = run.iter().map(Vec::as_slice).collect();
                let (n, err) = out.deliver_many(1, 1, &header, &refs);
                assert!(err.is_none(), "{err:?}");
                assert_eq!(n as usize, refs.len());
                sent.extend(run.into_iter().map(|mut v| v.remove(0)));
                // A larger tuple between the runs: 1 to 2 KiB (a good
                // part of a stage), or now and then the largest a ring
                // record takes (more than the stage has room for: into
                // a ring record of its own, or staged if the ring is
                // full).
                let len = match round % 4 {
                    1 => max_record - 128,
                    _ => 1100 + (round as usize * 389) % 900,
                };
                let big = Value::Bytes(vec![round as u8; len]);
                let values = [big.clone()];
                out.deliver(
                    1,
                    1,
                    TupleRef {
                        header: &header,
                        values: &values,
                    },
                )
                .expect("fits a ring record");
                sent.push(big);
                let one = Value::I64(i64::from(round));
                out.deliver(
                    1,
                    1,
                    TupleRef {
                        header: &header,
                        values: std::slice::from_ref(&one),
                    },
                )
                .expect("small");
                sent.push(one);
                if round % 3 == 0 {
                    // Let the ring fill up now and then.
                    received(&mut out, &mut rx, &mut got);
                }
            }
            received(&mut out, &mut rx, &mut got);
            assert_eq!(got.len(), sent.len(), "ring {capacity}/{max_record}");
            assert!(
                got == sent,
                "ring {capacity}/{max_record}: order or content differs"
            );
            assert_eq!(out.sent(), sent.len() as u64);
        }
    }

    /// A one-value tuple a little larger than a ring record, sent once the
    /// stage has grown past that size (so it fits the stage's room at
    /// hand), is refused as too large, not staged: staged, it could never
    /// go into the ring, and everything behind it would wait forever.
    #[test]
    fn a_tuple_larger_than_a_ring_record_is_refused_even_with_room_in_the_stage() {
        let max_record = 1000;
        let (mut out, mut rx) = outbox(64 << 10, max_record);
        let header = Header::default();
        let mut sent = Vec::new();
        let mut got = Vec::new();
        for round in 0..20 {
            // Small tuples up to the stage's limit: the stage grows.
            for i in 0..40 {
                let v = Value::Str(format!("{round}-{i}-some text"));
                let values = [v.clone()];
                let tuple = TupleRef {
                    header: &header,
                    values: &values,
                };
                out.deliver(1, 1, tuple).expect("small");
                sent.push(v);
            }
            let big = [Value::Bytes(vec![7; max_record - 40 + round])];
            let tuple = TupleRef {
                header: &header,
                values: &big,
            };
            let err = out
                .deliver(1, 1, tuple)
                .expect_err("too large for a ring record");
            assert!(matches!(err, DeliverError::TooLarge { .. }), "{err}");
        }
        received(&mut out, &mut rx, &mut got);
        assert_eq!(got, sent);
    }
}
