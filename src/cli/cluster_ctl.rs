//! `gale list --cluster`, `gale activate`, `gale deactivate` and `gale
//! kill`: a running cluster operated through its nodes' control channel
//! ([`crate::monitor::control`]), reached at the cluster file's
//! `metrics_port` on each node's host. Each is also a function here.

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use gale_engine::cluster::{ClusterFile, NodeId};
use serde_json::Value as Json;

use super::error::CliError;
use super::parse::parse_secs;
use crate::monitor::control::{self, Action};

/// How long a node gets to answer a status or control request.
const TIMEOUT: Duration = Duration::from_secs(2);

/// Options of `gale activate` and `gale deactivate`.
#[derive(Args, Debug)]
pub struct ControlArgs {
    /// The cluster file (TOML): its nodes, secret and `metrics_port`.
    #[arg(long, value_name = "FILE")]
    pub cluster: PathBuf,
    /// The topology's name [default: the one the cluster runs].
    #[arg(value_name = "TOPOLOGY")]
    pub topology: Option<String>,
    /// Send `Authorization: Bearer TOKEN` with status requests, the token
    /// read from FILE (nodes started with `--metrics-token-file`).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
}

impl ControlArgs {
    /// The bearer token of `--token-file`, if given.
    pub fn token(&self) -> Result<Option<String>, CliError> {
        read_token(self.token_file.as_deref())
    }
}

/// The token in `file` (private to its owner), if a file is given.
pub(super) fn read_token(file: Option<&std::path::Path>) -> Result<Option<String>, CliError> {
    Ok(match file {
        Some(f) => Some(gale_engine::cluster::read_private_file(f)?),
        None => None,
    })
}

/// Options of `gale kill`.
#[derive(Args, Debug)]
pub struct KillArgs {
    /// The cluster and topology.
    #[command(flatten)]
    pub target: ControlArgs,
    /// Seconds between deactivating and stopping [default: the cluster
    /// file's message timeout, else 30].
    #[arg(long, short = 'w', value_name = "SECS", value_parser = parse_secs)]
    pub wait: Option<Duration>,
}

/// One node as `gale list --cluster` shows it.
#[derive(Debug, Clone)]
pub struct NodeStatus {
    /// Its id.
    pub node: NodeId,
    /// Its endpoint (`host:port`).
    pub endpoint: String,
    /// Its topologies (`/api/v1/node/status`), or why it did not answer.
    pub status: Result<Json, String>,
}

/// The endpoint (`host:port`) of every node of `cluster`.
pub fn endpoints(cluster: &ClusterFile) -> Result<Vec<(NodeId, String)>, CliError> {
    let Some(port) = cluster.settings().metrics_port else {
        return Err(CliError::NoControl);
    };
    Ok(cluster
        .nodes()
        .iter()
        .map(|n| {
            let host = n
                .listen
                .rsplit_once(':')
                .map_or(n.listen.as_str(), |(host, _)| host);
            (n.id, format!("{host}:{port}"))
        })
        .collect())
}

/// Asks every node of `cluster` for its status (a node that does not
/// answer within 2 s is down), sending `token` as a bearer token if given.
pub fn cluster_status(
    cluster: &ClusterFile,
    token: Option<&str>,
) -> Result<Vec<NodeStatus>, CliError> {
    let nodes = endpoints(cluster)?;
    let asks: Vec<_> = nodes
        .into_iter()
        .map(|(node, endpoint)| {
            let token = token.map(str::to_owned);
            std::thread::spawn(move || {
                let status = control::node_status(&endpoint, TIMEOUT, token.as_deref())
                    .map_err(|e| e.to_string());
                NodeStatus {
                    node,
                    endpoint,
                    status,
                }
            })
        })
        .collect();
    Ok(asks.into_iter().filter_map(|a| a.join().ok()).collect())
}

/// Sends `action` on topology `name` (default: the one the first node
/// that answers runs) to the first node of `cluster` that answers, which
/// applies it and forwards it to every other node. Returns the topology
/// and each node's outcome (`ok` or why not). `token`: as
/// [`cluster_status`].
pub fn send_action(
    cluster: &ClusterFile,
    name: Option<&str>,
    action: Action,
    token: Option<&str>,
) -> Result<(String, Vec<(String, String)>), CliError> {
    let mut last = String::from("no node answered");
    for status in cluster_status(cluster, token)? {
        let doc = match status.status {
            Ok(doc) => doc,
            Err(e) => {
                last = format!("node {}: {e}", status.node);
                continue;
            }
        };
        let topology = match name {
            Some(n) => n.to_owned(),
            None => match doc["topologies"][0]["name"].as_str() {
                Some(n) => n.to_owned(),
                None => return Err(CliError::Control("the cluster runs no topology".into())),
            },
        };
        let path = format!("/api/v1/topology/{topology}/{}", action.path());
        let (code, answer) = control::send(&status.endpoint, cluster.secret(), &path, TIMEOUT)
            .map_err(|e| CliError::Control(e.to_string()))?;
        let Some(nodes) = answer["nodes"].as_object() else {
            let why = answer["errorMessage"].as_str().unwrap_or("?").to_owned();
            return Err(CliError::Control(format!(
                "node {} refused ({code}): {why}",
                status.node
            )));
        };
        let outcomes = nodes
            .iter()
            .map(|(n, v)| (n.clone(), v.as_str().unwrap_or("?").to_owned()))
            .collect();
        return Ok((topology, outcomes));
    }
    Err(CliError::Control(last))
}

/// `gale list --cluster FILE [--token-file FILE]`.
pub(super) fn list(
    cluster: &std::path::Path,
    token_file: Option<&std::path::Path>,
) -> Result<(), CliError> {
    let cluster = ClusterFile::load(cluster)?;
    let token = read_token(token_file)?;
    let statuses = cluster_status(&cluster, token.as_deref())?;
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "{:<6} {:<22} {:<11} {:<28} {:>9} {:>6} {:>8}  COMPONENTS",
        "NODE", "ENDPOINT", "STATUS", "TOPOLOGY", "UPTIME_S", "TASKS", "WORKERS"
    )?;
    let up = statuses.iter().filter(|s| s.status.is_ok()).count();
    for s in &statuses {
        match &s.status {
            Err(e) => writeln!(out, "{:<6} {:<22} {:<11} ({e})", s.node, s.endpoint, "DOWN")?,
            Ok(doc) => {
                let topologies = doc["topologies"].as_array().cloned().unwrap_or_default();
                if topologies.is_empty() {
                    writeln!(out, "{:<6} {:<22} {:<11}", s.node, s.endpoint, "UP")?;
                }
                for t in topologies {
                    // Task count per component: `spout=1 split=4 count=2`.
                    let components = t["components"].as_object().map_or_else(String::new, |m| {
                        m.iter()
                            .map(|(c, n)| format!("{c}={n}"))
                            .collect::<Vec<_>>()
                            .join(" ")
                    });
                    writeln!(
                        out,
                        "{:<6} {:<22} {:<11} {:<28} {:>9.1} {:>6} {:>8}  {}",
                        s.node,
                        s.endpoint,
                        t["status"].as_str().unwrap_or("?"),
                        t["name"].as_str().unwrap_or("?"),
                        t["uptime_s"].as_f64().unwrap_or(0.0),
                        t["tasks"].as_u64().unwrap_or(0),
                        t["workers"].as_u64().unwrap_or(0),
                        components,
                    )?;
                }
            }
        }
    }
    writeln!(out, "nodes up: {up}/{}", statuses.len())?;
    Ok(())
}

/// `gale activate` / `gale deactivate`.
pub(super) fn activate(args: &ControlArgs, active: bool) -> Result<(), CliError> {
    let cluster = ClusterFile::load(&args.cluster)?;
    let action = if active {
        Action::Activate
    } else {
        Action::Deactivate
    };
    let token = args.token()?;
    let (topology, outcomes) =
        send_action(&cluster, args.topology.as_deref(), action, token.as_deref())?;
    report(&topology, action, &outcomes)
}

/// `gale kill`: deactivate at once, stop (drain) after the wait, then wait
/// until every node has exited.
pub(super) fn kill(args: &KillArgs) -> Result<(), CliError> {
    let cluster = ClusterFile::load(&args.target.cluster)?;
    let wait = args
        .wait
        .or(cluster.settings().message_timeout())
        .unwrap_or(Duration::from_secs(30));
    let action = Action::Kill {
        wait_secs: wait.as_secs_f64().ceil() as u64,
    };
    let token = args.target.token()?;
    let (topology, outcomes) = send_action(
        &cluster,
        args.target.topology.as_deref(),
        action,
        token.as_deref(),
    )?;
    report(&topology, action, &outcomes)?;
    // The nodes drain and exit; their endpoints go with them.
    let deadline = Instant::now() + wait + Duration::from_secs(120);
    loop {
        let statuses = cluster_status(&cluster, token.as_deref())?;
        let running: Vec<NodeId> = statuses
            .iter()
            .filter(|s| s.status.is_ok())
            .map(|s| s.node)
            .collect();
        if running.is_empty() {
            writeln!(
                io::stdout().lock(),
                "every node of `{topology}` has stopped"
            )?;
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(CliError::Control(format!(
                "node(s) {running:?} still running after the wait and 120 s"
            )));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn report(topology: &str, action: Action, outcomes: &[(String, String)]) -> Result<(), CliError> {
    let mut out = io::stdout().lock();
    for (node, outcome) in outcomes {
        writeln!(out, "node {node}: {} {topology}: {outcome}", action.path())?;
    }
    let failed: Vec<&str> = outcomes
        .iter()
        .filter(|(_, o)| o != "ok")
        .map(|(n, _)| n.as_str())
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(CliError::Control(format!(
            "{} did not reach node(s) {failed:?}",
            action.path()
        )))
    }
}

/// `gale stats --cluster FILE`: a line per node (up, or DOWN and why),
/// then the topology's table summed over the nodes that answered.
pub(super) fn stats(
    cluster: &std::path::Path,
    token: Option<&str>,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let cluster = ClusterFile::load(cluster)?;
    let mut docs = Vec::new();
    for (node, endpoint) in endpoints(&cluster)? {
        let base = format!("http://{endpoint}");
        let doc = super::stats::fetch(&format!("{base}/api/v1/topology/summary"), token).and_then(
            |summary| {
                let id = summary["topologies"][0]["id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                super::stats::fetch(
                    &format!(
                        "{base}/api/v1/topology/{}",
                        crate::monitor::http::percent_encode(&id)
                    ),
                    token,
                )
            },
        );
        match doc {
            Ok(doc) => {
                writeln!(
                    out,
                    "node {node} {endpoint}: {} up {} s",
                    doc["status"].as_str().unwrap_or("?"),
                    doc["uptime"].as_f64().map_or(0, |s| s as u64)
                )?;
                docs.push(doc);
            }
            Err(e) => writeln!(out, "node {node} {endpoint}: DOWN ({e})")?,
        }
    }
    writeln!(out, "nodes up: {}/{}", docs.len(), cluster.nodes().len())?;
    if let Some(sum) = crate::monitor::cluster::sum_topologies(&docs) {
        super::stats::write_topology(&sum, out)?;
    }
    Ok(())
}
