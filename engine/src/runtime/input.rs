//! What a bolt reads: [`Input`], a tuple read in place from a ring (or
//! handed over directly by a chained emit), [`InputBatch`], a run of
//! inputs for [`Bolt::execute_batch`](crate::Bolt::execute_batch), and
//! [`Anchor`], an input's place in its tuple trees kept past `execute`.
//! Also [`Emission`], the general form of an emit.

use std::cell::Cell;
use std::fmt;
use std::mem::MaybeUninit;

use gale_codec::{view_trusted, ArchivedValue, FieldError, Fields, Tuple, TupleView, Value};

use super::clock::{SampleClock, Stamp};
use super::plan::StreamMeta;
use super::queue::{SubRecords, TakeRecords};
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
/// rest of a ring's read batch, or nothing.
///
/// # Safety
///
/// Every record `take_for` returns is an archived tuple of our own rings
/// or queues, as [`gale_codec::view_trusted`] requires: written by this
/// topology's encoder (or checked by the link before it entered a ring),
/// unmodified, 8-aligned; and `take_for` initializes the slots of `into`
/// it says it filled.
pub(crate) unsafe trait RecordSource<'a> {
    /// Moves the next records (archived tuples, record headers stripped) into
    /// `into` while they are for task `dest` on stream `stream`, at most
    /// `into.len()`; returns how many (`into[..n]`, initialized). The first
    /// record that is not stays.
    fn take_for(&mut self, dest: TaskId, stream: u32, into: &mut [MaybeUninit<&'a [u8]>]) -> usize;

    /// Puts `records`, taken by [`take_for`](Self::take_for) for `dest`
    /// and not used, back in front of the rest, in the same order.
    fn give_back(&mut self, dest: TaskId, records: &[&'a [u8]]);
}

/// A source with no further records.
pub(crate) struct NoMore;

// SAFETY: it returns no record at all.
unsafe impl<'a> RecordSource<'a> for NoMore {
    fn take_for(
        &mut self,
        _dest: TaskId,
        _stream: u32,
        _into: &mut [MaybeUninit<&'a [u8]>],
    ) -> usize {
        0
    }

    fn give_back(&mut self, _dest: TaskId, records: &[&'a [u8]]) {
        debug_assert!(records.is_empty(), "nothing was taken");
    }
}

/// Trusted tuples (with their destination tasks) from `I`, as the source
/// of a bolt's run: the worker takes the first of a run with `next`, the
/// run takes those after it for the same task and stream.
pub(crate) struct Trusted<'b, I> {
    inner: I,
    /// Records put back in front of `peeked` and `inner`, the next one
    /// last (a stack).
    back: Vec<(TaskId, &'b [u8])>,
    /// The next record after `back`: one put back while nothing else was
    /// (kept apart, so that putting back one record allocates nothing).
    peeked: Option<(TaskId, &'b [u8])>,
}

impl<'b, I: TakeRecords<'b>> Trusted<'b, I> {
    /// Tuples from `inner`.
    ///
    /// # Safety
    ///
    /// `inner` yields only trusted archived tuples as `RecordSource`
    /// requires: records of our own rings or queues.
    pub(crate) unsafe fn new(inner: I) -> Self {
        Self {
            inner,
            back: Vec::new(),
            peeked: None,
        }
    }

    /// The next tuple and its destination task.
    #[inline]
    pub(crate) fn next(&mut self) -> Option<(TaskId, &'b [u8])> {
        if let Some(record) = self.back.pop() {
            return Some(record);
        }
        self.peeked.take().or_else(|| self.inner.next())
    }

    /// Puts `record`, just taken by [`next`](Self::next), back in front.
    #[inline]
    fn unread(&mut self, record: (TaskId, &'b [u8])) {
        if self.back.is_empty() && self.peeked.is_none() {
            self.peeked = Some(record);
        } else {
            self.back.push(record);
        }
    }
}

// SAFETY: `Trusted::new`'s contract: only our own records (a worker's inbound
// rings (record batches written by an `Outbox` of this topology, or put
// there by the link after `EngineRoute::check` validated them, and its
// local queue, archived by its own encoder).
unsafe impl<'b, I: TakeRecords<'b>> RecordSource<'b> for Trusted<'b, I> {
    #[inline]
    fn take_for(&mut self, dest: TaskId, stream: u32, into: &mut [MaybeUninit<&'b [u8]>]) -> usize {
        let fits = |to: TaskId, tuple: &'b [u8]| {
            // SAFETY: a trusted record (`Trusted::new`'s contract).
            to == dest && unsafe { view_trusted(tuple) }.stream() == stream
        };
        let mut n = 0;
        // Records put back first (rare), one by one.
        while !self.back.is_empty() || self.peeked.is_some() {
            if n == into.len() {
                return n;
            }
            let Some(record) = self.next() else {
                return n;
            };
            if !fits(record.0, record.1) {
                self.unread(record);
                return n;
            }
            into[n] = MaybeUninit::new(record.1);
            n += 1;
        }
        // Then straight from `inner` (nothing is put back now; the first
        // record that does not fit stays there).
        n + self.inner.take_run(&mut into[n..], fits)
    }

    fn give_back(&mut self, dest: TaskId, records: &[&'b [u8]]) {
        for &record in records.iter().rev() {
            self.unread((dest, record));
        }
    }
}

/// The records of a batch that are all for one task and stream (a chained
/// run): a run takes them without looking at each one's task and stream.
pub(crate) struct OneRun<'b> {
    records: SubRecords<'b>,
}

impl<'b> OneRun<'b> {
    /// The records of `records`.
    ///
    /// # Safety
    ///
    /// Every record of `records` is a trusted archived tuple as
    /// `RecordSource` requires, and all are for one task and one stream.
    pub(crate) unsafe fn new(records: SubRecords<'b>) -> Self {
        Self { records }
    }

    /// The next tuple.
    #[inline]
    pub(crate) fn next(&mut self) -> Option<&'b [u8]> {
        self.records.next().map(|(_, tuple)| tuple)
    }
}

// SAFETY: `OneRun::new`'s contract: trusted records, all of one task and
// stream, so every record is one `take_for` may return for them.
unsafe impl<'b> RecordSource<'b> for OneRun<'b> {
    #[inline]
    fn take_for(
        &mut self,
        _dest: TaskId,
        _stream: u32,
        into: &mut [MaybeUninit<&'b [u8]>],
    ) -> usize {
        self.records.take_run(into, |_, _| true)
    }

    fn give_back(&mut self, _dest: TaskId, records: &[&'b [u8]]) {
        // The records given back are the last ones taken, in order.
        if let Some(first) = records.first() {
            self.records.rewind(first);
        }
    }
}

/// Records an [`InputBatch`] takes from its source at once: one (dynamic)
/// call to the source per this many inputs.
const TAKE: usize = 32;

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
}

impl SampleLog {
    /// An empty log.
    pub(crate) fn new() -> Self {
        Self {
            done: [0; SAMPLES],
            count: 0,
        }
    }

    /// The latencies logged.
    pub(crate) fn latencies(&self) -> &[u64] {
        &self.done[..self.count]
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
    /// Records in hand: `taken_ahead[next..ahead]` are not handed out yet
    /// (given back to `rest` when the batch is dropped). The first fill is
    /// the run's first record alone. (Left uninitialized past `ahead`: a
    /// run of one input costs no stores for the rest.)
    taken_ahead: [MaybeUninit<&'a [u8]>; TAKE],
    next: usize,
    ahead: usize,
    /// Where the iteration stops to look (`next <= stop <= ahead`): the
    /// end of the records in hand, or a timed input's start or end.
    stop: usize,
    dest: TaskId,
    stream_id: u32,
    meta: StreamMeta<'r>,
    /// Inputs that may be taken in all.
    limit: u32,
    /// Inputs handed out before the current fill.
    handed: u32,
    /// Latency sampling, if the run samples. The iteration stops to look
    /// before and after a timed input (`stop`), so that starting and
    /// ending its sample is done out of the iteration's loop, as a fill
    /// is.
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
        // The first fill is `first` alone: timed from now if it is due.
        let mut samples = sampling.map(|how| RunSamples {
            next: how.first,
            how,
            running: false,
        });
        let mut limit = u32::MAX;
        if let Some(s) = samples.as_mut().filter(|s| s.next == 0) {
            limit = s.start(first).unwrap_or(limit);
        }
        let mut taken_ahead = [const { MaybeUninit::uninit() }; TAKE];
        taken_ahead[0] = MaybeUninit::new(first);
        Self {
            rest,
            taken_ahead,
            next: 0,
            ahead: 1,
            stop: 1,
            dest,
            stream_id,
            meta,
            limit,
            handed: 0,
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
        self.handed + self.next as u32
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
        // `next` counts what this fill handed out, and a fill is made only
        // once the one before is all handed out: if anything was taken,
        // the last one is `taken_ahead[next - 1]`.
        let last = self.next.checked_sub(1)?;
        // SAFETY: `last < next <= ahead`: initialized (by `new` or
        // `take_for`, `RecordSource`'s contract).
        Some(unsafe { self.taken_ahead[last].assume_init() })
    }

    /// The next record: the first, then those taken ahead, taking more
    /// while the limit allows.
    #[inline(always)]
    fn next_record(&mut self) -> Option<&'a [u8]> {
        if self.next == self.stop && !self.at_stop() {
            return None;
        }
        debug_assert!(self.next < self.stop && self.stop <= self.ahead && self.ahead <= TAKE);
        // SAFETY: `next < stop <= ahead <= TAKE` (`take_for` fills at most
        // `into.len()`), and `taken_ahead[..ahead]` was initialized by
        // `new` or `take_for` (`RecordSource`'s contract).
        let record = unsafe { self.taken_ahead.get_unchecked(self.next).assume_init() };
        self.next += 1;
        Some(record)
    }

    /// Called where the iteration stops to look (`next == stop`): ends the
    /// timed input's execute if one ran, takes more records from `rest`
    /// once everything in hand was handed out, and starts timing the next
    /// input if it is due; whether there is a next input. Out of the
    /// iteration's loop: it runs once per [`TAKE`] inputs, and before and
    /// after a timed input.
    #[inline(never)]
    fn at_stop(&mut self) -> bool {
        // The place of the next input in the run.
        let at = self.handed + self.next as u32;
        if let Some(s) = &mut self.samples {
            if s.running {
                if !self.one_at_a_time {
                    // A timed input of a consumer that gathers its
                    // inputs is a run of its own, timed whole.
                    return false;
                }
                // Asked for the next input: the timed one's execute is
                // done.
                s.stop();
            }
        }
        if at >= self.limit {
            return false;
        }
        if self.next == self.ahead {
            // Everything in hand was handed out, so `at` counts every
            // record taken. (Nothing changes unless more come:
            // `last_taken` still finds the last one.)
            let want = ((self.limit - at) as usize).min(TAKE);
            let into = &mut self.taken_ahead[..want];
            let ahead = self.rest.take_for(self.dest, self.stream_id, into);
            if ahead == 0 {
                return false;
            }
            (self.handed, self.next, self.ahead) = (at, 0, ahead);
        }
        self.stop = self.ahead;
        let Some(s) = &mut self.samples else {
            return true;
        };
        if at < s.next {
            // Stop again before the next timed input.
            self.stop = self.stop.min(self.next + (s.next - at) as usize);
            return true;
        }
        if !self.one_at_a_time {
            // The next input is timed: it starts a run of its own (what
            // was taken for this one goes back).
            return false;
        }
        // SAFETY: `next < ahead` (a fill above, or records in hand), and
        // `taken_ahead[..ahead]` is initialized.
        let record = unsafe { self.taken_ahead[self.next].assume_init() };
        if let Some(last) = s.start(record) {
            // The run's last timed input: it ends before the next.
            self.limit = self.limit.min(at.saturating_add(last));
        }
        // Stop again after it, to end its execute.
        self.stop = self.next + 1;
        true
    }
}

impl RunSamples<'_> {
    /// Times `record`'s input, handed out now (a fill of its own); once
    /// the run can time no more, how many inputs after this one's place
    /// the run may still take (it ends before the next one due).
    fn start(&mut self, record: &[u8]) -> Option<u32> {
        let every = self.how.every.max(1);
        self.how.timed.start(&self.how.clock, record);
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
        // Nothing taken: the first record stays the caller's (it counts
        // it executed), and nothing else was taken from `rest`.
        if self.next < self.ahead && self.taken() > 0 {
            let unused = &self.taken_ahead[self.next..self.ahead];
            // SAFETY: `taken_ahead[..ahead]` is initialized (`new`,
            // `take_for`'s contract), and `MaybeUninit<T>` has `T`'s
            // layout.
            let unused =
                unsafe { std::slice::from_raw_parts(unused.as_ptr().cast(), unused.len()) };
            self.rest.give_back(self.dest, unused);
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
    use crate::runtime::queue::ByteQueue;

    const DEST: TaskId = 7;
    const STREAM: u32 = 3;

    /// `n` archived tuples of `STREAM` for `DEST`, the i-th holding i.
    fn records(n: usize) -> ByteQueue {
        let header = Header {
            stream: STREAM,
            ..Header::default()
        };
        let mut buf = AlignedVec::<16>::new();
        buf.resize(256, 0);
        let (mut q, mut encoder) = (ByteQueue::default(), Encoder::new());
        for i in 0..n {
            let values = [Value::I64(i as i64)];
            let tuple = TupleRef {
                header: &header,
                values: &values,
            };
            let len = encoder.encode_into(tuple, &mut buf).unwrap();
            q.push_bytes(DEST, &buf[..len]);
        }
        q
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
        let q = records(n);
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
        // SAFETY: records archived by the encoder, all of one task and
        // stream.
        let mut rest = unsafe { OneRun::new(SubRecords::new(q.as_batch())) };
        let first_record = rest.next().unwrap();
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
}
