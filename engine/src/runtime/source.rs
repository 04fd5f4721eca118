//! [`MetricSource`]: the extension point through which other subsystems
//! (links between nodes, multi-lang children) add their own [`Sample`]s to
//! every metrics snapshot.

/// Whether a sample only grows or goes up and down (Prometheus' types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleKind {
    /// A count since start (only grows).
    Counter,
    /// A current value.
    Gauge,
}

/// One labelled value from a [`MetricSource`].
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name in Prometheus' form, `gale_` first, counters ending in
    /// `_total` (e.g. `gale_link_bytes_out_total`).
    pub name: String,
    /// One line saying what it measures.
    pub help: String,
    /// Counter or gauge.
    pub kind: SampleKind,
    /// Label names and values (e.g. `("peer", "node-2")`).
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: f64,
}

/// Metrics of another subsystem (a link to a peer node, a multi-lang
/// child...), taken with every snapshot. Register one with
/// [`MetricsHandle::register`](super::MetricsHandle::register); `collect` runs on the snapshotting thread
/// (an HTTP request, the progress line), so it must only read what its
/// subsystem publishes (atomics, a short lock), never block on I/O.
pub trait MetricSource: Send + Sync {
    /// Appends this source's current samples.
    fn collect(&self, out: &mut Vec<Sample>);
}
