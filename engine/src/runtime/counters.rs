//! The bottom of the metrics model: [`Counters`], the six totals of a task
//! (or summed over tasks), its published copy [`AtomicCounters`], and
//! [`LatencyStats`], the summary of a latency histogram.
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

/// A latency histogram: 1 ns to 1 hour at 2 significant figures (1 %
/// resolution, a few tens of KiB); longer values saturate.
pub(crate) fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 2).expect("valid histogram bounds")
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
