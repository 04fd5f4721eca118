//! The memory a ring lives in, shared by its producer and consumer through an
//! `Arc`.
//!
//! Normally the control block and the data area live in one mapping (anonymous
//! or file-backed). Under `cfg(loom)` the control block holds loom atomics,
//! which cannot be placed in raw memory, so it is boxed instead, and a shadow
//! array of `loom::cell::UnsafeCell` (one per 8-byte word of the data area)
//! lets loom check that every payload write happens-before the matching read
//! and vice versa. Apart from `Control::zeroed` (loom atomics must be
//! constructed) and file-backed rings being left out under loom (`shm.rs`),
//! this file is the only place that differs.

use std::ptr::NonNull;

use memmap2::MmapMut;

use super::error::{RingError, Role};
#[cfg(not(loom))]
use super::layout::DATA_OFFSET;
use super::layout::{Control, Geometry};

/// A mapped ring: control block plus `capacity` bytes of data.
pub(crate) struct Region {
    /// Keeps the memory mapped; only accessed through the pointers below.
    _map: MmapMut,
    #[cfg(not(loom))]
    control: NonNull<Control>,
    #[cfg(loom)]
    control: Box<Control>,
    data: NonNull<u8>,
    capacity: usize,
    max_record: usize,
    /// Rung by the producer after each publication, once a consumer in
    /// this process installed one (the link's I/O thread).
    pub(crate) doorbell: std::sync::OnceLock<std::sync::Arc<super::doorbell::Doorbell>>,
    #[cfg(loom)]
    shadow: Box<[loom::cell::UnsafeCell<()>]>,
}

// SAFETY: the control block is only accessed through atomics, and the data
// area is partitioned between the one producer and the one consumer by the
// head/tail protocol (Release/Acquire), so sharing the region between the two
// threads that own them is sound. The raw pointers point into `_map`, which
// lives as long as the region.
unsafe impl Send for Region {}
// SAFETY: see `Send` above; `&Region` gives no unsynchronised access.
unsafe impl Sync for Region {}

impl Region {
    /// Maps a fresh anonymous ring, initialises its header and attaches both
    /// roles. `capacity` and `max_record` must already be validated.
    #[cfg(not(loom))]
    pub(crate) fn anonymous(capacity: usize, max_record: usize) -> Result<Self, RingError> {
        let len = DATA_OFFSET + capacity;
        let map = MmapMut::map_anon(len).map_err(|source| RingError::Map { len, source })?;
        // SAFETY: the anonymous mapping is private to this ring and zero-filled,
        // and zeroes are a valid `Control`.
        let region = unsafe { Self::from_map(map, |c| c.init(capacity, max_record)) }?;
        region.attach_both()
    }

    /// Loom variant: the control block lives on the heap, the mapping holds
    /// only the data area.
    #[cfg(loom)]
    pub(crate) fn anonymous(capacity: usize, max_record: usize) -> Result<Self, RingError> {
        let mut map = MmapMut::map_anon(capacity).map_err(|source| RingError::Map {
            len: capacity,
            source,
        })?;
        let control = Box::new(Control::zeroed());
        control.init(capacity, max_record);
        let geometry = control.validate(map.len() as u64)?;
        let data = map.as_mut_ptr();
        Self::assemble(map, control, data, geometry).attach_both()
    }

    fn attach_both(self) -> Result<Self, RingError> {
        self.control().attach(Role::Producer)?;
        self.control().attach(Role::Consumer)?;
        Ok(self)
    }

    /// Wraps a mapping that starts with a control block, after running
    /// `prepare` on it (initialisation for a new ring, nothing for an opened
    /// one) and validating the header against the mapping's length.
    ///
    /// # Safety
    ///
    /// The first `DATA_OFFSET` bytes of `map` must be only ever accessed as a
    /// `Control` (atomically) by every process that maps them. Any bit pattern
    /// is fine: every field is an atomic integer.
    #[cfg(not(loom))]
    pub(crate) unsafe fn from_map(
        mut map: MmapMut,
        prepare: impl FnOnce(&Control),
    ) -> Result<Self, RingError> {
        if map.len() < DATA_OFFSET {
            return Err(RingError::Truncated {
                len: map.len() as u64,
                min: DATA_OFFSET as u64,
            });
        }
        let base = map.as_mut_ptr();
        assert!(
            base as usize % std::mem::align_of::<Control>() == 0,
            "mappings are page aligned"
        );
        let control = NonNull::new(base.cast::<Control>()).expect("mmap never returns null");
        // SAFETY: the mapping is at least DATA_OFFSET = size_of::<Control>()
        // bytes, aligned (checked above), holds a valid Control (caller), and
        // the reference does not outlive this call.
        let c = unsafe { control.as_ref() };
        prepare(c);
        let geometry = c.validate((map.len() - DATA_OFFSET) as u64)?;
        // SAFETY: DATA_OFFSET <= map.len() was checked above.
        let data = unsafe { base.add(DATA_OFFSET) };
        Ok(Self::assemble(map, control, data, geometry))
    }

    fn assemble(
        map: MmapMut,
        #[cfg(not(loom))] control: NonNull<Control>,
        #[cfg(loom)] control: Box<Control>,
        data: *mut u8,
        g: Geometry,
    ) -> Self {
        let data = NonNull::new(data).expect("mapping pointers are non-null");
        assert!(
            data.as_ptr() as usize % 64 == 0,
            "data area must be 64-byte aligned"
        );
        Region {
            _map: map,
            control,
            data,
            capacity: g.capacity,
            max_record: g.max_record,
            doorbell: std::sync::OnceLock::new(),
            #[cfg(loom)]
            shadow: (0..g.capacity / 8)
                .map(|_| loom::cell::UnsafeCell::new(()))
                .collect(),
        }
    }

    /// The control block (header, head, tail).
    #[cfg(not(loom))]
    #[inline]
    pub(crate) fn control(&self) -> &Control {
        // SAFETY: `control` points into `_map`, which lives as long as `self`,
        // and is only accessed through shared references to atomics.
        unsafe { self.control.as_ref() }
    }

    /// The control block (header, head, tail).
    #[cfg(loom)]
    #[inline]
    pub(crate) fn control(&self) -> &Control {
        &self.control
    }

    /// Size of the data area in bytes (a power of two).
    #[inline]
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Largest payload of one record.
    #[inline]
    pub(crate) fn max_record(&self) -> usize {
        self.max_record
    }

    /// Pointer to byte `index` of the data area. Only ever derived, never
    /// dereferenced here.
    ///
    /// # Safety
    ///
    /// `index <= capacity`.
    #[inline]
    pub(crate) unsafe fn data_at(&self, index: usize) -> *mut u8 {
        debug_assert!(index <= self.capacity);
        // SAFETY: the data area is `capacity` bytes long and index <= capacity
        // (caller), so the result is in bounds or one past the end.
        unsafe { self.data.as_ptr().add(index) }
    }

    /// Tells loom that the producer writes `len` bytes at `index`.
    #[inline]
    #[cfg_attr(not(loom), allow(unused_variables))]
    pub(crate) fn track_write(&self, index: usize, len: usize) {
        #[cfg(loom)]
        for cell in &self.shadow[index / 8..(index + len).div_ceil(8)] {
            cell.with_mut(|_| ());
        }
    }

    /// Tells loom that the consumer reads `len` bytes at `index`.
    #[inline]
    #[cfg_attr(not(loom), allow(unused_variables))]
    pub(crate) fn track_read(&self, index: usize, len: usize) {
        #[cfg(loom)]
        for cell in &self.shadow[index / 8..(index + len).div_ceil(8)] {
            cell.with(|_| ());
        }
    }
}
