#![doc = include_str!("../README.md")]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

/// The tuple codec: values, tuples, archived views and frames
/// (the `gale-codec` crate).
pub use gale_codec as codec;
/// Connectors: the Redis Streams spout, the Redis and PostgreSQL bolts
/// (the `gale-connectors` crate; see `docs/connectors.md`).
pub use gale_connectors as connectors;
/// The engine: topologies, groupings, the local runtime (the
/// `gale-engine` crate).
pub use gale_engine as engine;
/// Multi-lang: shell spouts and bolts run as subprocesses speaking
/// Storm's multi-lang protocol (the `gale-multilang` crate).
pub use gale_multilang as multilang;
/// Transports: shared-memory rings and wait strategies (the
/// `gale-transport` crate).
pub use gale_transport as transport;

pub mod builtin;
pub mod cli;
pub mod monitor;
pub mod topofile;

pub use gale_codec::{
    view_checked, view_trusted, ArchivedValue, EncodeError, Encoder, FieldError, Fields,
    FieldsError, Frame, FrameError, FrameWriter, Header, Tuple, TupleRef, TupleView, Value,
};
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
    pub use gale_engine::{
        Bolt, BoltOutput, Grouping, Input, InputBatch, LocalCluster, OutputFieldsDeclarer,
        RunConfig, Spout, SpoutOutput, TaskId, Topology, TopologyBuilder, TopologyContext,
        DEFAULT_STREAM,
    };
    pub use gale_transport::{ring, RingConfig, WaitStrategy, Waiter};
}

/// The guide's pages in `docs/`, compiled as doc tests so that their Rust
/// examples keep building.
#[cfg(doctest)]
mod guide {
    #[doc = include_str!("../docs/multilang.md")]
    struct Multilang;
    #[doc = include_str!("../docs/link.md")]
    struct Link;
    #[doc = include_str!("../docs/connectors.md")]
    struct Connectors;
}
