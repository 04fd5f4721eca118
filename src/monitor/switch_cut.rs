//! The checkpoint a rebalance of a topology that takes checkpoints
//! switches on (Flink's stop with savepoint; see
//! [`Checkpointing::ask_switch`](gale_engine::state::Checkpointing::ask_switch)).
//!
//! ```text
//! POST /api/v1/node/topology/<id>/rebalance/pause/<target>   (each node)
//! ```
//!
//! The spouts are not deactivated: the node running the rebalance asks
//! every node where its spouts' barriers stand, picks a target one past
//! the greatest, and has every spout emit barriers up to it and pause.
//! The drain then also waits until every spout has paused and the
//! checkpoint every node will restore ([`ready`]) is complete: after it
//! no barrier is emitted, so no later checkpoint can complete, and every
//! node restores that one whenever it gets to read the backend. If the
//! wait runs out first, the rebalance is aborted (the spouts resume) and
//! nothing changes.

use std::sync::Arc;

use gale_engine::state::Checkpointing;
use serde_json::{json, Value as Json};

use super::control::Control;

/// One node's answer: where its spouts stand.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct NodeCut {
    /// Every spout paused (or finished), or the topology is inactive
    /// (its spouts emit no barrier).
    pub paused: bool,
    /// The greatest barrier a spout of the node emitted.
    pub last_max: u64,
    /// The smallest last barrier of its spouts still running.
    pub live_min: Option<u64>,
    /// The greatest complete checkpoint, as the node sees it.
    pub complete: Option<u64>,
}

impl NodeCut {
    pub(super) fn to_json(self) -> Json {
        json!({
            "paused": self.paused,
            "last_max": self.last_max,
            "live_min": self.live_min,
            "complete": self.complete,
        })
    }

    /// A peer's answer (`doc["cut"]`); `None` if it has none (`null`: the
    /// topology takes no checkpoints there).
    pub(super) fn from_json(doc: &Json) -> Option<Self> {
        let cut = doc.get("cut")?;
        Some(Self {
            paused: cut["paused"].as_bool()?,
            last_max: cut["last_max"].as_u64()?,
            live_min: cut["live_min"].as_u64(),
            complete: cut["complete"].as_u64(),
        })
    }
}

/// The barrier every spout is asked to reach: one past the greatest any
/// spout of any node emitted.
pub(super) fn target(cuts: &[NodeCut]) -> u64 {
    cuts.iter().map(|c| c.last_max).max().unwrap_or(0) + 1
}

/// The checkpoint the nodes will restore, once every node's spouts have
/// paused and it is complete: the smallest last barrier of the spouts
/// still running (none emits a later one, so no later checkpoint can
/// complete), or, if every spout finished, the greatest barrier emitted.
pub(super) fn ready(cuts: &[NodeCut]) -> Option<u64> {
    if cuts.is_empty() || !cuts.iter().all(|c| c.paused) {
        return None;
    }
    let cut = cuts
        .iter()
        .filter_map(|c| c.live_min)
        .min()
        .unwrap_or_else(|| cuts.iter().map(|c| c.last_max).max().unwrap_or(0));
    let complete = cuts.iter().map(|c| c.complete).min().flatten();
    (complete >= Some(cut) || cut == 0).then_some(cut)
}

impl Control {
    /// The checkpointing of this node's topology, if it takes checkpoints.
    pub(super) fn checkpointing(&self) -> Option<Arc<Checkpointing>> {
        self.rebalancer().and_then(|r| r.checkpointing())
    }

    /// Where this node's spouts of topology `id` stand; `None` without
    /// checkpoints. `target`: first ask them to pause there (`Some(None)`:
    /// resume).
    pub(super) fn cut(
        &self,
        id: &str,
        target: Option<Option<u64>>,
    ) -> Result<Option<NodeCut>, String> {
        let Some(c) = self.checkpointing() else {
            return Ok(None);
        };
        if let Some(target) = target {
            c.ask_switch(target);
        }
        let (status, complete) = c.switch_status().map_err(|e| e.to_string())?;
        let inactive = self
            .find(id)
            .iter()
            .any(|h| h.status() == gale_engine::ControlStatus::Inactive);
        let cut = NodeCut {
            paused: status.paused || inactive,
            last_max: status.last_max,
            live_min: status.live_min,
            complete,
        };
        Ok(Some(cut))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(paused: bool, last_max: u64, live_min: Option<u64>, complete: Option<u64>) -> NodeCut {
        NodeCut {
            paused,
            last_max,
            live_min,
            complete,
        }
    }

    #[test]
    fn the_switch_waits_for_every_spout_and_the_checkpoint_they_all_reached() {
        let cuts = [
            cut(true, 8, Some(8), Some(7)),
            cut(true, 9, Some(8), Some(7)),
        ];
        assert_eq!(target(&cuts), 10);
        // Node 1 has a spout at 9, another at 8: 9 can never complete.
        assert_eq!(ready(&cuts), None, "8 is not complete yet");
        let cuts = [
            cut(true, 8, Some(8), Some(8)),
            cut(true, 9, Some(8), Some(8)),
        ];
        assert_eq!(ready(&cuts), Some(8));
        // A node whose spouts have not all paused holds the switch.
        let cuts = [
            cut(false, 8, Some(8), Some(8)),
            cut(true, 8, Some(8), Some(8)),
        ];
        assert_eq!(ready(&cuts), None);
        // Every spout finished: the last barrier emitted.
        let cuts = [cut(true, 5, None, Some(5)), cut(true, 4, None, Some(5))];
        assert_eq!(ready(&cuts), Some(5));
        // The round trip through a node's answer.
        let c = cut(true, 3, None, Some(2));
        assert_eq!(NodeCut::from_json(&json!({ "cut": c.to_json() })), Some(c));
        assert_eq!(NodeCut::from_json(&json!({ "inflight": 0 })), None);
    }
}
