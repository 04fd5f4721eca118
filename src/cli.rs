//! The `gale` command line, and the same options for your own binaries.
//!
//! - [`main`]: the stock `gale` tool (`gale run <name>`, `gale list`,
//!   `gale node`, `gale plan`, `gale stats <url>`, `gale bench <name>`:
//!   see [`BenchArgs`]; and for a running cluster `gale list --cluster`,
//!   `gale activate`, `gale deactivate`, `gale kill`, `gale rebalance`:
//!   see [`send_action`], [`rebalance`] and [`cluster_status`]).
//! - [`run`]: one call that gives a binary of yours the run options of
//!   `gale run` (`--threads`, `--duration`, `--pin`/`--no-pin`,
//!   `--busy-spin`, `--json`) for a topology you built:
//!
//! ```no_run
//! # fn topology() -> gale::engine::Topology { unimplemented!() }
//! fn main() -> std::process::ExitCode {
//!     gale::cli::run(topology())
//! }
//! ```
//!
//! At the end of a run a table of per-component counters goes to stderr;
//! with `--json`, one JSON object goes to stdout ([`Report::to_json`]).

mod bench;
mod cluster_ctl;
mod engine_args;
mod error;
mod execute;
mod exit;
mod file;
mod logging;
mod node;
mod parse;
mod progress;
mod rebalance;
mod report;
mod run_args;
mod signals;
mod stats;
mod tool;
mod topology_args;
mod user;

pub use bench::{rate_tolerance, BenchArgs, BENCHES};
pub use cluster_ctl::{cluster_status, endpoints, send_action, ControlArgs, KillArgs, NodeStatus};
pub use engine_args::EngineArgs;
pub use error::CliError;
pub use execute::{execute, DEFAULT_DURATION};
pub use file::ValidateArgs;
pub use logging::LogFormat;
pub use node::{resolve_topology, NodeArgs, NodeOptions, PlanArgs};
pub use rebalance::{rebalance, RebalanceArgs};
pub use report::{Report, Row, Shape};
pub use run_args::RunArgs;
pub use stats::{StatsArgs, StatsError};
pub use tool::{main, main_from, Cli, Command, ListArgs};
pub use topology_args::TopologyArgs;
pub use user::{run, run_from};
