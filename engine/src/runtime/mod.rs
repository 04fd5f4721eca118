//! Running a topology: on this machine ([`LocalCluster`]) or as one node
//! of several ([`NodeCluster`]).
//!
//! # The data path
//!
//! - **Emit** (`output`): a collector ([`SpoutOutput`], [`BoltOutput`])
//!   hands the worker's `Emitter` the stream, the values and how the tuple
//!   is tracked. The stream's routes were resolved when the worker
//!   started (`StreamOut`): an untracked emit to a stream without
//!   subscribers is only counted, and one whose single subscription
//!   always picks the same task (global, shuffle over one task) goes
//!   straight to that task without asking the router; everything else is
//!   routed per tuple (`emit_routed`). A shuffle over tasks on several of
//!   the node's threads is load aware (`grouping/balance.rs`): every
//!   10 ms each worker publishes its busy share (`load`) and reweighs its
//!   shuffles' round robins by the others'. Acker state (roots, edges, folded
//!   updates) lives in `Tracking`.
//! - **Outbox** (`outbox`): each tuple is archived once, per destination
//!   task. For a task on this thread, chained (below) or into the local
//!   queue (run later in the same pass). For another worker of this node,
//!   or for the link (a task of another node), into the *stage* for its
//!   ring (a `ByteQueue` of this thread's) as a record batch of records
//!   (8-byte header: length, task; the archived tuple, padded to 8); at
//!   4 KiB (or the ring's record limit) and whenever the worker flushes,
//!   the stage is copied into the ring and published as **one ring
//!   record** (one reservation, commit and publication for some dozens of
//!   tuples; why a copy, not archiving straight into the ring, is in the
//!   `outbox` module's docs). A record batch has the layout of a frame's
//!   body, so the link puts it into a frame whole, and a peer's link puts
//!   runs of a frame's records into a worker's ring as they are. A full
//!   ring queues whole ring records in an overflow, which stops the
//!   thread's spouts until it drains.
//! - **Chain** (`chain`, `collector`): a tuple for a bolt of the emitting
//!   thread is archived into the chain's scratch buffer of the current
//!   depth instead of the local queue (unless the bolt is running, has
//!   records queued ahead, or the chain is 8 deep), and it runs
//!   (`execute_bolt`, one run per bolt) when the emitting call returns (a
//!   spout's batch of calls, a bolt's run, a poll), or within the call
//!   once 16 KiB wait.
//! - **Execute** (`worker`): a worker reads up to 32 record batches per
//!   ring per pass (256 single records from the link), in place, and
//!   hands consecutive records for the same bolt task and stream to it
//!   as one run ([`InputBatch`], `Bolt::execute_batch`, which walks the
//!   record batches itself, checking each record's task and stream as it
//!   hands it out), paying counters,
//!   metrics and the panic guard once per run; the inputs the latency
//!   sampler picks are timed within the run (a bolt whose
//!   `execute_batch` gathers its inputs gets each of them alone).

mod chain;
mod clock;
mod cluster;
mod collector;
mod config;
mod coordinator;
mod counters;
mod error;
mod handoff;
mod input;
mod load;
mod metrics;
mod node;
mod outbox;
mod output;
mod plan;
mod queue;
mod recorder;
mod route;
mod running;
mod shared;
mod source;
mod startup;
mod stats;
mod tracking;
mod worker;

pub use cluster::LocalCluster;
pub use collector::{BoltOutput, SpoutOutput};
pub use config::{MetricsConfig, RunConfig};
pub(crate) use counters::LatencyCounts;
pub use counters::{Counters, LatencyStats};
pub use error::{ErrorSummary, RunError, TaskError};
pub use handoff::SpoutHandoff;
pub use input::{Anchor, Emission, Input, InputBatch};
pub use metrics::{
    ComponentKind, ComponentMetrics, InputStream, MetricsHandle, OutputStream, TaskMetrics,
    TopologyMetrics, WindowStats, WorkerMetrics,
};
pub use node::NodeCluster;
pub(crate) use plan::Plan;
pub use running::{ControlHandle, ControlStatus, RunningTopology};
pub(crate) use shared::Shared;
pub use source::{MetricSource, Sample, SampleKind};
pub use stats::{ComponentStats, TopologyStats};
