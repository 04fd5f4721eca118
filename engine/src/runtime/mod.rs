//! Running a topology on this machine: [`LocalCluster`].

mod cluster;
mod output;
mod plan;
mod queue;
mod shared;
mod stats;
mod worker;

pub use cluster::{LocalCluster, RunConfig, RunError, RunningTopology};
pub use output::{Anchor, BoltOutput, Emission, Input, SpoutOutput};
pub use shared::TaskError;
pub use stats::{ComponentStats, LatencyStats, TopologyStats};
