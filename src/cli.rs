//! The `gale` command line, and the same options for your own binaries.
//!
//! - [`main`]: the stock `gale` tool (`gale run <name>`, `gale list`,
//!   `gale node`, `gale plan`, `gale stats <url>`, `gale bench <name>`:
//!   see [`BenchArgs`]).
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
mod file;
mod logging;
mod node;
mod progress;
mod report;
mod stats;
mod topology_args;

pub use bench::{rate_tolerance, BenchArgs, BENCHES};
pub use file::ValidateArgs;
pub use logging::LogFormat;
pub use node::{resolve_topology, NodeArgs, NodeOptions, PlanArgs};
pub use report::{Report, Row, Shape};
pub use stats::StatsError;
pub use topology_args::TopologyArgs;

use std::ffi::OsString;
use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use gale_engine::{LocalCluster, RunConfig, RunError, Topology, TopologyStats};
use gale_transport::WaitStrategy;

use crate::builtin::{self, BuiltinError};

/// How long `gale run` runs a topology that would not stop by itself.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);

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

/// The subcommands of `gale`.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a built-in topology in this process and report its counters.
    Run(RunArgs),
    /// List the built-in topologies.
    List,
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
    /// Print the live metrics of a node's metrics endpoint as a table.
    Stats(StatsArgs),
    /// Print a new random cluster secret (32 bytes in hex) for a cluster
    /// file's `secret` or a `secret_file`: `gale secret > secret &&
    /// chmod 600 secret`.
    Secret,
}

/// Options of `gale stats`.
#[derive(Args, Debug)]
pub struct StatsArgs {
    /// The endpoint, e.g. http://127.0.0.1:9090 (as given to
    /// --metrics-addr).
    #[arg(value_name = "URL")]
    pub url: String,
    /// Send `Authorization: Bearer TOKEN`, the token read from FILE (for
    /// an endpoint started with `--metrics-token-file`).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<std::path::PathBuf>,
}

/// Options of `gale run`.
#[derive(Args, Debug)]
#[command(after_help = "\
A run ends when --duration is up, or, with --count and no --duration, when \
the spouts have emitted everything and every tuple has been processed. With \
neither, the run lasts 10 s. For a finite wordcount the final counts are \
printed on stdout, one `word<TAB>count` line per word sorted by word, before \
the JSON of --json.")]
pub struct RunArgs {
    /// The built-in topology to run (`gale list` describes them), or a
    /// topology file (`.yaml`/`.yml`, see `docs/topology-files.md`), or a
    /// streamparse project's `topologies/NAME.py` (see `docs/python.md`).
    #[arg(value_name = "TOPOLOGY", value_parser = file::parse_topology)]
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

/// Engine options shared by `gale run` and [`run`]; flatten them into
/// your own clap parser to offer the same flags.
#[derive(Args, Debug, Clone, Default)]
pub struct EngineArgs {
    /// Worker threads (0 = one per core).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub threads: usize,
    /// Pin worker threads to cores (the default).
    #[arg(long, overrides_with = "no_pin")]
    pub pin: bool,
    /// Do not pin worker threads.
    #[arg(long, overrides_with = "pin")]
    pub no_pin: bool,
    /// Busy-spin while idle instead of spin-yield-park (lowest latency,
    /// burns every worker's core).
    #[arg(long)]
    pub busy_spin: bool,
    /// Print one JSON object with the run's counters on stdout.
    #[arg(long)]
    pub json: bool,
    /// Serve live metrics over HTTP on ADDR (e.g. 127.0.0.1:9090; port 0
    /// picks one): /metrics (Prometheus), /api/v1/... (JSON), / (a live
    /// page). Off by default.
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<String>,
    /// Require `Authorization: Bearer TOKEN` on every metrics request, the
    /// token read from FILE (private to its owner: mode 600).
    #[arg(long, value_name = "FILE")]
    pub metrics_token_file: Option<std::path::PathBuf>,
    /// Fraction of executes whose latency is measured (Storm's stats
    /// sample rate).
    #[arg(long, value_name = "RATE", default_value_t = 0.05, value_parser = parse_rate)]
    pub sample_rate: f64,
    /// Turn live metrics off (per-stream counts, latencies, ring
    /// occupancy, backpressure time); totals are still reported.
    #[arg(long)]
    pub no_metrics: bool,
    /// Do not chain bolts to the tasks of their own thread that emit to
    /// them: every same-thread tuple goes through the local queue (to
    /// measure what chaining saves; results are the same).
    #[arg(long)]
    pub no_chain: bool,
}

impl EngineArgs {
    /// Starts the metrics endpoint if `--metrics-addr` asks for one (with
    /// the bearer token of `--metrics-token-file`, if given).
    pub(crate) fn start_metrics(&self) -> Result<Option<crate::monitor::MetricsServer>, CliError> {
        let Some(addr) = &self.metrics_addr else {
            return Ok(None);
        };
        let token = match &self.metrics_token_file {
            Some(file) => Some(gale_engine::cluster::read_private_file(file)?),
            None => None,
        };
        Ok(Some(crate::monitor::MetricsServer::start_with_token(
            addr.as_str(),
            token,
        )?))
    }

    /// The engine configuration these options ask for, running for
    /// `duration` (`None`: until the topology finishes by itself).
    pub fn run_config(&self, duration: Option<Duration>) -> RunConfig {
        let default = RunConfig::default();
        RunConfig {
            threads: self.threads,
            pin: self.pin || !self.no_pin,
            wait: if self.busy_spin {
                WaitStrategy::BusySpin
            } else {
                default.wait
            },
            duration,
            metrics: gale_engine::MetricsConfig {
                enabled: !self.no_metrics,
                sample_rate: self.sample_rate,
                ..default.metrics
            },
            chain: !self.no_chain,
            ..default
        }
    }
}

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
    /// `--state-dir` given to `gale node`: checkpoints are coordinated
    /// within one process only, so far.
    #[error("--state-dir works with `gale run` only: checkpoints across nodes are not built yet")]
    StateAcrossNodes,
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
        Command::List => list(),
        Command::Node(args) => node::run_builtin_node(&args),
        Command::Plan(args) => node::plan_builtin(&args),
        Command::Stats(args) => match &args.token_file {
            Some(file) => gale_engine::cluster::read_private_file(file)
                .map_err(CliError::from)
                .and_then(|token| {
                    stats::print_with_token(&args.url, Some(&token), &mut io::stdout().lock())
                        .map_err(Into::into)
                }),
            None => stats::print(&args.url, &mut io::stdout().lock()).map_err(Into::into),
        },
        Command::Bench(args) => return bench::main(&args),
        Command::Validate(args) => file::validate(&args),
        Command::Secret => print_secret(),
    };
    finish(result)
}

/// `gale secret`: a new secret on stdout.
fn print_secret() -> Result<(), CliError> {
    let secret = gale_engine::cluster::generate_secret()?;
    writeln!(io::stdout().lock(), "{secret}")?;
    Ok(())
}

/// Options of a user binary that calls [`run`].
#[derive(Parser, Debug)]
#[command(args_conflicts_with_subcommands = true)]
struct UserArgs {
    /// Run on several nodes instead of in this process.
    #[command(subcommand)]
    command: Option<UserCommand>,
    /// Stop after SECS seconds (fractions allowed) [default: when the
    /// topology finishes by itself; Ctrl-C stops it without a report].
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    duration: Option<Duration>,
    #[command(flatten)]
    engine: EngineArgs,
    /// Log lines on stderr as text or JSON (filter with RUST_LOG).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

/// The subcommands of a user binary that calls [`run`].
#[derive(Subcommand, Debug)]
enum UserCommand {
    /// Run this node's share of the topology over several nodes.
    Node(NodeOptions),
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
    },
}

/// Runs `topology` in this process with the options on the command line
/// (`--threads N`, `--duration SECS`, `--pin`/`--no-pin`, `--busy-spin`,
/// `--json`; `--help` lists them) and prints the report as `gale run`
/// does. Without `--duration` it runs until the topology finishes by
/// itself. Use it as the body of your `main`.
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
    let default_log = if matches!(args.command, Some(UserCommand::Node(_))) {
        "info"
    } else {
        "warn"
    };
    logging::init(args.log_format, default_log);
    let result = match &args.command {
        Some(UserCommand::Node(opts)) => node::run_user_node(topology, opts),
        Some(UserCommand::Plan { cluster }) => node::plan_user(topology, cluster),
        Some(UserCommand::Bench {
            duration,
            warmup,
            engine,
        }) => {
            let bench = BenchArgs::for_topology(&topology, *duration, *warmup, engine);
            bench::run_topology(topology, &bench)
        }
        None => execute(topology, &args.engine, args.duration)
            .and_then(|(report, _)| print_report(&report, args.engine.json)),
    };
    finish(result)
}

/// Submits `topology` to a [`LocalCluster`] configured by `engine`, waits
/// for the end of the run (after `duration`, or when it finishes by itself
/// for `None`) and returns its report and raw counters.
pub fn execute(
    topology: Topology,
    engine: &EngineArgs,
    duration: Option<Duration>,
) -> Result<(Report, TopologyStats), CliError> {
    let shape = Shape::of(&topology);
    // Bound before the topology starts, so a bad address costs no run;
    // it serves until the report is made (the final figures included).
    let server = engine.start_metrics()?;
    let cluster = LocalCluster::new(engine.run_config(duration));
    let running = cluster.submit(topology)?;
    let handle = running.metrics_handle();
    if let Some(server) = &server {
        server.add(handle.clone());
        note(format_args!("gale: metrics on {}", server.url()));
    }
    let progress = progress::Progress::start(handle.clone());
    let result = running.wait();
    if let Some(p) = progress {
        p.finish();
    }
    let stats = result?;
    let mut report = Report::new(&shape, &stats);
    report.metrics = Some(handle.metrics());
    Ok((report, stats))
}

fn run_builtin(args: &RunArgs) -> Result<(), CliError> {
    let opts = args.topology.options(args.engine.threads);
    let built = resolve_topology(&args.name, &opts)?;
    run_built(
        args,
        built,
        "has no --count, so it runs",
        "set --duration or --count",
    )
}

/// Runs `built` as `args` say: for `--duration`, or, if it is finite,
/// until it finishes (then prints its counts, if any). An endless topology
/// without `--duration` runs for [`DEFAULT_DURATION`], with a line saying
/// `why` and `what` to set.
fn run_built(args: &RunArgs, built: builtin::Built, why: &str, what: &str) -> Result<(), CliError> {
    let duration = match (args.duration, built.finite) {
        (Some(d), _) => Some(d),
        (None, true) => None,
        (None, false) => {
            note(format_args!(
                "gale: `{}` {why} for {} s ({what})",
                args.name,
                DEFAULT_DURATION.as_secs()
            ));
            Some(DEFAULT_DURATION)
        }
    };
    let (report, _) = execute(built.topology, &args.engine, duration)?;
    if let (Some(counts), true) = (&built.counts, built.finite) {
        print_counts(counts)?;
    }
    if let (Some(rankings), true) = (&built.rankings, built.finite) {
        print_rankings(rankings)?;
    }
    print_report(&report, args.engine.json)
}

/// Prints `rolling-top-words`' rankings on stdout, one line per window
/// by end: `END_MS<TAB>word=count word=count ...`, best first.
fn print_rankings(rankings: &builtin::RankingSink) -> Result<(), CliError> {
    let mut out = io::BufWriter::new(io::stdout().lock());
    for (end, ranking) in rankings.snapshot() {
        write!(out, "{end}\t")?;
        for (i, (word, n)) in ranking.iter().enumerate() {
            let sep = if i == 0 { "" } else { " " };
            write!(out, "{sep}{word}={n}")?;
        }
        writeln!(out)?;
    }
    out.flush()?;
    Ok(())
}

/// Prints a word count's final counts on stdout, one `word<TAB>count` line
/// per word, sorted by word.
fn print_counts(counts: &builtin::CountSink) -> Result<(), CliError> {
    let mut out = io::BufWriter::new(io::stdout().lock());
    for (word, n) in counts.snapshot() {
        writeln!(out, "{word}\t{n}")?;
    }
    out.flush()?;
    Ok(())
}

/// Writes the table on stderr and, if `json`, the JSON object on stdout.
fn print_report(report: &Report, json: bool) -> Result<(), CliError> {
    report.write_text(&mut io::stderr().lock())?;
    if json {
        let mut out = io::stdout().lock();
        writeln!(out, "{}", report.to_json())?;
        out.flush()?;
    }
    Ok(())
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

fn finish(result: Result<(), CliError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ CliError::PeerLost { .. }) => {
            note(format_args!("gale: error: {e}"));
            ExitCode::from(3)
        }
        Err(e) => {
            note(format_args!("gale: error: {e}"));
            ExitCode::FAILURE
        }
    }
}

/// Writes a line to stderr; a closed stderr (`gale ... 2>&1 | head`) is
/// not an error: the line is dropped, where `eprintln!` would panic.
pub(crate) fn note(line: std::fmt::Arguments<'_>) {
    let _ = writeln!(io::stderr().lock(), "{line}");
}

/// Prints a clap error or help text and turns it into the exit code clap
/// would use.
fn clap_exit(e: &clap::Error) -> ExitCode {
    let _ = e.print();
    ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2))
}

/// Parses a sample rate between 0 and 1.
fn parse_rate(s: &str) -> Result<f64, String> {
    let rate: f64 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    if !(0.0..=1.0).contains(&rate) {
        return Err(format!("the sample rate must be between 0 and 1, not {s}"));
    }
    Ok(rate)
}

/// Parses a positive, finite number of seconds.
fn parse_secs(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if secs.is_nan() || secs <= 0.0 {
        return Err(format!("the duration must be more than 0 s, not {s}"));
    }
    let max = gale_engine::MAX_DURATION;
    match Duration::try_from_secs_f64(secs) {
        Ok(d) if d <= max => Ok(d),
        _ => Err(format!(
            "{s} s is longer than the longest duration allowed, {} s (one year)",
            max.as_secs()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("gale").chain(args.iter().copied()))
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
    fn user_binaries_get_node_and_plan() {
        let args = UserArgs::try_parse_from(["me", "node", "--cluster", "c.toml", "--node", "1"]);
        let Ok(UserArgs {
            command: Some(UserCommand::Node(opts)),
            ..
        }) = args
        else {
            panic!("{args:?}");
        };
        assert_eq!((opts.node, opts.cluster.to_str()), (1, Some("c.toml")));
        let args = UserArgs::try_parse_from(["me", "plan", "--cluster", "c.toml"]).unwrap();
        assert!(matches!(args.command, Some(UserCommand::Plan { .. })));
        let args = UserArgs::try_parse_from(["me", "--duration", "2"]).unwrap();
        assert!(args.command.is_none());
        assert!(UserArgs::try_parse_from(["me", "node", "--node", "1"]).is_err());
    }

    #[test]
    fn command_is_consistent() {
        Cli::command().debug_assert();
        UserArgs::command().debug_assert();
    }
}
