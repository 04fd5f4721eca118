//! What a bolt reads: [`Input`], a tuple read in place from a ring (or
//! handed over directly by a chained emit), [`InputBatch`], a run of
//! inputs for [`Bolt::execute_batch`](crate::Bolt::execute_batch), and
//! [`Anchor`], an input's place in its tuple trees kept past `execute`.
//! Also [`Emission`], the general form of an emit.

use std::fmt;
use std::mem::MaybeUninit;

use gale_codec::{view_trusted, ArchivedValue, FieldError, Fields, Tuple, TupleView, Value};

use super::clock::{SampleClock, Stamp};
use super::plan::StreamMeta;
use super::queue::SubRecords;
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
    /// The next record after `back`, when a run looked at it and it was
    /// not its own.
    peeked: Option<(TaskId, &'b [u8])>,
}

impl<'b, I: Iterator<Item = (TaskId, &'b [u8])>> Trusted<'b, I> {
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
unsafe impl<'b, I: Iterator<Item = (TaskId, &'b [u8])>> RecordSource<'b> for Trusted<'b, I> {
    #[inline]
    fn take_for(&mut self, dest: TaskId, stream: u32, into: &mut [MaybeUninit<&'b [u8]>]) -> usize {
        let fits = |(to, tuple): (TaskId, &'b [u8])| {
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
            if !fits(record) {
                self.unread(record);
                return n;
            }
            into[n] = MaybeUninit::new(record.1);
            n += 1;
        }
        // Then straight from `inner` (nothing is put back now).
        while n < into.len() {
            let Some(record) = self.inner.next() else {
                break;
            };
            if !fits(record) {
                self.peeked = Some(record);
                break;
            }
            into[n] = MaybeUninit::new(record.1);
            n += 1;
        }
        n
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
        let mut n = 0;
        while n < into.len() {
            let Some(tuple) = self.next() else {
                break;
            };
            into[n] = MaybeUninit::new(tuple);
            n += 1;
        }
        n
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
    dest: TaskId,
    stream_id: u32,
    meta: StreamMeta<'r>,
    /// Inputs that may still be taken.
    limit: u32,
    /// Inputs handed out before the current fill.
    handed: u32,
    /// The first input's execute is timed (latency sampling): the clock.
    timed: Option<SampleClock>,
    /// The consumer says it executes its inputs one at a time
    /// ([`one_at_a_time`](Self::one_at_a_time)).
    one_at_a_time: bool,
    /// When the consumer asked for the second input, a timed first
    /// input's execute being done then.
    first_done: Option<Stamp>,
}

impl<'r, 'a> InputBatch<'r, 'a> {
    /// A run that starts with `first` (for task `dest`, of stream
    /// `stream_id` named by `meta`), continues with what `rest` has for
    /// the same task and stream, and holds at most `limit` inputs. With
    /// `timed`, the first input's execute is timed: the run goes on past
    /// it only for a consumer that executes its inputs one at a time
    /// ([`one_at_a_time`](Self::one_at_a_time)), and
    /// [`first_done`](Self::first_done) says when it asked for the next.
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
        limit: u32,
        timed: Option<SampleClock>,
    ) -> Self {
        let mut taken_ahead = [const { MaybeUninit::uninit() }; TAKE];
        taken_ahead[0] = MaybeUninit::new(first);
        Self {
            rest,
            taken_ahead,
            next: 0,
            ahead: 1,
            dest,
            stream_id,
            meta,
            limit: limit.max(1),
            handed: 0,
            timed,
            one_at_a_time: false,
            first_done: None,
        }
    }

    /// Says that the consumer executes the inputs one at a time, each
    /// done when it asks for the next (as `Bolt::execute_batch`'s default
    /// does): a sampled first input is then timed until the second is
    /// asked for, and the run goes on. A consumer that gathers inputs and
    /// works on them together does not say so: a sampled input is then a
    /// run of its own, timed whole.
    pub fn one_at_a_time(&mut self) {
        self.one_at_a_time = true;
    }

    /// When the consumer asked for the second input (the end of a timed
    /// first input's execute), if it did.
    pub(crate) fn first_done(&self) -> Option<Stamp> {
        self.first_done
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
        if self.next == self.ahead && !self.refill() {
            return None;
        }
        debug_assert!(self.next < self.ahead && self.ahead <= TAKE);
        // SAFETY: `next < ahead <= TAKE` (`take_for` fills at most
        // `into.len()`), and `taken_ahead[..ahead]` was initialized by
        // `new` or `take_for` (`RecordSource`'s contract).
        let record = unsafe { self.taken_ahead.get_unchecked(self.next).assume_init() };
        self.next += 1;
        Some(record)
    }

    /// Takes more records from `rest` once everything in hand was handed
    /// out; whether any came. Out of the iteration's loop: it runs once
    /// per [`TAKE`] inputs.
    #[inline(never)]
    fn refill(&mut self) -> bool {
        // The first fill is the first input alone: the second is asked
        // for now, and a timed first input's execute is done.
        if let (Some(clock), 0, None) = (self.timed, self.handed, self.first_done) {
            if !self.one_at_a_time {
                return false;
            }
            self.first_done = Some(clock.now());
        }
        // Everything in hand was handed out, so `handed` counts every
        // record taken: the limit holds. (Nothing changes unless more
        // come: `last_taken` still finds the last one.)
        let handed = self.handed + self.next as u32;
        let want = (self.limit.saturating_sub(handed) as usize).min(TAKE);
        if want == 0 {
            return false;
        }
        let into = &mut self.taken_ahead[..want];
        let ahead = self.rest.take_for(self.dest, self.stream_id, into);
        if ahead == 0 {
            return false;
        }
        (self.handed, self.next, self.ahead) = (handed, 0, ahead);
        true
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
