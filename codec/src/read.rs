//! Reading archived tuples: trusted (our own rings) and checked (anything
//! that came from outside the process).

use std::{alloc::Layout, ops::Range};

use rkyv::{
    api::access_with_context,
    rancor::{Failure, Source},
    validation::archive::{ArchiveContext, ArchiveValidator},
};

use crate::{ArchivedTuple, FrameError, TupleView, MAX_NESTING, MAX_RECORD_LEN, RECORD_ALIGN};

/// Subtree depth allowed to rkyv's validator. The tuple root, its values
/// vector, each list or map level, and an out-of-line string at the leaf
/// each claim one subtree; the encoder allows `MAX_NESTING - 1` container
/// levels, so its deepest record needs `MAX_NESTING + 2`. The bound keeps
/// the validator's recursion (and any later walk over a value) shallow,
/// whatever the bytes claim.
const MAX_SUBTREE_DEPTH: usize = MAX_NESTING + 2;

/// rkyv's archive validator plus a depth limit that remembers it was hit,
/// so the error can say so plainly.
struct DepthGuard<'a> {
    inner: ArchiveValidator<'a>,
    depth: usize,
    too_deep: bool,
}

// SAFETY: every check is delegated to rkyv's `ArchiveValidator`; this
// wrapper only refuses additional pushes, which can never make an unsafe
// pointer pass.
unsafe impl<E: Source> ArchiveContext<E> for DepthGuard<'_> {
    fn check_subtree_ptr(&mut self, ptr: *const u8, layout: &Layout) -> Result<(), E> {
        self.inner.check_subtree_ptr(ptr, layout)
    }

    unsafe fn push_subtree_range(
        &mut self,
        root: *const u8,
        end: *const u8,
    ) -> Result<Range<usize>, E> {
        if self.depth == MAX_SUBTREE_DEPTH {
            self.too_deep = true;
            return Err(E::new(NestedTooDeep));
        }
        self.depth += 1;
        // SAFETY: forwarded unchanged; our caller upholds the same contract.
        unsafe { self.inner.push_subtree_range(root, end) }
    }

    unsafe fn pop_subtree_range(&mut self, range: Range<usize>) -> Result<(), E> {
        self.depth = self.depth.saturating_sub(1);
        // SAFETY: forwarded unchanged; our caller upholds the same contract.
        unsafe { self.inner.pop_subtree_range(range) }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("values nested deeper than {MAX_NESTING} levels")]
struct NestedTooDeep;

/// Views a record that Gale itself archived, without validating it.
///
/// This is the ring path: a record committed by a producer thread of this
/// process (or a trusted local worker process) is read in place, at the cost
/// of a pointer computation.
///
/// # Safety
///
/// `bytes` must be exactly the bytes written by [`Encoder::encode_into`]
/// (the length it returned), unmodified since, starting at a
/// [`RECORD_ALIGN`]-aligned address. Bytes from a socket, a file or another
/// untrusted process must go through [`view_checked`] instead.
///
/// [`Encoder::encode_into`]: crate::Encoder::encode_into
#[inline(always)]
pub unsafe fn view_trusted(bytes: &[u8]) -> TupleView<'_> {
    debug_assert_eq!(bytes.as_ptr() as usize % RECORD_ALIGN, 0);
    debug_assert!(bytes.len() >= size_of::<ArchivedTuple>());
    // The root sits at the end of the bytes, where `access_unchecked` finds
    // it (rkyv's root position), without its saturating subtraction: our
    // encoder's records always hold the root whole.
    let root = bytes.len() - size_of::<ArchivedTuple>();
    // SAFETY: the caller guarantees these are the unmodified, aligned bytes
    // of an `ArchivedTuple` written by our encoder: a valid, aligned
    // `ArchivedTuple` lies at `root` (in bounds: the bytes hold it whole),
    // and what it points to lies within the bytes.
    let record = unsafe { &*bytes.as_ptr().add(root).cast::<ArchivedTuple>() };
    TupleView::new(record, bytes)
}

/// Views a record from untrusted bytes, validating it completely first.
///
/// Checks alignment, size, every relative pointer and length (rkyv's
/// bytecheck), UTF-8 of every string, enum tags, and the nesting depth. Any
/// byte string yields either a view or a [`FrameError`], never a panic.
#[inline]
pub fn view_checked(bytes: &[u8]) -> Result<TupleView<'_>, FrameError> {
    check_record(bytes, 0)?;
    // SAFETY: `check_record` just validated these exact bytes as an
    // `ArchivedTuple` at the default root position.
    Ok(unsafe { view_trusted(bytes) })
}

/// Validates one record; `index` is its position in a frame, for errors.
#[inline]
pub(crate) fn check_record(bytes: &[u8], index: usize) -> Result<(), FrameError> {
    let addr = bytes.as_ptr() as usize;
    if addr % RECORD_ALIGN != 0 {
        return Err(FrameError::Misaligned { addr });
    }
    if bytes.len() > MAX_RECORD_LEN {
        return Err(FrameError::RecordTooLarge {
            index,
            len: bytes.len(),
            max: MAX_RECORD_LEN,
        });
    }
    // The common case, a flat tuple laid out as our encoder writes it, is
    // recognised without rkyv's generic validator (see the function's
    // proof obligations); anything else goes through it.
    if crate::flat::is_flat_canonical(bytes) {
        return Ok(());
    }
    check_with_rkyv(bytes, index)
}

/// [`check_record`] by rkyv's validator: out of line, so that the flat
/// check's path keeps no stack frame of its own.
#[cold]
#[inline(never)]
fn check_with_rkyv(bytes: &[u8], index: usize) -> Result<(), FrameError> {
    let mut validator = DepthGuard {
        inner: ArchiveValidator::new(bytes),
        depth: 0,
        too_deep: false,
    };
    match access_with_context::<ArchivedTuple, _, Failure>(bytes, &mut validator) {
        Ok(_) => Ok(()),
        Err(Failure) if validator.too_deep => Err(FrameError::TooDeep { index }),
        Err(Failure) => Err(FrameError::InvalidRecord { index }),
    }
}
