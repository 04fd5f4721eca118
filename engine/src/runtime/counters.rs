//! The bottom of the metrics model: [`Counters`], the six totals of a task
//! (or summed over tasks), its published copy [`AtomicCounters`],
//! [`LatencyStats`], the summary of a latency histogram, and
//! [`LatencyCounts`], a histogram's buckets recorded cheaply.
//!
//! The layers above, bottom up: `recorder` (what a worker counts per
//! tuple, and the `MetricsStore` it publishes into), `shared` (the store
//! with the run's flags, progress and errors), then the snapshots:
//! `metrics` ([`TopologyMetrics`](super::TopologyMetrics), per task,
//! component and thread) and `stats` ([`TopologyStats`](super::TopologyStats),
//! per component, derived from a `TopologyMetrics`).

use std::sync::atomic::{AtomicU64, Ordering};

use hdrhistogram::Histogram;

/// Counters of a task, or summed over tasks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Tuples emitted.
    pub emitted: u64,
    /// Deliveries to target tasks.
    pub transferred: u64,
    /// Input tuples executed (bolts; ticks included).
    pub executed: u64,
    /// Inputs acked (bolts) or trees completed (spouts).
    pub acked: u64,
    /// Inputs failed (bolts) or trees failed (spouts).
    pub failed: u64,
    /// Errors reported by or about the task.
    pub errors: u64,
}

impl Counters {
    /// Adds `o` into these counters.
    pub fn add(&mut self, o: &Counters) {
        self.emitted += o.emitted;
        self.transferred += o.transferred;
        self.executed += o.executed;
        self.acked += o.acked;
        self.failed += o.failed;
        self.errors += o.errors;
    }

    /// What these counters counted since `earlier` (each saturating at 0).
    pub fn since(&self, earlier: &Counters) -> Counters {
        Counters {
            emitted: self.emitted.saturating_sub(earlier.emitted),
            transferred: self.transferred.saturating_sub(earlier.transferred),
            executed: self.executed.saturating_sub(earlier.executed),
            acked: self.acked.saturating_sub(earlier.acked),
            failed: self.failed.saturating_sub(earlier.failed),
            errors: self.errors.saturating_sub(earlier.errors),
        }
    }

    fn to_array(self) -> [u64; 6] {
        [
            self.emitted,
            self.transferred,
            self.executed,
            self.acked,
            self.failed,
            self.errors,
        ]
    }

    fn from_array([emitted, transferred, executed, acked, failed, errors]: [u64; 6]) -> Self {
        Counters {
            emitted,
            transferred,
            executed,
            acked,
            failed,
            errors,
        }
    }
}

/// The name the worker's emitter (`output.rs`) gives [`Counters`]; kept
/// there while the data path is being rewritten.
pub(crate) type TaskCounters = Counters;

/// A task's [`Counters`] as its worker publishes them (once per loop pass)
/// for snapshots to read from other threads.
#[derive(Default)]
pub(crate) struct AtomicCounters([AtomicU64; 6]);

impl AtomicCounters {
    /// Publishes `c`.
    pub(crate) fn publish(&self, c: &Counters) {
        for (slot, value) in self.0.iter().zip(c.to_array()) {
            // SYNC: Relaxed, paired with the Relaxed loads in `read`:
            // counters are statistics; each has a single writer (the
            // task's worker) and readers want any recent value.
            slot.store(value, Ordering::Relaxed);
        }
    }

    /// The counters last published.
    pub(crate) fn read(&self) -> Counters {
        // SYNC: Relaxed, paired with the Relaxed stores in `publish`.
        Counters::from_array(std::array::from_fn(|i| self.0[i].load(Ordering::Relaxed)))
    }
}

/// Longest latency a histogram holds (1 hour, in ns); longer values
/// saturate.
const LATENCY_MAX: u64 = 3_600_000_000_000;

/// Significant figures of a latency histogram.
const LATENCY_FIGURES: u8 = 2;

/// A latency histogram: 1 ns to 1 hour at 2 significant figures (1 %
/// resolution, a few tens of KiB); longer values saturate.
pub(crate) fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_MAX, LATENCY_FIGURES).expect("valid histogram bounds")
}

/// Latencies counted in the buckets of a [`latency_histogram`], and
/// nothing else: a record is a bucket index (a leading-zero count, a
/// shift and an add) and an increment, where the histogram's own `record`
/// also checks bounds and keeps its minimum, maximum and total; they are
/// worked out when the counts are [drained](Self::drain_into). Draining
/// records each bucket's lowest value, which the histogram counts in the
/// same bucket: the result is the histogram that recording every value
/// would give. For the one latency recorded per tuple (a spout's complete
/// latency).
pub(crate) struct LatencyCounts {
    counts: Box<[u64]>,
    recorded: u64,
}

impl LatencyCounts {
    /// log2 of a histogram bucket's sub-buckets: 2 * 10^figures, rounded
    /// up to a power of two (HdrHistogram's layout, with a lowest value of
    /// 1).
    const SUB_BITS: u32 = (2 * 10u32.pow(LATENCY_FIGURES as u32))
        .next_power_of_two()
        .ilog2();
    /// Sub-buckets of every bucket but the first (whose lower half is
    /// the others' whole range).
    const HALF: usize = 1 << (Self::SUB_BITS - 1);

    pub(crate) fn new() -> Self {
        let len = Self::index(LATENCY_MAX) + 1;
        Self {
            counts: vec![0; len].into_boxed_slice(),
            recorded: 0,
        }
    }

    /// The bucket of `v` (1 ..= LATENCY_MAX): bucket `b` holds values of
    /// `SUB_BITS + b` bits in steps of `2^b`; laid out as the histogram's
    /// counts are.
    #[inline]
    fn index(v: u64) -> usize {
        let mask = (1u64 << Self::SUB_BITS) - 1;
        let b = 64 - (v | mask).leading_zeros() - Self::SUB_BITS;
        ((b as usize) << (Self::SUB_BITS - 1)) + (v >> b) as usize
    }

    /// The lowest value of bucket index `i`.
    fn lowest(i: usize) -> u64 {
        if i < 2 * Self::HALF {
            return i as u64;
        }
        let b = (i >> (Self::SUB_BITS - 1)) - 1;
        ((Self::HALF + (i & (Self::HALF - 1))) as u64) << b
    }

    /// Counts a latency of `ns` nanoseconds.
    #[inline]
    pub(crate) fn record(&mut self, ns: u64) {
        let i = Self::index(ns.clamp(1, LATENCY_MAX));
        if let Some(c) = self.counts.get_mut(i) {
            *c += 1;
            self.recorded += 1;
        }
    }

    /// Whether nothing was recorded since the last drain.
    pub(crate) fn is_empty(&self) -> bool {
        self.recorded == 0
    }

    /// Adds the counts to `into` and clears them.
    pub(crate) fn drain_into(&mut self, into: &mut Histogram<u64>) {
        if self.recorded == 0 {
            return;
        }
        for (i, c) in self.counts.iter_mut().enumerate() {
            if *c != 0 {
                into.saturating_record_n(Self::lowest(i), *c);
                *c = 0;
            }
        }
        self.recorded = 0;
    }
}

impl Default for LatencyCounts {
    fn default() -> Self {
        Self::new()
    }
}

/// A latency distribution, in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LatencyStats {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50_ns: u64,
    /// 99th percentile.
    pub p99_ns: u64,
    /// 99.9th percentile.
    pub p999_ns: u64,
    /// Largest.
    pub max_ns: u64,
    /// Mean.
    pub mean_ns: u64,
}

impl LatencyStats {
    /// The quantiles of `h` (`None` if it is empty).
    pub fn from_histogram(h: &hdrhistogram::Histogram<u64>) -> Option<Self> {
        (!h.is_empty()).then(|| Self {
            count: h.len(),
            p50_ns: h.value_at_quantile(0.5),
            p99_ns: h.value_at_quantile(0.99),
            p999_ns: h.value_at_quantile(0.999),
            max_ns: h.max(),
            mean_ns: h.mean().round() as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_counts_drain_into_the_histogram_recording_gives() {
        let mut direct = latency_histogram();
        let mut counts = LatencyCounts::new();
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        let mut values = vec![
            0,
            1,
            2,
            255,
            256,
            257,
            511,
            512,
            1000,
            LATENCY_MAX,
            u64::MAX,
        ];
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Spread over every magnitude.
            values.push(x >> (x % 64));
        }
        for &v in &values {
            direct.saturating_record(v.clamp(1, LATENCY_MAX));
            counts.record(v);
        }
        let mut drained = latency_histogram();
        counts.drain_into(&mut drained);
        assert!(counts.is_empty());
        assert_eq!(drained.len(), values.len() as u64);
        assert_eq!((drained.min(), drained.max()), (direct.min(), direct.max()));
        for q in [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(
                drained.value_at_quantile(q),
                direct.value_at_quantile(q),
                "q {q}"
            );
        }
        let buckets = |h: &Histogram<u64>| {
            h.iter_recorded()
                .map(|v| (v.value_iterated_to(), v.count_at_value()))
                .collect::<Vec<_>>()
        };
        assert_eq!(buckets(&drained), buckets(&direct));
        counts.drain_into(&mut drained);
        assert_eq!(drained.len(), values.len() as u64, "drained once");
    }

    #[test]
    fn published_counters_read_back_field_by_field() {
        let c = Counters {
            emitted: 1,
            transferred: 2,
            executed: 3,
            acked: 4,
            failed: 5,
            errors: 6,
        };
        let cell = AtomicCounters::default();
        assert_eq!(cell.read(), Counters::default());
        cell.publish(&c);
        assert_eq!(cell.read(), c);
        let mut twice = c;
        twice.add(&c);
        assert_eq!(twice.since(&c), c);
        assert_eq!(c.since(&twice), Counters::default(), "saturates at 0");
    }
}
