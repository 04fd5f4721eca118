//! The worker's [`Emitter`]: every emit of its tasks is checked against
//! the stream's declaration, routed by the stream's subscriptions (resolved
//! when the topology starts), tracked for the acker and handed to the
//! [`Outbox`] to be archived once per destination.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use gale_codec::{ArchivedValue, Header, TupleRef, TupleView, Value};

use super::input::{Anchor, Emission, Input};
use super::outbox::{AsValues, DeliverError, Forwarded, Outbox};
use super::plan::Plan;
use super::recorder::ThreadMetrics;
use super::shared::{Shared, TaskCounters};
use super::tracking::Tracking;
use super::TaskError;
use crate::acker::SpoutPending;
use crate::grouping::{KeyValue, Router};
use crate::{Bolt, StreamDecl, TaskId, Typed};

/// One output stream of one task, resolved at start: what `emit` checks
/// and where it routes, with no lookups by name on the hot path.
pub(crate) struct StreamOut {
    name: String,
    id: u32,
    arity: usize,
    direct: bool,
    /// The Rust type of a typed stream.
    typed: Option<&'static str>,
    /// The one task (and its worker thread) that gets every tuple, when
    /// the stream has one subscription whose grouping always picks the
    /// same task: then `emit` does not consult the router.
    one: Option<(TaskId, usize)>,
    /// One per subscription: its router and its (ascending) target tasks.
    routes: Vec<(Router, Vec<TaskId>)>,
}

impl StreamOut {
    /// Stream `name` (global id `id`) declared as `decl`, routed by
    /// `routes`; `thread_of` names the worker thread of a task.
    pub(crate) fn new(
        name: String,
        id: u32,
        decl: &StreamDecl,
        routes: Vec<(Router, Vec<TaskId>)>,
        thread_of: impl Fn(TaskId) -> usize,
    ) -> Self {
        let one = match routes.as_slice() {
            [(router, _)] => router.fixed_target().map(|t| (t, thread_of(t))),
            _ => None,
        };
        Self {
            name,
            id,
            arity: decl.fields.len(),
            direct: decl.direct,
            typed: decl.typed,
            one,
            routes,
        }
    }
}

/// The values of one emit as [`Emitter::emit_to_one`] delivers them:
/// [`Value`]s, or archived values read in place (forwarded). (A trait, not
/// a closure: its `deliver` is inlined into the emit for certain.)
trait Payload: Copy {
    /// Archives the tuple of `header` and these values for task `dest` on
    /// worker `thread` ([`Outbox::deliver`]); `built` is room to build
    /// archived values into `Value`s where they cannot be written as they
    /// are (kept from emit to emit, so that its buffers are reused).
    fn deliver(
        self,
        outbox: &mut Outbox,
        dest: TaskId,
        thread: usize,
        header: &Header,
        built: &mut Vec<Value>,
    ) -> Result<(), DeliverError>;
}

impl Payload for &[Value] {
    #[inline(always)]
    fn deliver(
        self,
        outbox: &mut Outbox,
        dest: TaskId,
        thread: usize,
        header: &Header,
        _built: &mut Vec<Value>,
    ) -> Result<(), DeliverError> {
        let tuple = TupleRef {
            header,
            values: self,
        };
        outbox.deliver(dest, thread, tuple)
    }
}

impl Payload for &TupleView<'_> {
    #[inline(always)]
    fn deliver(
        self,
        outbox: &mut Outbox,
        dest: TaskId,
        thread: usize,
        header: &Header,
        built: &mut Vec<Value>,
    ) -> Result<(), DeliverError> {
        let tuple = Forwarded {
            header,
            input: self,
        };
        if outbox.deliver_archived(dest, thread, tuple) {
            return Ok(());
        }
        // Nested and of other roots, long, or larger than the room at
        // hand: built (into reused buffers).
        build_into(built, self.values());
        let tuple = TupleRef {
            header,
            values: built,
        };
        outbox.deliver(dest, thread, tuple)
    }
}

/// Sets `into` to `values` as [`Value`]s, reusing the buffers of the
/// strings and bytes already in it where the kinds match.
fn build_into(into: &mut Vec<Value>, values: &[ArchivedValue]) {
    into.truncate(values.len());
    for (i, value) in values.iter().enumerate() {
        let Some(slot) = into.get_mut(i) else {
            into.push(value.to_value());
            continue;
        };
        match (slot, value) {
            (Value::Str(buf), ArchivedValue::Str(s)) => {
                buf.clear();
                buf.push_str(s.as_str());
            }
            (Value::Bytes(buf), ArchivedValue::Bytes(b)) => {
                buf.clear();
                buf.extend_from_slice(b.as_slice());
            }
            (slot, value) => *slot = value.to_value(),
        }
    }
}

/// A task's default stream, resolved at start: what its plain emits (the
/// commonest: `emit`, `emit_anchored` on the default stream, a spout's
/// `emit_with_id`) need, in one small copy, so that they go from the
/// collector to the outbox with one lookup and one call.
#[derive(Clone, Copy)]
struct DefaultOut {
    /// Its position among the task's streams.
    index: usize,
    /// Its global stream id.
    id: u32,
    arity: usize,
    /// Declared direct: plain emits are refused (by `emit`'s general path).
    direct: bool,
    route: DefaultRoute,
}

/// Where a [`DefaultOut`]'s tuples go.
#[derive(Clone, Copy)]
enum DefaultRoute {
    /// Every tuple to task `.0`, on worker thread `.1` (the route resolved
    /// at start, [`StreamOut::one`]).
    One(TaskId, usize),
    /// One subscription, whose grouping picks the task per tuple (or,
    /// for an all or custom grouping, routes it the general way).
    Picked,
    /// No subscription: counted, not sent.
    Nowhere,
    /// Several subscriptions: the general way.
    General,
}

impl DefaultOut {
    fn of(index: usize, out: &StreamOut) -> Self {
        let route = match (out.one, out.routes.len()) {
            (Some((task, thread)), _) => DefaultRoute::One(task, thread),
            (None, 1) => DefaultRoute::Picked,
            (None, 0) => DefaultRoute::Nowhere,
            _ => DefaultRoute::General,
        };
        Self {
            index,
            id: out.id,
            arity: out.arity,
            direct: out.direct,
            route,
        }
    }
}

/// A worker's emitting side: its tasks' output streams and routers, their
/// counters and spout bookkeeping, the [`Outbox`] and the [`Tracking`];
/// and its bolts, which an emit may run chained.
pub(crate) struct Emitter {
    plan: Arc<Plan>,
    shared: Arc<Shared>,
    /// `bolts[slot]`: the bolt of a bolt task (`None` for other tasks, and
    /// while it runs).
    pub(crate) bolts: Vec<Option<Box<dyn Bolt>>>,
    /// Local slot of each task id (`usize::MAX` if not on this thread).
    slot_of: Vec<usize>,
    /// `streams[slot]`: the output streams of the slot's component.
    streams: Vec<Vec<StreamOut>>,
    /// `default[slot]`: the default stream of the slot's component, if it
    /// declares one.
    default: Vec<Option<DefaultOut>>,
    /// Totals of each task (by slot).
    pub(crate) counters: Vec<TaskCounters>,
    /// `pending[slot]`: trees in flight of a spout task.
    pub(crate) pending: Vec<Option<SpoutPending>>,
    /// Where archived tuples go.
    pub(crate) outbox: Outbox,
    /// Acker updates of this worker's tasks.
    pub(crate) tracking: Tracking,
    /// The header of the tuple being emitted.
    header: Header,
    /// Live metrics of this thread's tasks.
    pub(crate) metrics: ThreadMetrics,
    /// The values of a typed emit (one bytes value, reused).
    typed: Vec<Value>,
    /// The values of a forward that cannot be written from their archived
    /// form (it takes `emit`'s path, or they are nested or too long for
    /// the room at hand), built again in place for each (their strings'
    /// and bytes' buffers reused).
    forwarded: Vec<Value>,
    /// Tasks the current emit was delivered to, kept only while
    /// `collecting` (an [`Emission`] asked for them).
    targets: Vec<TaskId>,
    collecting: bool,
    /// Some route is a load-aware shuffle ([`rebalance`](Self::rebalance)
    /// has work).
    balanced: bool,
    /// The worker loop's clock, read once per pass.
    pub(crate) now: Instant,
    /// `now` in nanoseconds since `epoch` (emit times of spout trees).
    pub(crate) now_ns: u64,
    epoch: Instant,
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

impl Track<'_, '_> {
    /// Whether the emitted tuple joins no tree: not tracked, or anchored
    /// only to inputs that belong to none (acking off, or untracked
    /// inputs). Such an emit takes the untracked lanes.
    #[inline]
    fn is_untracked(self) -> bool {
        match self {
            Track::No => true,
            Track::Root(_) => false,
            Track::Anchors(anchors) => anchors.iter().all(|a| a.view.roots().len() == 0),
            Track::Owned(anchors) => anchors.iter().all(|a| a.roots.is_empty()),
        }
    }
}

impl Emitter {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        plan: Arc<Plan>,
        shared: Arc<Shared>,
        bolts: Vec<Option<Box<dyn Bolt>>>,
        slot_of: Vec<usize>,
        outbox: Outbox,
        tracking: Tracking,
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
        let balanced = streams
            .iter()
            .flatten()
            .flat_map(|s| &s.routes)
            .any(|(router, _)| router.is_balanced());
        let default = streams
            .iter()
            .map(|s| {
                let index = s.iter().position(|s| s.name == crate::DEFAULT_STREAM)?;
                Some(DefaultOut::of(index, &s[index]))
            })
            .collect();
        Self {
            plan,
            shared,
            bolts,
            slot_of,
            streams,
            default,
            counters,
            pending,
            outbox,
            tracking,
            header: Header::default(),
            metrics,
            typed: vec![Value::Bytes(Vec::new())],
            forwarded: Vec::new(),
            targets: Vec::new(),
            collecting: false,
            balanced,
            now: Instant::now(),
            now_ns: 0,
            epoch: Instant::now(),
        }
    }

    /// Moves the weights of this thread's load-aware shuffles by the busy
    /// share each worker thread of the node published (`busy(thread)`,
    /// 0 to 1).
    pub(crate) fn rebalance(&mut self, busy: impl Fn(usize) -> f64) {
        if !self.balanced {
            return;
        }
        for out in self.streams.iter_mut().flatten() {
            for (router, _) in &mut out.routes {
                router.rebalance(&busy);
            }
        }
    }

    /// Sets the clock of this pass of the worker loop.
    #[inline]
    pub(crate) fn set_now(&mut self, now: Instant) {
        self.now = now;
        let ns = now.saturating_duration_since(self.epoch).as_nanos();
        self.now_ns = u64::try_from(ns).unwrap_or(u64::MAX);
    }

    /// The local slot of task `task` (`usize::MAX` if not on this thread).
    #[inline]
    pub(crate) fn slot_of(&self, task: TaskId) -> usize {
        self.slot_of
            .get(task as usize)
            .copied()
            .unwrap_or(usize::MAX)
    }

    /// Reports a record for a task this worker does not run as a bolt.
    #[cold]
    pub(crate) fn missing(&self, dest: TaskId) {
        // Only a bug in routing can get here (there is no task of ours to
        // count it against); say so rather than panic.
        self.shared.report(
            "",
            dest,
            format!("record for task {dest}, which is not a bolt of this worker"),
        );
    }

    /// The trees in flight of the spout task in `slot`.
    pub(crate) fn pending(&self, slot: usize) -> Option<&SpoutPending> {
        self.pending.get(slot)?.as_ref()
    }

    /// Whether the spout task in `slot` has `max` or more trees in flight.
    #[inline]
    pub(crate) fn pending_full(&self, slot: usize, max: usize) -> bool {
        self.pending(slot).is_some_and(|p| p.len() >= max)
    }

    /// Whether emits are piling up locally: spouts are not polled while
    /// this holds.
    #[inline]
    pub(crate) fn blocked(&self) -> bool {
        self.outbox.blocked()
    }

    /// Counts an ack of an input of stream `stream` by the task in `slot`.
    #[inline]
    pub(crate) fn acked(&mut self, slot: usize, stream: u32) {
        self.counters[slot].acked += 1;
        self.metrics.input_done(slot, stream, true);
    }

    /// Counts a fail, as [`acked`](Self::acked).
    pub(crate) fn failed(&mut self, slot: usize, stream: u32) {
        self.counters[slot].failed += 1;
        self.metrics.input_done(slot, stream, false);
    }

    /// Sends the acker updates folded so far.
    pub(crate) fn flush_acks(&mut self) {
        self.tracking.flush(&mut self.outbox);
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

    /// Puts the roots `track` asks for into the header; returns the new
    /// root and its message id of a tracked spout emit.
    #[inline(always)]
    fn roots(&mut self, slot: usize, track: Track<'_, '_>) -> Option<(u64, u64)> {
        let roots = &mut self.header.roots;
        match track {
            Track::No => {
                roots.clear();
                None
            }
            // A bolt's emit anchored to one input: of no tree, or (the
            // commonest tracked emit) of one, once the header has room.
            Track::Anchors([anchor]) => match anchor.view.roots().len() {
                0 => {
                    roots.clear();
                    None
                }
                1 if roots.capacity() > 0 => {
                    roots.clear();
                    if let Some(r) = anchor.view.roots().next() {
                        roots.push(r);
                    }
                    None
                }
                _ => self.tracked_roots(slot, track),
            },
            // A spout's emit with a message id: a new tree.
            Track::Root(msg_id) if self.tracking.enabled() && roots.capacity() > 0 => {
                roots.clear();
                // No pending trees: not a spout task (as `tracked_roots`).
                let p = self.pending.get_mut(slot).and_then(Option::as_mut)?;
                let r = p.new_root();
                roots.push(r);
                Some((r, msg_id))
            }
            track if track.is_untracked() => {
                roots.clear();
                None
            }
            track => self.tracked_roots(slot, track),
        }
    }

    /// [`roots`](Self::roots) of an emit that joins or starts a tree.
    #[inline(never)]
    fn tracked_roots(&mut self, slot: usize, track: Track<'_, '_>) -> Option<(u64, u64)> {
        let roots = &mut self.header.roots;
        roots.clear();
        match track {
            Track::No => {}
            Track::Root(msg_id) => {
                if self.tracking.enabled() {
                    if let Some(p) = self.pending[slot].as_mut() {
                        let r = p.new_root();
                        roots.push(r);
                        return Some((r, msg_id));
                    }
                }
                // Acking off: the emit is acked at once (Storm's rule).
                if let Some(p) = self.pending[slot].as_mut() {
                    p.immediate.push((msg_id, true));
                }
            }
            // One anchor (of one tree, when `roots` had no room yet; or of
            // several): its roots are distinct. Pushed one by one:
            // `extend`'s generic path cost more than the pushes.
            Track::Anchors([anchor]) => anchor.view.roots().for_each(|r| roots.push(r)),
            Track::Anchors(anchors) => {
                for r in anchors.iter().flat_map(|a| a.view.roots()) {
                    if !roots.contains(&r) {
                        roots.push(r);
                    }
                }
            }
            Track::Owned(anchors) => {
                for &r in anchors.iter().flat_map(|a| &a.roots) {
                    if !roots.contains(&r) {
                        roots.push(r);
                    }
                }
            }
        }
        None
    }

    /// [`emit`](Self::emit) of an untracked tuple on the default stream;
    /// one to no subscriber is only counted, inline.
    #[inline]
    pub(crate) fn emit_default(&mut self, slot: usize, task: TaskId, values: &[Value]) {
        if let Some(&Some(out)) = self.default.get(slot) {
            if matches!(out.route, DefaultRoute::Nowhere)
                && values.len() == out.arity
                && !out.direct
            {
                return self.count_unsent(slot, out.index);
            }
        }
        self.emit(slot, task, None, None, values, Track::No);
    }

    /// [`emit_default`](Self::emit_default) of each of `tuples`, in
    /// order: the stream and its route are looked up, and the counters
    /// and metrics bumped, once for all of them where the route was
    /// resolved at start or the one subscription picks a task per tuple
    /// (then each tuple is picked and delivered); otherwise each is
    /// emitted on its own.
    pub(crate) fn emit_many_default<'v>(
        &mut self,
        slot: usize,
        task: TaskId,
        tuples: impl IntoIterator<Item = &'v [Value]>,
    ) {
        let Some(lane) = self.lane(slot, task) else {
            for values in tuples {
                self.emit(slot, task, None, None, values, Track::No);
            }
            return;
        };
        // Tuples of the wrong arity are reported (after the others are
        // sent) and not emitted, as `emit` does.
        let mut misfits = Vec::new();
        let mut tuples = tuples.into_iter();
        let mut sent = LaneSent::default();
        // In chunks gathered on the stack, so that the delivery loop runs
        // over a plain slice whatever iterator the caller passed.
        const CHUNK: usize = 64;
        let mut chunk: [&[Value]; CHUNK] = [&[]; CHUNK];
        loop {
            let mut n = 0;
            for values in tuples.by_ref() {
                if values.len() != lane.arity {
                    misfits.push(values.len());
                    continue;
                }
                chunk[n] = values;
                n += 1;
                if n == CHUNK {
                    break;
                }
            }
            if n == 0 {
                break;
            }
            self.deliver_lane(&lane, &chunk[..n], &mut sent);
            if n < CHUNK {
                break;
            }
        }
        self.finish_lane(slot, task, &lane, sent, misfits);
    }

    /// [`emit_many_default`](Self::emit_many_default) of a slice of
    /// tuples: when all have the stream's arity, delivered straight from
    /// the slice, with no gathering.
    pub(crate) fn emit_batch_default(&mut self, slot: usize, task: TaskId, tuples: &[&[Value]]) {
        match self.lane(slot, task) {
            // Folded rather than `all`: no early exit, so it vectorizes.
            Some(lane)
                if tuples
                    .iter()
                    .fold(0, |d, values| d | (values.len() ^ lane.arity))
                    == 0 =>
            {
                let mut sent = LaneSent::default();
                self.deliver_lane(&lane, tuples, &mut sent);
                self.finish_lane(slot, task, &lane, sent, Vec::new());
            }
            _ => self.emit_many_default(slot, task, tuples.iter().copied()),
        }
    }

    /// [`emit_many_default`](Self::emit_many_default) of one-field tuples,
    /// one per value of `values`: delivered straight from the slice when
    /// the stream has one field.
    pub(crate) fn emit_each_default(&mut self, slot: usize, task: TaskId, values: &[Value]) {
        match self.lane(slot, task) {
            Some(lane) if lane.arity == 1 => {
                let mut sent = LaneSent::default();
                self.deliver_lane(&lane, values, &mut sent);
                self.finish_lane(slot, task, &lane, sent, Vec::new());
            }
            _ => self.emit_many_default(slot, task, values.iter().map(std::slice::from_ref)),
        }
    }

    /// A spout's [`emit`](Self::emit) of each of `tuples` on the default
    /// stream with its message id, in order: each starts a tree, as one
    /// emit with a message id does, and where the stream's route was
    /// resolved at start to one task, the stream and its route are looked
    /// up, and the counters and metrics bumped, once for the run. A tuple
    /// of the wrong arity is reported and its message id failed at once.
    pub(crate) fn emit_many_with_ids_default<'v>(
        &mut self,
        slot: usize,
        task: TaskId,
        tuples: impl IntoIterator<Item = (&'v [Value], u64)>,
    ) {
        let tracked = self.tracking.enabled() && matches!(self.pending.get(slot), Some(Some(_)));
        let (lane, (dest, thread)) = match self.lane(slot, task) {
            Some(lane) if tracked => match lane.one {
                Some(one) => (lane, one),
                None => return self.emit_each_with_id(slot, task, tuples),
            },
            _ => return self.emit_each_with_id(slot, task, tuples),
        };
        let mut misfits = Vec::new();
        let mut sent = LaneSent::default();
        let Emitter {
            header,
            outbox,
            pending,
            now_ns,
            ..
        } = self;
        let Some(p) = pending[slot].as_mut() else {
            return;
        };
        // One root per tuple, set in place.
        header.roots.clear();
        header.roots.push(0);
        for (values, msg_id) in tuples {
            if values.len() != lane.arity {
                misfits.push(values.len());
                p.immediate.push((msg_id, false));
                continue;
            }
            sent.emitted += 1;
            // The tree's one delivery: its edge is the root itself, which
            // the acker opens the tree with (no update).
            let root = p.new_root();
            header.roots[0] = root;
            header.edge_id = root;
            match outbox.deliver(dest, thread, TupleRef { header, values }) {
                Ok(()) => {
                    sent.delivered += 1;
                    p.insert_newest(root, msg_id, *now_ns);
                }
                // Lost: the tree fails now (as `settle_root`).
                Err(e) => {
                    p.immediate.push((msg_id, false));
                    sent.failure = Some((dest, e));
                }
            }
        }
        header.roots.clear();
        self.finish_lane(slot, task, &lane, sent, misfits);
    }

    /// [`emit`](Self::emit) of each of `tuples` with its message id, one
    /// by one.
    fn emit_each_with_id<'v>(
        &mut self,
        slot: usize,
        task: TaskId,
        tuples: impl IntoIterator<Item = (&'v [Value], u64)>,
    ) {
        for (values, msg_id) in tuples {
            self.emit(slot, task, None, None, values, Track::Root(msg_id));
        }
    }

    /// The default stream of task `slot`, if its route was resolved at
    /// start (so a run of emits can be delivered as one) or its one
    /// subscription picks one task per tuple (so a run's tuples are routed
    /// one by one, its stream looked up and its counters bumped once),
    /// with the header of its untracked tuples set up.
    fn lane(&mut self, slot: usize, task: TaskId) -> Option<Lane> {
        let index = self.default[slot]?.index;
        let out = &self.streams[slot][index];
        let picked = out.one.is_none()
            && matches!(out.routes.as_slice(), [(router, _)] if router.picks_one());
        let resolved = out.routes.is_empty() || out.one.is_some() || picked;
        if out.direct || !resolved {
            return None;
        }
        let lane = Lane {
            slot,
            index,
            arity: out.arity,
            one: out.one,
            picked,
        };
        if lane.one.is_some() || lane.picked {
            let header = &mut self.header;
            header.stream = out.id;
            header.source_task = task;
            header.edge_id = 0;
            header.roots.clear();
        }
        Some(lane)
    }

    /// Delivers `run` (tuples of the lane's arity) down `lane`.
    fn deliver_lane<E: AsValues>(&mut self, lane: &Lane, run: &[E], sent: &mut LaneSent) {
        sent.emitted += run.len() as u64;
        if let Some((dest, thread)) = lane.one {
            let (d, f) = self.outbox.deliver_many(dest, thread, &self.header, run);
            sent.delivered += d;
            sent.failure = f.map(|e| (dest, e)).or(sent.failure.take());
        } else if lane.picked {
            self.deliver_picked(lane, run, sent);
        }
    }

    /// [`deliver_lane`](Self::deliver_lane) down a lane whose grouping
    /// picks each tuple's task: picked and delivered one by one, as
    /// `emit` would (the same task, the same router state).
    #[inline(never)]
    fn deliver_picked<E: AsValues>(&mut self, lane: &Lane, run: &[E], sent: &mut LaneSent) {
        let Emitter {
            streams,
            outbox,
            header,
            ..
        } = self;
        let Some((router, _)) = streams[lane.slot][lane.index].routes.first_mut() else {
            return;
        };
        for tuple in run {
            let values = tuple.values();
            // (`lane` made sure the router picks one for every tuple.)
            let Some(dest) = router.pick_one(values) else {
                continue;
            };
            let thread = outbox.thread_of(dest);
            match outbox.deliver(dest, thread, TupleRef { header, values }) {
                Ok(()) => sent.delivered += 1,
                Err(e) => sent.failure = Some((dest, e)),
            }
        }
    }

    /// Counts what went down `lane`, and reports the tuples of the wrong
    /// arity and those that could not be delivered.
    fn finish_lane(
        &mut self,
        slot: usize,
        task: TaskId,
        lane: &Lane,
        sent: LaneSent,
        misfits: Vec<usize>,
    ) {
        let LaneSent {
            emitted,
            delivered,
            failure,
        } = sent;
        let counters = &mut self.counters[slot];
        counters.emitted += emitted;
        counters.transferred += delivered;
        self.metrics.tasks[slot].output(lane.index, emitted, delivered);
        for n in misfits {
            self.misfit(slot, task, lane.index, None, n);
        }
        if let Some((dest, e)) = failure {
            let lost = emitted - delivered;
            self.error(
                slot,
                task,
                format_args!("could not deliver {lost} tuple(s) to task {dest}: {e}"),
            );
            // One error per tuple lost, as `emit` counts them (the report
            // above counted the first).
            self.counters[slot].errors += lost.saturating_sub(1);
        }
    }

    /// [`emit`](Self::emit) of `value` on the typed `stream`: archived
    /// with rkyv as the tuple's one field.
    pub(crate) fn emit_typed<T: Typed>(
        &mut self,
        slot: usize,
        task: TaskId,
        stream: &str,
        value: &T,
        track: Track<'_, '_>,
    ) {
        let requested = std::any::type_name::<T>();
        let declared = self.streams[slot]
            .iter()
            .find(|s| s.name == stream)
            .map(|s| s.typed);
        if let Some(declared) = declared.filter(|&d| d != Some(requested)) {
            let declared =
                declared.map_or_else(|| "untyped".to_owned(), |t| format!("typed `{t}`"));
            let message =
                format!("emitted a `{requested}` on stream `{stream}`, which is {declared}");
            self.refuse(slot, track);
            return self.error(slot, task, format_args!("{message}"));
        }
        // An undeclared stream is reported by `emit`.
        let mut values = std::mem::take(&mut self.typed);
        if !matches!(values.as_slice(), [Value::Bytes(_)]) {
            values = vec![Value::Bytes(Vec::new())];
        }
        let archived = match values.as_mut_slice() {
            [Value::Bytes(bytes)] => match crate::typed::archive(value, std::mem::take(bytes)) {
                Ok(archived) => {
                    *bytes = archived;
                    Ok(())
                }
                Err(e) => Err(e),
            },
            _ => Ok(()),
        };
        match archived {
            Ok(()) => self.emit(slot, task, Some(stream), None, &values, track),
            Err(e) => self.error(
                slot,
                task,
                format_args!("could not archive a `{requested}` for stream `{stream}`: {e}"),
            ),
        }
        self.typed = values;
    }

    /// Routes and enqueues one emitted tuple. A plain emit (on the
    /// default stream, not direct, of the declared arity) takes
    /// [`emit_plain`](Self::emit_plain); any other, or a mistake,
    /// [`emit_any`](Self::emit_any).
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
        // Compared with a constant of known length: a few inlined loads,
        // not a call to memcmp.
        let plain = direct.is_none() && stream.is_none_or(|s| s == crate::DEFAULT_STREAM);
        match self.default.get(slot) {
            Some(&Some(out)) if plain && values.len() == out.arity && !out.direct => {
                self.emit_plain(slot, task, out, values, track)
            }
            _ => self.emit_any(slot, task, stream, direct, values, track),
        }
    }

    /// A plain emit on the default stream `out` (checked against its
    /// declaration already): one frame from the collector to the outbox
    /// for a route resolved at start or picked by the one subscription.
    #[inline(never)]
    fn emit_plain(
        &mut self,
        slot: usize,
        task: TaskId,
        out: DefaultOut,
        values: &[Value],
        track: Track<'_, '_>,
    ) {
        let one = match out.route {
            DefaultRoute::One(dest, thread) => (dest, thread),
            DefaultRoute::Picked => match self.pick(slot, out.index, values) {
                Some(one) => one,
                None => return self.emit_routed(slot, task, out.index, None, values, track),
            },
            DefaultRoute::Nowhere if track.is_untracked() => {
                return self.count_unsent(slot, out.index)
            }
            DefaultRoute::Nowhere | DefaultRoute::General => {
                return self.emit_routed(slot, task, out.index, None, values, track);
            }
        };
        self.emit_to_one(slot, task, (out.index, out.id), one, values, track);
    }

    /// A bolt's emit on `stream` of all the values of `input`, read in
    /// place (its input, forwarded): the same as [`emit`](Self::emit) of
    /// them as [`Value`]s, but where the stream goes to one task without
    /// reading the values (a route resolved at start, a shuffle or global
    /// grouping) they are written to it straight from the input's record
    /// ([`Forwarded`]), with no `Value` built. Every other case builds the
    /// values and takes `emit`'s path.
    #[inline(never)]
    pub(crate) fn forward(
        &mut self,
        slot: usize,
        task: TaskId,
        stream: &str,
        input: &TupleView<'_>,
        track: Track<'_, '_>,
    ) {
        let values = input.values();
        let one = match self.default[slot] {
            Some(out)
                if stream == crate::DEFAULT_STREAM && values.len() == out.arity && !out.direct =>
            {
                match out.route {
                    DefaultRoute::One(dest, thread) => Some(((out.index, out.id), (dest, thread))),
                    DefaultRoute::Picked => self
                        .pick(slot, out.index, values)
                        .map(|one| ((out.index, out.id), one)),
                    DefaultRoute::Nowhere | DefaultRoute::General => None,
                }
            }
            _ => self.forward_route(slot, stream, values),
        };
        let Some((stream_id, one)) = one else {
            let mut built = std::mem::take(&mut self.forwarded);
            build_into(&mut built, values);
            self.emit(slot, task, Some(stream), None, &built, track);
            self.forwarded = built;
            return;
        };
        self.emit_to_one(slot, task, stream_id, one, input, track);
    }

    /// [`emit`](Self::emit) of any tuple: looks up its stream by name,
    /// checks it, and routes it.
    #[inline(never)]
    fn emit_any(
        &mut self,
        slot: usize,
        task: TaskId,
        stream: Option<&str>,
        direct: Option<TaskId>,
        values: &[Value],
        track: Track<'_, '_>,
    ) {
        let index = match stream {
            None => self.default[slot].map(|d| d.index),
            Some(name) if name == crate::DEFAULT_STREAM => self.default[slot].map(|d| d.index),
            Some(name) => self.streams[slot].iter().position(|s| s.name == name),
        };
        let Some(index) = index else {
            self.refuse(slot, track);
            return self.undeclared(slot, task, stream);
        };
        let out = &self.streams[slot][index];
        if values.len() != out.arity || out.direct != direct.is_some() {
            self.refuse(slot, track);
            return self.misfit(slot, task, index, direct, values.len());
        }
        if direct.is_none() {
            if track.is_untracked() && out.routes.is_empty() {
                return self.count_unsent(slot, index);
            }
            // A route resolved at start, or one subscription whose
            // grouping picks one task per tuple (fields, shuffle, partial
            // key), picked here: either way one destination.
            let id = out.id;
            let one = match out.one {
                Some(one) => one,
                None => match self.pick(slot, index, values) {
                    Some(one) => one,
                    None => return self.emit_routed(slot, task, index, direct, values, track),
                },
            };
            return self.emit_to_one(slot, task, (index, id), one, values, track);
        }
        self.emit_routed(slot, task, index, direct, values, track);
    }

    /// [`forward`](Self::forward)'s stream (by name) and its one task, for
    /// a stream other than the default: `None` if it is undeclared, of
    /// another arity than `len` or direct (`emit` reports it), or if its
    /// task cannot be picked without reading the values.
    #[inline(never)]
    fn forward_route(
        &mut self,
        slot: usize,
        stream: &str,
        values: &[ArchivedValue],
    ) -> Option<((usize, u32), (TaskId, usize))> {
        let index = self.streams[slot].iter().position(|s| s.name == stream)?;
        let out = &self.streams[slot][index];
        if values.len() != out.arity || out.direct {
            return None;
        }
        let one = match out.one {
            Some(one) => one,
            None => self.pick(slot, index, values)?,
        };
        Some(((index, self.streams[slot][index].id), one))
    }

    /// The one task (and its worker thread) that the one subscription of
    /// stream `index` picks for `values` (`Value`s, or archived values
    /// read in place, which pick the same task); `None` if the stream has
    /// several, or its grouping may pick other than one task.
    #[inline(always)]
    fn pick<V: KeyValue>(
        &mut self,
        slot: usize,
        index: usize,
        values: &[V],
    ) -> Option<(TaskId, usize)> {
        let dest = match self.streams[slot][index].routes.as_mut_slice() {
            [(router, _)] => router.pick_one(values)?,
            _ => return None,
        };
        Some((dest, self.outbox.thread_of(dest)))
    }

    /// Counts an untracked emit on stream `index`, which has no
    /// subscriber.
    #[inline(always)]
    fn count_unsent(&mut self, slot: usize, index: usize) {
        self.counters[slot].emitted += 1;
        self.metrics.tasks[slot].output(index, 1, 0);
    }

    /// An emit on stream `(index, id)` that goes to one task (its route
    /// resolved at start, or picked by its one subscription's grouping):
    /// to task `dest` on worker `thread`; tracked, with a new edge in each
    /// of its trees (and, for a spout's emit with a message id, a new
    /// tree).
    #[inline(always)]
    fn emit_to_one(
        &mut self,
        slot: usize,
        task: TaskId,
        (index, id): (usize, u32),
        (dest, thread): (TaskId, usize),
        values: impl Payload,
        track: Track<'_, '_>,
    ) {
        let root = self.roots(slot, track);
        let header = &mut self.header;
        header.stream = id;
        header.source_task = task;
        match root {
            // A new tree's one delivery: its edge is the root itself, which
            // the acker opens the tree with (no update).
            Some((r, _)) => header.edge_id = r,
            None => self.tracking.new_edge(header),
        }
        let failure = values
            .deliver(&mut self.outbox, dest, thread, header, &mut self.forwarded)
            .err();
        let delivered = u64::from(failure.is_none());
        let counters = &mut self.counters[slot];
        counters.emitted += 1;
        counters.transferred += delivered;
        self.metrics.tasks[slot].output(index, 1, delivered);
        if self.collecting && failure.is_none() {
            self.targets.push(dest);
        }
        if root.is_some() {
            self.settle_root(slot, root, delivered, failure.is_some());
        }
        if let Some(e) = failure {
            self.error(
                slot,
                task,
                format_args!("could not deliver to task {dest}: {e}"),
            );
        }
    }

    /// After a spout's tracked emit of tree `root` (new root, message id)
    /// was delivered to `delivered` tasks (`failed`: and lost for some):
    /// the tree is pending, or complete or failed at once.
    #[inline]
    fn settle_root(&mut self, slot: usize, root: Option<(u64, u64)>, delivered: u64, failed: bool) {
        let Some((r, msg_id)) = root else {
            return;
        };
        let Some(p) = self.pending[slot].as_mut() else {
            return;
        };
        match (delivered, failed) {
            // No subscriber: the tree is complete already.
            (0, false) => p.immediate.push((msg_id, true)),
            // Nothing could be delivered: the tree fails now.
            (0, true) => p.immediate.push((msg_id, false)),
            (_, failed) => {
                if failed {
                    // Part of the tree was lost: fail it at once rather
                    // than wait for the timeout.
                    self.tracking.fail(r);
                }
                p.insert_newest(r, msg_id, self.now_ns);
            }
        }
    }

    /// Routes and enqueues any emitted tuple on stream `index` (checked
    /// against its declaration already).
    fn emit_routed(
        &mut self,
        slot: usize,
        task: TaskId,
        index: usize,
        direct: Option<TaskId>,
        values: &[Value],
        track: Track<'_, '_>,
    ) {
        let root = self.roots(slot, track);
        let Emitter {
            streams,
            counters,
            outbox,
            tracking,
            header,
            shared,
            plan,
            targets,
            collecting,
            ..
        } = self;
        let out = &mut streams[slot][index];
        let counters = &mut counters[slot];
        counters.emitted += 1;
        header.stream = out.id;
        header.source_task = task;
        let mut delivered = 0u64;
        let mut failure = None;
        let collecting = *collecting;
        // A new tree's first delivery takes the root as its edge (the
        // acker opens the tree with it), later ones new edges.
        let mut first_edge = root.map(|(r, _)| r);
        // `thread`: the destination's worker thread if already known.
        let mut deliver = |t: TaskId, thread: Option<usize>| {
            let thread = thread.unwrap_or_else(|| outbox.thread_of(t));
            match first_edge.take() {
                Some(r) => header.edge_id = r,
                None => tracking.new_edge(header),
            }
            let tuple = TupleRef {
                header: &*header,
                values,
            };
            match outbox.deliver(t, thread, tuple) {
                Ok(()) => {
                    delivered += 1;
                    if collecting {
                        targets.push(t);
                    }
                }
                Err(e) => failure = Some((t, e)),
            }
        };
        match (out.one, direct) {
            // The route resolved at start: no router, no lookup.
            (Some((t, thread)), None) => deliver(t, Some(thread)),
            _ => {
                for (router, route_targets) in &mut out.routes {
                    match direct {
                        Some(t) => {
                            if router.is_direct() && route_targets.binary_search(&t).is_ok() {
                                deliver(t, None);
                            }
                        }
                        None => {
                            let dropped = router.route(values, |t| deliver(t, None));
                            if dropped > 0 {
                                counters.errors += 1;
                                let component =
                                    plan.component_of(task).map_or("", |c| c.name.as_str());
                                shared.report(
                                    component,
                                    task,
                                    format!(
                                        "custom grouping chose {dropped} task(s) outside its targets"
                                    ),
                                );
                            }
                        }
                    }
                }
            }
        }
        counters.transferred += delivered;
        self.metrics.tasks[slot].output(index, 1, delivered);
        self.settle_root(slot, root, delivered, failure.is_some());
        if let Some((t, e)) = failure {
            self.error(
                slot,
                task,
                format_args!("could not deliver to task {t}: {e}"),
            );
        } else if let (Some(t), 0) = (direct, delivered) {
            let name = &self.streams[slot][index].name;
            let message =
                format!("emit_direct to task {t}, which does not subscribe directly to `{name}`");
            self.error(slot, task, format_args!("{message}"));
        }
    }

    /// An emit that was refused (undeclared stream, wrong arity or type):
    /// a spout's message id fails at once, so neither the spout nor a
    /// multi-lang child keeps it forever.
    #[cold]
    fn refuse(&mut self, slot: usize, track: Track<'_, '_>) {
        if let (Track::Root(msg_id), Some(p)) = (track, self.pending[slot].as_mut()) {
            p.immediate.push((msg_id, false));
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

    /// Stops the topology with `message`, an error of `task`'s.
    pub(crate) fn fail_topology(&mut self, slot: usize, task: TaskId, message: &str) {
        let component = self.plan.component_of(task).map_or("", |c| c.name.as_str());
        self.counters[slot].errors += 1;
        self.shared.fail_asked(TaskError {
            component: component.to_owned(),
            task,
            message: message.to_owned(),
        });
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

/// A default stream down which a run of emits goes without the general
/// path ([`Emitter::emit_many_default`]): its route resolved at start, or
/// its one subscription picking a task per tuple.
struct Lane {
    /// The emitting task's slot.
    slot: usize,
    /// The stream's index among the task's streams.
    index: usize,
    arity: usize,
    /// Its one destination (task, thread), if it has a subscriber.
    one: Option<(TaskId, usize)>,
    /// Its one subscription picks a task per tuple ([`Router::picks_one`]).
    picked: bool,
}

/// What a run of emits down a [`Lane`] did.
#[derive(Default)]
struct LaneSent {
    emitted: u64,
    delivered: u64,
    /// The last delivery that failed, and to which task.
    failure: Option<(TaskId, DeliverError)>,
}
