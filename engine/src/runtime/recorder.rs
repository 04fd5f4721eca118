//! Live metrics on the hot path. Each worker thread counts into plain
//! integers and histograms of its own ([`TaskRecorder`], [`WorkerRecorder`],
//! [`Sampler`]) and publishes them at most every [`PUBLISH_EVERY`] (and once
//! more when it exits) into the slots of [`MetricsStore`]: counters by
//! relaxed stores into cache-padded slots that only this thread writes,
//! histograms by adding its delta under a per-task mutex. No atomic
//! read-modify-write and no lock is taken per tuple.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;
use hdrhistogram::Histogram;

use super::clock::{SampleClock, Stamp};
use super::config::MetricsConfig;
use super::counters::{latency_histogram, Counters, LatencyCounts};
use super::plan::Plan;
use super::source::MetricSource;

/// How often a busy worker publishes its metrics.
pub(crate) const PUBLISH_EVERY: Duration = Duration::from_millis(100);

/// Nanoseconds from `from` to `to` (0 if `to` is earlier).
pub(crate) fn nanos(from: Instant, to: Instant) -> u64 {
    to.saturating_duration_since(from)
        .as_nanos()
        .min(u128::from(u64::MAX)) as u64
}

/// Picks one call in `every` for latency sampling (Storm's stats sample
/// rate): a countdown, no clock and no randomness per call. Where calls
/// come so fast that samples would fall closer together than
/// [`MetricsConfig::min_sample_interval`], it picks fewer: one in
/// `stride`, set from the calls and the time between the last two
/// samples ([`observe`](Self::observe)).
pub(crate) struct Sampler {
    /// One call in how many is sampled at most (0: none).
    every: u32,
    /// One call in how many is sampled now (at least `every`).
    stride: u32,
    left: u32,
    /// Calls accounted for so far.
    seen: u64,
    /// When the last sample observed started, and its call's number (in
    /// `seen`'s count).
    last: Option<(Stamp, u64)>,
    /// [`MetricsConfig::min_sample_interval`] in nanoseconds (0: none).
    min_gap: u64,
}

/// The sampler's stride at most: however fast calls come, one in this
/// many is still timed.
const MAX_STRIDE: u32 = 1 << 24;

impl Sampler {
    /// Samples a fraction `rate` (0 = never, 1 = always) of calls; none
    /// with metrics off.
    pub(crate) fn new(config: &MetricsConfig) -> Self {
        let every = // NaN and non-positive rates sample nothing.
        if !config.enabled || config.sample_rate.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
            0
        } else {
            (1.0 / config.sample_rate.min(1.0)).round().clamp(1.0, 1e9) as u32
        };
        Self {
            every,
            stride: every,
            left: every,
            seen: 0,
            last: None,
            min_gap: u64::try_from(config.min_sample_interval.as_nanos()).unwrap_or(u64::MAX),
        }
    }

    /// Of the coming calls, which is the next sampled (0: the very next;
    /// `None` when nothing is ever sampled). A run of calls times that
    /// one and every [`stride`](Self::stride)-th after it, then
    /// [`advance`](Self::advance)s past them all.
    #[inline]
    pub(crate) fn next_sampled(&self) -> Option<u32> {
        (self.every != 0).then(|| self.left - 1)
    }

    /// Accounts for `n` calls, the sampled ones among them included.
    /// (Runs chained within a run count down the same sampler meanwhile:
    /// what they time is sampled besides, a little more often than the
    /// rate says.)
    #[inline]
    pub(crate) fn advance(&mut self, n: u32) {
        if self.every == 0 {
            return;
        }
        self.seen += u64::from(n);
        if n < self.left {
            self.left -= n;
        } else {
            self.left = self.stride - (n - self.left) % self.stride;
        }
    }

    /// One call in how many is sampled now (0: none).
    #[inline]
    pub(crate) fn stride(&self) -> u32 {
        self.stride
    }

    /// The sample of the coming call `at` (counted as in
    /// [`next_sampled`](Self::next_sampled), before the run that took it
    /// [`advance`](Self::advance)s) started at `started` on `clock`: sets
    /// the stride so that, at the rate calls came since the last sample,
    /// samples fall [`MetricsConfig::min_sample_interval`] apart or more.
    /// Called for a run's first sample only (the run's others follow at
    /// the same stride).
    pub(crate) fn observe(&mut self, clock: &SampleClock, started: Stamp, at: u32) {
        let call = self.seen + u64::from(at);
        if let Some((prev, prev_call)) = self.last {
            let calls = call.saturating_sub(prev_call);
            // (No time between them: a clock read out of order, as a
            // thread moved between cores may see; the stride stays.)
            let ns = clock.nanos(prev, started);
            if self.min_gap > 0 && calls > 0 && ns > 0 {
                // Calls in `min_gap` at the rate since the last sample.
                let want = (u128::from(self.min_gap) * u128::from(calls)).div_ceil(u128::from(ns));
                self.stride = u32::try_from(want)
                    .unwrap_or(MAX_STRIDE)
                    .clamp(self.every, MAX_STRIDE.max(self.every));
            }
        }
        self.last = Some((started, call));
    }
}

/// Index of a tuple's stream among a task's input counters: its global
/// stream id, or the last slot for system streams (ticks, acker traffic).
#[inline]
pub(crate) fn input_index(stream: u32, streams: usize) -> usize {
    (stream as usize).min(streams)
}

/// One task's metrics as its worker keeps them. With metrics off every
/// vector is empty and the histograms are `None`, so the hot path's
/// `get_mut` finds nothing to count.
///
/// Per-stream counts leave out one stream each: the task's first output
/// stream and its first subscribed input stream are never counted per
/// tuple. Their figures are the task's totals (which the worker counts
/// anyway, metrics on or off) minus the other streams' counts, filled in
/// by [`settle`](Self::settle) when the worker publishes. A task with one
/// output stream and one input, the common case, so pays nothing per
/// tuple for its per-stream emitted, transferred, executed and acked
/// counts but a compare.
pub(crate) struct TaskRecorder {
    /// By position of the output stream in the task's `StreamOut`s;
    /// position 0 is settled, not counted.
    pub(crate) emitted: Vec<u64>,
    pub(crate) transferred: Vec<u64>,
    /// By [`input_index`]; `executed[main_input]` and `acked[main_input]`
    /// are settled, not counted.
    pub(crate) executed: Vec<u64>,
    pub(crate) acked: Vec<u64>,
    pub(crate) failed: Vec<u64>,
    /// [`input_index`] of the first subscribed stream (`usize::MAX` for a
    /// task that subscribes to nothing).
    main_input: usize,
    /// Sampled `execute` times since the last publish (or, once
    /// `self_timed`, the latencies the bolt recorded itself), counted in
    /// the buckets of the published histogram (a record costs a bucket
    /// index and an increment, not the histogram's own bookkeeping).
    pub(crate) execute: Option<LatencyCounts>,
    /// The bolt records its own execute latencies
    /// (`BoltOutput::record_execute_latency`).
    pub(crate) self_timed: bool,
    /// Sampled start of `execute` to the bolt's ack of that input.
    pub(crate) process: Option<LatencyCounts>,
}

/// Sets `counts[main]` to what `total` leaves after the other entries.
fn settle_one(counts: &mut [u64], main: usize, total: u64) {
    let Some(m) = counts.get(main).copied() else {
        return;
    };
    let others = counts.iter().sum::<u64>() - m;
    counts[main] = total.saturating_sub(others);
}

impl TaskRecorder {
    /// A recorder for a task with `outputs` output streams, `inputs` input
    /// counters ([`input_index`]'s range) and, if it subscribes to any,
    /// its first subscription's [`input_index`] `main_input`.
    pub(crate) fn new(
        enabled: bool,
        outputs: usize,
        inputs: usize,
        main_input: Option<usize>,
    ) -> Self {
        let n = |len: usize| if enabled { vec![0; len] } else { Vec::new() };
        Self {
            emitted: n(outputs),
            transferred: n(outputs),
            executed: n(inputs),
            acked: n(inputs),
            failed: n(inputs),
            main_input: main_input.unwrap_or(usize::MAX),
            execute: enabled.then(LatencyCounts::new),
            self_timed: false,
            process: enabled.then(LatencyCounts::new),
        }
    }

    /// Counts one at `index` of `counters` (nothing with metrics off).
    #[inline]
    pub(crate) fn bump(counters: &mut [u64], index: usize, by: u64) {
        if let Some(c) = counters.get_mut(index) {
            *c += by;
        }
    }

    /// Counts `emitted` emits on output stream `index`, delivered
    /// `delivered` times in all (the first stream is settled instead).
    #[inline]
    pub(crate) fn output(&mut self, index: usize, emitted: u64, delivered: u64) {
        if index != 0 {
            Self::bump(&mut self.emitted, index, emitted);
            Self::bump(&mut self.transferred, index, delivered);
        }
    }

    /// Counts `n` inputs at `index` handed to `execute` (the main input is
    /// settled instead).
    #[inline]
    pub(crate) fn executed(&mut self, index: usize, n: u64) {
        if index != self.main_input {
            Self::bump(&mut self.executed, index, n);
        }
    }

    /// Fills in the per-stream counts left out per tuple from the task's
    /// totals: the first output stream gets the emits and deliveries the
    /// other streams did not count, the main input the executes and acks.
    /// The totals count exactly the events the per-stream counters do
    /// (`Emitter::emit`, `Core::execute`, `BoltOutput::ack`).
    pub(crate) fn settle(&mut self, totals: &Counters) {
        settle_one(&mut self.emitted, 0, totals.emitted);
        settle_one(&mut self.transferred, 0, totals.transferred);
        settle_one(&mut self.executed, self.main_input, totals.executed);
        settle_one(&mut self.acked, self.main_input, totals.acked);
    }
}

/// A worker thread's own metrics.
pub(crate) struct WorkerRecorder {
    pub(crate) enabled: bool,
    /// Time spent with spouts throttled (an outbound ring overflowing or
    /// the local queue too long).
    pub(crate) backpressure_ns: u64,
    was_blocked: bool,
    last_pass: Instant,
    next_publish: Instant,
}

impl WorkerRecorder {
    pub(crate) fn new(enabled: bool, now: Instant) -> Self {
        Self {
            enabled,
            backpressure_ns: 0,
            was_blocked: false,
            last_pass: now,
            next_publish: now,
        }
    }

    /// Accounts one pass of the worker loop started at `now`; returns
    /// whether it is time to publish.
    #[inline]
    pub(crate) fn pass(&mut self, now: Instant, blocked: bool) -> bool {
        if !self.enabled {
            return false;
        }
        if self.was_blocked {
            self.backpressure_ns += nanos(self.last_pass, now);
        }
        self.was_blocked = blocked;
        self.last_pass = now;
        if now >= self.next_publish {
            self.next_publish = now + PUBLISH_EVERY;
            true
        } else {
            false
        }
    }
}

/// Everything a worker thread measures, kept by its [`Emitter`](super::output::Emitter).
pub(crate) struct ThreadMetrics {
    /// By task slot.
    pub(crate) tasks: Vec<TaskRecorder>,
    pub(crate) sampler: Sampler,
    /// What sampled latencies are timed with.
    pub(crate) clock: SampleClock,
    pub(crate) worker: WorkerRecorder,
    /// Streams of the topology ([`input_index`]'s bound).
    pub(crate) streams: usize,
}

impl ThreadMetrics {
    /// Recorders for tasks with `outputs[slot]` output streams each and
    /// `main_inputs[slot]` as their first subscribed stream's global id.
    pub(crate) fn new(
        config: &MetricsConfig,
        outputs: &[usize],
        main_inputs: &[Option<u32>],
        streams: usize,
    ) -> Self {
        let sampler = Sampler::new(config);
        // Calibrating the counter takes a moment: only for a sampling run.
        let clock = if sampler.every > 0 {
            SampleClock::get()
        } else {
            SampleClock::instant()
        };
        Self {
            tasks: outputs
                .iter()
                .zip(main_inputs)
                .map(|(&n, main)| {
                    let main = main.map(|id| input_index(id, streams));
                    TaskRecorder::new(config.enabled, n, streams + 1, main)
                })
                .collect(),
            sampler,
            clock,
            worker: WorkerRecorder::new(config.enabled, Instant::now()),
            streams,
        }
    }

    /// Whether an ack of an input of `stream` by task `slot` needs nothing
    /// of the recorder ([`input_done`](Self::input_done)'s fast case: the
    /// task's main input), so that its collector may count it and add the
    /// count to the task's totals later (the ack of the input a run times
    /// records its process latency besides).
    #[inline]
    pub(crate) fn ack_settles_from_totals(&self, slot: usize, stream: u32) -> bool {
        input_index(stream, self.streams) == self.tasks[slot].main_input
    }

    /// Counts an ack (or fail) of an input of task `slot`.
    #[inline]
    pub(crate) fn input_done(&mut self, slot: usize, stream: u32, acked: bool) {
        let i = input_index(stream, self.streams);
        // The common case in a few instructions: an ack on the task's main
        // input (settled from the totals).
        if acked && i == self.tasks[slot].main_input {
            return;
        }
        self.input_done_slow(slot, i, acked);
    }

    /// [`input_done`](Self::input_done) for a fail or another input
    /// stream (`i`: the input stream's index).
    #[inline(never)]
    fn input_done_slow(&mut self, slot: usize, i: usize, acked: bool) {
        let rec = &mut self.tasks[slot];
        if !acked {
            return TaskRecorder::bump(&mut rec.failed, i, 1);
        }
        TaskRecorder::bump(&mut rec.acked, i, 1);
    }

    /// Records the process latency of a timed input of task `slot`,
    /// handed to it at `started` and acked now.
    pub(crate) fn processed(&mut self, slot: usize, started: Stamp) {
        if let Some(h) = self.tasks[slot].process.as_mut() {
            h.record(self.clock.nanos(started, self.clock.now()));
        }
    }
}

/// Published copy of a task's per-stream counters and histograms.
pub(crate) struct PublishedTask {
    pub(crate) emitted: Box<[AtomicU64]>,
    pub(crate) transferred: Box<[AtomicU64]>,
    pub(crate) executed: Box<[AtomicU64]>,
    pub(crate) acked: Box<[AtomicU64]>,
    pub(crate) failed: Box<[AtomicU64]>,
    pub(crate) histograms: Mutex<TaskHistograms>,
}

/// A task's latency histograms since it started.
pub(crate) struct TaskHistograms {
    pub(crate) execute: Histogram<u64>,
    pub(crate) process: Histogram<u64>,
    /// Spouts: emit to tree completion.
    pub(crate) complete: Histogram<u64>,
}

/// Published copy of a worker thread's metrics.
#[derive(Default)]
pub(crate) struct PublishedWorker {
    pub(crate) ring_bytes: AtomicU64,
    pub(crate) ring_capacity: AtomicU64,
    pub(crate) overflow_bytes: AtomicU64,
    pub(crate) backpressure_ns: AtomicU64,
}

/// Where workers publish their metrics and the snapshotter reads them.
pub(crate) struct MetricsStore {
    pub(crate) config: MetricsConfig,
    /// Indexed by task id - 1; each on its own cache lines (only the
    /// task's worker writes it).
    pub(crate) tasks: Vec<CachePadded<PublishedTask>>,
    pub(crate) workers: Vec<CachePadded<PublishedWorker>>,
    /// Metrics of other subsystems, collected with every snapshot.
    pub(crate) sources: Mutex<Vec<Arc<dyn MetricSource>>>,
}

fn zeros(len: usize) -> Box<[AtomicU64]> {
    (0..len).map(|_| AtomicU64::new(0)).collect()
}

/// Relaxed loads of a published vector.
pub(crate) fn load(v: &[AtomicU64]) -> Vec<u64> {
    // SYNC: Relaxed pairs with the Relaxed stores in `store`: statistics
    // with a single writer; a reader wants any recent value of each.
    v.iter().map(|a| a.load(Ordering::Relaxed)).collect()
}

fn store(slots: &[AtomicU64], values: &[u64]) {
    for (a, v) in slots.iter().zip(values) {
        // SYNC: Relaxed pairs with the Relaxed loads in `load`.
        a.store(*v, Ordering::Relaxed);
    }
}

impl MetricsStore {
    /// Adds a source whose samples every snapshot takes.
    pub(crate) fn register(&self, source: Arc<dyn MetricSource>) {
        self.sources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(source);
    }

    pub(crate) fn new(config: MetricsConfig, plan: &Plan, workers: usize) -> Self {
        let inputs = plan.streams.len() + 1;
        let tasks = plan
            .tasks
            .iter()
            .map(|t| {
                let outputs = plan.stream_ids[t.component].len();
                CachePadded::new(PublishedTask {
                    emitted: zeros(outputs),
                    transferred: zeros(outputs),
                    executed: zeros(inputs),
                    acked: zeros(inputs),
                    failed: zeros(inputs),
                    histograms: Mutex::new(TaskHistograms {
                        execute: latency_histogram(),
                        process: latency_histogram(),
                        complete: latency_histogram(),
                    }),
                })
            })
            .collect();
        Self {
            config,
            tasks,
            workers: (0..workers).map(|_| CachePadded::default()).collect(),
            sources: Mutex::new(Vec::new()),
        }
    }

    /// Publishes task `id`'s counters (settled against its `totals`) and adds its histograms' deltas
    /// (which are then cleared); `complete` is a spout's complete-latency
    /// histogram.
    pub(crate) fn publish_task(
        &self,
        id: crate::TaskId,
        rec: &mut TaskRecorder,
        totals: &Counters,
        complete: Option<&mut LatencyCounts>,
    ) {
        let Some(slot) = self.tasks.get(id as usize - 1) else {
            return;
        };
        rec.settle(totals);
        store(&slot.emitted, &rec.emitted);
        store(&slot.transferred, &rec.transferred);
        store(&slot.executed, &rec.executed);
        store(&slot.acked, &rec.acked);
        store(&slot.failed, &rec.failed);
        let fresh = |h: &Option<LatencyCounts>| h.as_ref().is_some_and(|h| !h.is_empty());
        let complete = complete.filter(|c| !c.is_empty());
        if !fresh(&rec.execute) && !fresh(&rec.process) && complete.is_none() {
            return;
        }
        let mut all = slot.histograms.lock().unwrap_or_else(|e| e.into_inner());
        // Only non-empty ones: draining walks every bucket.
        let TaskHistograms {
            execute,
            process,
            complete: completed,
        } = &mut *all;
        let pairs = [
            (completed, complete),
            (execute, rec.execute.as_mut()),
            (process, rec.process.as_mut()),
        ];
        for (total, counts) in pairs {
            if let Some(counts) = counts {
                counts.drain_into(total);
            }
        }
    }

    /// Publishes worker `index`'s ring occupancy and backpressure time.
    pub(crate) fn publish_worker(
        &self,
        index: usize,
        rings: (usize, usize),
        overflow: usize,
        backpressure_ns: u64,
    ) {
        let Some(w) = self.workers.get(index) else {
            return;
        };
        // SYNC: Relaxed throughout, paired with the Relaxed loads in the
        // snapshot: single-writer statistics.
        w.ring_bytes.store(rings.0 as u64, Ordering::Relaxed);
        w.ring_capacity.store(rings.1 as u64, Ordering::Relaxed);
        w.overflow_bytes.store(overflow as u64, Ordering::Relaxed);
        w.backpressure_ns.store(backpressure_ns, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The calls a sampler picks among `calls` made in runs of the
    /// lengths `runs` cycles through (each run timing what
    /// `next_sampled` says, then advancing past itself).
    fn sampled(s: &mut Sampler, calls: u32, runs: &[u32]) -> Vec<u32> {
        let (mut picked, mut done) = (Vec::new(), 0);
        for &len in runs.iter().cycle() {
            let len = len.min(calls - done);
            if let Some(first) = s.next_sampled() {
                let every = s.stride() as usize;
                picked.extend((first..len).step_by(every).map(|i| done + i));
            }
            s.advance(len);
            done += len;
            if done == calls {
                return picked;
            }
        }
        unreachable!()
    }

    #[test]
    fn sampler_picks_one_in_n_whatever_the_runs() {
        let config = |enabled, sample_rate| MetricsConfig {
            enabled,
            sample_rate,
            ..MetricsConfig::default()
        };
        let count =
            |rate, runs: &[u32]| sampled(&mut Sampler::new(&config(true, rate)), 1000, runs).len();
        for runs in [&[1][..], &[7], &[20], &[21, 1, 3], &[45, 19, 100], &[1000]] {
            // Exactly the 20th, 40th, ... call, however the calls run.
            let picked = sampled(&mut Sampler::new(&config(true, 0.05)), 1000, runs);
            let want: Vec<u32> = (19..1000).step_by(20).collect();
            assert_eq!(picked, want, "runs {runs:?}");
            assert_eq!(count(1.0, runs), 1000);
            assert_eq!(count(7.0, runs), 1000);
            assert_eq!(count(0.0, runs), 0);
            assert_eq!(count(f64::NAN, runs), 0);
            let off = sampled(&mut Sampler::new(&config(false, 1.0)), 1000, runs);
            assert!(off.is_empty());
        }
    }

    /// Calls of `cost_ns` each, in runs of `run`, with samples observed
    /// as the worker's `execute_bolt` does (a run's first sample, at the
    /// time its call was made): the stride the sampler settles on, and
    /// the samples taken over the last `window` calls.
    fn paced(
        config: &MetricsConfig,
        cost_ns: u64,
        run: u32,
        calls: u32,
        window: u32,
    ) -> (u32, u32) {
        let clock = SampleClock::instant();
        let mut s = Sampler::new(config);
        let (mut done, mut late) = (0, 0);
        while done < calls {
            if let Some(first) = s.next_sampled().filter(|&f| f < run) {
                let stride = s.stride();
                if done + run > calls - window {
                    let from = (calls - window).saturating_sub(done);
                    let to = run.min(calls - done);
                    late += (first..to)
                        .step_by(stride as usize)
                        .filter(|&i| i >= from)
                        .count() as u32;
                }
                let call = u64::from(done + first);
                s.observe(&clock, Stamp::at(call * cost_ns), first);
            }
            s.advance(run);
            done += run;
        }
        (s.stride(), late)
    }

    #[test]
    fn sampler_keeps_samples_apart_where_calls_are_fast() {
        let config = |us| MetricsConfig {
            min_sample_interval: Duration::from_micros(us),
            ..MetricsConfig::default()
        };
        // 2 ns a call, 10 µs apart: one call in 5000.
        let (stride, late) = paced(&config(10), 2, 256, 10_000_000, 1_000_000);
        assert_eq!(stride, 5000);
        assert_eq!(late, 200);
        // 100 ns a call: one in 100; runs of one call each.
        assert_eq!(paced(&config(10), 100, 1, 100_000, 10_000), (100, 100));
        // 1 µs a call: the rate's one in 20 falls 20 µs apart already.
        assert_eq!(paced(&config(10), 1000, 256, 100_000, 10_000), (20, 500));
        // No interval: one in 20 however fast.
        assert_eq!(paced(&config(0), 2, 256, 100_000, 10_000), (20, 500));
        // A bolt that slows down is sampled at the rate again.
        let clock = SampleClock::instant();
        let mut s = Sampler::new(&config(10));
        s.observe(&clock, Stamp::at(0), 0);
        s.advance(10_000);
        s.observe(&clock, Stamp::at(10_000), 0);
        assert_eq!(s.stride(), 10_000);
        s.advance(10_000);
        s.observe(&clock, Stamp::at(10_000_000), 0);
        assert_eq!(s.stride(), 20);
    }

    #[test]
    fn disabled_recorder_counts_nothing() {
        let mut r = TaskRecorder::new(false, 2, 3, Some(0));
        r.output(1, 1, 1);
        r.executed(2, 1);
        r.settle(&Counters {
            emitted: 5,
            executed: 5,
            ..Counters::default()
        });
        assert!(r.emitted.is_empty() && r.executed.is_empty() && r.execute.is_none());
        let mut r = TaskRecorder::new(true, 2, 3, Some(1));
        TaskRecorder::bump(&mut r.emitted, 1, 2);
        TaskRecorder::bump(&mut r.executed, 9, 1);
        assert_eq!(r.emitted, [0, 2]);
        assert_eq!(r.executed, [0, 0, 0]);
    }

    #[test]
    fn settled_streams_get_what_the_totals_leave() {
        // Outputs: stream 0 settled; inputs: index 1 is the main input,
        // index 2 the system slot.
        let mut r = TaskRecorder::new(true, 3, 3, Some(1));
        let mut totals = Counters::default();
        let emit = |r: &mut TaskRecorder, t: &mut Counters, i, delivered| {
            t.emitted += 1;
            t.transferred += delivered;
            r.output(i, 1, delivered);
        };
        for _ in 0..7 {
            emit(&mut r, &mut totals, 0, 2);
        }
        emit(&mut r, &mut totals, 2, 1);
        emit(&mut r, &mut totals, 2, 0);
        for i in [1, 1, 1, 2, 0] {
            totals.executed += 1;
            r.executed(i, 1);
        }
        let mut metrics = ThreadMetrics::new(&MetricsConfig::default(), &[], &[], 2);
        metrics.tasks.push(r);
        for (i, acked) in [(1, true), (1, true), (2, true), (0, false)] {
            if acked {
                totals.acked += 1;
            } else {
                totals.failed += 1;
            }
            metrics.input_done(0, i, acked);
        }
        let r = &mut metrics.tasks[0];
        r.settle(&totals);
        assert_eq!(r.emitted, [7, 0, 2]);
        assert_eq!(r.transferred, [14, 0, 1]);
        assert_eq!(r.executed, [1, 3, 1]);
        assert_eq!(r.acked, [0, 2, 1]);
        assert_eq!(r.failed, [1, 0, 0]);
        // Settling again (every publish does) changes nothing.
        r.settle(&totals);
        assert_eq!(r.executed, [1, 3, 1]);
    }
}
