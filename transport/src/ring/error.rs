//! Error types of the ring, one enum per operation.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

/// Which side of a ring a handle is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// The single writer.
    Producer,
    /// The single reader.
    Consumer,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Producer => "producer",
            Role::Consumer => "consumer",
        })
    }
}

/// A [`RingConfig`](crate::RingConfig) that cannot describe a ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// The capacity is not a power of two.
    #[error("capacity {capacity} is not a power of two")]
    CapacityNotPowerOfTwo {
        /// The requested capacity in bytes.
        capacity: u64,
    },
    /// The capacity is below [`MIN_CAPACITY`](crate::MIN_CAPACITY) or above
    /// [`MAX_CAPACITY`](crate::MAX_CAPACITY).
    #[error("capacity {capacity} is outside {min}..={max} bytes")]
    CapacityOutOfRange {
        /// The requested capacity in bytes.
        capacity: u64,
        /// Smallest allowed capacity.
        min: u64,
        /// Largest allowed capacity.
        max: u64,
    },
    /// The maximum record size is above the limit for this capacity
    /// (`capacity / 2 - 8`, so that an empty ring always has room for one
    /// maximal record even when it has to wrap).
    #[error("max_record {max_record} exceeds the limit {limit} for this capacity")]
    MaxRecordTooLarge {
        /// The requested maximum payload size in bytes.
        max_record: u64,
        /// The largest allowed value for this capacity.
        limit: u64,
    },
    /// The publication batch is zero.
    #[error("batch must be at least 1")]
    ZeroBatch,
}

/// Why a ring could not be created, opened or attached to.
///
/// A ring file is untrusted input: every inconsistency in it is reported as
/// one of these variants, never as a panic.
#[derive(Debug, Error)]
pub enum RingError {
    /// The configuration is invalid.
    #[error("invalid ring configuration: {0}")]
    InvalidConfig(#[from] ConfigError),
    /// The file does not start with the ring magic number.
    #[error("not a Gale ring: bad magic {found:#018x}")]
    BadMagic {
        /// The first eight bytes of the file.
        found: u64,
    },
    /// The file was written by an incompatible layout version.
    #[error("ring layout version {found} is not supported (expected {expected})")]
    VersionMismatch {
        /// Version in the file.
        found: u32,
        /// Version this build understands.
        expected: u32,
    },
    /// The file is shorter than a ring header.
    #[error("ring file is truncated: {len} bytes, at least {min} needed")]
    Truncated {
        /// The file length.
        len: u64,
        /// The minimum length of a ring file.
        min: u64,
    },
    /// The header has the right magic and version but inconsistent contents.
    #[error("corrupt ring header: {reason}")]
    CorruptHeader {
        /// What is inconsistent.
        reason: &'static str,
    },
    /// Another handle of this role is already attached to the ring.
    #[error("a {role} is already attached to this ring")]
    AlreadyAttached {
        /// The role that is taken.
        role: Role,
    },
    /// Mapping anonymous memory failed.
    #[error("cannot map {len} bytes of anonymous memory: {source}")]
    Map {
        /// Requested mapping size.
        len: usize,
        /// The OS error.
        source: io::Error,
    },
    /// A ring file that another user owns or may access, or that is not a
    /// regular file: another local user could read or write its tuples.
    #[error("ring file {} is not trusted: {reason}", path.display())]
    Untrusted {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A file operation on a ring file failed.
    #[error("I/O error on ring file {}: {source}", path.display())]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

/// Why [`Producer::try_reserve`](crate::Producer::try_reserve) returned no slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum ReserveError {
    /// Not enough free space right now; retry after the consumer releases.
    #[error("ring is full")]
    Full,
    /// The record can never fit: it is larger than the ring's maximum.
    #[error("record of {len} bytes exceeds the maximum record size {max}")]
    TooLarge {
        /// The requested length.
        len: usize,
        /// The ring's maximum record size.
        max: usize,
    },
}
