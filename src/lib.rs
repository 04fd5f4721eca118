//! Gale: a stream-processing engine in the line of Apache Storm and Twitter
//! Heron, with a shared-memory data path.
//!
//! A computation is a *topology*: a graph of *spouts* (sources) and *bolts*
//! (processing steps), each run as some number of parallel *tasks* on
//! pinned worker threads. A tuple is archived once with rkyv into a
//! single-producer single-consumer ring and read in place by the bolt that
//! consumes it; between nodes, records travel in batches over io_uring TCP
//! links. Delivery is at least once (Storm's XOR acker, batched).
//!
//! `use gale::prelude::*` brings in what a topology needs:
//!
//! ```
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use std::sync::Arc;
//! use gale::prelude::*;
//!
//! /// Emits the numbers 1 to 100, then is finished.
//! struct Numbers(u64);
//! impl Spout for Numbers {
//!     fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
//!         d.declare(["n"]);
//!     }
//!     fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
//!         if self.0 < 100 {
//!             self.0 += 1;
//!             out.emit(&[Value::I64(self.0 as i64)]);
//!         }
//!     }
//!     fn is_finished(&self) -> bool {
//!         self.0 == 100
//!     }
//! }
//!
//! /// Adds up what it reads (in place, from the ring).
//! struct Sum(Arc<AtomicU64>);
//! impl Bolt for Sum {
//!     fn declare_output_fields(&self, _d: &mut OutputFieldsDeclarer) {}
//!     fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
//!         let n = input.field("n").unwrap().as_i64().unwrap();
//!         self.0.fetch_add(n as u64, Ordering::Relaxed);
//!         out.ack(input);
//!     }
//! }
//!
//! let total = Arc::new(AtomicU64::new(0));
//! let sink = Arc::clone(&total);
//! let mut builder = TopologyBuilder::new("sum");
//! builder.set_spout("numbers", || Numbers(0), 1);
//! builder
//!     .set_bolt("sum", move || Sum(Arc::clone(&sink)), 2)
//!     .shuffle_grouping("numbers");
//! let topology = builder.build()?; // the whole graph is checked here
//! let config = RunConfig { threads: 2, pin: false, ..RunConfig::default() };
//! let stats = LocalCluster::new(config).submit(topology)?.wait()?;
//! assert_eq!(total.load(Ordering::Relaxed), 5050);
//! assert_eq!(stats.components["sum"].executed, 100);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What is where
//!
//! - The engine API (re-exported here and in [`prelude`]):
//!   [`TopologyBuilder`], [`Spout`], [`Bolt`], [`Grouping`],
//!   [`LocalCluster`], [`RunConfig`]; more in [`engine`] (multi-node runs,
//!   live metrics, typed streams).
//! - [`codec`]: values, tuples and frames; [`transport`]: the rings and the
//!   links between nodes.
//! - [`builtin`]: the topologies `gale run` and `gale bench` know by name
//!   (word count, the storm-perf topologies).
//! - [`multilang`] and [`topofile`] (feature `multilang`): Python and other
//!   subprocess components over Storm's multi-lang protocol, and YAML
//!   topology files.
//! - [`monitor`] (feature `monitor`): the metrics endpoint (Prometheus
//!   text, a Storm-UI-shaped JSON API, a live page).
//! - [`cli`] (feature `cli`): the `gale` command's library side.
//!
//! # Features
//!
//! `cli`, `monitor` and `multilang` are on by default. With
//! `default-features = false` this crate is the engine API alone and links
//! no argument parser, HTTP parser, signal handling or log output crate.
//!
//! The guide (concepts, topology files, Python, deployment, operations,
//! monitoring, performance, internals) is in the repository's `docs/`.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

/// The tuple codec: values, tuples, archived views and frames
/// (the `gale-codec` crate).
pub use gale_codec as codec;
/// Connectors: the Redis Streams spout, the Redis and PostgreSQL bolts
/// (the `gale-connectors` crate; see `docs/connectors.md`).
#[cfg(feature = "multilang")]
pub use gale_connectors as connectors;
/// The engine: topologies, groupings, the local runtime (the
/// `gale-engine` crate).
pub use gale_engine as engine;
/// Multi-lang: shell spouts and bolts run as subprocesses speaking
/// Storm's multi-lang protocol (the `gale-multilang` crate).
#[cfg(feature = "multilang")]
pub use gale_multilang as multilang;
/// Transports: shared-memory rings and wait strategies (the
/// `gale-transport` crate).
pub use gale_transport as transport;

pub mod builtin;
#[cfg(feature = "cli")]
pub mod cli;
#[cfg(feature = "monitor")]
pub mod monitor;
#[cfg(feature = "multilang")]
pub mod topofile;

pub use gale_codec::{
    view_checked, view_trusted, ArchivedValue, EncodeError, Encoder, FieldError, Fields,
    FieldsError, Frame, FrameError, FrameWriter, Header, Tuple, TupleRef, TupleView, Value,
};
/// Windowed bolts (Storm's `BaseWindowedBolt`; the guide page is
/// `docs/windows-and-state.md`).
pub use gale_engine::window;
pub use gale_engine::{
    Bolt, BoltDeclarer, BoltOutput, ComponentStats, CustomGrouping, Grouping, Input, InputBatch,
    LocalCluster, OutputFieldsDeclarer, RunConfig, RunError, RunningTopology, Spout, SpoutDeclarer,
    SpoutOutput, TaskId, Topology, TopologyBuilder, TopologyContext, TopologyError, TopologyStats,
    DEFAULT_STREAM,
};
pub use gale_transport::{
    ring, Consumer, Producer, ReadBatch, ReserveError, RingConfig, RingError, WaitStrategy, Waiter,
};

/// Everything a typical user of Gale needs: `use gale::prelude::*;`.
pub mod prelude {
    pub use gale_codec::{
        encoded_len_bound, view_checked, ArchivedValue, Encoder, Fields, Header, Tuple, TupleRef,
        TupleView, Value,
    };
    pub use gale_engine::window::{
        Length, TupleWindow, Window, WindowOutput, WindowTuple, WindowedBolt,
    };
    pub use gale_engine::{
        Bolt, BoltOutput, Grouping, Input, InputBatch, LocalCluster, OutputFieldsDeclarer,
        RunConfig, Spout, SpoutOutput, TaskId, Topology, TopologyBuilder, TopologyContext,
        DEFAULT_STREAM,
    };
    pub use gale_transport::{ring, RingConfig, WaitStrategy, Waiter};
}

/// The README and the guide's pages in `docs/`, compiled as doc tests so
/// that their Rust examples keep building.
#[cfg(doctest)]
mod guide {
    #[doc = include_str!("../README.md")]
    struct Readme;
    #[doc = include_str!("../docs/guide.md")]
    struct Guide;
    #[doc = include_str!("../docs/topology-files.md")]
    struct TopologyFiles;
    #[doc = include_str!("../docs/internals.md")]
    struct Internals;
    #[doc = include_str!("../docs/windows-and-state.md")]
    struct WindowsAndState;
    #[doc = include_str!("../docs/connectors.md")]
    struct Connectors;
}
