//! [`TopologyConfig`]: topology-wide settings.

use std::time::Duration;

/// Topology-wide settings (Storm's `topology.*` configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopologyConfig {
    /// Acker tasks. 0 turns reliability off: a spout's emit with a message
    /// id is acked at once, as in Storm.
    pub ackers: usize,
    /// A tuple tree not completed within this time fails (default 30 s).
    pub message_timeout: Duration,
    /// Default for spouts without their own `max_spout_pending`: at most
    /// this many trees in flight per spout task (`None`: unbounded).
    pub max_spout_pending: Option<usize>,
    /// Shuffles send fewer tuples to tasks on busier worker threads of
    /// the node (default on, as Storm's load-aware shuffle; off: every
    /// task gets an even share, as Storm's
    /// `topology.disable.loadaware.messaging`).
    pub load_aware: bool,
}

impl Default for TopologyConfig {
    fn default() -> Self {
        Self {
            ackers: 1,
            message_timeout: Duration::from_secs(30),
            max_spout_pending: None,
            load_aware: true,
        }
    }
}
