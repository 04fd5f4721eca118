//! Built-in topologies: Storm's classic examples and storm-perf's
//! micro-benchmarks, ready to run with `gale run <name>` and reusable (with
//! their spouts and bolts) by benchmarks and tests.
//!
//! | name | what it is |
//! |------|------------|
//! | `wordcount` | sentences → split into words → count per word ([`wordcount`]) |
//! | `stateful-wordcount` | the word count with checkpointed state ([`stateful_wordcount`]) |
//! | `file-read-wordcount` | the word count over the lines of a text file ([`file_read_wordcount`]) |
//! | `exclamation` | words → append `!!!` → append `!!!` again ([`exclamation`]) |
//! | `const-spout-only` | a spout emitting a constant tuple ([`const_spout_only`]) |
//! | `const-spout-null-bolt` | constant spout → a bolt that drops everything ([`const_spout_null_bolt`]) |
//! | `const-spout-id-bolt-null-bolt` | constant spout → identity bolt → null bolt ([`const_spout_id_bolt_null_bolt`]) |
//! | `rolling-top-words` | storm-starter's RollingTopWords on event-time windows ([`rolling_top_words`]) |
//! | `rolling-top-words-slots` | the same counted in slots by a plain bolt, as storm-starter does |
//!
//! ```
//! use gale::builtin::{self, BuiltinOptions};
//!
//! let opts = BuiltinOptions { count: Some(1_000), ..BuiltinOptions::default() };
//! let built = builtin::build("wordcount", &opts)?;
//! assert!(built.finite);
//! assert!(builtin::build("nope", &opts).is_err());
//! # Ok::<(), gale::builtin::BuiltinError>(())
//! ```

mod built;
pub mod const_spout_id_bolt_null_bolt;
pub mod const_spout_null_bolt;
pub mod const_spout_only;
mod error;
pub mod exclamation;
pub mod file_read_wordcount;
mod options;
pub mod perf;
pub mod probe;
mod registry;
mod replay;
pub mod rolling_top_words;
pub mod stateful_wordcount;
pub mod storm_testing;
mod text_error;
pub mod wordcount;

pub use built::Built;
pub use error::BuiltinError;
pub use options::{BuiltinOptions, PerfGrouping};
pub use probe::{Pacer, Probe, Recorder};
pub use registry::{build, describe, names};
pub use replay::Replayer;
pub use rolling_top_words::RankingSink;
pub use text_error::TextError;
pub use wordcount::CountSink;
