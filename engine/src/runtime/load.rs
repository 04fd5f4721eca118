//! [`LoadMeter`]: how busy a worker thread is, for load-aware shuffles
//! (see `grouping/balance.rs`).
//!
//! A worker's loop runs in passes; a pass that executed, emitted or sent
//! anything is busy, one that found nothing to do is idle, and so is the
//! park that may follow it (a worker whose spouts are held back by a full
//! ring, with no input to execute, finds nothing to do: the thread it
//! sends to is the busier one). The meter adds up the time of each kind, from the pass's
//! one reading of the clock to the next, and every [`WINDOW`] yields the
//! busy share of that window, which the worker publishes for the others
//! and balances its own shuffles by.

use std::time::{Duration, Instant};

/// How often a worker publishes its busy share and rebalances.
pub(crate) const WINDOW: Duration = Duration::from_millis(10);

/// The busy share of one worker thread, window by window.
pub(crate) struct LoadMeter {
    window_start: Instant,
    last_pass: Instant,
    busy: Duration,
}

impl LoadMeter {
    /// A meter whose first window starts at `now`.
    pub(crate) fn new(now: Instant) -> Self {
        Self {
            window_start: now,
            last_pass: now,
            busy: Duration::ZERO,
        }
    }

    /// Called as each pass begins, at `now`: accounts the time since the
    /// last call (the last pass, and the park after it if any) as busy or
    /// not, as the last pass was. Returns the busy share (0 to 1) of the
    /// window that ended, if one did.
    #[inline]
    pub(crate) fn pass(&mut self, now: Instant, last_busy: bool) -> Option<f64> {
        if last_busy {
            self.busy += now.saturating_duration_since(self.last_pass);
        }
        self.last_pass = now;
        let window = now.saturating_duration_since(self.window_start);
        if window < WINDOW {
            return None;
        }
        let share = self.busy.as_secs_f64() / window.as_secs_f64();
        self.window_start = now;
        self.busy = Duration::ZERO;
        Some(share.min(1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_share_is_the_busy_passes_time() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut m = LoadMeter::new(t0);
        // Busy from 0 to 3 ms, idle (or parked) 3 to 6, busy 6 to 10.
        assert_eq!(m.pass(ms(3), true), None);
        assert_eq!(m.pass(ms(6), false), None);
        let share = m.pass(ms(10), true).unwrap();
        assert!((share - 0.7).abs() < 1e-9, "{share}");
        // The next window: idle throughout.
        assert_eq!(m.pass(ms(15), false), None);
        assert_eq!(m.pass(ms(20), false), Some(0.0));
        // Then busy throughout.
        assert_eq!(m.pass(ms(31), true), Some(1.0));
    }
}
