//! [`RunArgs`]: the options of `gale run`.

use std::time::Duration;

use clap::Args;

use super::engine_args::EngineArgs;
use super::parse::{parse_secs, parse_topology};
use super::topology_args::TopologyArgs;

/// Options of `gale run`.
#[derive(Args, Debug)]
#[command(after_help = "\
A run ends when --duration is up, or, with --count and no --duration, when \
the spouts have emitted everything and every tuple has been processed. With \
neither, the run lasts 10 s. For a finite wordcount the final counts are \
printed on stdout, one `word<TAB>count` line per word sorted by word, before \
the JSON of --json. Ctrl-C (SIGINT) or SIGTERM drains the run, prints its \
report (no counts: they are partial) and exits with 130 or 143; a second \
signal ends it at once.")]
pub struct RunArgs {
    /// The built-in topology to run (`gale list` describes them), or a
    /// topology file (`.yaml`/`.yml`, see `docs/topology-files.md`), or a
    /// streamparse project's `topologies/NAME.py` (see `docs/python.md`).
    #[arg(value_name = "TOPOLOGY", value_parser = parse_topology)]
    pub name: String,
    /// Stop after SECS seconds (fractions allowed) [default: when the
    /// spouts finish with --count, else 10 s].
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub duration: Option<Duration>,
    /// The topology's options.
    #[command(flatten)]
    pub topology: TopologyArgs,
    /// Engine options.
    #[command(flatten)]
    pub engine: EngineArgs,
}
