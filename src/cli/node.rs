//! `gale node` and `gale plan`: one topology over several nodes, from a
//! cluster file. The same two subcommands are offered to users' own
//! binaries by [`run`](super::run).

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use gale_engine::cluster::{ClusterFile, ClusterPlan, NodeId};
use gale_engine::{NodeCluster, SpoutHandoff, Topology};
use gale_transport::link::LinkStats;
use serde_json::json;

use super::engine_args::EngineArgs;
use super::error::CliError;
use super::execute::print_counts;
use super::file::reject_builtin_flags;
use super::parse::{parse_micros, parse_rate, parse_secs, parse_topology};
use super::rebalance::NodeLoop;
use super::report::{Report, Shape};
use super::signals::StopSignals;
use super::topology_args::TopologyArgs;
use crate::builtin::{self, Built, BuiltinOptions, CountSink};

/// Options of one node: `gale node`, and the `node` subcommand of a user
/// binary.
#[derive(Args, Debug, Clone)]
#[command(after_help = "\
Every node prints the plan and its fingerprint first, then waits until all \
of its peers are connected before its spouts start. It runs until --duration \
is up or it gets SIGTERM or SIGINT, then drains what it has in flight (a \
second signal ends it at once) and prints its report (its own tasks' counters; with a finite wordcount, first \
the counts of its own count tasks, one `word<TAB>count` line per word). Exit code: 0 after --duration or `gale \
kill`, 130/143 after SIGINT/SIGTERM, 3 if it lost a peer. `gale rebalance` restarts its topology in-process \
with new task counts (see docs/operations.md).")]
pub struct NodeOptions {
    /// The cluster file (TOML): nodes, secret, settings.
    #[arg(long, value_name = "FILE")]
    pub cluster: PathBuf,
    /// This node's id in the cluster file.
    #[arg(long, value_name = "ID")]
    pub node: NodeId,
    /// Stop after SECS seconds [default: run until SIGTERM or SIGINT].
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub duration: Option<Duration>,
    /// Fail if the peers are not all connected within SECS seconds.
    #[arg(long, value_name = "SECS", value_parser = parse_secs, default_value = "120")]
    pub connect_timeout: Duration,
    /// Do not pin worker threads to cores.
    #[arg(long)]
    pub no_pin: bool,
    /// Busy-spin while idle instead of spin-yield-park.
    #[arg(long)]
    pub busy_spin: bool,
    /// Print one JSON object with this node's id, the fingerprint, its
    /// tasks' counters and its link's per-peer counters on stdout.
    #[arg(long)]
    pub json: bool,
    /// Serve live metrics over HTTP on ADDR [default: the cluster file's
    /// `metrics_port` on this node's listen host, if set; else off].
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<String>,
    /// Require `Authorization: Bearer TOKEN` on every metrics request, the
    /// token read from FILE (private to its owner: mode 600).
    #[arg(long, value_name = "FILE")]
    pub metrics_token_file: Option<PathBuf>,
    /// Fraction of executes whose latency is measured (Storm's stats
    /// sample rate).
    #[arg(long, value_name = "RATE", default_value_t = 0.05, value_parser = parse_rate)]
    pub sample_rate: f64,
    /// Latency samples of a worker thread fall at least this many
    /// microseconds apart on average: a bolt whose executes take
    /// nanoseconds is sampled less often than the sample rate says, so
    /// that timing stays under about 1 % of its thread's time (0: sample
    /// at the rate whatever it costs).
    #[arg(long = "min-sample-interval-us", value_name = "MICROS", default_value = "10", value_parser = parse_micros)]
    pub min_sample_interval: Duration,
    /// Turn live metrics off (totals are still reported).
    #[arg(long)]
    pub no_metrics: bool,
}

impl NodeOptions {
    /// Where this node serves its metrics: `--metrics-addr`, else the
    /// cluster file's `metrics_port` on the host of the node's `listen`.
    fn metrics_addr(&self, cluster: &ClusterFile) -> Result<Option<String>, CliError> {
        if let Some(addr) = &self.metrics_addr {
            return Ok(Some(addr.clone()));
        }
        let Some(port) = cluster.settings().metrics_port else {
            return Ok(None);
        };
        let spec = cluster.node(self.node)?;
        let host = spec
            .listen
            .rsplit_once(':')
            .map_or(spec.listen.as_str(), |(host, _)| host);
        Ok(Some(format!("{host}:{port}")))
    }
}

/// Options of `gale node`.
#[derive(Args, Debug)]
pub struct NodeArgs {
    /// The topology: a built-in name (`gale list`) or a topology file
    /// (`.yaml`/`.yml`).
    #[arg(value_name = "TOPOLOGY", value_parser = parse_topology)]
    pub name: String,
    /// The topology's options (they must be the same on every node: they
    /// are part of the fingerprint).
    #[command(flatten)]
    pub topology: TopologyArgs,
    /// The node's options.
    #[command(flatten)]
    pub node: NodeOptions,
}

/// Options of `gale plan`.
#[derive(Args, Debug)]
pub struct PlanArgs {
    /// The topology: a built-in name (`gale list`) or a topology file
    /// (`.yaml`/`.yml`).
    #[arg(value_name = "TOPOLOGY", value_parser = parse_topology)]
    pub name: String,
    /// The cluster file (TOML).
    #[arg(long, value_name = "FILE")]
    pub cluster: PathBuf,
    /// The topology's options, as they will be given to `gale node`.
    #[command(flatten)]
    pub topology: TopologyArgs,
}

/// Turns a built-in topology's name into a topology.
pub fn resolve_topology(name: &str, opts: &BuiltinOptions) -> Result<Built, CliError> {
    Ok(builtin::build(name, opts)?)
}

/// A topology argument as planned over `cluster`: a topology file (its
/// whole text goes into the fingerprint, shell commands included), or a
/// built-in whose bolts scale with the cluster's total thread count (its
/// options go into the fingerprint).
fn topology_for_cluster(
    name: &str,
    args: &TopologyArgs,
    cluster: &ClusterFile,
) -> Result<(Built, Vec<u8>), CliError> {
    if crate::topofile::is_topology_file(name) {
        reject_builtin_flags(args)?;
        let options = super::file::options(args);
        let mut loaded = super::file::load(std::path::Path::new(name), &options)?;
        if args.even_shuffle {
            loaded.topology.set_load_aware(false);
        }
        let mut extra = file_fingerprint_extra(name, &loaded.resolved)?;
        if !options.state.is_empty() {
            extra.extend(format!(" state {:?}", options.state).into_bytes());
        }
        return Ok((loaded.into(), extra));
    }
    super::file::reject_file_flags(args)?;
    let threads = cluster.nodes().iter().map(|n| n.threads).sum();
    let opts = args.options(threads);
    let built = resolve_topology(name, &opts)?;
    let extra = format!("builtin {name} {opts:?}").into_bytes();
    Ok((built, extra))
}

pub(super) fn run_builtin_node(args: &NodeArgs) -> Result<(), CliError> {
    let cluster = ClusterFile::load(&args.node.cluster)?;
    let (built, extra) = topology_for_cluster(&args.name, &args.topology, &cluster)?;
    let counts = built.counts.filter(|_| built.finite);
    run_node(
        built.topology,
        &cluster,
        &extra,
        &args.node,
        counts.as_ref(),
    )
}

pub(super) fn plan_builtin(args: &PlanArgs) -> Result<(), CliError> {
    let cluster = ClusterFile::load(&args.cluster)?;
    let (built, extra) = topology_for_cluster(&args.name, &args.topology, &cluster)?;
    print_plan(built.topology, &cluster, &extra)
}

/// `plan` for a user's topology.
pub(super) fn plan_user(topology: Topology, cluster: &std::path::Path) -> Result<(), CliError> {
    let cluster = ClusterFile::load(cluster)?;
    print_plan(topology, &cluster, USER_EXTRA)
}

/// `node` for a user's topology.
pub(super) fn run_user_node(topology: Topology, opts: &NodeOptions) -> Result<(), CliError> {
    let cluster = ClusterFile::load(&opts.cluster)?;
    run_node(topology, &cluster, USER_EXTRA, opts, None)
}

/// What a topology file adds to the fingerprint: its own text (shell
/// commands included) and the document as resolved (included files
/// merged, properties substituted), so two nodes whose included files,
/// `--filter` properties or environment differ refuse to link.
fn file_fingerprint_extra(name: &str, resolved: &str) -> Result<Vec<u8>, CliError> {
    let mut extra = b"file ".to_vec();
    extra.extend(std::fs::read(name)?);
    extra.extend(b" resolved ");
    extra.extend(resolved.as_bytes());
    Ok(extra)
}

/// What a user binary adds to the fingerprint (its topology is described
/// by the plan itself).
const USER_EXTRA: &[u8] = b"user";

fn print_plan(topology: Topology, cluster: &ClusterFile, extra: &[u8]) -> Result<(), CliError> {
    let first = cluster.nodes().first().map_or(0, |n| n.id);
    let plan = ClusterPlan::new(topology, cluster, first, extra)?;
    let mut out = io::stdout().lock();
    write!(out, "{plan}")?;
    out.flush()?;
    Ok(())
}

/// Runs node `opts.node` of `topology` until its duration is up or a
/// signal stops it, then prints its counts (if any), report and link.
fn run_node(
    topology: Topology,
    cluster: &ClusterFile,
    extra: &[u8],
    opts: &NodeOptions,
    counts: Option<&CountSink>,
) -> Result<(), CliError> {
    let base = topology.clone();
    let plan = joined(ClusterPlan::new(topology, cluster, opts.node, extra)?)?;
    let _ = write!(std::io::stderr().lock(), "{plan}");
    let fingerprint = plan.fingerprint_hex();
    tracing::info!(node = opts.node, fingerprint, "starting node");
    let engine = EngineArgs {
        threads: 0,
        pin: !opts.no_pin,
        no_pin: opts.no_pin,
        busy_spin: opts.busy_spin,
        json: opts.json,
        metrics_addr: opts.metrics_addr(cluster)?,
        metrics_token_file: opts.metrics_token_file.clone(),
        sample_rate: opts.sample_rate,
        min_sample_interval: opts.min_sample_interval,
        no_metrics: opts.no_metrics,
        no_chain: false,
    };
    // Bound before the node starts, so a bad address costs no run.
    let server = engine.start_metrics()?;
    // Signals are caught from here on, so one that arrives while the node
    // waits for its peers stops it cleanly too.
    let signals = StopSignals::register()?;
    let stop = signals.flag();
    let mut config = engine.run_config(opts.duration);
    config.metrics.node = format!("node-{}", opts.node);
    let handoff = SpoutHandoff::new();
    config.handoff = Some(handoff.clone());
    let mut start = |plan: ClusterPlan, inactive: bool| {
        let mut config = config.clone();
        config.start_inactive = inactive;
        NodeCluster::new(plan, config)
            .with_connect_timeout(opts.connect_timeout)
            .with_stop_flag(Arc::clone(&stop))
            .submit()
    };
    let running = start(plan, false)?;
    if let Some(server) = &server {
        server.add(running.metrics_handle());
        server.add_control(running.control_handle());
        let peers = super::cluster_ctl::endpoints(cluster)
            .map(|all| all.into_iter().filter(|(id, _)| *id != opts.node).collect())
            .unwrap_or_default();
        server.set_control(crate::monitor::control::ControlConfig {
            node: opts.node,
            secret: cluster.secret().to_vec(),
            peers,
        });
        tracing::info!(node = opts.node, url = %server.url(), "serving metrics");
    }
    tracing::info!(node = opts.node, "node running");
    let node_loop = NodeLoop {
        node: opts.node,
        cluster,
        extra,
        server: server.as_ref(),
        handoff,
        counts,
    };
    let (running, topology) = node_loop.run(running, base, &stop, &mut start)?;
    let shape = Shape::of(&topology);
    let link = running.link_stats();
    let stats = running.wait()?;
    if let Some(link) = &link {
        log_link(link);
    }
    if let Some(counts) = counts {
        print_counts(counts)?;
    }
    let report = Report::new(&shape, &stats);
    report.write_text(&mut io::stderr().lock())?;
    if opts.json {
        let mut j = report.to_json();
        j["node"] = json!(opts.node);
        j["fingerprint"] = json!(fingerprint);
        if let Some(link) = &link {
            j["link"] = link_json(link);
        }
        let mut out = io::stdout().lock();
        writeln!(out, "{j}")?;
        out.flush()?;
    }
    tracing::info!(node = opts.node, "node stopped");
    let lost: Vec<NodeId> = link
        .iter()
        .flat_map(|l| &l.peers)
        .filter(|p| p.lost > 0)
        .map(|p| p.id)
        .collect();
    if !lost.is_empty() {
        return Err(CliError::PeerLost {
            node: opts.node,
            peers: lost,
        });
    }
    stopped_by(&signals)
}

/// A node stopped by SIGINT or SIGTERM ends as `gale run` does: exit
/// 130 or 143, after its report.
fn stopped_by(signals: &StopSignals) -> Result<(), CliError> {
    match signals.caught() {
        Some(signal) => Err(CliError::Stopped(signal)),
        None => Ok(()),
    }
}

/// `plan` with its checkpoints joined (if the topology checkpoints), so
/// that the fingerprint printed is the one the link presents.
fn joined(mut plan: ClusterPlan) -> Result<ClusterPlan, CliError> {
    plan.join_checkpoints()
        .map_err(gale_engine::RunError::from)?;
    Ok(plan)
}

fn log_link(link: &LinkStats) {
    for p in &link.peers {
        tracing::info!(
            peer = p.id,
            state = ?p.state,
            bytes_in = p.bytes_in,
            bytes_out = p.bytes_out,
            records_in = p.records_in,
            records_out = p.records_out,
            reconnects = p.reconnects,
            dropped = p.dropped,
            refused = p.refused,
            lost = p.lost,
            shm = p.shm,
            "link to peer"
        );
    }
}

fn link_json(link: &LinkStats) -> serde_json::Value {
    let peers: Vec<_> = link
        .peers
        .iter()
        .map(|p| {
            json!({
                "id": p.id,
                "state": format!("{:?}", p.state),
                "bytes_in": p.bytes_in,
                "bytes_out": p.bytes_out,
                "records_in": p.records_in,
                "records_out": p.records_out,
                "reconnects": p.reconnects,
                "dropped": p.dropped,
                "refused": p.refused,
                "lost": p.lost,
                "shm": p.shm,
            })
        })
        .collect();
    json!({
        "backend": link.backend.to_string(),
        "peers": peers,
        "rejected_connections": link.rejected_connections,
    })
}
