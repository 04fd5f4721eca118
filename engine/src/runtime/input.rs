//! What a bolt reads: [`Input`], a tuple read in place from a ring (or
//! handed over directly by a chained emit), [`InputBatch`], a run of
//! inputs for [`Bolt::execute_batch`](crate::Bolt::execute_batch), and
//! [`Anchor`], an input's place in its tuple trees kept past `execute`.
//! Also [`Emission`], the general form of an emit.

use std::cell::Cell;
use std::fmt;

use gale_codec::{view_trusted, ArchivedValue, FieldError, Fields, Tuple, TupleView, Value};

use super::clock::{SampleClock, Stamp};
use super::plan::StreamMeta;
use super::queue::{Regions, HEADER};
use crate::{TaskId, TypedError};

/// An input tuple, read in place from a ring (Storm's `Tuple`).
pub struct Input<'a> {
    pub(crate) view: TupleView<'a>,
    pub(crate) component: &'a str,
    pub(crate) stream: &'a str,
    /// The Rust type of a typed stream.
    pub(crate) typed: Option<&'static str>,
}

impl<'a> Input<'a> {
    /// The value at `index`.
    pub fn get(&self, index: usize) -> Option<&'a ArchivedValue> {
        self.view.get(index)
    }

    /// The value of the declared field `name`.
    pub fn field(&self, name: &str) -> Result<&'a ArchivedValue, FieldError> {
        self.view.field(name)
    }

    /// All values, in place.
    pub fn values(&self) -> &'a [ArchivedValue] {
        self.view.values()
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.view.len()
    }

    /// `true` if the tuple has no values (tick tuples, for instance).
    pub fn is_empty(&self) -> bool {
        self.view.is_empty()
    }

    /// The stream's declared fields.
    pub fn fields(&self) -> Option<&'a Fields> {
        self.view.fields()
    }

    /// Component that emitted it (`__system` for ticks).
    pub fn source_component(&self) -> &'a str {
        self.component
    }

    /// Stream it was emitted on.
    pub fn source_stream(&self) -> &'a str {
        self.stream
    }

    /// Task that emitted it (0 for ticks).
    pub fn source_task(&self) -> TaskId {
        self.view.source_task()
    }

    /// Whether this is a tick tuple.
    pub fn is_tick(&self) -> bool {
        self.view.stream() == super::plan::TICK_STREAM_ID
    }

    /// The value of a typed stream's tuple, read in place as `T`'s
    /// archived form (see [`Typed`](crate::Typed)): validated first, so a
    /// malformed tuple is an error, never undefined behaviour. An error
    /// too if the stream is not declared typed with `T`.
    ///
    /// ```
    /// use gale_engine::rkyv::{Archive, Serialize};
    /// # use gale_engine::{Input, TypedError};
    ///
    /// #[derive(Archive, Serialize)]
    /// #[rkyv(crate = gale_engine::rkyv)]
    /// struct Reading {
    ///     sensor: u32,
    ///     celsius: f64,
    /// }
    ///
    /// fn hot(input: &Input<'_>) -> Result<bool, TypedError> {
    ///     let reading = input.typed::<Reading>()?;
    ///     Ok(reading.celsius.to_native() > 30.0)
    /// }
    /// ```
    pub fn typed<T>(&self) -> Result<&'a T::Archived, TypedError>
    where
        T: crate::Typed,
        T::Archived: crate::TypedArchive,
    {
        let requested = std::any::type_name::<T>();
        if self.typed != Some(requested) {
            return Err(TypedError::WrongType {
                stream: self.stream.to_owned(),
                declared: self
                    .typed
                    .map_or_else(|| "untyped".to_owned(), |t| format!("typed `{t}`")),
                requested,
            });
        }
        let bytes = self
            .get(0)
            .and_then(ArchivedValue::as_bytes)
            .unwrap_or_default();
        crate::typed::access::<T>(bytes, self.stream)
    }

    /// The underlying view (header included).
    pub fn view(&self) -> TupleView<'a> {
        self.view
    }

    /// An owned copy, for keeping past `execute`.
    pub fn to_tuple(&self) -> Tuple {
        self.view.to_tuple()
    }

    /// What acking, failing and anchoring to this input need, owned: a
    /// bolt that finishes its work after `execute` returned (a multi-lang
    /// shell bolt, a batching bolt) keeps it and passes it to
    /// [`BoltOutput::ack_anchor`](crate::BoltOutput::ack_anchor), [`BoltOutput::fail_anchor`](crate::BoltOutput::fail_anchor) and
    /// [`BoltOutput::emit_with`](crate::BoltOutput::emit_with) later.
    pub fn anchor(&self) -> Anchor {
        Anchor {
            roots: self.view.roots().collect(),
            edge: self.view.edge_id(),
            stream: self.view.stream(),
        }
    }
}

/// An input's place in its tuple trees, owned (made by [`Input::anchor`]):
/// the roots it belongs to and its edge id. Ack or fail each anchor
/// exactly once, as its input.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Anchor {
    pub(crate) roots: Vec<u64>,
    pub(crate) edge: u64,
    /// The input's stream id (its acks and fails are counted per input
    /// stream).
    pub(crate) stream: u32,
}

impl Anchor {
    /// Whether the input was tracked by the acker (belongs to any tree).
    pub fn is_tracked(&self) -> bool {
        !self.roots.is_empty()
    }
}

/// One emit in its general form, for components that decide per tuple
/// where it goes (multi-lang shells):
/// [`SpoutOutput::emit_with`](crate::SpoutOutput::emit_with),
/// [`BoltOutput::emit_with`](crate::BoltOutput::emit_with).
#[derive(Debug)]
pub struct Emission<'a> {
    /// The stream to emit on.
    pub stream: &'a str,
    /// For a direct stream, the task that gets the tuple.
    pub direct: Option<TaskId>,
    /// The tuple's values.
    pub values: &'a [Value],
    /// If given, cleared and then filled with the tasks the tuple was
    /// delivered to (Storm's `emit` return value).
    pub targets: Option<&'a mut Vec<TaskId>>,
}

impl fmt::Debug for Input<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Input")
            .field("component", &self.component)
            .field("stream", &self.stream)
            .field("tuple", &self.view)
            .finish()
    }
}

/// Where the records of an [`InputBatch`] after its first come from: the
/// rest of a ring's read batch, of the local queue or of a chained call's
/// scratch buffer, or nothing. The run walks them itself, a region at a
/// time, and takes them while they are for its task and stream.
///
/// # Safety
///
/// Every region holds whole records of our own rings or queues, each an
/// 8-byte header (the payload's length in the low 32 bits, the
/// destination task in the high 32, little endian), then the payload,
/// then zeros up to a multiple of 8 (the region may end within the last
/// one's padding). It starts 8-aligned, and every payload is an archived
/// tuple as [`gale_codec::view_trusted`] requires: written by this
/// topology's encoder (or checked by the link before it entered a ring),
/// unmodified.
pub(crate) unsafe trait RecordSource<'a> {
    /// The records after those taken (empty when none are left); the same
    /// until [`consume`](Self::consume)d.
    fn region(&mut self) -> &'a [u8];

    /// Takes the first `bytes` of the region (whole records, or all of
    /// it).
    fn consume(&mut self, bytes: usize);
}

/// A source with no further records.
pub(crate) struct NoMore;

// SAFETY: it returns no record at all.
unsafe impl<'a> RecordSource<'a> for NoMore {
    fn region(&mut self) -> &'a [u8] {
        &[]
    }

    fn consume(&mut self, bytes: usize) {
        debug_assert_eq!(bytes, 0, "nothing was taken");
    }
}

/// Trusted tuples (with their destination tasks) from `I`, as the source
/// of a bolt's run: the worker takes the first of a run with `next`, the
/// run takes those after it for the same task and stream.
pub(crate) struct Trusted<I> {
    inner: I,
}

impl<'b, I: Regions<'b>> Trusted<I> {
    /// Tuples from `inner`.
    ///
    /// # Safety
    ///
    /// `inner` yields only trusted records, whole, as `RecordSource`
    /// requires: records of our own rings or queues.
    pub(crate) unsafe fn new(inner: I) -> Self {
        Self { inner }
    }

    /// The next tuple and its destination task.
    #[inline]
    pub(crate) fn next(&mut self) -> Option<(TaskId, &'b [u8])> {
        self.inner.next()
    }
}

// SAFETY: `Trusted::new`'s contract: only our own records (a worker's
// inbound rings: record batches written by an `Outbox` of this topology,
// or put there by the link after `EngineRoute::check` validated them; its
// local queue and the chain's scratch buffers, archived by its own
// encoder).
unsafe impl<'b, I: Regions<'b>> RecordSource<'b> for Trusted<I> {
    #[inline]
    fn region(&mut self) -> &'b [u8] {
        self.inner.region()
    }

    #[inline]
    fn consume(&mut self, bytes: usize) {
        self.inner.consume(bytes);
    }
}

/// Sampled inputs a run may time: a run ends before the next one due
/// once this many were timed (their execute latencies are held until the
/// run ends, when the recorder is free to take them).
const SAMPLES: usize = 32;

/// The input whose latencies are being sampled now, shared by a run's
/// [`InputBatch`] (which starts a sample as it hands the input out) and
/// its [`BoltOutput`](crate::BoltOutput) (whose ack of that very input
/// gives its process latency).
#[derive(Default)]
pub(crate) struct TimedInput {
    /// The timed input's archived tuple (null: none).
    input: Cell<*const u8>,
    /// When it was handed to the bolt.
    started: Cell<Stamp>,
}

impl TimedInput {
    /// Whether `archived` (an input's archived tuple) is the timed one.
    #[inline(always)]
    pub(crate) fn is(&self, archived: *const u8) -> bool {
        std::ptr::eq(self.input.get(), archived)
    }

    /// When the timed input was handed out, if `archived` (an input's
    /// archived tuple, not null) is it; it is timed no more.
    #[inline]
    pub(crate) fn take(&self, archived: *const u8) -> Option<Stamp> {
        self.is(archived).then(|| {
            self.input.set(std::ptr::null());
            self.started.get()
        })
    }

    /// Times `record`'s input from now on.
    fn start(&self, clock: &SampleClock, record: &[u8]) {
        // SAFETY: a trusted archived tuple (the callers' records: `first`
        // or taken from `rest`, by the contracts of `InputBatch::new` and
        // `RecordSource`).
        let view = unsafe { gale_codec::view_trusted(record) };
        self.input
            .set(std::ptr::from_ref(view.archived()).cast::<u8>());
        self.started.set(clock.now());
    }
}

/// The execute latencies a run timed, in nanoseconds: kept by the run's
/// caller (not in the [`InputBatch`], which stays small to build and
/// move), which records them once the run is done.
pub(crate) struct SampleLog {
    done: [u64; SAMPLES],
    count: usize,
    /// When the run's first timed input was handed out.
    first: Option<Stamp>,
}

impl SampleLog {
    /// An empty log.
    pub(crate) fn new() -> Self {
        Self {
            done: [0; SAMPLES],
            count: 0,
            first: None,
        }
    }

    /// The latencies logged.
    pub(crate) fn latencies(&self) -> &[u64] {
        &self.done[..self.count]
    }

    /// When the run's first timed input was handed out, if it timed any.
    pub(crate) fn first_started(&self) -> Option<Stamp> {
        self.first
    }
}

/// How a run samples latencies: which of its inputs it times, with what,
/// and where their latencies go.
pub(crate) struct Sampling<'r> {
    /// What the samples are timed with.
    pub(crate) clock: SampleClock,
    /// The run's first input to time (counted from 0), then every
    /// `every`-th after it.
    pub(crate) first: u32,
    /// One input in how many is timed (at least 1).
    pub(crate) every: u32,
    /// Where the timed input is shown to the run's collector.
    pub(crate) timed: &'r TimedInput,
    /// Where the execute latencies go.
    pub(crate) log: &'r mut SampleLog,
}

/// The samples of a run so far.
struct RunSamples<'r> {
    how: Sampling<'r>,
    /// The next input to time (counted from the run's first).
    next: u32,
    /// The input handed out last is timed: its execute ends when the
    /// consumer asks for the next (or with the run).
    running: bool,
}

/// A run of inputs for one bolt task, all of one stream, in the order they
/// arrived, read in place (Storm has no such call: Gale hands a bolt what
/// one of its rings holds at once, so that what the engine does per input
/// is done once per run). Iterate it to get each [`Input`]; see
/// [`Bolt::execute_batch`](crate::Bolt::execute_batch).
pub struct InputBatch<'r, 'a: 'r> {
    rest: &'r mut dyn RecordSource<'a>,
    /// The region of `rest` in hand, `[start, end)`, and the header of its
    /// next record (`cur`; past `end` by up to 7 bytes once the region's
    /// last padding is cut). All null until the first is handed out.
    start: *const u8,
    cur: *const u8,
    end: *const u8,
    /// Inputs the iteration may still hand out before it stops to look
    /// ([`at_stop`](Self::at_stop)): at a timed input's start or end, or
    /// at the run's limit.
    left: u32,
    /// `left` as the last stop set it.
    quota: u32,
    /// Inputs handed out before the last stop.
    handed: u32,
    /// The run's first input, until it is handed out, then the last
    /// input handed out if that was the first.
    first: &'a [u8],
    /// The header of the last input handed out, if it came from a region
    /// (else null).
    last: *const u8,
    /// The run is over: a record of another task or stream is next, the
    /// source has no more, or the limit was reached.
    over: bool,
    dest: TaskId,
    stream_id: u32,
    meta: StreamMeta<'r>,
    /// Inputs that may be taken in all.
    limit: u32,
    /// Latency sampling, if the run samples. The iteration stops to look
    /// before and after a timed input (`left`), so that starting and
    /// ending its sample is done out of the iteration's loop, as taking a
    /// new region is.
    samples: Option<RunSamples<'r>>,
    /// The consumer says it executes its inputs one at a time
    /// ([`one_at_a_time`](Self::one_at_a_time)).
    one_at_a_time: bool,
}

impl<'r, 'a> InputBatch<'r, 'a> {
    /// A run that starts with `first` (for task `dest`, of stream
    /// `stream_id` named by `meta`) and continues with what `rest` has for
    /// the same task and stream. With `sampling`, the inputs it says are
    /// timed: their execute (until the consumer asks for the next input,
    /// or the run ends) and, through `sampling.timed`, their ack. The run
    /// goes on past a timed input only for a consumer that executes its
    /// inputs one at a time ([`one_at_a_time`](Self::one_at_a_time)); for
    /// another, a timed input is a run of its own.
    ///
    /// # Safety
    ///
    /// `first` is a trusted archived tuple as [`RecordSource`] describes.
    pub(crate) unsafe fn new(
        first: &'a [u8],
        rest: &'r mut dyn RecordSource<'a>,
        dest: TaskId,
        stream_id: u32,
        meta: StreamMeta<'r>,
        sampling: Option<Sampling<'r>>,
    ) -> Self {
        let samples = sampling.map(|how| RunSamples {
            next: how.first,
            how,
            running: false,
        });
        // Nothing handed out yet: the first stop hands out `first`.
        Self {
            rest,
            start: std::ptr::null(),
            cur: std::ptr::null(),
            end: std::ptr::null(),
            left: 0,
            quota: 0,
            handed: 0,
            first,
            last: std::ptr::null(),
            over: false,
            dest,
            stream_id,
            meta,
            limit: u32::MAX,
            samples,
            one_at_a_time: false,
        }
    }

    /// Says that the consumer executes the inputs one at a time, each
    /// done when it asks for the next (as `Bolt::execute_batch`'s default
    /// does): a timed input is then timed until the next is asked for,
    /// and the run goes on past it. A consumer that gathers inputs and
    /// works on them together does not say so: a timed input is then a
    /// run of its own, timed whole.
    pub fn one_at_a_time(&mut self) {
        self.one_at_a_time = true;
    }

    /// Ends the run's latency samples: a timed input still running ends
    /// now (its latency goes to the log with the others).
    pub(crate) fn end_samples(&mut self) {
        if let Some(s) = self.samples.as_mut().filter(|s| s.running) {
            s.stop();
        }
    }

    /// Component that emitted every input of the batch.
    pub fn source_component(&self) -> &'r str {
        self.meta.component
    }

    /// Stream every input of the batch was emitted on.
    pub fn source_stream(&self) -> &'r str {
        self.meta.stream
    }

    /// Inputs taken from the batch so far.
    pub(crate) fn taken(&self) -> u32 {
        self.handed + (self.quota - self.left)
    }

    /// The last input taken (the one a panic interrupted).
    pub(crate) fn last_taken(&self) -> Option<TupleView<'a>> {
        let record = self.last_record()?;
        // SAFETY: a trusted archived tuple by the contracts of `new` and
        // `RecordSource`.
        Some(unsafe { gale_codec::view_trusted(record) })
    }

    /// The archived bytes of the last input taken (a checkpointed bolt
    /// copies them to run the input later).
    pub(crate) fn last_record(&self) -> Option<&'a [u8]> {
        if self.taken() == 0 {
            return None;
        }
        if self.last.is_null() {
            return Some(self.first);
        }
        // SAFETY: `last` is the header of a whole record of the region in
        // hand (`RecordSource`'s contract), handed out by `take_at_cur`.
        Some(unsafe { record_at(self.last).1 })
    }

    /// The next input's record, while the run goes on.
    #[inline(always)]
    fn next_record(&mut self) -> Option<&'a [u8]> {
        if self.left == 0 || self.cur >= self.end {
            return self.at_stop();
        }
        let record = self.take_at_cur()?;
        self.left -= 1;
        Some(record)
    }

    /// The record at `cur` (`cur < end`), taken if it is for this run's
    /// task and stream; otherwise the run is over, and it stays next in
    /// `rest`.
    #[inline(always)]
    fn take_at_cur(&mut self) -> Option<&'a [u8]> {
        debug_assert!(self.cur < self.end);
        // SAFETY: `start <= cur < end` points at a record header of the
        // region in hand, whose records are whole (`RecordSource`'s
        // contract).
        let (dest, record) = unsafe { record_at(self.cur) };
        // SAFETY: a trusted archived tuple (`RecordSource`'s contract).
        if dest != self.dest || unsafe { view_trusted(record) }.stream() != self.stream_id {
            return self.refused();
        }
        self.last = self.cur;
        // Within the region, or up to 7 bytes past its end if its last
        // padding is cut (never read there: `cur < end` is checked first;
        // wrapping, as that may be past the allocation too).
        self.cur = record.as_ptr().wrapping_add((record.len() + 7) & !7);
        Some(record)
    }

    /// A record of another task or stream is next: the run is over, and
    /// the record stays in `rest`.
    #[cold]
    fn refused(&mut self) -> Option<&'a [u8]> {
        self.end_run()
    }

    /// Ends the run: the iteration hands out nothing more.
    fn end_run(&mut self) -> Option<&'a [u8]> {
        self.over = true;
        self.handed += self.quota - self.left;
        (self.quota, self.left) = (0, 0);
        None
    }

    /// Called where the iteration stops to look (`left` is 0, or the
    /// region in hand was walked): ends the timed input's execute if one
    /// ran, hands out `first` or takes the next region from `rest` once the
    /// one in hand was walked, and starts timing the next input if it is
    /// due; returns the next input's record, if the run goes on. Out of
    /// the iteration's loop: it runs once per region, and before and
    /// after a timed input.
    #[inline(never)]
    fn at_stop(&mut self) -> Option<&'a [u8]> {
        if self.over {
            return None;
        }
        self.handed += self.quota - self.left;
        (self.quota, self.left) = (0, 0);
        // The place of the next input in the run.
        let at = self.handed;
        if let Some(s) = &mut self.samples {
            if s.running {
                if !self.one_at_a_time {
                    // A timed input of a consumer that gathers its inputs
                    // is a run of its own, timed whole.
                    return self.end_run();
                }
                // Asked for the next input: the timed one's execute is
                // done.
                s.stop();
            }
        }
        if at >= self.limit {
            return self.end_run();
        }
        if at > 0 && self.cur >= self.end {
            // The region in hand was walked: the next one.
            if !self.start.is_null() {
                self.rest.consume(self.end as usize - self.start as usize);
            }
            let region = self.rest.region();
            self.start = region.as_ptr();
            self.cur = self.start;
            self.end = region.as_ptr_range().end;
            if region.is_empty() {
                return self.end_run();
            }
        }
        // How many inputs from here on before the next stop.
        let mut quota = self.limit - at;
        if let Some(s) = &mut self.samples {
            if at < s.next {
                quota = quota.min(s.next - at);
            } else if !self.one_at_a_time && at > 0 {
                // The next input is timed: it starts a run of its own (it
                // stays in `rest`).
                return self.end_run();
            } else {
                // The next input is timed: stop again right after it, to
                // end its execute.
                quota = 1;
            }
        }
        let record = if at == 0 {
            self.first
        } else {
            self.take_at_cur()?
        };
        if let Some(s) = self.samples.as_mut().filter(|s| at >= s.next) {
            if let Some(last) = s.start(record) {
                // The run's last timed input: it ends before the next.
                self.limit = self.limit.min(at.saturating_add(last));
            }
        }
        (self.quota, self.left) = (quota, quota - 1);
        Some(record)
    }
}

/// The destination task and payload of the record whose header is at
/// `header`.
///
/// # Safety
///
/// `header` starts a whole record (header and payload) of a region as
/// [`RecordSource`] describes.
#[inline(always)]
unsafe fn record_at<'a>(header: *const u8) -> (TaskId, &'a [u8]) {
    // SAFETY: the caller's contract: 8 readable bytes (8-aligned in every
    // region, read unaligned all the same: the same instruction here).
    let h = u64::from_le(unsafe { header.cast::<u64>().read_unaligned() });
    let len = h as u32 as usize;
    // SAFETY: the payload follows the header, whole (the caller's
    // contract).
    let payload = unsafe { std::slice::from_raw_parts(header.add(HEADER), len) };
    ((h >> 32) as u32, payload)
}

impl RunSamples<'_> {
    /// Times `record`'s input, handed out now (a fill of its own); once
    /// the run can time no more, how many inputs after this one's place
    /// the run may still take (it ends before the next one due).
    fn start(&mut self, record: &[u8]) -> Option<u32> {
        let every = self.how.every.max(1);
        self.how.timed.start(&self.how.clock, record);
        let log = &mut *self.how.log;
        log.first = log.first.or(Some(self.how.timed.started.get()));
        self.running = true;
        self.next = self.next.saturating_add(every);
        (self.how.log.count + 1 == SAMPLES).then_some(every)
    }

    /// Ends the running sample: its execute latency is done.
    fn stop(&mut self) {
        let end = self.how.clock.now();
        let log = &mut *self.how.log;
        log.done[log.count] = self.how.clock.nanos(self.how.timed.started.get(), end);
        log.count += 1;
        self.running = false;
    }
}

impl Drop for InputBatch<'_, '_> {
    fn drop(&mut self) {
        // What was walked of the region in hand is taken; the rest (from
        // a record not handed out) stays in `rest`.
        if !self.start.is_null() {
            let walked = self.cur.min(self.end) as usize - self.start as usize;
            self.rest.consume(walked);
        }
    }
}

impl<'r, 'a: 'r> Iterator for InputBatch<'r, 'a> {
    type Item = Input<'r>;

    #[inline]
    fn next(&mut self) -> Option<Input<'r>> {
        let record = self.next_record()?;
        // SAFETY: `first` or a record of `rest`: trusted archived tuples by
        // the contracts of `new` and `RecordSource`.
        let view = unsafe { gale_codec::view_trusted(record) };
        Some(Input {
            view: view.with_fields(self.meta.fields),
            component: self.meta.component,
            stream: self.meta.stream,
            typed: self.meta.typed,
        })
    }
}

impl fmt::Debug for InputBatch<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InputBatch")
            .field("component", &self.meta.component)
            .field("stream", &self.meta.stream)
            .field("taken", &self.taken())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use gale_codec::{AlignedVec, Encoder, Header, TupleRef, Value};

    use super::*;
    use crate::runtime::queue::{BatchRecords, ByteQueue};

    const DEST: TaskId = 7;
    const STREAM: u32 = 3;

    /// `n` archived tuples of `STREAM` for `DEST`, the i-th holding i.
    fn records(n: usize) -> Vec<ByteQueue> {
        // In record batches of 7, so that a run's regions end between its
        // timed inputs and at them.
        let mut batches = Vec::new();
        for i in 0..n {
            if i % 7 == 0 {
                batches.push(ByteQueue::default());
            }
            push(batches.last_mut().unwrap(), DEST, STREAM, i as i64);
        }
        batches
    }

    /// Runs one batch over `n` records, timing from the `first`-th input
    /// on every `every`-th; with `one_at_a_time`, the consumer executes
    /// each input before asking for the next, else it gathers them. The
    /// inputs handed out (by their value), those timed while handed out,
    /// the execute latencies the run timed, and the records left in the
    /// source.
    fn run(
        n: usize,
        first: u32,
        every: u32,
        one_at_a_time: bool,
    ) -> (Vec<i64>, Vec<i64>, usize, usize) {
        let batches = records(n);
        let fields = Fields::new(["n"]).unwrap();
        let meta = StreamMeta {
            component: "c",
            stream: "s",
            fields: &fields,
            typed: None,
        };
        let timed = TimedInput::default();
        let mut log = SampleLog::new();
        let sampling = Sampling {
            clock: SampleClock::instant(),
            first,
            every,
            timed: &timed,
            log: &mut log,
        };
        // SAFETY: whole records archived by the encoder.
        let mut rest =
            unsafe { Trusted::new(BatchRecords::new(batches.iter().map(ByteQueue::as_batch))) };
        let (_, first_record) = rest.next().unwrap();
        let (mut handed, mut timed_ones) = (Vec::new(), Vec::new());
        {
            // SAFETY: as above.
            let mut batch = unsafe {
                InputBatch::new(first_record, &mut rest, DEST, STREAM, meta, Some(sampling))
            };
            if one_at_a_time {
                batch.one_at_a_time();
            }
            for input in &mut batch {
                let value = input.get(0).and_then(ArchivedValue::as_i64).unwrap();
                let archived = std::ptr::from_ref(input.view.archived()).cast::<u8>();
                if timed.is(archived) {
                    timed_ones.push(value);
                }
                handed.push(value);
            }
            assert_eq!(batch.taken() as usize, handed.len());
            batch.end_samples();
        }
        let executes = log.latencies().len();
        let mut left = 0;
        while rest.next().is_some() {
            left += 1;
        }
        (handed, timed_ones, executes, left)
    }

    #[test]
    fn a_run_times_the_inputs_due_and_goes_on_past_them() {
        for n in [1, 2, 5, 31, 33, 64, 200] {
            for first in [0, 1, 3, 19] {
                for every in [1, 2, 4, 20] {
                    let case = format!("n {n}, first {first}, every {every}");
                    let (handed, timed, executes, left) = run(n, first, every, true);
                    // Every input due is timed, up to SAMPLES of them; the
                    // run ends before the next one due after those.
                    let due: Vec<i64> = (first..n as u32)
                        .step_by(every as usize)
                        .take(SAMPLES)
                        .map(i64::from)
                        .collect();
                    let end = if due.len() == SAMPLES {
                        (first as usize + SAMPLES * every as usize).min(n)
                    } else {
                        n
                    };
                    assert_eq!(handed, (0..end as i64).collect::<Vec<_>>(), "{case}");
                    assert_eq!(timed, due, "{case}");
                    assert_eq!(executes, due.len(), "{case}");
                    assert_eq!(left, n - end, "{case}: given back");
                }
            }
        }
    }

    #[test]
    fn a_gathering_consumer_gets_a_timed_input_as_a_run_of_its_own() {
        for n in [1, 2, 40] {
            for first in [0, 1, 5, 35] {
                let case = format!("n {n}, first {first}");
                let (handed, timed, executes, left) = run(n, first, 20, false);
                let end = if first == 0 { 1 } else { n.min(first as usize) };
                assert_eq!(handed, (0..end as i64).collect::<Vec<_>>(), "{case}");
                let timed_first = if first == 0 { vec![0] } else { vec![] };
                assert_eq!(timed, timed_first, "{case}");
                assert_eq!(executes, timed_first.len(), "{case}");
                assert_eq!(left, n - end, "{case}: given back");
            }
        }
    }

    /// Appends a tuple of `stream` for `dest` holding `n`.
    fn push(q: &mut ByteQueue, dest: TaskId, stream: u32, n: i64) {
        let header = Header {
            stream,
            ..Header::default()
        };
        let mut buf = AlignedVec::<16>::new();
        buf.resize(256, 0);
        let values = [Value::I64(n)];
        let tuple = TupleRef {
            header: &header,
            values: &values,
        };
        let len = Encoder::new().encode_into(tuple, &mut buf).unwrap();
        q.push_bytes(dest, &buf[..len]);
    }

    /// The runs the worker's loop makes of `batches`: for each, its task,
    /// stream and the values it handed out (a consumer that takes `take`
    /// inputs at most, then stops).
    fn runs(batches: &[ByteQueue], take: usize) -> Vec<(TaskId, u32, Vec<i64>)> {
        let fields = Fields::new(["n"]).unwrap();
        // SAFETY: whole records archived by the encoder.
        let mut rest =
            unsafe { Trusted::new(BatchRecords::new(batches.iter().map(ByteQueue::as_batch))) };
        let mut runs = Vec::new();
        while let Some((dest, first)) = rest.next() {
            // SAFETY: as above.
            let stream = unsafe { view_trusted(first) }.stream();
            let meta = StreamMeta {
                component: "c",
                stream: "s",
                fields: &fields,
                typed: None,
            };
            // SAFETY: as above.
            let mut batch = unsafe { InputBatch::new(first, &mut rest, dest, stream, meta, None) };
            batch.one_at_a_time();
            let values: Vec<i64> = (&mut batch)
                .take(take)
                .map(|input| input.get(0).and_then(ArchivedValue::as_i64).unwrap())
                .collect();
            assert_eq!(batch.taken() as usize, values.len());
            let last = batch.last_taken().and_then(|v| v.get(0)?.as_i64());
            assert_eq!(last, values.last().copied());
            runs.push((dest, stream, values));
        }
        runs
    }

    #[test]
    fn a_run_walks_its_records_across_batches_and_stops_before_another_task_or_stream() {
        let mut batches = vec![
            ByteQueue::default(),
            ByteQueue::default(),
            ByteQueue::default(),
        ];
        // Batch 0: 1..=3 for (7, 3), then 4 for (8, 3). Batch 1: 5 for
        // (8, 3), 6 for (8, 4), 7..=8 for (7, 3). Batch 2: 9 for (7, 3).
        let plan: [(usize, TaskId, u32, i64); 9] = [
            (0, 7, 3, 1),
            (0, 7, 3, 2),
            (0, 7, 3, 3),
            (0, 8, 3, 4),
            (1, 8, 3, 5),
            (1, 8, 4, 6),
            (1, 7, 3, 7),
            (1, 7, 3, 8),
            (2, 7, 3, 9),
        ];
        for (b, dest, stream, n) in plan {
            push(&mut batches[b], dest, stream, n);
        }
        assert_eq!(
            runs(&batches, usize::MAX),
            [
                (7, 3, vec![1, 2, 3]),
                (8, 3, vec![4, 5]),
                (8, 4, vec![6]),
                (7, 3, vec![7, 8, 9]),
            ]
        );
        // A consumer that stops early leaves the rest for the next run.
        assert_eq!(
            runs(&batches, 2),
            [
                (7, 3, vec![1, 2]),
                (7, 3, vec![3]),
                (8, 3, vec![4, 5]),
                (8, 4, vec![6]),
                (7, 3, vec![7, 8]),
                (7, 3, vec![9]),
            ]
        );
        // An empty batch between two is walked past.
        let mut gap = vec![
            ByteQueue::default(),
            ByteQueue::default(),
            ByteQueue::default(),
        ];
        push(&mut gap[0], 7, 3, 1);
        push(&mut gap[2], 7, 3, 2);
        assert_eq!(runs(&gap, usize::MAX), [(7, 3, vec![1, 2])]);
    }
}
