//! [`TextError`]: why `file-read-wordcount`'s text file could not be used.

use std::io;
use std::path::PathBuf;

/// Why the text file could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// The file could not be read.
    #[error("cannot read {}: {message}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What kind of failure.
        kind: io::ErrorKind,
        /// The OS's message.
        message: String,
    },
    /// A line is not UTF-8.
    #[error("{} line {line} is not UTF-8 text", path.display())]
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// The line's number, from 1.
        line: usize,
    },
    /// No line has a word on it.
    #[error("{} has no line with a word on it", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
}
