//! [`TopologyStats`]: counters per component, summed over its tasks.

use std::collections::BTreeMap;
use std::time::Duration;

use super::plan::Plan;
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
        let mut components: BTreeMap<String, ComponentStats> = BTreeMap::new();
        for (i, task) in plan.tasks.iter().enumerate() {
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
        Self {
            elapsed,
            components,
            errors: shared.errors(),
        }
    }
}
