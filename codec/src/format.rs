//! The format's fixed numbers: how archived records are aligned, how long
//! and how deeply nested they may be; how a frame identifies itself and how
//! long its body may be.

use crate::tuple::ArchivedTuple;

/// Alignment of every archived record's first byte (ring slots and frame
/// records are laid out to it).
pub const RECORD_ALIGN: usize = 8;

/// Largest archived record a reader accepts (16 MiB).
pub const MAX_RECORD_LEN: usize = 16 << 20;

/// Longest string or byte string a value (or a map key) may hold:
/// 2^30 - 1 bytes, the longest length rkyv's archived string can say (it
/// keeps two tag bits in its 32-bit length). Encoders refuse longer ones
/// ([`EncodeError::TooLong`](crate::EncodeError::TooLong)) rather than
/// write a wrapped length.
pub const MAX_VALUE_LEN: usize = (1 << 30) - 1;

/// Nesting limit of a tuple's values, counting the tuple itself as one level:
/// a tuple may hold lists and maps nested `MAX_NESTING - 1` deep. Encoders
/// refuse deeper values
/// ([`EncodeError::TooDeep`](crate::EncodeError::TooDeep)) and validating
/// readers refuse records that nest deeper than what encoders produce.
pub const MAX_NESTING: usize = 64;

/// The four bytes every frame starts with.
pub const FRAME_MAGIC: [u8; 4] = *b"GALE";
/// The frame format version this build writes and reads.
pub const FRAME_VERSION: u16 = 3;
/// Largest frame body accepted (64 MiB).
pub const MAX_FRAME_BODY: usize = 64 << 20;

const _: () = assert!(std::mem::align_of::<ArchivedTuple>() <= RECORD_ALIGN);
