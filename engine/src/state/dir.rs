//! [`DirBackend`]: checkpoints in a local directory.
//!
//! ```text
//! DIR/CURRENT                  the id of the last complete checkpoint
//! DIR/chk-<id>/<task>.state    each task's snapshot in checkpoint <id>
//! ```
//!
//! Every file is a [`StateFile`] written to a temporary name, fsynced and
//! renamed into place, with its directory fsynced after. A checkpoint's
//! task files are all written before `CURRENT` names it, so a crash at any
//! moment leaves `CURRENT` naming a checkpoint whose files are all there
//! and whole; older checkpoints are removed only after that.

use std::fs;
use std::path::{Path, PathBuf};

use super::backend::StateBackend;
use super::file::{io, sync_dir, StateError, StateFile};

/// File naming the current checkpoint.
const CURRENT: &str = "CURRENT";

/// Checkpoints in a local directory, crash-safe (see the module docs).
#[derive(Debug, Clone)]
pub struct DirBackend {
    root: PathBuf,
}

impl DirBackend {
    /// The backend over `root`, which must be an existing directory (a
    /// missing one is an error naming it, not a fresh start).
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, StateError> {
        let root = root.into();
        if !root.is_dir() {
            return Err(StateError::NotADirectory { path: root });
        }
        Ok(Self { root })
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn checkpoint_dir(&self, checkpoint: u64) -> PathBuf {
        self.root.join(format!("chk-{checkpoint}"))
    }

    fn task_file(&self, checkpoint: u64, task: &str) -> Result<PathBuf, StateError> {
        let ok = !task.is_empty()
            && !task.starts_with('.')
            && task
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !ok {
            return Err(StateError::BadName {
                name: task.to_owned(),
            });
        }
        Ok(self
            .checkpoint_dir(checkpoint)
            .join(format!("{task}.state")))
    }
}

impl StateBackend for DirBackend {
    /// Writes `task`'s snapshot for `checkpoint` (not current until
    /// [`commit`](Self::commit)).
    fn save(&self, checkpoint: u64, task: &str, snapshot: &[u8]) -> Result<(), StateError> {
        let path = self.task_file(checkpoint, task)?;
        let dir = self.checkpoint_dir(checkpoint);
        if !dir.is_dir() {
            fs::create_dir_all(&dir).map_err(io("create directory", &dir))?;
            sync_dir(&self.root)?;
        }
        StateFile::write(checkpoint, snapshot, &path)
    }

    /// Makes `checkpoint` current (every task's snapshot must be saved),
    /// then removes older checkpoints.
    fn commit(&self, checkpoint: u64) -> Result<(), StateError> {
        let dir = self.checkpoint_dir(checkpoint);
        if !dir.is_dir() {
            fs::create_dir_all(&dir).map_err(io("create directory", &dir))?;
        }
        sync_dir(&dir)?;
        StateFile::write(checkpoint, &[], &self.root.join(CURRENT))?;
        let entries = fs::read_dir(&self.root).map_err(io("list", &self.root))?;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let old = name
                .to_str()
                .and_then(|n| n.strip_prefix("chk-"))
                .and_then(|n| n.parse::<u64>().ok())
                .is_some_and(|id| id < checkpoint);
            if old {
                let path = entry.path();
                fs::remove_dir_all(&path).map_err(io("remove old checkpoint", &path))?;
            }
        }
        Ok(())
    }

    /// The current checkpoint's id, `None` if none was ever committed.
    fn current(&self) -> Result<Option<u64>, StateError> {
        let path = self.root.join(CURRENT);
        if !path.exists() {
            return Ok(None);
        }
        Ok(Some(StateFile::read(&path)?.checkpoint))
    }

    /// `task`'s snapshot in the current checkpoint, with its id; `None` if
    /// no checkpoint was ever committed. A current checkpoint without a
    /// whole file for `task` is an error, never a fresh start.
    fn load(&self, task: &str) -> Result<Option<(u64, Vec<u8>)>, StateError> {
        let Some(checkpoint) = self.current()? else {
            return Ok(None);
        };
        let path = self.task_file(checkpoint, task)?;
        if !path.exists() {
            return Err(StateError::Missing { path, checkpoint });
        }
        let file = StateFile::read(&path)?;
        if file.checkpoint != checkpoint {
            return Err(StateError::Corrupt {
                path,
                reason: format!(
                    "it belongs to checkpoint {}, not the current {checkpoint}",
                    file.checkpoint
                ),
            });
        }
        Ok(Some((checkpoint, file.payload)))
    }

    fn location(&self) -> String {
        self.root.display().to_string()
    }
}
