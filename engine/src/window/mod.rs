//! Windowed bolts, with Storm's semantics and vocabulary
//! (`BaseWindowedBolt`, `TupleWindow`).
//!
//! A [`WindowedBolt`] is handed whole windows of tuples instead of single
//! tuples. [`TopologyBuilder::set_windowed_bolt`](crate::TopologyBuilder::set_windowed_bolt)
//! wraps it, with its [`Window`], into an ordinary [`Bolt`](crate::Bolt)
//! (the executor in this module) that buffers the inputs, fires windows
//! and acks each input once it has left every window that holds it. The
//! engine's data path knows nothing of windows.
//!
//! - **Length and slide**, each a tuple count or a duration, in any
//!   combination: [`Window::sliding`] (Storm's `withWindow(length,
//!   slide)`) and [`Window::tumbling`] (`withTumblingWindow(length)`).
//!   A duration slide fires windows ending at multiples of the slide
//!   (aligned to the clock's epoch, as Flink does), each holding the
//!   tuples with `end - length <= ts < end`; a count slide fires after
//!   every `slide` tuples, each window ending at its last tuple.
//! - **Processing time** by default: a tuple's timestamp is the
//!   [`WindowClock`]'s reading when it arrives (the system clock, or a
//!   [`ManualClock`] in tests). Time windows fire from the worker's poll
//!   loop and on each arrival, so no timer thread is involved.
//! - **Event time** with [`Window::with_timestamp_field`]: the timestamp
//!   is the tuple's integer field (milliseconds). The watermark is, as in
//!   Storm, the smallest of the latest timestamps seen on each input
//!   stream (once every input stream has sent one) minus
//!   [`with_lag`](Window::with_lag); windows fire when the watermark
//!   passes their end. A tuple below the watermark is late: it goes to
//!   [`with_late_tuple_stream`](Window::with_late_tuple_stream)'s stream
//!   (one field, `late_tuple`: the tuple's values as a list), anchored,
//!   or is dropped, and is acked either way. By default the watermark
//!   moves with every tuple (exact and timer-free);
//!   [`with_watermark_interval`](Window::with_watermark_interval) moves it
//!   only at that interval, as Storm does.
//! - **Acking** as in Storm: inputs are acked when they leave every
//!   window that can hold them (for a tumbling window, right after it
//!   fired), never while a window still holds them, and exactly once.
//!   With acking on, [`TopologyBuilder::build`](crate::TopologyBuilder::build)
//!   refuses a window that would hold tuples longer than the message
//!   timeout (duration length plus slide, plus the lag) or more tuples than
//!   the spouts may have in flight (count length plus slide, when
//!   `max_spout_pending` bounds every spout).
//! - What Gale does differently: empty windows and windows identical to
//!   the previous one are not fired (Storm skips empty ones but fires
//!   unchanged ones again); time windows are aligned to multiples of the
//!   slide; tuples are acked as soon as no later window can hold them,
//!   not at the next firing; a windowed bolt does not flush its open
//!   windows when the topology shuts down (neither does Storm).
//!
//! [`WindowedBoltOf`] runs a plain [`Bolt`](crate::Bolt), such as a
//! multi-lang shell bolt, on windows: each fired window reaches it as one
//! tuple (fields [`WINDOW_FIELDS`]).

mod adapter;
mod executor;
mod manager;
mod tuple;

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use adapter::{WindowedBoltOf, WINDOW_FIELDS, WINDOW_STREAM};
pub(crate) use executor::WindowedExecutor;
pub use tuple::{TupleWindow, WindowOutput, WindowTuple};

use crate::{BoltOutput, OutputFieldsDeclarer, TopologyContext, TopologyError};

/// The field of the late-tuple stream (Storm's `late_tuple`).
pub const LATE_TUPLE_FIELD: &str = "late_tuple";

/// A window's length or slide: a number of tuples or a duration (Storm's
/// `BaseWindowedBolt.Count` and `BaseWindowedBolt.Duration`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Length {
    /// This many tuples.
    Count(usize),
    /// This much time (whole milliseconds count).
    Duration(Duration),
}

impl From<Duration> for Length {
    fn from(d: Duration) -> Self {
        Length::Duration(d)
    }
}

impl fmt::Display for Length {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Length::Count(n) => write!(f, "{n} tuples"),
            Length::Duration(d) => write!(f, "{} ms", d.as_millis()),
        }
    }
}

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
        manager::ms(since)
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
        self.0.fetch_add(manager::ms(by), Ordering::AcqRel);
    }
}

impl WindowClock for ManualClock {
    fn now_ms(&self) -> i64 {
        // SYNC: pairs with the Release store in `set`/`advance`.
        self.0.load(Ordering::Acquire)
    }
}

/// A windowed bolt's window: length, slide, and the event-time settings
/// (Storm's `BaseWindowedBolt.with*` methods). Required parts are the
/// constructor's arguments; options chain.
///
/// ```
/// use std::time::Duration;
/// use gale_engine::window::{Length, Window};
///
/// // Counts over the last 9 s, every 3 s, by the tuples' "ts" field,
/// // allowing tuples up to 1 s out of order, late ones to "late".
/// let w = Window::sliding(Duration::from_secs(9), Duration::from_secs(3))
///     .with_timestamp_field("ts")
///     .with_lag(Duration::from_secs(1))
///     .with_late_tuple_stream("late");
/// assert_eq!(w.slide(), Length::Duration(Duration::from_secs(3)));
///
/// // Every 100 tuples, the last 100.
/// let t = Window::tumbling(Length::Count(100));
/// assert_eq!(t.length(), t.slide());
/// ```
#[derive(Debug, Clone)]
pub struct Window {
    length: Length,
    slide: Length,
    timestamp_field: Option<String>,
    lag: Duration,
    watermark_interval: Option<Duration>,
    late_stream: Option<String>,
    clock: Arc<dyn WindowClock>,
}

impl Window {
    /// A sliding window of `length` that fires every `slide` (Storm's
    /// `withWindow(length, slide)`).
    pub fn sliding(length: impl Into<Length>, slide: impl Into<Length>) -> Self {
        Self {
            length: length.into(),
            slide: slide.into(),
            timestamp_field: None,
            lag: Duration::ZERO,
            watermark_interval: None,
            late_stream: None,
            clock: Arc::new(SystemClock),
        }
    }

    /// A tumbling window: consecutive, non-overlapping windows of `length`
    /// (Storm's `withTumblingWindow(length)`).
    pub fn tumbling(length: impl Into<Length>) -> Self {
        let length = length.into();
        Self::sliding(length, length)
    }

    /// Event time: a tuple's timestamp is its integer field `field`, in
    /// milliseconds (Storm's `withTimestampField`).
    pub fn with_timestamp_field(mut self, field: impl Into<String>) -> Self {
        self.timestamp_field = Some(field.into());
        self
    }

    /// Event time: how far behind the latest timestamp the watermark
    /// stays, so tuples up to this much out of order are not late
    /// (Storm's `withLag`; default 0).
    pub fn with_lag(mut self, lag: Duration) -> Self {
        self.lag = lag;
        self
    }

    /// Event time: move the watermark at this interval instead of with
    /// every tuple (Storm's `withWatermarkInterval`).
    pub fn with_watermark_interval(mut self, interval: Duration) -> Self {
        self.watermark_interval = Some(interval);
        self
    }

    /// Event time: send late tuples to this stream (declared by the
    /// windowed bolt with the one field [`LATE_TUPLE_FIELD`]) instead of
    /// dropping them (Storm's `withLateTupleStream`).
    pub fn with_late_tuple_stream(mut self, stream: impl Into<String>) -> Self {
        self.late_stream = Some(stream.into());
        self
    }

    /// Reads processing time (and the watermark interval) from `clock`
    /// instead of the system clock.
    pub fn with_clock(mut self, clock: Arc<dyn WindowClock>) -> Self {
        self.clock = clock;
        self
    }

    /// The window's length.
    pub fn length(&self) -> Length {
        self.length
    }

    /// How often it fires.
    pub fn slide(&self) -> Length {
        self.slide
    }

    /// The event-time field, if any.
    pub fn timestamp_field(&self) -> Option<&str> {
        self.timestamp_field.as_deref()
    }

    /// The late-tuple stream, if any.
    pub fn late_tuple_stream(&self) -> Option<&str> {
        self.late_stream.as_deref()
    }

    /// How long, at most, a tuple stays in the window's buffer (time
    /// windows; `None` for a count length with a count slide): Storm's
    /// check against the message timeout.
    pub fn max_hold(&self) -> Option<Duration> {
        let lag = if self.timestamp_field.is_some() {
            self.lag
        } else {
            Duration::ZERO
        };
        match (self.length, self.slide) {
            (Length::Duration(l), Length::Duration(s)) => Some(l + s + lag),
            (Length::Count(_), Length::Duration(s)) => Some(s + lag),
            (Length::Duration(l), Length::Count(_)) => Some(l + lag),
            (Length::Count(_), Length::Count(_)) => None,
        }
    }

    /// Checks the window on its own (zero or too long lengths, event-time
    /// options without a timestamp field).
    pub(crate) fn check(&self, component: &str) -> Result<(), TopologyError> {
        let bad = |reason: &'static str| TopologyError::BadWindow {
            component: component.to_owned(),
            reason,
        };
        for (what, l) in [("length", self.length), ("slide", self.slide)] {
            match l {
                Length::Count(0) => return Err(bad("a window length or slide of 0 tuples")),
                Length::Duration(d) if d.as_millis() == 0 => {
                    return Err(bad("a window length or slide under 1 ms"))
                }
                Length::Duration(d) if d > crate::MAX_DURATION => {
                    return Err(TopologyError::DurationTooLong {
                        what: format!("windowed bolt `{component}`'s window {what}"),
                        secs: d.as_secs(),
                    })
                }
                _ => {}
            }
        }
        for d in [Some(self.lag), self.watermark_interval]
            .into_iter()
            .flatten()
        {
            if d > crate::MAX_DURATION {
                return Err(TopologyError::DurationTooLong {
                    what: format!("windowed bolt `{component}`'s lag or watermark interval"),
                    secs: d.as_secs(),
                });
            }
        }
        if self.timestamp_field.is_none() {
            if self.late_stream.is_some() {
                return Err(bad(
                    "a late tuple stream needs a timestamp field (late tuples exist only in event time)",
                ));
            }
            if !self.lag.is_zero() || self.watermark_interval.is_some() {
                return Err(bad(
                    "a lag or watermark interval needs a timestamp field (they apply to event time)",
                ));
            }
        }
        if self.watermark_interval.is_some_and(|d| d.as_millis() == 0) {
            return Err(bad("a watermark interval under 1 ms"));
        }
        if self.timestamp_field.as_deref() == Some("") {
            return Err(bad("an empty timestamp field name"));
        }
        Ok(())
    }
}

/// A bolt that processes windows of tuples (Storm's `IWindowedBolt`).
///
/// Register it with
/// [`TopologyBuilder::set_windowed_bolt`](crate::TopologyBuilder::set_windowed_bolt);
/// each task gets its own instance. Its inputs are acked for it, when
/// they leave their last window; its emits through [`WindowOutput::emit`]
/// are anchored to the whole window, as Storm's are.
pub trait WindowedBolt: Send + 'static {
    /// Declares the streams this bolt emits (the late-tuple stream is
    /// declared for it).
    fn declare_output_fields(&self, declarer: &mut OutputFieldsDeclarer);

    /// Called once on the worker thread before the first window.
    fn prepare(&mut self, _context: &TopologyContext) {}

    /// Processes one window.
    fn execute(&mut self, window: &TupleWindow<'_>, out: &mut WindowOutput<'_, '_>);

    /// Called once when the topology shuts down.
    fn cleanup(&mut self) {}

    /// Whether this bolt does work outside `execute` and wants
    /// [`poll`](Self::poll) calls (as [`Bolt::wants_poll`](crate::Bolt::wants_poll)).
    fn wants_poll(&self) -> bool {
        false
    }

    /// Work outside `execute` (as [`Bolt::poll`](crate::Bolt::poll)).
    fn poll(&mut self, _out: &mut BoltOutput<'_>) -> bool {
        false
    }

    /// Whether it holds work not finished yet (as
    /// [`Bolt::has_pending`](crate::Bolt::has_pending)).
    fn has_pending(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests;
