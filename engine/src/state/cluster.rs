//! Checkpoints over several nodes (`gale node`): when a checkpoint is
//! complete, which one a restarting node restores, and when a node must
//! stop taking part.
//!
//! Barriers are ordinary tuples, so they cross the links between nodes
//! like any other; what is per process is the count of the tasks that
//! saved checkpoint `n`. Over several nodes each node's [`Checkpointing`]
//! counts its own tasks, then writes its *marker* for `n` to the shared
//! backend ([`StateBackend::mark`]); `n` is complete once the markers of
//! every node of the cluster file are there. Then whichever node sees it
//! complete forgets the older checkpoints ([`StateBackend::prune`]).
//!
//! A node joins ([`Cluster::join`]) before its link starts: it restores
//! the greatest complete checkpoint, removes its own markers of later
//! ones (a run that crashed left them, and the ids are used again: every
//! spout numbers its barriers on from the restored id), and takes the
//! next *epoch* (run count), which goes into the fingerprint its peers
//! must match. A node restarted after a crash thus never exchanges a
//! tuple with a peer still running the crashed run, whose state is
//! ahead of the restored checkpoint.
//!
//! A node whose link lost a peer, or reconnected to one, has a cut with
//! tuples missing (those in flight on the lost connection): it writes no
//! marker after that, and its run stops with an error (see
//! [`NodeCluster`](crate::NodeCluster)); every node of the cluster must
//! be restarted to roll back to the last complete checkpoint.
//!
//! [`Checkpointing`]: super::Checkpointing

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use gale_transport::link::{LinkStatsHandle, PeerState};

use super::backend::StateBackend;
use super::file::StateError;

/// How long a node looks for its peers' epochs in the backend once they
/// are connected (a shared filesystem may show new files a little late).
const SHARED_WAIT: Duration = Duration::from_secs(10);

/// This node's part in checkpoints over several nodes.
#[derive(Debug)]
pub(crate) struct Cluster {
    /// This node.
    pub(crate) node: u32,
    /// Every node of the cluster file.
    nodes: BTreeSet<u32>,
    /// This node's tasks taking part (its spouts and bolts).
    pub(crate) tasks: usize,
    /// The greatest complete checkpoint when the node joined.
    pub(crate) restored: Option<u64>,
    /// This node's run count (see the module docs).
    pub(crate) epoch: u64,
    /// The link to the other nodes, once it is up.
    link: OnceLock<LinkStatsHandle>,
    /// The newest checkpoint seen complete.
    complete: Mutex<u64>,
}

/// What the link to the other nodes says about this node's checkpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LinkHealth {
    /// Every peer is up and no connection was ever lost.
    Whole,
    /// Peers stopped cleanly (said goodbye): no checkpoint can complete
    /// any more, the node should stop too.
    Left(Vec<u32>),
    /// A connection was lost or made again: tuples in flight on it are
    /// gone, so this node must not mark any checkpoint any more.
    Broken(Vec<u32>),
}

impl Cluster {
    /// Node `node` of `nodes` joins, with `tasks` tasks taking part (see
    /// the module docs).
    pub(crate) fn join(
        backend: &dyn StateBackend,
        node: u32,
        nodes: &[u32],
        tasks: usize,
    ) -> Result<Self, StateError> {
        let nodes: BTreeSet<u32> = nodes.iter().copied().collect();
        let by_marks = complete(&backend.marks()?, &nodes);
        // A checkpoint of a single-process run (`gale run`) in the same
        // place counts too: never a fresh start over existing state.
        let restored = by_marks.max(backend.current()?);
        backend.unmark_after(node, restored.unwrap_or(0))?;
        let epochs = backend.epochs()?;
        let mine = epochs.get(&node).copied().unwrap_or(0);
        let newest = epochs.values().copied().max().unwrap_or(0);
        // A node behind the newest run joins it; one at the newest starts
        // the next (whoever starts first after a crash).
        let epoch = if newest > mine { newest } else { mine + 1 };
        backend.set_epoch(node, epoch)?;
        Ok(Self {
            node,
            nodes,
            tasks,
            restored,
            epoch,
            link: OnceLock::new(),
            complete: Mutex::new(restored.unwrap_or(0)),
        })
    }

    /// The link is up (every peer connected, so every peer has joined):
    /// checks that this node sees every peer's epoch in the backend (a
    /// directory that is not shared shows only this node's), then watches
    /// the link.
    pub(crate) fn connected(
        &self,
        backend: &dyn StateBackend,
        link: LinkStatsHandle,
    ) -> Result<(), StateError> {
        let deadline = Instant::now() + SHARED_WAIT;
        loop {
            let epochs = backend.epochs()?;
            let unseen: Vec<u32> = self
                .nodes
                .iter()
                .filter(|n| epochs.get(n).is_none_or(|&e| e < self.epoch))
                .copied()
                .collect();
            if unseen.is_empty() {
                break;
            }
            if Instant::now() >= deadline {
                return Err(StateError::NotShared {
                    location: backend.location(),
                    node: self.node,
                    unseen,
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.link.set(link);
        Ok(())
    }

    /// What the link says (see [`LinkHealth`]); before the link is up, it
    /// is not whole.
    pub(crate) fn health(&self) -> LinkHealth {
        let Some(link) = self.link.get() else {
            return LinkHealth::Broken(Vec::new());
        };
        let stats = link.stats();
        let broken: Vec<u32> = stats
            .peers
            .iter()
            .filter(|p| p.lost > 0 || p.reconnects > 0)
            .map(|p| p.id)
            .collect();
        if !broken.is_empty() {
            return LinkHealth::Broken(broken);
        }
        let left: Vec<u32> = stats
            .peers
            .iter()
            .filter(|p| p.state != PeerState::Up || p.dropped > 0)
            .map(|p| p.id)
            .collect();
        if left.is_empty() {
            LinkHealth::Whole
        } else {
            LinkHealth::Left(left)
        }
    }

    /// Whether this node writes each checkpoint's layout (one node does:
    /// the cluster's first).
    pub(crate) fn writes_layout(&self) -> bool {
        self.nodes.first() == Some(&self.node)
    }

    /// The greatest checkpoint every node has marked, now.
    pub(crate) fn complete_now(
        &self,
        backend: &dyn StateBackend,
    ) -> Result<Option<u64>, StateError> {
        Ok(complete(&backend.marks()?, &self.nodes))
    }

    /// Marks checkpoint `n` (every task of this node saved it) if the
    /// link is whole, then returns the greatest complete checkpoint if it
    /// is newer than the last one seen (older ones are then pruned).
    pub(crate) fn mark(
        &self,
        backend: &dyn StateBackend,
        n: u64,
    ) -> Result<Option<u64>, StateError> {
        match self.health() {
            LinkHealth::Whole => backend.mark(n, self.node)?,
            health => {
                tracing::warn!(
                    checkpoint = n,
                    ?health,
                    "checkpoint not marked: the link to the other nodes is not whole"
                );
                return Ok(None);
            }
        }
        self.newly_complete(backend)
    }

    /// The greatest complete checkpoint if it is newer than the last one
    /// seen (older ones are then pruned). Only the node that marks a
    /// checkpoint last sees it complete in [`mark`](Self::mark); the
    /// others learn it here (else their last completed checkpoint would
    /// lag one behind, and the final one never show).
    pub(crate) fn newly_complete(
        &self,
        backend: &dyn StateBackend,
    ) -> Result<Option<u64>, StateError> {
        let Some(c) = complete(&backend.marks()?, &self.nodes) else {
            return Ok(None);
        };
        let mut seen = self.complete.lock().unwrap_or_else(PoisonError::into_inner);
        if c <= *seen {
            return Ok(None);
        }
        *seen = c;
        backend.prune(c)?;
        Ok(Some(c))
    }
}

/// The greatest checkpoint every one of `nodes` has marked.
fn complete(marks: &BTreeMap<u64, BTreeSet<u32>>, nodes: &BTreeSet<u32>) -> Option<u64> {
    marks
        .iter()
        .rev()
        .find(|(_, marked)| nodes.is_subset(marked))
        .map(|(n, _)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::DirBackend;

    #[test]
    fn join_restores_the_greatest_checkpoint_every_node_marked_and_agrees_on_the_epoch() {
        let dir = std::env::temp_dir().join(format!("gale-cluster-join-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let b = DirBackend::open(&dir).unwrap();
        let nodes = [0, 1, 2];
        // A fresh cluster: nothing to restore, every node at epoch 1.
        let joined: Vec<Cluster> = nodes
            .iter()
            .map(|&n| Cluster::join(&b, n, &nodes, 1).unwrap())
            .collect();
        assert!(joined.iter().all(|c| c.restored.is_none() && c.epoch == 1));
        // Checkpoint 3 saved by all, 4 by nodes 0 and 2 (node 1 crashed).
        for n in nodes {
            b.save(3, &format!("t-{n}"), b"three").unwrap();
            b.mark(3, n).unwrap();
        }
        for n in [0, 2] {
            b.save(4, &format!("t-{n}"), b"four").unwrap();
            b.mark(4, n).unwrap();
        }
        // Node 1 restarts first: it restores 3 and starts epoch 2; node 0
        // (which marked 4) joins epoch 2, restores 3 and drops its marker
        // of 4, so that node 1's new checkpoint 4 cannot complete with it.
        let one = Cluster::join(&b, 1, &nodes, 1).unwrap();
        assert_eq!((one.restored, one.epoch), (Some(3), 2));
        let zero = Cluster::join(&b, 0, &nodes, 1).unwrap();
        assert_eq!((zero.restored, zero.epoch), (Some(3), 2));
        let marks = b.marks().unwrap();
        assert_eq!(marks[&4], BTreeSet::from([2]));
        let two = Cluster::join(&b, 2, &nodes, 1).unwrap();
        assert_eq!((two.restored, two.epoch), (Some(3), 2));
        assert!(b.marks().unwrap()[&4].is_empty());
        assert_eq!(b.load_at(3, "t-1").unwrap(), b"three");
        // Without a link, nothing is marked.
        assert_eq!(zero.mark(&b, 4).unwrap(), None);
        assert!(b.marks().unwrap()[&4].is_empty());
        // Once every node marked 4, 3 is pruned.
        for n in nodes {
            b.mark(4, n).unwrap();
        }
        assert_eq!(complete(&b.marks().unwrap(), &nodes.into()), Some(4));
        b.prune(4).unwrap();
        assert_eq!(b.marks().unwrap().keys().copied().collect::<Vec<_>>(), [4]);
        assert!(b.load_at(3, "t-1").is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
