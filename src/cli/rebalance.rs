//! `gale rebalance --cluster FILE [-e COMPONENT=N]... [--wait SECS]`: a
//! component's task count changes while the nodes keep running (Storm's
//! `rebalance`), and the node side of it: a `gale node` stops its
//! topology, plans it again and starts it in-process when the control
//! channel asks ([`crate::monitor::rebalance`]).

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use clap::Args;
use gale_engine::cluster::{ClusterFile, ClusterPlan, NodeId};

use gale_engine::{RunError, RunningTopology, SpoutHandoff, Topology};
use serde_json::{json, Value as Json};

use super::cluster_ctl::cluster_status;
use super::error::CliError;
use super::parse::parse_secs;
use super::report::{Report, Shape};
use crate::builtin::CountSink;
use crate::monitor::control;
use crate::monitor::rebalance::{format_changes, Rebalancer};
use crate::monitor::MetricsServer;

/// How long `gale rebalance` waits for the node running it, beyond the
/// wait: every node stops, restarts and reconnects.
const SWITCH_SLACK: Duration = Duration::from_secs(240);

/// Options of `gale rebalance`.
#[derive(Args, Debug)]
#[command(after_help = "\
Every node: status REBALANCING, spouts deactivated; then up to --wait for \
the tuple trees in flight to complete; then each node stops its topology \
(trees still pending are failed at their spout, to be replayed), plans it \
again with the new task counts (every node computes the same plan and \
fingerprint), starts it on the same addresses, waits for its peers and \
activates. A topology that takes checkpoints switches on one: its spouts \
pause after a last barrier, every node restores that checkpoint, and a \
resized stateful bolt's entries go to the tasks its fields grouping routes \
their keys to; other in-memory bolt state is lost (see docs/operations.md). \
A node that does not answer fails the rebalance before anything changes.")]
pub struct RebalanceArgs {
    /// The cluster file (TOML): its nodes, secret and `metrics_port`.
    #[arg(long, value_name = "FILE")]
    pub cluster: PathBuf,
    /// The topology's name [default: the one the cluster runs].
    #[arg(value_name = "TOPOLOGY")]
    pub topology: Option<String>,
    /// New task count of a component (repeatable).
    #[arg(short = 'e', long = "executors", value_name = "COMPONENT=N", value_parser = parse_change)]
    pub changes: Vec<(String, usize)>,
    /// Send `Authorization: Bearer TOKEN` with status requests, the token
    /// read from FILE (nodes started with `--metrics-token-file`).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Seconds to wait for the trees in flight to complete before
    /// switching [default: the cluster file's message timeout, else 30].
    #[arg(long, short = 'w', value_name = "SECS", value_parser = parse_secs)]
    pub wait: Option<Duration>,
}

/// `COMPONENT=N` with N ≥ 1.
fn parse_change(text: &str) -> Result<(String, usize), String> {
    match crate::monitor::rebalance::parse_change(text)? {
        (name, 0) => Err(format!(
            "`{text}`: component `{name}` needs at least 1 task"
        )),
        change => Ok(change),
    }
}

/// Rebalances topology `name` (default: the one the cluster runs) on
/// `cluster`: `changes` are `(component, tasks)`; trees in flight get up
/// to `wait` to complete. Returns the answer of the node that ran it
/// (per node: trees failed for replay, the new task count). `token`: as
/// [`cluster_status`].
pub fn rebalance(
    cluster: &ClusterFile,
    name: Option<&str>,
    changes: &[(String, usize)],
    wait: Duration,
    token: Option<&str>,
) -> Result<Json, CliError> {
    let statuses = cluster_status(cluster, token)?;
    let down: Vec<String> = statuses
        .iter()
        .filter_map(|s| {
            s.status
                .as_ref()
                .err()
                .map(|e| format!("node {} ({}): {e}", s.node, s.endpoint))
        })
        .collect();
    if !down.is_empty() {
        return Err(CliError::Control(format!(
            "rebalance not started: node(s) down: {}",
            down.join("; ")
        )));
    }
    let Some(first) = statuses.first() else {
        return Err(CliError::Control("the cluster file names no node".into()));
    };
    let Ok(doc) = &first.status else {
        return Err(CliError::Control("no node answered".into()));
    };
    let topology = match name {
        Some(n) => n.to_owned(),
        None => doc["topologies"][0]["name"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| CliError::Control("the cluster runs no topology".into()))?,
    };
    let wait_secs = wait.as_secs_f64().ceil() as u64;
    let path = format!(
        "/api/v1/topology/{topology}/rebalance/{wait_secs}/{}",
        format_changes(changes)
    );
    let (code, answer) = control::send(
        &first.endpoint,
        cluster.secret(),
        &path,
        wait + SWITCH_SLACK,
    )
    .map_err(|e| CliError::Control(e.to_string()))?;
    if code != 200 {
        let why = answer["errorMessage"]
            .as_str()
            .map_or_else(|| answer.to_string(), str::to_owned);
        return Err(CliError::Control(format!(
            "rebalance of `{topology}` failed ({code}): {why}"
        )));
    }
    Ok(answer)
}

/// `gale rebalance`.
pub(super) fn command(args: &RebalanceArgs) -> Result<(), CliError> {
    let cluster = ClusterFile::load(&args.cluster)?;
    let wait = args
        .wait
        .or(cluster.settings().message_timeout())
        .unwrap_or(Duration::from_secs(30));
    let token = super::cluster_ctl::read_token(args.token_file.as_deref())?;
    let answer = rebalance(
        &cluster,
        args.topology.as_deref(),
        &args.changes,
        wait,
        token.as_deref(),
    )?;
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "rebalance {}: {}; {} tree(s) completed while draining",
        answer["topology"].as_str().unwrap_or("?"),
        if answer["drained"] == true {
            "drained"
        } else {
            "the wait ran out with trees in flight"
        },
        answer["completed_while_draining"].as_u64().unwrap_or(0)
    )?;
    if let Some(n) = answer["checkpoint"].as_u64() {
        writeln!(
            out,
            "state: every node restored checkpoint {n}, taken at the switch"
        )?;
    }
    if let Some(nodes) = answer["nodes"].as_object() {
        for (node, doc) in nodes {
            writeln!(
                out,
                "node {node}: {} tasks, {} tree(s) failed and replayed, fingerprint {}",
                doc["tasks"].as_u64().unwrap_or(0),
                doc["failed_replayed"].as_u64().unwrap_or(0),
                doc["fingerprint"].as_str().unwrap_or("?"),
            )?;
        }
    }
    Ok(())
}

/// A switch asked by the control channel, and where its answer goes.
type SwitchRequest = (Vec<(String, usize)>, bool, Sender<Result<Json, String>>);

/// The [`Rebalancer`] of a `gale node`: checks against its current
/// topology, and hands switches to the node's main loop.
struct NodeRebalancer {
    topology: Arc<Mutex<Topology>>,
    requests: Mutex<Sender<SwitchRequest>>,
}

impl Rebalancer for NodeRebalancer {
    fn check(&self, changes: &[(String, usize)]) -> Result<(), String> {
        let topology = self.topology.lock().unwrap_or_else(PoisonError::into_inner);
        topology
            .rebalanced(changes)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn switch(&self, changes: &[(String, usize)], inactive: bool) -> Result<Json, String> {
        self.check(changes)?;
        let (reply, answer) = mpsc::channel();
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .send((changes.to_vec(), inactive, reply))
            .map_err(|_| "the node is stopping".to_owned())?;
        answer
            .recv()
            .unwrap_or_else(|_| Err("the node stopped during the rebalance".to_owned()))
    }

    fn checkpointing(&self) -> Option<Arc<gale_engine::state::Checkpointing>> {
        let topology = self.topology.lock().unwrap_or_else(PoisonError::into_inner);
        topology.checkpointing().cloned()
    }
}

/// What a node's main loop needs to restart its topology.
pub(super) struct NodeLoop<'a> {
    /// This node.
    pub node: NodeId,
    /// The cluster file.
    pub cluster: &'a ClusterFile,
    /// What the fingerprint covers besides the plan.
    pub extra: &'a [u8],
    /// The node's endpoint (none: no control channel, no rebalance).
    pub server: Option<&'a MetricsServer>,
    /// Spouts carried from one run to the next (the run config's).
    pub handoff: SpoutHandoff,
    /// The counts a built-in word count publishes at its end: a
    /// checkpointed one's are emptied at a switch (its state carries them
    /// into the next run, which publishes them again).
    pub counts: Option<&'a CountSink>,
}

impl NodeLoop<'_> {
    /// Runs until `running` finishes, stopping it when `stop` is set and
    /// switching to a rebalanced plan whenever the control channel asks;
    /// `start` starts a plan (deactivated if told so). Returns the last run
    /// and its topology.
    pub(super) fn run(
        &self,
        mut running: RunningTopology,
        topology: Topology,
        stop: &AtomicBool,
        start: &mut dyn FnMut(ClusterPlan, bool) -> Result<RunningTopology, RunError>,
    ) -> Result<(RunningTopology, Topology), CliError> {
        let current = Arc::new(Mutex::new(topology));
        let (tx, requests): (_, Receiver<SwitchRequest>) = mpsc::channel();
        if let Some(server) = self.server {
            server.set_rebalancer(Arc::new(NodeRebalancer {
                topology: Arc::clone(&current),
                requests: Mutex::new(tx),
            }));
        }
        let mut stopping = false;
        while !running.is_finished() {
            // SYNC: Relaxed: the flag carries no data; the handle's stop()
            // publishes what matters.
            if !stopping && stop.load(Ordering::Relaxed) {
                tracing::info!(node = self.node, "signal received: draining and stopping");
                running.stop();
                stopping = true;
            }
            if !stopping {
                if let Ok((changes, inactive, reply)) = requests.try_recv() {
                    let topology = current
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .clone();
                    match self.switch(running, &topology, (&changes, inactive), start) {
                        Ok((next, rebalanced, doc)) => {
                            running = next;
                            *current.lock().unwrap_or_else(PoisonError::into_inner) = rebalanced;
                            let _ = reply.send(Ok(doc));
                        }
                        Err(e) => {
                            let _ = reply.send(Err(e.to_string()));
                            return Err(e);
                        }
                    }
                    continue;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let topology = current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        Ok((running, topology))
    }

    /// Stops `running` (its spouts parked, their pending trees failed for
    /// replay), prints its report, starts `topology` with `changes`
    /// (deactivated if `inactive`).
    fn switch(
        &self,
        running: RunningTopology,
        topology: &Topology,
        (changes, inactive): (&[(String, usize)], bool),
        start: &mut dyn FnMut(ClusterPlan, bool) -> Result<RunningTopology, RunError>,
    ) -> Result<(RunningTopology, Topology, Json), CliError> {
        let rebalanced = topology
            .rebalanced(changes)
            .map_err(|e| CliError::Control(e.to_string()))?;
        let plan = ClusterPlan::new(rebalanced.clone(), self.cluster, self.node, self.extra)?;
        let fingerprint = plan.fingerprint_hex();
        tracing::info!(node = self.node, changes = %format_changes(changes), "rebalance: stopping the topology");
        // With checkpoints every spout reopens at its position in the
        // checkpoint switched on; without, spouts whose place is kept go on.
        let checkpointed = topology.checkpointing().is_some();
        if !checkpointed {
            self.handoff.arm();
        }
        running.stop();
        let stats = running.wait()?;
        if let (true, Some(counts)) = (checkpointed, self.counts) {
            counts.clear();
        }
        let failed = self.handoff.take_failed();
        {
            let mut err = io::stderr().lock();
            let _ = writeln!(err, "report of the run before the rebalance:");
            Report::new(&Shape::of(topology), &stats).write_text(&mut err)?;
            let _ = write!(err, "{plan}");
        }
        let tasks = plan.tasks().count();
        let next = start(plan, inactive)?;
        let closed = self.handoff.take_closed();
        if let Some(server) = self.server {
            server.replace(next.metrics_handle(), next.control_handle());
        }
        tracing::info!(
            node = self.node,
            fingerprint,
            tasks,
            failed_replayed = failed,
            spouts_reopened = closed,
            "rebalanced: topology running again"
        );
        let doc = json!({
            "tasks": tasks,
            "fingerprint": fingerprint,
            "failed_replayed": failed,
            "spouts_reopened": closed,
        });
        Ok((next, rebalanced, doc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_parse_with_clear_errors() {
        assert_eq!(parse_change("split=4"), Ok(("split".into(), 4)));
        assert!(parse_change("split=0").unwrap_err().contains("at least 1"));
        assert!(parse_change("split").unwrap_err().contains("COMPONENT=N"));
        assert!(parse_change("split=x")
            .unwrap_err()
            .contains("not a number"));
        assert!(parse_change("=2").unwrap_err().contains("no component"));
    }
}
