//! Per-task connector metrics, published through the engine's
//! [`MetricSource`] (so they appear in `/metrics` and the JSON API):
//!
//! | metric | kind | what |
//! |--------|------|------|
//! | `gale_connector_batches_total` | counter | round trips that carried a batch (a read, a commit, a pipeline) |
//! | `gale_connector_batch_items_total` | counter | entries, rows or commands in those batches (÷ batches = mean batch size) |
//! | `gale_connector_last_batch_size` | gauge | items in the latest batch |
//! | `gale_connector_errors_total` | counter | errors (failed connects, commands, bad entries) |
//! | `gale_connector_reconnects_total` | counter | connections re-established after a loss |
//! | `gale_connector_lag` | gauge | Redis stream spout: entries of the stream not yet delivered to the group (`XINFO GROUPS` lag; -1 unknown) |
//! | `gale_connector_pending` | gauge | entries or tuples held: delivered but not acked (spout), or not yet committed (bolt) |
//!
//! Each carries the labels `connector`, `component` and `task`.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use gale_engine::{MetricSource, Sample, SampleKind, TopologyContext};

/// One task's connector counters; cheap to update (relaxed atomics: each
/// is read alone by a snapshot and pairs with nothing).
#[derive(Debug)]
pub struct ConnectorMetrics {
    labels: Vec<(String, String)>,
    batches: AtomicU64,
    batch_items: AtomicU64,
    last_batch: AtomicU64,
    errors: AtomicU64,
    reconnects: AtomicU64,
    lag: AtomicI64,
    pending: AtomicI64,
}

impl ConnectorMetrics {
    /// Counters for task `task` of `component`, a `connector`.
    pub fn new(connector: &str, component: &str, task: u32) -> Arc<Self> {
        Arc::new(Self {
            labels: vec![
                ("connector".to_owned(), connector.to_owned()),
                ("component".to_owned(), component.to_owned()),
                ("task".to_owned(), task.to_string()),
            ],
            batches: AtomicU64::new(0),
            batch_items: AtomicU64::new(0),
            last_batch: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            lag: AtomicI64::new(-1),
            pending: AtomicI64::new(0),
        })
    }

    /// Counters for the task `context` describes, registered with its
    /// topology's metrics.
    pub fn registered(connector: &str, context: &TopologyContext) -> Arc<Self> {
        let m = Self::new(connector, context.component_id(), context.task_id());
        context.register_metric(m.clone());
        m
    }

    /// A batch of `items` went out or came in.
    pub fn batch(&self, items: usize) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.batch_items.fetch_add(items as u64, Ordering::Relaxed);
        self.last_batch.store(items as u64, Ordering::Relaxed);
    }

    /// An error happened.
    pub fn error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    /// A lost connection was restored.
    pub fn reconnect(&self) {
        self.reconnects.fetch_add(1, Ordering::Relaxed);
    }

    /// The consumer group's lag (-1: unknown).
    pub fn set_lag(&self, lag: i64) {
        self.lag.store(lag, Ordering::Relaxed);
    }

    /// Entries or tuples held, not yet acked or committed.
    pub fn set_pending(&self, n: usize) {
        self.pending.store(n as i64, Ordering::Relaxed);
    }

    /// Errors so far.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// Reconnects so far.
    pub fn reconnects(&self) -> u64 {
        self.reconnects.load(Ordering::Relaxed)
    }

    /// Batches and items in them so far.
    pub fn batches(&self) -> (u64, u64) {
        (
            self.batches.load(Ordering::Relaxed),
            self.batch_items.load(Ordering::Relaxed),
        )
    }
}

impl MetricSource for ConnectorMetrics {
    fn collect(&self, out: &mut Vec<Sample>) {
        let mut push = |name: &str, help: &str, kind: SampleKind, value: f64| {
            out.push(Sample {
                name: name.to_owned(),
                help: help.to_owned(),
                kind,
                labels: self.labels.clone(),
                value,
            });
        };
        let (batches, items) = self.batches();
        push(
            "gale_connector_batches_total",
            "Connector round trips that carried a batch.",
            SampleKind::Counter,
            batches as f64,
        );
        push(
            "gale_connector_batch_items_total",
            "Entries, rows or commands in the connector's batches.",
            SampleKind::Counter,
            items as f64,
        );
        push(
            "gale_connector_last_batch_size",
            "Items in the connector's latest batch.",
            SampleKind::Gauge,
            self.last_batch.load(Ordering::Relaxed) as f64,
        );
        push(
            "gale_connector_errors_total",
            "Connector errors (connects, commands, bad entries).",
            SampleKind::Counter,
            self.errors() as f64,
        );
        push(
            "gale_connector_reconnects_total",
            "Connections re-established after a loss.",
            SampleKind::Counter,
            self.reconnects() as f64,
        );
        push(
            "gale_connector_lag",
            "Entries of the stream not yet delivered to the consumer group (-1: unknown).",
            SampleKind::Gauge,
            self.lag.load(Ordering::Relaxed) as f64,
        );
        push(
            "gale_connector_pending",
            "Entries or tuples held by the connector, not yet acked or committed.",
            SampleKind::Gauge,
            self.pending.load(Ordering::Relaxed) as f64,
        );
    }
}
