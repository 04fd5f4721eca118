//! gale-engine: Storm's programming model on Gale's data path.
//!
//! Define a topology of [`Spout`]s and [`Bolt`]s with a
//! [`TopologyBuilder`], then run it on pinned worker threads with a
//! [`LocalCluster`]. Tuples between threads travel archived through
//! shared-memory rings and are read in place ([`Input`]).
#![forbid(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, clippy::undocumented_unsafe_blocks)]

mod acker;
#[doc(hidden)]
pub mod bench_api;
pub mod cluster;
mod component;
mod grouping;
mod runtime;
pub mod state;
mod topology;
mod typed;
pub mod window;

pub use acker::{ACKER_COMPONENT, ACK_DONE_STREAM, ACK_STREAM};
pub use component::{
    Bolt, OutputFieldsDeclarer, Spout, StreamDecl, TopologyContext, DEFAULT_STREAM,
    SYSTEM_COMPONENT, TICK_STREAM,
};
pub use grouping::{CustomGrouping, Grouping};
/// The rkyv version Gale archives typed streams with (derive `Archive`
/// and `Serialize` with `#[rkyv(crate = gale_engine::rkyv)]`).
pub use rkyv;
pub use runtime::{
    Anchor, BoltOutput, ComponentKind, ComponentMetrics, ComponentStats, Counters, Emission,
    ErrorSummary, Input, InputBatch, InputStream, LatencyStats, LocalCluster, MetricSource,
    MetricsConfig, MetricsHandle, NodeCluster, OutputStream, RunConfig, RunError, RunningTopology,
    Sample, SampleKind, SpoutOutput, TaskError, TaskMetrics, TopologyMetrics, TopologyStats,
    WindowStats, WorkerMetrics,
};
pub use topology::{
    BoltDeclarer, ComponentConfig, SpoutDeclarer, Topology, TopologyBuilder, TopologyConfig,
    TopologyError, MAX_DURATION,
};
pub use typed::{Typed, TypedArchive, TypedError};

/// A task's id, unique in a topology; tasks are numbered from 1 as in
/// Storm.
pub type TaskId = u32;
