//! [`LinkError`]: why a link could not start.

use std::net::SocketAddr;

/// Why a [`Link`](super::Link) could not start.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The configured listen address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// Another I/O error while starting (poller, thread, io_uring setup).
    #[error("link I/O error while {context}: {source}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// An inconsistent configuration or ring set.
    #[error("invalid link configuration: {0}")]
    Config(String),
    /// [`Backend::IoUring`](super::Backend::IoUring) was requested but io_uring is not available.
    #[error("io_uring is not available: {0}")]
    IoUringUnavailable(std::io::Error),
}
