//! [`run`]: the options of `gale run` (and `node`, `plan`, `bench`) for a
//! binary of yours that runs the topology it built.

use std::ffi::OsString;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use gale_engine::Topology;

use super::bench::{self, BenchArgs};
use super::engine_args::EngineArgs;
use super::execute::{execute, print_report};
use super::exit::{clap_exit, finish};
use super::logging::{self, LogFormat};
use super::node::{self, NodeOptions};
use super::parse::parse_secs;

/// Options of a user binary that calls [`run`].
#[derive(Parser, Debug)]
#[command(args_conflicts_with_subcommands = true)]
struct UserArgs {
    /// Run on several nodes instead of in this process.
    #[command(subcommand)]
    command: Option<UserCommand>,
    /// Stop after SECS seconds (fractions allowed) [default: when the
    /// topology finishes by itself; Ctrl-C or SIGTERM drains it, reports
    /// and exits with 130 or 143].
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    duration: Option<Duration>,
    #[command(flatten)]
    engine: EngineArgs,
    /// Shuffles give every task an even share instead of being load aware
    /// (as `Topology::set_load_aware(false)`, Storm's
    /// `topology.disable.loadaware.messaging`).
    #[arg(long)]
    even_shuffle: bool,
    /// Log lines on stderr as text or JSON (filter with RUST_LOG).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

/// The subcommands of a user binary that calls [`run`].
#[derive(Subcommand, Debug)]
enum UserCommand {
    /// Run this node's share of the topology over several nodes.
    Node {
        #[command(flatten)]
        opts: NodeOptions,
        /// Shuffles give every task an even share instead of being load
        /// aware (give it to every node: each node's shuffles are its
        /// own).
        #[arg(long)]
        even_shuffle: bool,
    },
    /// Print where every task runs in a cluster, and the fingerprint.
    Plan {
        /// The cluster file (TOML).
        #[arg(long, value_name = "FILE")]
        cluster: std::path::PathBuf,
    },
    /// Measure the topology as `gale bench` measures its own: throughput
    /// over a window after a warm-up, per component, CPU per tuple, and
    /// acking when its spouts emit with message ids.
    Bench {
        /// Seconds measured, after the warm-up (fractions allowed).
        #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_secs)]
        duration: Duration,
        /// Seconds run before measuring (fractions allowed; 0 for none).
        #[arg(long, value_name = "SECS", default_value = "2", value_parser = bench::parse_warmup)]
        warmup: Duration,
        /// Engine options (--threads, --pin/--no-pin, --busy-spin, --json).
        #[command(flatten)]
        engine: EngineArgs,
        /// Shuffles give every task an even share instead of being load
        /// aware.
        #[arg(long)]
        even_shuffle: bool,
    },
}

/// Runs `topology` in this process with the options on the command line
/// (`--threads N`, `--duration SECS`, `--pin`/`--no-pin`, `--busy-spin`,
/// `--json`; `--help` lists them) and prints the report as `gale run`
/// does. Without `--duration` it runs until the topology finishes by
/// itself. Use it as the body of your `main`.
///
/// `--even-shuffle` (here and after `bench` and `node`) makes shuffles
/// even round robins instead of load aware.
///
/// `node --cluster FILE --node ID` runs the topology as one node of a
/// cluster instead, and `plan --cluster FILE` prints its plan, exactly as
/// `gale node` and `gale plan` do for the built-in topologies.
pub fn run(topology: Topology) -> ExitCode {
    run_from(topology, std::env::args_os())
}

/// [`run`] with explicit arguments (the first is the program name).
pub fn run_from<I, T>(topology: Topology, args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let about = format!(
        "Runs the Gale topology `{}` in this process.",
        topology.name()
    );
    let command = UserArgs::command().about(about);
    let args = match command
        .try_get_matches_from(args)
        .and_then(|m| UserArgs::from_arg_matches(&m))
    {
        Ok(args) => args,
        Err(e) => return clap_exit(&e),
    };
    let default_log = if matches!(args.command, Some(UserCommand::Node { .. })) {
        "info"
    } else {
        "warn"
    };
    logging::init(args.log_format, default_log);
    let result = match &args.command {
        Some(UserCommand::Node { opts, even_shuffle }) => {
            let mut topology = topology;
            if *even_shuffle {
                topology.set_load_aware(false);
            }
            node::run_user_node(topology, opts)
        }
        Some(UserCommand::Plan { cluster }) => node::plan_user(topology, cluster),
        Some(UserCommand::Bench {
            duration,
            warmup,
            engine,
            even_shuffle,
        }) => {
            let mut bench = BenchArgs::for_topology(&topology, *duration, *warmup, engine);
            bench.even_shuffle = *even_shuffle;
            bench::run_topology(topology, &bench)
        }
        None => {
            let mut topology = topology;
            if args.even_shuffle {
                topology.set_load_aware(false);
            }
            execute(topology, &args.engine, args.duration).and_then(|(report, _)| {
                print_report(&report, args.engine.json)?;
                super::execute::stopped_by(&report)
            })
        }
    };
    finish(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_binaries_get_node_and_plan() {
        let args = UserArgs::try_parse_from(["me", "node", "--cluster", "c.toml", "--node", "1"]);
        let Ok(UserArgs {
            command: Some(UserCommand::Node { opts, even_shuffle }),
            ..
        }) = args
        else {
            panic!("{args:?}");
        };
        assert_eq!((opts.node, opts.cluster.to_str()), (1, Some("c.toml")));
        assert!(!even_shuffle);
        let args = UserArgs::try_parse_from([
            "me",
            "node",
            "--cluster",
            "c.toml",
            "--node",
            "2",
            "--even-shuffle",
        ])
        .unwrap();
        assert!(matches!(
            args.command,
            Some(UserCommand::Node {
                even_shuffle: true,
                ..
            })
        ));
        let args = UserArgs::try_parse_from(["me", "plan", "--cluster", "c.toml"]).unwrap();
        assert!(matches!(args.command, Some(UserCommand::Plan { .. })));
        let args = UserArgs::try_parse_from(["me", "--duration", "2"]).unwrap();
        assert!(args.command.is_none() && !args.even_shuffle);
        let args = UserArgs::try_parse_from(["me", "--even-shuffle"]).unwrap();
        assert!(args.command.is_none() && args.even_shuffle);
        let args = UserArgs::try_parse_from(["me", "bench", "--even-shuffle"]).unwrap();
        assert!(matches!(
            args.command,
            Some(UserCommand::Bench {
                even_shuffle: true,
                ..
            })
        ));
        assert!(UserArgs::try_parse_from(["me", "node", "--node", "1"]).is_err());
    }

    #[test]
    fn command_is_consistent() {
        UserArgs::command().debug_assert();
    }
}
