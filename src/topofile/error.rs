//! [`LoadError`]: why a topology file could not be loaded.

use std::fmt;
use std::path::{Path, PathBuf};

use super::located::Located;

/// Why a topology file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Python could not describe a streamparse topology file.
    #[error("cannot read the streamparse topology {}: {reason}", path.display())]
    Describe {
        /// The file.
        path: PathBuf,
        /// What went wrong (with Python's stderr).
        reason: String,
    },
    /// The file has mistakes: all of them, in file order where known.
    #[error("{}", Listing { path, errors })]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Every mistake found.
        errors: Vec<Located>,
    },
}

impl LoadError {
    /// The mistakes found (empty for an I/O error).
    pub fn errors(&self) -> &[Located] {
        match self {
            LoadError::Io { .. } | LoadError::Describe { .. } => &[],
            LoadError::Invalid { errors, .. } => errors,
        }
    }
}

struct Listing<'a> {
    path: &'a Path,
    errors: &'a [Located],
}

impl fmt::Display for Listing<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        write!(
            f,
            "{} has {n} error{}:",
            self.path.display(),
            if n == 1 { "" } else { "s" }
        )?;
        for e in self.errors {
            write!(f, "\n  {}", self.path.display())?;
            if let Some(line) = e.line {
                write!(f, ":{line}")?;
            }
            if !e.at.is_empty() {
                write!(f, ": {}", e.at)?;
            }
            write!(f, ": {}", e.message)?;
        }
        Ok(())
    }
}
