//! [`TopologyStats`]: counters per component, summed over its tasks; the
//! short view of a [`TopologyMetrics`] that a finished run returns.

use std::collections::BTreeMap;
use std::ops::Deref;
use std::time::Duration;

use super::counters::{Counters, LatencyStats};
use super::error::TaskError;
use super::metrics::TopologyMetrics;
use crate::TaskId;

/// Counters of one component, summed over its tasks.
///
/// It dereferences to its [`Counters`], so `stats.components["count"].executed`
/// reads the component's executed count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComponentStats {
    /// Number of tasks.
    pub tasks: usize,
    /// Its tasks' counters, summed.
    pub counters: Counters,
    /// Spouts: time from a reliable emit to its tree's completion.
    pub complete_latency: Option<LatencyStats>,
}

impl Deref for ComponentStats {
    type Target = Counters;

    fn deref(&self) -> &Counters {
        &self.counters
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
    /// The per-component view of `metrics`: each component's counters
    /// summed over the tasks `local` says run on this node (a component
    /// without any is left out), its complete latency, and `errors`.
    pub(crate) fn from_metrics(
        metrics: &TopologyMetrics,
        local: impl Fn(TaskId) -> bool,
        errors: Vec<TaskError>,
    ) -> Self {
        let mut components: BTreeMap<String, ComponentStats> = BTreeMap::new();
        for t in metrics.tasks.iter().filter(|t| local(t.id)) {
            let s = components.entry(t.component.clone()).or_default();
            s.tasks += 1;
            s.counters.add(&t.counters);
        }
        for c in &metrics.components {
            if let Some(s) = components.get_mut(&c.name) {
                s.complete_latency.clone_from(&c.complete_latency);
            }
        }
        Self {
            elapsed: metrics.uptime,
            components,
            errors,
        }
    }
}
