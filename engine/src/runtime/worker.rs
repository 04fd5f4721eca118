//! A worker thread: runs its tasks in a loop that drains inbound rings and
//! the local queue into bolts, polls the bolts that asked for it
//! (`Bolt::wants_poll`), delivers tick tuples, polls spouts while there is
//! room downstream, and flushes its outbound rings.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gale_codec::{view_trusted, AlignedVec, Encoder, Header, TupleRef};
use gale_transport::{Consumer, Doorbell, Waiter};

use super::collector::{execute_bolt, panic_message, run_chained, BoltOutput, SpoutOutput};
use super::input::{NoMore, RecordSource, TimedInput, Trusted};
use super::load::LoadMeter;
use super::output::Emitter;
use super::plan::{Plan, TICK_STREAM_ID};
use super::queue::{BatchRecords, ByteQueue, SubRecords};
use super::shared::{Progress, Shared, TaskError};
use super::RunConfig;
use crate::acker::{read_done, Acker, Done, ACK_DONE_STREAM_ID, ACK_STREAM_ID, DONE_RECORD};
use crate::{Spout, TaskId};

/// Records taken from one inbound ring per pass (keeps one busy peer from
/// starving the others and the spouts).
const READ_BATCH: usize = 256;
/// Record batches taken from one inbound ring of another worker per pass
/// (each holds some dozens of tuples; taking a bounded number at a time
/// hands their ring space back to the producer early). Enough for more
/// tuples than a pass's spouts emit ([`SPOUT_TUPLES`]): a thread whose
/// spouts' tuples come back to it (a bolt downstream, the acker's
/// completions) must take them in as fast as it sends them out, or the
/// thread sending them back stalls on a full ring (8 batches, about 700
/// tuples, held a reliable spout emitting runs of 64 below one emitting
/// one tuple per call).
const READ_BATCHES: usize = 32;
/// Calls to one spout's `next_tuple` per pass.
const SPOUT_BATCH: usize = 64;
/// Calls to a spout between two readings of the clock within a pass (a
/// spout that emits one tuple per call keeps the pass long: its tuples
/// must not wait for the pass's end).
const CALLS_PER_CLOCK: usize = 8;
/// Tuples one spout may emit per pass before the worker moves on (a spout
/// that emits runs reaches it in few calls): the loop's other work (inbound
/// rings, completions, ticks, metrics) waits at most this long.
const SPOUT_TUPLES: u64 = 1024;
/// Records in a worker's acker log before it is flushed anyway, at most
/// (see [`ack_batch`]).
const ACK_BATCH: usize = 512;
/// ... and at least.
const MIN_ACK_BATCH: usize = 64;

/// Records in a worker's acker log before it is flushed anyway: a quarter
/// of the smallest spout window of the topology (`max_spout_pending`),
/// from [`MIN_ACK_BATCH`] to [`ACK_BATCH`]. A spout that has its window
/// full waits for completions, which wait for the logs: a log that holds
/// much of a window stalls the spout's pipeline (const-spout-id-bolt-
/// null-bolt acked with a window of 1024 ran at half the rate of 4096
/// with logs of 1024 records, and at the same rate with 256), and one of
/// a few records costs a message for little.
fn ack_batch(topology: &crate::Topology) -> usize {
    topology
        .components
        .iter()
        .filter_map(|c| c.max_spout_pending(topology.config.max_spout_pending))
        .min()
        .map_or(ACK_BATCH, |window| window / 4)
        .clamp(MIN_ACK_BATCH, ACK_BATCH)
}
/// A busy worker flushes its acker log at least this often (and always
/// before it idles): acks are batched longer than tuples (see
/// `RunConfig::flush_interval`), as a tree's completion waits for them
/// only, not a tuple's next operator.
const ACK_FLUSH_INTERVAL: Duration = Duration::from_micros(100);

pub(crate) enum Instance {
    Spout(Box<dyn Spout>),
    /// A bolt: the instance itself is in `Emitter::bolts` (an emit may run
    /// it chained).
    Bolt,
    /// Boxed: its tables are larger than the other variants.
    Acker(Box<Acker>),
}

pub(crate) struct TaskSlot {
    pub(crate) id: TaskId,
    pub(crate) instance: Instance,
    /// A spout that reported `is_finished`, or any spout once draining.
    pub(crate) done: bool,
    pub(crate) tick: Option<(Duration, Instant)>,
    /// False for a spout carried over from the run this one replaces
    /// ([`SpoutHandoff`](super::SpoutHandoff)): it is activated, not opened.
    pub(crate) reopen: bool,
}

/// The part of a worker that executes tuples (split from the inbound rings
/// so a batch borrowed from a ring can be executed).
pub(crate) struct Core {
    pub(crate) plan: Arc<Plan>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) tasks: Vec<TaskSlot>,
    pub(crate) emitter: Emitter,
    pub(crate) processed: u64,
    /// `max_pending[slot]`: max spout pending of a spout task.
    pub(crate) max_pending: Arc<[usize]>,
    /// Slots of the bolts that asked for [`Bolt::poll`] calls (usually
    /// none: then polling costs one empty loop per pass).
    pub(crate) polled: Vec<usize>,
    /// When the rings were last flushed, and how often they must be.
    pub(crate) flushes: FlushClock,
}

/// When a busy worker flushes its stages and rings
/// ([`RunConfig::flush_interval`]): when one was last flushed and how long
/// a tuple may wait in one.
pub(crate) struct FlushClock {
    interval: Duration,
    last: Instant,
}

impl FlushClock {
    pub(crate) fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: Instant::now(),
        }
    }

    /// Whether a flush is due at `now`.
    #[inline]
    fn due(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.last) >= self.interval
    }

    /// Flushed at `now`.
    #[inline]
    fn flushed(&mut self, now: Instant) {
        self.last = now;
    }
}

/// One inbound ring, from another worker thread or from the link: each
/// ring record is a record batch ([`SubRecords`]; the link's are runs of a
/// frame's records, which have the same layout).
pub(crate) struct Inbound {
    ring: Consumer,
    /// Ring records taken per pass.
    read: usize,
}

impl Inbound {
    /// A ring from another worker thread of this node.
    pub(crate) fn from_worker(ring: Consumer) -> Self {
        Self {
            ring,
            read: READ_BATCHES,
        }
    }

    /// A ring from the link.
    pub(crate) fn from_link(ring: Consumer) -> Self {
        Self {
            ring,
            read: READ_BATCH,
        }
    }
}

pub(crate) struct Worker {
    pub(crate) index: usize,
    pub(crate) core: Core,
    pub(crate) inbound: Vec<Inbound>,
    pub(crate) config: RunConfig,
}

impl Core {
    fn fail(&self, task: TaskId, what: &str, payload: &(dyn Any + Send)) {
        let component = self.plan.component_of(task).map_or("", |c| c.name.as_str());
        self.shared.fail(TaskError {
            component: component.to_owned(),
            task,
            message: format!("panicked in {what}: {}", panic_message(payload)),
        });
    }

    /// Runs task `dest` on an archived record: a bolt's `execute` (with
    /// the records after it in `rest` that are for the same task and
    /// stream, as one run), an acker's batch of updates (or tick), or a
    /// spout's completions. Returns how many records it took.
    ///
    /// # Safety
    ///
    /// `record` must be bytes written by this topology's encoder (through
    /// our rings or the local queue), 8-aligned, as `RecordSource` says of
    /// the records of `rest`.
    unsafe fn execute<'a>(
        &mut self,
        dest: TaskId,
        record: &'a [u8],
        rest: &mut dyn RecordSource<'a>,
    ) -> u32 {
        // Borrow the fields apart: the plan (shared, read-only) outlives the
        // input built from it while the bolt gets the emitter mutably.
        let Core {
            plan,
            tasks,
            emitter,
            ..
        } = self;
        let slot = emitter.slot_of(dest);
        let Some(task) = tasks.get_mut(slot) else {
            self.processed += 1;
            emitter.missing(dest);
            return 1;
        };
        // SAFETY: every record in our rings and queues was either written
        // by an `Encoder` of this topology (Outbox::deliver, the overflow
        // copies such bytes) or, from another node, passed
        // `EngineRoute::route` (`view_checked` and the subscription checks)
        // on the link's private copy that the link then put in the ring;
        // either way it is read back unmodified from memory only this
        // process writes (the caller's contract). Payloads are 8-aligned.
        let view = unsafe { view_trusted(record) };
        match &mut task.instance {
            Instance::Bolt => {
                // SAFETY: `record` and `rest` are trusted (this function's
                // contract).
                let taken = unsafe { execute_bolt(emitter, plan, dest, record, rest) };
                self.processed += u64::from(taken);
                taken
            }
            Instance::Acker(acker) => {
                self.processed += 1;
                if view.stream() == ACK_STREAM_ID {
                    acker.apply(view.get(0).and_then(|v| v.as_bytes()).unwrap_or_default());
                    acker.send_out(|spout, bytes| {
                        emitter.outbox.deliver_system(
                            spout,
                            ACK_DONE_STREAM_ID,
                            bytes,
                            DONE_RECORD,
                        );
                    });
                } else if view.stream() == TICK_STREAM_ID {
                    acker.rotate();
                }
                emitter.counters[slot].executed += 1;
                1
            }
            Instance::Spout(spout) => {
                self.processed += 1;
                let bytes = view.get(0).and_then(|v| v.as_bytes()).unwrap_or_default();
                let (id, spout) = (task.id, spout);
                completions(emitter, slot, id, spout, bytes, &self.shared, plan);
                1
            }
        }
    }

    /// Calls `ack`/`fail` for timed-out trees and completions decided
    /// without an acker; returns whether any were delivered.
    fn spout_housekeeping(&mut self) -> bool {
        let mut any = false;
        let now_ns = self.emitter.now_ns;
        for slot in 0..self.tasks.len() {
            let TaskSlot { id, instance, .. } = &mut self.tasks[slot];
            let Instance::Spout(spout) = instance else {
                continue;
            };
            let Some(p) = self.emitter.pending[slot].as_mut() else {
                continue;
            };
            let mut expired = Vec::new();
            if p.len() > 0 {
                p.expire(now_ns, &mut expired);
            }
            let immediate = std::mem::take(&mut p.immediate);
            if expired.is_empty() && immediate.is_empty() {
                continue;
            }
            any = true;
            let counters = &mut self.emitter.counters[slot];
            let result = catch_unwind(AssertUnwindSafe(|| {
                for msg in expired {
                    counters.failed += 1;
                    spout.fail(msg);
                }
                for (msg, acked) in immediate {
                    if acked {
                        counters.acked += 1;
                        spout.ack(msg);
                    } else {
                        counters.failed += 1;
                        spout.fail(msg);
                    }
                }
            }));
            if let Err(payload) = result {
                let task = *id;
                self.fail(task, "ack/fail", &*payload);
                return any;
            }
        }
        any
    }

    /// Calls each active spout up to `SPOUT_BATCH` times (fewer if it
    /// emits nothing, emits `SPOUT_TUPLES` tuples, or downstream backs up);
    /// returns whether any emitted.
    fn poll_spouts(&mut self) -> bool {
        let mut progress = false;
        let max_pending = Arc::clone(&self.max_pending);
        for slot in 0..self.tasks.len() {
            let TaskSlot {
                id, instance, done, ..
            } = &mut self.tasks[slot];
            let Instance::Spout(spout) = instance else {
                continue;
            };
            if *done || self.emitter.blocked() {
                continue;
            }
            let max_pending = max_pending[slot];
            let pending_full = |e: &Emitter| e.pending_full(slot, max_pending);
            if pending_full(&self.emitter) {
                continue;
            }
            let mut out = SpoutOutput {
                emitter: &mut self.emitter,
                plan: &self.plan,
                slot,
                task: *id,
            };
            let flushes = &mut self.flushes;
            // One unwind guard around the whole batch.
            let batch = catch_unwind(AssertUnwindSafe(|| {
                // `is_finished` is asked once a call emits nothing and at
                // the end of the batch, not after every call: a finished
                // spout emits nothing, so at most one call more reaches it.
                let start = out.emitter.counters[slot].emitted;
                for call in 1..=SPOUT_BATCH {
                    let before = out.emitter.counters[slot].emitted;
                    spout.next_tuple(&mut out);
                    if out.emitter.counters[slot].emitted == before {
                        break;
                    }
                    if out.emitter.blocked() || pending_full(out.emitter) {
                        break;
                    }
                    if out.emitter.counters[slot].emitted - start >= SPOUT_TUPLES {
                        break;
                    }
                    // A paced spout emits a tuple or two per call and
                    // keeps the batch going for many microseconds: what
                    // it staged for other threads so far goes out when a
                    // flush is due. (Chained bolts still run once, after
                    // the batch: running them in small pieces costs more
                    // than a tuple waiting on its own thread gains.)
                    if call % CALLS_PER_CLOCK == 0 {
                        let now = Instant::now();
                        if flushes.due(now) {
                            out.emitter.outbox.flush();
                            flushes.flushed(now);
                        }
                    }
                }
                // What the calls emitted to bolts of this thread runs now,
                // as one run per bolt (a spout that emits one tuple per
                // call would otherwise pay for a run per tuple).
                run_chained(out.emitter, out.plan);
                let emitted = out.emitter.counters[slot].emitted != start;
                (spout.is_finished(), emitted)
            }));
            match batch {
                Ok((finished, emitted)) => {
                    *done = finished;
                    progress |= emitted;
                }
                Err(payload) => {
                    let task = *id;
                    self.fail(task, "next_tuple", &*payload);
                    return progress;
                }
            }
        }
        progress
    }

    /// Calls [`Bolt::poll`] on the bolts that asked for it (when `quiet`,
    /// only on those with work pending); returns whether any did
    /// something.
    fn poll_bolts(&mut self, quiet: bool) -> bool {
        let mut progress = false;
        for &slot in &self.polled {
            let id = self.tasks[slot].id;
            let Some(mut bolt) = self.emitter.bolts[slot].take() else {
                continue;
            };
            if quiet && !bolt.has_pending() {
                self.emitter.bolts[slot] = Some(bolt);
                continue;
            }
            // Polled as if executing: not entered again by a chained emit.
            self.emitter.outbox.chain.set_running(id, true);
            let untimed = TimedInput::default();
            let mut out = BoltOutput::run(&mut self.emitter, &self.plan, slot, id, None, &untimed);
            let result = catch_unwind(AssertUnwindSafe(|| bolt.poll(&mut out)));
            out.finish();
            self.emitter.bolts[slot] = Some(bolt);
            self.emitter.outbox.chain.set_running(id, false);
            run_chained(&mut self.emitter, &self.plan);
            match result {
                Ok(did) => progress |= did,
                Err(payload) => {
                    self.fail(id, "poll", &*payload);
                    return progress;
                }
            }
        }
        progress
    }

    /// Runs everything in the local queue (and what those runs enqueue
    /// locally, up to a bound per pass).
    fn drain_local(&mut self, spare: &mut ByteQueue) -> bool {
        let mut progress = false;
        for _ in 0..4 {
            if self.emitter.outbox.local_mut().is_empty() || self.shared.should_stop() {
                break;
            }
            std::mem::swap(self.emitter.outbox.local_mut(), spare);
            // SAFETY: the local queue holds records archived by this
            // thread's encoder (Outbox::push_local), 8-aligned.
            let mut records = unsafe { Trusted::new(SubRecords::new(spare.as_batch())) };
            while let Some((dest, record)) = records.next() {
                // SAFETY: a trusted record (above).
                let taken = unsafe { self.execute(dest, record, &mut records) };
                self.emitter.outbox.chain.dequeued(dest, taken);
            }
            spare.clear();
            progress = true;
        }
        progress
    }

    fn deliver_ticks(&mut self, tick: &[u8], now: Instant) -> bool {
        let mut progress = false;
        for slot in 0..self.tasks.len() {
            let Some((every, next)) = self.tasks[slot].tick else {
                continue;
            };
            if now >= next {
                self.tasks[slot].tick = Some((every, now + every));
                let id = self.tasks[slot].id;
                // SAFETY: `tick` was archived by our encoder into an
                // aligned buffer (`tick_record`).
                unsafe { self.execute(id, tick, &mut NoMore) };
                // Ticks are not data: do not count them for termination.
                self.processed -= 1;
                progress = true;
            }
        }
        progress
    }

    /// Publishes this worker's progress for the coordinator; `quiet`: the
    /// pass began with [`Shared::quiescing`] set.
    fn publish(&self, index: usize, quiet: bool) {
        let spouts_done = self
            .tasks
            .iter()
            .enumerate()
            .all(|(slot, t)| match t.instance {
                // A finished spout is done once its trees have completed.
                Instance::Spout(_) => {
                    t.done
                        && self.emitter.pending[slot]
                            .as_ref()
                            .is_none_or(|p| p.len() == 0 && p.immediate.is_empty())
                }
                _ => true,
            })
            && self.emitter.tracking.is_empty()
            && self.polled.iter().all(|&slot| {
                self.emitter.bolts[slot]
                    .as_ref()
                    .is_none_or(|b| !b.has_pending())
            });
        self.shared.workers[index].publish(Progress {
            sent: self.emitter.outbox.sent(),
            processed: self.processed,
            spouts_done,
            quiet,
        });
        for (slot, t) in self.tasks.iter().enumerate() {
            self.shared.tasks[t.id as usize - 1].publish(&self.emitter.counters[slot]);
        }
    }
}

/// A worker's sleep when it has had nothing to do for a while: on its
/// doorbell, which the first tuple published into one of its inbound rings
/// rings, for at most `most`; without a doorbell, a park of `most`. Rings
/// whose producer does not ring (another process's) and every other kind
/// of work (ticks, timeouts, a multi-lang child's output, control) wait
/// for the end of the sleep, as they wait for the end of a park.
fn sleep(inbound: &[Inbound], bell: Option<&Doorbell>, most: Duration) {
    let Some(bell) = bell else {
        return std::thread::park_timeout(most);
    };
    bell.arm();
    // Looked at after arming (the bell's protocol): a record published
    // before the producer could see the bell armed is seen here.
    if inbound.iter().all(|i| i.ring.is_empty()) {
        bell.sleep(most);
    }
    bell.disarm();
}

impl Worker {
    /// A doorbell for this worker's inbound rings, set on each: a producer
    /// that publishes into one while the worker sleeps on it wakes it.
    /// `None` if the eventfd cannot be made (the worker parks instead).
    fn doorbell(&self) -> Option<Arc<Doorbell>> {
        let bell = match Doorbell::new() {
            Ok(bell) => Arc::new(bell),
            Err(e) => {
                tracing::debug!("no doorbell for the worker ({e}): it parks when idle");
                return None;
            }
        };
        for i in &self.inbound {
            i.ring.set_doorbell(Arc::clone(&bell));
        }
        Some(bell)
    }

    /// The worker's whole life: open/prepare, loop, cleanup/close.
    pub(crate) fn run(mut self) {
        let span = tracing::info_span!("worker", index = self.index);
        let _entered = span.enter();
        if !self.start() {
            // An exited worker sends nothing more.
            self.core.publish(self.index, true);
            return self.exit();
        }
        let tick = tick_record();
        let mut spare = ByteQueue::default();
        let mut waiter = Waiter::new(self.config.wait);
        let bell = self.doorbell();
        let mut last_ack_flush = Instant::now();
        let ack_batch = ack_batch(&self.core.plan.topology);
        let has_ticks = self.core.tasks.iter().any(|t| t.tick.is_some());
        let mut draining = false;
        // Deactivated by the handle: spouts not polled (acks, fails and
        // timeouts still reach them).
        let mut paused = false;
        // Whether the last pass found nothing to do (as before the first).
        let mut was_idle = true;
        // How busy this thread is, for load-aware shuffles (every worker
        // publishes it: the shuffles of others may target its tasks).
        let mut load = self
            .core
            .plan
            .topology
            .config
            .load_aware
            .then(|| LoadMeter::new(Instant::now()));
        while !self.core.shared.should_stop() {
            let mut progress = false;
            // The pass's one reading of the clock (the flushes below go by
            // it too).
            let now = Instant::now();
            self.core.emitter.set_now(now);
            if let Some(share) = load.as_mut().and_then(|m| m.pass(now, !was_idle)) {
                self.balance(share);
            }
            let Worker { core, inbound, .. } = &mut self;
            for Inbound { ring, read } in inbound.iter_mut() {
                let mut batch = ring.try_read_batch(*read);
                // SAFETY: our inbound rings hold records written by an
                // `Outbox` of this topology or checked by the link.
                let mut records = unsafe { Trusted::new(BatchRecords::new(batch.records())) };
                while let Some((dest, tuple)) = records.next() {
                    progress = true;
                    // SAFETY: records of our inbound rings are trusted
                    // (see `BatchRecords`).
                    unsafe { core.execute(dest, tuple, &mut records) };
                }
            }
            progress |= core.drain_local(&mut spare);
            // Read before anything this pass could send on its own, and
            // published at its end (see `Shared::quiesce`).
            let quiet = core.shared.quiescing();
            if !core.polled.is_empty() {
                progress |= core.poll_bolts(quiet);
            }
            progress |= core.emitter.outbox.drain_overflows();
            if has_ticks && !quiet {
                progress |= core.deliver_ticks(&tick, Instant::now());
            }
            if !draining && core.shared.draining() {
                draining = true;
                self.deactivate_spouts();
            }
            if !draining && paused != self.core.shared.inactive() {
                paused = !paused;
                self.set_spouts_active(!paused);
            }
            if !draining && !paused {
                progress |= self.core.poll_spouts();
            }
            progress |= self.core.spout_housekeeping();
            // Acker traffic: a batch per acker task when the table is big,
            // before idling, or every flush interval.
            let emitter = &mut self.core.emitter;
            if !emitter.tracking.is_empty()
                && (emitter.tracking.len() >= ack_batch
                    || !progress
                    || now.saturating_duration_since(last_ack_flush) >= ACK_FLUSH_INTERVAL)
            {
                emitter.flush_acks();
                last_ack_flush = now;
                progress = true;
            }
            // Flush before idling and at the end of the first busy pass
            // after an idle one (low rates see low latency: the pass that
            // emitted an isolated tuple does not wait for the next pass to
            // find nothing), and at least every flush interval while busy:
            // a tuple waits in a stage about that long at most, whatever
            // the rate (a stage also goes out whenever it fills). A worker
            // that is never idle keeps batching by the interval; one that
            // is idle between passes published each pass's output anyway.
            if !progress || was_idle || self.core.flushes.due(now) {
                self.core.emitter.outbox.flush();
                self.core.flushes.flushed(now);
            }
            let emitter = &mut self.core.emitter;
            let blocked = emitter.blocked();
            if emitter.metrics.worker.pass(emitter.now, blocked) {
                self.publish_metrics();
            }
            self.core.publish(self.index, quiet);
            was_idle = !progress;
            if progress {
                waiter.reset();
            } else {
                // A worker blocked on a full ring waits for its consumer
                // to make room, which rings no bell: it parks blind, and
                // what comes into its own rings meanwhile waits for the
                // park's end (a batch, not a wake-up per record).
                let bell = bell.as_deref().filter(|_| !self.core.emitter.blocked());
                let inbound = &self.inbound;
                waiter.idle_with(|most| sleep(inbound, bell, most));
            }
        }
        self.exit();
    }

    /// Publishes this thread's busy share of the last load window and
    /// rebalances its load-aware shuffles by every thread's.
    fn balance(&mut self, share: f64) {
        let shared = &self.core.shared;
        shared.set_busy(self.index, share);
        self.core.emitter.rebalance(|thread| shared.busy(thread));
    }

    /// Opens spouts and prepares bolts; false if one panicked.
    fn start(&mut self) -> bool {
        let plan = Arc::clone(&self.core.plan);
        let shared = Arc::clone(&self.core.shared);
        let mut polled = Vec::new();
        let bolts = &mut self.core.emitter.bolts;
        for (slot, t) in self.core.tasks.iter_mut().enumerate() {
            let mut context = plan.context(t.id);
            context.metric_sources = Some(crate::component::MetricRegistry(Arc::clone(&shared)));
            let span = tracing::info_span!("task", component = context.component, task = t.id);
            let _entered = span.enter();
            tracing::debug!("opening");
            let result = catch_unwind(AssertUnwindSafe(|| match &mut t.instance {
                Instance::Spout(s) => {
                    if t.reopen {
                        s.open(&context);
                    }
                    s.activate();
                }
                Instance::Bolt => {
                    if let Some(b) = bolts[slot].as_mut() {
                        b.prepare(&context);
                    }
                }
                Instance::Acker(_) => {}
            }));
            if let (Ok(()), Some(b)) = (&result, &bolts[slot]) {
                if b.wants_poll() {
                    polled.push(slot);
                }
            }
            if let Err(payload) = result {
                let component = plan.component_of(t.id).map_or("", |c| c.name.as_str());
                shared.fail(TaskError {
                    component: component.to_owned(),
                    task: t.id,
                    message: format!("panicked in open/prepare: {}", panic_message(&*payload)),
                });
                return false;
            }
        }
        self.core.polled = polled;
        true
    }

    /// Calls `activate` or `deactivate` on the spouts still running.
    fn set_spouts_active(&mut self, active: bool) {
        for t in &mut self.core.tasks {
            if let Instance::Spout(s) = &mut t.instance {
                if t.done {
                    continue;
                }
                let result = catch_unwind(AssertUnwindSafe(|| {
                    if active {
                        s.activate();
                    } else {
                        s.deactivate();
                    }
                }));
                if let Err(payload) = result {
                    let component = self
                        .core
                        .plan
                        .component_of(t.id)
                        .map_or("", |c| c.name.as_str());
                    self.core.shared.fail(TaskError {
                        component: component.to_owned(),
                        task: t.id,
                        message: format!(
                            "panicked in activate/deactivate: {}",
                            panic_message(&*payload)
                        ),
                    });
                }
            }
        }
    }

    fn deactivate_spouts(&mut self) {
        for t in &mut self.core.tasks {
            if let Instance::Spout(s) = &mut t.instance {
                if !t.done {
                    s.deactivate();
                }
                t.done = true;
            }
        }
    }

    /// Cleans up bolts and closes spouts (each in isolation: one panicking
    /// does not keep the others from running), then publishes its counters
    /// a last time.
    fn exit(mut self) {
        let failed = self
            .core
            .shared
            .failed
            .load(std::sync::atomic::Ordering::Acquire);
        let handoff = self.config.handoff.clone().filter(|h| h.armed());
        for (slot, t) in self.core.tasks.iter_mut().enumerate() {
            let id = t.id;
            let component = self.core.plan.component_of(id).map_or("", |c| &c.name);
            let span = tracing::info_span!("task", component, task = id);
            let _entered = span.enter();
            if let (Some(handoff), Instance::Spout(_)) = (&handoff, &t.instance) {
                let Instance::Spout(spout) = std::mem::replace(&mut t.instance, Instance::Bolt)
                else {
                    continue;
                };
                let info = &self.core.plan.tasks[id as usize - 1];
                let tasks = self.core.plan.component_of(id).map_or(1, |c| c.parallelism);
                let emitter = &mut self.core.emitter;
                let failed = park_spout(
                    handoff,
                    (component, info.index, tasks),
                    spout,
                    emitter.pending[slot].as_mut(),
                );
                emitter.counters[slot].failed += failed;
                continue;
            }
            tracing::debug!("closing");
            let bolt = self.core.emitter.bolts[slot].as_mut();
            let result = catch_unwind(AssertUnwindSafe(|| match &mut t.instance {
                Instance::Spout(s) => s.close(),
                Instance::Bolt => {
                    if let Some(b) = bolt {
                        b.cleanup();
                    }
                }
                Instance::Acker(_) => {}
            }));
            if let (Err(payload), false) = (result, failed) {
                self.core.emitter.counters[slot].errors += 1;
                let component = self
                    .core
                    .plan
                    .component_of(id)
                    .map_or("", |c| c.name.as_str());
                self.core.shared.report(
                    component,
                    id,
                    format!("panicked in cleanup/close: {}", panic_message(&*payload)),
                );
            }
        }
        self.publish_metrics();
        self.core.publish(self.index, true);
    }

    /// Publishes the live metrics of this worker and its tasks.
    fn publish_metrics(&mut self) {
        let Core {
            shared,
            tasks,
            emitter,
            ..
        } = &mut self.core;
        let store = &shared.metrics;
        for (slot, t) in tasks.iter().enumerate() {
            let complete = emitter.pending[slot].as_mut().map(|p| &mut p.latency);
            let (rec, totals) = (&mut emitter.metrics.tasks[slot], &emitter.counters[slot]);
            store.publish_task(t.id, rec, totals, complete);
        }
        let rings = self.inbound.iter().fold((0, 0), |(bytes, capacity), r| {
            (bytes + r.ring.len_bytes(), capacity + r.ring.capacity())
        });
        let overflow = emitter.outbox.overflow_bytes();
        let backpressure = emitter.metrics.worker.backpressure_ns;
        store.publish_worker(self.index, rings, overflow, backpressure);
    }
}

/// The archived form of a tick tuple: the tick stream, no values.
fn tick_record() -> AlignedVec<16> {
    let header = Header {
        stream: TICK_STREAM_ID,
        ..Header::default()
    };
    let tuple = TupleRef {
        header: &header,
        values: &[],
    };
    let mut buf = AlignedVec::<16>::new();
    buf.resize(256, 0);
    let len = Encoder::new()
        .encode_into(tuple, &mut buf)
        .expect("an empty tuple fits in 256 bytes");
    buf.resize(len, 0);
    buf
}

/// Applies a batch of completions from an acker to spout task `task`:
/// each root still pending gets its one `ack` or `fail`; roots already
/// timed out are ignored.
fn completions(
    emitter: &mut Emitter,
    slot: usize,
    task: TaskId,
    spout: &mut Box<dyn Spout>,
    bytes: &[u8],
    shared: &Shared,
    plan: &Plan,
) {
    let now = emitter.now_ns;
    let Some(pending) = emitter.pending[slot].as_mut() else {
        return;
    };
    let counters = &mut emitter.counters[slot];
    let result = catch_unwind(AssertUnwindSafe(|| {
        for (root, done) in read_done(bytes) {
            match done {
                Some(Done::Acked) => {
                    if let Some((msg, started)) = pending.take(root) {
                        pending.record(started, now);
                        counters.acked += 1;
                        spout.ack(msg);
                    }
                }
                Some(Done::Failed) => {
                    if let Some((msg, _)) = pending.take(root) {
                        counters.failed += 1;
                        spout.fail(msg);
                    }
                }
                Some(Done::Reset) => pending.reset(root, now),
                None => {}
            }
        }
    }));
    if let Err(payload) = result {
        let component = plan.component_of(task).map_or("", |c| c.name.as_str());
        shared.fail(TaskError {
            component: component.to_owned(),
            task,
            message: format!("panicked in ack/fail: {}", panic_message(&*payload)),
        });
    }
}

/// Fails every tree of a spout task still pending (the spout replays
/// them) and parks the spout in `handoff` for the next run; the number
/// of trees failed.
fn park_spout(
    handoff: &super::SpoutHandoff,
    (component, index, tasks): (&str, usize, usize),
    mut spout: Box<dyn Spout>,
    pending: Option<&mut crate::acker::SpoutPending>,
) -> u64 {
    let mut expired = Vec::new();
    if let Some(p) = pending {
        p.expire(u64::MAX, &mut expired);
    }
    let failed = expired.len() as u64;
    let result = catch_unwind(AssertUnwindSafe(|| {
        for msg in expired {
            spout.fail(msg);
        }
    }));
    if result.is_err() {
        tracing::warn!(component, index, "a spout panicked in fail while parked");
    }
    tracing::debug!(component, index, failed, "spout parked for the next run");
    handoff.park(component, index, tasks, spout, failed);
    failed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{OutputFieldsDeclarer, Spout, SpoutOutput, TopologyBuilder};

    struct Quiet;

    impl Spout for Quiet {
        fn declare_output_fields(&self, declarer: &mut OutputFieldsDeclarer) {
            declarer.declare(["n"]);
        }

        fn next_tuple(&mut self, _out: &mut SpoutOutput<'_>) {}
    }

    /// [`ack_batch`] of two spouts, the first with its own window if
    /// `first` says so, under the topology's window `all`.
    fn batch(all: Option<usize>, first: Option<usize>) -> usize {
        let mut b = TopologyBuilder::new("windows");
        if let Some(n) = all {
            b.set_max_spout_pending(n);
        }
        let spout = b.set_spout("first", || Quiet, 1);
        if let Some(n) = first {
            spout.max_spout_pending(n);
        }
        b.set_spout("second", || Quiet, 2);
        ack_batch(&b.build().unwrap())
    }

    #[test]
    fn an_acker_log_goes_out_at_a_quarter_of_the_smallest_window() {
        assert_eq!(batch(None, None), ACK_BATCH);
        assert_eq!(batch(Some(4096), None), 512);
        assert_eq!(batch(Some(1024), None), 256);
        assert_eq!(batch(Some(100_000), Some(1000)), 250);
        // The second spout's window is the topology's.
        assert_eq!(batch(Some(800), Some(100_000)), 200);
        // Only one spout has a window: it is the smallest.
        assert_eq!(batch(None, Some(1024)), 256);
        assert_eq!(batch(Some(10), None), MIN_ACK_BATCH);
    }
}
