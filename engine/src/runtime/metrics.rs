//! Live metrics of a running topology: the snapshot [`TopologyMetrics`]
//! (per task, per component, per worker thread, per node), read from the
//! `MetricsStore` the workers publish into, and the cloneable
//! [`MetricsHandle`] that takes it.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::config::MetricsConfig;
use super::counters::{latency_histogram, Counters, LatencyStats};
use super::error::ErrorSummary;
use super::plan::Plan;
use super::recorder::load;
use super::shared::Shared;
use super::source::{MetricSource, Sample};
use crate::topology::Kind;
use crate::TaskId;

/// What a component is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComponentKind {
    /// A spout.
    Spout,
    /// A bolt.
    Bolt,
    /// An engine component (the acker).
    System,
}

/// One output stream of a component (or task).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputStream {
    /// Stream name.
    pub stream: String,
    /// Tuples emitted on it.
    pub emitted: u64,
    /// Deliveries to target tasks.
    pub transferred: u64,
}

/// One input of a bolt: a subscription to another component's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputStream {
    /// Emitting component (`__system` for ticks and acker traffic).
    pub component: String,
    /// Stream name.
    pub stream: String,
    /// Grouping name (`shuffle`, `fields`...; `system` for ticks).
    pub grouping: String,
    /// Tuples executed from it.
    pub executed: u64,
    /// Of them, acked.
    pub acked: u64,
    /// Of them, failed.
    pub failed: u64,
}

/// One task's metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskMetrics {
    /// Task id.
    pub id: TaskId,
    /// Its component.
    pub component: String,
    /// Worker thread running it.
    pub thread: usize,
    /// Totals.
    pub counters: Counters,
    /// Per output stream.
    pub outputs: Vec<OutputStream>,
    /// Per input (bolts).
    pub inputs: Vec<InputStream>,
    /// Time in `execute` (bolts, sampled).
    pub execute_latency: Option<LatencyStats>,
    /// Start of `execute` to the ack of that input (bolts, sampled).
    pub process_latency: Option<LatencyStats>,
    /// Reliable emit to tree completion (spouts).
    pub complete_latency: Option<LatencyStats>,
    /// Storm's capacity: executed × mean execute latency / uptime, the
    /// fraction of time the task spent executing (near 1: a bottleneck).
    pub capacity: f64,
}

/// One component's metrics, summed (counters) or merged (latencies) over
/// its tasks.
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentMetrics {
    /// Component id.
    pub name: String,
    /// Spout, bolt or system.
    pub kind: ComponentKind,
    /// Its task ids.
    pub tasks: Vec<TaskId>,
    /// Totals.
    pub counters: Counters,
    /// Per output stream.
    pub outputs: Vec<OutputStream>,
    /// Per input (bolts).
    pub inputs: Vec<InputStream>,
    /// Time in `execute` (bolts, sampled).
    pub execute_latency: Option<LatencyStats>,
    /// Start of `execute` to the ack of that input (bolts, sampled).
    pub process_latency: Option<LatencyStats>,
    /// Reliable emit to tree completion (spouts).
    pub complete_latency: Option<LatencyStats>,
    /// The largest capacity of its tasks (Storm's rule).
    pub capacity: f64,
    /// The longest time any of its worker threads spent with spouts
    /// throttled by backpressure.
    pub backpressure: Duration,
    /// The fullest inbound rings of its worker threads (0 to 1).
    pub ring_occupancy: f64,
}

/// One worker thread's metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerMetrics {
    /// Worker index.
    pub index: usize,
    /// Tasks it runs.
    pub tasks: Vec<TaskId>,
    /// Bytes waiting in its inbound rings.
    pub ring_bytes: u64,
    /// Total size of its inbound rings.
    pub ring_capacity: u64,
    /// Bytes waiting in its outbound overflow queues (rings were full).
    pub overflow_bytes: u64,
    /// Time its spouts were throttled by backpressure.
    pub backpressure: Duration,
}

/// A snapshot of a running (or finished) topology's metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct TopologyMetrics {
    /// Id of this run (`name-1-<start, Unix seconds>`, as Storm forms ids).
    pub id: String,
    /// Topology name.
    pub name: String,
    /// This node's name.
    pub node: String,
    /// When it started.
    pub started: SystemTime,
    /// Time since it started.
    pub uptime: Duration,
    /// Whether it has stopped.
    pub finished: bool,
    /// The configuration it runs with.
    pub config: MetricsConfig,
    /// Per component, in declaration order (system components last).
    pub components: Vec<ComponentMetrics>,
    /// Per task, by id.
    pub tasks: Vec<TaskMetrics>,
    /// Per worker thread.
    pub workers: Vec<WorkerMetrics>,
    /// Reported errors, grouped.
    pub errors: Vec<ErrorSummary>,
    /// Samples of registered [`MetricSource`]s.
    pub samples: Vec<Sample>,
}

impl TopologyMetrics {
    /// The component named `name`.
    pub fn component(&self, name: &str) -> Option<&ComponentMetrics> {
        self.components.iter().find(|c| c.name == name)
    }

    /// Every component's counters summed: this node's totals.
    pub fn node_totals(&self) -> Counters {
        let mut total = Counters::default();
        for c in &self.components {
            total.add(&c.counters);
        }
        total
    }

    /// Each component's rate and capacity between `earlier` and this
    /// snapshot (a sliding window, where [`ComponentMetrics::capacity`] is
    /// since start). The window's capacity takes the mean execute latency
    /// since start.
    pub fn window_since(&self, earlier: &TopologyMetrics) -> Vec<WindowStats> {
        let secs = self.uptime.saturating_sub(earlier.uptime).as_secs_f64();
        let per_s = |now: u64, then: u64| {
            if secs > 0.0 {
                now.saturating_sub(then) as f64 / secs
            } else {
                0.0
            }
        };
        self.components
            .iter()
            .map(|c| {
                let then = earlier
                    .component(&c.name)
                    .map_or(0, |e| e.throughput_count());
                let capacity = self
                    .tasks
                    .iter()
                    .filter(|t| t.component == c.name)
                    .map(|t| {
                        let before = earlier
                            .tasks
                            .iter()
                            .find(|e| e.id == t.id)
                            .map_or(0, |e| e.counters.executed);
                        let mean = t.execute_latency.as_ref().map_or(0, |l| l.mean_ns);
                        per_s(t.counters.executed, before) * mean as f64 / 1e9
                    })
                    .fold(0.0, f64::max);
                WindowStats {
                    component: c.name.clone(),
                    rate: per_s(c.throughput_count(), then),
                    capacity,
                }
            })
            .collect()
    }

    /// [`window_since`](Self::window_since) from the start.
    pub fn window_since_start(&self) -> Vec<WindowStats> {
        let start = TopologyMetrics {
            uptime: Duration::ZERO,
            components: Vec::new(),
            tasks: Vec::new(),
            ..self.clone()
        };
        self.window_since(&start)
    }
}

/// A component's figures over a window between two snapshots.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowStats {
    /// Component id.
    pub component: String,
    /// Tuples per second (emitted for spouts, executed otherwise).
    pub rate: f64,
    /// Storm's capacity over the window (its busiest task's).
    pub capacity: f64,
}

impl ComponentMetrics {
    /// What its throughput counts: emitted for a spout, executed otherwise.
    pub fn throughput_count(&self) -> u64 {
        match self.kind {
            ComponentKind::Spout => self.counters.emitted,
            _ => self.counters.executed,
        }
    }
}

/// A cloneable, thread-safe handle on a topology's metrics, valid after it
/// stops too (it then gives the final figures).
#[derive(Clone)]
pub struct MetricsHandle {
    pub(crate) plan: Arc<Plan>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) start: Instant,
    pub(crate) started: SystemTime,
}

impl std::fmt::Debug for MetricsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsHandle")
            .field("topology", &self.plan.topology.name)
            .finish_non_exhaustive()
    }
}

impl MetricsHandle {
    /// Id of this run (`name-1-<start, Unix seconds>`).
    pub fn id(&self) -> String {
        let secs = self
            .started
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        format!("{}-1-{secs}", self.plan.topology.name)
    }

    /// Adds a source of metrics from another subsystem to every snapshot.
    pub fn register(&self, source: Arc<dyn MetricSource>) {
        self.shared.metrics.register(source);
    }

    /// Whether the topology has stopped.
    pub fn is_finished(&self) -> bool {
        self.shared.should_stop()
    }

    /// The spouts' complete latencies (emit to tree completion) published
    /// so far, all spout tasks merged; empty without acking. Workers
    /// publish every 100 ms, so subtracting an earlier histogram gives the
    /// latencies of a window to within that (`gale bench --ack` does).
    /// With metrics off, workers publish only when they stop.
    pub fn complete_latency_histogram(&self) -> hdrhistogram::Histogram<u64> {
        let mut all = latency_histogram();
        for slot in &self.shared.metrics.tasks {
            let h = slot.histograms.lock().unwrap_or_else(|e| e.into_inner());
            // Adding fails only for values outside the bounds, which are
            // the same on both sides.
            let _ = all.add(&h.complete);
        }
        all
    }

    /// The current metrics.
    pub fn metrics(&self) -> TopologyMetrics {
        let plan = &*self.plan;
        let store = &self.shared.metrics;
        let uptime = self.start.elapsed();
        let workers: Vec<WorkerMetrics> = store
            .workers
            .iter()
            .enumerate()
            .map(|(index, w)| {
                // SYNC: Relaxed pairs with the Relaxed stores in
                // `MetricsStore::publish_worker`.
                WorkerMetrics {
                    index,
                    tasks: plan.thread_tasks(index).collect(),
                    ring_bytes: w.ring_bytes.load(Ordering::Relaxed),
                    ring_capacity: w.ring_capacity.load(Ordering::Relaxed),
                    overflow_bytes: w.overflow_bytes.load(Ordering::Relaxed),
                    backpressure: Duration::from_nanos(w.backpressure_ns.load(Ordering::Relaxed)),
                }
            })
            .collect();
        let system = plan.streams.len();
        let mut tasks = Vec::with_capacity(plan.tasks.len());
        let mut histograms = Vec::with_capacity(plan.tasks.len());
        for (i, info) in plan.tasks.iter().enumerate() {
            let id = i as TaskId + 1;
            let component = &plan.topology.components[info.component];
            let counters = self.shared.tasks[i].read();
            let slot = &store.tasks[i];
            let (emitted, transferred) = (load(&slot.emitted), load(&slot.transferred));
            let outputs = plan.stream_ids[info.component]
                .iter()
                .enumerate()
                .map(|(k, (name, _))| OutputStream {
                    stream: name.clone(),
                    emitted: emitted.get(k).copied().unwrap_or(0),
                    transferred: transferred.get(k).copied().unwrap_or(0),
                })
                .collect();
            let (executed, acked, failed) =
                (load(&slot.executed), load(&slot.acked), load(&slot.failed));
            let input = |sid: usize, component: &str, stream: &str, grouping: &str| InputStream {
                component: component.to_owned(),
                stream: stream.to_owned(),
                grouping: grouping.to_owned(),
                executed: executed.get(sid).copied().unwrap_or(0),
                acked: acked.get(sid).copied().unwrap_or(0),
                failed: failed.get(sid).copied().unwrap_or(0),
            };
            let mut inputs: Vec<InputStream> = component
                .inputs
                .iter()
                .filter_map(|sub| {
                    let sid = plan.subscribed_stream(sub)?;
                    Some(input(
                        sid as usize,
                        &sub.component,
                        &sub.stream,
                        sub.grouping.name(),
                    ))
                })
                .collect();
            if executed.get(system).is_some_and(|n| *n > 0) {
                inputs.push(input(system, crate::SYSTEM_COMPONENT, "__system", "system"));
            }
            let h = slot.histograms.lock().unwrap_or_else(|e| e.into_inner());
            let execute_latency = LatencyStats::from_histogram(&h.execute);
            let capacity = capacity(counters.executed, execute_latency.as_ref(), uptime);
            tasks.push(TaskMetrics {
                id,
                component: component.name.clone(),
                thread: info.thread,
                counters,
                outputs,
                inputs,
                execute_latency,
                process_latency: LatencyStats::from_histogram(&h.process),
                complete_latency: LatencyStats::from_histogram(&h.complete),
                capacity,
            });
            histograms.push((h.execute.clone(), h.process.clone(), h.complete.clone()));
        }
        let components = plan
            .topology
            .components
            .iter()
            .enumerate()
            .map(|(ci, c)| {
                let ids = &plan.component_tasks[ci];
                let mine = || ids.iter().map(|id| &tasks[*id as usize - 1]);
                let mut counters = Counters::default();
                mine().for_each(|t| counters.add(&t.counters));
                let mut outputs: Vec<OutputStream> = Vec::new();
                let mut inputs: Vec<InputStream> = Vec::new();
                for t in mine() {
                    merge_by(
                        &mut outputs,
                        &t.outputs,
                        |a, b| a.stream == b.stream,
                        |a, b| {
                            a.emitted += b.emitted;
                            a.transferred += b.transferred;
                        },
                    );
                    merge_by(
                        &mut inputs,
                        &t.inputs,
                        |a, b| a.component == b.component && a.stream == b.stream,
                        |a, b| {
                            a.executed += b.executed;
                            a.acked += b.acked;
                            a.failed += b.failed;
                        },
                    );
                }
                let merged = |pick: fn(&(_, _, _)) -> &hdrhistogram::Histogram<u64>| {
                    let mut all = latency_histogram();
                    for id in ids {
                        let _ = all.add(pick(&histograms[*id as usize - 1]));
                    }
                    LatencyStats::from_histogram(&all)
                };
                // This node's worker threads running the component: a
                // task on another node has a thread index of that node.
                let threads = || {
                    ids.iter()
                        .filter(|id| plan.is_local(&plan.tasks[**id as usize - 1]))
                        .filter_map(|id| workers.get(tasks[*id as usize - 1].thread))
                };
                ComponentMetrics {
                    name: c.name.clone(),
                    kind: match c.kind {
                        Kind::Spout(_) => ComponentKind::Spout,
                        Kind::Bolt(_) => ComponentKind::Bolt,
                        Kind::Acker => ComponentKind::System,
                    },
                    tasks: ids.clone(),
                    counters,
                    outputs,
                    inputs,
                    execute_latency: merged(|h| &h.0),
                    process_latency: merged(|h| &h.1),
                    complete_latency: merged(|h| &h.2),
                    capacity: mine().map(|t| t.capacity).fold(0.0, f64::max),
                    backpressure: threads().map(|w| w.backpressure).max().unwrap_or_default(),
                    ring_occupancy: threads()
                        .map(|w| w.ring_bytes as f64 / w.ring_capacity.max(1) as f64)
                        .fold(0.0, f64::max),
                }
            })
            .collect();
        let mut samples = Vec::new();
        let sources = store
            .sources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for s in sources {
            s.collect(&mut samples);
        }
        TopologyMetrics {
            id: self.id(),
            name: plan.topology.name.clone(),
            node: store.config.node.clone(),
            started: self.started,
            uptime,
            finished: self.is_finished(),
            config: store.config.clone(),
            components,
            tasks,
            workers,
            errors: self.shared.error_summaries(),
            samples,
        }
    }
}

/// Storm's capacity over `uptime`: executed × mean execute latency.
fn capacity(executed: u64, latency: Option<&LatencyStats>, uptime: Duration) -> f64 {
    let (Some(l), secs) = (latency, uptime.as_secs_f64()) else {
        return 0.0;
    };
    if secs <= 0.0 {
        return 0.0;
    }
    executed as f64 * l.mean_ns as f64 / 1e9 / secs
}

/// Adds each of `from` into the entry of `into` it matches, or appends it.
fn merge_by<T: Clone>(
    into: &mut Vec<T>,
    from: &[T],
    same: impl Fn(&T, &T) -> bool,
    add: impl Fn(&mut T, &T),
) {
    for f in from {
        match into.iter_mut().find(|i| same(i, f)) {
            Some(i) => add(i, f),
            None => into.push(f.clone()),
        }
    }
}
