//! [`EncodeError`]: why a tuple could not be encoded.

use crate::{MAX_NESTING, MAX_VALUE_LEN, RECORD_ALIGN};

/// Errors from encoding a tuple.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The archived tuple does not fit in the buffer given.
    #[error("archived tuple does not fit in a {capacity}-byte buffer")]
    DoesNotFit {
        /// Size of the buffer that was too small.
        capacity: usize,
    },
    /// The buffer does not start on a [`RECORD_ALIGN`] boundary.
    #[error("encode buffer at {addr:#x} is not {RECORD_ALIGN}-byte aligned")]
    Misaligned {
        /// Address of the buffer.
        addr: usize,
    },
    /// A frame would grow past [`MAX_FRAME_BODY`](crate::MAX_FRAME_BODY);
    /// finish it and start another.
    #[error("frame is full ({body_len} body bytes); finish it and start another")]
    FrameFull {
        /// Body bytes the frame would have had.
        body_len: usize,
    },
    /// Values are nested deeper than readers accept.
    #[error("values are nested {depth} deep; at most {MAX_NESTING} is allowed")]
    TooDeep {
        /// The nesting depth found.
        depth: usize,
    },
    /// A string, byte string or map key is longer than
    /// [`MAX_VALUE_LEN`] bytes.
    #[error("a string or byte string of {len} bytes is longer than the {MAX_VALUE_LEN} bytes a value may hold")]
    TooLong {
        /// Its length.
        len: usize,
    },
}

impl EncodeError {
    /// Checks that a string or byte string of `len` bytes is within
    /// [`MAX_VALUE_LEN`].
    pub(crate) fn check_len(len: usize) -> Result<(), EncodeError> {
        if len > MAX_VALUE_LEN {
            return Err(EncodeError::TooLong { len });
        }
        Ok(())
    }
}
