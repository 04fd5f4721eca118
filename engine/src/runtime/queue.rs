//! [`ByteQueue`]: a FIFO of archived records for one thread's own use, and
//! the layout of a *record batch*, many records in one run of bytes, which
//! is also how records travel between two workers of a node: a worker
//! stages the tuples for another worker in a `ByteQueue` and puts the
//! whole batch into the ring as one ring record ([`SubRecords`] reads it
//! back). The same queue is the same-thread delivery queue (tuples for a
//! task on the emitting thread skip the rings) and each outbound ring's
//! overflow while the ring is full.
//!
//! A record is an 8-byte header, the payload's length (u32 LE) and the
//! destination task (u32 LE), then the payload, padded to 8 bytes so that
//! every payload starts 8-aligned and can be read in place. This is the
//! layout of a frame's body too (the task is the record's tag, see
//! `gale_codec::BodyRecords`), so a batch for another node goes into a
//! frame, and a run of a frame's records into a worker's ring, with one
//! copy.

use std::marker::PhantomData;

use gale_codec::AlignedVec;

use crate::TaskId;

/// Per-record header: payload length and destination task.
pub(crate) const HEADER: usize = 8;

/// Free bytes a push makes sure of before its first try: most archived
/// tuples fit in them, so the first try almost always succeeds.
pub(crate) const HEADROOM: usize = 1024;

/// A growable FIFO of `(destination task, payload)` records, laid out
/// back to back as a record batch. Every payload starts 8-aligned.
///
/// Its buffer only grows: bytes once used are reused without being zeroed
/// again, so a push costs the write of the record and nothing more.
#[derive(Default)]
pub(crate) struct ByteQueue {
    buf: AlignedVec<16>,
    /// Start of the oldest record.
    read: usize,
    /// End of the newest record.
    write: usize,
    /// Records held.
    len: usize,
}

impl ByteQueue {
    /// Appends a record for `dest` whose payload `write` puts at the start
    /// of the slice it gets, returning the bytes it used. `write` first
    /// gets all the free space (at least [`HEADROOM`] bytes); if that
    /// fails, the queue grows to hold `bound()` bytes (an upper bound of
    /// the payload) and calls it again. On error nothing is appended.
    #[inline(always)]
    pub(crate) fn push_with<E>(
        &mut self,
        dest: TaskId,
        write: impl FnMut(&mut [u8]) -> Result<usize, E>,
        bound: impl FnOnce() -> Result<usize, E>,
    ) -> Result<(), E> {
        self.appender().push_with(dest, write, bound)
    }

    /// An [`Appender`] for a run of pushes.
    #[inline(always)]
    pub(crate) fn appender(&mut self) -> Appender<'_> {
        Appender {
            writer: RecordWriter {
                base: self.buf.as_mut_ptr(),
                cap: self.buf.len(),
                read: self.read,
                write: self.write,
                len: self.len,
                _buf: PhantomData,
            },
            queue: self,
        }
    }

    /// Appends a copy of `payload` for `dest`.
    pub(crate) fn push_bytes(&mut self, dest: TaskId, payload: &[u8]) {
        let copy = |buf: &mut [u8]| match buf.get_mut(..payload.len()) {
            Some(to) => {
                to.copy_from_slice(payload);
                Ok(payload.len())
            }
            None => Err(()),
        };
        // The bound is exact, so the second write always fits.
        let _ = self.push_with(dest, copy, || Ok(payload.len()));
    }

    #[cold]
    fn grow(&mut self, need: usize) {
        let len = need.next_multiple_of(8).max(self.buf.len() * 2).max(1024);
        self.buf.resize(len, 0);
    }

    /// The oldest record.
    #[inline]
    pub(crate) fn front(&self) -> Option<(TaskId, &[u8])> {
        if self.len == 0 {
            return None;
        }
        SubRecords::new(&self.buf[self.read..self.write]).next()
    }

    /// Drops the oldest record.
    #[inline]
    pub(crate) fn pop(&mut self) {
        if let Some((_, payload)) = self.front() {
            self.read += HEADER + payload.len().next_multiple_of(8);
            self.len -= 1;
            if self.len == 0 {
                self.clear();
            }
        }
    }

    /// Drops every record.
    pub(crate) fn clear(&mut self) {
        self.read = 0;
        self.write = 0;
        self.len = 0;
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Bytes held (for backpressure decisions), headers included.
    #[inline]
    pub(crate) fn bytes(&self) -> usize {
        self.write - self.read
    }

    /// The records held, as one record batch.
    pub(crate) fn as_batch(&self) -> &[u8] {
        &self.buf[self.read..self.write]
    }

    /// Drops the newest record, if it starts at `mark` (what
    /// [`bytes`](Self::bytes) was before it was pushed).
    pub(crate) fn drop_newest(&mut self, mark: usize) {
        if self.len > 0 && self.read + mark < self.write {
            self.write = self.read + mark;
            self.len -= 1;
            if self.len == 0 {
                self.clear();
            }
        }
    }
}

/// Writes records back to back into a fixed run of bytes (a
/// [`ByteQueue`]'s buffer through an [`Appender`], or a ring record),
/// holding the cursor itself: over a loop of writes it stays in
/// registers instead of being re-read from memory after every write
/// through the buffer (which the compiler must assume may alias it).
pub(crate) struct RecordWriter<'b> {
    /// The buffer's address and length.
    base: *mut u8,
    cap: usize,
    /// Where the records start (bytes before it are not this writer's).
    read: usize,
    /// End of the newest record.
    write: usize,
    /// Records in `read..write`.
    len: usize,
    _buf: PhantomData<&'b mut [u8]>,
}

impl<'b> RecordWriter<'b> {
    /// A writer that appends to `buf` after its first `written` bytes
    /// (records written before); `buf` must start 8-aligned so that every
    /// payload does.
    #[inline(always)]
    pub(crate) fn over(buf: &'b mut [u8], written: usize) -> Self {
        debug_assert_eq!(buf.as_ptr() as usize % 8, 0);
        assert!(written <= buf.len());
        Self {
            base: buf.as_mut_ptr(),
            cap: buf.len(),
            read: 0,
            write: written,
            len: 0,
            _buf: PhantomData,
        }
    }

    /// The free space after the next record's header, if it holds at
    /// least [`HEADROOM`] bytes: write a payload at its start, then
    /// [`commit`](Self::commit) it. `None` otherwise (a loop that must not
    /// make calls then leaves the write to one that may).
    #[inline(always)]
    pub(crate) fn headroom(&mut self) -> Option<&mut [u8]> {
        let at = self.write + HEADER;
        if self.cap < at + HEADROOM {
            return None;
        }
        // SAFETY: `base` and `cap` are the address and length of the
        // buffer `self` borrows mutably (set when the writer was made or
        // the buffer last grew); `at < cap`.
        Some(unsafe { std::slice::from_raw_parts_mut(self.base.add(at), self.cap - at) })
    }

    /// Appends the record whose `used` payload bytes were written after
    /// the next record's header, for `dest`.
    #[inline(always)]
    pub(crate) fn commit(&mut self, dest: TaskId, used: usize) {
        let at = self.write + HEADER;
        assert!(at + used <= self.cap, "commit past the written space");
        let header = (used as u64) | (u64::from(dest) << 32);
        // SAFETY: `self.write + HEADER <= cap` (checked above) inside the
        // buffer `self` borrows mutably; an unaligned write needs no
        // alignment.
        unsafe {
            self.base
                .add(self.write)
                .cast::<u64>()
                .write_unaligned(header.to_le());
        }
        self.write = at + used.next_multiple_of(8);
        self.len += 1;
    }

    /// Bytes of the records written, headers included (for a queue, all
    /// it holds).
    #[inline(always)]
    pub(crate) fn bytes(&self) -> usize {
        self.write - self.read
    }

    /// Appends a record for `dest` for each of `items` in turn, written by
    /// `write(item, room)` into the free space after its header (returning
    /// the payload's length, or `None` to stop before it), until the
    /// records reach `limit` bytes. Returns how many it appended and, if
    /// it stopped at `limit`, where the last record starts (what
    /// [`bytes`](Self::bytes) was before it). The cursor stays in locals
    /// for the whole loop (the writer itself may live in memory the
    /// writes could alias, as far as the compiler knows), and the items
    /// are walked by one pointer (no index and count kept beside it).
    #[inline(always)]
    pub(crate) fn append_run<T>(
        &mut self,
        dest: TaskId,
        limit: usize,
        items: &[T],
        mut write: impl FnMut(&T, &mut [u8]) -> Option<usize>,
    ) -> (usize, Option<usize>) {
        let (base, cap, read) = (self.base, self.cap, self.read);
        let stop = read.saturating_add(limit);
        let mut end = self.write;
        let mut rest = items;
        let mut limited = None;
        while let [item, tail @ ..] = rest {
            let at = end + HEADER;
            if at > cap {
                break;
            }
            // SAFETY: `base` and `cap` are the address and length of the
            // buffer `self` borrows mutably (set when the writer was made
            // or the buffer last grew); `at <= cap`.
            let room = unsafe { std::slice::from_raw_parts_mut(base.add(at), cap - at) };
            let room_len = room.len();
            let Some(used) = write(item, room) else {
                break;
            };
            assert!(used <= room_len, "a record past the written space");
            let header = (used as u64) | (u64::from(dest) << 32);
            // SAFETY: `end + HEADER = at <= cap`: the header lies inside
            // the buffer; an unaligned write needs no alignment.
            unsafe { base.add(end).cast::<u64>().write_unaligned(header.to_le()) };
            let start = end;
            end = at + used.next_multiple_of(8);
            rest = tail;
            if end >= stop {
                limited = Some(start - read);
                break;
            }
        }
        let i = items.len() - rest.len();
        self.write = end;
        self.len += i;
        (i, limited)
    }
}

/// Appends records to a [`ByteQueue`] through a [`RecordWriter`] over its
/// buffer (which it derefs to), growing the buffer when a record needs
/// more room. The queue takes the cursor back when the appender is
/// dropped.
pub(crate) struct Appender<'q> {
    writer: RecordWriter<'q>,
    queue: &'q mut ByteQueue,
}

impl<'q> std::ops::Deref for Appender<'q> {
    type Target = RecordWriter<'q>;
    #[inline(always)]
    fn deref(&self) -> &RecordWriter<'q> {
        &self.writer
    }
}

impl<'q> std::ops::DerefMut for Appender<'q> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut RecordWriter<'q> {
        &mut self.writer
    }
}

impl Appender<'_> {
    /// [`ByteQueue::push_with`].
    #[inline(always)]
    pub(crate) fn push_with<E>(
        &mut self,
        dest: TaskId,
        mut write: impl FnMut(&mut [u8]) -> Result<usize, E>,
        bound: impl FnOnce() -> Result<usize, E>,
    ) -> Result<(), E> {
        let used = match write(self.spare()) {
            Ok(used) => used,
            Err(_) => self.write_large(&mut write, bound)?,
        };
        self.commit(dest, used);
        Ok(())
    }

    /// The free space after the newest record's header, at least
    /// [`HEADROOM`] bytes (the queue grows if it must): write a payload
    /// at its start, then [`commit`](RecordWriter::commit) it.
    #[inline(always)]
    pub(crate) fn spare(&mut self) -> &mut [u8] {
        let at = self.writer.write + HEADER;
        if self.writer.cap < at + HEADROOM {
            self.grow(at + HEADROOM);
        }
        let w = &mut self.writer;
        // SAFETY: as in `RecordWriter::headroom`; `at + HEADROOM <= cap`.
        unsafe { std::slice::from_raw_parts_mut(w.base.add(at), w.cap - at) }
    }

    /// The second try of [`push_with`](Self::push_with), after growing to
    /// hold `bound()` bytes of payload; returns the bytes `write` used (to
    /// be [`commit`](RecordWriter::commit)ted).
    #[cold]
    #[inline(never)]
    pub(crate) fn write_large<E>(
        &mut self,
        write: &mut dyn FnMut(&mut [u8]) -> Result<usize, E>,
        bound: impl FnOnce() -> Result<usize, E>,
    ) -> Result<usize, E> {
        let at = self.writer.write + HEADER;
        let need = at + bound()?;
        if self.writer.cap < need {
            self.grow(need);
        }
        let w = &mut self.writer;
        // SAFETY: as in `RecordWriter::headroom`; `at <= need <= cap`.
        write(unsafe { std::slice::from_raw_parts_mut(w.base.add(at), w.cap - at) })
    }

    #[cold]
    fn grow(&mut self, need: usize) {
        self.queue.grow(need);
        self.writer.base = self.queue.buf.as_mut_ptr();
        self.writer.cap = self.queue.buf.len();
    }
}

impl Drop for Appender<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        self.queue.write = self.writer.write;
        self.queue.len = self.writer.len;
    }
}

/// The records of a record batch, in order. Stops at the end or at the
/// first record whose header or payload would run past it.
#[derive(Clone)]
pub(crate) struct SubRecords<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> SubRecords<'a> {
    /// The records in `bytes` (a record batch, 8-aligned).
    #[inline]
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }
}

/// Records read as regions: what a bolt's run walks itself (see
/// [`InputBatch`](super::input::InputBatch)), besides one at a time.
pub(crate) trait Regions<'a>: Iterator<Item = (TaskId, &'a [u8])> {
    /// The records after those taken, as one record batch (empty when
    /// none are left); the same until [`consume`](Self::consume)d.
    fn region(&mut self) -> &'a [u8];

    /// Takes the first `bytes` of [`region`](Self::region) (whole
    /// records, or all of it).
    fn consume(&mut self, bytes: usize);
}

/// The records not taken yet, as one region.
impl<'a> Regions<'a> for SubRecords<'a> {
    #[inline]
    fn region(&mut self) -> &'a [u8] {
        self.bytes.get(self.pos..).unwrap_or_default()
    }

    #[inline]
    fn consume(&mut self, bytes: usize) {
        debug_assert!(self.pos + bytes <= self.bytes.len());
        self.pos += bytes;
    }
}

/// The tuples of several record batches (a ring's read batch: each of
/// its records is one), each with its destination task.
pub(crate) struct BatchRecords<'b, I> {
    batches: I,
    /// The rest of the current record batch.
    current: SubRecords<'b>,
}

impl<'b, I: Iterator<Item = &'b [u8]>> BatchRecords<'b, I> {
    /// The records of each of `batches` in turn.
    pub(crate) fn new(batches: I) -> Self {
        Self {
            batches,
            current: SubRecords::new(&[]),
        }
    }
}

/// A region is the rest of the current record batch, or the next one
/// that is not empty.
impl<'b, I: Iterator<Item = &'b [u8]>> Regions<'b> for BatchRecords<'b, I> {
    #[inline]
    fn region(&mut self) -> &'b [u8] {
        loop {
            let rest = self.current.region();
            if !rest.is_empty() {
                return rest;
            }
            let Some(next) = self.batches.next() else {
                return &[];
            };
            self.current = SubRecords::new(next);
        }
    }

    #[inline]
    fn consume(&mut self, bytes: usize) {
        self.current.consume(bytes);
    }
}

impl<'b, I: Iterator<Item = &'b [u8]>> Iterator for BatchRecords<'b, I> {
    type Item = (TaskId, &'b [u8]);

    #[inline]
    fn next(&mut self) -> Option<(TaskId, &'b [u8])> {
        loop {
            if let Some(next) = self.current.next() {
                return Some(next);
            }
            self.current = SubRecords::new(self.batches.next()?);
        }
    }
}

impl<'a> Iterator for SubRecords<'a> {
    type Item = (TaskId, &'a [u8]);

    #[inline]
    fn next(&mut self) -> Option<(TaskId, &'a [u8])> {
        let start = self.pos + HEADER;
        let h: [u8; HEADER] = self.bytes.get(self.pos..start)?.try_into().ok()?;
        let h = u64::from_le_bytes(h);
        let (len, dest) = (h as u32 as usize, (h >> 32) as u32);
        let payload = self.bytes.get(start..start + len)?;
        // Padded to 8 (`len` < 2^32: no overflow). Past the end, the next
        // `get` finds nothing.
        self.pos = start + ((len + 7) & !7);
        Some((dest, payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(q: &mut ByteQueue, dest: u32, n: usize) {
        q.push_with::<()>(
            dest,
            |b| {
                let to = b.get_mut(..n).ok_or(())?;
                to.fill(dest as u8);
                Ok(n)
            },
            || Ok(n),
        )
        .unwrap();
    }

    #[test]
    fn fifo_with_aligned_payloads() {
        let mut q = ByteQueue::default();
        for i in 0..5u32 {
            push(&mut q, i, i as usize);
        }
        assert!(q
            .push_with(9, |_| Err::<usize, _>("no"), || Err("no"))
            .is_err());
        assert_eq!(q.len(), 5);
        for i in 0..5u32 {
            let (dest, p) = q.front().unwrap();
            assert_eq!((dest, p.len()), (i, i as usize));
            assert_eq!(p.as_ptr() as usize % 8, 0);
            assert!(p.iter().all(|b| *b == i as u8));
            q.pop();
        }
        assert!(q.is_empty() && q.front().is_none() && q.bytes() == 0);
    }

    #[test]
    fn grows_for_large_records_and_reuses_its_buffer() {
        let mut q = ByteQueue::default();
        push(&mut q, 1, 10_000);
        push(&mut q, 2, 3);
        assert_eq!(q.bytes(), HEADER + 10_000 + HEADER + 8);
        let batch: Vec<_> = SubRecords::new(q.as_batch())
            .map(|(d, p)| (d, p.len()))
            .collect();
        assert_eq!(batch, [(1, 10_000), (2, 3)]);
        q.clear();
        push(&mut q, 3, 5);
        assert_eq!(q.front().map(|(d, p)| (d, p.len())), Some((3, 5)));
    }

    #[test]
    fn push_bytes_and_drop_newest() {
        let mut q = ByteQueue::default();
        q.push_bytes(4, b"abc");
        let mark = q.bytes();
        q.push_bytes(5, b"defgh");
        q.drop_newest(mark);
        assert_eq!(q.len(), 1);
        assert_eq!(q.front(), Some((4, &b"abc"[..])));
    }

    #[test]
    fn a_cut_batch_yields_only_whole_records() {
        let mut q = ByteQueue::default();
        q.push_bytes(1, b"0123456789");
        q.push_bytes(2, b"x");
        let batch = q.as_batch();
        let cut = &batch[..batch.len() - 9];
        let got: Vec<_> = SubRecords::new(cut).collect();
        assert_eq!(got, [(1, &b"0123456789"[..])]);
    }

    #[test]
    fn the_region_is_what_next_has_not_taken() {
        let mut q = ByteQueue::default();
        for (dest, payload) in [(1, &b"a"[..]), (1, b"bcdefghij"), (2, b"k")] {
            q.push_bytes(dest, payload);
        }
        let batch = q.as_batch();
        let mut records = SubRecords::new(batch);
        assert_eq!(records.region(), batch);
        records.next();
        assert_eq!(records.region(), &batch[16..]);
        // Consuming the region's first record is taking it.
        records.consume(HEADER + 16);
        assert_eq!(records.next(), Some((2, &b"k"[..])));
        assert_eq!((records.region(), records.next()), (&[][..], None));
    }
}
