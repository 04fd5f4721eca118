//! The end-of-run report: a table on stderr, one JSON object on stdout.

use std::io::{self, Write};
use std::time::Duration;

use gale_engine::{ComponentStats, LatencyStats, Topology, TopologyMetrics, TopologyStats};
use serde_json::{json, Map, Value as Json};

use crate::monitor::api::with_counters;

/// One component's line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Component id.
    pub name: String,
    /// `true` for a spout.
    pub spout: bool,
    /// Its counters, summed over its tasks.
    pub stats: ComponentStats,
}

/// What a run did, component by component in the topology's declaration
/// order, with the throughput of its last component.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Topology name.
    pub topology: String,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
    /// Errors the tasks reported (the engine keeps the first thousand):
    /// `(component, task, message)`.
    pub errors: Vec<(String, u32, String)>,
    /// One row per component: the topology's, in declaration order, then
    /// any the engine reports besides (system components), by name.
    pub rows: Vec<Row>,
    /// The live metrics at the end of the run, when taken (`gale run`
    /// takes them): adds execute latency and capacity of each bolt.
    pub metrics: Option<TopologyMetrics>,
    /// The signal (SIGINT 2, SIGTERM 15) that stopped the run, after it
    /// drained; `None` if it ended by itself or at its duration.
    pub signal: Option<i32>,
    last: Option<usize>,
}

/// What the report needs of a topology, taken before it is submitted.
#[derive(Debug, Clone)]
pub struct Shape {
    name: String,
    components: Vec<(String, bool)>,
}

impl Shape {
    /// A shape from its parts: a name and `(component, is_spout)` pairs in
    /// order (for pipelines that are not topologies, such as `gale bench
    /// baseline-crossbeam`).
    pub fn new(name: &str, components: &[(&str, bool)]) -> Self {
        Self {
            name: name.to_owned(),
            components: components
                .iter()
                .map(|(c, spout)| ((*c).to_owned(), *spout))
                .collect(),
        }
    }

    /// The topology's name and components (with which are spouts).
    pub fn of(topology: &Topology) -> Self {
        Self {
            name: topology.name().to_owned(),
            components: topology
                .component_names()
                .map(|c| (c.to_owned(), topology.is_spout(c).unwrap_or(false)))
                .collect(),
        }
    }
}

impl Report {
    /// Puts `stats` in `shape`'s order.
    pub fn new(shape: &Shape, stats: &TopologyStats) -> Self {
        let mut rows = Vec::with_capacity(stats.components.len());
        let known = |name: &str| shape.components.iter().any(|(c, _)| c == name);
        let order = shape
            .components
            .iter()
            .map(|(c, spout)| (c.as_str(), *spout))
            .chain(
                stats
                    .components
                    .keys()
                    .filter(|c| !known(c))
                    .map(|c| (c.as_str(), false)),
            );
        let mut last = None;
        for (name, spout) in order {
            let Some(s) = stats.components.get(name) else {
                continue;
            };
            if known(name) {
                last = Some(rows.len());
            }
            rows.push(Row {
                name: name.to_owned(),
                spout,
                stats: s.clone(),
            });
        }
        Self {
            topology: shape.name.clone(),
            elapsed: stats.elapsed,
            errors: stats
                .errors
                .iter()
                .map(|e| (e.component.clone(), e.task, e.message.clone()))
                .collect(),
            rows,
            metrics: None,
            signal: None,
            last,
        }
    }

    /// The last component of the topology and its tuples per second:
    /// executed for a bolt, emitted for a spout.
    pub fn rate(&self) -> Option<(&str, f64)> {
        let row = &self.rows[self.last?];
        let tuples = if row.spout {
            row.stats.emitted
        } else {
            row.stats.executed
        };
        let secs = self.elapsed.as_secs_f64();
        Some((
            &row.name,
            if secs > 0.0 {
                tuples as f64 / secs
            } else {
                0.0
            },
        ))
    }

    /// Writes the human-readable table.
    pub fn write_text(&self, w: &mut impl Write) -> io::Result<()> {
        let secs = self.elapsed.as_secs_f64();
        writeln!(w, "gale: topology `{}` ran {secs:.3} s", self.topology)?;
        let width = self
            .rows
            .iter()
            .map(|r| r.name.len())
            .max()
            .unwrap_or(0)
            .max(9);
        writeln!(
            w,
            "  {:<width$} {:>5} {:>13} {:>13} {:>13} {:>13} {:>10} {:>8}",
            "component", "tasks", "emitted", "transferred", "executed", "acked", "failed", "errors"
        )?;
        for r in &self.rows {
            writeln!(
                w,
                "  {:<width$} {:>5} {:>13} {:>13} {:>13} {:>13} {:>10} {:>8}",
                r.name,
                r.stats.tasks,
                r.stats.emitted,
                r.stats.transferred,
                r.stats.executed,
                r.stats.acked,
                r.stats.failed,
                r.stats.errors
            )?;
        }
        if let Some((name, rate)) = self.rate() {
            let what = if self.rows[self.last.unwrap_or(0)].spout {
                "emitted"
            } else {
                "executed"
            };
            writeln!(
                w,
                "  rate: {:.3} M tuples/s ({what} by `{name}` / elapsed)",
                rate / 1e6
            )?;
        }
        for r in &self.rows {
            if let Some(l) = &r.stats.complete_latency {
                writeln!(
                    w,
                    "  complete latency of `{}`: {}",
                    r.name,
                    complete_quantiles(l)
                )?;
            }
        }
        for c in self.metrics.iter().flat_map(|m| &m.components) {
            if let Some(l) = &c.execute_latency {
                writeln!(
                    w,
                    "  execute latency of `{}`: p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs ({} sampled); capacity {:.3}",
                    c.name,
                    l.p50_ns as f64 / 1e3,
                    l.p99_ns as f64 / 1e3,
                    l.max_ns as f64 / 1e3,
                    l.count,
                    c.capacity
                )?;
            }
        }
        const SHOWN: usize = 10;
        for (component, task, message) in self.errors.iter().take(SHOWN) {
            writeln!(w, "  error: task {task} of `{component}`: {message}")?;
        }
        if self.errors.len() > SHOWN {
            writeln!(w, "  ... and {} more errors", self.errors.len() - SHOWN)?;
        }
        Ok(())
    }

    /// The report as one JSON object: `topology`, `elapsed_s`,
    /// `rate_per_s`, `rate_component`, `components` (name → `tasks`,
    /// `emitted`, `transferred`, `executed`, `acked`, `failed`, `errors`,
    /// and for spouts with tracked tuples `complete_latency_ns` with
    /// `count`, `p50`, `p99`, `p999`, `max`; with [`metrics`](Self::metrics)
    /// also `capacity`, `backpressure_s` and, for bolts,
    /// `execute_latency_ns` and `process_latency_ns`)
    /// and `errors` (`component`, `task`, `message` of each reported one).
    pub fn to_json(&self) -> Json {
        let components: Map<String, Json> = self
            .rows
            .iter()
            .map(|r| {
                let c = &r.stats;
                let mut stats = with_counters(&c.counters, json!({ "tasks": c.tasks }));
                if let Some(l) = &c.complete_latency {
                    stats["complete_latency_ns"] = latency_json(l);
                }
                let live = self.metrics.as_ref().and_then(|m| m.component(&r.name));
                if let Some(c) = live {
                    stats["capacity"] = json!(c.capacity);
                    stats["backpressure_s"] = json!(c.backpressure.as_secs_f64());
                    for (key, l) in [
                        ("execute_latency_ns", &c.execute_latency),
                        ("process_latency_ns", &c.process_latency),
                    ] {
                        if let Some(l) = l {
                            stats[key] = latency_json(l);
                        }
                    }
                }
                (r.name.clone(), stats)
            })
            .collect();
        let rate = self.rate();
        json!({
            "topology": self.topology,
            "elapsed_s": self.elapsed.as_secs_f64(),
            "rate_per_s": rate.map(|r| r.1),
            "rate_component": rate.map(|r| r.0),
            "stopped_by": self.signal.map(super::signals::name),
            "components": components,
            "errors": self
                .errors
                .iter()
                .map(|(c, t, m)| json!({"component": c, "task": t, "message": m}))
                .collect::<Vec<_>>(),
        })
    }
}

fn latency_json(l: &LatencyStats) -> Json {
    json!({
        "count": l.count,
        "p50": l.p50_ns,
        "p99": l.p99_ns,
        "p999": l.p999_ns,
        "max": l.max_ns,
    })
}

/// A complete-latency distribution as one line's tail: `p50 … µs, p99 …,
/// p99.9 …, max … (N trees)`.
pub(super) fn complete_quantiles(l: &gale_engine::LatencyStats) -> String {
    format!(
        "p50 {:.1} µs, p99 {:.1} µs, p99.9 {:.1} µs, max {:.1} µs ({} trees)",
        l.p50_ns as f64 / 1e3,
        l.p99_ns as f64 / 1e3,
        l.p999_ns as f64 / 1e3,
        l.max_ns as f64 / 1e3,
        l.count
    )
}
