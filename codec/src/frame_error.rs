//! [`FrameError`]: what is wrong with a frame or a record read from
//! untrusted bytes.

use crate::{FRAME_MAGIC, FRAME_VERSION, MAX_FRAME_BODY, RECORD_ALIGN};

/// Errors from reading a frame or a record from untrusted bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Fewer bytes than the header or the body needs; read more and retry.
    #[error("incomplete frame: need {needed} bytes, have {have}")]
    Incomplete {
        /// Bytes needed for the whole header or frame.
        needed: usize,
        /// Bytes available.
        have: usize,
    },
    /// The first four bytes are not [`FRAME_MAGIC`].
    #[error("bad frame magic {found:02x?}, expected {FRAME_MAGIC:02x?}")]
    BadMagic {
        /// The bytes found.
        found: [u8; 4],
    },
    /// A frame of another format version.
    #[error("frame version {found} is not supported (this build speaks {FRAME_VERSION})")]
    UnsupportedVersion {
        /// The version found.
        found: u16,
    },
    /// Flags this version does not define.
    #[error("unknown frame flags {flags:#06x}")]
    UnknownFlags {
        /// The flags found.
        flags: u16,
    },
    /// Body length over [`MAX_FRAME_BODY`] or not a multiple of 8.
    #[error("bad frame body length {len} (max {MAX_FRAME_BODY}, multiple of 8)")]
    BadLength {
        /// The length found.
        len: usize,
    },
    /// The records do not fill the body exactly as the header says.
    #[error("frame body holds {found} records in {used} of {len} bytes; header says {count}")]
    CountMismatch {
        /// Record count in the header.
        count: u32,
        /// Records found before the body ran out.
        found: u32,
        /// Body bytes used by those records.
        used: usize,
        /// Body length.
        len: usize,
    },
    /// A record header that runs past the body.
    #[error("record {index}: malformed record header")]
    BadRecordHeader {
        /// Position of the record in the frame.
        index: usize,
    },
    /// A record over [`MAX_RECORD_LEN`](crate::MAX_RECORD_LEN).
    #[error("record {index}: {len} bytes exceeds the {max}-byte limit")]
    RecordTooLarge {
        /// Position of the record in the frame.
        index: usize,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A record that is not a valid archived tuple: a pointer or length out
    /// of bounds, overlapping or misaligned data, a bad enum tag, a bool that
    /// is not 0 or 1, or a string that is not UTF-8.
    #[error("record {index}: not a valid archived tuple")]
    InvalidRecord {
        /// Position of the record in the frame.
        index: usize,
    },
    /// A record whose values nest deeper than
    /// [`MAX_NESTING`](crate::MAX_NESTING).
    #[error(
        "record {index}: values nested deeper than {} levels",
        crate::MAX_NESTING
    )]
    TooDeep {
        /// Position of the record in the frame.
        index: usize,
    },
    /// Bytes not on an 8-byte boundary; receive into an aligned buffer.
    #[error("buffer at {addr:#x} is not {RECORD_ALIGN}-byte aligned")]
    Misaligned {
        /// Address of the bytes.
        addr: usize,
    },
}
