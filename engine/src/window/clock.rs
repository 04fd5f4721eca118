//! [`WindowClock`]: where a windowed bolt reads the time; [`SystemClock`]
//! and, for tests, [`ManualClock`].

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::manager::ms;

/// Where a windowed bolt reads the time (milliseconds since an epoch).
/// Only processing-time windows and the watermark interval read it.
pub trait WindowClock: Send + Sync + fmt::Debug + 'static {
    /// The current time in milliseconds. Must not go backwards (a reading
    /// below an earlier one is taken as the earlier one).
    fn now_ms(&self) -> i64;
}

/// The system clock: milliseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl WindowClock for SystemClock {
    fn now_ms(&self) -> i64 {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        ms(since)
    }
}

/// A clock that moves only when told (for exact tests of processing-time
/// windows); clones share the time.
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock reading `ms`.
    pub fn new(ms: i64) -> Self {
        Self(Arc::new(AtomicI64::new(ms)))
    }

    /// Sets the time.
    pub fn set(&self, ms: i64) {
        // SYNC: pairs with the Acquire load in `now_ms` on the worker.
        self.0.store(ms, Ordering::Release);
    }

    /// Moves the time forward by `by`.
    pub fn advance(&self, by: Duration) {
        // SYNC: pairs with the Acquire load in `now_ms`.
        self.0.fetch_add(ms(by), Ordering::AcqRel);
    }
}

impl WindowClock for ManualClock {
    fn now_ms(&self) -> i64 {
        // SYNC: pairs with the Release store in `set`/`advance`.
        self.0.load(Ordering::Acquire)
    }
}
