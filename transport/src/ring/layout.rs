//! The ring's memory layout: control block (header, `head`, `tail`) followed
//! by the data area, and the record format inside the data area.
//!
//! ```text
//! offset 0            CachePadded<Header>   magic, version, geometry, attach flags
//!        +1 pad       CachePadded<head>     consumer's released position (u64)
//!        +2 pads      CachePadded<tail>     producer's published position (u64)
//! DATA_OFFSET         data area             `capacity` bytes, 128-aligned
//! ```
//!
//! Positions are monotonically increasing byte counts (`u64`); the index in
//! the data area is `pos & (capacity - 1)`. At 10 GB/s a `u64` position wraps
//! after ~58 years, so wrapping is not handled.
//!
//! A record is an 8-byte header (`u32` payload length, `u32` kind) followed by
//! the payload padded to a multiple of 8 bytes, so every header and payload is
//! 8-byte aligned. A record never straddles the end of the data area: when it
//! does not fit, the producer writes a [`KIND_PAD`] header that covers the rest
//! of the area and the record starts again at index 0.

use crossbeam_utils::CachePadded;

use super::error::{ConfigError, RingError, Role};
use crate::sync::{AtomicU32, AtomicU64, Ordering};

/// First eight bytes of a ring (`"GALERING"` as a little-endian `u64`).
pub const MAGIC: u64 = u64::from_le_bytes(*b"GALERING");
/// Version of this layout; bumped on any incompatible change.
pub const LAYOUT_VERSION: u32 = 1;
/// Smallest data area in bytes.
pub const MIN_CAPACITY: u64 = 64;
/// Largest data area in bytes (1 TiB).
pub const MAX_CAPACITY: u64 = 1 << 40;
/// Size of a record header in bytes.
pub const RECORD_HEADER: usize = 8;
/// Alignment of every record header and payload in the data area.
pub const RECORD_ALIGN: usize = 8;

/// Record kind: a payload the consumer yields.
pub(crate) const KIND_DATA: u32 = 1;
/// Record kind: filler up to the end of the data area, skipped by the consumer.
pub(crate) const KIND_PAD: u32 = 2;

/// Offset of the data area from the start of a ring file: the size of the
/// control block (header, `head` and `tail`, each on its own cache line pair).
pub const DATA_OFFSET: usize = std::mem::size_of::<Control>();

const _: () = assert!(
    DATA_OFFSET % 64 == 0,
    "data area must be cache-line aligned"
);
const _: () = assert!(
    std::mem::align_of::<Control>() <= 4096,
    "mmap is page aligned"
);

/// Largest `max_record` allowed for `capacity`: half the ring minus a record
/// header, so one maximal record plus the worst-case wrap padding always fits
/// in an empty ring; and the length must fit the `u32` header field.
pub(crate) fn max_record_limit(capacity: u64) -> u64 {
    (capacity / 2)
        .saturating_sub(RECORD_HEADER as u64)
        .min(u64::from(u32::MAX) & !7)
}

/// Checks capacity and maximum record size (shared by config validation and
/// by header validation of ring files).
pub(crate) fn validate_geometry(capacity: u64, max_record: u64) -> Result<(), ConfigError> {
    if !(MIN_CAPACITY..=MAX_CAPACITY).contains(&capacity) {
        return Err(ConfigError::CapacityOutOfRange {
            capacity,
            min: MIN_CAPACITY,
            max: MAX_CAPACITY,
        });
    }
    if !capacity.is_power_of_two() {
        return Err(ConfigError::CapacityNotPowerOfTwo { capacity });
    }
    let limit = max_record_limit(capacity);
    if max_record > limit {
        return Err(ConfigError::MaxRecordTooLarge { max_record, limit });
    }
    Ok(())
}

/// Bytes a record with a `len`-byte payload occupies in the data area.
#[inline]
pub(crate) fn footprint(len: usize) -> usize {
    RECORD_HEADER + len.next_multiple_of(RECORD_ALIGN)
}

/// The ring header. Every field is atomic so that reading a header that
/// another (possibly misbehaving) process writes concurrently is never a data
/// race; the geometry fields are written once before the ring is shared.
#[repr(C)]
pub(crate) struct Header {
    magic: AtomicU64,
    version: AtomicU32,
    _reserved: AtomicU32,
    data_offset: AtomicU64,
    capacity: AtomicU64,
    max_record: AtomicU64,
    producer_attached: AtomicU32,
    consumer_attached: AtomicU32,
}

/// The control block at the start of every ring.
#[repr(C)]
pub(crate) struct Control {
    header: CachePadded<Header>,
    /// Consumer's released position: bytes before it may be overwritten.
    pub(crate) head: CachePadded<AtomicU64>,
    /// Producer's published position: bytes before it hold complete records.
    pub(crate) tail: CachePadded<AtomicU64>,
}

/// Capacity and maximum record size read from a validated header.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Geometry {
    pub(crate) capacity: usize,
    pub(crate) max_record: usize,
}

impl Control {
    /// A zeroed control block, as found in freshly mapped memory.
    #[cfg(loom)]
    pub(crate) fn zeroed() -> Self {
        Control {
            header: CachePadded::new(Header {
                magic: AtomicU64::new(0),
                version: AtomicU32::new(0),
                _reserved: AtomicU32::new(0),
                data_offset: AtomicU64::new(0),
                capacity: AtomicU64::new(0),
                max_record: AtomicU64::new(0),
                producer_attached: AtomicU32::new(0),
                consumer_attached: AtomicU32::new(0),
            }),
            head: CachePadded::new(AtomicU64::new(0)),
            tail: CachePadded::new(AtomicU64::new(0)),
        }
    }

    /// Writes a fresh header into a zeroed control block that nobody else
    /// can see yet. The magic is written last.
    pub(crate) fn init(&self, capacity: usize, max_record: usize) {
        let h = &*self.header;
        // SYNC: Relaxed; published by the Release store of `magic` below.
        h.version.store(LAYOUT_VERSION, Ordering::Relaxed);
        h.data_offset.store(DATA_OFFSET as u64, Ordering::Relaxed);
        h.capacity.store(capacity as u64, Ordering::Relaxed);
        h.max_record.store(max_record as u64, Ordering::Relaxed);
        self.head.store(0, Ordering::Relaxed);
        self.tail.store(0, Ordering::Relaxed);
        // SYNC: pairs with the Acquire load of `magic` in `validate`.
        h.magic.store(MAGIC, Ordering::Release);
    }

    /// Checks the header against this build and against `data_len`, the
    /// number of bytes actually mapped for the data area.
    pub(crate) fn validate(&self, data_len: u64) -> Result<Geometry, RingError> {
        let h = &*self.header;
        // SYNC: pairs with the Release store of `magic` in `init`.
        let magic = h.magic.load(Ordering::Acquire);
        if magic != MAGIC {
            return Err(RingError::BadMagic { found: magic });
        }
        // SYNC: Relaxed loads below are ordered by the Acquire load of magic.
        let version = h.version.load(Ordering::Relaxed);
        if version != LAYOUT_VERSION {
            return Err(RingError::VersionMismatch {
                found: version,
                expected: LAYOUT_VERSION,
            });
        }
        if h.data_offset.load(Ordering::Relaxed) != DATA_OFFSET as u64 {
            return Err(RingError::CorruptHeader {
                reason: "data offset differs from this build's layout",
            });
        }
        let capacity = h.capacity.load(Ordering::Relaxed);
        let max_record = h.max_record.load(Ordering::Relaxed);
        if validate_geometry(capacity, max_record).is_err() {
            return Err(RingError::CorruptHeader {
                reason: "capacity is not a power of two in range, or max record too large",
            });
        }
        if capacity != data_len {
            return Err(RingError::CorruptHeader {
                reason: "file length does not match the capacity in the header",
            });
        }
        let capacity = usize::try_from(capacity).map_err(|_| RingError::CorruptHeader {
            reason: "capacity does not fit this platform's address space",
        })?;
        Ok(Geometry {
            capacity,
            max_record: max_record as usize,
        })
    }

    fn flag(&self, role: Role) -> &AtomicU32 {
        match role {
            Role::Producer => &self.header.producer_attached,
            Role::Consumer => &self.header.consumer_attached,
        }
    }

    /// Marks `role` as attached; fails if a handle of that role already is.
    pub(crate) fn attach(&self, role: Role) -> Result<(), RingError> {
        // SYNC: Acquire pairs with the Release store in `detach` of the
        // previous holder of this role, so its last index updates are seen.
        self.flag(role)
            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .map(drop)
            .map_err(|_| RingError::AlreadyAttached { role })
    }

    /// Clears `role`'s attach flag.
    pub(crate) fn detach(&self, role: Role) {
        // SYNC: pairs with the Acquire CAS in `attach` of the next holder.
        self.flag(role).store(0, Ordering::Release);
    }

    /// Reads `head` and `tail` of a ring being opened and checks that they
    /// describe at most `capacity` bytes of 8-aligned records.
    #[cfg(not(loom))]
    pub(crate) fn positions(&self, capacity: usize) -> Result<(u64, u64), RingError> {
        // SYNC: pairs with the Release stores of head (ReadBatch::drop) and
        // tail (Producer::publish) of a previous holder of either role.
        let head = self.head.load(Ordering::Acquire);
        let tail = self.tail.load(Ordering::Acquire);
        let used = tail.wrapping_sub(head);
        if tail < head || used > capacity as u64 || head % 8 != 0 || tail % 8 != 0 {
            return Err(RingError::CorruptHeader {
                reason: "head and tail positions are inconsistent",
            });
        }
        Ok((head, tail))
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn footprints_are_aligned() {
        assert_eq!(footprint(0), 8);
        assert_eq!(footprint(1), 16);
        assert_eq!(footprint(8), 16);
        assert_eq!(footprint(9), 24);
        for len in 0..100 {
            assert_eq!(footprint(len) % RECORD_ALIGN, 0);
        }
    }

    #[test]
    fn limits() {
        assert_eq!(max_record_limit(64), 24);
        assert_eq!(max_record_limit(1 << 40), u64::from(u32::MAX) & !7);
        // A maximal record plus worst-case padding fits in an empty ring.
        for cap in [64u64, 128, 4096] {
            let f = footprint(max_record_limit(cap) as usize) as u64;
            assert!(f - 8 + f <= cap);
        }
    }
}
