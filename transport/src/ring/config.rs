//! Ring configuration and its validation.

use super::error::ConfigError;
use super::layout::{max_record_limit, validate_geometry};

/// Size and behaviour of a ring.
///
/// ```
/// use gale_transport::RingConfig;
/// let cfg = RingConfig::new(1 << 16).with_max_record(4096).with_batch(8);
/// cfg.validate().unwrap();
/// assert!(RingConfig::new(1000).validate().is_err()); // not a power of two
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingConfig {
    /// Size of the data area in bytes: a power of two in
    /// [`MIN_CAPACITY`](crate::MIN_CAPACITY)`..=`[`MAX_CAPACITY`](crate::MAX_CAPACITY).
    pub capacity: usize,
    /// Largest payload a record may have, at most `capacity / 2 - 8`.
    pub max_record: usize,
    /// The producer publishes its commits every `batch` records (or on
    /// [`Producer::flush`](crate::Producer::flush)). At least 1.
    pub batch: usize,
}

impl Default for RingConfig {
    /// 1 MiB data area, 64 KiB maximum record, batches of 16.
    fn default() -> Self {
        RingConfig {
            capacity: 1 << 20,
            max_record: 1 << 16,
            batch: 16,
        }
    }
}

impl RingConfig {
    /// A configuration with the given capacity, the largest allowed
    /// `max_record` up to the default 64 KiB, and the default batch.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        let max_record = max_record_limit(capacity as u64).min(1 << 16) as usize;
        RingConfig {
            capacity,
            max_record,
            ..RingConfig::default()
        }
    }

    /// Sets the maximum payload size of one record.
    #[must_use]
    pub fn with_max_record(mut self, max_record: usize) -> Self {
        self.max_record = max_record;
        self
    }

    /// Sets how many commits the producer accumulates before publishing.
    #[must_use]
    pub fn with_batch(mut self, batch: usize) -> Self {
        self.batch = batch;
        self
    }

    /// Checks that the configuration describes a valid ring.
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate_geometry(self.capacity as u64, self.max_record as u64)?;
        if self.batch == 0 {
            return Err(ConfigError::ZeroBatch);
        }
        Ok(())
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid() {
        RingConfig::default().validate().unwrap();
        RingConfig::new(64).validate().unwrap();
        assert_eq!(RingConfig::new(64).max_record, 24);
    }

    #[test]
    fn rejects_bad_configs() {
        assert_eq!(
            RingConfig::new(96).validate(),
            Err(ConfigError::CapacityNotPowerOfTwo { capacity: 96 })
        );
        assert!(matches!(
            RingConfig::new(32).validate(),
            Err(ConfigError::CapacityOutOfRange { capacity: 32, .. })
        ));
        assert_eq!(
            RingConfig::new(128).with_max_record(57).validate(),
            Err(ConfigError::MaxRecordTooLarge {
                max_record: 57,
                limit: 56
            })
        );
        assert_eq!(
            RingConfig::new(128).with_batch(0).validate(),
            Err(ConfigError::ZeroBatch)
        );
    }
}
