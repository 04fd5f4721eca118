//! Single-producer single-consumer rings of variable-length byte records in
//! shared memory.
//!
//! See [`ring`](crate::ring()) for the in-process constructor and
//! [`Producer::create_shm`] / [`Consumer::open_shm`] for rings shared between
//! processes through a file. The memory layout is described in `layout.rs`.

mod config;
mod consumer;
// Under loom only its model check uses it (the link is not built).
#[cfg_attr(loom, allow(dead_code))]
mod doorbell;
mod error;
mod in_process;
mod layout;
mod producer;
mod region;
#[cfg(not(loom))]
mod shm;

#[cfg(all(test, loom))]
mod loom_tests;
#[cfg(all(test, not(loom)))]
mod tests;

pub use config::RingConfig;
pub use consumer::{Consumer, ReadBatch, Records};
pub use doorbell::Doorbell;
pub use error::{ConfigError, ReserveError, RingError, Role};
pub use in_process::ring;
pub use layout::{
    DATA_OFFSET, LAYOUT_VERSION, MAGIC, MAX_CAPACITY, MIN_CAPACITY, RECORD_ALIGN, RECORD_HEADER,
};
pub use producer::{Producer, WriteSlot};
