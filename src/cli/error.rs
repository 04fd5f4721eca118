//! [`CliError`]: why a command failed.

use std::io;

use gale_engine::RunError;

use super::stats::StatsError;
use crate::builtin::BuiltinError;

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The built-in topology could not be built.
    #[error(transparent)]
    Builtin(#[from] BuiltinError),
    /// The engine could not run the topology.
    #[error("the run failed: {0}")]
    Run(#[from] RunError),
    /// The cluster file is missing, malformed or does not name this node.
    #[error("cluster file: {0}")]
    Cluster(#[from] gale_engine::cluster::ClusterError),
    /// A flag of built-in topologies was given with a topology file.
    #[error("{0} applies to built-in topologies; a topology file sets it in the file")]
    BuiltinFlag(&'static str),
    /// A signal stopped the run (exit code 128 + the signal: 130 for
    /// SIGINT, 143 for SIGTERM), after it drained and reported.
    #[error("stopped by {} (drained; the report above is the run's)", super::signals::name(*.0))]
    Stopped(i32),
    /// The cluster file has no `metrics_port`: no control channel.
    #[error("the cluster file sets no `metrics_port`: the control channel is served on each node's metrics port")]
    NoControl,
    /// A control request failed.
    #[error("control: {0}")]
    Control(String),
    /// A flag of topology files was given with a built-in topology.
    #[error("{0} applies to topology files")]
    FileFlag(&'static str),
    /// The topology file could not be loaded.
    #[error(transparent)]
    TopologyFile(#[from] crate::topofile::LoadError),
    /// Writing the results failed (e.g. stdout was closed).
    #[error("cannot write the results: {0}")]
    Output(#[from] io::Error),
    /// The metrics endpoint could not start.
    #[error(transparent)]
    Serve(#[from] crate::monitor::ServeError),
    /// `gale stats` failed.
    #[error(transparent)]
    Stats(#[from] StatsError),
    /// The node lost peers while it ran (exit code 3): what was in flight
    /// to and from them is gone, and what they held in memory too.
    #[error(
        "node {node} lost peer(s) {peers:?} during the run: tuples in flight to and from them \
         were lost, and their in-memory results with them (see the WARN lines above)"
    )]
    PeerLost {
        /// This node.
        node: u32,
        /// The peers lost.
        peers: Vec<u32>,
    },
}
