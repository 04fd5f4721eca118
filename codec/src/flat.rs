//! A fast path that writes the archived form of a *flat* tuple (no lists or
//! maps among its values, the common case on the data path) directly, byte
//! for byte what rkyv's serializer writes for the same tuple, without its
//! generic machinery (scratch allocations, resolver buffers, zeroed
//! temporaries copied into the writer).
//!
//! The layout it reproduces (rkyv 0.8, little endian, 32-bit offsets):
//!
//! ```text
//! tracking u64 LE each, at 0 (8-aligned): none for an untracked tuple
//!          (edge id 0, no roots), else the edge id, then the roots
//! ool      out-of-line bytes of each Str > 8 bytes and each Bytes, in order
//! pad      zeros to 8
//! values   16 bytes per ArchivedValue: tag u8 @0, then
//!            Bool u8 @1 | I64/F64 LE @8 |
//!            Str: 8 bytes @4, inline (bytes then 0xff fill) or
//!                 (len with rkyv's tag bits u32, rel offset i32) |
//!            Bytes: (rel offset i32, len u32) @4
//! root     ArchivedTuple, 24 bytes: stream u32, source_task u32,
//!          tracking (rel i32, len u32), values (rel i32, len u32)
//! ```
//!
//! Relative offsets are `target - position of the offset field`. The unit
//! tests compare this writer's output with rkyv's for random flat tuples,
//! and the crate asserts the sizes it relies on at compile time.

use std::mem::size_of;

use crate::{
    ArchivedTuple, ArchivedValue, EncodeError, Header, PlainHeader, TupleRef, TupleView, Value,
};

const VALUE_SIZE: usize = 16;
const ROOT_SIZE: usize = 24;
/// Strings up to this length are stored inside the value (rkyv's inline
/// string representation).
const INLINE_STR: usize = 8;

const _: () = assert!(size_of::<ArchivedValue>() == VALUE_SIZE);
const _: () = assert!(size_of::<ArchivedTuple>() == ROOT_SIZE);
const _: () = assert!(cfg!(target_endian = "little"));
// A tuple of one value and no roots has all its offsets within an i32.
const _: () = assert!(align8(crate::MAX_VALUE_LEN) + VALUE_SIZE + ROOT_SIZE < i32::MAX as usize);

const TAG_NULL: u8 = 0;
const TAG_BOOL: u8 = 1;
const TAG_I64: u8 = 2;
const TAG_F64: u8 = 3;
const TAG_STR: u8 = 4;
const TAG_BYTES: u8 = 5;

/// Bytes of a value stored outside its 16-byte slot, or `None` for a list
/// or map (not flat); an error for a string or bytes longer than
/// [`MAX_VALUE_LEN`](crate::MAX_VALUE_LEN).
fn out_of_line_len(value: &Value) -> Result<Option<usize>, EncodeError> {
    Ok(match value {
        Value::Str(s) if s.len() > INLINE_STR => {
            EncodeError::check_len(s.len())?;
            Some(s.len())
        }
        Value::Bytes(b) => {
            EncodeError::check_len(b.len())?;
            Some(b.len())
        }
        Value::List(_) | Value::Map(_) => None,
        _ => Some(0),
    })
}

/// The length word of an out-of-line string of `len` bytes: the length
/// with rkyv's tag bits (`10` as bits 6 and 7, the length's bits from 6 on
/// moved up by two), or `None` if `len` does not fit its 30 bits (it would
/// wrap).
fn str_len_word(len: usize) -> Option<u32> {
    if len > crate::MAX_VALUE_LEN {
        return None;
    }
    let l = len as u32;
    // `(l & 0x3f) | 0x80 | (l & !0x3f) << 2`: the three parts share no
    // bit, so it is their sum, which is `l + 3 * (l & !0x3f) + 0x80`
    // (three instructions instead of six).
    Some(l + 3 * (l & !0x3f) + 0x80)
}

/// The three words of a tuple's 24-byte root at `root_pos`: stream and
/// source task, then the relative pointers and lengths of its `tracking`
/// tracking words (at 0: none, or the edge id and the roots) and `values`
/// values (at `values_pos`).
#[inline(always)]
fn root_words(
    h: PlainHeader,
    tracking: usize,
    values_pos: usize,
    values: usize,
    root_pos: usize,
) -> [u64; 3] {
    [
        u64::from(h.stream) | u64::from(h.source_task) << 32,
        u64::from(rel(0, root_pos + 8)) | (tracking as u64) << 32,
        u64::from(rel(values_pos, root_pos + 16)) | (values as u64) << 32,
    ]
}

/// Writes a tracked tuple's tracking words at `base`: its edge id, then
/// its roots.
///
/// # Safety
/// `base` is valid for `8 * (1 + roots.len())` bytes of writes.
#[inline(always)]
unsafe fn put_tracking(base: *mut u8, edge_id: u64, roots: &[u64]) {
    // SAFETY: the caller's: word `k` ends at `8 * (k + 1)`.
    unsafe {
        base.cast::<u64>().write_unaligned(edge_id.to_le());
        for (k, root) in roots.iter().enumerate() {
            base.add(8 + k * 8)
                .cast::<u64>()
                .write_unaligned(root.to_le());
        }
    }
}

const fn align8(n: usize) -> usize {
    (n + 7) & !7
}

/// `target - field` as rkyv's 32-bit relative offset, in its two's
/// complement bits.
fn rel(target: usize, field: usize) -> u32 {
    // Both positions are below `i32::MAX` (checked in `encode`), so the
    // difference fits an i32.
    (target as i64 - field as i64) as i32 as u32
}

/// `bytes` (at most 8) as a little-endian word, zero-filled above them:
/// gathered with a few loads (overlapping where the length is not a power
/// of two) rather than a copy into a buffer, which would be a call to
/// `memcpy`. The string encoder and the fields grouping's hash use it.
///
/// ```
/// use gale_codec::le_word;
/// for n in 0..=8 {
///     let bytes = &b"\x01\x82gale!\xff"[..n];
///     let mut word = [0u8; 8];
///     word[..n].copy_from_slice(bytes);
///     assert_eq!(le_word(bytes), u64::from_le_bytes(word), "{n} bytes");
/// }
/// ```
///
/// # Panics
/// If `bytes` is longer than 8.
#[inline(always)]
pub fn le_word(bytes: &[u8]) -> u64 {
    let (b, n) = (bytes, bytes.len());
    assert!(n <= 8, "le_word of {n} bytes");
    let word = |bytes: &[u8]| -> u64 {
        let mut w = [0u8; 4];
        w.copy_from_slice(bytes);
        u64::from(u32::from_le_bytes(w))
    };
    if n >= 4 {
        // The first four and the last four (they overlap when n < 8).
        word(&b[..4]) | word(&b[n - 4..]) << ((n - 4) * 8)
    } else if n > 0 {
        // The first, the middle and the last (the same byte when n < 3).
        u64::from(b[0]) | u64::from(b[n / 2]) << (n / 2 * 8) | u64::from(b[n - 1]) << ((n - 1) * 8)
    } else {
        0
    }
}

/// The two words of the slot of a string of at most [`INLINE_STR`]
/// bytes: its bytes inline, then `0xff` fill. Gathered with a few loads
/// (overlapping where the length is not a power of two) rather than a
/// copy into a buffer, which would be a call to `memcpy`.
#[inline(always)]
fn inline_str_words(s: &str) -> (u64, u64) {
    let b = s.as_bytes();
    let n = b.len();
    debug_assert!(n <= INLINE_STR);
    let bytes = le_word(b);
    let fill = u64::MAX.checked_shl(n as u32 * 8).unwrap_or(0);
    let inline = bytes | fill;
    (u64::from(TAG_STR) | inline << 32, inline >> 32)
}

/// Copies `bytes` to `to`: up to 64 bytes in word moves (the last one
/// overlapping the one before), so that the encoder's loops make no call
/// (which would push their state onto the stack); fewer than 8 or more
/// than 64 through `memcpy`, out of line.
///
/// # Safety
/// `to` is valid for `bytes.len()` bytes of writes and does not overlap
/// `bytes`.
#[inline(always)]
unsafe fn copy_out_of_line(bytes: &[u8], to: *mut u8) {
    let (n, from) = (bytes.len(), bytes.as_ptr());
    if (8..=16).contains(&n) {
        // SAFETY: `8 <= n`: the two (overlapping when n < 16) words lie
        // within both ranges.
        unsafe {
            let head = from.cast::<u64>().read_unaligned();
            let tail = from.add(n - 8).cast::<u64>().read_unaligned();
            to.cast::<u64>().write_unaligned(head);
            to.add(n - 8).cast::<u64>().write_unaligned(tail);
        }
    } else if (17..=64).contains(&n) {
        let mut k = 0;
        while k + 8 < n {
            // SAFETY: `k + 8 < n`: the word lies within both ranges.
            unsafe {
                let w = from.add(k).cast::<u64>().read_unaligned();
                to.add(k).cast::<u64>().write_unaligned(w);
            }
            k += 8;
        }
        // SAFETY: `n >= 8`: the last word lies within both ranges.
        unsafe {
            let w = from.add(n - 8).cast::<u64>().read_unaligned();
            to.add(n - 8).cast::<u64>().write_unaligned(w);
        }
    } else {
        // SAFETY: the caller's.
        unsafe { copy_call(from, to, n) }
    }
}

/// `memcpy`, kept out of the encoder's loops.
///
/// # Safety
/// As [`std::ptr::copy_nonoverlapping`].
#[cold]
#[inline(never)]
unsafe fn copy_call(from: *const u8, to: *mut u8, n: usize) {
    // SAFETY: the caller's.
    unsafe { std::ptr::copy_nonoverlapping(from, to, n) }
}

/// The two words of `value`'s 16-byte slot, `off` being the relative
/// offset of its out-of-line bytes (for a long string or bytes); `None`
/// for a list or map.
#[inline]
fn slot_words(value: &Value, off: u32) -> Option<(u64, u64)> {
    Some(match value {
        Value::Null => (u64::from(TAG_NULL), 0),
        Value::Bool(b) => (u64::from(TAG_BOOL) | u64::from(*b) << 8, 0),
        Value::I64(n) => (u64::from(TAG_I64), *n as u64),
        Value::F64(f) => (u64::from(TAG_F64), f.to_bits()),
        Value::Str(s) if s.len() <= INLINE_STR => inline_str_words(s),
        Value::Str(s) => {
            let l = str_len_word(s.len())?;
            (u64::from(TAG_STR) | u64::from(l) << 32, u64::from(off))
        }
        Value::Bytes(b) => (u64::from(TAG_BYTES) | u64::from(off) << 32, b.len() as u64),
        Value::List(_) | Value::Map(_) => return None,
    })
}

/// Encodes `tuple` into `buf` if its values are flat; `Ok(None)` if they are
/// not (the caller then uses rkyv's serializer). `buf` is 8-aligned.
#[inline]
pub(crate) fn encode(tuple: TupleRef<'_>, buf: &mut [u8]) -> Result<Option<usize>, EncodeError> {
    let header = tuple.header;
    let tracked = header.is_tracked();
    let tracking = header.tracking_len();
    let roots_len = tracking * 8;
    let values = tuple.values;
    let mut ool = 0usize;
    for v in values {
        match out_of_line_len(v)? {
            Some(n) => ool += n,
            None => return Ok(None),
        }
    }
    let values_pos = align8(roots_len + ool);
    let root_pos = values_pos + values.len() * VALUE_SIZE;
    let total = root_pos + ROOT_SIZE;
    if total > i32::MAX as usize {
        return Ok(None); // rkyv reports the overflow
    }
    let capacity = buf.len();
    let Some(out) = buf.get_mut(..total) else {
        return Err(EncodeError::DoesNotFit { capacity });
    };

    // Tracking words, then every out-of-line payload in value order, then zero
    // padding to 8. The padding is at most 7 bytes before `values_pos`: zero
    // the word ending there first (a fixed-size store, no memset call) and
    // let the payloads overwrite its start.
    // `out` is exactly `total` bytes: every write below stays inside it
    // (the offsets are the layout computed above), so they go through one
    // raw pointer instead of a bounds check each.
    let base = out.as_mut_ptr();
    let put = |at: usize, word: u64| {
        debug_assert!(at + 8 <= total);
        // SAFETY: `at + 8 <= total == out.len()` for every call below
        // (pad below `values_pos`, tracking below `roots_len`, slots below
        // `root_pos`, root words below `total`); unaligned writes need no
        // alignment, and `out` is borrowed mutably for this whole function.
        unsafe { base.add(at).cast::<u64>().write_unaligned(word.to_le()) }
    };
    if values_pos >= 8 {
        put(values_pos - 8, 0);
    }
    if tracked {
        debug_assert!(roots_len <= values_pos);
        // SAFETY: the tracking words are the first `roots_len <=
        // values_pos <= total` bytes of `out`, borrowed mutably here.
        unsafe { put_tracking(base, header.edge_id, &header.roots) };
    }
    let mut ool_at = roots_len;
    for (i, v) in values.iter().enumerate() {
        let at = values_pos + i * VALUE_SIZE;
        let mut out_of_line = |bytes: &[u8]| {
            debug_assert!(ool_at + bytes.len() <= values_pos);
            // SAFETY: the out-of-line bytes of all values add up to `ool`
            // and start at `roots_len`, so they end at or before
            // `values_pos <= total`; `bytes` is another allocation (a value
            // of the tuple), so the ranges do not overlap.
            unsafe { copy_out_of_line(bytes, base.wrapping_add(ool_at)) };
            let off = rel(ool_at, at + 4);
            ool_at += bytes.len();
            off
        };
        let off = match v {
            Value::Str(s) if s.len() > INLINE_STR => out_of_line(s.as_bytes()),
            Value::Bytes(b) => out_of_line(b),
            _ => 0,
        };
        let Some((w0, w1)) = slot_words(v, off) else {
            return Ok(None); // not reached: checked flat and short above
        };
        put(at, w0);
        put(at + 8, w1);
    }

    let root = root_words(header.plain(), tracking, values_pos, values.len(), root_pos);
    for (k, word) in root.into_iter().enumerate() {
        put(root_pos + k * 8, word);
    }
    Ok(Some(total))
}

/// The kinds of single value the straight-line encoder
/// ([`encode_fast_as`](crate::encode_fast_as)) writes, each by a copy of
/// its own (the `K` parameter): a loop over tuples of one kind then runs
/// straight-line code that branches on the kind once per tuple only to
/// check it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum FastKind {
    /// Null, a boolean, an integer or a float: all inside the value's slot.
    Scalar = 0,
    /// A string of at most 8 bytes: inline in the slot.
    ShortStr = 1,
    /// A longer string: its bytes out of line.
    LongStr = 2,
    /// A byte string: its bytes out of line.
    Bytes = 3,
}

const K_SCALAR: u8 = FastKind::Scalar as u8;
const K_SHORT_STR: u8 = FastKind::ShortStr as u8;
const K_LONG_STR: u8 = FastKind::LongStr as u8;
const K_BYTES: u8 = FastKind::Bytes as u8;

impl FastKind {
    /// The kind of a tuple of one value that is a scalar, a string or
    /// bytes; `None` for a list or a map, or a tuple of another arity.
    /// (The encoder still refuses a string or bytes longer than
    /// [`MAX_VALUE_LEN`](crate::MAX_VALUE_LEN).)
    #[inline(always)]
    pub fn of(values: &[Value]) -> Option<Self> {
        match values {
            [value] => Self::of_value(value),
            _ => None,
        }
    }

    #[inline(always)]
    fn of_value(value: &Value) -> Option<Self> {
        Some(match value {
            Value::Null | Value::Bool(_) | Value::I64(_) | Value::F64(_) => Self::Scalar,
            Value::Str(s) if s.len() <= INLINE_STR => Self::ShortStr,
            Value::Str(_) => Self::LongStr,
            Value::Bytes(_) => Self::Bytes,
            Value::List(_) | Value::Map(_) => return None,
        })
    }
}

/// [`encode`] for the commonest shape, one value (a tuple of one field,
/// tracked or not), in straight-line code: [`encode_one_as`] for the
/// value's kind.
#[inline(always)]
pub(crate) fn encode_one<const TRACKED: bool>(
    h: &Header,
    value: &Value,
    buf: &mut [u8],
) -> Option<usize> {
    match FastKind::of_value(value)? {
        FastKind::Scalar => encode_one_as::<TRACKED, K_SCALAR>(h.plain(), &h.roots, value, buf),
        FastKind::ShortStr => {
            encode_one_as::<TRACKED, K_SHORT_STR>(h.plain(), &h.roots, value, buf)
        }
        FastKind::LongStr => encode_one_as::<TRACKED, K_LONG_STR>(h.plain(), &h.roots, value, buf),
        FastKind::Bytes => encode_one_as::<TRACKED, K_BYTES>(h.plain(), &h.roots, value, buf),
    }
}

/// One value of kind `K` (a [`FastKind`] as `u8`), in straight-line code.
/// The same layout as [`encode`], so the same bytes: the tracking words at
/// 0, the value's out-of-line bytes after them, padding to 8, its 16-byte
/// slot, the 24-byte root. `None` if the value is not of kind `K`, a
/// string or bytes is longer than [`MAX_VALUE_LEN`](crate::MAX_VALUE_LEN),
/// or `buf` is too small (the general path then decides). `TRACKED` says
/// whether the tuple is tracked ([`Header::is_tracked`]: its edge id in
/// `h` and `roots` are written); without, the tracking part of the layout
/// compiles away (the caller checks that the edge id is 0 and `roots`
/// empty).
#[inline(always)]
pub(crate) fn encode_one_as<const TRACKED: bool, const K: u8>(
    h: PlainHeader,
    roots: &[u64],
    value: &Value,
    buf: &mut [u8],
) -> Option<usize> {
    // The value's out-of-line bytes and its slot's words; the offset of
    // those bytes, known once the layout is, goes into the high half of
    // word 0 (bytes) or into word 1 (a long string).
    let (ool, w0, w1): (&[u8], u64, u64) = match (K, value.flat()) {
        (K_SCALAR, scalar) => {
            let (w0, w1) = scalar.scalar_words()?;
            (&[], w0, w1)
        }
        (K_SHORT_STR, Flat::Str(s)) if s.len() <= INLINE_STR => {
            let (w0, w1) = inline_str_words(s);
            (&[], w0, w1)
        }
        (K_LONG_STR, Flat::Str(s)) if s.len() > INLINE_STR => {
            // Too long: the general path reports it.
            let l = str_len_word(s.len())?;
            (s.as_bytes(), u64::from(TAG_STR) | u64::from(l) << 32, 0)
        }
        (K_BYTES, Flat::Bytes(b)) if b.len() <= crate::MAX_VALUE_LEN => {
            (b, u64::from(TAG_BYTES), b.len() as u64)
        }
        _ => return None,
    };
    debug_assert!(TRACKED || (h.edge_id == 0 && roots.is_empty()));
    let roots: &[u64] = if TRACKED { roots } else { &[] };
    let tracking = if TRACKED { 1 + roots.len() } else { 0 };
    let roots_len = tracking * 8;
    let n = ool.len();
    let values_pos = align8(roots_len + n);
    let root_pos = values_pos + VALUE_SIZE;
    let total = root_pos + ROOT_SIZE;
    // Also keeps every offset below within an i32 (rings and frames are
    // far smaller); untracked, `total` is far below it anyway.
    let room = if TRACKED {
        buf.len().min(i32::MAX as usize)
    } else {
        buf.len()
    };
    if total > room {
        return None;
    }
    let off = u64::from(rel(roots_len, values_pos + 4));
    let (w0, w1) = match K {
        K_LONG_STR => (w0, w1 | off),
        K_BYTES => (w0 | off << 32, w1),
        _ => (w0, w1),
    };
    let [r0, r1, r2] = root_words(h, tracking, values_pos, 1, root_pos);
    let words = [w0, w1, r0, r1, r2];
    let base = buf.as_mut_ptr();
    // SAFETY: `total <= buf.len()`, and every write below ends at or
    // before `total`: the tracking words at `roots_len`, the padding word
    // at `values_pos`, the bytes at `roots_len + n <= values_pos`, the five
    // words at `values_pos + 40 == total`. `ool` is another allocation (a
    // value of the tuple), so it does not overlap `buf`; unaligned
    // accesses need no alignment.
    unsafe {
        // The slot and the root, then the padding word, then the bytes
        // (which overwrite the padding word's start); the slot and the
        // root overlap nothing else.
        let slots = base.add(values_pos).cast::<u64>();
        for (k, word) in words.iter().enumerate() {
            slots.add(k).write_unaligned(word.to_le());
        }
        if values_pos >= 8 {
            // The word ending at `values_pos`: zero padding after the
            // bytes (which overwrite its start below).
            base.add(values_pos - 8).cast::<u64>().write_unaligned(0);
        }
        if TRACKED {
            put_tracking(base, h.edge_id, roots);
        }
        if matches!(K, K_LONG_STR | K_BYTES) {
            // (A scalar or an inline string has no bytes out of line: not
            // even a call to copy none.)
            copy_out_of_line(ool, base.add(roots_len));
        }
    }
    Some(total)
}

/// What a flat value contributes to [`encode_few`]'s layout: its
/// out-of-line bytes, its slot's two words, and where the offset of those
/// bytes goes once it is known.
struct Part<'v> {
    ool: &'v [u8],
    w0: u64,
    w1: u64,
    /// Bytes: the offset of the out-of-line bytes goes into the high half
    /// of word 0 (even with no bytes); otherwise into word 1, if the value
    /// has out-of-line bytes (a long string).
    off_in_w0: bool,
}

/// One value as the flat encoders see it, whether it is a [`Value`] or an
/// archived one read in place ([`ArchivedValue`]): the encoders read both
/// through this, so a tuple's archived values are written again (a bolt
/// forwarding its input) without building [`Value`]s first, and with the
/// same bytes.
pub(crate) enum Flat<'v> {
    Null,
    Bool(bool),
    I64(i64),
    F64(f64),
    Str(&'v str),
    Bytes(&'v [u8]),
    /// A list or a map: not flat.
    Nested,
}

impl Flat<'_> {
    /// The two words of a scalar's slot; `None` for any other value.
    #[inline(always)]
    fn scalar_words(&self) -> Option<(u64, u64)> {
        Some(match *self {
            Flat::Null => (u64::from(TAG_NULL), 0),
            Flat::Bool(b) => (u64::from(TAG_BOOL) | u64::from(b) << 8, 0),
            Flat::I64(n) => (u64::from(TAG_I64), n as u64),
            Flat::F64(f) => (u64::from(TAG_F64), f.to_bits()),
            Flat::Str(_) | Flat::Bytes(_) | Flat::Nested => return None,
        })
    }
}

/// A value the flat encoders can write ([`Flat`]).
pub(crate) trait FlatValue {
    /// The value, as the flat encoders see it.
    fn flat(&self) -> Flat<'_>;
}

impl FlatValue for Value {
    #[inline(always)]
    fn flat(&self) -> Flat<'_> {
        match self {
            Value::Null => Flat::Null,
            Value::Bool(b) => Flat::Bool(*b),
            Value::I64(n) => Flat::I64(*n),
            Value::F64(f) => Flat::F64(*f),
            Value::Str(s) => Flat::Str(s),
            Value::Bytes(b) => Flat::Bytes(b),
            Value::List(_) | Value::Map(_) => Flat::Nested,
        }
    }
}

impl FlatValue for ArchivedValue {
    #[inline(always)]
    fn flat(&self) -> Flat<'_> {
        match self {
            ArchivedValue::Null => Flat::Null,
            ArchivedValue::Bool(b) => Flat::Bool(*b),
            ArchivedValue::I64(n) => Flat::I64(n.to_native()),
            ArchivedValue::F64(f) => Flat::F64(f.to_native()),
            ArchivedValue::Str(s) => Flat::Str(s.as_str()),
            ArchivedValue::Bytes(b) => Flat::Bytes(b.as_slice()),
            ArchivedValue::List(_) | ArchivedValue::Map(_) => Flat::Nested,
        }
    }
}

/// A flat value's [`Part`]; `None` for a list or map, or a string or
/// bytes longer than [`MAX_VALUE_LEN`](crate::MAX_VALUE_LEN) (the general
/// path reports it).
#[inline(always)]
fn part<V: FlatValue>(value: &V) -> Option<Part<'_>> {
    let (ool, w0, w1, off_in_w0): (&[u8], _, _, _) = match value.flat() {
        Flat::Str(s) if s.len() <= INLINE_STR => {
            let (w0, w1) = inline_str_words(s);
            (&[], w0, w1, false)
        }
        Flat::Str(s) => {
            let l = str_len_word(s.len())?;
            (
                s.as_bytes(),
                u64::from(TAG_STR) | u64::from(l) << 32,
                0,
                false,
            )
        }
        Flat::Bytes(b) if b.len() <= crate::MAX_VALUE_LEN => {
            (b, u64::from(TAG_BYTES), b.len() as u64, true)
        }
        Flat::Bytes(_) | Flat::Nested => return None,
        scalar => {
            let (w0, w1) = scalar.scalar_words()?;
            (&[], w0, w1, false)
        }
    };
    Some(Part {
        ool,
        w0,
        w1,
        off_in_w0,
    })
}

/// [`encode_few`] for a tuple of two to four values (the `N` of the
/// slice's length); `None` for any other length.
#[inline(always)]
pub(crate) fn encode_few_of(header: &Header, values: &[Value], buf: &mut [u8]) -> Option<usize> {
    match values.len() {
        2 => few_as::<2, Value>(header, values, buf),
        3 => few_as::<3, Value>(header, values, buf),
        4 => few_as::<4, Value>(header, values, buf),
        _ => None,
    }
}

/// [`encode_few`] of archived values (read in place) for a tuple of one to
/// four of them; `None` for any other length, or as [`encode_few`].
#[inline]
pub(crate) fn encode_archived(
    header: &Header,
    values: &[ArchivedValue],
    buf: &mut [u8],
) -> Option<usize> {
    match values.len() {
        1 => few_as::<1, ArchivedValue>(header, values, buf),
        2 => few_as::<2, ArchivedValue>(header, values, buf),
        3 => few_as::<3, ArchivedValue>(header, values, buf),
        4 => few_as::<4, ArchivedValue>(header, values, buf),
        _ => None,
    }
}

/// [`encode_few`] for `values` as an array of `N`, with or without roots.
#[inline(always)]
fn few_as<const N: usize, V: FlatValue>(h: &Header, values: &[V], buf: &mut [u8]) -> Option<usize> {
    let values = values.try_into().ok()?;
    if !h.is_tracked() {
        encode_few::<false, N, V>(h, values, buf)
    } else {
        encode_few::<true, N, V>(h, values, buf)
    }
}

/// [`encode`] for a tuple of `N` flat values (a few fields), in
/// straight-line code once `N` is fixed: the same layout, so the same
/// bytes (the tracking words at 0, each value's out-of-line bytes after them in
/// value order, padding to 8, the `N` slots, the 24-byte root). `None` if
/// a value is not flat or too long, or `buf` is too small (the general
/// path then decides). `TRACKED` as for [`encode_one_as`].
#[inline(always)]
pub(crate) fn encode_few<const TRACKED: bool, const N: usize, V: FlatValue>(
    h: &Header,
    values: &[V; N],
    buf: &mut [u8],
) -> Option<usize> {
    let mut parts: [Part<'_>; N] = std::array::from_fn(|_| Part {
        ool: &[],
        w0: 0,
        w1: 0,
        off_in_w0: false,
    });
    let mut ool = 0;
    for (p, v) in parts.iter_mut().zip(values) {
        *p = part(v)?;
        ool += p.ool.len();
    }
    debug_assert!(TRACKED == h.is_tracked());
    // (`h.tracking_len()`, with the branch fixed at compile time.)
    let tracking = if TRACKED { 1 + h.roots.len() } else { 0 };
    let roots_len = tracking * 8;
    let values_pos = align8(roots_len + ool);
    let root_pos = values_pos + N * VALUE_SIZE;
    let total = root_pos + ROOT_SIZE;
    // Also keeps every offset below within an i32 (each value's bytes are
    // at most `MAX_VALUE_LEN`, so `total` cannot overflow on the way).
    if total > buf.len().min(i32::MAX as usize) {
        return None;
    }
    let base = buf.as_mut_ptr();
    // SAFETY: `total <= buf.len()`, and every write below ends at or
    // before `total`: the padding word at `values_pos`, the tracking
    // words at `roots_len`, the values' bytes at `roots_len + ool <=
    // values_pos`, the slots at `root_pos`, the root's three words at
    // `total`. The
    // values' bytes are other allocations, so they do not overlap `buf`;
    // unaligned accesses need no alignment.
    unsafe {
        let put = |at: usize, word: u64| base.add(at).cast::<u64>().write_unaligned(word.to_le());
        if values_pos >= 8 {
            // Zero padding after the bytes (which overwrite its start).
            put(values_pos - 8, 0);
        }
        if TRACKED {
            put_tracking(base, h.edge_id, &h.roots);
        }
        let mut ool_at = roots_len;
        for (i, p) in parts.iter().enumerate() {
            let at = values_pos + i * VALUE_SIZE;
            let (mut w0, mut w1) = (p.w0, p.w1);
            if p.off_in_w0 {
                // Bytes: the offset even when there are none (as rkyv).
                w0 |= u64::from(rel(ool_at, at + 4)) << 32;
            } else if !p.ool.is_empty() {
                w1 |= u64::from(rel(ool_at, at + 4));
            }
            if !p.ool.is_empty() {
                copy_out_of_line(p.ool, base.add(ool_at));
                ool_at += p.ool.len();
            }
            put(at, w0);
            put(at + 8, w1);
        }
        let root = root_words(h.plain(), tracking, values_pos, N, root_pos);
        for (k, word) in root.into_iter().enumerate() {
            put(root_pos + k * 8, word);
        }
    }
    Some(total)
}

/// The record `input` was read from, with `h`'s stream, source task and
/// edge id in place of its own, copied to the start of `buf`: a tuple of
/// `h` and `input`'s values, in one copy and two word writes. The
/// relative pointers of a record are relative to their own place, so the
/// copy is as valid as the record; and the copy of a record our encoder
/// wrote is the bytes it writes for `h` and those values. `None` (nothing
/// meaningful written) unless `h` has the record's roots (those of a
/// bolt's emit anchored to this input alone) and `buf` has room.
#[inline(always)]
pub(crate) fn reframe(h: &Header, input: &TupleView<'_>, buf: &mut [u8]) -> Option<usize> {
    let bytes = input.bytes();
    let tracking = input.archived().header.tracking();
    let same_roots = match tracking {
        [] => !h.is_tracked(),
        [_, roots @ ..] => {
            h.is_tracked()
                && roots.len() == h.roots.len()
                && roots.iter().zip(&h.roots).all(|(a, b)| *a == *b)
        }
    };
    let n = bytes.len();
    if !same_roots || n > buf.len() {
        return None;
    }
    let out = &mut buf[..n];
    out.copy_from_slice(bytes);
    if !tracking.is_empty() {
        // The edge id: the first tracking word, wherever the record put
        // them (within it: the record is valid).
        let at = (tracking.as_ptr() as usize).wrapping_sub(bytes.as_ptr() as usize);
        out.get_mut(at..at.checked_add(8)?)?
            .copy_from_slice(&h.edge_id.to_le_bytes());
    }
    // The root's first word: the stream and the source task.
    let plain = u64::from(h.stream) | u64::from(h.source_task) << 32;
    out.get_mut(n.checked_sub(ROOT_SIZE)?..)?[..8].copy_from_slice(&plain.to_le_bytes());
    Some(n)
}

/// Whether `bytes` is, in its structure, exactly what [`encode`] (and rkyv)
/// write for some flat tuple: the layout above with every relative pointer
/// and length where the encoder puts them (tracking words at 0, the out-of-line
/// bytes in value order right after them, the values right after their
/// padding, the root at the end), every tag that of a flat value, every
/// bool 0 or 1, every string valid UTF-8 (an out-of-line one longer than
/// 8 bytes, as rkyv requires). Such bytes pass rkyv's validator (they claim
/// the same subtrees as its own output, in the same order; the bytes it
/// does not look at, padding and the rest of a slot, it does not look at
/// here either), so `true` lets a reader skip it; `false` says nothing
/// (a nested value, another layout, or bad bytes): validate with rkyv.
/// `bytes` starts 8-aligned. Never panics.
pub(crate) fn is_flat_canonical(bytes: &[u8]) -> bool {
    let n = bytes.len();
    // Offsets are rkyv's i32s: a longer buffer is left to rkyv.
    if n < ROOT_SIZE || n % 8 != 0 || n > i32::MAX as usize {
        return false;
    }
    let root_pos = n - ROOT_SIZE;
    let (head, root) = bytes.split_at(root_pos);
    let (tracking_word, values_word) = (word8(&root[8..16]), word8(&root[16..24]));
    // Both lengths are below 2^36 (counts are u32s): in u64, the sum
    // cannot overflow.
    let values_len = (values_word >> 32) * VALUE_SIZE as u64;
    let roots_len = (tracking_word >> 32) * 8;
    if values_len + roots_len > root_pos as u64 {
        return false;
    }
    let (values_pos, roots_len) = (root_pos - values_len as usize, roots_len as usize);
    if tracking_word as u32 != rel(0, root_pos + 8)
        || values_word as u32 != rel(values_pos, root_pos + 16)
    {
        return false;
    }
    // An edge id of 0 without roots is written as no tracking words.
    if roots_len == 8 && word8(&head[..8]) == 0 {
        return false;
    }
    let (ool, values) = head.split_at(values_pos);
    // Where the next out-of-line bytes must start, and where the pointer
    // of the current slot is (at its byte 4).
    let (mut cursor, mut field) = (roots_len, values_pos + 4);
    // Each slot is one bounds-checked run of 16 bytes, so that reading
    // its two words checks nothing more.
    for slot in values.chunks_exact(VALUE_SIZE) {
        // The slot's two words: tag at byte 0, bool at 1, and bytes 4..12
        // (`lo`, `hi`) holding a string's length and offset, a byte
        // string's offset and length, or an inline string.
        let (w0, w1) = (word8(&slot[..8]), word8(&slot[8..]));
        let (lo, hi) = ((w0 >> 32) as u32, w1 as u32);
        let tag = w0 as u8;
        // Strings first (the commonest value), then the rest, each an
        // `if` of its own: no jump table.
        if tag == TAG_STR && lo & 0xc0 == 0x80 {
            // Out of line: the length with rkyv's tag bits, then the
            // offset.
            let len = ((lo & 0x3f) | ((lo & !0xff) >> 2)) as usize;
            match claim(ool, &mut cursor, field, hi as i32, len) {
                Some(s) if len > INLINE_STR && is_utf8(s) => {}
                _ => return false,
            }
        } else if tag == TAG_STR {
            // Inline: up to the first 0xff. Past `len` the bytes are
            // 0xff: masked off for the ASCII test, which is most strings;
            // others are checked whole.
            let inline = u64::from(lo) | u64::from(hi) << 32;
            let len = first_ff(inline);
            let mask = u64::MAX.checked_shr(64 - 8 * len as u32).unwrap_or(0);
            if inline & mask & 0x8080_8080_8080_8080 != 0 && !is_utf8(&slot[4..4 + len]) {
                return false;
            }
        } else if tag == TAG_BYTES {
            if claim(ool, &mut cursor, field, lo as i32, hi as usize).is_none() {
                return false;
            }
        } else if tag > TAG_F64 || (tag == TAG_BOOL && (w0 >> 8) as u8 > 1) {
            // A list or a map (or no value at all) is not flat; a bool
            // is 0 or 1; null, integers and floats take any bytes.
            return false;
        }
        field += VALUE_SIZE;
    }
    align8(cursor) == values_pos
}

/// The `len` out-of-line bytes at `*cursor` (the encoder's next position)
/// in `ool` (the bytes before the values), if the relative offset `off`
/// at position `field` points exactly there and they end within `ool`;
/// moves `*cursor` past them.
#[inline(always)]
fn claim<'a>(
    ool: &'a [u8],
    cursor: &mut usize,
    field: usize,
    off: i32,
    len: usize,
) -> Option<&'a [u8]> {
    // Compared as positions in an i64: `field` and `cursor` are below
    // `i32::MAX`, so neither side can overflow.
    if field as i64 + i64::from(off) != *cursor as i64 {
        return None;
    }
    let claimed = ool.get(*cursor..)?.get(..len)?;
    *cursor += len;
    Some(claimed)
}

/// The index of the first `0xff` byte of `word` (little endian), 8 if
/// none: the first zero byte of its complement, found with the classic
/// borrow trick (the lowest flagged byte is exact: a borrow only carries
/// upwards from a zero byte).
#[inline]
fn first_ff(word: u64) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let x = !word;
    let zero = x.wrapping_sub(ONES) & !x & HIGH;
    if zero == 0 {
        8
    } else {
        zero.trailing_zeros() as usize / 8
    }
}

/// The little-endian word of `bytes`, exactly 8 of them (every caller
/// slices exactly 8, so the length check folds away).
#[inline(always)]
fn word8(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes.try_into().expect("8 bytes"))
}

/// Whether `bytes` is UTF-8, with a fast path for ASCII (8 to 16 bytes,
/// the commonest out-of-line strings, as two words that may overlap;
/// longer ones 32 bytes at a time into four independent words, then a
/// word at a time, the last word overlapping).
#[inline]
fn is_utf8(bytes: &[u8]) -> bool {
    let n = bytes.len();
    if (8..=16).contains(&n) {
        let high = word8(&bytes[..8]) | word8(&bytes[n - 8..]);
        high & 0x8080_8080_8080_8080 == 0 || std::str::from_utf8(bytes).is_ok()
    } else {
        is_utf8_any(bytes)
    }
}

/// [`is_utf8`] of a string of any length, out of line.
#[inline(never)]
fn is_utf8_any(bytes: &[u8]) -> bool {
    let n = bytes.len();
    let mut blocks = bytes.chunks_exact(32);
    let mut lanes = [0u64; 4];
    for block in &mut blocks {
        for (k, lane) in lanes.iter_mut().enumerate() {
            *lane |= word8(&block[k * 8..k * 8 + 8]);
        }
    }
    let mut high = lanes.iter().fold(0, |h, l| h | l);
    let mut words = blocks.remainder().chunks_exact(8);
    for w in &mut words {
        high |= word8(w);
    }
    high = if n >= 8 {
        // The last bytes as the string's last word (overlapping bytes
        // already seen).
        high | word8(&bytes[n - 8..])
    } else {
        words
            .remainder()
            .iter()
            .fold(high, |h, &b| h | u64::from(b))
    };
    high & 0x8080_8080_8080_8080 == 0 || std::str::from_utf8(bytes).is_ok()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rkyv::{api::low::to_bytes_in_with_alloc, rancor::Failure, ser::writer::Buffer};

    use crate::{AlignedVec, Header, Tuple, Value};

    fn flat_value() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::I64),
            any::<f64>().prop_map(Value::F64),
            ".{0,20}".prop_map(Value::Str),
            // Every length across the inline, word-move and memcpy cases.
            "[a-z]{0,80}".prop_map(Value::Str),
            proptest::collection::vec(any::<u8>(), 0..80).prop_map(Value::Bytes),
            ".{60,300}".prop_map(Value::Str),
            proptest::collection::vec(any::<u8>(), 0..24).prop_map(Value::Bytes),
        ]
    }

    fn rkyv_bytes(t: &Tuple) -> Vec<u8> {
        let mut buf = AlignedVec::<16>::new();
        buf.resize(1 << 16, 0);
        let mut arena = rkyv::ser::allocator::Arena::new();
        let n = to_bytes_in_with_alloc::<_, _, Failure>(
            &t.as_ref(),
            Buffer::from(&mut buf[..]),
            arena.acquire(),
        )
        .unwrap()
        .len();
        buf[..n].to_vec()
    }

    fn flat_bytes(t: &Tuple) -> Vec<u8> {
        let mut buf = AlignedVec::<16>::new();
        // Garbage in the buffer must not leak into the output.
        buf.resize(1 << 16, 0xa5);
        let n = super::encode(t.as_ref(), &mut buf).unwrap().expect("flat");
        buf[..n].to_vec()
    }

    /// What rkyv's own validator says of `bytes` (copied to be aligned).
    fn rkyv_accepts(bytes: &[u8]) -> bool {
        let mut buf = AlignedVec::<16>::new();
        buf.extend_from_slice(bytes);
        rkyv::access::<crate::ArchivedTuple, Failure>(&buf).is_ok()
    }

    /// A change to archived bytes: a byte, a little-endian word (a length
    /// or a relative offset, often) at a 4-aligned place, either anywhere
    /// or among the last value slots (right before the 24-byte root); or
    /// fewer bytes (cut at the end) or more (zeros in front).
    #[derive(Debug, Clone)]
    enum Mutation {
        Byte(usize, u8),
        Word(usize, u32),
        SlotByte(usize, u8),
        SlotWord(usize, u32),
        Truncate(usize),
        Extend(usize),
    }

    fn mutation() -> impl Strategy<Value = Mutation> {
        let word = || {
            prop_oneof![
                any::<u32>(),
                0u32..64,
                (0u32..64).prop_map(|d| d.wrapping_neg()),
                // Out-of-line string length words of 0..=8 bytes.
                0x80u32..0x89,
                Just(u32::MAX),
                Just(0xffff_ff80),
            ]
        };
        prop_oneof![
            (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Byte(i, b)),
            (any::<usize>(), word()).prop_map(|(i, w)| Mutation::Word(i, w)),
            (any::<usize>(), prop_oneof![0u8..4, any::<u8>()])
                .prop_map(|(i, b)| Mutation::SlotByte(i, b)),
            (any::<usize>(), word()).prop_map(|(i, w)| Mutation::SlotWord(i, w)),
            (1usize..4).prop_map(|k| Mutation::Truncate(k * 8)),
            (1usize..4).prop_map(|k| Mutation::Extend(k * 8)),
        ]
    }

    fn mutate(bytes: &mut Vec<u8>, m: &Mutation) {
        let n = bytes.len();
        match *m {
            Mutation::Byte(i, b) if n > 0 => bytes[i % n] = b,
            Mutation::Word(i, w) if n >= 4 => {
                let at = (i % (n / 4)) * 4;
                bytes[at..at + 4].copy_from_slice(&w.to_le_bytes());
            }
            // The 64 bytes before the root: the last four value slots.
            Mutation::SlotByte(i, b) if n >= 96 => bytes[n - 33 - i % 64] = b,
            Mutation::SlotWord(i, w) if n >= 96 => {
                let at = n - 36 - (i % 16) * 4;
                bytes[at..at + 4].copy_from_slice(&w.to_le_bytes());
            }
            Mutation::Truncate(k) => bytes.truncate(n.saturating_sub(k)),
            Mutation::Extend(k) => bytes.splice(0..0, std::iter::repeat_n(0, k)).for_each(drop),
            _ => {}
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn what_the_encoder_writes_is_recognised(
            roots in proptest::collection::vec(any::<u64>(), 0..4),
            values in proptest::collection::vec(flat_value(), 0..10),
        ) {
            let t = Tuple { header: Header { roots, ..Header::default() }, values };
            prop_assert!(super::is_flat_canonical(&flat_bytes(&t)));
        }
    }

    #[test]
    fn is_utf8_sees_a_high_byte_anywhere() {
        for n in 0..100 {
            let ascii = vec![b'a'; n];
            assert!(super::is_utf8(&ascii), "{n} ASCII bytes");
            for at in 0..n {
                // A lone continuation byte: not UTF-8.
                let mut bad = ascii.clone();
                bad[at] = 0x80;
                assert!(!super::is_utf8(&bad), "0x80 at {at} of {n}");
                // A two-byte character: UTF-8, off the ASCII path.
                if at + 1 < n {
                    let mut good = ascii.clone();
                    good[at..at + 2].copy_from_slice("é".as_bytes());
                    assert!(super::is_utf8(&good), "é at {at} of {n}");
                }
            }
        }
    }

    #[test]
    fn first_ff_finds_the_first_0xff_byte() {
        for fill in [0x00u8, 0x01, 0x7f, 0x80, 0xfe] {
            for first in 0..=8 {
                let mut b = [fill; 8];
                // 0xff at `first` and at every other place after it.
                for k in (first..8).step_by(2) {
                    b[k] = 0xff;
                }
                assert_eq!(super::first_ff(u64::from_le_bytes(b)), first, "{b:x?}");
            }
        }
    }

    #[test]
    fn an_untracked_tuple_has_no_tracking_words_and_a_24_byte_root() {
        // One 9-byte string: its bytes padded to 16, the 16-byte slot, the
        // root; 8 bytes more once tracked (the edge id beside one root).
        let untracked = Tuple {
            header: Header::default(),
            values: vec![Value::from("some data")],
        };
        assert_eq!(flat_bytes(&untracked).len(), 16 + 16 + 24);
        let tracked = Tuple {
            header: Header {
                edge_id: 7,
                roots: vec![9],
                ..Header::default()
            },
            ..untracked.clone()
        };
        assert_eq!(flat_bytes(&tracked).len(), 16 + 16 + 16 + 24);
        // An edge id without roots is kept, and read back.
        let edge_only = Tuple {
            header: Header {
                edge_id: 5,
                ..Header::default()
            },
            ..untracked
        };
        let bytes = flat_bytes(&edge_only);
        assert!(super::is_flat_canonical(&bytes));
        let mut buf = AlignedVec::<16>::new();
        buf.extend_from_slice(&bytes);
        let header = |buf: &[u8]| {
            let tuple = rkyv::access::<crate::ArchivedTuple, Failure>(buf).unwrap();
            rkyv::deserialize::<Header, Failure>(&tuple.header).unwrap()
        };
        assert_eq!(header(&buf), edge_only.header);
        // An edge id of 0 alone is written as no tracking at all: that
        // form is not the encoder's (rkyv reads it all the same).
        buf[..8].copy_from_slice(&0u64.to_le_bytes());
        assert!(!super::is_flat_canonical(&buf));
        assert!(rkyv_accepts(&buf));
        assert_eq!(header(&buf), Header::default());
    }

    #[test]
    fn a_short_out_of_line_string_is_not_recognised() {
        // Two out-of-line strings of 9 bytes: shortening the second's
        // length to 8 keeps the padding the same (17 and 18 bytes both
        // pad to 24), but rkyv refuses an out-of-line string that short.
        let t = Tuple {
            header: Header::default(),
            values: vec![Value::from("abcdefghi"), Value::from("jklmnopqr")],
        };
        let mut bytes = flat_bytes(&t);
        assert!(super::is_flat_canonical(&bytes));
        let n = bytes.len();
        let len_word = n - super::ROOT_SIZE - 16 + 4;
        bytes[len_word..len_word + 4]
            .copy_from_slice(&super::str_len_word(8).unwrap().to_le_bytes());
        let mut buf = AlignedVec::<16>::new();
        buf.extend_from_slice(&bytes);
        assert!(!rkyv_accepts(&buf));
        assert!(!super::is_flat_canonical(&buf));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]
        #[test]
        fn recognised_bytes_pass_rkyv_validation(
            roots in proptest::collection::vec(any::<u64>(), 0..3),
            values in proptest::collection::vec(flat_value(), 0..6),
            mutations in proptest::collection::vec(mutation(), 1..4),
        ) {
            // Anything the fast check lets through must be what rkyv's
            // validator accepts: it stands in for it on the link.
            let t = Tuple { header: Header { roots, ..Header::default() }, values };
            let mut bytes = flat_bytes(&t);
            for m in &mutations {
                mutate(&mut bytes, m);
            }
            let mut buf = AlignedVec::<16>::new();
            buf.extend_from_slice(&bytes);
            if super::is_flat_canonical(&buf) {
                prop_assert!(rkyv_accepts(&bytes), "accepted {:?} after {:?}", bytes, mutations);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn same_bytes_as_rkyv(
            stream in any::<u32>(),
            source_task in any::<u32>(),
            edge_id in prop_oneof![Just(0u64), any::<u64>()],
            roots in proptest::collection::vec(any::<u64>(), 0..4),
            values in proptest::collection::vec(flat_value(), 0..10),
        ) {
            let t = Tuple { header: Header { stream, source_task, edge_id, roots }, values };
            prop_assert_eq!(flat_bytes(&t), rkyv_bytes(&t));
        }

        #[test]
        fn a_few_values_same_bytes_as_rkyv(
            stream in any::<u32>(),
            source_task in any::<u32>(),
            edge_id in prop_oneof![Just(0u64), any::<u64>()],
            roots in proptest::collection::vec(any::<u64>(), 0..4),
            values in proptest::collection::vec(flat_value(), 2..=4),
        ) {
            // The straight-line path for a few fields (`encode_few`).
            let header = Header { stream, source_task, edge_id, roots };
            let t = Tuple { header, values };
            let mut buf = AlignedVec::<16>::new();
            buf.resize(1 << 16, 0xa5);
            let n = super::encode_few_of(&t.header, &t.values, &mut buf).expect("flat");
            prop_assert_eq!(&buf[..n], &rkyv_bytes(&t)[..]);
            // Too small a buffer: refused, for the general path to report.
            prop_assert_eq!(super::encode_few_of(&t.header, &t.values, &mut buf[..n - 1]), None);
        }

        #[test]
        fn archived_values_again_same_bytes_as_rkyv(
            first in proptest::collection::vec(any::<u64>(), 0..4),
            stream in any::<u32>(),
            source_task in any::<u32>(),
            edge_id in prop_oneof![Just(0u64), any::<u64>()],
            roots in proptest::collection::vec(any::<u64>(), 0..4),
            values in proptest::collection::vec(flat_value(), 1..=4),
        ) {
            // A bolt forwarding its input: the input's archived values,
            // read in place, under another header (with other roots, so
            // the values move) are what rkyv writes for them as `Value`s.
            let input = Tuple { header: Header { roots: first, ..Header::default() }, values };
            let archived = rkyv_bytes(&input);
            let mut aligned = AlignedVec::<16>::new();
            aligned.extend_from_slice(&archived);
            let view = rkyv::access::<crate::ArchivedTuple, Failure>(&aligned).unwrap();
            let read = view.values.as_slice();
            let header = Header { stream, source_task, edge_id, roots };
            let mut buf = AlignedVec::<16>::new();
            buf.resize(1 << 16, 0xa5);
            let n = super::encode_archived(&header, read, &mut buf).expect("flat");
            let again = Tuple { header, values: input.values };
            prop_assert_eq!(&buf[..n], &rkyv_bytes(&again)[..]);
            prop_assert_eq!(super::encode_archived(&again.header, read, &mut buf[..n - 1]), None);
        }

        #[test]
        fn one_value_same_bytes_as_rkyv(
            stream in any::<u32>(),
            source_task in any::<u32>(),
            edge_id in prop_oneof![Just(0u64), any::<u64>()],
            roots in proptest::collection::vec(any::<u64>(), 0..4),
            value in flat_value(),
        ) {
            // The straight-line path (`encode_one`) and the general one.
            let header = Header { stream, source_task, edge_id, roots };
            let t = Tuple { header, values: vec![value] };
            let mut buf = AlignedVec::<16>::new();
            buf.resize(1 << 16, 0xa5);
            let tracked = t.header.is_tracked();
            let n = if !tracked {
                super::encode_one::<false>(&t.header, &t.values[0], &mut buf)
            } else {
                super::encode_one::<true>(&t.header, &t.values[0], &mut buf)
            }
            .expect("flat");
            let expected = rkyv_bytes(&t);
            prop_assert_eq!(&buf[..n], &expected[..]);
            // Each kind's own copy: the value's kind writes the same bytes,
            // every other kind refuses it.
            let kind = super::FastKind::of(&t.values).expect("flat");
            let (h, r, v) = (t.header.plain(), &t.header.roots[..], &t.values[0]);
            for k in [super::K_SCALAR, super::K_SHORT_STR, super::K_LONG_STR, super::K_BYTES] {
                let mut out = AlignedVec::<16>::new();
                out.resize(1 << 16, 0x5a);
                let written = match (tracked, k) {
                    (true, super::K_SCALAR) => super::encode_one_as::<true, { super::K_SCALAR }>(h, r, v, &mut out),
                    (true, super::K_SHORT_STR) => super::encode_one_as::<true, { super::K_SHORT_STR }>(h, r, v, &mut out),
                    (true, super::K_LONG_STR) => super::encode_one_as::<true, { super::K_LONG_STR }>(h, r, v, &mut out),
                    (true, _) => super::encode_one_as::<true, { super::K_BYTES }>(h, r, v, &mut out),
                    (false, super::K_SCALAR) => super::encode_one_as::<false, { super::K_SCALAR }>(h, r, v, &mut out),
                    (false, super::K_SHORT_STR) => super::encode_one_as::<false, { super::K_SHORT_STR }>(h, r, v, &mut out),
                    (false, super::K_LONG_STR) => super::encode_one_as::<false, { super::K_LONG_STR }>(h, r, v, &mut out),
                    (false, _) => super::encode_one_as::<false, { super::K_BYTES }>(h, r, v, &mut out),
                };
                if k == kind as u8 {
                    prop_assert_eq!(written.map(|w| &out[..w]), Some(&expected[..]));
                } else {
                    prop_assert_eq!(written, None);
                }
            }
            prop_assert_eq!(flat_bytes(&t), expected);
            // Too small a buffer by one byte: refused, not overrun.
            let short = &mut buf[..n - 1];
            let refused = if tracked {
                super::encode_one::<true>(&t.header, &t.values[0], short)
            } else {
                super::encode_one::<false>(&t.header, &t.values[0], short)
            };
            prop_assert_eq!(refused, None);
        }
    }

    #[test]
    fn nested_values_are_left_to_rkyv() {
        let t = Tuple {
            header: Header::default(),
            values: vec![Value::I64(1), Value::List(vec![])],
        };
        let mut buf = AlignedVec::<16>::new();
        buf.resize(256, 0);
        assert_eq!(super::encode(t.as_ref(), &mut buf), Ok(None));
    }

    #[test]
    fn too_small_buffer_is_an_error() {
        let t = Tuple {
            header: Header::default(),
            values: vec![Value::from("a string longer than eight")],
        };
        let mut buf = AlignedVec::<16>::new();
        buf.resize(40, 0);
        assert_eq!(
            super::encode(t.as_ref(), &mut buf),
            Err(crate::EncodeError::DoesNotFit { capacity: 40 })
        );
    }

    #[test]
    fn string_length_words_stop_at_the_limit_instead_of_wrapping() {
        // rkyv's reading of an out-of-line length word.
        let read = |l: u32| (l & 0x3f) | ((l >> 2) & !0x3f);
        for len in [9, 63, 64, 1000, 1 << 20, crate::MAX_VALUE_LEN] {
            let word = super::str_len_word(len).expect("within the limit");
            assert_eq!(read(word) as usize, len);
            assert_eq!(word & 0xc0, 0x80, "rkyv's out-of-line tag bits");
        }
        // One byte more, and the length's top bits would be shifted out:
        // the old formula wrote a 2^30-byte string's length as 0.
        let wrapped = |l: u32| (l & 0x3f) | 0x80 | ((l & !0x3f) << 2);
        assert_eq!(read(wrapped(1 << 30)), 0);
        assert_eq!(super::str_len_word(crate::MAX_VALUE_LEN + 1), None);
        assert_eq!(super::str_len_word(usize::MAX), None);
    }
}
