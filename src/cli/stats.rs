//! `gale stats <url>`: the JSON API of a running node's metrics endpoint
//! printed as a table, one per topology.

use std::io::{self, Write};
use std::time::Duration;

use clap::Args;
use serde_json::Value as Json;

use crate::monitor::{get_with_token, GetError};

/// Options of `gale stats`.
#[derive(Args, Debug)]
pub struct StatsArgs {
    /// The endpoint, e.g. http://127.0.0.1:9090 (as given to
    /// --metrics-addr).
    #[arg(value_name = "URL", required_unless_present = "cluster")]
    pub url: Option<String>,
    /// Instead of one endpoint: every node of this cluster file (at its
    /// `metrics_port`), one table summed over the nodes that answer and a
    /// line per node (a node that does not answer is DOWN).
    #[arg(long, value_name = "FILE", conflicts_with = "url")]
    pub cluster: Option<std::path::PathBuf>,
    /// Send `Authorization: Bearer TOKEN`, the token read from FILE (for
    /// an endpoint started with `--metrics-token-file`).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<std::path::PathBuf>,
}

/// How long `gale stats` waits for the endpoint.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Why `gale stats` failed.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    /// The request failed.
    #[error(transparent)]
    Get(#[from] GetError),
    /// The endpoint answered with an error.
    #[error("{url}: HTTP {status}: {body}")]
    Status {
        /// The URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// The body.
        body: String,
    },
    /// The answer is not the API's JSON.
    #[error("{url}: not the metrics API's JSON: {reason}")]
    BadJson {
        /// The URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// Writing the table failed.
    #[error("cannot write the table: {0}")]
    Output(#[from] io::Error),
}

pub(super) fn fetch(url: &str, token: Option<&str>) -> Result<Json, StatsError> {
    let (status, body) = get_with_token(url, TIMEOUT, token)?;
    let text = String::from_utf8_lossy(&body).into_owned();
    if status != 200 {
        return Err(StatsError::Status {
            url: url.to_owned(),
            status,
            body: text,
        });
    }
    serde_json::from_str(&text).map_err(|e| StatsError::BadJson {
        url: url.to_owned(),
        reason: e.to_string(),
    })
}

fn cell(v: &Json, digits: usize) -> String {
    match v {
        Json::Number(n) if n.is_u64() || n.is_i64() => n.to_string(),
        Json::Number(n) => format!("{:.digits$}", n.as_f64().unwrap_or(0.0)),
        Json::Null => "-".to_owned(),
        other => other
            .as_str()
            .map_or_else(|| other.to_string(), str::to_owned),
    }
}

/// Prints the tables of every topology the endpoint at `url` serves,
/// sending `Authorization: Bearer TOKEN` when a token is given (an
/// endpoint started with `--metrics-token-file`).
pub fn print_with_token(
    url: &str,
    token: Option<&str>,
    out: &mut impl Write,
) -> Result<(), StatsError> {
    let base = url.trim_end_matches('/');
    let summary_url = format!("{base}/api/v1/topology/summary");
    let summary = fetch(&summary_url, token)?;
    let topologies = summary["topologies"]
        .as_array()
        .ok_or_else(|| StatsError::BadJson {
            url: summary_url.clone(),
            reason: "no `topologies` array".into(),
        })?;
    if topologies.is_empty() {
        writeln!(out, "no topologies")?;
    }
    for t in topologies {
        let id = t["id"].as_str().unwrap_or_default();
        let t = fetch(
            &format!(
                "{base}/api/v1/topology/{}",
                crate::monitor::http::percent_encode(id)
            ),
            token,
        )?;
        write_topology(&t, out)?;
    }
    Ok(())
}

/// Writes one topology's table (the `/api/v1/topology/<id>` document).
pub fn write_topology(t: &Json, out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "topology `{}` ({}): {}, up {}, {} tasks on {} worker threads",
        cell(&t["name"], 0),
        cell(&t["id"], 0),
        cell(&t["status"], 0),
        cell(&t["uptime"], 0),
        cell(&t["tasksTotal"], 0),
        cell(&t["workersTotal"], 0)
    )?;
    let rows: Vec<&Json> = ["spouts", "bolts", "systemComponents"]
        .iter()
        .filter_map(|k| t[*k].as_array())
        .flatten()
        .collect();
    let name = |r: &Json| {
        cell(
            if r["spoutId"].is_null() {
                &r["boltId"]
            } else {
                &r["spoutId"]
            },
            0,
        )
    };
    let width = rows.iter().map(|r| name(r).len()).max().unwrap_or(0).max(9);
    writeln!(
        out,
        "  {:<width$} {:>6} {:>5} {:>12} {:>12} {:>12} {:>12} {:>12} {:>8} {:>11} {:>9} {:>8} {:>7}",
        "component", "type", "tasks", "rate/s", "emitted", "transferred", "executed", "acked",
        "failed", "latency µs", "capacity", "bp s", "errors"
    )?;
    for r in rows {
        let spout = r["type"] == "spout";
        let latency = if spout {
            &r["completeLatency"]
        } else {
            &r["executeLatency"]
        };
        let latency = latency
            .as_f64()
            .map_or(Json::Null, |ms| Json::from(ms * 1e3));
        writeln!(
            out,
            "  {:<width$} {:>6} {:>5} {:>12} {:>12} {:>12} {:>12} {:>12} {:>8} {:>11} {:>9} {:>8} {:>7}",
            name(r),
            cell(&r["type"], 0),
            cell(&r["tasks"], 0),
            cell(&r["rate"], 0),
            cell(&r["emitted"], 0),
            cell(&r["transferred"], 0),
            cell(&r["executed"], 0),
            cell(&r["acked"], 0),
            cell(&r["failed"], 0),
            cell(&latency, 1),
            cell(&r["capacity"], 3),
            cell(&r["backpressureSeconds"], 2),
            cell(&r["errors"], 0),
        )?;
    }
    for e in t["topologyErrors"]
        .as_array()
        .into_iter()
        .flatten()
        .take(10)
    {
        writeln!(
            out,
            "  error: task {} ({}x, {} s ago): {}",
            cell(&e["task"], 0),
            cell(&e["count"], 0),
            cell(&e["errorLapsedSecs"], 0),
            cell(&e["error"], 0)
        )?;
    }
    Ok(())
}
