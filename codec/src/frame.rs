//! Frames: batches of archived records as they travel between nodes.
//!
//! ```text
//! offset  size  field
//! 0       4     magic  b"GALE"
//! 4       2     version (little endian), currently 1
//! 6       2     flags, 0 in version 1 (non-zero is refused)
//! 8       4     body length in bytes (little endian), a multiple of 8
//! 12      4     record count (little endian)
//! 16      ...   body: `count` records, each
//!                 4  record length n (little endian)
//!                 4  tag (little endian): the receiver's to interpret
//!                    (Gale's link: the task the record is for); 0 from
//!                    `FrameWriter::push` and `push_record`
//!                 n  archived tuple, then padding to a multiple of 8
//! ```
//!
//! Every record payload starts 8-byte aligned relative to the frame, so a
//! frame received into an 8-aligned buffer is validated and read in place.
//! A body is also a *record batch*: the same layout is how Gale's workers
//! batch records for each other and for the link, so a batch moves into a
//! frame ([`FrameWriter::push_body`]) and out of one with one copy each.

use rkyv::util::AlignedVec;

use crate::{
    encoded_len_bound, read::check_record, view_trusted, EncodeError, Encoder, FrameError,
    TupleRef, TupleView, FRAME_MAGIC, FRAME_VERSION, MAX_FRAME_BODY, MAX_RECORD_LEN, RECORD_ALIGN,
};

/// A parsed frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Body length in bytes.
    pub body_len: u32,
    /// Number of records.
    pub count: u32,
}

impl FrameHeader {
    /// Encoded header size.
    pub const LEN: usize = 16;

    /// Parses and checks a header from the first [`Self::LEN`] bytes.
    /// Use it on a stream to learn how many bytes the whole frame needs.
    pub fn parse(bytes: &[u8]) -> Result<Self, FrameError> {
        let Some(h) = bytes.get(..Self::LEN) else {
            return Err(FrameError::Incomplete {
                needed: Self::LEN,
                have: bytes.len(),
            });
        };
        let found = [h[0], h[1], h[2], h[3]];
        if found != FRAME_MAGIC {
            return Err(FrameError::BadMagic { found });
        }
        let version = u16::from_le_bytes([h[4], h[5]]);
        if version != FRAME_VERSION {
            return Err(FrameError::UnsupportedVersion { found: version });
        }
        let flags = u16::from_le_bytes([h[6], h[7]]);
        if flags != 0 {
            return Err(FrameError::UnknownFlags { flags });
        }
        let body_len = u32::from_le_bytes([h[8], h[9], h[10], h[11]]);
        let len = body_len as usize;
        if len > MAX_FRAME_BODY || len % RECORD_ALIGN != 0 {
            return Err(FrameError::BadLength { len });
        }
        let count = u32::from_le_bytes([h[12], h[13], h[14], h[15]]);
        Ok(Self { body_len, count })
    }

    /// Bytes of the whole frame, header included.
    pub fn frame_len(&self) -> usize {
        Self::LEN + self.body_len as usize
    }

    fn encode(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[..4].copy_from_slice(&FRAME_MAGIC);
        out[4..6].copy_from_slice(&FRAME_VERSION.to_le_bytes());
        out[8..12].copy_from_slice(&self.body_len.to_le_bytes());
        out[12..16].copy_from_slice(&self.count.to_le_bytes());
        out
    }
}

/// A frame whose every record has been validated: a [`RawFrame`] whose
/// records all passed the tuple check.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    raw: RawFrame<'a>,
}

impl<'a> Frame<'a> {
    /// Parses the frame at the start of `bytes` (which may hold more after
    /// it) and validates every record before returning; nothing from a
    /// frame with one bad record is handed on. `bytes` must be 8-aligned.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, FrameError> {
        let raw = RawFrame::parse_with(bytes, |index, _, record| check_record(record, index))?;
        Ok(Self { raw })
    }

    /// Bytes this frame occupies, header included; the next frame in a
    /// stream starts here.
    pub fn encoded_len(&self) -> usize {
        self.raw.encoded_len()
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// `true` for a frame with no records.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The raw archived bytes of each record, 8-aligned, already validated.
    pub fn records(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.raw.records().map(|(_, record)| record)
    }

    /// A view of each record, read in place.
    pub fn tuples(&self) -> impl Iterator<Item = TupleView<'a>> + 'a {
        // SAFETY: `Frame::parse` validated every record of this body with
        // `check_record`, and the body is borrowed immutably for 'a.
        self.records().map(|r| unsafe { view_trusted(r) })
    }
}

/// A frame whose structure (header, record headers, lengths, padding) has
/// been checked, but whose records are opaque bytes: for frames that carry
/// records of another format than archived tuples (e.g. ring records between
/// nodes), whose validation the caller owns.
#[derive(Debug, Clone, Copy)]
pub struct RawFrame<'a> {
    header: FrameHeader,
    body: &'a [u8],
}

impl<'a> RawFrame<'a> {
    /// Parses the frame at the start of `bytes` (which may hold more after
    /// it), checks its structure, and passes each record with its index
    /// and its tag to `check`, in the same walk; the first error (from the
    /// structure or from `check`) is returned. `bytes` must be 8-aligned.
    pub fn parse_with<E: From<FrameError>>(
        bytes: &'a [u8],
        mut check: impl FnMut(usize, u32, &'a [u8]) -> Result<(), E>,
    ) -> Result<Self, E> {
        let addr = bytes.as_ptr() as usize;
        if addr % RECORD_ALIGN != 0 {
            return Err(FrameError::Misaligned { addr }.into());
        }
        let header = FrameHeader::parse(bytes)?;
        let body =
            bytes
                .get(FrameHeader::LEN..header.frame_len())
                .ok_or(FrameError::Incomplete {
                    needed: header.frame_len(),
                    have: bytes.len(),
                })?;
        let mut found = 0u32;
        let mut used = 0usize;
        let mut records = BodyRecords::new(body);
        while found < header.count {
            match records.next_checked() {
                Some(Ok((tag, record))) => check(found as usize, tag, record)?,
                Some(Err(e)) => return Err(e(found as usize).into()),
                None => break,
            }
            found += 1;
            used = records.pos;
        }
        if found != header.count || used != body.len() {
            return Err(FrameError::CountMismatch {
                count: header.count,
                found,
                used,
                len: body.len(),
            }
            .into());
        }
        Ok(Self { header, body })
    }

    /// Bytes this frame occupies, header included.
    pub fn encoded_len(&self) -> usize {
        self.header.frame_len()
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.header.count as usize
    }

    /// `true` for a frame with no records.
    pub fn is_empty(&self) -> bool {
        self.header.count == 0
    }

    /// Each record's tag and raw bytes, 8-aligned relative to the frame.
    pub fn records(&self) -> BodyRecords<'a> {
        BodyRecords::new(self.body)
    }
}

/// A malformed record header: makes the error for the record's index.
type BadHeader = fn(usize) -> FrameError;

/// The records of a frame's body (a record batch), in order, each as its
/// tag and its bytes (per record: its length and its tag as little-endian
/// `u32`s, the record, padding to a multiple of 8). Stops at the end, or
/// at the first malformed record header (a length over
/// [`MAX_RECORD_LEN`](crate::MAX_RECORD_LEN) or past the end): a frame is
/// checked whole by [`RawFrame::parse_with`]; this reads what that
/// checked, or any buffer of the same layout (a link's rings carry record
/// batches as frames do).
#[derive(Clone, Debug)]
pub struct BodyRecords<'a> {
    body: &'a [u8],
    pos: usize,
}

impl<'a> BodyRecords<'a> {
    /// The records of `body`.
    #[inline]
    pub fn new(body: &'a [u8]) -> Self {
        Self { body, pos: 0 }
    }

    /// Bytes the one record `record` takes in a body.
    #[inline]
    pub fn one_len(record: &[u8]) -> usize {
        RECORD_HEADER + pad(record.len())
    }

    /// Writes `record` (at most [`MAX_RECORD_LEN`](crate::MAX_RECORD_LEN)
    /// bytes) with `tag` as a body of one record into `into`, of
    /// [`one_len`](Self::one_len) bytes.
    ///
    /// # Panics
    /// If `into` is not [`one_len`](Self::one_len) bytes long.
    pub fn write_one(tag: u32, record: &[u8], into: &mut [u8]) {
        let len = u32::try_from(record.len()).expect("a record is shorter than 4 GiB");
        let (header, rest) = into.split_at_mut(RECORD_HEADER);
        header[..4].copy_from_slice(&len.to_le_bytes());
        header[4..].copy_from_slice(&tag.to_le_bytes());
        let (payload, padding) = rest.split_at_mut(record.len());
        payload.copy_from_slice(record);
        padding.fill(0);
    }

    /// How many records `body` holds, checking that their headers fill it
    /// exactly.
    pub fn count_checked(body: &'a [u8]) -> Result<usize, FrameError> {
        let mut records = Self::new(body);
        let mut n = 0;
        while let Some(next) = records.next_checked() {
            next.map_err(|bad| bad(n))?;
            n += 1;
        }
        Ok(n)
    }

    /// The next record, or the error of a malformed header (as a
    /// constructor taking the record's index).
    #[inline]
    fn next_checked(&mut self) -> Option<Result<(u32, &'a [u8]), BadHeader>> {
        let rest = self.body.get(self.pos..)?;
        if rest.is_empty() {
            return None;
        }
        let bad = |index| FrameError::BadRecordHeader { index };
        let Some(h) = rest.get(..RECORD_HEADER) else {
            return Some(Err(bad));
        };
        let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
        let tag = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
        if len > MAX_RECORD_LEN {
            return Some(Err(bad));
        }
        let Some(record) = rest.get(RECORD_HEADER..RECORD_HEADER + len) else {
            return Some(Err(bad));
        };
        self.pos += RECORD_HEADER + pad(len);
        if self.pos > self.body.len() {
            return Some(Err(bad));
        }
        Some(Ok((tag, record)))
    }
}

impl<'a> Iterator for BodyRecords<'a> {
    type Item = (u32, &'a [u8]);

    #[inline]
    fn next(&mut self) -> Option<(u32, &'a [u8])> {
        match self.next_checked()? {
            Ok(record) => Some(record),
            Err(_) => {
                // Malformed: nothing after it is read.
                self.pos = self.body.len();
                None
            }
        }
    }
}

const RECORD_HEADER: usize = 8;

const fn pad(n: usize) -> usize {
    (n + RECORD_ALIGN - 1) & !(RECORD_ALIGN - 1)
}

/// Builds frames: encode tuples (or copy already-archived records) into one
/// aligned buffer, then [`FrameWriter::finish`] fills in the header.
///
/// ```
/// use gale_codec::{Encoder, Frame, FrameWriter, Header, Tuple, Value};
/// let mut enc = Encoder::new();
/// let mut w = FrameWriter::new();
/// let t = Tuple { header: Header::default(), values: vec![Value::I64(7)] };
/// w.push(&mut enc, t.as_ref()).unwrap();
/// let frame = Frame::parse(w.finish()).unwrap();
/// assert_eq!(frame.tuples().next().unwrap().get(0).unwrap().as_i64(), Some(7));
/// ```
pub struct FrameWriter {
    buf: AlignedVec<16>,
    count: u32,
}

impl Default for FrameWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameWriter {
    /// An empty frame.
    pub fn new() -> Self {
        let mut buf = AlignedVec::new();
        buf.resize(FrameHeader::LEN, 0);
        Self { buf, count: 0 }
    }

    /// Records so far.
    pub fn count(&self) -> usize {
        self.count as usize
    }

    /// Bytes so far, header included.
    pub fn len_bytes(&self) -> usize {
        self.buf.len()
    }

    /// Archives `tuple` directly into the frame.
    pub fn push(&mut self, encoder: &mut Encoder, tuple: TupleRef<'_>) -> Result<(), EncodeError> {
        let bound = encoded_len_bound(tuple)?;
        let start = self.begin_record(bound)?;
        self.buf.resize(start + bound, 0);
        match encoder.encode_into(tuple, &mut self.buf.as_mut_slice()[start..]) {
            Ok(written) => {
                self.seal_record(start, written);
                Ok(())
            }
            Err(e) => {
                self.buf.resize(start - RECORD_HEADER, 0);
                Err(e)
            }
        }
    }

    /// Copies an already-archived record into the frame, with tag 0. The
    /// bytes are not validated here.
    pub fn push_record(&mut self, record: &[u8]) -> Result<(), EncodeError> {
        let start = self.begin_record(record.len())?;
        self.buf.resize(start, 0);
        self.buf.extend_from_slice(record);
        self.seal_record(start, record.len());
        Ok(())
    }

    /// Appends a record batch (the layout of a frame's body: records with
    /// their headers, as [`BodyRecords`] reads them) with one copy, and
    /// returns how many records it held. Only the headers are checked
    /// (they must fill `body` exactly); the records' bytes are not
    /// validated here. A malformed batch, or one that would take the body
    /// past [`MAX_FRAME_BODY`] ([`FrameError::BadLength`]), is refused
    /// whole.
    pub fn push_body(&mut self, body: &[u8]) -> Result<usize, FrameError> {
        let len = self.buf.len() - FrameHeader::LEN + body.len();
        if len > MAX_FRAME_BODY {
            return Err(FrameError::BadLength { len });
        }
        // Copied first, then counted: the copy streams `body` in (from
        // another core's cache, when a ring holds it), while the count is
        // a chain of dependent loads, each record's header giving the
        // next one's place, that is cheap only on bytes this core holds.
        let start = self.buf.len();
        self.buf.extend_from_slice(body);
        match BodyRecords::count_checked(&self.buf[start..]) {
            Ok(n) => {
                // `n` <= MAX_FRAME_BODY / 8 < u32::MAX.
                self.count += n as u32;
                Ok(n)
            }
            Err(e) => {
                self.buf.resize(start, 0);
                Err(e)
            }
        }
    }

    /// Checks that a record of at most `len` bytes fits the frame and
    /// returns where its payload starts.
    fn begin_record(&self, len: usize) -> Result<usize, EncodeError> {
        if len > MAX_RECORD_LEN {
            return Err(EncodeError::DoesNotFit {
                capacity: MAX_RECORD_LEN,
            });
        }
        let start = self.buf.len() + RECORD_HEADER;
        let body_len = start + pad(len) - FrameHeader::LEN;
        if body_len > MAX_FRAME_BODY {
            return Err(EncodeError::FrameFull { body_len });
        }
        Ok(start)
    }

    fn seal_record(&mut self, start: usize, len: usize) {
        let h = start - RECORD_HEADER;
        // `len` <= MAX_RECORD_LEN < u32::MAX, checked in `begin_record`.
        self.buf.as_mut_slice()[h..h + 4].copy_from_slice(&(len as u32).to_le_bytes());
        self.buf.resize(start + pad(len), 0);
        self.count += 1;
    }

    /// Writes the header and returns the whole frame's bytes (16-aligned).
    /// The writer keeps them until [`FrameWriter::clear`].
    pub fn finish(&mut self) -> &[u8] {
        let header = FrameHeader {
            // Bounded by MAX_FRAME_BODY in `begin_record`.
            body_len: (self.buf.len() - FrameHeader::LEN) as u32,
            count: self.count,
        };
        self.buf.as_mut_slice()[..FrameHeader::LEN].copy_from_slice(&header.encode());
        self.buf.as_slice()
    }

    /// Like [`finish`](Self::finish), then appends `trailer` zero bytes
    /// after the frame (e.g. for a transport's authentication tag) and
    /// returns the frame and the trailer, both writable (to encrypt the
    /// body in place and write the tag). [`bytes`](Self::bytes) and
    /// [`len_bytes`](Self::len_bytes) include the trailer until
    /// [`clear`](Self::clear); push no record before then.
    pub fn finish_with_trailer(&mut self, trailer: usize) -> (&mut [u8], &mut [u8]) {
        let frame_len = self.finish().len();
        self.buf.resize(frame_len + trailer, 0);
        self.buf.as_mut_slice().split_at_mut(frame_len)
    }

    /// The frame's bytes as last [`finish`](Self::finish)ed (the header is
    /// only valid after `finish`; records pushed since are included).
    pub fn bytes(&self) -> &[u8] {
        self.buf.as_slice()
    }

    /// Empties the writer for the next frame, keeping its capacity.
    pub fn clear(&mut self) {
        self.buf.resize(FrameHeader::LEN, 0);
        self.count = 0;
    }
}
