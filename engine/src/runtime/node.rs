//! [`NodeCluster`]: runs this node's share of a topology planned over
//! several nodes, with a link to every other node.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use gale_transport::link::{Backend, Link, LinkConfig, LinkRings, PeerSpec, PeerState};

use gale_transport::link::LinkStatsHandle;

use super::config::RunConfig;
use super::coordinator::{Backoff, Coordinator};
use super::error::{RunError, TaskError};
use super::route::EngineRoute;
use super::running::RunningTopology;
use super::shared::Shared;
use super::source::{MetricSource, Sample, SampleKind};
use super::startup::launch;
use crate::cluster::{ClusterError, ClusterPlan, LinkBackend};
use crate::state::{Checkpointing, LinkHealth};
use crate::topology::Component;

/// Runs one node of a multi-node topology: the tasks the [`ClusterPlan`]
/// puts on this node, on the node's worker threads, with tuples for other
/// nodes' tasks carried by a [`Link`].
///
/// Nodes that share a host (same `host` in the cluster file) pin their
/// workers to different cores: a node's first worker goes to the core after
/// the threads of the lower-id nodes on its host.
///
/// The node waits for every peer to connect before its spouts start, then
/// runs until its duration is up or it is [stopped](RunningTopology::stop);
/// it then drains what it has in flight and stops its link.
#[derive(Debug)]
pub struct NodeCluster {
    plan: ClusterPlan,
    config: RunConfig,
    connect_timeout: Duration,
    /// Set (e.g. by a signal handler) to give up waiting for peers.
    stop: Option<Arc<AtomicBool>>,
}

impl NodeCluster {
    /// A node running `plan`'s node with `config` (its thread count comes
    /// from the cluster file; the file's `batch` and `ring_bytes` settings
    /// override `config`'s).
    pub fn new(plan: ClusterPlan, mut config: RunConfig) -> Self {
        let settings = plan.cluster().settings();
        if let Some(b) = settings.batch {
            config.batch = b;
        }
        if let Some(r) = settings.ring_bytes {
            config.ring_bytes = r;
        }
        config.threads = plan.plan.threads;
        Self {
            plan,
            config,
            connect_timeout: Duration::from_secs(120),
            stop: None,
        }
    }

    /// A flag that, once set, makes [`submit`](Self::submit) stop waiting
    /// for peers and return [`RunError::StoppedWhileConnecting`] (a node
    /// sets it from its SIGTERM/SIGINT handler).
    #[must_use]
    pub fn with_stop_flag(mut self, stop: Arc<AtomicBool>) -> Self {
        self.stop = Some(stop);
        self
    }

    /// How long [`submit`](Self::submit) waits for all peers (default
    /// 120 s).
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The link configuration of this node. This node's own `listen` is
    /// resolved now (a hostname that does not resolve yet is retried until
    /// the connect timeout); peers' hostnames are resolved by the link, in
    /// the background, again whenever a dial fails or a connection drops
    /// (a Kubernetes pod back at a new IP).
    pub fn link_config(&self) -> Result<LinkConfig, ClusterError> {
        let cluster = self.plan.cluster();
        let me = self.plan.node();
        let mut peers = Vec::new();
        for n in cluster.nodes().iter().filter(|n| n.id != me) {
            let peer = if n.listen.parse::<SocketAddr>().is_ok() {
                PeerSpec::new(n.id, cluster.addr(n.id)?)
            } else {
                let first = cluster.addr(n.id);
                if let Err(e) = &first {
                    tracing::info!(node = me, "{e}; retrying in the background");
                }
                PeerSpec::named(n.id, n.listen.clone(), first.ok())
            };
            peers.push(peer.same_host(cluster.same_host(me, n.id)));
        }
        let listen = self.own_addr()?;
        let mut config =
            LinkConfig::new(me, listen, peers, cluster.secret(), self.plan.fingerprint())
                .with_backend(match cluster.settings().link_backend {
                    LinkBackend::Auto => Backend::Auto,
                    LinkBackend::IoUring => Backend::IoUring,
                    LinkBackend::Mio => Backend::Mio,
                });
        if let Some(dir) = &cluster.settings().shm_dir {
            config.shm_dir = dir.clone();
        }
        // Frames must hold at least two of the largest records a ring
        // carries (half a ring), with room for their headers.
        config.max_frame = cluster
            .settings()
            .max_frame
            .unwrap_or_else(|| LinkConfig::DEFAULT_MAX_FRAME.max(2 * self.config.ring_bytes));
        Ok(config)
    }

    /// This node's listen address; a hostname that does not resolve yet
    /// (its DNS record appears a little after the pod) is retried until
    /// the connect timeout or a stop.
    fn own_addr(&self) -> Result<SocketAddr, ClusterError> {
        let cluster = self.plan.cluster();
        let me = self.plan.node();
        let deadline = Instant::now() + self.connect_timeout;
        let mut logged = false;
        loop {
            match cluster.addr(me) {
                Ok(addr) => return Ok(addr),
                Err(e @ ClusterError::Resolve { .. })
                    // SYNC: Relaxed: the stop flag carries no data.
                    if Instant::now() < deadline
                        && !self.stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed)) =>
                {
                    if !logged {
                        tracing::info!(node = me, "{e}; retrying");
                        logged = true;
                    }
                    thread::sleep(Duration::from_millis(250));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Starts the link, waits until every peer is connected, then starts
    /// the workers.
    pub fn submit(mut self) -> Result<RunningTopology, RunError> {
        self.plan.join_checkpoints()?;
        let plan = Arc::clone(&self.plan.plan);
        let checkpointing = plan.topology.checkpointing.clone();
        let watch = checkpointing.clone();
        let link_config = self.link_config()?;
        let timeout = self.connect_timeout;
        let stop = self.stop.clone();
        let route_plan = Arc::clone(&plan);
        let mut start = move |rings: LinkRings| -> Result<Link, RunError> {
            let route = Box::new(EngineRoute::new(Arc::clone(&route_plan)));
            let link = Link::start(link_config.clone(), rings, route)?;
            tracing::info!(
                node = link_config.node,
                listen = %link_config.listen,
                backend = %link.backend(),
                "link started; waiting for {} peer(s)",
                link_config.peers.len()
            );
            if let Err(e) = wait_for_peers(&link, timeout, stop.as_deref()) {
                link.stop();
                return Err(e);
            }
            tracing::info!(node = link_config.node, "all peers connected");
            if let Some(c) = &watch {
                if let Err(e) = c.connected(link.stats_handle()) {
                    link.stop();
                    return Err(e.into());
                }
            }
            Ok(link)
        };
        // Nodes sharing a host pin their workers to different cores: after
        // the threads of the lower-id nodes on the same host.
        let me = self.plan.node();
        let cluster = self.plan.cluster();
        let first_core = cluster
            .nodes()
            .iter()
            .filter(|n| n.id < me && cluster.same_host(me, n.id))
            .map(|n| n.threads)
            .sum();
        let has_spouts = (0..plan.threads).any(|t| {
            plan.thread_tasks(t)
                .any(|id| plan.component_of(id).is_some_and(Component::is_spout))
        });
        let coordinator = coordinator(self.config.duration, has_spouts, checkpointing);
        let running = launch(
            plan,
            &self.config,
            first_core,
            Some(&mut start),
            coordinator,
        )?;
        if let Some(link) = running.link_stats_handle() {
            running
                .metrics_handle()
                .register(Arc::new(LinkMetrics(link)));
        }
        Ok(running)
    }
}

/// The link's per-peer counters as metrics samples.
struct LinkMetrics(gale_transport::link::LinkStatsHandle);

impl MetricSource for LinkMetrics {
    fn collect(&self, out: &mut Vec<Sample>) {
        let stats = self.0.stats();
        out.push(Sample {
            name: "gale_link_wakeups_total".to_owned(),
            help: "Times a worker woke the sleeping link I/O thread (its doorbell)".to_owned(),
            kind: SampleKind::Counter,
            labels: vec![("backend".to_owned(), stats.backend.to_string())],
            value: stats.wakeups as f64,
        });
        for p in &stats.peers {
            let labels = vec![
                ("peer".to_owned(), p.id.to_string()),
                ("backend".to_owned(), stats.backend.to_string()),
                (
                    "transport".to_owned(),
                    if p.shm { "shm" } else { "tcp" }.to_owned(),
                ),
            ];
            let mut push = |name: &str, help: &str, kind: SampleKind, value: u64| {
                out.push(Sample {
                    name: name.to_owned(),
                    help: help.to_owned(),
                    kind,
                    labels: labels.clone(),
                    value: value as f64,
                });
            };
            let up = u64::from(p.state == PeerState::Up);
            push(
                "gale_link_up",
                "Whether the link to the peer node is up",
                SampleKind::Gauge,
                up,
            );
            for (name, help, value) in [
                (
                    "gale_link_bytes_in_total",
                    "Bytes received from the peer node",
                    p.bytes_in,
                ),
                (
                    "gale_link_bytes_out_total",
                    "Bytes sent to the peer node",
                    p.bytes_out,
                ),
                (
                    "gale_link_records_in_total",
                    "Records received from the peer node",
                    p.records_in,
                ),
                (
                    "gale_link_records_out_total",
                    "Records sent to the peer node",
                    p.records_out,
                ),
                (
                    "gale_link_reconnects_total",
                    "Times the link to the peer was re-established",
                    p.reconnects,
                ),
                (
                    "gale_link_dropped_total",
                    "Records for the peer dropped while it was down",
                    p.dropped,
                ),
                (
                    "gale_link_refused_total",
                    "Connections from the peer refused (handshake or bad input)",
                    p.refused,
                ),
            ] {
                push(name, help, SampleKind::Counter, value);
            }
        }
    }
}

/// Waits until every peer of `link` is up, logging the missing ones every
/// few seconds.
fn wait_for_peers(
    link: &Link,
    timeout: Duration,
    stop: Option<&AtomicBool>,
) -> Result<(), RunError> {
    const LOG_EVERY: Duration = Duration::from_secs(5);
    /// How often the stop flag is looked at.
    const STOP_POLL: Duration = Duration::from_millis(100);
    let begun = Instant::now();
    let mut logged = Instant::now();
    loop {
        let left = timeout.saturating_sub(begun.elapsed());
        if link.wait_connected(left.min(STOP_POLL)) {
            return Ok(());
        }
        let missing = || -> Vec<u32> {
            link.stats()
                .peers
                .iter()
                .filter(|p| p.state != PeerState::Up)
                .map(|p| p.id)
                .collect()
        };
        // SYNC: Relaxed: the flag carries no data.
        if stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
            return Err(RunError::StoppedWhileConnecting { missing: missing() });
        }
        if begun.elapsed() < timeout && logged.elapsed() < LOG_EVERY {
            continue;
        }
        logged = Instant::now();
        let missing = missing();
        if begun.elapsed() >= timeout {
            return Err(RunError::NotConnected {
                missing,
                waited: timeout,
            });
        }
        tracing::info!(?missing, "still waiting for peers");
    }
}

/// How a node stops once asked to (or its duration is up): spouts are
/// deactivated, then it waits until its counters stay still for `QUIET`
/// (what was in flight locally is done), at most `DRAIN_MAX` (peers may
/// keep sending).
const QUIET: Duration = Duration::from_millis(300);
const DRAIN_MAX: Duration = Duration::from_secs(5);

/// The [`Coordinator`] of one node of a multi-node topology: see
/// [`coordinate`].
fn coordinator(
    duration: Option<Duration>,
    has_spouts: bool,
    checkpointing: Option<Arc<Checkpointing>>,
) -> Coordinator {
    Box::new(move |shared, workers, start, link| {
        let checkpoints = checkpointing.as_deref();
        coordinate(
            shared,
            workers,
            start,
            duration,
            has_spouts,
            link,
            checkpoints,
        );
    })
}

/// With checkpoints across nodes, what a node does when its link is no
/// longer whole: a lost (or remade) connection stops it with an error
/// (tuples in flight on it are gone: every node must roll back to the
/// last complete checkpoint); a peer that stopped cleanly makes it drain
/// and stop too (no checkpoint can complete without the peer). Returns
/// whether the run failed.
fn watch_checkpoints(shared: &Shared, checkpointing: Option<&Checkpointing>) -> bool {
    match checkpointing.and_then(Checkpointing::link_health) {
        Some(LinkHealth::Broken(peers)) => {
            shared.fail(TaskError {
                component: "checkpoints".to_owned(),
                task: 0,
                message: format!(
                    "stopped: the connection to node(s) {peers:?} was lost, with the tuples in \
                     flight on it; the state rolls back to the last checkpoint every node saved: \
                     restart every node of the cluster"
                ),
            });
            true
        }
        Some(LinkHealth::Left(peers)) if !shared.draining() => {
            tracing::info!(
                ?peers,
                "peer node(s) stopped: with checkpoints across nodes, this node stops too"
            );
            // SYNC: Release pairs with the Acquire load in `Shared::draining`.
            shared.drain.store(true, Ordering::Release);
            false
        }
        _ => false,
    }
}

/// The coordinator of one node of a multi-node topology: there is no
/// global view of what is in flight, so the node runs until its duration
/// is up or it is stopped, then drains its own work. It logs once when all
/// of its spouts have finished (and, with acking, all their trees
/// completed).
fn coordinate(
    shared: &Shared,
    workers: Vec<JoinHandle<()>>,
    start: Instant,
    duration: Option<Duration>,
    has_spouts: bool,
    link: Option<&LinkStatsHandle>,
    checkpoints: Option<&Checkpointing>,
) {
    let mut backoff = Backoff::new(Duration::from_millis(1), start, duration);
    let mut logged = !has_spouts;
    let mut last = (0, 0);
    let mut still_since = Instant::now();
    let mut drain_start: Option<Instant> = None;
    loop {
        backoff.sleep(shared.draining());
        if shared.should_stop() {
            break;
        }
        // The link's I/O thread is an engine thread too: without it the
        // node runs on cut off from its peers.
        if let Some(message) = link.and_then(|l| l.panicked()) {
            shared.fail(TaskError {
                component: "the link's I/O thread".to_owned(),
                task: 0,
                message,
            });
            break;
        }
        if watch_checkpoints(shared, checkpoints) {
            break;
        }
        if duration.is_some_and(|d| start.elapsed() >= d) {
            // SYNC: Release pairs with the Acquire load in `Shared::draining`.
            shared.drain.store(true, Ordering::Release);
        }
        let (mut sent, mut processed, mut all_done) = (0, 0, true);
        for w in &shared.workers {
            let progress = w.snapshot();
            sent += progress.sent;
            processed += progress.processed;
            all_done &= progress.spouts_done;
        }
        if !logged && all_done && !shared.draining() {
            logged = true;
            tracing::info!(
                emitted = sent,
                "all spouts of this node finished and their tuple trees completed"
            );
        }
        if (sent, processed) != last {
            last = (sent, processed);
            still_since = Instant::now();
        }
        if shared.draining() {
            let began = *drain_start.get_or_insert_with(Instant::now);
            if still_since.elapsed() >= QUIET || began.elapsed() >= DRAIN_MAX {
                // SYNC: Release pairs with the Acquire load in `should_stop`.
                shared.stop.store(true, Ordering::Release);
                break;
            }
        }
    }
    for w in workers {
        let _ = w.join();
    }
}
