//! [`LocalCluster`]: runs a topology on this machine's cores, and the
//! coordinator that detects a finished topology.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use gale_transport::link::{Link, LinkError, LinkRings, LinkStats};
use gale_transport::{ring, RingConfig, RingError, WaitStrategy};

use super::chain::Chain;
use super::metrics::{MetricsConfig, MetricsHandle, TopologyMetrics};
use super::outbox::{Outbound, Outbox};
use super::output::{Emitter, StreamOut};
use super::plan::Plan;
use super::recorder::MetricsStore;
use super::shared::{Shared, TaskError};
use super::stats::TopologyStats;
use super::tracking::Tracking;
use super::worker::{Core, Inbound, Instance, TaskSlot, Worker};
use crate::acker::SpoutPending;
use crate::grouping::Router;
use crate::topology::{Component, Kind};
use crate::Topology;

/// How a topology runs on this machine.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Worker threads; 0 means one per core.
    pub threads: usize,
    /// Pin worker `i` to core `i % cores`.
    pub pin: bool,
    /// What a worker does when it has nothing to do.
    pub wait: WaitStrategy,
    /// Data area of each ring between two workers (a power of two).
    pub ring_bytes: usize,
    /// Records per published ring batch.
    pub batch: usize,
    /// A worker flushes its rings at least this often while busy (and
    /// always before it idles), so low-rate streams see low latency.
    pub flush_interval: Duration,
    /// Stop (cleanly, draining what is in flight) after this long.
    pub duration: Option<Duration>,
    /// What is measured live ([`RunningTopology::metrics`]).
    pub metrics: MetricsConfig,
    /// Run a bolt *chained* when a task of its own thread emits to it: the
    /// bolt executes the tuples right after the emitting call, without the
    /// local queue (as Flink chains operators). On by default; off only to
    /// compare the two paths (results are the same either way).
    pub chain: bool,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            threads: 0,
            pin: true,
            wait: WaitStrategy::default(),
            ring_bytes: 1 << 20,
            batch: 64,
            flush_interval: Duration::from_micros(100),
            duration: None,
            metrics: MetricsConfig::default(),
            chain: true,
        }
    }
}

impl RunConfig {
    /// The number of worker threads this configuration gives.
    pub fn thread_count(&self) -> usize {
        match self.threads {
            0 => thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }
}

/// Why a topology could not start or did not finish cleanly.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A ring between workers could not be created.
    #[error("cannot create the rings between worker threads: {0}")]
    Ring(#[from] RingError),
    /// A worker thread could not be spawned.
    #[error("cannot spawn worker thread {thread}: {source}")]
    Spawn {
        /// Worker index.
        thread: usize,
        /// The OS error.
        source: std::io::Error,
    },
    /// The link to the other nodes could not start.
    #[error("cannot start the link to the other nodes: {0}")]
    Link(#[from] LinkError),
    /// The node was stopped (e.g. by a signal) while it waited for its
    /// peers; nothing ran.
    #[error("stopped while waiting for peers {missing:?}")]
    StoppedWhileConnecting {
        /// The nodes that were not up yet.
        missing: Vec<u32>,
    },
    /// Peers did not connect in time.
    #[error("peers {missing:?} did not connect within {waited:?}")]
    NotConnected {
        /// The nodes that were not up.
        missing: Vec<u32>,
        /// How long the node waited.
        waited: Duration,
    },
    /// The cluster file does not fit this node.
    #[error(transparent)]
    Cluster(#[from] crate::cluster::ClusterError),
    /// A task panicked; the topology was stopped.
    #[error("task {} of component `{}` {}", .0.task, .0.component, .0.message)]
    TaskPanicked(TaskError),
    /// An engine thread panicked outside any task; the topology was
    /// stopped.
    #[error("{thread} panicked: {message}")]
    ThreadPanicked {
        /// Which thread.
        thread: String,
        /// The panic message.
        message: String,
    },
}

/// Runs topologies on this machine (Storm's `LocalCluster`).
#[derive(Debug, Clone, Default)]
pub struct LocalCluster {
    config: RunConfig,
}

impl LocalCluster {
    /// A cluster that runs topologies with `config`.
    pub fn new(config: RunConfig) -> Self {
        Self { config }
    }

    /// Starts `topology` and returns its handle.
    pub fn submit(&self, topology: Topology) -> Result<RunningTopology, RunError> {
        let plan = Arc::new(Plan::new(topology, self.config.thread_count()));
        launch(plan, &self.config, 0, None)
    }
}

/// Ring settings of every ring between workers (and to and from the link).
pub(crate) fn ring_config(config: &RunConfig) -> RingConfig {
    config.ring_config()
}

impl RunConfig {
    /// The configuration of the rings between worker threads: `ring_bytes`
    /// each, records of up to half that, published every `batch` commits.
    pub fn ring_config(&self) -> RingConfig {
        RingConfig::new(self.ring_bytes)
            .with_max_record((self.ring_bytes / 2).saturating_sub(8))
            .with_batch(self.batch.max(1))
    }
}

/// The rings between this node's workers and its link: filled in by
/// `launch`, handed to `start_link` before the workers start.
pub(crate) type LinkStarter<'a> = &'a mut dyn FnMut(LinkRings) -> Result<Link, RunError>;

/// Starts the workers of `plan` (this node's threads) and the coordinator.
/// With pinning, worker `i` goes to core `(first_core + i) % cores`. With
/// `link`, each worker also gets an outbound ring per peer node and an
/// inbound ring from the link, which `link` starts.
pub(crate) fn launch(
    plan: Arc<Plan>,
    config: &RunConfig,
    first_core: usize,
    link: Option<LinkStarter<'_>>,
) -> Result<RunningTopology, RunError> {
    let config = config.clone();
    let threads = plan.threads;
    let store = MetricsStore::new(config.metrics.clone(), &plan, threads);
    let shared = Arc::new(Shared::new(threads, plan.tasks.len(), store));
    tracing::info!(
        topology = plan.topology.name,
        tasks = plan.tasks.len(),
        threads,
        "starting topology"
    );

    // rings[from][to]
    let ring_config = ring_config(&config);
    let mut producers: Vec<Vec<Option<Outbound>>> = (0..threads).map(|_| Vec::new()).collect();
    let mut consumers: Vec<Vec<Inbound>> = (0..threads).map(|_| Vec::new()).collect();
    for (from, outs) in producers.iter_mut().enumerate() {
        for (to, ins) in consumers.iter_mut().enumerate() {
            if from == to {
                outs.push(None);
                continue;
            }
            let (tx, rx) = ring(ring_config)?;
            outs.push(Some(Outbound::batched(tx)));
            ins.push(Inbound::batched(rx));
        }
    }
    let link = match link {
        None => None,
        Some(start) => {
            // Outbound ring `threads + i` of each worker goes to peer i.
            let mut rings = LinkRings {
                outbound: Vec::with_capacity(plan.peers.len()),
                inbound: Vec::with_capacity(threads),
            };
            for &peer in &plan.peers {
                let mut per_thread = Vec::with_capacity(threads);
                for outs in producers.iter_mut() {
                    let (tx, rx) = ring(ring_config)?;
                    outs.push(Some(Outbound::single(tx)));
                    per_thread.push(rx);
                }
                rings.outbound.push((peer, per_thread));
            }
            for ins in consumers.iter_mut() {
                let (tx, rx) = ring(ring_config)?;
                ins.push(Inbound::single(rx));
                rings.inbound.push(tx);
            }
            Some(start(rings)?)
        }
    };

    let cores = if config.pin {
        core_affinity::get_core_ids().unwrap_or_default()
    } else {
        Vec::new()
    };
    let start = Instant::now();
    let started = SystemTime::now();
    let mut handles = Vec::with_capacity(threads);
    for (index, (outbound, inbound)) in producers.into_iter().zip(consumers).enumerate() {
        let core = cores
            .get((first_core + index) % cores.len().max(1))
            .copied();
        let (w_plan, w_shared, w_config) = (Arc::clone(&plan), Arc::clone(&shared), config.clone());
        let spawned = thread::Builder::new()
            .name(format!("gale-worker-{index}"))
            .spawn(move || {
                if let Some(core) = core {
                    core_affinity::set_for_current(core);
                }
                // Built on its own thread, so everything the worker
                // writes per tuple comes from this thread's allocator
                // arena, away from other workers' cache lines.
                // Tasks' panics are caught around each call; one outside a
                // task (the engine's own) stops the run with an error too.
                let shared = Arc::clone(&w_shared);
                let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
                    build_worker(&w_plan, &w_shared, &w_config, index, outbound, inbound).run()
                }));
                if let Err(payload) = run {
                    shared.fail(TaskError {
                        component: format!("worker thread {index}"),
                        task: 0,
                        message: super::collector::panic_message(&*payload),
                    });
                }
            });
        match spawned {
            Ok(h) => handles.push(h),
            Err(source) => {
                shared.stop.store(true, Ordering::Release);
                for h in handles {
                    let _ = h.join();
                }
                if let Some(link) = link {
                    link.stop();
                }
                return Err(RunError::Spawn {
                    thread: index,
                    source,
                });
            }
        }
    }
    let coordinator = {
        let shared = Arc::clone(&shared);
        let duration = config.duration;
        let multi_node = link.is_some();
        let link_stats = link.as_ref().map(Link::stats_handle);
        let has_spouts = (0..threads).any(|t| {
            plan.thread_tasks(t)
                .any(|id| plan.component_of(id).is_some_and(Component::is_spout))
        });
        thread::Builder::new()
            .name("gale-coordinator".into())
            .spawn(move || {
                if multi_node {
                    super::node::coordinate(
                        &shared,
                        handles,
                        start,
                        duration,
                        has_spouts,
                        link_stats.as_ref(),
                    );
                } else {
                    coordinate(&shared, handles, start, duration);
                }
            })
            .map_err(|source| RunError::Spawn {
                thread: threads,
                source,
            })?
    };
    Ok(RunningTopology {
        plan,
        shared,
        start,
        started,
        coordinator: Some(coordinator),
        link,
    })
}

fn build_worker(
    plan: &Arc<Plan>,
    shared: &Arc<Shared>,
    config: &RunConfig,
    index: usize,
    outbound: Vec<Option<Outbound>>,
    inbound: Vec<Inbound>,
) -> Worker {
    // Move the ring ends (whose cached indices change per record) into
    // allocations of this thread.
    // (`collect` would reuse the old buffer; `extend` copies into a new one.)
    let outbound = {
        let mut v = Vec::with_capacity(outbound.len());
        v.extend(outbound);
        v
    };
    let inbound = {
        let mut v = Vec::with_capacity(inbound.len());
        v.extend(inbound);
        v
    };
    let ids: Vec<u32> = plan.thread_tasks(index).collect();
    let thread_of: Vec<usize> = std::iter::once(index)
        .chain(plan.tasks.iter().map(|t| plan.destination(t)))
        .collect();
    let mut slot_of = vec![usize::MAX; plan.tasks.len() + 1];
    let mut tasks = Vec::with_capacity(ids.len());
    let mut bolts = Vec::with_capacity(ids.len());
    let mut streams = Vec::with_capacity(ids.len());
    for (slot, &id) in ids.iter().enumerate() {
        slot_of[id as usize] = slot;
        let info = &plan.tasks[id as usize - 1];
        let component = &plan.topology.components[info.component];
        let (instance, bolt) = match &component.kind {
            Kind::Spout(f) => (Instance::Spout(f()), None),
            Kind::Bolt(f) => (Instance::Bolt, Some(f())),
            Kind::Acker => (Instance::Acker(Default::default()), None),
        };
        bolts.push(bolt);
        let tick = component
            .config
            .tick_interval
            .filter(|_| !component.is_spout())
            .map(|every| (every, Instant::now() + every));
        tasks.push(TaskSlot {
            id,
            instance,
            done: false,
            tick,
        });
        // Each output stream with one router per subscription.
        let outs = plan.stream_ids[info.component]
            .iter()
            .zip(&component.streams)
            .map(|((name, sid), decl)| {
                let routes = plan.routes[*sid as usize]
                    .iter()
                    .map(|route| {
                        let local = local_targets(plan, &route.targets, index);
                        let router = Router::new(
                            &route.grouping,
                            &route.targets,
                            &local,
                            route.key.clone(),
                            info.index,
                        );
                        (router, route.targets.clone())
                    })
                    .collect();
                StreamOut::new(name.clone(), *sid, decl, routes, |t| {
                    thread_of.get(t as usize).copied().unwrap_or(index)
                })
            })
            .collect();
        streams.push(outs);
    }
    let chain = Chain::new(
        ids.iter()
            .zip(&bolts)
            .filter(|(_, b)| b.is_some())
            .map(|(&id, _)| id),
        plan.tasks.len(),
        config.chain,
    );
    let outbox = Outbox::new(index, thread_of, outbound, chain);
    let tracking = Tracking::new(plan.acker_tasks(), seed(index));
    let pending = ids
        .iter()
        .map(|&id| {
            let component = &plan.topology.components[plan.tasks[id as usize - 1].component];
            component
                .is_spout()
                .then(|| SpoutPending::new(plan.topology.config.message_timeout, Instant::now()))
        })
        .collect();
    let max_pending = ids
        .iter()
        .map(|&id| {
            let component = &plan.topology.components[plan.tasks[id as usize - 1].component];
            component
                .config
                .max_spout_pending
                .or(plan.topology.config.max_spout_pending)
                .unwrap_or(usize::MAX)
        })
        .collect();
    // Each task's first subscribed stream: its per-stream input counts
    // are settled from the totals (TaskRecorder).
    let main_inputs: Vec<Option<u32>> = ids
        .iter()
        .map(|&id| {
            let component = &plan.topology.components[plan.tasks[id as usize - 1].component];
            let first = component.inputs.first()?;
            plan.subscribed_stream(first)
        })
        .collect();
    let emitter = Emitter::new(
        Arc::clone(plan),
        Arc::clone(shared),
        bolts,
        slot_of,
        outbox,
        tracking,
        streams,
        &main_inputs,
        pending,
    );
    Worker {
        index,
        core: Core {
            plan: Arc::clone(plan),
            shared: Arc::clone(shared),
            tasks,
            emitter,
            processed: 0,
            max_pending,
            polled: Vec::new(),
        },
        inbound,
        config: config.clone(),
    }
}

/// The targets a local-or-shuffle grouping prefers for an emitter on
/// worker `thread` of this node: those on the same thread, else those on
/// the same node (empty: none is local, shuffle over all).
fn local_targets(plan: &Plan, targets: &[u32], thread: usize) -> Vec<u32> {
    let info = |t: &u32| &plan.tasks[*t as usize - 1];
    let same_thread: Vec<u32> = targets
        .iter()
        .filter(|t| plan.is_local(info(t)) && info(t).thread == thread)
        .copied()
        .collect();
    if !same_thread.is_empty() {
        return same_thread;
    }
    targets
        .iter()
        .filter(|t| plan.is_local(info(t)))
        .copied()
        .collect()
}

/// A seed for a worker's id generator: distinct per worker and per run.
fn seed(worker: usize) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ (worker as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ u64::from(std::process::id())
}

/// A coordinator's sleeps between polls of the workers: `near` (a stop is
/// close: spouts done, draining) polls every `fast`; otherwise the sleep
/// doubles up to [`Poll::SLOW`], so that while a topology just runs the
/// coordinator rarely wakes (on a machine with a core per worker each wake
/// preempts a worker). A run with a duration wakes at its end.
pub(crate) struct Poll {
    fast: Duration,
    current: Duration,
    end: Option<Instant>,
}

impl Poll {
    /// The longest sleep.
    pub(crate) const SLOW: Duration = Duration::from_millis(20);

    pub(crate) fn new(fast: Duration, start: Instant, duration: Option<Duration>) -> Self {
        Poll {
            fast,
            current: fast,
            end: duration.map(|d| start + d),
        }
    }

    /// The next sleep (without sleeping).
    pub(crate) fn next(&mut self, near: bool, now: Instant) -> Duration {
        self.current = if near {
            self.fast
        } else {
            (self.current * 2).min(Self::SLOW)
        };
        match self.end {
            Some(end) if end > now => self.current.min(end - now),
            _ => self.current,
        }
    }

    /// Sleeps until the next poll.
    pub(crate) fn sleep(&mut self, near: bool) {
        thread::sleep(self.next(near, Instant::now()));
    }
}

/// Polls the workers' progress: stops the topology when it is drained (all
/// spouts done and nothing in flight), after `duration`, or on a panic.
fn coordinate(
    shared: &Shared,
    workers: Vec<JoinHandle<()>>,
    start: Instant,
    duration: Option<Duration>,
) {
    let mut poll = Poll::new(Duration::from_micros(200), start, duration);
    // Processed total of the previous wave, taken while all spouts were done.
    let mut previous: Option<u64> = None;
    loop {
        poll.sleep(previous.is_some() || shared.draining());
        if shared.should_stop() {
            break;
        }
        if duration.is_some_and(|d| start.elapsed() >= d) {
            // SYNC: Release pairs with the Acquire load in `Shared::draining`.
            shared.drain.store(true, Ordering::Release);
        }
        let mut sent = 0;
        let mut processed = 0;
        let mut all_done = true;
        for w in &shared.workers {
            let (s, p, done) = w.snapshot();
            sent += s;
            processed += p;
            all_done &= done;
        }
        // Mattern's four-counter test: the tuples processed as seen by one
        // wave equal the tuples sent as seen by the next, so nothing was in
        // flight between them and nothing can be created any more.
        if all_done && previous == Some(sent) && sent == processed {
            // SYNC: Release pairs with the Acquire load in `should_stop`.
            shared.stop.store(true, Ordering::Release);
            break;
        }
        previous = all_done.then_some(processed);
    }
    for w in workers {
        let _ = w.join();
    }
    tracing::info!(elapsed = ?start.elapsed(), "topology stopped");
}

/// A running topology (Storm's topology handle in a `LocalCluster`).
pub struct RunningTopology {
    plan: Arc<Plan>,
    shared: Arc<Shared>,
    start: Instant,
    started: SystemTime,
    coordinator: Option<JoinHandle<()>>,
    /// The link to the other nodes (multi-node runs only), stopped once the
    /// workers have exited.
    link: Option<Link>,
}

impl RunningTopology {
    /// Asks the topology to stop: spouts are deactivated and no longer
    /// polled, every tuple in flight is processed, then bolts are cleaned up
    /// and the threads exit. Returns at once; [`wait`](Self::wait) for it.
    pub fn stop(&self) {
        // SYNC: Release pairs with the Acquire load in `Shared::draining`.
        self.shared.drain.store(true, Ordering::Release);
    }

    /// Counters so far.
    pub fn stats(&self) -> TopologyStats {
        TopologyStats::collect(&self.plan, &self.shared, self.start.elapsed())
    }

    /// The link's counters (multi-node runs only).
    pub fn link_stats(&self) -> Option<LinkStats> {
        self.link.as_ref().map(Link::stats)
    }

    /// A handle on the link's counters (multi-node runs only).
    pub(crate) fn link_stats_handle(&self) -> Option<gale_transport::link::LinkStatsHandle> {
        self.link.as_ref().map(Link::stats_handle)
    }

    /// Live metrics: per task, component and worker thread (see
    /// [`MetricsConfig`]).
    pub fn metrics(&self) -> TopologyMetrics {
        self.metrics_handle().metrics()
    }

    /// A handle that takes [`metrics`](Self::metrics) from any thread,
    /// during the run and after it (an HTTP server, a progress line), and
    /// registers other subsystems' [`MetricSource`](super::MetricSource)s.
    pub fn metrics_handle(&self) -> MetricsHandle {
        MetricsHandle {
            plan: Arc::clone(&self.plan),
            shared: Arc::clone(&self.shared),
            start: self.start,
            started: self.started,
        }
    }

    /// Whether the topology has stopped.
    pub fn is_finished(&self) -> bool {
        self.coordinator
            .as_ref()
            .is_none_or(JoinHandle::is_finished)
    }

    /// Waits until the topology stops (its finite spouts finished and
    /// everything was processed, [`stop`](Self::stop) was called, the
    /// configured duration passed, or a task panicked) and returns the final
    /// counters, or the panic.
    pub fn wait(mut self) -> Result<TopologyStats, RunError> {
        if let Some(c) = self.coordinator.take() {
            if let Err(payload) = c.join() {
                self.shared.fail(TaskError {
                    component: "the coordinator thread".to_owned(),
                    task: 0,
                    message: super::collector::panic_message(&*payload),
                });
            }
        }
        if let Some(link) = self.link.take() {
            link.stop();
        }
        let panic = self
            .shared
            .panic
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        match panic {
            Some(p) if p.task == 0 => Err(RunError::ThreadPanicked {
                thread: p.component,
                message: p.message,
            }),
            Some(p) => Err(RunError::TaskPanicked(p)),
            None => Ok(self.stats()),
        }
    }
}

impl Drop for RunningTopology {
    /// Dropping a running topology stops it and waits for its threads.
    fn drop(&mut self) {
        if let Some(c) = self.coordinator.take() {
            self.stop();
            let _ = c.join();
        }
        if let Some(link) = self.link.take() {
            link.stop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_backs_off_while_running_and_is_fast_near_a_stop() {
        let start = Instant::now();
        let fast = Duration::from_micros(200);
        let mut poll = Poll::new(fast, start, None);
        let sleeps: Vec<Duration> = (0..10).map(|_| poll.next(false, start)).collect();
        assert_eq!(sleeps[0], 2 * fast);
        assert!(sleeps.windows(2).all(|w| w[0] <= w[1]), "{sleeps:?}");
        assert_eq!(sleeps[9], Poll::SLOW);
        assert_eq!(poll.next(true, start), fast);
        assert_eq!(poll.next(false, start), 2 * fast);
        // A run with a duration wakes at its end, not up to SLOW later.
        let mut poll = Poll::new(fast, start, Some(Duration::from_millis(5)));
        for _ in 0..10 {
            poll.next(false, start);
        }
        let now = start + Duration::from_millis(4);
        assert_eq!(poll.next(false, now), Duration::from_millis(1));
        let late = start + Duration::from_millis(6);
        assert_eq!(poll.next(false, late), Poll::SLOW);
    }
}
