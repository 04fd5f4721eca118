//! Reconnecting with backoff, and reporting a failure streak without
//! flooding the log: the first error of a streak is reported at once,
//! then one every [`REPORT_EVERY`] while it lasts.

use std::time::{Duration, Instant};

use crate::metrics::ConnectorMetrics;
use crate::secret::Endpoint;
use crate::ConnectorError;

/// Shortest wait before retrying a connection.
const FIRST: Duration = Duration::from_millis(50);
/// Longest wait between tries.
const MAX: Duration = Duration::from_secs(2);
/// How often a continuing failure is reported again.
pub(crate) const REPORT_EVERY: Duration = Duration::from_secs(10);

/// When to try again, and whether to report this failure.
#[derive(Debug)]
pub(crate) struct Backoff {
    delay: Duration,
    next_try: Option<Instant>,
    last_report: Option<Instant>,
    /// The connection was up before this streak (a success after it is a
    /// reconnect).
    pub(crate) was_up: bool,
}

impl Backoff {
    pub(crate) fn new() -> Self {
        Self {
            delay: FIRST,
            next_try: None,
            last_report: None,
            was_up: false,
        }
    }

    /// Whether a try is due now.
    pub(crate) fn due(&self, now: Instant) -> bool {
        self.next_try.is_none_or(|t| now >= t)
    }

    /// A try failed: wait longer; returns whether to report it.
    pub(crate) fn failed(&mut self, now: Instant) -> bool {
        self.next_try = Some(now + self.delay);
        self.delay = (self.delay * 2).min(MAX);
        let report = self
            .last_report
            .is_none_or(|t| now.duration_since(t) >= REPORT_EVERY);
        if report {
            self.last_report = Some(now);
        }
        report
    }

    /// A try succeeded; returns whether it restored a lost connection.
    pub(crate) fn succeeded(&mut self) -> bool {
        let reconnect = self.was_up;
        self.delay = FIRST;
        self.next_try = None;
        self.last_report = None;
        self.was_up = true;
        reconnect
    }
}

/// The connection in `conn`, opened first if it is not and `backoff`
/// allows a try: `open` connects to `target`; a success after a lost
/// connection counts a reconnect in `metrics`; a failure is a
/// [`ConnectorError::Connect`] of `connector`'s `component` (the caller's
/// batch fails and is replayed; the next try waits out the backoff).
/// `Err(None)`: not connected, nothing new to report (backing off, or no
/// target yet).
#[allow(clippy::too_many_arguments)]
pub(crate) fn connected<'c, C>(
    conn: &'c mut Option<C>,
    backoff: &mut Backoff,
    metrics: &ConnectorMetrics,
    target: Option<&Endpoint>,
    connector: &'static str,
    component: &str,
    open: impl FnOnce(&Endpoint) -> Result<C, String>,
) -> Result<&'c mut C, Option<ConnectorError>> {
    if conn.is_none() {
        let now = Instant::now();
        let Some(target) = target.filter(|_| backoff.due(now)) else {
            return Err(None);
        };
        match open(target) {
            Ok(c) => {
                if backoff.succeeded() {
                    metrics.reconnect();
                }
                *conn = Some(c);
            }
            Err(message) => {
                backoff.failed(now);
                return Err(Some(ConnectorError::Connect {
                    connector,
                    component: component.to_owned(),
                    target: target.shown(),
                    message,
                }));
            }
        }
    }
    conn.as_mut().ok_or(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_back_off_and_are_reported_once_per_interval() {
        let mut b = Backoff::new();
        let t0 = Instant::now();
        assert!(b.due(t0));
        assert!(b.failed(t0));
        assert!(!b.due(t0));
        assert!(b.due(t0 + FIRST));
        assert!(!b.failed(t0 + FIRST));
        assert!(b.failed(t0 + REPORT_EVERY + FIRST));
        assert!(!b.succeeded(), "the first success is no reconnect");
        assert!(b.failed(t0));
        assert!(b.succeeded(), "a success after a success and a failure is");
    }
}
