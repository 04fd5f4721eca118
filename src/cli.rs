//! The `gale` command line, and the same options for your own binaries.
//!
//! - [`main`]: the stock `gale` tool (`gale run <name>`, `gale list`).
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

mod file;
mod report;

pub use file::ValidateArgs;

pub use report::{Report, Row, Shape};

use std::ffi::OsString;
use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use gale_engine::{LocalCluster, RunConfig, RunError, Topology, TopologyStats};
use gale_transport::WaitStrategy;

use crate::builtin::{self, BuiltinError, BuiltinOptions, PerfGrouping};

/// How long `gale run` runs a topology that would not stop by itself.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);

/// Gale: a Storm-style stream-processing engine on shared-memory rings.
#[derive(Parser, Debug)]
#[command(name = "gale", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands of `gale`.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a built-in topology in this process and report its counters.
    Run(RunArgs),
    /// List the built-in topologies.
    List,
    /// Check a topology file and report every error with its location.
    Validate(ValidateArgs),
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
    /// topology file (`.yaml`/`.yml`, see the README).
    #[arg(value_name = "TOPOLOGY", value_parser = file::parse_topology)]
    pub name: String,
    /// Stop after SECS seconds (fractions allowed) [default: when the
    /// spouts finish with --count, else 10 s].
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub duration: Option<Duration>,
    /// Total tuples the spouts emit, split over their tasks (wordcount:
    /// sentences); the run then ends by itself.
    #[arg(long, visible_alias = "sentences", value_name = "N")]
    pub count: Option<u64>,
    /// Tasks per spout component [default: 1].
    #[arg(long, value_name = "N")]
    pub spouts: Option<usize>,
    /// Tasks per bolt component [default: --threads for wordcount and
    /// exclamation, 1 for the const-spout topologies].
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
}

impl EngineArgs {
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
    /// A flag of built-in topologies was given with a topology file.
    #[error("{0} applies to built-in topologies; a topology file sets it in the file")]
    BuiltinFlag(&'static str),
    /// The topology file could not be loaded.
    #[error(transparent)]
    TopologyFile(#[from] crate::topofile::LoadError),
    /// Writing the results failed (e.g. stdout was closed).
    #[error("cannot write the results: {0}")]
    Output(#[from] io::Error),
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
    let result = match cli.command {
        Command::Run(args) if crate::topofile::is_topology_file(&args.name) => file::run(&args),
        Command::Run(args) => run_builtin(&args),
        Command::List => list(),
        Command::Validate(args) => file::validate(&args),
    };
    finish(result)
}

/// Options of a user binary that calls [`run`].
#[derive(Parser, Debug)]
struct UserArgs {
    /// Stop after SECS seconds (fractions allowed) [default: when the
    /// topology finishes by itself; Ctrl-C stops it without a report].
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    duration: Option<Duration>,
    #[command(flatten)]
    engine: EngineArgs,
}

/// Runs `topology` in this process with the options on the command line
/// (`--threads N`, `--duration SECS`, `--pin`/`--no-pin`, `--busy-spin`,
/// `--json`; `--help` lists them) and prints the report as `gale run`
/// does. Without `--duration` it runs until the topology finishes by
/// itself. Use it as the body of your `main`.
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
    let result = execute(topology, &args.engine, args.duration)
        .and_then(|(report, _)| print_report(&report, args.engine.json));
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
    let cluster = LocalCluster::new(engine.run_config(duration));
    let stats = cluster.submit(topology)?.wait()?;
    Ok((Report::new(&shape, &stats), stats))
}

fn run_builtin(args: &RunArgs) -> Result<(), CliError> {
    let opts = BuiltinOptions {
        threads: args.engine.threads,
        count: args.count,
        spout_parallelism: args.spouts,
        bolt_parallelism: args.bolts,
        tuple_size: args.tuple_size,
        grouping: args.grouping,
        ack: args.ack,
        max_pending: args.max_pending.map(|n| n as usize),
    };
    let built = builtin::build(&args.name, &opts)?;
    let duration = match (args.duration, built.finite) {
        (Some(d), _) => Some(d),
        (None, true) => None,
        (None, false) => {
            eprintln!(
                "gale: `{}` has no --count, so it runs for {} s (set --duration or --count)",
                args.name,
                DEFAULT_DURATION.as_secs()
            );
            Some(DEFAULT_DURATION)
        }
    };
    let (report, _) = execute(built.topology, &args.engine, duration)?;
    if let (Some(counts), true) = (&built.counts, built.finite) {
        let mut out = io::BufWriter::new(io::stdout().lock());
        for (word, n) in counts.snapshot() {
            writeln!(out, "{word}\t{n}")?;
        }
        out.flush()?;
    }
    print_report(&report, args.engine.json)
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
        Err(e) => {
            eprintln!("gale: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Prints a clap error or help text and turns it into the exit code clap
/// would use.
fn clap_exit(e: &clap::Error) -> ExitCode {
    let _ = e.print();
    ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2))
}

/// Parses a positive, finite number of seconds.
fn parse_secs(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if secs.is_nan() || secs <= 0.0 {
        return Err(format!("the duration must be more than 0 s, not {s}"));
    }
    Duration::try_from_secs_f64(secs).map_err(|e| format!("`{s}` s: {e}"))
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
        assert_eq!(args.count, Some(7));
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
    fn command_is_consistent() {
        Cli::command().debug_assert();
        UserArgs::command().debug_assert();
    }
}
