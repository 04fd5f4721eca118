//! [`Length`]: a window's length or slide, in tuples or in time.

use std::fmt;
use std::time::Duration;

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
