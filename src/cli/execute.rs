//! Running a topology in this process and reporting on it: [`execute`].

use std::io::{self, Write};
use std::time::Duration;

use gale_engine::{LocalCluster, Topology, TopologyStats};

use super::engine_args::EngineArgs;
use super::error::CliError;
use super::exit::note;
use super::progress;
use super::report::{Report, Shape};
use super::run_args::RunArgs;
use super::signals::StopSignals;
use crate::builtin;

/// How long `gale run` runs a topology that would not stop by itself.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);

/// Submits `topology` to a [`LocalCluster`] configured by `engine`, waits
/// for the end of the run (after `duration`, or when it finishes by itself
/// for `None`) and returns its report and raw counters. SIGINT (Ctrl-C)
/// or SIGTERM stops the run cleanly: it drains what is in flight and
/// reports as usual, with the signal in [`Report::signal`]; a second
/// signal ends the process at once (exit code 1).
pub fn execute(
    topology: Topology,
    engine: &EngineArgs,
    duration: Option<Duration>,
) -> Result<(Report, TopologyStats), CliError> {
    let shape = Shape::of(&topology);
    // Bound before the topology starts, so a bad address costs no run;
    // it serves until the report is made (the final figures included).
    let server = engine.start_metrics()?;
    // Caught from before the start, so an early Ctrl-C drains too.
    let signals = StopSignals::register()?;
    let cluster = LocalCluster::new(engine.run_config(duration));
    let running = cluster.submit(topology)?;
    let handle = running.metrics_handle();
    if let Some(server) = &server {
        server.add(handle.clone());
        note(format_args!("gale: metrics on {}", server.url()));
    }
    let progress = progress::Progress::start(handle.clone());
    let mut signal = None;
    while !running.is_finished() {
        if signal.is_none() {
            signal = signals.caught();
            if let Some(s) = signal {
                note(format_args!(
                    "gale: {}: draining and stopping (again to end at once)",
                    super::signals::name(s)
                ));
                running.stop();
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let result = running.wait();
    if let Some(p) = progress {
        p.finish();
    }
    let stats = result?;
    let mut report = Report::new(&shape, &stats);
    report.metrics = Some(handle.metrics());
    report.signal = signal;
    Ok((report, stats))
}

/// Runs `built` as `args` say: for `--duration`, or, if it is finite,
/// until it finishes (then prints its counts, if any). An endless topology
/// without `--duration` runs for [`DEFAULT_DURATION`], with a line saying
/// `why` and `what` to set.
pub(super) fn run_built(
    args: &RunArgs,
    built: builtin::Built,
    why: &str,
    what: &str,
) -> Result<(), CliError> {
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
    // A run a signal stopped did not finish: its counts are partial.
    let finished = built.finite && report.signal.is_none();
    if let (Some(counts), true) = (&built.counts, finished) {
        print_counts(counts)?;
    }
    if let (Some(rankings), true) = (&built.rankings, finished) {
        print_rankings(rankings)?;
    }
    print_report(&report, args.engine.json)?;
    stopped_by(&report)
}

/// `Err(Stopped)` if a signal stopped the run (exit code 128 + signal).
pub(super) fn stopped_by(report: &Report) -> Result<(), CliError> {
    match report.signal {
        Some(signal) => Err(CliError::Stopped(signal)),
        None => Ok(()),
    }
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
pub(super) fn print_counts(counts: &builtin::CountSink) -> Result<(), CliError> {
    let mut out = io::BufWriter::new(io::stdout().lock());
    for (word, n) in counts.snapshot() {
        writeln!(out, "{word}\t{n}")?;
    }
    out.flush()?;
    Ok(())
}

/// Writes the table on stderr and, if `json`, the JSON object on stdout.
pub(super) fn print_report(report: &Report, json: bool) -> Result<(), CliError> {
    report.write_text(&mut io::stderr().lock())?;
    if json {
        let mut out = io::stdout().lock();
        writeln!(out, "{}", report.to_json())?;
        out.flush()?;
    }
    Ok(())
}
