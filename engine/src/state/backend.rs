//! [`StateBackend`]: where checkpoints are kept.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::file::StateError;

/// Where a topology's checkpoints are kept: a local directory
/// ([`DirBackend`](super::DirBackend)) or a server (the Redis backend of
/// `gale-connectors`). A checkpoint is every task's snapshot, saved one by
/// one, then made current at once; a backend must keep the previous
/// checkpoint current and whole until [`commit`](Self::commit) returns,
/// whatever fails or crashes in between, and must treat what it reads back
/// as untrusted (store snapshots [sealed](super::seal), check them with
/// [`unseal`](super::unseal)).
///
/// Over several nodes (`gale node`) nothing is made current by one
/// process: each node [marks](Self::mark) a checkpoint once all of its
/// tasks saved it, the checkpoint is complete when every node of the
/// cluster has marked it, and a restarting node restores the greatest
/// complete one (see [`Checkpointing`](super::Checkpointing)). A marker
/// must become visible only after the node's snapshots of that checkpoint
/// are durable.
pub trait StateBackend: Send + Sync + fmt::Debug {
    /// Stores `task`'s snapshot for `checkpoint` (not current until
    /// [`commit`](Self::commit)).
    fn save(&self, checkpoint: u64, task: &str, snapshot: &[u8]) -> Result<(), StateError>;
    /// Makes `checkpoint` current (every task's snapshot is saved), then
    /// forgets older checkpoints.
    fn commit(&self, checkpoint: u64) -> Result<(), StateError>;
    /// The current checkpoint's id, `None` if none was ever committed.
    fn current(&self) -> Result<Option<u64>, StateError>;
    /// `task`'s snapshot in the current checkpoint, with its id; `None` if
    /// none was ever committed. A current checkpoint without `task`'s
    /// snapshot, or with a damaged one, is an error naming where it was
    /// looked for: never a fresh start.
    fn load(&self, task: &str) -> Result<Option<(u64, Vec<u8>)>, StateError> {
        let Some(checkpoint) = self.current()? else {
            return Ok(None);
        };
        self.load_at(checkpoint, task)
            .map(|s| Some((checkpoint, s)))
    }
    /// `task`'s snapshot in `checkpoint`, which must be whole: a missing
    /// or damaged snapshot is an error naming where it was looked for.
    fn load_at(&self, checkpoint: u64, task: &str) -> Result<Vec<u8>, StateError>;
    /// Where the checkpoints are (a path, a URL without its password), for
    /// messages.
    fn location(&self) -> String;

    /// Records that every task of `node` saved `checkpoint` (its marker).
    fn mark(&self, checkpoint: u64, node: u32) -> Result<(), StateError>;
    /// The markers kept: checkpoint → the nodes that marked it.
    fn marks(&self) -> Result<BTreeMap<u64, BTreeSet<u32>>, StateError>;
    /// Removes `node`'s markers of the checkpoints after `after` (left by
    /// a run that stopped before they completed).
    fn unmark_after(&self, node: u32, after: u64) -> Result<(), StateError>;
    /// Forgets every checkpoint older than `checkpoint`: snapshots and
    /// markers.
    fn prune(&self, checkpoint: u64) -> Result<(), StateError>;
    /// Each node's run count, as [`set_epoch`](Self::set_epoch) left it.
    fn epochs(&self) -> Result<BTreeMap<u32, u64>, StateError>;
    /// Records `node`'s run count (see
    /// [`Checkpointing::join_cluster`](super::Checkpointing::join_cluster)).
    fn set_epoch(&self, node: u32, epoch: u64) -> Result<(), StateError>;
}
