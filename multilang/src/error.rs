//! [`ShellError`]: why a child could not be started.

use std::path::PathBuf;

/// Why a child could not be started.
#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    /// The command could not be run (not found, not executable...).
    #[error("cannot start `{command}`: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The pid directory could not be made.
    #[error("cannot create the pid directory {}: {source}", path.display())]
    PidDir {
        /// The directory.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The child did not answer the handshake with its pid.
    #[error("handshake failed: {reason}{stderr}")]
    Handshake {
        /// What went wrong.
        reason: String,
        /// The tail of the child's stderr (`; stderr tail:` and lines), or
        /// empty.
        stderr: String,
    },
}
