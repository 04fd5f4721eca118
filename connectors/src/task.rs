//! What every connector task does alike: its start (metrics registered,
//! configuration checked, server resolved), a configuration error that
//! fails every input, and the linger of a batch held by a bolt.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gale_engine::{BoltOutput, Input, TopologyContext};

use crate::secret::{Endpoint, EndpointConfig};
use crate::{ConnectorError, ConnectorMetrics};

/// Registers the task's metrics and resolves its server once `checked`
/// (the connector's own configuration check) passed; a failure is logged
/// and counted.
pub(crate) fn start(
    connector: &'static str,
    context: &TopologyContext,
    checked: Result<(), ConnectorError>,
    endpoint: &EndpointConfig,
) -> (Arc<ConnectorMetrics>, Result<Endpoint, ConnectorError>) {
    let metrics = ConnectorMetrics::registered(connector, context);
    let target = checked.and_then(|()| endpoint.resolve(connector, context.component_id()));
    if let Err(e) = &target {
        tracing::error!("{e}");
        metrics.error();
    }
    (metrics, target)
}

/// A configuration error found at start: every input fails (the spout
/// keeps it for a fixed configuration) and the error is reported once.
#[derive(Debug, Default)]
pub(crate) struct Fatal {
    error: Option<ConnectorError>,
    reported: bool,
}

impl Fatal {
    pub(crate) fn set(&mut self, e: ConnectorError) {
        self.error = Some(e);
    }

    /// Fails `input` if there is an error (reporting it the first time);
    /// returns whether it did.
    pub(crate) fn refuse(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) -> bool {
        let Some(e) = &self.error else {
            return false;
        };
        if !self.reported {
            out.report_error(e);
            self.reported = true;
        }
        out.fail(input);
        true
    }
}

/// Since when a bolt holds a batch, and whether it is due.
#[derive(Debug)]
pub(crate) struct Linger {
    since: Option<Instant>,
    linger: Duration,
}

impl Linger {
    pub(crate) fn new(linger_ms: u64) -> Self {
        Self {
            since: None,
            linger: Duration::from_millis(linger_ms),
        }
    }

    /// An input was added to the batch.
    pub(crate) fn held(&mut self) {
        self.since.get_or_insert_with(Instant::now);
    }

    /// The batch's oldest input has waited the linger.
    pub(crate) fn due(&self) -> bool {
        self.since.is_some_and(|t| t.elapsed() >= self.linger)
    }

    /// The batch was written or failed.
    pub(crate) fn clear(&mut self) {
        self.since = None;
    }
}
