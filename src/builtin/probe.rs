//! [`Probe`]: open-loop pacing and spout-to-sink latency for benchmarks.
//!
//! A paced spout ([`Pacer`]) emits on a fixed schedule of `rate` tuples per
//! second (over all its tasks) and stamps each tuple with the time it was
//! *meant* to be sent, not the time it was sent: a spout that falls behind
//! (a full ring, a descheduled thread) does not hide that delay from the
//! measurement (no coordinated omission). The last component of the
//! topology hands each stamp to a [`Recorder`], which records `now - stamp`
//! into its own histogram; recorders merge into the probe's histogram when
//! they are dropped or flushed. Only tuples stamped inside the measured
//! window ([`Probe::open_window`] .. [`Probe::close_window`]) count.
//!
//! ```
//! use std::num::NonZeroU64;
//! use gale::builtin::Probe;
//!
//! let probe = Probe::new(NonZeroU64::new(1_000_000).unwrap());
//! probe.open_window(0);
//! let mut pacer = probe.pacer(0, 1);
//! let mut recorder = probe.recorder();
//! while pacer.due().is_none() {}
//! let stamp = pacer.due().unwrap();
//! pacer.sent();
//! recorder.record(stamp);
//! drop(recorder);
//! assert_eq!(probe.latency().len(), 1);
//! ```

use std::fmt;
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use crossbeam_utils::CachePadded;
use hdrhistogram::Histogram;

/// Name of the stamp field the paced topologies add to their tuples.
pub const STAMP_FIELD: &str = "ts";

/// Largest latency a histogram holds: an hour (longer ones saturate).
const MAX_NS: u64 = 3_600_000_000_000;

/// A new latency histogram: 1 ns to an hour at 3 significant figures.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_NS, 3).expect("valid histogram bounds")
}

/// The shared side of a paced, latency-measuring run: the clock origin,
/// the rate, the measured window, every paced spout's schedule and the
/// merged latency histogram. Cloning shares it.
#[derive(Clone)]
pub struct Probe(Arc<Inner>);

struct Inner {
    epoch: Instant,
    rate: NonZeroU64,
    /// Stamps (ns since `epoch`) at or after this count; `u64::MAX`: none
    /// yet.
    window_start: AtomicU64,
    /// Stamps before this count.
    window_end: AtomicU64,
    latency: Mutex<Histogram<u64>>,
    /// Each pacer's next intended send time (ns since `epoch`).
    schedules: Mutex<Vec<Arc<CachePadded<AtomicU64>>>>,
}

impl fmt::Debug for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Probe")
            .field("rate", &self.0.rate)
            .finish_non_exhaustive()
    }
}

/// Two probes are equal when they are the same shared probe.
impl PartialEq for Probe {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Probe {}

impl Probe {
    /// A probe pacing spouts at `rate` tuples per second in total, with no
    /// window open yet (nothing is recorded until [`open_window`]).
    ///
    /// [`open_window`]: Self::open_window
    pub fn new(rate: NonZeroU64) -> Self {
        Self(Arc::new(Inner {
            epoch: Instant::now(),
            rate,
            window_start: AtomicU64::new(u64::MAX),
            window_end: AtomicU64::new(u64::MAX),
            latency: Mutex::new(latency_histogram()),
            schedules: Mutex::new(Vec::new()),
        }))
    }

    /// The rate, in tuples per second over all paced spout tasks.
    pub fn rate(&self) -> NonZeroU64 {
        self.0.rate
    }

    /// Nanoseconds since the probe was made (the clock of every stamp).
    pub fn now_ns(&self) -> u64 {
        u64::try_from(self.0.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Tuples stamped at or after `at_ns` are recorded from now on.
    pub fn open_window(&self, at_ns: u64) {
        // SYNC: Relaxed: recorders want any recent value; a tuple racing
        // the change is at the window's edge either way.
        self.0.window_start.store(at_ns, Ordering::Relaxed);
    }

    /// Tuples stamped at or after `at_ns` are not recorded.
    pub fn close_window(&self, at_ns: u64) {
        // SYNC: Relaxed, as in `open_window`.
        self.0.window_end.store(at_ns, Ordering::Relaxed);
    }

    /// How far the furthest-behind paced spout is behind its schedule at
    /// `now_ns` (0 if every one is on time; `None` if no spout is paced).
    pub fn behind_ns(&self, now_ns: u64) -> Option<u64> {
        let schedules = self
            .0
            .schedules
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        schedules
            .iter()
            // SYNC: Relaxed: a statistic with one writer (the pacer).
            .map(|due| now_ns.saturating_sub(due.load(Ordering::Relaxed)))
            .max()
    }

    /// A schedule for task `index` of a spout's `tasks` tasks: together
    /// they emit `rate` tuples per second, interleaved, from now on.
    pub fn pacer(&self, index: usize, tasks: usize) -> Pacer {
        let start = self.now_ns();
        let next_due = Arc::new(CachePadded::new(AtomicU64::new(start)));
        self.0
            .schedules
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::clone(&next_due));
        let mut pacer = Pacer {
            probe: self.clone(),
            start,
            global: index as u64,
            step: tasks.max(1) as u64,
            due: start,
            due_rem: 0,
            step_ns: (0, 0),
            next_due,
        };
        (pacer.due, pacer.due_rem) = pacer.intended_rem(pacer.global);
        let rate = self.0.rate.get();
        // At most u64::MAX / 1e9 tasks: far more than a topology has.
        let step_ns = pacer.step.saturating_mul(1_000_000_000);
        pacer.step_ns = (step_ns / rate, step_ns % rate);
        pacer.publish();
        pacer
    }

    /// A recorder for one sink task (or thread).
    pub fn recorder(&self) -> Recorder {
        Recorder {
            probe: self.clone(),
            latency: latency_histogram(),
        }
    }

    /// The latencies recorded so far by recorders that were flushed or
    /// dropped.
    pub fn latency(&self) -> Histogram<u64> {
        self.0
            .latency
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn in_window(&self, stamp: u64) -> bool {
        // SYNC: Relaxed, see `open_window`.
        stamp >= self.0.window_start.load(Ordering::Relaxed)
            && stamp < self.0.window_end.load(Ordering::Relaxed)
    }
}

/// One spout task's schedule: tuple `g` of the spout (counting over all its
/// tasks) is due `g / rate` seconds after the pacer started.
#[derive(Debug)]
pub struct Pacer {
    probe: Probe,
    start: u64,
    /// This task's next tuple, counted over all the spout's tasks.
    global: u64,
    step: u64,
    /// When it is due (ns since the probe's epoch): `start + global *
    /// 1e9 / rate`, rounded down.
    due: u64,
    /// The remainder of that division (below the rate): `sent` moves the
    /// schedule on by adding, without a 128-bit division per tuple.
    due_rem: u64,
    /// `step * 1e9` divided by the rate: quotient and remainder.
    step_ns: (u64, u64),
    next_due: Arc<CachePadded<AtomicU64>>,
}

impl Pacer {
    /// The stamp to put in the next tuple if it is due now, else `None`
    /// (emit nothing and come back later).
    pub fn due(&self) -> Option<u64> {
        self.due_by(self.probe.now_ns())
    }

    /// [`due`](Self::due) at `now_ns` (a reading of the probe's clock,
    /// [`Probe::now_ns`]): a spout that emits every tuple due by one
    /// reading reads the clock once for all of them.
    pub fn due_by(&self, now_ns: u64) -> Option<u64> {
        (now_ns >= self.due).then_some(self.due)
    }

    /// The tuple [`due`](Self::due) returned was emitted: move on to the
    /// next one.
    pub fn sent(&mut self) {
        // `intended(global + step)` from `intended(global)`: the quotient
        // of `(global + step) * 1e9 / rate` is the old one plus `step *
        // 1e9 / rate`'s, plus one when the remainders add up to the rate.
        let rate = self.probe.0.rate.get();
        let (q, r) = self.step_ns;
        self.global += self.step;
        self.due_rem += r;
        let carry = u64::from(self.due_rem >= rate);
        self.due_rem -= carry * rate;
        self.due = self.due.saturating_add(q + carry);
        debug_assert!(self.due == self.intended(self.global) || self.due == u64::MAX);
        self.publish();
    }

    /// The probe this pacer belongs to.
    pub fn probe(&self) -> &Probe {
        &self.probe
    }

    /// When tuple `global` is due, and the remainder of its division.
    fn intended_rem(&self, global: u64) -> (u64, u64) {
        let rate = u128::from(self.probe.0.rate.get());
        let ns = u128::from(global) * 1_000_000_000;
        let offset = u64::try_from(ns / rate).unwrap_or(u64::MAX);
        // Below the rate, a u64.
        (self.start.saturating_add(offset), (ns % rate) as u64)
    }

    fn intended(&self, global: u64) -> u64 {
        self.intended_rem(global).0
    }

    fn publish(&self) {
        // SYNC: Relaxed: read only as a statistic by `Probe::behind_ns`.
        self.next_due.store(self.due, Ordering::Relaxed);
    }
}

/// A spout's pacer, made when the spout task opens. Spouts are cloned from
/// a template before they open, so a clone starts without one (two tasks
/// must never share a schedule slot).
#[derive(Debug, Default)]
pub(crate) struct PacerSlot(pub(crate) Option<Pacer>);

impl Clone for PacerSlot {
    fn clone(&self) -> Self {
        Self(None)
    }
}

/// One sink's latency histogram; merged into its probe when flushed or
/// dropped.
#[derive(Debug)]
pub struct Recorder {
    probe: Probe,
    latency: Histogram<u64>,
}

impl Recorder {
    /// Records the latency of a tuple stamped `stamp` that reached the sink
    /// now, if the stamp is inside the measured window.
    pub fn record(&mut self, stamp: u64) {
        self.record_all(std::slice::from_ref(&stamp));
    }

    /// [`record`](Self::record) of tuples stamped `stamps` that reached
    /// the sink by now, with one reading of the clock for all of them (a
    /// sink reads it after a run of inputs: each latency is then late by
    /// at most what the rest of the run took, never early).
    pub fn record_all(&mut self, stamps: &[u64]) {
        if stamps.is_empty() {
            return;
        }
        let now = self.probe.now_ns();
        for &stamp in stamps {
            if self.probe.in_window(stamp) {
                self.latency
                    .saturating_record(now.saturating_sub(stamp).max(1));
            }
        }
    }

    /// Merges what was recorded into the probe and starts afresh.
    pub fn flush(&mut self) {
        if self.latency.is_empty() {
            return;
        }
        let mut all = self
            .probe
            .0
            .latency
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Both histograms have the same bounds, so adding cannot fail.
        let _ = all.add(&self.latency);
        self.latency.reset();
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(rate: u64) -> Probe {
        Probe::new(NonZeroU64::new(rate).unwrap())
    }

    #[test]
    fn tasks_interleave_on_one_schedule() {
        let p = probe(1_000);
        let mut a = p.pacer(0, 2);
        let mut b = p.pacer(1, 2);
        // Task 0 owns tuples 0, 2, 4 (0, 2, 4 ms), task 1 tuples 1, 3, 5.
        let (a0, b0) = (a.due, b.due);
        assert_eq!(a0 - a.start, 0);
        assert_eq!(b0 - b.start, 1_000_000);
        a.sent();
        b.sent();
        assert_eq!(a.due - a.start, 2_000_000);
        assert_eq!(b.due - b.start, 3_000_000);
    }

    #[test]
    fn only_stamps_inside_the_window_are_recorded() {
        let p = probe(1);
        let mut r = p.recorder();
        r.record(5);
        p.open_window(10);
        r.record(5);
        r.record(10);
        p.close_window(20);
        r.record(20);
        r.record(19);
        r.flush();
        assert_eq!(p.latency().len(), 2);
    }

    #[test]
    fn a_run_is_recorded_at_one_reading_taken_after_it_arrived() {
        let p = probe(1);
        p.open_window(0);
        p.close_window(u64::MAX);
        let mut r = p.recorder();
        let stamps = [p.now_ns(), p.now_ns()];
        std::thread::sleep(std::time::Duration::from_millis(2));
        let before = p.now_ns();
        r.record_all(&stamps);
        r.record_all(&[]);
        r.flush();
        let h = p.latency();
        assert_eq!(h.len(), 2);
        // Never early: both were read after `before` (to the histogram's
        // three significant digits).
        let least = h.highest_equivalent(h.min());
        assert!(
            least >= before - stamps[1],
            "{least} < {}",
            before - stamps[1]
        );
    }

    #[test]
    fn the_schedule_moves_on_exactly_without_dividing() {
        for (rate, tasks) in [(3, 1), (7_000_001, 3), (1_000_000_007, 2), (10_000_000, 4)] {
            let p = probe(rate);
            for index in 0..tasks {
                let mut pacer = p.pacer(index, tasks);
                for _ in 0..10_000 {
                    pacer.sent();
                    let (due, rem) = pacer.intended_rem(pacer.global);
                    assert_eq!((pacer.due, pacer.due_rem), (due, rem), "rate {rate}");
                }
            }
        }
    }

    #[test]
    fn behind_grows_when_nothing_is_sent() {
        let p = probe(1_000_000_000);
        assert_eq!(p.behind_ns(0), None);
        let pacer = p.pacer(0, 1);
        let later = pacer.due + 5_000;
        assert_eq!(p.behind_ns(later), Some(5_000));
        assert_eq!(p.behind_ns(0), Some(0));
    }
}
