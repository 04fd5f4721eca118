//! The collectors a running task emits through: [`SpoutOutput`] (Storm's
//! `SpoutOutputCollector`) and [`BoltOutput`] (Storm's `OutputCollector`),
//! thin handles on the worker's [`Emitter`]; and how a bolt task runs
//! ([`execute_bolt`]), from the worker's loop or chained: an emit that
//! chained tuples (see [`Chain`](super::chain::Chain)) runs them before it
//! returns.

use std::any::Any;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

use gale_codec::{view_trusted, ArchivedTuple, Value};

use super::input::{
    Anchor, Emission, Input, InputBatch, RecordSource, SampleLog, Sampling, TimedInput, Trusted,
};
use super::output::{Emitter, Track};
use super::plan::Plan;
use super::queue::SubRecords;
use super::recorder::input_index;
use crate::acker::SpoutPending;
use crate::{TaskId, Typed};

/// The methods both collectors share: untracked emits, errors, the id.
macro_rules! common_collector_methods {
    ($collector:ident) => {
        impl $collector<'_> {
            /// Emits `values` on the default stream, untracked (not part of
            /// any tuple tree).
            pub fn emit(&mut self, values: &[Value]) {
                self.emitter.emit_default(self.slot, self.task, values);
                self.run_chained();
            }

            /// Emits each of `tuples` on the default stream, in order,
            /// untracked: the same as [`emit`](Self::emit) for each, with
            /// what the engine does per emit (routing, counters, metrics)
            /// done once for the whole run where the stream's route allows
            /// (one subscriber that always gets the tuple, or none; or one
            /// whose shuffle, fields or partial-key grouping picks a task
            /// per tuple, each tuple then paying only its pick).
            ///
            /// ```
            /// # use gale_codec::Value;
            /// # use gale_engine::SpoutOutput;
            /// fn emit_words(out: &mut SpoutOutput<'_>, words: &[Vec<Value>]) {
            ///     out.emit_many(words.iter().map(Vec::as_slice));
            /// }
            /// ```
            pub fn emit_many<'v>(&mut self, tuples: impl IntoIterator<Item = &'v [Value]>) {
                self.emitter.emit_many_default(self.slot, self.task, tuples);
                self.run_chained();
            }

            /// [`emit_many`](Self::emit_many) of a slice of tuples (say,
            /// a batch read from a source into a buffer): when all have
            /// the stream's arity, they are delivered straight from the
            /// slice.
            ///
            /// ```
            /// # use gale_codec::Value;
            /// # use gale_engine::SpoutOutput;
            /// fn emit_lines(out: &mut SpoutOutput<'_>, lines: &[Value]) {
            ///     let batch: Vec<&[Value]> = lines.iter().map(std::slice::from_ref).collect();
            ///     out.emit_batch(&batch);
            /// }
            /// ```
            pub fn emit_batch(&mut self, tuples: &[&[Value]]) {
                self.emitter
                    .emit_batch_default(self.slot, self.task, tuples);
                self.run_chained();
            }

            /// Emits each of `values` as a tuple of one field on the
            /// default stream, in order, untracked: the same as
            /// [`emit_many`](Self::emit_many) of one-value tuples, delivered
            /// straight from the slice (the stream must have one field).
            ///
            /// ```
            /// # use gale_codec::Value;
            /// # use gale_engine::BoltOutput;
            /// fn emit_words(out: &mut BoltOutput<'_>, words: &[Value]) {
            ///     out.emit_each(words);
            /// }
            /// ```
            pub fn emit_each(&mut self, values: &[Value]) {
                self.emitter.emit_each_default(self.slot, self.task, values);
                self.run_chained();
            }

            /// Emits `values` on `stream`, untracked.
            pub fn emit_to(&mut self, stream: &str, values: &[Value]) {
                self.emitter
                    .emit(self.slot, self.task, Some(stream), None, values, Track::No);
                self.run_chained();
            }

            /// Emits `values` on the direct `stream` to `task` only,
            /// untracked.
            pub fn emit_direct(&mut self, task: TaskId, stream: &str, values: &[Value]) {
                let (slot, me) = (self.slot, self.task);
                self.emitter
                    .emit(slot, me, Some(stream), Some(task), values, Track::No);
                self.run_chained();
            }

            /// Emits `value` on the typed `stream` (declared with
            /// [`declare_typed`](crate::OutputFieldsDeclarer::declare_typed)
            /// for `T`), untracked: archived with rkyv as the tuple's one
            /// field, read in place with [`Input::typed`].
            pub fn emit_typed<T: Typed>(&mut self, stream: &str, value: &T) {
                self.emitter
                    .emit_typed(self.slot, self.task, stream, value, Track::No);
                self.run_chained();
            }

            /// Reports an error with this task's component and id; the
            /// topology keeps running.
            pub fn report_error(&mut self, error: impl fmt::Display) {
                self.emitter
                    .error(self.slot, self.task, format_args!("reported: {error}"));
            }

            /// Stops the whole topology with `error`, as Storm's `die` ends
            /// a worker: every worker thread stops (what is in flight is
            /// not drained; a spout's unacked tuples are replayed when the
            /// topology runs again), the error is reported with this
            /// task's component and id, and
            /// [`RunningTopology::wait`](crate::RunningTopology::wait)
            /// returns [`RunError::TaskFailed`](crate::RunError::TaskFailed)
            /// (`gale run` exits with it). For a fault no retry can mend (a
            /// subprocess that cannot start, a misconfigured connector),
            /// where going on would only replay tuples without end.
            pub fn fail_topology(&mut self, error: impl fmt::Display) {
                self.emitter
                    .fail_topology(self.slot, self.task, &error.to_string());
            }

            /// This task's id.
            pub fn task_id(&self) -> TaskId {
                self.task
            }

            /// Runs the tuples this call chained so far if they fill the
            /// scratch buffer (otherwise they run when the call returns).
            #[inline]
            fn run_chained(&mut self) {
                if self.emitter.outbox.chain.over_limit() {
                    run_chain(self.emitter, self.plan);
                }
            }
        }
    };
}

common_collector_methods!(SpoutOutput);
common_collector_methods!(BoltOutput);

/// The spout's collector (Storm's `SpoutOutputCollector`).
pub struct SpoutOutput<'a> {
    pub(crate) emitter: &'a mut Emitter,
    pub(crate) plan: &'a Plan,
    pub(crate) slot: usize,
    pub(crate) task: TaskId,
}

impl SpoutOutput<'_> {
    /// Emits `values` on the default stream as a reliable tuple: the spout
    /// gets exactly one `ack(msg_id)` once its tree is fully processed or
    /// one `fail(msg_id)` if it fails or times out.
    pub fn emit_with_id(&mut self, values: &[Value], msg_id: u64) {
        let track = Track::Root(msg_id);
        self.emitter
            .emit(self.slot, self.task, None, None, values, track);
        self.run_chained();
    }

    /// Emits each of `tuples` on the default stream as a reliable tuple
    /// with its message id, in order: the same as
    /// [`emit_with_id`](Self::emit_with_id) for each (one tree per tuple,
    /// one `ack` or `fail` per message id), with what the engine does per
    /// emit (routing, counters, metrics) done once for the whole run where
    /// the stream has one subscriber that always gets the tuple.
    ///
    /// The engine stops calling `next_tuple` once `max_spout_pending`
    /// trees are in flight; a run started below it may go past it by the
    /// run's length. A spout that must stay within it emits at most
    /// `max_spout_pending` ([`TopologyContext::max_spout_pending`](crate::TopologyContext::max_spout_pending))
    /// minus [`pending`](Self::pending) tuples per call.
    ///
    /// ```
    /// # use gale_codec::Value;
    /// # use gale_engine::SpoutOutput;
    /// /// Emits the records read from a source, numbered from `first`.
    /// fn emit_records(out: &mut SpoutOutput<'_>, records: &[Vec<Value>], first: u64) {
    ///     out.emit_many_with_ids(records.iter().map(Vec::as_slice).zip(first..));
    /// }
    /// ```
    pub fn emit_many_with_ids<'v>(&mut self, tuples: impl IntoIterator<Item = (&'v [Value], u64)>) {
        self.emitter
            .emit_many_with_ids_default(self.slot, self.task, tuples);
        self.run_chained();
    }

    /// Like [`emit_with_id`](Self::emit_with_id), on `stream`.
    pub fn emit_to_with_id(&mut self, stream: &str, values: &[Value], msg_id: u64) {
        let track = Track::Root(msg_id);
        self.emitter
            .emit(self.slot, self.task, Some(stream), None, values, track);
        self.run_chained();
    }

    /// Emits an [`Emission`] (any stream, direct or not, optionally
    /// reporting its target tasks), reliable with `msg_id` or untracked
    /// with `None`.
    pub fn emit_with(&mut self, emission: Emission<'_>, msg_id: Option<u64>) {
        let track = msg_id.map_or(Track::No, Track::Root);
        self.emitter
            .emit_general(self.slot, self.task, emission, track);
        self.run_chained();
    }

    /// [`emit_typed`](Self::emit_typed) as a reliable tuple with
    /// `msg_id` (as [`emit_with_id`](Self::emit_with_id)).
    pub fn emit_typed_with_id<T: Typed>(&mut self, stream: &str, value: &T, msg_id: u64) {
        let track = Track::Root(msg_id);
        self.emitter
            .emit_typed(self.slot, self.task, stream, value, track);
        self.run_chained();
    }

    /// Trees this spout task has in flight.
    pub fn pending(&self) -> usize {
        self.emitter.pending(self.slot).map_or(0, SpoutPending::len)
    }
}

/// The bolt's collector (Storm's `OutputCollector`).
pub struct BoltOutput<'a> {
    pub(crate) emitter: &'a mut Emitter,
    pub(crate) plan: &'a Plan,
    pub(crate) slot: usize,
    pub(crate) task: TaskId,
    /// Untracked inputs of this stream are acked by counting them in
    /// `acks` alone (added to the task's counters when the run ends, see
    /// [`BoltOutput::run`]): the run's stream, when the recorder needs
    /// nothing of such an ack; `u64::MAX` (no stream) otherwise.
    pub(crate) counted_stream: u64,
    /// Acks counted so.
    pub(crate) acks: u64,
    /// The input whose latencies the run samples now, if any (its ack
    /// also records its process latency).
    pub(crate) timed: &'a TimedInput,
}

impl<'a> BoltOutput<'a> {
    /// The collector of bolt task `task` (in `slot`) for a run of inputs
    /// of `stream` (`None`: a call without inputs, such as `poll`), whose
    /// latency-sampled input `timed` shows; then [`finish`](Self::finish)
    /// it.
    pub(crate) fn run(
        emitter: &'a mut Emitter,
        plan: &'a Plan,
        slot: usize,
        task: TaskId,
        stream: Option<u32>,
        timed: &'a TimedInput,
    ) -> Self {
        let counted_stream = stream
            .filter(|&s| emitter.metrics.ack_settles_from_totals(slot, s))
            .map_or(u64::MAX, u64::from);
        Self {
            emitter,
            plan,
            slot,
            task,
            counted_stream,
            acks: 0,
            timed,
        }
    }

    /// Adds the acks counted in the run to the task's counters.
    pub(crate) fn finish(self) {
        self.emitter.counters[self.slot].acked += self.acks;
    }
}

impl BoltOutput<'_> {
    /// Emits `values` on `stream` anchored to `anchors`: the new tuple joins
    /// the trees of every anchor (several anchors make a DAG), so they
    /// complete only once it is acked too.
    pub fn emit_anchored(&mut self, stream: &str, anchors: &[&Input<'_>], values: &[Value]) {
        let track = Track::Anchors(anchors);
        self.emitter
            .emit(self.slot, self.task, Some(stream), None, values, track);
        self.run_chained();
    }

    /// Emits `input`'s values on `stream`, anchored to `input`: Storm's
    /// `collector.emit(input, input.getValues())`, what an identity,
    /// filter or routing bolt does with the inputs it passes on. The same
    /// as [`emit_anchored`](Self::emit_anchored)`(stream, &[input],
    /// values)` with `input`'s values as [`Value`]s, but without building
    /// them: where the stream goes to one task without reading the values
    /// (a route resolved at start, a shuffle or global grouping) and they
    /// are flat (no lists or maps) and at most four, they are written to
    /// it straight from their archived form. Every other case builds them.
    ///
    /// ```
    /// use gale_engine::{Bolt, BoltOutput, Input, OutputFieldsDeclarer, DEFAULT_STREAM};
    ///
    /// /// Passes on the words longer than three letters.
    /// struct LongWords;
    ///
    /// impl Bolt for LongWords {
    ///     fn declare_output_fields(&self, declarer: &mut OutputFieldsDeclarer) {
    ///         declarer.declare(["word"]);
    ///     }
    ///
    ///     fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
    ///         if input.get(0).and_then(|w| w.as_str()).is_some_and(|w| w.len() > 3) {
    ///             out.forward(DEFAULT_STREAM, input);
    ///         }
    ///         out.ack(input);
    ///     }
    /// }
    /// ```
    pub fn forward(&mut self, stream: &str, input: &Input<'_>) {
        let track = Track::Anchors(std::slice::from_ref(&input));
        self.emitter
            .forward(self.slot, self.task, stream, &input.view, track);
        self.run_chained();
    }

    /// [`emit_typed`](Self::emit_typed) anchored to `anchors` (as
    /// [`emit_anchored`](Self::emit_anchored)).
    pub fn emit_typed_anchored<T: Typed>(
        &mut self,
        stream: &str,
        anchors: &[&Input<'_>],
        value: &T,
    ) {
        let track = Track::Anchors(anchors);
        self.emitter
            .emit_typed(self.slot, self.task, stream, value, track);
        self.run_chained();
    }

    /// Emits `values` on the direct `stream` to `task`, anchored.
    pub fn emit_direct_anchored(
        &mut self,
        task: TaskId,
        stream: &str,
        anchors: &[&Input<'_>],
        values: &[Value],
    ) {
        let track = Track::Anchors(anchors);
        self.emitter.emit(
            self.slot,
            self.task,
            Some(stream),
            Some(task),
            values,
            track,
        );
        self.run_chained();
    }

    /// Emits an [`Emission`] (any stream, direct or not, optionally
    /// reporting its target tasks) anchored to `anchors` (none: untracked).
    pub fn emit_with(&mut self, emission: Emission<'_>, anchors: &[Anchor]) {
        let track = Track::Owned(anchors);
        self.emitter
            .emit_general(self.slot, self.task, emission, track);
        self.run_chained();
    }

    /// Acknowledges `input` as fully processed by this bolt. Ack (or fail)
    /// each input exactly once, after emitting what is anchored to it.
    #[inline(always)]
    pub fn ack(&mut self, input: &Input<'_>) {
        let view = &input.view;
        let archived = std::ptr::from_ref(view.archived()).cast::<u8>();
        if u64::from(view.stream()) == self.counted_stream && view.roots().len() == 0 {
            if self.timed.is(archived) {
                self.timed_acked(archived);
            }
            self.acks += 1;
            return;
        }
        self.ack_tracked(view.archived());
    }

    /// [`ack`](Self::ack) of an input in a tree or of another stream than
    /// the counted one: out of line, so that a bolt's `execute` stays
    /// small enough to be inlined into its run. The commonest, an input
    /// of the counted stream in one tree, takes a few instructions here:
    /// counted with the run as an untracked ack is, and one update for
    /// the acker log.
    #[inline(never)]
    fn ack_tracked(&mut self, tuple: &ArchivedTuple) {
        let header = &tuple.header;
        if let [root] = header.roots() {
            let input = std::ptr::from_ref(tuple).cast::<u8>();
            if u64::from(header.stream()) == self.counted_stream && !self.timed.is(input) {
                self.acks += 1;
                self.emitter
                    .tracking
                    .ack(root.to_native(), header.edge_id());
                return;
            }
        }
        self.ack_general(tuple);
    }

    /// [`ack_tracked`](Self::ack_tracked) of any input.
    #[inline(never)]
    fn ack_general(&mut self, tuple: &ArchivedTuple) {
        let header = &tuple.header;
        self.ack_roots(
            header.roots().iter().map(|r| r.to_native()),
            header.edge_id(),
            header.stream(),
            std::ptr::from_ref(tuple).cast(),
        );
    }

    /// Fails `input`: every tree it belongs to fails at once and its spout
    /// may replay it.
    pub fn fail(&mut self, input: &Input<'_>) {
        self.fail_roots(input.view.roots(), input.view.stream());
    }

    /// [`ack`](Self::ack) for an input kept as an [`Anchor`].
    pub fn ack_anchor(&mut self, anchor: &Anchor) {
        self.ack_roots(
            anchor.roots.iter().copied(),
            anchor.edge,
            anchor.stream,
            std::ptr::null(),
        );
    }

    /// [`fail`](Self::fail) for an input kept as an [`Anchor`].
    pub fn fail_anchor(&mut self, anchor: &Anchor) {
        self.fail_roots(anchor.roots.iter().copied(), anchor.stream);
    }

    /// Counts the ack (`input`: the archived input while it is executed,
    /// for its process latency if it is the timed one; null for an
    /// anchor) and sends it.
    #[inline(always)]
    fn ack_roots(
        &mut self,
        roots: impl Iterator<Item = u64>,
        edge: u64,
        stream: u32,
        input: *const u8,
    ) {
        if !input.is_null() && self.timed.is(input) {
            self.timed_acked(input);
        }
        self.emitter.acked(self.slot, stream);
        for root in roots {
            self.emitter.tracking.ack(root, edge);
        }
    }

    /// Records the process latency of the timed input, `input` (if it
    /// still is), acked now.
    #[cold]
    #[inline(never)]
    fn timed_acked(&mut self, input: *const u8) {
        if let Some(started) = self.timed.take(input) {
            self.emitter.metrics.processed(self.slot, started);
        }
    }

    /// Counts the fail (as [`ack_roots`](Self::ack_roots)) and sends it.
    fn fail_roots(&mut self, roots: impl Iterator<Item = u64>, stream: u32) {
        self.emitter.failed(self.slot, stream);
        for root in roots {
            self.emitter.tracking.fail(root);
        }
    }

    /// Says this bolt's inputs complete after `execute` returns and the
    /// bolt times them itself ([`record_execute_latency`]): from now on
    /// the engine does not time this task's `execute` calls (the call
    /// that says so included). A shell bolt says so in every `execute`.
    ///
    /// [`record_execute_latency`]: Self::record_execute_latency
    pub fn times_execute_itself(&mut self) {
        self.emitter.metrics.tasks[self.slot].self_timed = true;
    }

    /// Records one execute latency the bolt measured itself (a shell
    /// bolt: from handing an input to its child to the child's ack or
    /// fail), into the task's execute-latency histogram; see
    /// [`times_execute_itself`](Self::times_execute_itself). Nothing is
    /// recorded with metrics off.
    pub fn record_execute_latency(&mut self, latency: std::time::Duration) {
        let task = &mut self.emitter.metrics.tasks[self.slot];
        task.self_timed = true;
        if let Some(h) = task.execute.as_mut() {
            h.record(u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX));
        }
    }

    /// Restarts the timeout of every tree `input` belongs to (for
    /// long-running work on one tuple).
    pub fn reset_timeout(&mut self, input: &Input<'_>) {
        for root in input.view.roots() {
            self.emitter.tracking.reset(root);
        }
        // Sent and published now, not after `execute` returns: the point is
        // to reach the spout while this work goes on.
        let emitter = &mut *self.emitter;
        emitter.tracking.flush(&mut emitter.outbox);
        emitter.outbox.flush();
    }
}

/// The message of a panic's payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned())
}

/// Runs what the call that just returned (a spout's `next_tuple`, a
/// bolt's run, a `poll`) chained, if anything.
#[inline]
pub(crate) fn run_chained(emitter: &mut Emitter, plan: &Plan) {
    if emitter.outbox.chain.has_work() {
        run_chain(emitter, plan);
    }
}

/// Runs the tuples chained at this depth (its scratch buffer), one level
/// deeper in the chain.
#[inline(never)]
fn run_chain(emitter: &mut Emitter, plan: &Plan) {
    let scratch = emitter.outbox.chain.enter();
    // SAFETY: the chain's scratch buffers hold only whole records of
    // tuples archived by this thread's encoder (`Outbox::push_local`,
    // `deliver_many`), 8-aligned, unmodified since.
    let mut records = unsafe { Trusted::new(SubRecords::new(scratch.as_batch())) };
    while let Some((dest, record)) = records.next() {
        // SAFETY: a trusted record (above).
        unsafe { execute_bolt(emitter, plan, dest, record, &mut records) };
    }
    emitter.outbox.chain.leave(scratch);
}

/// Runs bolt task `dest` on `record` and on the records after it in `rest`
/// that are for the same task and stream, as one run
/// (`Bolt::execute_batch`), paying counters, metrics and the panic guard
/// once for the run. The inputs the latency sampler picks are timed within
/// the run (its iteration stops to look before and after each, see
/// [`InputBatch`]), so sampling does not cut runs short for a bolt that
/// executes its inputs one at a time.
/// Returns how many inputs it took.
///
/// # Safety
///
/// `record` must be a tuple archived by this topology's encoder (through
/// our rings, the local queue or the chain), 8-aligned, as
/// [`RecordSource`] says of the records of `rest`.
pub(crate) unsafe fn execute_bolt<'a>(
    emitter: &mut Emitter,
    plan: &Plan,
    dest: TaskId,
    record: &'a [u8],
    rest: &mut dyn RecordSource<'a>,
) -> u32 {
    let slot = emitter.slot_of(dest);
    let Some(mut bolt) = emitter.bolts.get_mut(slot).and_then(Option::take) else {
        emitter.missing(dest);
        return 1;
    };
    emitter.outbox.chain.set_running(dest, true);
    // SAFETY: the caller's contract.
    let view = unsafe { view_trusted(record) };
    let stream_id = view.stream();
    let metrics = &emitter.metrics;
    let timed = TimedInput::default();
    // The run's execute latencies, logged here only if it samples.
    let mut log = None;
    let first_sampled = metrics.sampler.next_sampled();
    let sampling = first_sampled.map(|first| Sampling {
        clock: metrics.clock,
        first,
        every: metrics.sampler.stride(),
        timed: &timed,
        log: log.insert(SampleLog::new()),
    });
    let (taken, panicked) = {
        // SAFETY: `record` and `rest` are trusted (this function's
        // contract).
        let mut batch = unsafe {
            InputBatch::new(
                record,
                rest,
                dest,
                stream_id,
                plan.stream_meta(stream_id),
                sampling,
            )
        };
        let mut out = BoltOutput::run(emitter, plan, slot, dest, Some(stream_id), &timed);
        let result = catch_unwind(AssertUnwindSafe(|| {
            bolt.execute_batch(&mut batch, &mut out);
        }));
        out.finish();
        // A timed input's execute ended when the next input was asked
        // for, or ends with the run.
        batch.end_samples();
        // Counted whatever happened: an execute that panics was executed
        // too (and its input failed).
        let taken = batch.taken().max(1);
        (
            taken,
            result.err().map(|payload| (payload, batch.last_taken())),
        )
    };
    let metrics = &mut emitter.metrics;
    if let (Some(log), Some(at)) = (&log, first_sampled) {
        if let Some(started) = log.first_started() {
            metrics.sampler.observe(&metrics.clock, started, at);
        }
    }
    let task = &mut metrics.tasks[slot];
    if let (Some(h), Some(log), false) = (task.execute.as_mut(), &log, task.self_timed) {
        for &ns in log.latencies() {
            h.record(ns);
        }
    }
    emitter.bolts[slot] = Some(bolt);
    emitter.outbox.chain.set_running(dest, false);
    // What the run emitted to bolts of this thread, chained, runs now.
    run_chained(emitter, plan);
    let metrics = &mut emitter.metrics;
    metrics.sampler.advance(taken);
    let stream = input_index(stream_id, metrics.streams);
    metrics.tasks[slot].executed(stream, u64::from(taken));
    emitter.counters[slot].executed += u64::from(taken);
    if let Some((payload, last)) = panicked {
        // The input's trees fail (so their spouts replay them); the task
        // keeps running, and every panic is counted and reported.
        for root in last.unwrap_or(view).roots() {
            emitter.tracking.fail(root);
        }
        emitter.counters[slot].failed += 1;
        let message = format!(
            "panicked in execute (input failed): {}",
            panic_message(&*payload)
        );
        emitter.error(slot, dest, format_args!("{message}"));
    }
    taken
}
