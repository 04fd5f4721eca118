//! Topology files: a topology described in YAML (in the spirit of Storm's
//! Flux) — shell spouts and bolts run as subprocesses (Python with
//! pystorm/streamparse), built-in Rust components by name, the streams and
//! groupings between them, and the topology's configuration — loaded into
//! a [`Topology`](gale_engine::Topology) that `gale run topology.yaml` runs.
//!
//! ```yaml
//! name: wordcount-python
//! config:
//!   ackers: 1
//!   max_spout_pending: 500
//! spouts:
//!   - id: sentences
//!     shell:
//!       command: ${GALE_PYTHON:-python3}
//!       args: [sentence_spout.py, json]
//!     streams:
//!       default: [sentence]
//! bolts:
//!   - id: split
//!     parallelism: 2
//!     shell: {command: "${GALE_PYTHON:-python3}", args: [split_bolt.py, json]}
//!     streams:
//!       default: [word]
//!   - id: count
//!     builtin: count
//! streams:
//!   - {from: sentences, to: split, grouping: shuffle}
//!   - {from: split, to: count, grouping: {type: fields, fields: [word]}}
//! ```
//!
//! [`load`] reports every mistake it finds, each with its place in the
//! file (`file:line` where it can tell, and the YAML path), rather than
//! stopping at the first.

mod build;
mod class;
mod config;
#[cfg(test)]
mod connector_classes_tests;
mod connectors;
mod error;
mod include;
mod load;
mod loaded;
mod located;
mod mistakes;
pub mod registry;
mod schema;
mod state;
mod substitute;
mod yaml;

pub use error::LoadError;
pub use load::{
    describe_streamparse, is_topology_file, load, load_full, load_str, load_str_with, load_with,
    project_python, Options,
};
pub use loaded::Loaded;
pub use located::Located;
pub use state::StateFlags;
pub use substitute::Properties;
