//! The control channel of a node: Storm's `activate`, `deactivate` and
//! `kill` as POSTs on the node's HTTP endpoint, each authenticated with
//! the cluster secret by the link's HMAC-SHA256 challenge-response
//! ([`gale_transport::link::control_proof`]), and fanned out from the
//! node that receives it to every other node of the cluster.
//!
//! ```text
//! GET  /api/v1/control/nonce                      -> {"nonce": HEX}   (fresh, single-use, 30 s)
//! POST /api/v1/topology/<id>/activate             Authorization: Gale nonce=HEX, proof=HEX
//! POST /api/v1/topology/<id>/deactivate             (this node and every peer)
//! POST /api/v1/topology/<id>/kill/<wait secs>
//! POST /api/v1/topology/<id>/rebalance/<wait secs>[/<component>=<n>,...]   (see [`super::rebalance`])
//! POST /api/v1/node/topology/<id>/...             (this node only: what the fan-out sends)
//! GET  /api/v1/node/status                        -> this node's topologies and their status
//! ```
//!
//! `proof = HMAC-SHA256(secret, "gale-control-v1" || version || method ||
//! 0 || path || 0 || nonce)`: the secret never travels, and a proof is
//! good for one request, once, within 30 s of its nonce. A request without
//! a valid proof is answered `401` and logged (its path escaped). `<id>`
//! is the topology's id or its name (ids differ per node: they hold the
//! node's start time). `kill` deactivates at once and stops the topology
//! (draining what is in flight) after `<wait>` seconds; the node then
//! prints its report and exits. The receiving node forwards to all its
//! peers at once and answers when they have (2 s at most each); it does
//! so on its HTTP thread, which serves nothing else meanwhile.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use gale_engine::{ComponentKind, ControlHandle, ControlStatus};
use gale_transport::link::{control_nonce, control_proof, verify_control_proof};
use serde_json::{json, Value as Json};

use super::http::{self, GetError, Request, Response};

/// How long a nonce stays good.
const NONCE_LIFE: Duration = Duration::from_secs(30);
/// Nonces outstanding at most (older ones are forgotten first).
const MAX_NONCES: usize = 1024;
/// How long a node waits for each peer it forwards a command to.
pub const PEER_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest `kill` wait accepted (one day).
pub(super) const MAX_WAIT_SECS: u64 = 86_400;

/// Who this node is and how it reaches its peers.
#[derive(Clone)]
pub struct ControlConfig {
    /// This node's id.
    pub node: u32,
    /// The cluster secret.
    pub secret: Vec<u8>,
    /// Every other node: id and the `host:port` of its HTTP endpoint.
    pub peers: Vec<(u32, String)>,
}

impl std::fmt::Debug for ControlConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlConfig")
            .field("node", &self.node)
            .field("secret", &"<redacted>")
            .field("peers", &self.peers)
            .finish()
    }
}

/// A command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Storm's `activate`.
    Activate,
    /// Storm's `deactivate`.
    Deactivate,
    /// Storm's `kill -w SECS`.
    Kill {
        /// Seconds between deactivating and stopping.
        wait_secs: u64,
    },
}

impl Action {
    /// The path tail: `activate`, `deactivate`, `kill/SECS`.
    pub fn path(self) -> String {
        match self {
            Action::Activate => "activate".to_owned(),
            Action::Deactivate => "deactivate".to_owned(),
            Action::Kill { wait_secs } => format!("kill/{wait_secs}"),
        }
    }

    fn parse(parts: &[&str]) -> Option<Self> {
        match parts {
            ["activate"] => Some(Action::Activate),
            ["deactivate"] => Some(Action::Deactivate),
            ["kill", secs] => secs
                .parse()
                .ok()
                .filter(|s| *s <= MAX_WAIT_SECS)
                .map(|wait_secs| Action::Kill { wait_secs }),
            _ => None,
        }
    }
}

/// The node side of a rebalance ([`super::rebalance`]): given to the control channel by a node
/// that can restart its topology in-process.
pub trait Rebalancer: Send + Sync {
    /// Checks `changes` (`(component, tasks)`) against this node's
    /// topology: an error names what is wrong.
    fn check(&self, changes: &[(String, usize)]) -> Result<(), String>;
    /// Stops the topology, plans it again with `changes`, starts it and
    /// waits for its peers; a JSON summary of this node (its report, how
    /// many trees were failed for replay, its new task count). Blocks.
    /// `inactive`: the topology was deactivated before the rebalance and
    /// starts so again.
    fn switch(&self, changes: &[(String, usize)], inactive: bool) -> Result<Json, String>;
    /// The topology's checkpointing, if it takes checkpoints: the
    /// rebalance then switches on a checkpoint (`switch_cut.rs`).
    fn checkpointing(&self) -> Option<Arc<gale_engine::state::Checkpointing>> {
        None
    }
}

/// The control side of a node's endpoint.
#[derive(Default)]
pub(super) struct Control {
    config: RwLock<Option<ControlConfig>>,
    nonces: Mutex<VecDeque<([u8; 32], Instant)>>,
    handles: RwLock<Vec<ControlHandle>>,
    rebalancer: RwLock<Option<Arc<dyn Rebalancer>>>,
    /// A rebalance is under way: the status says REBALANCING.
    rebalancing: AtomicBool,
    /// The topology was deactivated before the rebalance began.
    pub(super) was_inactive: AtomicBool,
}

impl Control {
    pub(super) fn configure(&self, config: ControlConfig) {
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = Some(config);
    }

    pub(super) fn add(&self, handle: ControlHandle) {
        self.handles
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(handle);
    }

    /// Replaces the handle of the topology of the same name (a rebalance
    /// restarted it), or adds it.
    pub(super) fn replace(&self, handle: ControlHandle) {
        let name = handle.metrics().metrics().name;
        let mut handles = self.handles.write().unwrap_or_else(|e| e.into_inner());
        handles.retain(|h| h.metrics().metrics().name != name);
        handles.push(handle);
    }

    pub(super) fn set_rebalancer(&self, rebalancer: Arc<dyn Rebalancer>) {
        *self.rebalancer.write().unwrap_or_else(|e| e.into_inner()) = Some(rebalancer);
    }

    pub(super) fn rebalancer(&self) -> Option<Arc<dyn Rebalancer>> {
        self.rebalancer
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(super) fn set_rebalancing(&self, on: bool) {
        // SYNC: Relaxed: a status flag read by `status`, carrying no data.
        self.rebalancing.store(on, Ordering::Relaxed);
    }

    /// The handles of topology `id` (its id or name).
    pub(super) fn find(&self, id: &str) -> Vec<ControlHandle> {
        self.handles
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|h| h.id() == id || h.metrics().metrics().name == id)
            .cloned()
            .collect()
    }

    fn config(&self) -> Option<ControlConfig> {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// This node's id and its peers' endpoints (none without a control
    /// configuration).
    pub(super) fn peers(&self) -> (u32, Vec<(u32, String)>) {
        self.config().map_or((0, Vec::new()), |c| (c.node, c.peers))
    }

    /// `GET /api/v1/control/nonce`.
    pub(super) fn nonce(&self) -> Response {
        if self.config().is_none() {
            return Response::error(404, "this node has no control channel (no cluster secret)");
        }
        let Ok(nonce) = control_nonce() else {
            return Response::error(503, "no randomness for a nonce, retry");
        };
        let now = Instant::now();
        let mut nonces = self.nonces.lock().unwrap_or_else(|e| e.into_inner());
        while nonces
            .front()
            .is_some_and(|(_, t)| now.duration_since(*t) > NONCE_LIFE)
            || nonces.len() >= MAX_NONCES
        {
            nonces.pop_front();
        }
        nonces.push_back((nonce, now));
        json_response(200, &json!({ "nonce": hex(&nonce) }))
    }

    /// `GET /api/v1/node/status`.
    pub(super) fn status(&self) -> Response {
        let node = self.config().map(|c| c.node);
        // SYNC: Relaxed: see `set_rebalancing`.
        let rebalancing = self.rebalancing.load(Ordering::Relaxed);
        let topologies: Vec<Json> = self
            .handles
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|h| {
                let m = h.metrics().metrics();
                let spouts = m
                    .components
                    .iter()
                    .filter(|c| c.kind == ComponentKind::Spout);
                let (emitted, acked) = spouts.fold((0, 0), |(e, a), c| {
                    (e + c.counters.emitted, a + c.counters.acked)
                });
                let components: serde_json::Map<String, Json> = m
                    .components
                    .iter()
                    .filter(|c| c.kind != ComponentKind::System)
                    .map(|c| (c.name.clone(), json!(c.tasks.len())))
                    .collect();
                let status = match h.status() {
                    ControlStatus::Killed => "KILLED",
                    _ if rebalancing => "REBALANCING",
                    s => s.name(),
                };
                json!({
                    "id": h.id(),
                    "name": m.name,
                    "status": status,
                    "components": components,
                    "uptime_s": m.uptime.as_secs_f64(),
                    "tasks": m.tasks.len(),
                    "workers": m.workers.len(),
                    "spouts_emitted": emitted,
                    "spouts_acked": acked,
                })
            })
            .collect();
        json_response(200, &json!({ "node": node, "topologies": topologies }))
    }

    /// A `POST`: checked, then applied here (and on the peers for the
    /// cluster-wide paths).
    pub(super) fn post(&self, request: &Request) -> Response {
        let path = request.path.trim_end_matches('/');
        let parts: Vec<&str> = path.split('/').skip(1).collect();
        let (scope_node, id, rest) = match parts.as_slice() {
            ["api", "v1", "topology", id, rest @ ..] => (false, *id, rest),
            ["api", "v1", "node", "topology", id, rest @ ..] => (true, *id, rest),
            _ => {
                return Response::error(
                    405,
                    "only GET and HEAD are served here (POST is for control requests: \
                     /api/v1/topology/<id>/activate|deactivate|kill/<wait>|rebalance/<wait>)",
                )
            }
        };
        let Some(config) = self.config() else {
            return Response::error(404, "this node has no control channel (no cluster secret)");
        };
        if let Err(reason) = self.check(&config, request) {
            tracing::warn!(
                path = %request.path.escape_debug(),
                reason,
                "control request refused"
            );
            return Response::error(401, &format!("control request refused: {reason}"));
        }
        match (scope_node, rest.split_first()) {
            (false, Some((&"rebalance", tail))) => return self.rebalance(&config, id, tail),
            (true, Some((&"rebalance", tail))) => return self.rebalance_step(id, tail),
            _ => {}
        }
        let Some(action) = Action::parse(rest) else {
            return Response::error(
                404,
                "expected activate, deactivate, kill/<wait secs, at most a day> or \
                 rebalance/<wait secs>[/<component>=<n>,...]",
            );
        };
        let mut results = serde_json::Map::new();
        let local = self.apply(id, action);
        let mut all_ok = local.is_ok();
        results.insert(config.node.to_string(), outcome(&local));
        if !scope_node {
            // Every peer at once, each with its own proof (2 s at most).
            let path = format!("/api/v1/node/topology/{id}/{}", action.path());
            for (peer, result) in fan_out(&config, &path, PEER_TIMEOUT) {
                let result = result.map(|_| ());
                all_ok &= result.is_ok();
                results.insert(peer.to_string(), outcome(&result));
            }
        }
        tracing::info!(topology = %id.escape_debug(), action = %action.path(), ok = all_ok, "control request");
        json_response(
            if all_ok { 200 } else { 502 },
            &json!({ "topology": id, "action": action.path(), "nodes": results }),
        )
    }

    /// Whether the request carries a valid proof on a nonce this node
    /// handed out (which is then used up).
    fn check(&self, config: &ControlConfig, request: &Request) -> Result<(), &'static str> {
        let auth = request
            .gale_auth
            .as_deref()
            .ok_or("no `Authorization: Gale nonce=..., proof=...`")?;
        let field = |name: &str| {
            auth.split(',')
                .filter_map(|kv| kv.trim().split_once('='))
                .find(|(k, _)| *k == name)
                .and_then(|(_, v)| unhex(v.trim()))
        };
        let (Some(nonce), Some(proof)) = (field("nonce"), field("proof")) else {
            return Err("a malformed Authorization header");
        };
        let now = Instant::now();
        let known = {
            let mut nonces = self.nonces.lock().unwrap_or_else(|e| e.into_inner());
            match nonces.iter().position(|(n, _)| n[..] == nonce[..]) {
                Some(i) => nonces
                    .remove(i)
                    .is_some_and(|(_, t)| now.duration_since(t) <= NONCE_LIFE),
                None => false,
            }
        };
        if !known {
            return Err("an unknown, used or expired nonce");
        }
        if !verify_control_proof(&config.secret, "POST", &request.path, &nonce, &proof) {
            return Err("a wrong proof (not the cluster secret?)");
        }
        Ok(())
    }

    /// Applies `action` to this node's topology `id` (its id or name).
    fn apply(&self, id: &str, action: Action) -> Result<(), String> {
        let found = self.find(id);
        if found.is_empty() {
            return Err(format!("no topology `{}` on this node", id.escape_debug()));
        }
        if action == Action::Activate {
            // An operator's activate also ends a rebalance left half-way
            // (its node died between deactivating and switching).
            self.set_rebalancing(false);
        }
        for h in found {
            match action {
                Action::Activate => h.set_active(true),
                Action::Deactivate => h.set_active(false),
                Action::Kill { wait_secs } => {
                    h.set_active(false);
                    if h.status() != ControlStatus::Killed {
                        let h = h.clone();
                        let _ =
                            std::thread::Builder::new()
                                .name("gale-kill".into())
                                .spawn(move || {
                                    std::thread::sleep(Duration::from_secs(wait_secs));
                                    h.stop();
                                });
                    }
                }
            }
        }
        Ok(())
    }
}

fn outcome(result: &Result<(), String>) -> Json {
    match result {
        Ok(()) => json!("ok"),
        Err(e) => json!(e),
    }
}

/// Sends control request `path` to every peer at once; each one's JSON
/// answer (status 200) or why not.
pub(super) fn fan_out(
    config: &ControlConfig,
    path: &str,
    timeout: Duration,
) -> Vec<(u32, Result<Json, String>)> {
    let asks: Vec<_> = config
        .peers
        .iter()
        .cloned()
        .map(|(peer, addr)| {
            let (secret, path) = (config.secret.clone(), path.to_owned());
            std::thread::spawn(move || {
                let result = send(&addr, &secret, &path, timeout)
                    .map_err(|e| e.to_string())
                    .and_then(|(status, body)| match status {
                        200 => Ok(body),
                        s => Err(format!(
                            "{s}: {}",
                            body["errorMessage"].as_str().unwrap_or("?")
                        )),
                    });
                (peer, result)
            })
        })
        .collect();
    asks.into_iter()
        .map(|a| {
            a.join()
                .unwrap_or((u32::MAX, Err("the forwarding thread panicked".into())))
        })
        .collect()
}

pub(super) fn json_response(status: u16, doc: &Json) -> Response {
    let mut r = Response::ok("application/json", doc.to_string());
    r.status = status;
    r
}

/// Sends control request `path` (`/api/v1/topology/NAME/deactivate`...)
/// to the node endpoint at `addr` (`host:port`): fetches a nonce, proves
/// the secret on it, posts. The status and the JSON answer.
pub fn send(
    addr: &str,
    secret: &[u8],
    path: &str,
    timeout: Duration,
) -> Result<(u16, Json), GetError> {
    let bad = |url: &str, reason: String| GetError::Malformed {
        url: url.to_owned(),
        reason,
    };
    let url = format!("http://{addr}/api/v1/control/nonce");
    let (status, body) = http::get(&url, timeout)?;
    let doc: Json = serde_json::from_slice(&body).map_err(|e| bad(&url, e.to_string()))?;
    let nonce = match (status, doc["nonce"].as_str().and_then(unhex)) {
        (200, Some(n)) => n,
        _ => return Err(bad(&url, format!("no nonce ({status}): {doc}"))),
    };
    let proof = control_proof(secret, "POST", path, &nonce);
    let auth = format!("Gale nonce={}, proof={}", hex(&nonce), hex(&proof));
    let url = format!("http://{addr}{path}");
    let (status, body) = http::request("POST", &url, timeout, &auth)?;
    let doc = serde_json::from_slice(&body).map_err(|e| bad(&url, e.to_string()))?;
    Ok((status, doc))
}

/// `GET /api/v1/node/status` of the endpoint at `addr`, with
/// `Authorization: Bearer TOKEN` when a token is given (an endpoint
/// started with `--metrics-token-file`).
pub fn node_status(addr: &str, timeout: Duration, token: Option<&str>) -> Result<Json, GetError> {
    let url = format!("http://{addr}/api/v1/node/status");
    let (status, body) = http::get_with_token(&url, timeout, token)?;
    let doc: Json = serde_json::from_slice(&body).map_err(|e| GetError::Malformed {
        url: url.clone(),
        reason: e.to_string(),
    })?;
    if status != 200 {
        return Err(GetError::Malformed {
            url,
            reason: format!("status {status}: {doc}"),
        });
    }
    Ok(doc)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex digits to bytes (at most 64 bytes); `None` if malformed.
fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 || s.len() > 128 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_parse_and_hex_round_trips() {
        assert_eq!(
            Action::parse(&["kill", "5"]),
            Some(Action::Kill { wait_secs: 5 })
        );
        assert_eq!(Action::parse(&["kill", "99999999"]), None);
        assert_eq!(Action::parse(&["deactivate"]), Some(Action::Deactivate));
        assert_eq!(Action::parse(&["rebalance"]), None);
        assert_eq!(unhex(&hex(&[0, 1, 254, 255])), Some(vec![0, 1, 254, 255]));
        assert_eq!(unhex("zz"), None);
        assert_eq!(unhex("abc"), None);
    }
}
