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
mod layout;
mod producer;
mod region;
#[cfg(not(loom))]
mod shm;

#[cfg(all(test, loom))]
mod loom_tests;
#[cfg(all(test, not(loom)))]
mod tests;

use std::sync::Arc;

pub use config::RingConfig;
pub use consumer::{Consumer, ReadBatch, Records};
pub(crate) use doorbell::Doorbell;
pub use error::{ConfigError, ReserveError, RingError, Role};
pub use layout::{
    DATA_OFFSET, LAYOUT_VERSION, MAGIC, MAX_CAPACITY, MIN_CAPACITY, RECORD_ALIGN, RECORD_HEADER,
};
pub use producer::{Producer, WriteSlot};

use region::Region;

/// Creates an in-process ring in anonymous shared memory and returns its two
/// ends, which can be sent to two threads.
///
/// ```
/// use gale_transport::{ring, RingConfig, ReserveError};
///
/// let (mut tx, mut rx) = ring(RingConfig::new(4096).with_batch(2))?;
///
/// // Zero-copy write: reserve an upper bound, write, commit what was used.
/// let mut slot = tx.try_reserve(16).expect("empty ring has room");
/// slot[..5].copy_from_slice(b"hello");
/// slot.commit_len(5);
/// assert!(rx.read().is_empty()); // not published yet: batch is 2
///
/// tx.try_push(b"world").unwrap(); // second commit publishes the batch
/// assert_eq!(tx.try_reserve(1 << 20).unwrap_err(),
///            ReserveError::TooLarge { len: 1 << 20, max: tx.max_record() });
///
/// let mut batch = rx.read();
/// let got: Vec<&[u8]> = batch.records().collect();
/// assert_eq!(got, [&b"hello"[..], &b"world"[..]]);
/// assert!(got.iter().all(|r| r.as_ptr() as usize % 8 == 0));
/// drop(batch); // releases the space to the producer
/// # Ok::<(), gale_transport::RingError>(())
/// ```
pub fn ring(config: RingConfig) -> Result<(Producer, Consumer), RingError> {
    config.validate()?;
    let region = Arc::new(Region::anonymous(config.capacity, config.max_record)?);
    Ok((
        Producer::new(Arc::clone(&region), 0, 0, config.batch),
        Consumer::new(region, 0, 0),
    ))
}
