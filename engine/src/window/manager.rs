//! The window state machine, free of tuples, threads and clocks: entries
//! come in with a timestamp, time (the clock or the watermark) moves on,
//! and the manager says which windows fire and which entries leave every
//! window (so the executor can ack them).
//!
//! Entries are kept in one buffer sorted by timestamp (then arrival). A
//! window is always a prefix of that buffer once the entries before its
//! start are evicted, so firing hands out a slice, never a copy:
//!
//! - **Time trigger** (slide is a duration): windows end at multiples of
//!   the slide. A window ending at `end` fires once `end <= limit`, where
//!   the limit is the clock (processing time; later arrivals have later
//!   timestamps) or the watermark (event time; later arrivals below the
//!   watermark are late and never enter). It holds the entries with
//!   `end - length <= ts < end` (duration length) or the last `length`
//!   entries with `ts < end` (count length).
//! - **Count trigger** (slide is a count): a window fires for every
//!   `slide` entries that are visible (all of them in processing time;
//!   those below the watermark in event time). It ends at its last
//!   entry and holds the last `length` entries (count length) or those
//!   with `ts > end - length` (duration length).
//!
//! A window fires only if it holds something and differs from the window
//! fired before it (Storm skips empty windows; a time trigger over a
//! count length or a quiet stream would otherwise hand the same tuples
//! again and again, and a watermark that jumps far ahead would fire
//! without end). Candidate ends where nothing can change are skipped in
//! one step, so a jump of the watermark costs one step per change, not one
//! per slide.
//!
//! After a window fires, entries that no later window can hold are evicted
//! at once (for a tumbling window: all of it), not at the next firing, so
//! a tuple is acked as soon as it has left every window that holds it.

use std::collections::VecDeque;

use super::length::Length;

/// What the manager needs of an entry.
pub(crate) trait Entry {
    /// The entry's timestamp (ms).
    fn ts(&self) -> i64;
    /// Whether the entry has been in a fired window.
    fn seen(&self) -> bool;
    /// Marks it as having been in a fired window.
    fn set_seen(&mut self);
}

/// One fired window: the first `len` entries of [`Manager::window`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fire {
    /// Entries in the window (a prefix of the buffer).
    pub(crate) len: usize,
    /// Its start (inclusive, time trigger; exclusive, count trigger), for
    /// a duration length.
    pub(crate) start: Option<i64>,
    /// Its end (exclusive for a time trigger; the last entry's timestamp
    /// for a count trigger).
    pub(crate) end: i64,
}

/// The window state of one windowed bolt task.
#[derive(Debug)]
pub(crate) struct Manager<E> {
    length: Length,
    slide: Length,
    event_time: bool,
    /// Held entries, sorted by timestamp then arrival.
    buf: VecDeque<E>,
    /// Entries evicted since the last fire that had been in a window.
    expired: Vec<E>,
    /// How many of `expired` were passed to `ack` already.
    expired_acked: usize,
    /// Entries evicted that were never in any window (a slide longer than
    /// the length, or an empty stretch): acked without being shown.
    dropped: Vec<E>,
    /// Time trigger: the end of the last window considered.
    last_end: Option<i64>,
    /// Count trigger: entries at the front of `buf` already counted
    /// towards a fire.
    covered: usize,
    /// Contents of the last fired window: its first and last entry's
    /// identity (timestamp, position from the start of the stream).
    last_fired: Option<(u64, u64)>,
    /// Position (from the start of the stream) of `buf[0]`.
    first_pos: u64,
}

impl<E: Entry> Manager<E> {
    /// A manager for windows of `length` sliding by `slide`.
    pub(crate) fn new(length: Length, slide: Length, event_time: bool) -> Self {
        Self {
            length,
            slide,
            event_time,
            buf: VecDeque::new(),
            expired: Vec::new(),
            expired_acked: 0,
            dropped: Vec::new(),
            last_end: None,
            covered: 0,
            last_fired: None,
            first_pos: 0,
        }
    }

    /// Entries held.
    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    /// Adds an entry (its timestamp must not be below the watermark in
    /// event time, nor below earlier entries' in processing time; the
    /// executor sees to both).
    pub(crate) fn insert(&mut self, entry: E) {
        let ts = entry.ts();
        if !self.event_time || self.buf.back().is_none_or(|b| b.ts() <= ts) {
            self.buf.push_back(entry);
            return;
        }
        // Out of order (event time): after every entry with ts <= this one.
        let at = self.buf.partition_point(|e| e.ts() <= ts);
        debug_assert!(at >= self.covered, "an entry below the watermark");
        self.buf.insert(at, entry);
    }

    /// The next window to fire now that time has reached `limit` (the
    /// clock or the watermark), if any; the window is then the first
    /// `fire.len` entries of [`window`](Self::window). Call
    /// [`fired`](Self::fired) after handing it to the bolt, then again
    /// until it returns `None`.
    pub(crate) fn next_fire(&mut self, limit: i64) -> Option<Fire> {
        match self.slide {
            Length::Duration(slide) => self.next_time_fire(limit, ms(slide)),
            Length::Count(slide) => self.next_count_fire(limit, slide),
        }
    }

    fn next_time_fire(&mut self, limit: i64, slide: i64) -> Option<Fire> {
        loop {
            let front = self.buf.front()?.ts();
            let mut end = next_multiple(front, slide)?;
            if let Some(last) = self.last_end {
                end = end.max(last.checked_add(slide)?);
            }
            if end > limit {
                return None;
            }
            let cut = self.buf.partition_point(|e| e.ts() < end);
            let (start_ts, start) = match self.length {
                Length::Duration(len) => {
                    let start_ts = end.saturating_sub(ms(len));
                    (
                        Some(start_ts),
                        self.buf.partition_point(|e| e.ts() < start_ts),
                    )
                }
                Length::Count(len) => (None, cut.saturating_sub(len)),
            };
            self.evict(start);
            self.last_end = Some(end);
            let len = cut - start;
            if len > 0 && self.changed(len) {
                return Some(Fire {
                    len,
                    start: start_ts,
                    end,
                });
            }
            // Nothing to fire here: move to the next end where the window
            // changes (an entry enters or, for a duration length, the
            // first one leaves), in one step.
            let mut next = self.buf.get(len).map(|e| next_multiple(e.ts(), slide));
            if let (Length::Duration(l), true) = (self.length, len > 0) {
                let leaves = self.buf[0]
                    .ts()
                    .checked_add(ms(l))
                    .and_then(|t| next_multiple(t, slide));
                next = match next {
                    Some(n) => Some(n.min(leaves)),
                    None => Some(leaves),
                };
            }
            match next {
                Some(Some(n)) if n <= limit => self.last_end = Some(n - slide),
                Some(None) => return None,
                _ => {
                    // No change up to `limit`: windows ending there are
                    // final (later arrivals have later timestamps).
                    let floor = limit.div_euclid(slide).checked_mul(slide)?;
                    self.last_end = Some(floor.max(end));
                    return None;
                }
            }
        }
    }

    fn next_count_fire(&mut self, limit: i64, slide: usize) -> Option<Fire> {
        let visible = if self.event_time {
            self.buf.partition_point(|e| e.ts() < limit)
        } else {
            self.buf.len()
        };
        if visible < self.covered + slide {
            return None;
        }
        let cut = self.covered + slide;
        let end = self.buf[cut - 1].ts();
        let (start_ts, start) = match self.length {
            Length::Count(len) => (None, cut.saturating_sub(len)),
            Length::Duration(len) => {
                let start_ts = end.saturating_sub(ms(len));
                (
                    Some(start_ts),
                    self.buf.partition_point(|e| e.ts() <= start_ts),
                )
            }
        };
        self.evict(start);
        self.covered = cut - start;
        Some(Fire {
            len: cut - start,
            start: start_ts,
            end,
        })
    }

    /// Whether a window of the first `len` entries differs from the last
    /// one fired. Windows only move forward, so the positions of its
    /// first and last entry tell; for a count length the last alone (the
    /// window is the `length` entries up to it, whatever was evicted
    /// early because no later window that fires can hold it).
    fn changed(&self, len: usize) -> bool {
        let now = (self.first_pos, self.first_pos + len as u64 - 1);
        match (self.last_fired, self.length) {
            (None, _) => true,
            (Some(last), Length::Count(_)) => last.1 != now.1,
            (Some(last), Length::Duration(_)) => last != now,
        }
    }

    /// The entries of `fire` (a prefix of the buffer) and those evicted
    /// since the last fire that had been in a window (Storm's "expired
    /// since the last window").
    pub(crate) fn view(&mut self, fire: Fire) -> (&[E], &[E]) {
        self.buf.make_contiguous();
        (&self.buf.as_slices().0[..fire.len], &self.expired)
    }

    /// After `fire` was handed to the bolt: marks its entries seen,
    /// forgets the expired ones it showed, evicts what no later window can
    /// hold and passes every entry evicted and not yet acked to `ack`.
    pub(crate) fn fired(&mut self, fire: Fire, ack: &mut impl FnMut(&E)) {
        for e in self.buf.iter_mut().take(fire.len) {
            e.set_seen();
        }
        self.last_fired = Some((self.first_pos, self.first_pos + fire.len as u64 - 1));
        self.settle(ack);
        self.expired.clear();
        self.expired_acked = 0;
        // Entries no later window can hold: the next window ends at least
        // one slide later (time trigger) or `slide` entries later (count).
        let keep_from = match (self.length, self.slide) {
            (Length::Duration(len), Length::Duration(slide)) => {
                let next_start = fire.end.saturating_add(ms(slide)).saturating_sub(ms(len));
                self.buf.partition_point(|e| e.ts() < next_start)
            }
            // The next window changes only when an entry enters it.
            (Length::Count(len), Length::Duration(_)) => (fire.len + 1).saturating_sub(len),
            (Length::Count(len), Length::Count(slide)) => (fire.len + slide).saturating_sub(len),
            // The next window ends no earlier than this one.
            (Length::Duration(_), Length::Count(_)) => 0,
        };
        self.evict(keep_from.min(fire.len));
        self.settle(ack);
    }

    /// Passes every entry evicted since the last call to `ack` (they have
    /// left every window; those that were in one stay listed as expired
    /// until the next window fires).
    pub(crate) fn settle(&mut self, ack: &mut impl FnMut(&E)) {
        for e in &self.expired[self.expired_acked..] {
            ack(e);
        }
        self.expired_acked = self.expired.len();
        for e in self.dropped.drain(..) {
            ack(&e);
        }
    }

    /// Evicts the first `n` entries.
    fn evict(&mut self, n: usize) {
        for e in self.buf.drain(..n) {
            if e.seen() {
                self.expired.push(e);
            } else {
                self.dropped.push(e);
            }
        }
        self.first_pos += n as u64;
        self.covered = self.covered.saturating_sub(n);
    }
}

/// A duration in milliseconds, as window arithmetic uses it.
pub(crate) fn ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The smallest multiple of `step` strictly above `t` (`None` on
/// overflow).
fn next_multiple(t: i64, step: i64) -> Option<i64> {
    t.div_euclid(step).checked_add(1)?.checked_mul(step)
}
