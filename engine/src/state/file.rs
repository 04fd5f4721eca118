//! [`StateFile`]: the one on-disk layout of a checkpoint file (a task's
//! snapshot, or the `CURRENT` marker), written crash-safely and read back
//! with every byte checked; and [`StateError`].

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// First bytes of every state file.
const MAGIC: &[u8; 8] = b"GALESTAT";
/// The layout's version.
const VERSION: u32 = 1;
/// Magic, version, checkpoint id, payload length, SHA-256 of the payload.
const HEADER: usize = 8 + 4 + 8 + 8 + 32;

/// Why state could not be saved or restored. Every variant that concerns
/// a file or directory names it.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// A file or directory could not be read or written.
    #[error("state: cannot {op} `{path}`: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// The state directory does not exist or is not a directory.
    #[error("state: `{path}` is not a directory (create it first)")]
    NotADirectory {
        /// The path given.
        path: PathBuf,
    },
    /// A checkpoint file is truncated, corrupt, or not a state file.
    #[error("state: checkpoint file `{path}` is damaged: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The current checkpoint has no file for a task that should have one.
    #[error("state: checkpoint {checkpoint} is current, but `{path}` is missing")]
    Missing {
        /// The file expected.
        path: PathBuf,
        /// The current checkpoint.
        checkpoint: u64,
    },
    /// A task name that cannot be a file name.
    #[error("state: `{name}` cannot name a state file (use letters, digits, `-`, `_` and `.`)")]
    BadName {
        /// The name.
        name: String,
    },
    /// Bytes that are not a state snapshot.
    #[error("state: not a snapshot: {reason}")]
    Snapshot {
        /// What is wrong.
        reason: String,
    },
    /// Over several nodes: this node does not see the other nodes'
    /// checkpoints where it keeps its own (a directory that is not on a
    /// filesystem they share).
    #[error(
        "state: node {node} does not see node(s) {unseen:?} in `{location}`: every node of the \
         cluster must keep its checkpoints in the same place (a directory on one machine or on a \
         shared filesystem, or a Redis server: --state-url)"
    )]
    NotShared {
        /// Where this node keeps its checkpoints.
        location: String,
        /// This node.
        node: u32,
        /// The nodes whose files it does not see.
        unseen: Vec<u32>,
    },
    /// A checkpoint saved with another task count than this run's cannot
    /// be split among this run's tasks (see [`Checkpointing`](super::Checkpointing)'s
    /// rescaling).
    #[error("state: component `{component}`: {reason}")]
    Rescale {
        /// The component.
        component: String,
        /// What is wrong.
        reason: String,
    },
    /// A backend other than a directory (a server) failed, or holds
    /// damaged or missing state: `location` names the server and key (a
    /// URL without its password).
    #[error("state: {location}: {reason}")]
    Remote {
        /// The server, and the key if one is concerned.
        location: String,
        /// What is wrong.
        reason: String,
    },
}

/// `payload` (a task's snapshot, or empty for a marker) of `checkpoint`,
/// sealed for storage: a header (magic, layout version, checkpoint id,
/// payload length, SHA-256 of the payload), then the payload. The one
/// layout of every backend's stored state; [`unseal`] checks it.
pub fn seal(checkpoint: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&checkpoint.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&Sha256::digest(payload));
    out.extend_from_slice(payload);
    out
}

/// The checkpoint id and payload of bytes made by [`seal`], every byte
/// checked (they come from a disk or a server: untrusted); what is wrong
/// with them otherwise.
pub fn unseal(bytes: &[u8]) -> Result<(u64, &[u8]), String> {
    if bytes.len() < HEADER {
        return Err(format!(
            "{} bytes, shorter than the {HEADER}-byte header (truncated)",
            bytes.len()
        ));
    }
    let (header, payload) = bytes.split_at(HEADER);
    if &header[..8] != MAGIC {
        return Err("not Gale state (bad magic)".to_owned());
    }
    let word = |at: usize| u64::from_le_bytes(header[at..at + 8].try_into().unwrap_or([0; 8]));
    let version = u32::from_le_bytes(header[8..12].try_into().unwrap_or([0; 4]));
    if version != VERSION {
        return Err(format!("layout version {version}, expected {VERSION}"));
    }
    let (checkpoint, len) = (word(12), word(20));
    if len != payload.len() as u64 {
        return Err(format!(
            "says {len} bytes of state, holds {} (truncated or appended to)",
            payload.len()
        ));
    }
    if Sha256::digest(payload).as_slice() != &header[28..60] {
        return Err("checksum mismatch (the bytes changed)".to_owned());
    }
    Ok((checkpoint, payload))
}

pub(crate) fn io<'p>(
    op: &'static str,
    path: &'p Path,
) -> impl FnOnce(std::io::Error) -> StateError + 'p {
    move |source| StateError::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

/// A checkpoint file: the checkpoint's id and a payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StateFile {
    pub(crate) checkpoint: u64,
    pub(crate) payload: Vec<u8>,
}

impl StateFile {
    /// Writes the file at `path` so that a crash at any moment leaves
    /// either the old file or the whole new one: into a temporary file
    /// beside it, fsynced, renamed over `path`, then the directory
    /// fsynced (so the rename itself is durable).
    pub(crate) fn write(checkpoint: u64, payload: &[u8], path: &Path) -> Result<(), StateError> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        let tmp = dir.join(format!(".{name}.tmp"));
        let mut file = File::create(&tmp).map_err(io("create", &tmp))?;
        file.write_all(&seal(checkpoint, payload))
            .map_err(io("write", &tmp))?;
        file.sync_all().map_err(io("fsync", &tmp))?;
        drop(file);
        fs::rename(&tmp, path).map_err(io("rename into place", path))?;
        sync_dir(dir)
    }

    /// Reads and checks the file at `path` (untrusted: any damage is a
    /// [`StateError::Corrupt`] naming it).
    pub(crate) fn read(path: &Path) -> Result<Self, StateError> {
        let bytes = fs::read(path).map_err(io("read", path))?;
        let (checkpoint, payload) = unseal(&bytes).map_err(|reason| StateError::Corrupt {
            path: path.to_owned(),
            reason,
        })?;
        Ok(Self {
            checkpoint,
            payload: payload.to_vec(),
        })
    }
}

/// Makes the entries of `dir` (renames, new files) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StateError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("fsync directory", dir))
}
