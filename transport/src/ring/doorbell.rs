//! A doorbell: lets a consumer thread sleep in the kernel (on an eventfd)
//! while its rings are empty, and be woken by the first producer that
//! publishes into one of them. The link's I/O thread sleeps on one in its
//! event loop (epoll or io_uring); a worker thread with nothing to do
//! sleeps on its own with [`sleep`](Doorbell::sleep), so that a tuple
//! published into one of its rings wakes it at once rather than at the
//! end of its park.
//!
//! Producers pay for it only while the consumer sleeps: the consumer
//! [`arm`](Doorbell::arm)s the bell before it sleeps, and the first
//! publication after that disarms it and writes the eventfd once. While the
//! consumer is awake (the bell is not armed), a publication costs a fence
//! and one load of a flag that stays in the producer's cache.
//!
//! No wake-up is lost: the consumer stores `armed` then re-reads the rings'
//! tails; the producer stores a tail then reads `armed`; a SeqCst fence on
//! each side between the store and the load means at least one of them sees
//! the other's store (either the consumer sees the new record and does not
//! sleep, or the producer sees the armed bell and rings it).

use std::io;
#[cfg(not(loom))]
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

#[cfg(loom)]
use loom::sync::atomic::{fence, AtomicBool, AtomicU64, Ordering};
#[cfg(not(loom))]
use std::sync::atomic::{fence, AtomicBool, AtomicU64, Ordering};

/// An eventfd and the flag that says whether its consumer sleeps on it.
#[derive(Debug)]
pub struct Doorbell {
    armed: AtomicBool,
    /// Times a producer rang (wrote the eventfd).
    rung: AtomicU64,
    /// Under loom there is no eventfd: `rung` is the signal the model
    /// checks (the eventfd write is a system call, outside the memory
    /// model, that happens exactly when `rung` is bumped).
    #[cfg(not(loom))]
    fd: OwnedFd,
}

impl Doorbell {
    /// A new, disarmed doorbell. The eventfd is blocking: io_uring reads it
    /// with an operation that completes when it is written, and epoll users
    /// read it only after it was reported readable.
    #[cfg(not(loom))]
    pub fn new() -> io::Result<Doorbell> {
        // SAFETY: eventfd takes no pointers; a non-negative result is a new
        // descriptor that nothing else owns.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Doorbell {
            armed: AtomicBool::new(false),
            rung: AtomicU64::new(0),
            // SAFETY: `fd` was just returned by eventfd and is owned here only.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// A new, disarmed doorbell (loom model: no eventfd).
    #[cfg(loom)]
    pub fn new() -> io::Result<Doorbell> {
        Ok(Doorbell {
            armed: AtomicBool::new(false),
            rung: AtomicU64::new(0),
        })
    }

    /// The consumer is about to sleep: the next publication rings. The
    /// caller must look at its rings again after this (and not sleep if one
    /// has records).
    pub fn arm(&self) {
        // SYNC: SeqCst store + fence pair with the fence in `published`
        // (see the module comment): the caller's following tail loads
        // cannot be ordered before this store.
        self.armed.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
    }

    /// The consumer is awake again; producers need not ring.
    pub fn disarm(&self) {
        // SYNC: Relaxed: a producer that still sees `true` only rings once
        // more than needed (a spurious wake-up).
        self.armed.store(false, Ordering::Relaxed);
    }

    /// Called by a producer after it published records (stored the tail).
    #[inline]
    pub fn published(&self) {
        // SYNC: pairs with the fence in `arm`: the tail store before this
        // fence and the consumer's `armed` store cannot both be missed.
        fence(Ordering::SeqCst);
        // SYNC: Relaxed load, then swap (SeqCst) so only one producer rings.
        if self.armed.load(Ordering::Relaxed) && self.armed.swap(false, Ordering::SeqCst) {
            self.ring();
        }
    }

    fn ring(&self) {
        // SYNC: Relaxed: a statistic.
        self.rung.fetch_add(1, Ordering::Relaxed);
        #[cfg(not(loom))]
        self.write_eventfd();
    }

    #[cfg(not(loom))]
    fn write_eventfd(&self) {
        let one = 1u64.to_ne_bytes();
        // SAFETY: writes 8 bytes from a live stack buffer to our eventfd.
        // It can only fail if the counter would overflow (2^64 - 2 unread
        // writes), in which case the consumer is woken anyway.
        let _ = unsafe { libc::write(self.fd.as_raw_fd(), one.as_ptr().cast(), one.len()) };
    }

    /// Times a producer woke the consumer.
    pub fn rung(&self) -> u64 {
        // SYNC: Relaxed: a statistic.
        self.rung.load(Ordering::Relaxed)
    }

    /// Sleeps until a producer rings or `timeout` passes, whichever comes
    /// first, and resets the eventfd if it was written. Call it after
    /// [`arm`](Self::arm) and after finding every ring empty; then
    /// [`disarm`](Self::disarm). A signal that interrupts the sleep ends it
    /// early, like a spurious wake-up.
    #[cfg(not(loom))]
    pub fn sleep(&self, timeout: std::time::Duration) {
        let mut fd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ts = libc::timespec {
            tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
            tv_nsec: libc::c_long::from(timeout.subsec_nanos()),
        };
        // SAFETY: one live pollfd, a live timespec, no signal mask (null):
        // ppoll reads the timespec and writes only `revents`.
        let ready = unsafe { libc::ppoll(&mut fd, 1, &ts, std::ptr::null()) };
        if ready > 0 && fd.revents & libc::POLLIN != 0 {
            // Readable: the read does not block.
            self.drain();
        }
    }

    /// Reads (and so resets) the eventfd; only call it when it is readable
    /// (epoll reported it), as the read blocks otherwise.
    #[cfg(not(loom))]
    pub fn drain(&self) {
        let mut buf = [0u8; 8];
        // SAFETY: reads at most 8 bytes into a live stack buffer.
        let _ = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    }
}

#[cfg(not(loom))]
impl AsFd for Doorbell {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
