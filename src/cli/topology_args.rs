//! [`TopologyArgs`]: the options of a built-in topology, shared by
//! `gale run`, `gale node` and `gale plan`.

use clap::Args;

use crate::builtin::{BuiltinOptions, PerfGrouping};

/// Options that shape a built-in topology.
#[derive(Args, Debug, Clone, Default)]
pub struct TopologyArgs {
    /// Total tuples the spouts emit, split over their tasks (wordcount:
    /// sentences); `gale run` then ends by itself, `gale node` logs when
    /// its spouts have finished.
    #[arg(long, visible_alias = "sentences", value_name = "N")]
    pub count: Option<u64>,
    /// Tasks per spout component [default: 1].
    #[arg(long, value_name = "N")]
    pub spouts: Option<usize>,
    /// Tasks per bolt component [default: --threads (for `gale node`: all
    /// threads of the cluster) for wordcount and exclamation, 1 for the const-spout topologies].
    #[arg(long, value_name = "N")]
    pub bolts: Option<usize>,
    /// Bytes of the constant string the const-spout topologies emit
    /// [default: "some data", 9 bytes].
    #[arg(long, value_name = "BYTES")]
    pub tuple_size: Option<usize>,
    /// Grouping between the const-spout topologies' components.
    #[arg(long, value_enum, default_value_t = PerfGrouping::LocalOrShuffle)]
    pub grouping: PerfGrouping,
    /// Track every tuple with the acker (at-least-once): spouts emit with
    /// message ids and replay failures; the summary adds complete latency.
    #[arg(long)]
    pub ack: bool,
    /// With --ack: at most N tuple trees in flight per spout task
    /// (Storm's max spout pending) [default: unbounded].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_pending: Option<u64>,
    /// Shuffles give every task an even share (Storm's
    /// `topology.disable.loadaware.messaging`) instead of fewer tuples to
    /// tasks on the node's busier worker threads.
    #[arg(long)]
    pub even_shuffle: bool,
    /// stateful-wordcount, or a topology file (over its `config.state`):
    /// checkpoint state into DIR (which must exist) and restore it from
    /// there at start (exactly-once across crashes). With `gale node`,
    /// every node must see the same directory (one machine, or a shared
    /// filesystem).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<std::path::PathBuf>,
    /// stateful-wordcount, or a topology file (over its `config.state`):
    /// checkpoint state into the Redis server at URL
    /// (`redis://HOST:PORT[/DB]`, no password: keys under
    /// `gale:state:TOPOLOGY:`) and restore it from there at start,
    /// instead of a directory.
    #[arg(long, value_name = "URL", conflicts_with = "state_dir")]
    pub state_url: Option<String>,
    /// With --state-dir or --state-url (or a topology file's
    /// `config.state`): checkpoint every MS milliseconds [default: the
    /// file's, else 1000].
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=31_536_000_000))]
    pub checkpoint_ms: Option<u64>,
    /// Topology files: `${key}` in the file becomes `key`'s value in this
    /// properties file (Flux's `--filter`; `${ENV-NAME}` is always the
    /// environment variable NAME).
    #[arg(long, value_name = "FILE")]
    pub filter: Option<std::path::PathBuf>,
}

impl TopologyArgs {
    /// The builder options these ask for, for a run on `threads` worker
    /// threads (0 = one per core).
    pub fn options(&self, threads: usize) -> BuiltinOptions {
        BuiltinOptions {
            threads,
            count: self.count,
            spout_parallelism: self.spouts,
            bolt_parallelism: self.bolts,
            tuple_size: self.tuple_size,
            grouping: self.grouping,
            ack: self.ack,
            max_pending: self.max_pending.map(|n| n as usize),
            even_shuffle: self.even_shuffle,
            state_dir: self.state_dir.clone(),
            state_url: self.state_url.clone(),
            checkpoint_interval: self.checkpoint_ms.map(std::time::Duration::from_millis),
            ..BuiltinOptions::default()
        }
    }
}
