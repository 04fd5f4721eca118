//! gale-engine: Storm's programming model on Gale's data path.
//!
//! Define a topology of [`Spout`]s and [`Bolt`]s with a
//! [`TopologyBuilder`], then run it on pinned worker threads with a
//! [`LocalCluster`]. Tuples between threads travel archived through
//! shared-memory rings and are read in place ([`Input`]).
//!
//! ```
//! use gale_codec::Value;
//! use gale_engine::{
//!     Bolt, BoltOutput, Input, LocalCluster, OutputFieldsDeclarer, RunConfig, Spout,
//!     SpoutOutput, TopologyBuilder,
//! };
//!
//! struct Ten(u8);
//! impl Spout for Ten {
//!     fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
//!         d.declare(["n"]);
//!     }
//!     fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
//!         if self.0 < 10 {
//!             self.0 += 1;
//!             out.emit_with_id(&[Value::I64(i64::from(self.0))], u64::from(self.0));
//!         }
//!     }
//!     fn is_finished(&self) -> bool {
//!         self.0 == 10
//!     }
//! }
//!
//! struct Ack;
//! impl Bolt for Ack {
//!     fn declare_output_fields(&self, _d: &mut OutputFieldsDeclarer) {}
//!     fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
//!         out.ack(input);
//!     }
//! }
//!
//! let mut builder = TopologyBuilder::new("ten");
//! builder.set_spout("ten", || Ten(0), 1);
//! builder.set_bolt("ack", || Ack, 2).all_grouping("ten");
//! let config = RunConfig { threads: 2, pin: false, ..RunConfig::default() };
//! let stats = LocalCluster::new(config).submit(builder.build()?)?.wait()?;
//! assert_eq!(stats.components["ack"].executed, 20); // each task got all ten
//! assert_eq!(stats.components["ten"].acked, 10); // every tree completed
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Beyond that: groupings ([`Grouping`], [`CustomGrouping`]), typed streams
//! ([`Typed`]), running one node of several ([`NodeCluster`],
//! [`cluster`]: the cluster file and the plan), and live metrics
//! ([`RunningTopology::metrics`], [`TopologyMetrics`], [`MetricSource`]).
//! Most users reach all of this through the `gale` crate's prelude.
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
mod task_id;
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
    Anchor, BoltOutput, ComponentKind, ComponentMetrics, ComponentStats, ControlHandle,
    ControlStatus, Counters, Emission, ErrorSummary, Input, InputBatch, InputStream, LatencyStats,
    LocalCluster, MetricSource, MetricsConfig, MetricsHandle, NodeCluster, OutputStream, RunConfig,
    RunError, RunningTopology, Sample, SampleKind, SpoutHandoff, SpoutOutput, TaskError,
    TaskMetrics, TopologyMetrics, TopologyStats, WindowStats, WorkerMetrics,
};
pub use task_id::{TaskId, MAX_TASKS};
pub use topology::{
    BoltDeclarer, ComponentConfig, RebalanceError, SpoutDeclarer, Topology, TopologyBuilder,
    TopologyConfig, TopologyError, MAX_DURATION,
};
pub use typed::{Typed, TypedArchive, TypedError};
