//! One view of a cluster from any node: `GET /api/v1/cluster/topology/<name>`
//! asks every peer of the node's control configuration for its
//! `/api/v1/topology/<id>` (in parallel, 2 s each) and answers the
//! topology's document summed over the nodes that answered
//! ([`sum_topologies`]), with `nodes`: each node's id, endpoint, `up`
//! or `down: why` (a node that is down is named, not counted as zeros)
//! and, for a node that answered, its links (`[{peer, up}]`). The live
//! page draws them. `gale stats --cluster` prints the same sum.
//!
//! `GET /metrics?scope=cluster` is this node's Prometheus text and every
//! peer's, merged family by family (every series has its `node` label),
//! plus `gale_node_up{node}`: 1 for each node that answered, 0 for each
//! that did not.

use std::time::Duration;

use serde_json::{json, Value as Json};

use super::http;

/// How long a node waits for each peer's document.
const PEER_TIMEOUT: Duration = Duration::from_secs(2);

/// The document of topology `name` (its name, not its per-node id) at the
/// endpoint `addr`, sending `Authorization: Bearer TOKEN` if a token is
/// given.
pub fn fetch_topology(
    addr: &str,
    name: &str,
    timeout: Duration,
    token: Option<&str>,
) -> Result<Json, String> {
    let get = |path: &str| -> Result<Json, String> {
        let url = format!("http://{addr}{path}");
        let (status, body) =
            http::get_with_token(&url, timeout, token).map_err(|e| e.to_string())?;
        let doc: Json = serde_json::from_slice(&body).map_err(|e| format!("{url}: {e}"))?;
        match status {
            200 => Ok(doc),
            s => Err(format!(
                "{url}: {s}: {}",
                doc["errorMessage"].as_str().unwrap_or("?")
            )),
        }
    };
    let summary = get("/api/v1/topology/summary")?;
    let id = summary["topologies"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["name"] == name || t["id"] == name)
        .and_then(|t| t["id"].as_str())
        .ok_or_else(|| format!("no topology `{}` there", name.escape_debug()))?
        .to_owned();
    get(&format!("/api/v1/topology/{}", http::percent_encode(&id)))
}

/// `local` (this node's document, if it runs the topology) and each
/// peer's (asked with `token`, this node's own), summed, with the `nodes`
/// list.
pub(super) fn topology(
    name: &str,
    local: Option<(u32, Json)>,
    peers: &[(u32, String)],
    token: Option<&str>,
) -> Option<Json> {
    let asks: Vec<_> = peers
        .iter()
        .cloned()
        .map(|(node, addr)| {
            let (name, token) = (name.to_owned(), token.map(str::to_owned));
            std::thread::spawn(move || {
                let doc = fetch_topology(&addr, &name, PEER_TIMEOUT, token.as_deref());
                (node, addr, doc)
            })
        })
        .collect();
    let mut docs = Vec::new();
    let mut nodes = Vec::new();
    if let Some((node, doc)) = local {
        nodes.push(
            json!({"node": node, "endpoint": "this node", "state": "up", "links": links(&doc)}),
        );
        docs.push(doc);
    }
    for ask in asks {
        let Ok((node, addr, doc)) = ask.join() else {
            continue;
        };
        match doc {
            Ok(doc) => {
                nodes.push(
                    json!({"node": node, "endpoint": addr, "state": "up", "links": links(&doc)}),
                );
                docs.push(doc);
            }
            Err(e) => {
                nodes.push(json!({"node": node, "endpoint": addr, "state": format!("down: {e}")}))
            }
        }
    }
    let mut sum = sum_topologies(&docs)?;
    sum["nodes"] = Json::from(nodes);
    sum["nodesUp"] = Json::from(docs.len());
    sum["nodesExpected"] = Json::from(peers.len() + 1);
    Some(sum)
}

/// The `/api/v1/topology/<id>` documents of several nodes as one (each
/// counts its own tasks' tuples and reports the whole topology's tasks):
/// counts, rates, worker threads and backpressure summed per component, latencies averaged
/// weighted by what they measure (acked for spouts, executed for bolts),
/// capacity the highest, errors listed together.
pub fn sum_topologies(docs: &[Json]) -> Option<Json> {
    let first = docs.first()?;
    let mut sum = first.clone();
    let add =
        |a: &Json, b: &Json| Json::from(a.as_f64().unwrap_or(0.0) + b.as_f64().unwrap_or(0.0));
    // Every node reports the whole topology's tasks, and its own threads.
    let total = docs
        .iter()
        .fold(Json::from(0.0), |acc, d| add(&acc, &d["workersTotal"]));
    sum["workersTotal"] = Json::from(total.as_f64().unwrap_or(0.0) as u64);
    let statuses: std::collections::BTreeSet<&str> =
        docs.iter().filter_map(|d| d["status"].as_str()).collect();
    if statuses.len() > 1 {
        sum["status"] = Json::from(statuses.into_iter().collect::<Vec<_>>().join("/"));
    }
    for (list, id_key, latency, weight) in [
        ("spouts", "spoutId", "completeLatency", "acked"),
        ("bolts", "boltId", "executeLatency", "executed"),
        ("systemComponents", "boltId", "executeLatency", "executed"),
    ] {
        let Some(rows) = sum[list].as_array_mut() else {
            continue;
        };
        for row in rows.iter_mut() {
            let id = row[id_key].clone();
            let same: Vec<&Json> = docs
                .iter()
                .filter_map(|d| d[list].as_array())
                .flatten()
                .filter(|r| r[id_key] == id)
                .collect();
            for key in [
                "emitted",
                "transferred",
                "executed",
                "acked",
                "failed",
                "errors",
            ] {
                let total: u64 = same.iter().filter_map(|r| r[key].as_u64()).sum();
                row[key] = Json::from(total);
            }
            for key in ["rate", "backpressureSeconds"] {
                row[key] = Json::from(same.iter().filter_map(|r| r[key].as_f64()).sum::<f64>());
            }
            row["capacity"] = same
                .iter()
                .filter_map(|r| r["capacity"].as_f64())
                .reduce(f64::max)
                .map_or(Json::Null, Json::from);
            let (mut num, mut den) = (0.0, 0.0);
            for r in &same {
                if let (Some(l), Some(w)) = (r[latency].as_f64(), r[weight].as_f64()) {
                    num += l * w;
                    den += w;
                }
            }
            row[latency] = if den > 0.0 {
                Json::from(num / den)
            } else {
                Json::Null
            };
        }
    }
    sum["topologyErrors"] = Json::from(
        docs.iter()
            .filter_map(|d| d["topologyErrors"].as_array())
            .flatten()
            .cloned()
            .collect::<Vec<_>>(),
    );
    Some(sum)
}

/// A node's links to its peers, from its document's `gale_link_up`
/// samples: `[{peer, up}]`.
fn links(doc: &Json) -> Json {
    doc["metrics"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["name"] == "gale_link_up")
        .map(|s| json!({"peer": s["labels"]["peer"], "up": s["value"] == 1.0}))
        .collect()
}

/// This node's Prometheus text `local` merged with every peer's (fetched
/// in parallel, 2 s each, with `token`, this node's own), family by
/// family, with `gale_node_up`.
pub(super) fn metrics(
    local: &str,
    node: u32,
    peers: &[(u32, String)],
    token: Option<&str>,
) -> String {
    let asks: Vec<_> = peers
        .iter()
        .cloned()
        .map(|(peer, addr)| {
            let token = token.map(str::to_owned);
            std::thread::spawn(move || {
                let url = format!("http://{addr}/metrics");
                let text = match http::get_with_token(&url, PEER_TIMEOUT, token.as_deref()) {
                    Ok((200, body)) => String::from_utf8(body).ok(),
                    _ => None,
                };
                (peer, text)
            })
        })
        .collect();
    let mut families = Families::default();
    families.add_text(local);
    let mut up = vec![(node, true)];
    for ask in asks {
        let Ok((peer, text)) = ask.join() else {
            continue;
        };
        if let Some(text) = &text {
            families.add_text(text);
        }
        up.push((peer, text.is_some()));
    }
    up.sort_unstable();
    let mut out = String::from(
        "# HELP gale_node_up Whether the node answered this scrape (1) or not (0).\n\
         # TYPE gale_node_up gauge\n",
    );
    for (n, ok) in up {
        out += &format!("gale_node_up{{node=\"node-{n}\"}} {}\n", u8::from(ok));
    }
    for (name, (meta, samples)) in families.0 {
        if name == "gale_node_up" {
            continue;
        }
        for line in meta {
            out += &line;
            out.push('\n');
        }
        for line in samples {
            out += &line;
            out.push('\n');
        }
    }
    out
}

/// Prometheus families by name: their `# HELP`/`# TYPE` lines (from the
/// first text that has them) and every text's samples.
#[derive(Default)]
struct Families(std::collections::BTreeMap<String, (Vec<String>, Vec<String>)>);

impl Families {
    /// Adds one node's text (samples go to the family of the `# TYPE`
    /// line above them).
    fn add_text(&mut self, text: &str) {
        let mut current = String::new();
        for line in text.lines() {
            if let Some(rest) = line
                .strip_prefix("# HELP ")
                .or_else(|| line.strip_prefix("# TYPE "))
            {
                current = rest.split(' ').next().unwrap_or_default().to_owned();
                let entry = self.0.entry(current.clone()).or_default();
                // One HELP and one TYPE line: the first text's.
                if entry.0.len() < 2 && !entry.0.iter().any(|l| l[..6] == line[..6]) {
                    entry.0.push(line.to_owned());
                }
            } else if !line.is_empty() && !line.starts_with('#') {
                self.0
                    .entry(current.clone())
                    .or_default()
                    .1
                    .push(line.to_owned());
            }
        }
    }
}
