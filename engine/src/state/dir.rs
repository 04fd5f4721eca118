//! [`DirBackend`]: checkpoints in a local directory.
//!
//! ```text
//! DIR/CURRENT                  the id of the last complete checkpoint
//! DIR/chk-<id>/<task>.state    each task's snapshot in checkpoint <id>
//! DIR/chk-<id>/node-<n>.done   over several nodes: node <n> saved checkpoint <id>
//! DIR/node-<n>.epoch           over several nodes: node <n>'s run count
//! ```
//!
//! Every file is a [`StateFile`] written to a temporary name, fsynced and
//! renamed into place, with its directory fsynced after. A checkpoint's
//! task files are all written before `CURRENT` names it (or, over several
//! nodes, before the node's marker is renamed into place), so a crash at
//! any moment leaves `CURRENT` naming a checkpoint whose files are all
//! there and whole; older checkpoints are removed only after that.
//!
//! Several nodes can share the directory only if they all see it: one
//! machine, or a shared filesystem that keeps `rename` atomic and `fsync`
//! durable (NFSv4, CephFS). A node that cannot see its peers' files is
//! told so at start (see [`Checkpointing`](super::Checkpointing)).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::ErrorKind;
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

    /// Creates `checkpoint`'s directory if it is not there yet (durably).
    fn create_checkpoint_dir(&self, checkpoint: u64) -> Result<(), StateError> {
        let dir = self.checkpoint_dir(checkpoint);
        if !dir.is_dir() {
            fs::create_dir_all(&dir).map_err(io("create directory", &dir))?;
            sync_dir(&self.root)?;
        }
        Ok(())
    }

    /// Every checkpoint directory, with its id.
    fn checkpoints(&self) -> Result<Vec<(u64, PathBuf)>, StateError> {
        let entries = fs::read_dir(&self.root).map_err(io("list", &self.root))?;
        Ok(entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name();
                let id = name.to_str()?.strip_prefix("chk-")?.parse::<u64>().ok()?;
                Some((id, e.path()))
            })
            .collect())
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
        self.create_checkpoint_dir(checkpoint)?;
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
        self.prune(checkpoint)
    }

    /// The current checkpoint's id, `None` if none was ever committed.
    fn current(&self) -> Result<Option<u64>, StateError> {
        let path = self.root.join(CURRENT);
        if !path.exists() {
            return Ok(None);
        }
        Ok(Some(StateFile::read(&path)?.checkpoint))
    }

    /// `task`'s snapshot in `checkpoint`: a missing or damaged file is an
    /// error naming it, never a fresh start.
    fn load_at(&self, checkpoint: u64, task: &str) -> Result<Vec<u8>, StateError> {
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
        Ok(file.payload)
    }

    fn location(&self) -> String {
        self.root.display().to_string()
    }

    fn mark(&self, checkpoint: u64, node: u32) -> Result<(), StateError> {
        self.create_checkpoint_dir(checkpoint)?;
        let path = self.checkpoint_dir(checkpoint).join(marker(node));
        StateFile::write(checkpoint, &[], &path)
    }

    fn marks(&self) -> Result<BTreeMap<u64, BTreeSet<u32>>, StateError> {
        let mut marks = BTreeMap::new();
        for (id, dir) in self.checkpoints()? {
            // Pruned by another node meanwhile: no markers.
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            let nodes: BTreeSet<u32> = entries
                .flatten()
                .filter_map(|e| {
                    let name = e.file_name();
                    let node = name
                        .to_str()?
                        .strip_prefix("node-")?
                        .strip_suffix(".done")?;
                    node.parse().ok()
                })
                .collect();
            marks.insert(id, nodes);
        }
        Ok(marks)
    }

    fn unmark_after(&self, node: u32, after: u64) -> Result<(), StateError> {
        for (_, dir) in self
            .checkpoints()?
            .into_iter()
            .filter(|(id, _)| *id > after)
        {
            let path = dir.join(marker(node));
            match fs::remove_file(&path) {
                Ok(()) => sync_dir(&dir)?,
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(io("remove stale marker", &path)(e)),
            }
        }
        Ok(())
    }

    fn prune(&self, checkpoint: u64) -> Result<(), StateError> {
        for (_, path) in self
            .checkpoints()?
            .into_iter()
            .filter(|(id, _)| *id < checkpoint)
        {
            match fs::remove_dir_all(&path) {
                // Another node pruning the same checkpoint.
                Err(e) if e.kind() != ErrorKind::NotFound => {
                    return Err(io("remove old checkpoint", &path)(e))
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn epochs(&self) -> Result<BTreeMap<u32, u64>, StateError> {
        let entries = fs::read_dir(&self.root).map_err(io("list", &self.root))?;
        let mut epochs = BTreeMap::new();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let node = name
                .to_str()
                .and_then(|n| n.strip_prefix("node-")?.strip_suffix(".epoch"))
                .and_then(|n| n.parse::<u32>().ok());
            if let Some(node) = node {
                epochs.insert(node, StateFile::read(&entry.path())?.checkpoint);
            }
        }
        Ok(epochs)
    }

    fn set_epoch(&self, node: u32, epoch: u64) -> Result<(), StateError> {
        let path = self.root.join(format!("node-{node}.epoch"));
        StateFile::write(epoch, &[], &path)
    }
}

/// The file name of `node`'s marker in a checkpoint's directory.
fn marker(node: u32) -> String {
    format!("node-{node}.done")
}
