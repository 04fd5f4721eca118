//! Running a topology on this machine: [`LocalCluster`].

mod cluster;
mod metrics;
mod output;
mod plan;
mod queue;
mod recorder;
mod shared;
mod stats;
mod worker;

pub use cluster::{LocalCluster, RunConfig, RunError, RunningTopology};
pub use metrics::{
    ComponentKind, ComponentMetrics, Counters, ErrorSummary, InputStream, MetricSource,
    MetricsConfig, MetricsHandle, OutputStream, Sample, SampleKind, TaskMetrics, TopologyMetrics,
    WindowStats, WorkerMetrics,
};
pub use output::{BoltOutput, Input, SpoutOutput};
pub use shared::TaskError;
pub use stats::{ComponentStats, LatencyStats, TopologyStats};
