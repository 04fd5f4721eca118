//! The reading side of a ring.

use std::fmt;
use std::sync::Arc;

use super::error::Role;
use super::layout::{footprint, KIND_DATA, KIND_PAD, RECORD_HEADER};
use super::region::Region;
use crate::sync::Ordering;

/// The single reader of a ring.
///
/// [`read`](Self::read) returns a [`ReadBatch`] of the records published so
/// far; iterating it yields each payload in place (8-byte aligned, no copy),
/// and dropping it releases the space of the records it yielded.
pub struct Consumer {
    region: Arc<Region>,
    /// Position after the last released record (equal to `head`).
    read_pos: u64,
    /// Last value of `tail` read from the producer.
    cached_tail: u64,
    /// Set when the ring's contents were found inconsistent (only possible if
    /// another process corrupted a shared ring); the consumer then stops.
    poisoned: bool,
}

// SAFETY: a Consumer is the only handle that reads published records and
// writes `head`; moving it to another thread moves that right with it. The
// shared `Region` is Send + Sync. It is not Sync: reads take `&mut self`.
unsafe impl Send for Consumer {}

impl Consumer {
    /// Wraps a region whose consumer flag this handle has just set.
    pub(crate) fn new(region: Arc<Region>, head: u64, tail: u64) -> Self {
        Consumer {
            region,
            read_pos: head,
            cached_tail: tail,
            poisoned: false,
        }
    }

    /// Has the producer ring `bell` after every publication from now on
    /// (the producer checks for a bell at each publication). A ring takes
    /// one bell; later calls are ignored.
    pub fn set_doorbell(&self, bell: std::sync::Arc<super::Doorbell>) {
        let _ = self.region.doorbell.set(bell);
    }

    /// Size of the data area in bytes.
    pub fn capacity(&self) -> usize {
        self.region.capacity()
    }

    /// Largest payload one record may have.
    pub fn max_record(&self) -> usize {
        self.region.max_record()
    }

    /// All records published so far (possibly none). Never waits.
    pub fn read(&mut self) -> ReadBatch<'_> {
        self.try_read_batch(usize::MAX)
    }

    /// Like [`read`](Self::read), but the batch yields at most `max` records;
    /// the rest stay in the ring for the next read.
    pub fn try_read_batch(&mut self, max: usize) -> ReadBatch<'_> {
        if self.read_pos == self.cached_tail {
            self.refresh_tail();
        }
        ReadBatch {
            pos: self.read_pos,
            end: self.cached_tail,
            remaining: if self.poisoned { 0 } else { max },
            consumer: self,
        }
    }

    /// Passes the next record, if any, to `f` and releases it afterwards.
    pub fn try_pop_with<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let mut batch = self.try_read_batch(1);
        let record = batch.records().next()?;
        Some(f(record))
    }

    /// Whether no published record is waiting (a fresh estimate: the producer
    /// may publish at any moment, and unflushed commits are not counted).
    pub fn is_empty(&self) -> bool {
        self.len_bytes() == 0
    }

    /// Bytes published but not yet released, including record headers and
    /// padding: the ring's occupancy as the consumer sees it.
    pub fn len_bytes(&self) -> usize {
        // SYNC: pairs with the Release store of tail in Producer::publish
        // (only the value is used here, no record bytes are read).
        let tail = self.region.control().tail.load(Ordering::Acquire);
        tail.wrapping_sub(self.read_pos)
            .min(self.region.capacity() as u64) as usize
    }

    /// Whether the consumer found the ring's contents inconsistent and
    /// stopped reading. Only a process that writes the shared file behind the
    /// ring's back can cause this; an in-process ring is never poisoned.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    fn refresh_tail(&mut self) {
        // SYNC: Acquire pairs with the Release store of tail in
        // Producer::publish, so the record bytes before it are visible.
        let tail = self.region.control().tail.load(Ordering::Acquire);
        let ahead = tail.wrapping_sub(self.read_pos);
        if ahead > self.region.capacity() as u64 || tail % 8 != 0 {
            self.poisoned = true;
            return;
        }
        self.cached_tail = tail;
    }

    /// Releases everything before `pos` to the producer.
    fn release_to(&mut self, pos: u64) {
        if pos != self.read_pos {
            self.read_pos = pos;
            // SYNC: Release pairs with the Acquire load of head in
            // Producer::refresh_head: our reads of the released records
            // happen-before the producer overwrites them.
            self.region.control().head.store(pos, Ordering::Release);
        }
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        self.region.control().detach(Role::Consumer);
    }
}

impl fmt::Debug for Consumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("capacity", &self.region.capacity())
            .field("read_pos", &self.read_pos)
            .field("cached_tail", &self.cached_tail)
            .field("poisoned", &self.poisoned)
            .finish()
    }
}

/// Records published to a [`Consumer`], read in place.
///
/// Iterate it with [`records`](Self::records) (or `for r in &mut batch`).
/// Each yielded record counts as consumed; when the batch is dropped (or
/// [`release`](Self::release)d), the space of the consumed records goes back
/// to the producer and unconsumed ones stay for the next read.
#[must_use = "a batch releases nothing unless its records are iterated"]
pub struct ReadBatch<'a> {
    consumer: &'a mut Consumer,
    /// Position of the next record (or pad) to look at.
    pos: u64,
    /// Published tail when the batch was taken.
    end: u64,
    /// How many more records this batch may yield.
    remaining: usize,
}

impl<'a> ReadBatch<'a> {
    /// An iterator over the batch's remaining records.
    pub fn records(&mut self) -> Records<'_, 'a> {
        Records { batch: self }
    }

    /// Whether the batch has no more records to yield.
    pub fn is_empty(&self) -> bool {
        self.remaining == 0 || self.pos == self.end
    }

    /// Bytes (headers and padding included) between the next unread record
    /// and the end of the batch.
    pub fn len_bytes(&self) -> usize {
        (self.end - self.pos) as usize
    }

    /// Releases the consumed records now (same as dropping the batch).
    pub fn release(self) {}

    /// Finds the next record and advances past it; returns the payload's
    /// pointer and length. Stops (and poisons the consumer) on anything that
    /// a correct producer cannot have written, so a corrupted shared ring can
    /// never make us read outside the data area.
    fn next_raw(&mut self) -> Option<(*const u8, usize)> {
        let region = &*self.consumer.region;
        let cap = region.capacity() as u64;
        while self.remaining > 0 && self.pos != self.end {
            let index = (self.pos & (cap - 1)) as usize;
            let to_end = cap - index as u64;
            region.track_read(index, RECORD_HEADER);
            // SAFETY: index is 8-aligned and < capacity, so the 8-byte header
            // is in bounds; it lies before the published tail (pos != end,
            // records are whole), which the Acquire load of tail made visible,
            // and the producer does not touch it until we release it.
            let (len, kind) = unsafe {
                let p = region.data_at(index).cast::<u32>().cast_const();
                (p.read(), p.add(1).read())
            };
            let avail = self.end - self.pos;
            if kind == KIND_PAD && u64::from(len) + RECORD_HEADER as u64 == to_end && to_end < avail
            {
                self.pos += to_end;
                continue;
            }
            let len = len as usize;
            let foot = footprint(len) as u64;
            if kind != KIND_DATA || len > region.max_record() || foot > to_end || foot > avail {
                self.consumer.poisoned = true;
                self.remaining = 0;
                return None;
            }
            region.track_read(index, foot as usize);
            self.pos += foot;
            self.remaining -= 1;
            // SAFETY: index + 8 + len <= index + foot <= capacity (checked).
            let payload = unsafe { region.data_at(index + RECORD_HEADER) };
            return Some((payload.cast_const(), len));
        }
        None
    }
}

impl Drop for ReadBatch<'_> {
    fn drop(&mut self) {
        self.consumer.release_to(self.pos);
    }
}

impl fmt::Debug for ReadBatch<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadBatch")
            .field("pos", &self.pos)
            .field("end", &self.end)
            .field("remaining", &self.remaining)
            .finish()
    }
}

impl<'b, 'a> IntoIterator for &'b mut ReadBatch<'a> {
    type Item = &'b [u8];
    type IntoIter = Records<'b, 'a>;

    fn into_iter(self) -> Records<'b, 'a> {
        self.records()
    }
}

/// Iterator over the records of a [`ReadBatch`]; each item is a payload in
/// place, 8-byte aligned, valid while the batch is borrowed.
pub struct Records<'b, 'a> {
    batch: &'b mut ReadBatch<'a>,
}

impl<'b> Iterator for Records<'b, '_> {
    type Item = &'b [u8];

    fn next(&mut self) -> Option<&'b [u8]> {
        let (ptr, len) = self.batch.next_raw()?;
        // SAFETY: the payload is inside the data area and published (see
        // next_raw). Its space is released only when the batch is dropped,
        // which cannot happen while the `'b` borrow of the batch lives, so the
        // producer does not write these bytes during `'b`.
        Some(unsafe { std::slice::from_raw_parts(ptr, len) })
    }
}

impl fmt::Debug for Records<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Records").field(&self.batch).finish()
    }
}
