//! Storm's `rebalance` over the control channel: a component's task count
//! changes while the node processes keep running.
//!
//! ```text
//! POST /api/v1/topology/<id>/rebalance/<wait secs>[/<component>=<n>,...]
//! POST /api/v1/node/topology/<id>/rebalance/prepare[/<changes>]   (each node)
//! POST /api/v1/node/topology/<id>/rebalance/inflight              (each node)
//! POST /api/v1/node/topology/<id>/rebalance/switch[/<changes>]    (each node)
//! POST /api/v1/node/topology/<id>/rebalance/abort                 (each node)
//! POST /api/v1/node/topology/<id>/rebalance/pause/<target>        (each node)
//! ```
//!
//! The node that receives the request runs it, in four steps:
//!
//! 1. **check** the changes against its own topology (an unknown
//!    component or a task count of 0 is refused, `400`, before anything
//!    is touched);
//! 2. **prepare** every node (this one and each peer): check again there,
//!    show the topology as `REBALANCING`, deactivate its spouts. A node
//!    that does not answer fails the rebalance (`502`, naming it): the
//!    nodes prepared so far are sent **abort** (activated again, status
//!    back), so the cluster runs on as before;
//! 3. **drain**: wait until no node has a tuple tree in flight, or the
//!    wait is up;
//! 4. **switch** every node at once: each stops its topology (draining
//!    what is left; trees still pending at its spouts are failed there,
//!    to be replayed), plans the topology again with the new task counts
//!    (the same deterministic placement on every node, so the same new
//!    fingerprint), starts it on the same link addresses, waits for its
//!    peers and activates. A spout task whose place (task index, task
//!    count, node) is unchanged keeps its instance (it is not opened
//!    again); every other task starts afresh.
//!
//! The answer names each node's outcome: trees completed while draining,
//! trees failed for replay at the switch, its new task count.
//!
//! A topology that takes checkpoints switches on one: its spouts are not
//! deactivated but paused after a last barrier, the drain also waits for
//! that checkpoint to complete (or aborts: nothing changes), no spout
//! instance is carried over (each reopens at its checkpointed position),
//! and each task of a resized stateful bolt restores the entries its
//! fields grouping routes to it now (see `switch_cut.rs` and
//! `gale_engine::state`).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use gale_engine::ComponentKind;
use serde_json::{json, Value as Json};

pub use super::control::Rebalancer;
use super::control::{fan_out, Control, ControlConfig};
use super::http::Response;
use super::switch_cut::{self, NodeCut};

/// How long a node gets to stop, re-plan, restart and see its peers.
const SWITCH_TIMEOUT: Duration = Duration::from_secs(180);
/// How often the drain step asks the nodes.
const DRAIN_POLL: Duration = Duration::from_millis(100);

/// `component=n,...` (an empty string or `-`: no change). Names must be
/// non-empty and `n` a number; `check` says whether they fit the topology.
pub fn parse_changes(text: &str) -> Result<Vec<(String, usize)>, String> {
    if text.is_empty() || text == "-" {
        return Ok(Vec::new());
    }
    text.split(',').map(parse_change).collect()
}

/// One `component=n`.
pub fn parse_change(item: &str) -> Result<(String, usize), String> {
    let (name, n) = item
        .split_once('=')
        .ok_or_else(|| format!("`{}`: expected COMPONENT=N", item.escape_debug()))?;
    if name.is_empty() {
        return Err(format!("`{}`: no component name", item.escape_debug()));
    }
    let n = n.parse::<usize>().map_err(|_| {
        format!(
            "`{}`: the task count of `{}` is not a number",
            item.escape_debug(),
            name.escape_debug()
        )
    })?;
    Ok((name.to_owned(), n))
}

/// `changes` as a path segment (`-` for none).
pub fn format_changes(changes: &[(String, usize)]) -> String {
    if changes.is_empty() {
        return "-".to_owned();
    }
    changes
        .iter()
        .map(|(c, n)| format!("{c}={n}"))
        .collect::<Vec<_>>()
        .join(",")
}

impl Control {
    /// A node-scoped step (`prepare`, `inflight`, `switch`, `abort`).
    pub(super) fn rebalance_step(&self, id: &str, step: &[&str]) -> Response {
        if let ["pause", target] = step {
            let Ok(target) = target.parse::<u64>() else {
                return Response::error(400, "rebalance/pause/<target barrier id>");
            };
            return match self.cut(id, Some(Some(target))) {
                Ok(cut) => {
                    super::control::json_response(200, &json!({ "cut": cut.map(NodeCut::to_json) }))
                }
                Err(e) => Response::error(409, &e),
            };
        }
        let changes = match parse_changes(step.get(1).copied().unwrap_or("")) {
            Ok(c) => c,
            Err(e) => return Response::error(400, &format!("rebalance: {e}")),
        };
        let result = match step.first().copied() {
            Some("prepare") => self.prepare(id, &changes),
            Some("inflight") => self.in_flight(id).and_then(|n| {
                let cut = self.cut(id, None)?.map(NodeCut::to_json);
                Ok(json!({ "inflight": n, "acked": self.spouts_acked(id), "cut": cut }))
            }),
            Some("switch") => self.switch(&changes),
            Some("abort") => {
                self.set_rebalancing(false);
                self.cut(id, Some(None))
                    .and_then(|_| self.activate_all(id))
                    .map(|()| json!("ok"))
            }
            _ => Err("expected rebalance/prepare|inflight|switch|abort".to_owned()),
        };
        match result {
            Ok(doc) => super::control::json_response(200, &doc),
            Err(e) => Response::error(409, &e),
        }
    }

    /// `POST /api/v1/topology/<id>/rebalance/<wait>[/<changes>]`: the
    /// whole rebalance, run from this node.
    pub(super) fn rebalance(&self, config: &ControlConfig, id: &str, rest: &[&str]) -> Response {
        let Some(wait) = rest
            .first()
            .and_then(|w| w.parse::<u64>().ok())
            .filter(|w| *w <= super::control::MAX_WAIT_SECS)
        else {
            return Response::error(
                404,
                "expected rebalance/<wait secs, at most a day>[/<component>=<n>,...]",
            );
        };
        let changes = match parse_changes(rest.get(1).copied().unwrap_or("")) {
            Ok(c) => c,
            Err(e) => return Response::error(400, &format!("rebalance: {e}")),
        };
        // 1. check here before touching anything.
        if self.rebalancer().is_none() {
            return Response::error(
                501,
                "this node cannot rebalance: only a `gale node` (or a binary's `node` \
                 subcommand) restarts its topology in-process",
            );
        }
        if let Err(e) = self.check_changes(id, &changes) {
            return Response::error(400, &format!("rebalance: {e}"));
        }
        let segment = format_changes(&changes);
        // Peers know the topology by name (ids hold each node's start time).
        let name = self
            .find(id)
            .first()
            .map_or_else(|| id.to_owned(), |h| h.metrics().metrics().name);
        let node_path = |step: &str| format!("/api/v1/node/topology/{name}/rebalance/{step}");
        // 2. prepare every node; any that fails: abort on the others.
        let prepared = self.prepare(id, &changes).map(|_| ());
        let peers = fan_out(config, &node_path(&format!("prepare/{segment}")), PEER);
        let mut failed: Vec<String> = peers
            .iter()
            .filter_map(|(n, r)| r.as_ref().err().map(|e| format!("node {n}: {e}")))
            .collect();
        if let Err(e) = &prepared {
            failed.insert(0, format!("node {}: {e}", config.node));
        }
        let checkpointed = self.checkpointing().is_some();
        if failed.is_empty() && checkpointed {
            if let Err(e) = self.pause_everywhere(config, id, &node_path) {
                failed.push(e);
            }
        }
        if !failed.is_empty() {
            self.abort_everywhere(config, id, &node_path);
            tracing::warn!(topology = %id.escape_debug(), ?failed, "rebalance refused; nodes reactivated");
            return Response::error(
                502,
                &format!(
                    "rebalance not started (every node that was reached runs on as before): {}",
                    failed.join("; ")
                ),
            );
        }
        // 3. drain: until no tree is in flight anywhere, or the wait is up.
        // Trees acked at the spouts of all nodes, at the first and last poll.
        let (mut acked_first, mut acked_last) = (None, 0);
        let deadline = Instant::now() + Duration::from_secs(wait);
        let mut cut = None;
        let drained = loop {
            let here = self.in_flight(id).unwrap_or(u64::MAX);
            let there = fan_out(config, &node_path("inflight"), PEER);
            if checkpointed {
                let here = self.cut(id, None).ok().flatten();
                let cuts: Option<Vec<NodeCut>> = std::iter::once(here)
                    .chain(
                        there
                            .iter()
                            .map(|(_, r)| r.as_ref().ok().and_then(NodeCut::from_json)),
                    )
                    .collect();
                cut = cuts.as_deref().and_then(switch_cut::ready);
            }
            let field = |name: &str| {
                there.iter().try_fold(0u64, |sum, (_, r)| {
                    r.as_ref()
                        .ok()
                        .and_then(|doc| doc[name].as_u64())
                        .map(|n| sum.saturating_add(n))
                })
            };
            if let Some(acked) = field("acked") {
                acked_last = acked + self.spouts_acked(id);
                acked_first.get_or_insert(acked_last);
            }
            if field("inflight").map(|n| n.saturating_add(here)) == Some(0)
                && (!checkpointed || cut.is_some())
            {
                break true;
            }
            if Instant::now() >= deadline {
                break false;
            }
            std::thread::sleep(DRAIN_POLL);
        };
        if checkpointed && cut.is_none() {
            self.abort_everywhere(config, id, &node_path);
            tracing::warn!(topology = %id.escape_debug(), "rebalance aborted: no checkpoint to switch on");
            return Response::error(
                502,
                &format!(
                    "rebalance aborted (every node runs on as before): the checkpoint to switch \
                     on did not complete within {wait} s (every spout paused, every tree \
                     completed, every node's marker saved); try a longer --wait"
                ),
            );
        }
        let completed = acked_last.saturating_sub(acked_first.unwrap_or(acked_last));
        // 4. switch every node at once (each waits for the others' links).
        let local = {
            let changes = changes.clone();
            let rebalancer = self.rebalancer();
            let inactive = self.was_inactive();
            std::thread::spawn(move || match rebalancer {
                Some(r) => r.switch(&changes, inactive),
                None => Err("this node cannot rebalance".to_owned()),
            })
        };
        let peers = fan_out(
            config,
            &node_path(&format!("switch/{segment}")),
            SWITCH_TIMEOUT,
        );
        let local = local
            .join()
            .unwrap_or_else(|_| Err("the rebalance thread panicked".to_owned()));
        self.set_rebalancing(false);
        let mut nodes = serde_json::Map::new();
        let mut all_ok = true;
        for (node, result) in std::iter::once((config.node, local)).chain(peers) {
            all_ok &= result.is_ok();
            nodes.insert(
                node.to_string(),
                result.unwrap_or_else(|e| json!({ "error": e })),
            );
        }
        tracing::info!(topology = %id.escape_debug(), changes = %segment, drained, completed, ok = all_ok, "rebalance");
        super::control::json_response(
            if all_ok { 200 } else { 502 },
            &json!({
                "topology": id,
                "action": format!("rebalance/{wait}/{segment}"),
                "drained": drained,
                "completed_while_draining": completed,
                "checkpoint": cut,
                "nodes": nodes,
            }),
        )
    }

    fn check_changes(&self, id: &str, changes: &[(String, usize)]) -> Result<(), String> {
        if self.find(id).is_empty() {
            return Err(format!("no topology `{}` on this node", id.escape_debug()));
        }
        match self.rebalancer() {
            Some(r) => r.check(changes),
            None => Err("this node cannot rebalance (not a `gale node`)".to_owned()),
        }
    }

    /// Checks, remembers whether it was deactivated, shows REBALANCING,
    /// deactivates.
    fn prepare(&self, id: &str, changes: &[(String, usize)]) -> Result<Json, String> {
        self.check_changes(id, changes)?;
        let found = self.find(id);
        let inactive = found
            .iter()
            .any(|h| h.status() == gale_engine::ControlStatus::Inactive);
        // SYNC: Relaxed: read by this node's later steps, which come in
        // later requests on the same HTTP thread.
        self.was_inactive.store(inactive, Ordering::Relaxed);
        self.set_rebalancing(true);
        // A topology that takes checkpoints keeps its spouts active: they
        // pause after their last barrier (see `switch_cut`).
        if self.checkpointing().is_none() {
            for h in found {
                h.set_active(false);
            }
        }
        Ok(json!("ok"))
    }

    /// Asks every node where its spouts stand, then every spout to pause
    /// one barrier past the greatest (see `switch_cut`).
    fn pause_everywhere(
        &self,
        config: &ControlConfig,
        id: &str,
        node_path: &dyn Fn(&str) -> String,
    ) -> Result<(), String> {
        let there = fan_out(config, &node_path("inflight"), PEER);
        let mut cuts = vec![self.cut(id, None)?];
        for (node, r) in &there {
            let doc = r.as_ref().map_err(|e| format!("node {node}: {e}"))?;
            cuts.push(NodeCut::from_json(doc));
        }
        let cuts: Vec<NodeCut> = cuts
            .into_iter()
            .collect::<Option<_>>()
            .ok_or("a node does not take checkpoints for this topology")?;
        let target = switch_cut::target(&cuts);
        self.cut(id, Some(Some(target)))?;
        for (node, r) in fan_out(config, &node_path(&format!("pause/{target}")), PEER) {
            r.map_err(|e| format!("node {node}: {e}"))?;
        }
        tracing::info!(topology = %id.escape_debug(), target, "rebalance: spouts pause after checkpoint {target}");
        Ok(())
    }

    /// Every node back to where `prepare` found it.
    fn abort_everywhere(
        &self,
        config: &ControlConfig,
        id: &str,
        node_path: &dyn Fn(&str) -> String,
    ) {
        let _ = self.cut(id, Some(None));
        let _ = self.activate_all(id);
        self.set_rebalancing(false);
        let _ = fan_out(config, &node_path("abort"), PEER);
    }

    fn was_inactive(&self) -> bool {
        // SYNC: Relaxed: see `prepare`.
        self.was_inactive.load(Ordering::Relaxed)
    }

    /// Back to where `prepare` found it: active unless it was deactivated.
    fn activate_all(&self, id: &str) -> Result<(), String> {
        let found = self.find(id);
        if found.is_empty() {
            return Err(format!("no topology `{}` on this node", id.escape_debug()));
        }
        let active = !self.was_inactive();
        for h in found {
            h.set_active(active);
        }
        Ok(())
    }

    fn switch(&self, changes: &[(String, usize)]) -> Result<Json, String> {
        let result = match self.rebalancer() {
            Some(r) => r.switch(changes, self.was_inactive()),
            None => Err("this node cannot rebalance".to_owned()),
        };
        self.set_rebalancing(false);
        result
    }

    /// Tuple trees in flight at this node's spouts of topology `id`:
    /// emitted and neither acked nor failed (0 without ackers: nothing is
    /// tracked, so nothing is waited for).
    fn in_flight(&self, id: &str) -> Result<u64, String> {
        let found = self.find(id);
        if found.is_empty() {
            return Err(format!("no topology `{}` on this node", id.escape_debug()));
        }
        Ok(found
            .iter()
            .map(|h| {
                let m = h.metrics().metrics();
                if !m.components.iter().any(|c| c.kind == ComponentKind::System) {
                    return 0;
                }
                m.components
                    .iter()
                    .filter(|c| c.kind == ComponentKind::Spout)
                    .map(|c| {
                        let k = &c.counters;
                        k.emitted.saturating_sub(k.acked + k.failed)
                    })
                    .sum::<u64>()
            })
            .sum())
    }

    fn spouts_acked(&self, id: &str) -> u64 {
        self.find(id)
            .iter()
            .flat_map(|h| h.metrics().metrics().components)
            .filter(|c| c.kind == ComponentKind::Spout)
            .map(|c| c.counters.acked)
            .sum()
    }
}

/// How long a peer gets for a quick step.
const PEER: Duration = super::control::PEER_TIMEOUT;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_parse_and_format() {
        let c = parse_changes("split=4,count=2").expect("parses");
        assert_eq!(c, vec![("split".into(), 4), ("count".into(), 2)]);
        assert_eq!(format_changes(&c), "split=4,count=2");
        assert_eq!(parse_changes("-"), Ok(Vec::new()));
        assert_eq!(format_changes(&[]), "-");
        assert!(parse_changes("split").unwrap_err().contains("COMPONENT=N"));
        assert!(parse_changes("split=x")
            .unwrap_err()
            .contains("not a number"));
        assert!(parse_changes("=3").unwrap_err().contains("no component"));
    }
}
