//! The writing side of a ring.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use super::error::{ReserveError, Role};
use super::layout::{footprint, KIND_DATA, KIND_PAD, RECORD_HEADER};
use super::region::Region;
use crate::sync::Ordering;

/// The single writer of a ring.
///
/// Records are written in place: [`try_reserve`](Self::try_reserve) hands out
/// a [`WriteSlot`], the caller fills it and commits it. Commits become visible
/// to the consumer in batches (every `batch` commits, on [`flush`](Self::flush)
/// and when the producer is dropped).
pub struct Producer {
    pub(super) region: Arc<Region>,
    /// Position after the last committed record (published or not).
    pub(super) write_pos: u64,
    /// Last value of `head` read from the consumer. The real head is never
    /// behind it, so free space computed from it is a lower bound.
    cached_head: u64,
    /// Commits not yet published.
    pending: usize,
    batch: usize,
    /// The record reserved by [`begin`](Self::begin) and not yet
    /// [`finish`](Self::finish)ed: its start and reserved length.
    open: Option<(u64, usize)>,
}

// SAFETY: a Producer is the only handle that writes the unpublished part of
// the data area and the `tail` index; moving it to another thread moves that
// exclusive right with it. The shared `Region` is Send + Sync. It is not Sync:
// all mutating methods take `&mut self`.
unsafe impl Send for Producer {}

impl Producer {
    /// Wraps a region whose producer flag this handle has just set.
    /// `tail` and `head` are the ring's positions at attach time.
    pub(crate) fn new(region: Arc<Region>, head: u64, tail: u64, batch: usize) -> Self {
        Producer {
            region,
            write_pos: tail,
            cached_head: head,
            pending: 0,
            batch,
            open: None,
        }
    }

    /// Size of the data area in bytes.
    pub fn capacity(&self) -> usize {
        self.region.capacity()
    }

    /// Largest payload one record may have.
    pub fn max_record(&self) -> usize {
        self.region.max_record()
    }

    /// How many commits are accumulated before publishing.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Changes the publication batch (values below 1 count as 1). Does not
    /// publish by itself.
    pub fn set_batch(&mut self, batch: usize) {
        self.batch = batch.max(1);
    }

    /// Number of committed records not yet visible to the consumer.
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// Free bytes in the data area, from a fresh read of the consumer's
    /// position. Record headers, padding to 8 bytes and wrap padding all use
    /// space, so a record of `free_space() - 8` bytes may still not fit.
    pub fn free_space(&mut self) -> usize {
        self.refresh_head();
        self.free_cached() as usize
    }

    /// Reserves room for a record with a `len`-byte payload.
    ///
    /// Returns at once: [`ReserveError::Full`] if the consumer has not yet
    /// released enough space (pending commits are then published, so the
    /// consumer can make room), [`ReserveError::TooLarge`] if `len` exceeds
    /// [`max_record`](Self::max_record). The slot's bytes start 8-byte
    /// aligned; their initial contents are unspecified (not necessarily zero).
    ///
    /// # Panics
    ///
    /// If a record is [open](Self::begin): finish it first.
    pub fn try_reserve(&mut self, len: usize) -> Result<WriteSlot<'_>, ReserveError> {
        assert!(self.open.is_none(), "try_reserve while a record is open");
        let max = self.region.max_record();
        if len > max {
            return Err(ReserveError::TooLarge { len, max });
        }
        let cap = self.region.capacity() as u64;
        let foot = footprint(len) as u64;
        let to_end = cap - (self.write_pos & (cap - 1));
        // A record never straddles the end: if it does not fit before the end,
        // it starts at the next lap and the rest of this lap becomes padding.
        let (start, needed) = if foot <= to_end {
            (self.write_pos, foot)
        } else {
            (self.write_pos + to_end, to_end + foot)
        };
        if self.free_cached() < needed {
            self.refresh_head();
            if self.free_cached() < needed {
                // Stalled anyway: publish what is pending so the consumer can
                // drain it and make room (waiting on a full ring while holding
                // unpublished records could otherwise deadlock).
                self.flush();
                return Err(ReserveError::Full);
            }
        }
        let index = (self.write_pos & (cap - 1)) as usize;
        self.region.track_write(index, needed.min(to_end) as usize);
        if start != self.write_pos {
            self.region.track_write(0, foot as usize);
        }
        Ok(WriteSlot {
            producer: self,
            start,
            len,
        })
    }

    /// Reserves room for a record with a `len`-byte payload, as
    /// [`try_reserve`](Self::try_reserve) does, and keeps it *open*: it is
    /// written over several calls through [`open_record`](Self::open_record)
    /// (no borrow of the producer is held in between) and made a record by
    /// [`finish`](Self::finish). Nothing else may be reserved meanwhile.
    ///
    /// # Panics
    ///
    /// If a record is open already.
    pub fn begin(&mut self, len: usize) -> Result<(), ReserveError> {
        let WriteSlot { start, len, .. } = self.try_reserve(len)?;
        self.open = Some((start, len));
        Ok(())
    }

    /// The payload bytes of the open record (all it reserved), or `None`
    /// if no record is open.
    #[inline]
    pub fn open_record(&mut self) -> Option<&mut [u8]> {
        let (start, len) = self.open?;
        let slot = WriteSlot {
            producer: self,
            start,
            len,
        };
        let ptr = slot.payload_ptr();
        // SAFETY: as in `WriteSlot::deref_mut`: `begin` reserved these
        // `len` bytes for the open record, which nothing else reserves or
        // reads until it is finished; the slice borrows `self` mutably.
        Some(unsafe { std::slice::from_raw_parts_mut(ptr, len) })
    }

    /// Whether a record is open.
    #[inline]
    pub fn is_open(&self) -> bool {
        self.open.is_some()
    }

    /// Commits the first `used` bytes of the open record as one record
    /// (as [`WriteSlot::commit_len`]); `used == 0` abandons it, and nothing
    /// becomes visible. Does nothing if no record is open.
    ///
    /// # Panics
    ///
    /// If `used` is larger than the reserved length.
    pub fn finish(&mut self, used: usize) {
        if let Some((start, len)) = self.open.take() {
            if used > 0 {
                WriteSlot {
                    producer: self,
                    start,
                    len,
                }
                .commit_len(used);
            }
        }
    }

    /// Copies `payload` into a new record and commits it.
    pub fn try_push(&mut self, payload: &[u8]) -> Result<(), ReserveError> {
        let mut slot = self.try_reserve(payload.len())?;
        slot.copy_from_slice(payload);
        slot.commit();
        Ok(())
    }

    /// Makes every committed record visible to the consumer.
    pub fn flush(&mut self) {
        if self.pending > 0 {
            self.publish();
        }
    }

    fn publish(&mut self) {
        // SYNC: Release pairs with the Acquire load of tail in
        // Consumer::refresh_tail; it publishes the record bytes written before.
        self.region
            .control()
            .tail
            .store(self.write_pos, Ordering::Release);
        self.pending = 0;
        if let Some(bell) = self.region.doorbell.get() {
            bell.published();
        }
    }

    fn refresh_head(&mut self) {
        // SYNC: Acquire pairs with the Release store of head in
        // ReadBatch::drop, so the consumer's reads of released bytes
        // happen-before our overwriting them.
        self.cached_head = self.region.control().head.load(Ordering::Acquire);
    }

    /// Free bytes according to the cached head. A head that claims more than
    /// `capacity` used bytes (only possible if another process corrupted the
    /// ring) reads as "no space", never as an out-of-bounds write.
    fn free_cached(&self) -> u64 {
        let used = self.write_pos.wrapping_sub(self.cached_head);
        (self.region.capacity() as u64).saturating_sub(used)
    }

    /// Writes a record header at `index`.
    ///
    /// # Safety
    ///
    /// `index + 8 <= capacity`, `index` is 8-aligned, and the 8 bytes lie in
    /// free space reserved by `try_reserve` (not readable by the consumer).
    unsafe fn write_header(&mut self, index: usize, len: u32, kind: u32) {
        // SAFETY: in bounds and 8-aligned (caller; the data area is 64-aligned),
        // and no one else accesses these bytes until they are published.
        unsafe {
            let p = self.region.data_at(index).cast::<u32>();
            p.write(len);
            p.add(1).write(kind);
        }
    }
}

impl Drop for Producer {
    /// Publishes pending commits and detaches from the ring.
    fn drop(&mut self) {
        self.flush();
        self.region.control().detach(Role::Producer);
    }
}

impl fmt::Debug for Producer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer")
            .field("capacity", &self.region.capacity())
            .field("write_pos", &self.write_pos)
            .field("cached_head", &self.cached_head)
            .field("pending", &self.pending)
            .field("batch", &self.batch)
            .field("open", &self.open)
            .finish()
    }
}

/// Room for one record, reserved by [`Producer::try_reserve`].
///
/// Dereferences to exactly the reserved number of bytes, 8-byte aligned.
/// [`commit`](Self::commit) or [`commit_len`](Self::commit_len) make it a
/// record; dropping the slot abandons it and nothing becomes visible.
#[must_use = "a slot that is not committed is abandoned"]
pub struct WriteSlot<'a> {
    producer: &'a mut Producer,
    /// Position of the record header (after any wrap padding).
    start: u64,
    len: usize,
}

impl WriteSlot<'_> {
    /// Commits the whole slot as one record.
    pub fn commit(self) {
        let len = self.len;
        self.commit_len(len);
    }

    /// Commits the first `used` bytes as one record (the codec reserves an
    /// upper bound and may write less).
    ///
    /// # Panics
    ///
    /// If `used` is larger than the reserved length.
    pub fn commit_len(self, used: usize) {
        assert!(
            used <= self.len,
            "commit_len({used}) exceeds the reserved {} bytes",
            self.len
        );
        let p = self.producer;
        let cap = p.region.capacity() as u64;
        if self.start != p.write_pos {
            let index = (p.write_pos & (cap - 1)) as usize;
            let pad = (self.start - p.write_pos) as usize - RECORD_HEADER;
            // SAFETY: write_pos is 8-aligned and before the end of the data
            // area (start != write_pos means the lap ends at least 8 bytes
            // later), and try_reserve checked this space is free.
            unsafe { p.write_header(index, pad as u32, KIND_PAD) };
        }
        let index = (self.start & (cap - 1)) as usize;
        // SAFETY: try_reserve checked that footprint(len) >= footprint(used)
        // bytes at `start` are free and before the end of the data area.
        unsafe { p.write_header(index, used as u32, KIND_DATA) };
        p.write_pos = self.start + footprint(used) as u64;
        p.pending += 1;
        if p.pending >= p.batch {
            p.publish();
        }
    }

    /// The reserved length in bytes.
    pub fn capacity(&self) -> usize {
        self.len
    }

    fn payload_ptr(&self) -> *mut u8 {
        let cap = self.producer.region.capacity() as u64;
        let index = (self.start & (cap - 1)) as usize + RECORD_HEADER;
        // SAFETY: try_reserve placed the whole record before the end of the
        // data area, so index <= capacity.
        unsafe { self.producer.region.data_at(index) }
    }
}

impl Deref for WriteSlot<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: the `len` bytes after the record header are inside the data
        // area, reserved for this slot (the consumer does not read past the
        // published tail) and borrowed from `&self`.
        unsafe { std::slice::from_raw_parts(self.payload_ptr(), self.len) }
    }
}

impl DerefMut for WriteSlot<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`; `&mut self` makes the borrow unique, and the
        // slot holds `&mut Producer`, so no other slot aliases these bytes.
        unsafe { std::slice::from_raw_parts_mut(self.payload_ptr(), self.len) }
    }
}

impl fmt::Debug for WriteSlot<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteSlot")
            .field("start", &self.start)
            .field("len", &self.len)
            .finish()
    }
}
