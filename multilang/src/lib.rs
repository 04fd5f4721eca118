//! gale-multilang: Storm's multi-lang protocol, so spouts and bolts written
//! in other languages (Python with pystorm or streamparse) run unchanged
//! in a Gale topology as subprocesses.
//!
//! - [`ShellBolt`]: a [`Bolt`](gale_engine::Bolt) whose work is done by a
//!   child process. Asynchronous, as in Storm: inputs are written to the
//!   child, which acks, fails and emits whenever it likes; at most
//!   [`ShellConfig::max_pending`] inputs are outstanding per child.
//! - [`ShellSpout`]: a [`Spout`](gale_engine::Spout) driven by a child.
//!   Synchronous, as in Storm: `next`, `ack`, `fail`, `activate`,
//!   `deactivate`, each answered by emits and a `sync`.
//! - [`ShellConfig`]: the command, its streams and the protocol settings;
//!   [`Serializer`]: JSON (Storm's default) or msgpack; [`Protocol`]:
//!   Storm's, or Gale's batched protocol (negotiated in the handshake;
//!   length-prefixed msgpack frames carrying many tuples each), which the
//!   `gale` Python package (`python/`) speaks.
//!
//! Children are supervised: a child that exits, writes what cannot be
//! read, or stays silent longer than the subprocess timeout (heartbeats
//! are sent every second) is killed, its pending inputs are failed (so
//! spouts replay them), the error is reported with the component and the
//! tail of the child's stderr, and a new child is started.
//!
//! ```no_run
//! use gale_engine::TopologyBuilder;
//! use gale_multilang::{ShellBolt, ShellConfig};
//! # use gale_engine::{OutputFieldsDeclarer, Spout, SpoutOutput};
//! # struct Sentences;
//! # impl Spout for Sentences {
//! #     fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) { d.declare(["sentence"]); }
//! #     fn next_tuple(&mut self, _out: &mut SpoutOutput<'_>) {}
//! # }
//!
//! let split = ShellConfig::new("python3", ["split.py"]).stream("default", ["word"]);
//! let mut builder = TopologyBuilder::new("words");
//! builder.set_spout("sentences", || Sentences, 1);
//! builder
//!     .set_bolt("split", move || ShellBolt::new(split.clone()), 2)
//!     .shuffle_grouping("sentences");
//! let topology = builder.build().unwrap();
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod bolt;
mod config;
mod error;
mod frame;
#[cfg(test)]
mod fuzz_tests;
mod msgpack;
mod process;
mod protocol;
mod serializer;
mod shell;
mod snippet;
mod spout;
mod stdin;
mod wire;

pub use bolt::ShellBolt;
pub use config::{Protocol, ShellConfig, StreamSpec, BATCHED_MAX_PENDING};
pub use error::ShellError;
pub use serializer::{Serializer, MAX_MESSAGE};
pub use spout::ShellSpout;
