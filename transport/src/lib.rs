//! gale-transport: how Gale moves bytes between threads and processes.
//!
//! The heart is [`ring()`]: a single-producer single-consumer ring of
//! variable-length byte records over a memory mapping, written and read in
//! place. The same ring works between threads (anonymous mapping) and between
//! processes (a file under `/dev/shm`, see [`Producer::create_shm`] and
//! [`Consumer::open_shm`]). [`Waiter`] turns the ring's non-blocking calls into
//! a polite poll loop.
//!
//! Every payload starts 8-byte aligned, so rkyv archives can be read in place.
//!
//! [`link`] carries ring records between nodes: one I/O thread per node,
//! TCP over io_uring (or mio/epoll where io_uring is unavailable), or
//! `/dev/shm` rings for peers on the same host.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs)]

#[cfg(not(loom))]
pub mod link;
mod ring;
mod sync;
mod wait;

pub use ring::{
    ring, ConfigError, Consumer, Doorbell, Producer, ReadBatch, Records, ReserveError, RingConfig,
    RingError, Role, WriteSlot, DATA_OFFSET, LAYOUT_VERSION, MAGIC, MAX_CAPACITY, MIN_CAPACITY,
    RECORD_ALIGN, RECORD_HEADER,
};
pub use wait::{WaitAction, WaitStrategy, Waiter};
