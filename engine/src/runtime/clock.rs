//! The clock of latency samples: the CPU's time-stamp counter where it is
//! invariant (it ticks at a constant rate in every power state and the
//! kernel keeps it in step across cores), else [`Instant`].
//!
//! A sampled bolt `execute` reads the clock three times (start, the ack of
//! its input, end). Through the vDSO `clock_gettime` takes 25–30 ns a read
//! on the VMs Gale is benchmarked on, an `rdtsc` about 10 ns, and on the
//! metrics-overhead bench those reads were most of what metrics add to a
//! bolt thread's work. The counter's rate is calibrated once per process
//! against [`Instant`] (about 2 ms, the first time metrics start), to
//! well under the histograms' 1 % resolution.
//!
//! `rdtsc` is not serializing: a read may move by a few tens of cycles
//! relative to the code around it, which is noise next to a sampled
//! execute's own cost and invisible at 1 % resolution.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A reading of a [`SampleClock`]: ticks of its source, comparable only
/// with readings of the same clock.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Stamp(u64);

impl Stamp {
    /// The reading `ticks` (nanoseconds on an [`instant`](SampleClock::instant) clock).
    #[cfg(test)]
    pub(crate) fn at(ticks: u64) -> Self {
        Self(ticks)
    }
}

/// Where a [`SampleClock`] reads time.
#[derive(Clone, Copy, Debug)]
enum Source {
    /// `rdtsc`, with nanoseconds = ticks × `mult` / 2^32.
    #[cfg(target_arch = "x86_64")]
    Tsc { mult: u64 },
    /// Nanoseconds since `epoch`.
    Instant { epoch: Instant },
}

/// A cheap monotonic clock for latency samples, `Copy` so each worker
/// keeps its own.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SampleClock {
    source: Source,
}

impl SampleClock {
    /// The process's sample clock: the calibrated time-stamp counter if
    /// the CPU has an invariant one, else [`Instant`]. The first call
    /// calibrates (about 2 ms); later calls return the same clock.
    pub(crate) fn get() -> Self {
        static CLOCK: OnceLock<SampleClock> = OnceLock::new();
        *CLOCK.get_or_init(|| Self::calibrate().unwrap_or_else(Self::instant))
    }

    /// A clock that reads [`Instant`].
    pub(crate) fn instant() -> Self {
        Self {
            source: Source::Instant {
                epoch: Instant::now(),
            },
        }
    }

    /// Now, on this clock.
    #[inline]
    pub(crate) fn now(&self) -> Stamp {
        match self.source {
            #[cfg(target_arch = "x86_64")]
            Source::Tsc { .. } => Stamp(tsc::read()),
            Source::Instant { epoch } => {
                Stamp(u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX))
            }
        }
    }

    /// Nanoseconds from `from` to `to` (0 if `to` is earlier, as a thread
    /// that moved between cores may see by a few ticks).
    #[inline]
    pub(crate) fn nanos(&self, from: Stamp, to: Stamp) -> u64 {
        let ticks = to.0.saturating_sub(from.0);
        match self.source {
            #[cfg(target_arch = "x86_64")]
            Source::Tsc { mult } => {
                let ns = (u128::from(ticks) * u128::from(mult)) >> 32;
                u64::try_from(ns).unwrap_or(u64::MAX)
            }
            Source::Instant { .. } => ticks,
        }
    }

    /// Whether this clock reads the time-stamp counter.
    #[cfg(test)]
    fn is_tsc(&self) -> bool {
        !matches!(self.source, Source::Instant { .. })
    }

    /// The time-stamp counter, with its rate measured against [`Instant`]
    /// over [`CALIBRATION`]; `None` without an invariant counter or if the
    /// measured rate is implausible.
    #[cfg(target_arch = "x86_64")]
    fn calibrate() -> Option<Self> {
        if !tsc::invariant() {
            return None;
        }
        let (t0, c0) = tsc::paired();
        while t0.elapsed() < CALIBRATION {
            std::hint::spin_loop();
        }
        let (t1, c1) = tsc::paired();
        let ns = (t1 - t0).as_nanos() as f64;
        let ticks = c1.checked_sub(c0)? as f64;
        let ns_per_tick = ns / ticks;
        // Between 100 MHz and 20 GHz; anything else is a broken counter.
        if !(0.05..=10.0).contains(&ns_per_tick) {
            tracing::debug!(
                ns_per_tick,
                "time-stamp counter rate implausible; sampling with Instant"
            );
            return None;
        }
        let mult = (ns_per_tick * (1u64 << 32) as f64).round() as u64;
        tracing::debug!(
            ghz = 1.0 / ns_per_tick,
            "latency samples read the time-stamp counter"
        );
        Some(Self {
            source: Source::Tsc { mult },
        })
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn calibrate() -> Option<Self> {
        None
    }
}

/// How long the counter's rate is measured for: an error of a few hundred
/// nanoseconds in pairing its endpoints is then about 0.01 %.
const CALIBRATION: Duration = Duration::from_millis(2);

#[cfg(target_arch = "x86_64")]
mod tsc {
    use std::arch::x86_64::{__cpuid, _rdtsc};
    use std::time::Instant;

    /// The time-stamp counter.
    #[inline]
    pub(super) fn read() -> u64 {
        // SAFETY: `rdtsc` exists on every x86_64 CPU, reads a register
        // and touches no memory.
        unsafe { _rdtsc() }
    }

    /// Whether the CPU says its counter is invariant (CPUID leaf
    /// 0x8000_0007, EDX bit 8; Linux's `nonstop_tsc` with `constant_tsc`).
    pub(super) fn invariant() -> bool {
        let max_extended = __cpuid(0x8000_0000).eax;
        max_extended >= 0x8000_0007 && __cpuid(0x8000_0007).edx & (1 << 8) != 0
    }

    /// An [`Instant`] and the counter at (nearly) the same moment: the
    /// counter read on both sides of the `Instant`, retried while a
    /// preemption or a slow read pulls them more than a microsecond
    /// apart, and averaged.
    pub(super) fn paired() -> (Instant, u64) {
        let mut best = None;
        for _ in 0..16 {
            let before = read();
            let now = Instant::now();
            let after = read();
            let width = after.wrapping_sub(before);
            let mid = before + width / 2;
            if best.is_none_or(|(_, _, w)| width < w) {
                best = Some((now, mid, width));
            }
            if width < 3_000 {
                break;
            }
        }
        let (now, mid, _) = best.expect("at least one reading");
        (now, mid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The calibrated clock agrees with `Instant` over a sleep, to well
    /// within the histograms' resolution (plus scheduling slack).
    #[test]
    fn agrees_with_instant() {
        let clock = SampleClock::get();
        eprintln!("sample clock: {clock:?}");
        for _ in 0..3 {
            let (s0, t0) = (clock.now(), Instant::now());
            std::thread::sleep(Duration::from_millis(20));
            let (s1, t1) = (clock.now(), Instant::now());
            let ns = clock.nanos(s0, s1) as f64;
            let real = (t1 - t0).as_nanos() as f64;
            let err = (ns - real).abs() / real;
            if err < 0.005 {
                return;
            }
            eprintln!("sample clock {ns} ns against Instant {real} ns");
        }
        panic!("the sample clock disagrees with Instant in three tries");
    }

    #[test]
    fn differences_are_small_forward_and_zero_backward() {
        let clock = SampleClock::get();
        let first = clock.now();
        let mut last = first;
        for _ in 0..10_000 {
            let now = clock.now();
            assert!(clock.nanos(last, now) < 1_000_000_000);
            last = now;
        }
        std::thread::sleep(Duration::from_millis(1));
        let later = clock.now();
        assert!(clock.nanos(first, later) >= 1_000_000);
        assert_eq!(clock.nanos(later, first), 0, "an earlier `to` is 0");
    }

    #[test]
    fn instant_clock_counts_nanoseconds() {
        let clock = SampleClock::instant();
        let a = clock.now();
        std::thread::sleep(Duration::from_millis(2));
        let b = clock.now();
        assert!(clock.nanos(a, b) >= 2_000_000);
        assert!(!clock.is_tsc());
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn uses_the_counter_where_it_is_invariant() {
        assert_eq!(SampleClock::get().is_tsc(), tsc::invariant());
    }
}
