//! What a running task touches: [`Input`] (a tuple read in place) and the
//! collectors [`SpoutOutput`] and [`BoltOutput`], backed by the worker's
//! [`Emitter`], which routes, archives and enqueues every emitted tuple.

use std::fmt;
use std::sync::Arc;

use gale_codec::{
    encoded_len_bound, ArchivedValue, EncodeError, Encoder, FieldError, Fields, Header, Tuple,
    TupleRef, TupleView, Value,
};
use gale_transport::{Producer, ReserveError};

use super::plan::Plan;
use super::queue::ByteQueue;
use super::recorder::ThreadMetrics;
use super::shared::{Shared, TaskCounters};
use crate::acker::{table, AckTable, IdGen, SpoutPending};
use crate::grouping::Router;
use crate::TaskId;
use std::time::Instant;

/// Bytes before the archived tuple in a ring record: destination task id
/// and a reserved word (keeps the tuple 8-aligned).
pub(crate) const RING_PREFIX: usize = 8;

/// An input tuple, read in place from a ring (Storm's `Tuple`).
pub struct Input<'a> {
    pub(crate) view: TupleView<'a>,
    pub(crate) component: &'a str,
    pub(crate) stream: &'a str,
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
    /// [`BoltOutput::ack_anchor`], [`BoltOutput::fail_anchor`] and
    /// [`BoltOutput::emit_with`] later.
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
    roots: Vec<u64>,
    edge: u64,
    /// The input's stream id (its acks and fails are counted per input
    /// stream).
    stream: u32,
}

impl Anchor {
    /// Whether the input was tracked by the acker (belongs to any tree).
    pub fn is_tracked(&self) -> bool {
        !self.roots.is_empty()
    }
}

/// One emit in its general form, for components that decide per tuple
/// where it goes (multi-lang shells): [`SpoutOutput::emit_with`],
/// [`BoltOutput::emit_with`].
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

/// One outbound ring to another worker thread, with the records that did
/// not fit yet.
pub(crate) struct Outbound {
    pub(crate) ring: Producer,
    pub(crate) overflow: ByteQueue,
}

impl Outbound {
    /// Moves overflowed records into the ring while it has room; returns
    /// how many moved.
    pub(crate) fn drain_overflow(&mut self) -> usize {
        let mut moved = 0;
        while let Some((dest, payload)) = self.overflow.front() {
            let Ok(mut slot) = self.ring.try_reserve(RING_PREFIX + payload.len()) else {
                break;
            };
            slot[..4].copy_from_slice(&dest.to_le_bytes());
            slot[4..8].fill(0);
            slot[RING_PREFIX..].copy_from_slice(payload);
            slot.commit();
            self.overflow.pop();
            moved += 1;
        }
        moved
    }
}

/// One output stream of one task, resolved at start: what `emit` checks
/// and where it routes, with no lookups by name on the hot path.
pub(crate) struct StreamOut {
    pub(crate) name: String,
    pub(crate) id: u32,
    pub(crate) arity: usize,
    pub(crate) direct: bool,
    /// One per subscription: its router and its (ascending) target tasks.
    pub(crate) routes: Vec<(Router, Vec<TaskId>)>,
}

/// Where archived tuples go: the outbound rings (and their overflows) and
/// the same-thread queue.
pub(crate) struct Sink {
    pub(crate) thread: usize,
    /// Worker thread of each task, indexed by task id.
    pub(crate) thread_of: Vec<usize>,
    pub(crate) encoder: Encoder,
    pub(crate) header: Header,
    /// Indexed by destination thread; `None` for this thread.
    pub(crate) outbound: Vec<Option<Outbound>>,
    pub(crate) local: ByteQueue,
    /// Records handed to a queue or ring (for termination detection).
    pub(crate) sent: u64,
    /// Some outbound ring has an overflow (kept so the check per spout
    /// call is one load).
    pub(crate) overflowing: bool,
    /// Acker updates of this worker's tasks, folded per root.
    pub(crate) acks: AckTable,
    /// The acker tasks (empty with acking off).
    pub(crate) ackers: Vec<TaskId>,
    pub(crate) ids: IdGen,
    /// The worker loop's clock, read once per pass.
    pub(crate) now: Instant,
}

impl Sink {
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
        self.header.stream = stream;
        self.header.source_task = 0;
        self.header.edge_id = 0;
        self.header.roots.clear();
        let mut send = |chunk: Vec<u8>| {
            let values = [Value::Bytes(chunk)];
            if let Err(e) = self.deliver(dest, &values) {
                // Only a ring too small for a single record gets here.
                tracing::error!(dest, "cannot deliver acker traffic: {e}");
            }
        };
        if bytes.len() <= per_message {
            send(bytes);
        } else {
            bytes.chunks(per_message).for_each(|c| send(c.to_vec()));
        }
    }

    /// Flushes the acker table to the acker tasks.
    pub(crate) fn flush_acks(&mut self) {
        if self.acks.is_empty() {
            return;
        }
        let mut table = std::mem::take(&mut self.acks);
        let ackers = std::mem::take(&mut self.ackers);
        table.drain(&ackers, |acker, bytes| {
            self.deliver_system(acker, crate::acker::ACK_STREAM_ID, bytes, table::RECORD)
        });
        self.ackers = ackers;
        self.acks = table;
    }

    /// Gives the next delivery of the current tuple its edge id, and XORs
    /// it into each of the tuple's trees (the edge is created).
    #[inline]
    fn new_edge(&mut self) {
        if self.header.roots.is_empty() {
            self.header.edge_id = 0;
            return;
        }
        let edge = self.ids.next_id();
        self.header.edge_id = edge;
        for &root in &self.header.roots {
            self.acks.xor(root, edge);
        }
    }

    /// Archives the tuple (with the current header) once into the
    /// destination's ring, its overflow, or this thread's local queue.
    fn deliver(&mut self, dest: TaskId, values: &[Value]) -> Result<(), DeliverError> {
        /// First try this much room in a ring: most tuples fit, and it
        /// saves computing the exact bound.
        const GUESS: usize = 256;
        let thread = self
            .thread_of
            .get(dest as usize)
            .copied()
            .unwrap_or(self.thread);
        // A delivery that fails below leaves its edge unacked: the tree
        // times out and its spout replays it.
        self.new_edge();
        let tuple = TupleRef {
            header: &self.header,
            values,
        };
        let encoder = &mut self.encoder;
        let mut encode = |buf: &mut [u8]| encoder.encode_into(tuple, buf);
        let out = match self.outbound.get_mut(thread).and_then(Option::as_mut) {
            None => {
                self.local
                    .push_with(dest, encoded_len_bound(tuple)?, encode)?;
                self.sent += 1;
                return Ok(());
            }
            Some(out) => out,
        };
        if out.overflow.is_empty() {
            if let Ok(mut slot) = out.ring.try_reserve(RING_PREFIX + GUESS) {
                if let Ok(used) = encode(&mut slot[RING_PREFIX..]) {
                    slot[..8].copy_from_slice(&u64::from(dest).to_le_bytes());
                    slot.commit_len(RING_PREFIX + used);
                    self.sent += 1;
                    return Ok(());
                }
                // Larger than the guess: the slot is abandoned unpublished.
            }
            let bound = encoded_len_bound(tuple)?;
            match out.ring.try_reserve(RING_PREFIX + bound) {
                Ok(mut slot) => {
                    slot[..8].copy_from_slice(&u64::from(dest).to_le_bytes());
                    let used = encode(&mut slot[RING_PREFIX..])?;
                    slot.commit_len(RING_PREFIX + used);
                    self.sent += 1;
                    return Ok(());
                }
                Err(ReserveError::TooLarge { len, max }) => {
                    return Err(DeliverError::TooLarge { len, max })
                }
                Err(ReserveError::Full) => {}
            }
        }
        let bound = encoded_len_bound(tuple)?;
        let max = out.ring.max_record();
        if RING_PREFIX + bound > max {
            // Checked here too: a record that can never fit would wedge
            // the overflow queue behind it.
            return Err(DeliverError::TooLarge {
                len: RING_PREFIX + bound,
                max,
            });
        }
        out.overflow.push_with(dest, bound, encode)?;
        self.overflowing = true;
        self.sent += 1;
        Ok(())
    }
}

/// A worker's emitting side: its tasks' output streams and routers, their
/// counters, and the [`Sink`].
pub(crate) struct Emitter {
    pub(crate) plan: Arc<Plan>,
    pub(crate) shared: Arc<Shared>,
    /// `streams[slot]`: the output streams of the slot's component.
    pub(crate) streams: Vec<Vec<StreamOut>>,
    /// `default[slot]`: position of the default stream in `streams[slot]`.
    pub(crate) default: Vec<Option<usize>>,
    pub(crate) counters: Vec<TaskCounters>,
    /// `pending[slot]`: trees in flight of a spout task.
    pub(crate) pending: Vec<Option<SpoutPending>>,
    pub(crate) sink: Sink,
    /// Live metrics of this thread's tasks.
    pub(crate) metrics: ThreadMetrics,
    /// Tasks the current emit was delivered to, kept only while
    /// `collecting` (an [`Emission`] asked for them).
    pub(crate) targets: Vec<TaskId>,
    pub(crate) collecting: bool,
}

/// Whether and how an emitted tuple is tracked by the acker.
#[derive(Clone, Copy)]
pub(crate) enum Track<'a, 'i> {
    /// Not tracked.
    No,
    /// A spout emit with this message id: starts a tree.
    Root(u64),
    /// A bolt emit anchored to these inputs: joins their trees.
    Anchors(&'a [&'a Input<'i>]),
    /// A bolt emit anchored to these owned anchors.
    Owned(&'a [Anchor]),
}

impl Emitter {
    pub(crate) fn new(
        plan: Arc<Plan>,
        shared: Arc<Shared>,
        sink: Sink,
        streams: Vec<Vec<StreamOut>>,
        main_inputs: &[Option<u32>],
        pending: Vec<Option<SpoutPending>>,
    ) -> Self {
        let counters = streams.iter().map(|_| TaskCounters::default()).collect();
        let outputs: Vec<usize> = streams.iter().map(Vec::len).collect();
        let metrics = ThreadMetrics::new(
            &shared.metrics.config,
            &outputs,
            main_inputs,
            plan.streams.len(),
        );
        let default = streams
            .iter()
            .map(|s| s.iter().position(|s| s.name == crate::DEFAULT_STREAM))
            .collect();
        Self {
            plan,
            shared,
            streams,
            default,
            counters,
            pending,
            sink,
            metrics,
            targets: Vec::new(),
            collecting: false,
        }
    }

    /// [`emit`](Self::emit) for an [`Emission`]: fills its `targets` if
    /// it asks for them.
    pub(crate) fn emit_general(
        &mut self,
        slot: usize,
        task: TaskId,
        emission: Emission<'_>,
        track: Track<'_, '_>,
    ) {
        let Emission {
            stream,
            direct,
            values,
            targets,
        } = emission;
        self.collecting = targets.is_some();
        self.targets.clear();
        self.emit(slot, task, Some(stream), direct, values, track);
        self.collecting = false;
        if let Some(out) = targets {
            out.clear();
            out.extend_from_slice(&self.targets);
        }
    }

    /// Whether emits are piling up locally (ring overflow or a long local
    /// queue): spouts are not polled while this holds.
    pub(crate) fn blocked(&self) -> bool {
        const LOCAL_LIMIT: usize = 1 << 20;
        self.sink.overflowing || self.sink.local.bytes() > LOCAL_LIMIT
    }

    /// Moves overflowed records into their rings where there is room;
    /// returns whether any moved.
    pub(crate) fn drain_overflows(&mut self) -> bool {
        if !self.sink.overflowing {
            return false;
        }
        let mut moved = false;
        let mut left = false;
        for out in self.sink.outbound.iter_mut().flatten() {
            moved |= out.drain_overflow() > 0;
            left |= !out.overflow.is_empty();
        }
        self.sink.overflowing = left;
        moved
    }

    /// Routes and enqueues one emitted tuple.
    #[inline]
    pub(crate) fn emit(
        &mut self,
        slot: usize,
        task: TaskId,
        stream: Option<&str>,
        direct: Option<TaskId>,
        values: &[Value],
        track: Track<'_, '_>,
    ) {
        let index = match stream {
            None => self.default[slot],
            Some(name) => self.streams[slot].iter().position(|s| s.name == name),
        };
        let Some(out) = index.and_then(|i| self.streams[slot].get_mut(i)) else {
            return self.undeclared(slot, task, stream);
        };
        if values.len() != out.arity || out.direct != direct.is_some() {
            return self.misfit(slot, task, index.unwrap_or_default(), direct, values.len());
        }
        let Emitter {
            counters,
            sink,
            shared,
            plan,
            pending,
            metrics,
            targets,
            collecting,
            ..
        } = self;
        let counters = &mut counters[slot];
        counters.emitted += 1;
        sink.header.stream = out.id;
        sink.header.source_task = task;
        sink.header.roots.clear();
        let mut root = None;
        match track {
            Track::No => {}
            Track::Root(msg_id) => {
                if sink.ackers.is_empty() {
                    // Acking off: the emit is acked at once (Storm's rule).
                    if let Some(p) = pending[slot].as_mut() {
                        p.immediate.push((msg_id, true));
                    }
                } else {
                    let r = sink.ids.next_id();
                    sink.header.roots.push(r);
                    root = Some((r, msg_id));
                }
            }
            Track::Anchors(anchors) => {
                for a in anchors {
                    for r in a.view.roots() {
                        if !sink.header.roots.contains(&r) {
                            sink.header.roots.push(r);
                        }
                    }
                }
            }
            Track::Owned(anchors) => {
                for &r in anchors.iter().flat_map(|a| &a.roots) {
                    if !sink.header.roots.contains(&r) {
                        sink.header.roots.push(r);
                    }
                }
            }
        }
        let mut delivered = 0u64;
        let mut failure = None;
        let (collecting, targets) = (*collecting, &mut *targets);
        let mut deliver = |t: TaskId| match sink.deliver(t, values) {
            Ok(()) => {
                delivered += 1;
                if collecting {
                    targets.push(t);
                }
            }
            Err(e) => failure = Some((t, e)),
        };
        for (router, targets) in &mut out.routes {
            match direct {
                Some(t) => {
                    if router.is_direct() && targets.binary_search(&t).is_ok() {
                        deliver(t);
                    }
                }
                None => {
                    let dropped = router.route(values, &mut deliver);
                    if dropped > 0 {
                        counters.errors += 1;
                        let component = plan.component_of(task).map_or("", |c| c.name.as_str());
                        shared.report(
                            component,
                            task,
                            format!("custom grouping chose {dropped} task(s) outside its targets"),
                        );
                    }
                }
            }
        }
        counters.transferred += delivered;
        metrics.tasks[slot].output(index.unwrap_or_default(), delivered);
        if let Some((r, msg_id)) = root {
            if let Some(p) = pending[slot].as_mut() {
                match (delivered, failure.is_some()) {
                    // No subscriber: the tree is complete already.
                    (0, false) => p.immediate.push((msg_id, true)),
                    // Nothing could be delivered: the tree fails now.
                    (0, true) => p.immediate.push((msg_id, false)),
                    (_, failed) => {
                        sink.acks.init(r, task);
                        if failed {
                            // Part of the tree was lost: fail it at once
                            // rather than wait for the timeout.
                            sink.acks.fail(r);
                        }
                        p.insert(r, msg_id, sink.now);
                    }
                }
            }
        }
        if let Some((t, e)) = failure {
            self.error(
                slot,
                task,
                format_args!("could not deliver to task {t}: {e}"),
            );
        } else if let (Some(t), 0) = (direct, delivered) {
            let name = &self.streams[slot][index.unwrap_or_default()].name;
            let message =
                format!("emit_direct to task {t}, which does not subscribe directly to `{name}`");
            self.error(slot, task, format_args!("{message}"));
        }
    }

    #[cold]
    fn undeclared(&mut self, slot: usize, task: TaskId, stream: Option<&str>) {
        let stream = stream.unwrap_or(crate::DEFAULT_STREAM);
        let declared: Vec<&str> = self.streams[slot].iter().map(|s| s.name.as_str()).collect();
        let message = format!("emitted to undeclared stream `{stream}` (declared: {declared:?})");
        self.error(slot, task, format_args!("{message}"));
    }

    #[cold]
    fn misfit(
        &mut self,
        slot: usize,
        task: TaskId,
        index: usize,
        direct: Option<TaskId>,
        n: usize,
    ) {
        let out = &self.streams[slot][index];
        let message = if n != out.arity {
            let fields = self.plan.streams[out.id as usize].fields.clone();
            format!(
                "emitted {n} values on stream `{}`, which declares {} fields {fields}",
                out.name, out.arity
            )
        } else if direct.is_some() {
            format!("stream `{}` is not declared direct: use emit", out.name)
        } else {
            format!("stream `{}` is a direct stream: use emit_direct", out.name)
        };
        self.error(slot, task, format_args!("{message}"));
    }

    pub(crate) fn error(&mut self, slot: usize, task: TaskId, message: fmt::Arguments<'_>) {
        let component = self.plan.component_of(task).map_or("", |c| c.name.as_str());
        report(
            &self.shared,
            &mut self.counters[slot],
            component,
            task,
            message,
        );
    }
}

/// Counts and records an error about `task`.
fn report(
    shared: &Shared,
    counters: &mut TaskCounters,
    component: &str,
    task: TaskId,
    message: fmt::Arguments<'_>,
) {
    counters.errors += 1;
    shared.report(component, task, message.to_string());
}

#[derive(Debug, thiserror::Error)]
enum DeliverError {
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error("the archived tuple needs {len} bytes; rings carry at most {max} (raise ring_bytes)")]
    TooLarge { len: usize, max: usize },
}

/// The methods both collectors share: untracked emits, errors, the id.
macro_rules! common_collector_methods {
    ($collector:ident) => {
        impl $collector<'_> {
            /// Emits `values` on the default stream, untracked (not part of
            /// any tuple tree).
            pub fn emit(&mut self, values: &[Value]) {
                self.emitter
                    .emit(self.slot, self.task, None, None, values, Track::No);
            }

            /// Emits `values` on `stream`, untracked.
            pub fn emit_to(&mut self, stream: &str, values: &[Value]) {
                self.emitter
                    .emit(self.slot, self.task, Some(stream), None, values, Track::No);
            }

            /// Emits `values` on the direct `stream` to `task` only,
            /// untracked.
            pub fn emit_direct(&mut self, task: TaskId, stream: &str, values: &[Value]) {
                let (slot, me) = (self.slot, self.task);
                self.emitter
                    .emit(slot, me, Some(stream), Some(task), values, Track::No);
            }

            /// Reports an error with this task's component and id; the
            /// topology keeps running.
            pub fn report_error(&mut self, error: impl fmt::Display) {
                self.emitter
                    .error(self.slot, self.task, format_args!("reported: {error}"));
            }

            /// This task's id.
            pub fn task_id(&self) -> TaskId {
                self.task
            }
        }
    };
}

common_collector_methods!(SpoutOutput);
common_collector_methods!(BoltOutput);

/// The spout's collector (Storm's `SpoutOutputCollector`).
pub struct SpoutOutput<'a> {
    pub(crate) emitter: &'a mut Emitter,
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
    }

    /// Like [`emit_with_id`](Self::emit_with_id), on `stream`.
    pub fn emit_to_with_id(&mut self, stream: &str, values: &[Value], msg_id: u64) {
        let track = Track::Root(msg_id);
        self.emitter
            .emit(self.slot, self.task, Some(stream), None, values, track);
    }

    /// Emits an [`Emission`] (any stream, direct or not, optionally
    /// reporting its target tasks), reliable with `msg_id` or untracked
    /// with `None`.
    pub fn emit_with(&mut self, emission: Emission<'_>, msg_id: Option<u64>) {
        let track = msg_id.map_or(Track::No, Track::Root);
        self.emitter
            .emit_general(self.slot, self.task, emission, track);
    }

    /// Trees this spout task has in flight.
    pub fn pending(&self) -> usize {
        self.emitter.pending[self.slot]
            .as_ref()
            .map_or(0, SpoutPending::len)
    }
}

/// The bolt's collector (Storm's `OutputCollector`).
pub struct BoltOutput<'a> {
    pub(crate) emitter: &'a mut Emitter,
    pub(crate) slot: usize,
    pub(crate) task: TaskId,
}

impl BoltOutput<'_> {
    /// Emits `values` on `stream` anchored to `anchors`: the new tuple joins
    /// the trees of every anchor (several anchors make a DAG), so they
    /// complete only once it is acked too.
    pub fn emit_anchored(&mut self, stream: &str, anchors: &[&Input<'_>], values: &[Value]) {
        let track = Track::Anchors(anchors);
        self.emitter
            .emit(self.slot, self.task, Some(stream), None, values, track);
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
    }

    /// Emits an [`Emission`] (any stream, direct or not, optionally
    /// reporting its target tasks) anchored to `anchors` (none: untracked).
    pub fn emit_with(&mut self, emission: Emission<'_>, anchors: &[Anchor]) {
        let track = Track::Owned(anchors);
        self.emitter
            .emit_general(self.slot, self.task, emission, track);
    }

    /// Acknowledges `input` as fully processed by this bolt. Ack (or fail)
    /// each input exactly once, after emitting what is anchored to it.
    pub fn ack(&mut self, input: &Input<'_>) {
        self.ack_roots(
            input.view.roots(),
            input.view.edge_id(),
            input.view.stream(),
            std::ptr::from_ref(input.view.archived()).cast(),
        );
    }

    /// Fails `input`: every tree it belongs to fails at once and its spout
    /// may replay it.
    pub fn fail(&mut self, input: &Input<'_>) {
        self.fail_roots(
            input.view.roots(),
            input.view.stream(),
            std::ptr::from_ref(input.view.archived()).cast(),
        );
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
        self.fail_roots(
            anchor.roots.iter().copied(),
            anchor.stream,
            std::ptr::null(),
        );
    }

    /// Counts the ack (`input`: the archived input while it is executed,
    /// for its process latency; null for an anchor) and sends it.
    fn ack_roots(
        &mut self,
        roots: impl Iterator<Item = u64>,
        edge: u64,
        stream: u32,
        input: *const u8,
    ) {
        self.emitter.counters[self.slot].acked += 1;
        self.emitter
            .metrics
            .input_done(self.slot, stream, input, true);
        for root in roots {
            self.emitter.sink.acks.xor(root, edge);
        }
    }

    /// Counts the fail (as [`ack_roots`](Self::ack_roots)) and sends it.
    fn fail_roots(&mut self, roots: impl Iterator<Item = u64>, stream: u32, input: *const u8) {
        self.emitter.counters[self.slot].failed += 1;
        self.emitter
            .metrics
            .input_done(self.slot, stream, input, false);
        for root in roots {
            self.emitter.sink.acks.fail(root);
        }
    }

    /// Restarts the timeout of every tree `input` belongs to (for
    /// long-running work on one tuple).
    pub fn reset_timeout(&mut self, input: &Input<'_>) {
        for root in input.view.roots() {
            self.emitter.sink.acks.reset(root);
        }
        // Sent and published now, not after `execute` returns: the point is
        // to reach the spout while this work goes on.
        let sink = &mut self.emitter.sink;
        sink.flush_acks();
        for out in sink.outbound.iter_mut().flatten() {
            out.ring.flush();
        }
    }
}
