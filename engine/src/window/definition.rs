//! [`Window`]: a windowed bolt's window (length, slide, event time), and
//! its checks.

use std::sync::Arc;
use std::time::Duration;

use super::clock::{SystemClock, WindowClock};
use super::length::Length;
use crate::TopologyError;

/// The field of the late-tuple stream (Storm's `late_tuple`).
pub const LATE_TUPLE_FIELD: &str = "late_tuple";

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
    pub(super) length: Length,
    pub(super) slide: Length,
    pub(super) timestamp_field: Option<String>,
    pub(super) lag: Duration,
    pub(super) watermark_interval: Option<Duration>,
    pub(super) late_stream: Option<String>,
    pub(super) clock: Arc<dyn WindowClock>,
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
