//! [`main`]: the stock `gale` tool, its subcommands and their dispatch.

use std::ffi::OsString;
use std::io::{self, Write};
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser, Subcommand};

use super::bench::{self, BenchArgs};
use super::cluster_ctl::{self, ControlArgs, KillArgs};
use super::error::CliError;
use super::execute::run_built;
use super::exit::{clap_exit, finish};
use super::file::{self, ValidateArgs};
use super::logging::{self, LogFormat};
use super::node::{self, resolve_topology, NodeArgs, PlanArgs};
use super::rebalance::{self, RebalanceArgs};
use super::run_args::RunArgs;
use super::stats::{self, StatsArgs};
use crate::builtin;

/// Gale: a Storm-style stream-processing engine on shared-memory rings.
#[derive(Parser, Debug)]
#[command(name = "gale", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Log lines on stderr as text or as one JSON object per line
    /// (filter with RUST_LOG, e.g. RUST_LOG=info).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// Options of `gale list`.
#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// List what the cluster of this file runs, node by node.
    #[arg(long, value_name = "FILE")]
    pub cluster: Option<std::path::PathBuf>,
    /// With --cluster: send `Authorization: Bearer TOKEN`, the token read
    /// from FILE (nodes started with `--metrics-token-file`).
    #[arg(long, value_name = "FILE", requires = "cluster")]
    pub token_file: Option<std::path::PathBuf>,
}

/// The subcommands of `gale`.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a built-in topology in this process and report its counters.
    Run(RunArgs),
    /// List the built-in topologies, or with --cluster the topology a
    /// cluster runs: each node's status (ACTIVE, INACTIVE, REBALANCING,
    /// KILLED, DOWN), uptime, tasks, workers and task counts.
    List(ListArgs),
    /// Activate a deactivated topology on every node of a cluster.
    Activate(ControlArgs),
    /// Deactivate a topology on every node of a cluster: spouts stop
    /// emitting, tuples in flight are still processed and acked.
    Deactivate(ControlArgs),
    /// Kill a topology on every node of a cluster: deactivate, wait,
    /// drain, stop each node cleanly (each prints its report and exits).
    Kill(KillArgs),
    /// Change components' task counts on every node of a running cluster
    /// (`-e split=8`): deactivate, drain, restart each node's topology
    /// in-process with the new plan, activate.
    Rebalance(RebalanceArgs),
    /// Run this node's share of a topology over several nodes (one
    /// process per node; the same command on every node).
    Node(NodeArgs),
    /// Print where every task of a topology runs in a cluster, and the
    /// fingerprint its nodes compare, without starting anything.
    Plan(PlanArgs),
    /// Benchmark a storm-perf topology: throughput after a warm-up,
    /// open-loop latency at a fixed --rate, CPU per tuple.
    Bench(BenchArgs),
    /// Check a topology file and report every error with its location.
    Validate(ValidateArgs),
    /// Print the live metrics of a node's metrics endpoint as a table, or
    /// with --cluster every node's, summed (down nodes named).
    Stats(StatsArgs),
    /// Print a new random cluster secret (32 bytes in hex) for a cluster
    /// file's `secret` or a `secret_file`: `gale secret > secret &&
    /// chmod 600 secret`.
    Secret,
}

/// The `gale` tool: parses the process's arguments and runs the
/// subcommand. Returns the exit code (2 for bad usage, 1 for a failed run).
pub fn main() -> ExitCode {
    main_from(std::env::args_os())
}

/// [`main`] with explicit arguments (the first is the program name).
pub fn main_from<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => return clap_exit(&e),
    };
    let default_log = if matches!(cli.command, Command::Node(_)) {
        "info"
    } else {
        "warn"
    };
    logging::init(cli.log_format, default_log);
    let result = match cli.command {
        Command::Run(args) if crate::topofile::is_topology_file(&args.name) => file::run(&args),
        Command::Run(args) => run_builtin(&args),
        Command::List(ListArgs { cluster: None, .. }) => list(),
        Command::List(ListArgs {
            cluster: Some(file),
            token_file,
        }) => cluster_ctl::list(&file, token_file.as_deref()),
        Command::Activate(args) => cluster_ctl::activate(&args, true),
        Command::Deactivate(args) => cluster_ctl::activate(&args, false),
        Command::Kill(args) => cluster_ctl::kill(&args),
        Command::Rebalance(args) => rebalance::command(&args),
        Command::Node(args) => node::run_builtin_node(&args),
        Command::Plan(args) => node::plan_builtin(&args),
        Command::Stats(args) => stats_command(&args),
        Command::Bench(args) => return bench(&args),
        Command::Validate(args) => file::validate(&args),
        Command::Secret => print_secret(),
    };
    finish(result)
}

/// `gale stats URL` or `gale stats --cluster FILE`.
fn stats_command(args: &StatsArgs) -> Result<(), CliError> {
    let token = cluster_ctl::read_token(args.token_file.as_deref())?;
    let out = &mut io::stdout().lock();
    match (&args.cluster, &args.url) {
        (Some(cluster), _) => cluster_ctl::stats(cluster, token.as_deref(), out),
        (None, Some(url)) => Ok(stats::print_with_token(url, token.as_deref(), out)?),
        (None, None) => Err(CliError::Control("give a URL or --cluster FILE".into())),
    }
}

/// `gale secret`: a new secret on stdout.
fn print_secret() -> Result<(), CliError> {
    let secret = gale_engine::cluster::generate_secret()?;
    writeln!(io::stdout().lock(), "{secret}")?;
    Ok(())
}

/// Runs `gale bench` with parsed arguments; returns the exit code (2 for
/// options that do not go together, 1 for a failed run).
fn bench(args: &BenchArgs) -> ExitCode {
    if let Err(msg) = bench::check(args) {
        let mut cmd = Cli::command();
        // Built, the subcommand's usage line reads `gale bench ...`.
        cmd.build();
        let e = match cmd.find_subcommand_mut("bench") {
            Some(bench) => bench.error(ErrorKind::ArgumentConflict, msg),
            None => cmd.error(ErrorKind::ArgumentConflict, msg),
        };
        return clap_exit(&e);
    }
    finish(bench::run(args))
}

fn run_builtin(args: &RunArgs) -> Result<(), CliError> {
    file::reject_file_flags(&args.topology)?;
    let opts = args.topology.options(args.engine.threads);
    let built = resolve_topology(&args.name, &opts)?;
    run_built(
        args,
        built,
        "has no --count, so it runs",
        "set --duration or --count",
    )
}

fn list() -> Result<(), CliError> {
    let mut out = io::stdout().lock();
    let width = builtin::names().iter().map(|n| n.len()).max().unwrap_or(0);
    for name in builtin::names() {
        let about = builtin::describe(name).unwrap_or_default();
        writeln!(out, "{name:<width$}  {about}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("gale").chain(args.iter().copied()))
    }

    fn parse_bench(args: &[&str]) -> Result<BenchArgs, clap::Error> {
        let cli = Cli::try_parse_from(["gale", "bench"].into_iter().chain(args.iter().copied()))?;
        match cli.command {
            Command::Bench(b) => Ok(b),
            other => panic!("not bench: {other:?}"),
        }
    }

    #[test]
    fn run_flags_parse() {
        let cli = parse(&[
            "run",
            "wordcount",
            "--threads",
            "2",
            "--duration",
            "1.5",
            "--no-pin",
            "--sentences",
            "7",
            "--json",
        ])
        .unwrap();
        let Command::Run(args) = cli.command else {
            panic!("not run");
        };
        assert_eq!(args.name, "wordcount");
        assert_eq!(args.topology.count, Some(7));
        assert_eq!(args.duration, Some(Duration::from_millis(1500)));
        let config = args.engine.run_config(args.duration);
        assert_eq!(config.threads, 2);
        assert!(!config.pin);
        assert!(args.engine.json);
    }

    #[test]
    fn last_of_pin_and_no_pin_wins() {
        let cli = parse(&["run", "wordcount", "--no-pin", "--pin"]).unwrap();
        let Command::Run(args) = cli.command else {
            panic!("not run");
        };
        assert!(args.engine.run_config(None).pin);
    }

    #[test]
    fn bad_input_is_a_usage_error() {
        for args in [
            &["run", "nope"][..],
            &["run", "wordcount", "--threads", "-1"],
            &["run", "wordcount", "--duration", "0"],
            &["run", "wordcount", "--duration", "soon"],
            &["run", "wordcount", "--bogus"],
            &["run"],
        ] {
            assert!(parse(args).is_err(), "{args:?} parsed");
        }
        let err = parse(&["run", "nope"]).unwrap_err().to_string();
        assert!(err.contains("const-spout-null-bolt"), "{err}");
    }

    #[test]
    fn node_and_plan_parse() {
        let cli = parse(&[
            "node",
            "--cluster",
            "c.toml",
            "--node",
            "2",
            "wordcount",
            "--count",
            "5",
            "--ack",
            "--duration",
            "3",
            "--json",
        ])
        .unwrap();
        let Command::Node(args) = cli.command else {
            panic!("not node");
        };
        assert_eq!((args.name.as_str(), args.node.node), ("wordcount", 2));
        assert_eq!(args.topology.count, Some(5));
        assert!(args.topology.ack && args.node.json);
        assert_eq!(args.node.duration, Some(Duration::from_secs(3)));
        assert_eq!(args.node.connect_timeout, Duration::from_secs(120));
        let cli = parse(&[
            "plan",
            "--cluster",
            "c.toml",
            "wordcount",
            "--tuple-size",
            "9",
        ])
        .unwrap();
        assert!(matches!(cli.command, Command::Plan(p) if p.topology.tuple_size == Some(9)));
        for args in [
            &["node", "wordcount", "--node", "1"][..],
            &["node", "--cluster", "c.toml", "wordcount"],
            &["node", "--cluster", "c.toml", "--node", "-1", "wordcount"],
            &["plan", "wordcount"],
        ] {
            assert!(parse(args).is_err(), "{args:?} parsed");
        }
    }

    #[test]
    fn command_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn bench_flags_parse() {
        let a = parse_bench(&["wordcount"]).unwrap();
        assert_eq!(a.duration, Duration::from_secs(10));
        assert_eq!(a.warmup, Duration::from_secs(2));
        assert_eq!(a.rate, None);
        let a = parse_bench(&[
            "const-spout-null-bolt",
            "--warmup",
            "0",
            "--duration",
            "0.5",
            "--rate",
            "1000",
            "--ack",
            "--max-pending",
            "8",
            "--tuple-size",
            "64",
            "--threads",
            "2",
            "--json",
        ])
        .unwrap();
        assert_eq!(a.warmup, Duration::ZERO);
        assert_eq!(a.duration, Duration::from_millis(500));
        assert_eq!((a.rate, a.ack, a.max_pending), (Some(1000), true, Some(8)));
        assert!(bench::check(&a).is_ok());
    }

    #[test]
    fn bad_bench_options_are_refused() {
        for args in [
            &["nope"][..],
            &["wordcount", "--rate", "0"],
            &["wordcount", "--duration", "0"],
            &["wordcount", "--warmup", "-1"],
            &["wordcount", "--max-pending", "4"],
        ] {
            assert!(parse_bench(args).is_err(), "{args:?} parsed");
        }
        for args in [
            &["wordcount", "--file", "x.txt"][..],
            &["wordcount", "--tuple-size", "8"],
            &["baseline-crossbeam", "--ack"],
            &["baseline-crossbeam", "--spouts", "2"],
            &["baseline-ring", "--ack"],
            &["baseline-ring", "--bolts", "2"],
            &["wordcount", "--grouping", "shuffle"],
        ] {
            let a = parse_bench(args).unwrap();
            assert!(bench::check(&a).is_err(), "{args:?} accepted");
        }
    }
}
