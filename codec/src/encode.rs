//! Archiving tuples straight into a caller's buffer (a ring slot or a frame).

use std::mem::size_of;

use rkyv::{
    api::low::to_bytes_in_with_alloc, rancor::Failure, ser::allocator::Arena, ser::writer::Buffer,
};

use crate::{
    ArchivedTuple, ArchivedValue, EncodeError, Header, PlainHeader, TupleRef, TupleView, Value,
    MAX_NESTING, RECORD_ALIGN,
};

/// Archives tuples with rkyv, reusing its scratch space across calls so the
/// emit path does not allocate once warmed up. One per producing thread.
///
/// ```
/// use gale_codec::{view_checked, AlignedVec, Encoder, Header, Tuple, Value};
/// let tuple = Tuple { header: Header::default(), values: vec![Value::from("hello")] };
/// let mut buf = AlignedVec::<16>::new();
/// buf.resize(128, 0);
/// let len = Encoder::new().encode_into(tuple.as_ref(), &mut buf).unwrap();
/// let view = view_checked(&buf[..len]).unwrap();
/// assert_eq!(view.get(0).and_then(|v| v.as_str()), Some("hello"));
/// ```
#[derive(Default)]
pub struct Encoder {
    arena: Arena,
}

impl Encoder {
    /// A new encoder with empty scratch space.
    pub fn new() -> Self {
        Self::default()
    }

    /// Archives `tuple` at the start of `buf`, which must be
    /// [`RECORD_ALIGN`]-aligned, and returns the number of bytes written.
    ///
    /// [`encoded_len_bound`] gives a size that is always large enough.
    ///
    /// Flat tuples (no lists or maps among the values) are written by a
    /// hand-written fast path that produces exactly rkyv's bytes; nested
    /// ones go through rkyv's serializer.
    ///
    /// The commonest shape (one value of a scalar, string or bytes) is
    /// written by [`encode_fast`], inlined into the caller; every other
    /// shape by a call.
    #[inline(always)]
    pub fn encode_into(
        &mut self,
        tuple: TupleRef<'_>,
        buf: &mut [u8],
    ) -> Result<usize, EncodeError> {
        if (buf.as_ptr() as usize) % RECORD_ALIGN == 0 {
            if let Some(written) = encode_fast(tuple.header, tuple.values, buf) {
                return Ok(written);
            }
        }
        self.encode_general(tuple, buf)
    }

    /// [`encode_into`](Self::encode_into) for any tuple: a few flat values
    /// by [`encode_few`], more by the hand-written writer, nested ones by
    /// rkyv's serializer.
    #[inline(never)]
    fn encode_general(
        &mut self,
        tuple: TupleRef<'_>,
        buf: &mut [u8],
    ) -> Result<usize, EncodeError> {
        let addr = buf.as_ptr() as usize;
        if addr % RECORD_ALIGN != 0 {
            return Err(EncodeError::Misaligned { addr });
        }
        if let Some(written) = encode_few(tuple.header, tuple.values, buf) {
            return Ok(written);
        }
        if let Some(written) = crate::flat::encode(tuple, buf)? {
            debug_assert!(crate::view_checked(&buf[..written]).is_ok());
            return Ok(written);
        }
        self.encode_nested(tuple, buf)
    }

    /// Archives a tuple with lists or maps among its values through rkyv's
    /// serializer (kept out of line: its stack frame would otherwise be
    /// set up for every flat tuple too).
    #[cold]
    #[inline(never)]
    fn encode_nested(&mut self, tuple: TupleRef<'_>, buf: &mut [u8]) -> Result<usize, EncodeError> {
        let capacity = buf.len();
        // Lengths rkyv's archive cannot say are refused before anything is
        // written (rkyv would refuse long strings, but not long bytes).
        if let Err(e @ EncodeError::TooLong { .. }) = encoded_len_bound(tuple) {
            return Err(e);
        }
        let written = to_bytes_in_with_alloc::<_, _, Failure>(
            &tuple,
            Buffer::from(buf),
            self.arena.acquire(),
        )
        .map_err(|_| EncodeError::DoesNotFit { capacity })?;
        Ok(written.len())
    }

    /// Releases scratch space beyond what recent tuples needed (call after
    /// an unusually large tuple).
    pub fn shrink(&mut self) {
        self.arena.shrink();
    }
}

/// Archives the commonest tuple shape, one value that is a scalar, a
/// string or bytes, at the start of `buf`, in straight-line code inlined
/// into the caller, and returns the bytes written; `None` (nothing
/// meaningful written) for any other shape or if `buf` is too small, for
/// the caller to use [`encode_few`] or [`Encoder::encode_into`]. The bytes are
/// [`Encoder::encode_into`]'s; like them, they can be read in place only
/// from a [`RECORD_ALIGN`]-aligned start, which is the caller's to keep.
///
/// ```
/// use gale_codec::{encode_fast, view_checked, AlignedVec, Header, Value};
/// let mut buf = AlignedVec::<16>::new();
/// buf.resize(128, 0);
/// let len = encode_fast(&Header::default(), &[Value::from("hello")], &mut buf).unwrap();
/// assert_eq!(view_checked(&buf[..len]).unwrap().get(0).and_then(|v| v.as_str()), Some("hello"));
/// assert_eq!(encode_fast(&Header::default(), &[Value::I64(1), Value::I64(2)], &mut buf), None);
/// ```
#[inline(always)]
pub fn encode_fast(header: &Header, values: &[Value], buf: &mut [u8]) -> Option<usize> {
    let [value] = values else {
        return None;
    };
    let written = if !header.is_tracked() {
        crate::flat::encode_one::<false>(header, value, buf)
    } else {
        crate::flat::encode_one::<true>(header, value, buf)
    }?;
    debug_assert!(
        (buf.as_ptr() as usize) % RECORD_ALIGN != 0 || crate::view_checked(&buf[..written]).is_ok()
    );
    Some(written)
}

/// Archives a tuple of two to four flat values (scalars, strings, bytes)
/// at the start of `buf` in straight-line code (out of line, so that
/// [`encode_fast`]'s inlined path stays small) and returns the bytes
/// written: [`Encoder::encode_into`]'s bytes. `None` (nothing meaningful
/// written) for any other shape (one value, more, lists, maps) or if
/// `buf` is too small.
///
/// ```
/// use gale_codec::{encode_few, view_checked, AlignedVec, Header, Value};
/// let mut buf = AlignedVec::<16>::new();
/// buf.resize(128, 0);
/// let two = [Value::from("word"), Value::I64(2)];
/// let len = encode_few(&Header::default(), &two, &mut buf).unwrap();
/// assert_eq!(view_checked(&buf[..len]).unwrap().get(1).and_then(|v| v.as_i64()), Some(2));
/// let nested = [Value::List(vec![Value::I64(1)]), Value::I64(2)];
/// assert_eq!(encode_few(&Header::default(), &nested, &mut buf), None);
/// ```
#[inline(never)]
pub fn encode_few(header: &Header, values: &[Value], buf: &mut [u8]) -> Option<usize> {
    crate::flat::encode_few_of(header, values, buf)
}

/// Archives a tuple of `header` and all the values of `input`, in order
/// (a bolt forwarding its input, anchored to it alone): the record `input`
/// was read from, copied with `header`'s stream, source task and edge id
/// written into it, where `header` has the record's roots; else as
/// [`encode_archived`]. The same bytes as [`Encoder::encode_into`] writes
/// for `header` and the values, if our encoder wrote the input's record
/// (a record from elsewhere, validated, gives an equally valid copy of its
/// own layout). `None` as [`encode_archived`], or if `buf` is too small.
///
/// ```
/// use gale_codec::{encode_forwarded, view_checked, AlignedVec, Encoder, Header, Tuple, Value};
/// let roots = vec![5, 6];
/// let tuple = Tuple {
///     header: Header { stream: 1, source_task: 2, edge_id: 3, roots: roots.clone() },
///     values: vec![Value::from("a word longer than 8"), Value::I64(7)],
/// };
/// let mut first = AlignedVec::<16>::new();
/// first.resize(256, 0);
/// let len = Encoder::new().encode_into(tuple.as_ref(), &mut first).unwrap();
/// let input = view_checked(&first[..len]).unwrap();
/// let header = Header { stream: 3, source_task: 9, edge_id: 42, roots };
/// let mut again = AlignedVec::<16>::new();
/// again.resize(256, 0);
/// let n = encode_forwarded(&header, &input, &mut again).unwrap();
/// let mut expected = AlignedVec::<16>::new();
/// expected.resize(256, 0);
/// let values = tuple.values.clone();
/// let m = Encoder::new().encode_into(Tuple { header, values }.as_ref(), &mut expected).unwrap();
/// assert_eq!(&again[..n], &expected[..m]);
/// ```
///
/// [`Encoder::encode_into`]: crate::Encoder::encode_into
#[inline(always)]
pub fn encode_forwarded(header: &Header, input: &TupleView<'_>, buf: &mut [u8]) -> Option<usize> {
    if let Some(n) = crate::flat::reframe(header, input, buf) {
        return Some(n);
    }
    encode_archived(header, input.values(), buf)
}

/// Archives a tuple of `header` and `values` that are archived values
/// already, read in place (a bolt forwarding its input's values): the
/// same bytes as [`encode_few`] (and [`Encoder::encode_into`]) write for
/// the same values as [`Value`]s, without building them. `None` (nothing
/// meaningful written) for a tuple of none or more than four values, a
/// list or a map among them, a string or bytes longer than
/// [`MAX_VALUE_LEN`](crate::MAX_VALUE_LEN), or if `buf` is too small: the
/// caller then builds the values and takes the general path.
///
/// ```
/// use gale_codec::{encode_archived, view_checked, AlignedVec, Encoder, Header, Tuple, Value};
/// let tuple = Tuple {
///     header: Header::default(),
///     values: vec![Value::from("a word longer than 8"), Value::I64(7)],
/// };
/// let mut first = AlignedVec::<16>::new();
/// first.resize(256, 0);
/// let len = Encoder::new().encode_into(tuple.as_ref(), &mut first).unwrap();
/// let input = view_checked(&first[..len]).unwrap();
/// let header = Header { stream: 3, source_task: 9, edge_id: 42, roots: vec![5] };
/// let mut again = AlignedVec::<16>::new();
/// again.resize(256, 0);
/// let n = encode_archived(&header, input.values(), &mut again).unwrap();
/// let mut expected = AlignedVec::<16>::new();
/// expected.resize(256, 0);
/// let values = tuple.values.clone();
/// let m = Encoder::new().encode_into(Tuple { header, values }.as_ref(), &mut expected).unwrap();
/// assert_eq!(&again[..n], &expected[..m]);
/// ```
#[inline(always)]
pub fn encode_archived(header: &Header, values: &[ArchivedValue], buf: &mut [u8]) -> Option<usize> {
    crate::flat::encode_archived(header, values, buf)
}

/// [`encode_fast`] for an untracked tuple (its header without roots,
/// hence a [`PlainHeader`], whose edge id is 0: `None` otherwise) whose one
/// value is of kind `K` (a
/// [`FastKind`](crate::FastKind) as `u8`), `None` for any other: over a run of tuples of
/// one kind (see [`FastKind::of`](crate::FastKind::of)) it is straight-line code with no
/// branch on the kind beyond the check. The same bytes as
/// [`encode_fast`].
///
/// ```
/// use gale_codec::{encode_fast_as, view_checked, AlignedVec, FastKind, PlainHeader, Value};
/// const LONG: u8 = FastKind::LongStr as u8;
/// let mut buf = AlignedVec::<16>::new();
/// buf.resize(128, 0);
/// let tuple = [Value::from("a longer string")];
/// assert_eq!(FastKind::of(&tuple), Some(FastKind::LongStr));
/// let len = encode_fast_as::<LONG>(PlainHeader::default(), &tuple, &mut buf).unwrap();
/// let view = view_checked(&buf[..len]).unwrap();
/// assert_eq!(view.get(0).and_then(|v| v.as_str()), Some("a longer string"));
/// let short = [Value::from("short")];
/// assert_eq!(encode_fast_as::<LONG>(PlainHeader::default(), &short, &mut buf), None);
/// ```
#[inline(always)]
pub fn encode_fast_as<const K: u8>(
    header: PlainHeader,
    values: &[Value],
    buf: &mut [u8],
) -> Option<usize> {
    let [value] = values else {
        return None;
    };
    if header.edge_id != 0 {
        return None;
    }
    crate::flat::encode_one_as::<false, K>(header, &[], value, buf)
}

const fn pad(n: usize) -> usize {
    (n + RECORD_ALIGN - 1) & !(RECORD_ALIGN - 1)
}

/// An upper bound on the archived size of `tuple`, in bytes; also checks
/// that values are nested at most [`MAX_NESTING`] deep and that no string,
/// byte string or map key is longer than
/// [`MAX_VALUE_LEN`](crate::MAX_VALUE_LEN).
///
/// Reserving this many bytes in a ring slot guarantees that
/// [`Encoder::encode_into`] succeeds. It walks the values once and does not
/// allocate.
pub fn encoded_len_bound(tuple: TupleRef<'_>) -> Result<usize, EncodeError> {
    let mut total = pad(size_of::<ArchivedTuple>()) + RECORD_ALIGN;
    total += roots_bound(tuple.header);
    total += values_bound(tuple.values, 1)?;
    Ok(total)
}

fn roots_bound(header: &Header) -> usize {
    pad(header.tracking_len() * size_of::<u64>()) + RECORD_ALIGN
}

fn values_bound(values: &[Value], depth: usize) -> Result<usize, EncodeError> {
    if depth > MAX_NESTING {
        return Err(EncodeError::TooDeep { depth });
    }
    let mut total = pad(values.len() * size_of::<ArchivedValue>()) + RECORD_ALIGN;
    for value in values {
        total += value_out_of_line(value, depth)?;
    }
    Ok(total)
}

/// Bytes a value needs outside its fixed-size slot.
fn value_out_of_line(value: &Value, depth: usize) -> Result<usize, EncodeError> {
    Ok(match value {
        Value::Null | Value::Bool(_) | Value::I64(_) | Value::F64(_) => 0,
        Value::Str(s) => {
            EncodeError::check_len(s.len())?;
            pad(s.len()) + RECORD_ALIGN
        }
        Value::Bytes(b) => {
            EncodeError::check_len(b.len())?;
            pad(b.len()) + RECORD_ALIGN
        }
        Value::List(items) => values_bound(items, depth + 1)?,
        Value::Map(entries) => {
            if depth + 1 > MAX_NESTING {
                return Err(EncodeError::TooDeep { depth: depth + 1 });
            }
            let mut total =
                pad(entries.len() * size_of::<rkyv::Archived<(String, Value)>>()) + RECORD_ALIGN;
            for (key, v) in entries {
                EncodeError::check_len(key.len())?;
                total += pad(key.len()) + RECORD_ALIGN;
                total += value_out_of_line(v, depth + 1)?;
            }
            total
        }
    })
}
