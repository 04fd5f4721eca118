//! [`SpoutPending`]: one spout task's trees in flight, its timeouts and
//! its complete latency.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::table::IdMap;

/// Rotating buckets for timeouts: trees expire between
/// `timeout` and `timeout * BUCKETS / (BUCKETS - 1)` after they start.
pub(crate) const BUCKETS: usize = 3;

/// A spout task's pending trees in rotating buckets (newest first): a tree
/// not completed within the timeout falls off the end and is failed.
/// The spout side decides: whatever comes first, completion or timeout,
/// is the one `ack` or `fail` of the tree; anything later is ignored.
///
/// Emit times are nanoseconds on the emitting worker's clock (see
/// `Emitter::now_ns`): one subtraction gives a tree's complete latency.
pub(crate) struct SpoutPending {
    /// Root id to (message id, emit time in ns).
    buckets: VecDeque<IdMap<(u64, u64)>>,
    len: usize,
    rotate_every: Duration,
    next_rotation: Instant,
    /// Completions decided without an acker (acking off, or no
    /// subscribers), delivered after `next_tuple` returns: (msg id, acked).
    pub(crate) immediate: Vec<(u64, bool)>,
    /// Spout emit to completion, in nanoseconds.
    pub(crate) latency: Histogram<u64>,
}

impl SpoutPending {
    pub(crate) fn new(timeout: Duration, now: Instant) -> Self {
        let rotate_every = (timeout / (BUCKETS as u32 - 1)).max(Duration::from_millis(1));
        Self {
            buckets: (0..BUCKETS).map(|_| IdMap::default()).collect(),
            len: 0,
            rotate_every,
            next_rotation: now + rotate_every,
            immediate: Vec::new(),
            // 1 ns to 1 hour at 3 significant figures; longer latencies
            // saturate at an hour.
            latency: Histogram::new_with_bounds(1, 3_600_000_000_000, 3)
                .expect("valid histogram bounds"),
        }
    }

    /// Trees in flight.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Adds tree `root` of message `msg_id`, emitted at `now_ns`.
    pub(crate) fn insert(&mut self, root: u64, msg_id: u64, now_ns: u64) {
        if self.buckets[0].insert(root, (msg_id, now_ns)).is_none() {
            self.len += 1;
        }
    }

    /// Removes `root`; its message id and emit time (ns) if it was
    /// pending.
    pub(crate) fn take(&mut self, root: u64) -> Option<(u64, u64)> {
        let found = self.buckets.iter_mut().find_map(|b| b.remove(&root));
        if found.is_some() {
            self.len -= 1;
        }
        found
    }

    /// Restarts `root`'s timeout.
    pub(crate) fn reset(&mut self, root: u64) {
        if let Some(v) = self
            .buckets
            .iter_mut()
            .skip(1)
            .find_map(|b| b.remove(&root))
        {
            self.buckets[0].insert(root, v);
        }
    }

    /// Records a completed tree's latency: emitted at `started_ns`,
    /// completed at `now_ns`.
    #[inline]
    pub(crate) fn record(&mut self, started_ns: u64, now_ns: u64) {
        let ns = now_ns.saturating_sub(started_ns);
        self.latency.saturating_record(ns.max(1));
    }

    /// If a rotation is due, drops the oldest bucket and returns the
    /// message ids that timed out.
    pub(crate) fn expire(&mut self, now: Instant) -> Option<Vec<u64>> {
        if now < self.next_rotation {
            return None;
        }
        self.next_rotation = now + self.rotate_every;
        let expired = self.buckets.pop_back().unwrap_or_default();
        self.buckets.push_front(IdMap::default());
        self.len -= expired.len();
        Some(expired.into_values().map(|(id, _)| id).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_out_after_the_buckets_rotate_through() {
        let t0 = Instant::now();
        let mut p = SpoutPending::new(Duration::from_millis(20), t0);
        p.insert(1, 100, 0);
        p.insert(2, 200, 0);
        assert_eq!(p.len(), 2);
        assert_eq!(p.take(2).map(|v| v.0), Some(200));
        assert_eq!(p.take(2), None, "a root completes once");
        assert_eq!(p.expire(t0), None, "not due yet");
        let step = Duration::from_millis(10);
        assert_eq!(p.expire(t0 + step), Some(vec![]));
        assert_eq!(p.expire(t0 + step * 2), Some(vec![]));
        assert_eq!(p.expire(t0 + step * 3), Some(vec![100]));
        assert_eq!(p.len(), 0);
    }

    #[test]
    fn reset_moves_a_root_to_the_newest_bucket() {
        let t0 = Instant::now();
        let mut p = SpoutPending::new(Duration::from_millis(20), t0);
        p.insert(1, 100, 0);
        let step = Duration::from_millis(10);
        p.expire(t0 + step);
        p.expire(t0 + step * 2);
        p.reset(1);
        assert_eq!(p.expire(t0 + step * 3), Some(vec![]));
        assert_eq!(p.len(), 1);
    }
}
