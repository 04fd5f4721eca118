//! [`TopologyStats`]: counters per component, summed over its tasks.

use std::collections::BTreeMap;
use std::time::Duration;

use super::plan::Plan;
use super::recorder::latency_histogram;
use super::shared::{Shared, TaskError};

/// Counters of one component, summed over its tasks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComponentStats {
    /// Number of tasks.
    pub tasks: usize,
    /// Tuples emitted (one per emit call that reached a declared stream).
    pub emitted: u64,
    /// Deliveries to target tasks (an emit to an all grouping over four
    /// tasks counts four).
    pub transferred: u64,
    /// Input tuples executed (bolts; tick tuples included).
    pub executed: u64,
    /// Inputs acked (bolts) or trees completed (spouts).
    pub acked: u64,
    /// Inputs failed (bolts) or trees failed (spouts).
    pub failed: u64,
    /// Errors reported by or about the component's tasks.
    pub errors: u64,
    /// Spouts: time from a reliable emit to its tree's completion (filled
    /// in when the topology stops).
    pub complete_latency: Option<LatencyStats>,
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

/// A snapshot of a running (or finished) topology.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopologyStats {
    /// Time since the topology started.
    pub elapsed: Duration,
    /// Per component, by name.
    pub components: BTreeMap<String, ComponentStats>,
    /// Errors reported so far (the first thousand).
    pub errors: Vec<TaskError>,
}

impl TopologyStats {
    pub(crate) fn collect(plan: &Plan, shared: &Shared, elapsed: Duration) -> Self {
        let mut complete = BTreeMap::new();
        let mut components: BTreeMap<String, ComponentStats> = BTreeMap::new();
        // A node reports its own tasks only.
        for (i, task) in plan.tasks.iter().enumerate() {
            if !plan.is_local(task) {
                continue;
            }
            let name = &plan.topology.components[task.component].name;
            let c = shared.tasks[i].read();
            let s = components.entry(name.clone()).or_default();
            s.tasks += 1;
            s.emitted += c.emitted;
            s.transferred += c.transferred;
            s.executed += c.executed;
            s.acked += c.acked;
            s.failed += c.failed;
            s.errors += c.errors;
        }
        for (i, task) in plan.tasks.iter().enumerate() {
            if !plan.topology.components[task.component].is_spout() {
                continue;
            }
            let name = &plan.topology.components[task.component].name;
            let h = shared.metrics.tasks[i]
                .histograms
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if h.complete.is_empty() {
                continue;
            }
            if let Some(c) = components.get_mut(name) {
                let mut all = complete.remove(name).unwrap_or_else(latency_histogram);
                let _ = all.add(&h.complete);
                c.complete_latency = LatencyStats::from_histogram(&all);
                complete.insert(name.clone(), all);
            }
        }
        Self {
            elapsed,
            components,
            errors: shared.errors(),
        }
    }
}
