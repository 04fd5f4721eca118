//! [`StateBackend`]: where checkpoints are kept.

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
    fn load(&self, task: &str) -> Result<Option<(u64, Vec<u8>)>, StateError>;
    /// Where the checkpoints are (a path, a URL without its password), for
    /// messages.
    fn location(&self) -> String;
}
