//! Running a topology: on this machine ([`LocalCluster`]) or as one node
//! of several ([`NodeCluster`]).

mod clock;
mod cluster;
mod collector;
mod input;
mod metrics;
mod node;
mod outbox;
mod output;
mod plan;
mod queue;
mod record;
mod recorder;
mod route;
mod shared;
mod stats;
mod tracking;
mod worker;

pub use cluster::{LocalCluster, RunConfig, RunError, RunningTopology};
pub use collector::{BoltOutput, SpoutOutput};
pub use input::{Anchor, Emission, Input, InputBatch};
pub use metrics::{
    ComponentKind, ComponentMetrics, Counters, ErrorSummary, InputStream, MetricSource,
    MetricsConfig, MetricsHandle, OutputStream, Sample, SampleKind, TaskMetrics, TopologyMetrics,
    WindowStats, WorkerMetrics,
};
pub use node::NodeCluster;
pub(crate) use plan::Plan;
pub(crate) use shared::Shared;
pub use shared::TaskError;
pub use stats::{ComponentStats, LatencyStats, TopologyStats};
