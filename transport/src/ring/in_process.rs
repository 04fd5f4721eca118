//! [`ring`]: an in-process ring's two ends.

use std::sync::Arc;

use super::config::RingConfig;
use super::consumer::Consumer;
use super::error::RingError;
use super::producer::Producer;
use super::region::Region;

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
