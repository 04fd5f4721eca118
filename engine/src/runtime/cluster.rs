//! [`LocalCluster`]: runs a topology on this machine's cores.

use std::sync::Arc;

use super::config::RunConfig;
use super::coordinator;
use super::error::RunError;
use super::plan::Plan;
use super::running::RunningTopology;
use super::startup::launch;
use crate::Topology;

/// Runs topologies on this machine (Storm's `LocalCluster`).
#[derive(Debug, Clone, Default)]
pub struct LocalCluster {
    config: RunConfig,
}

impl LocalCluster {
    /// A cluster that runs topologies with `config`.
    pub fn new(config: RunConfig) -> Self {
        Self { config }
    }

    /// Starts `topology` and returns its handle.
    pub fn submit(&self, topology: Topology) -> Result<RunningTopology, RunError> {
        let plan = Arc::new(Plan::new(topology, self.config.thread_count()));
        let coordinator = coordinator::local(self.config.duration);
        launch(plan, &self.config, 0, None, coordinator)
    }
}
