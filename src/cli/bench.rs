//! `gale bench <name>`: storm-perf's topologies measured over a window
//! after a warm-up, with open-loop latency at a fixed rate; also any
//! topology file (`gale bench FILE.yaml`) and a user's own topology (the
//! `bench` subcommand of a binary that calls [`gale::cli::run`](super::run)),
//! measured the same way except for the paced latency.
//!
//! - Throughput: the counters are read at the end of the warm-up and at the
//!   end of the run; tuples per second over that window, per component, and
//!   for the topology as the tuples reaching its last component.
//! - CPU: user + system time of the whole process over the window, per
//!   tuple reaching the last component.
//! - Latency (`--rate`): spouts emit on a fixed schedule and stamp each
//!   tuple with its intended send time ([`Probe`]); the last component
//!   records `now - stamp`. A run whose spout ends the window behind its
//!   schedule by more than [`rate_tolerance`] did not reach the rate: it
//!   says so and reports no latency.
//! - Acking (`--ack`): trees acked and failed over the window, complete
//!   latency of the trees completed in the window (over the whole run with
//!   metrics off, when nothing is published while it runs), acker messages
//!   per tuple.

mod baseline;
mod machine;

use std::io::{self, IsTerminal, Write};
use std::num::NonZeroU64;
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use gale_engine::{
    ComponentStats, LocalCluster, RunError, RunningTopology, TopologyStats, ACKER_COMPONENT,
};
use hdrhistogram::Histogram;
use serde_json::{json, Value as Json};

use super::engine_args::EngineArgs;
use super::error::CliError;
use super::parse::parse_secs;
use super::report::{Report, Shape};
use crate::builtin::perf::const_value;
use crate::builtin::{self, BuiltinError, BuiltinOptions, PerfGrouping, Probe};

use baseline::{Baseline, Channel};

/// The benchmarks `gale bench` runs.
pub const BENCHES: [&str; 8] = [
    "const-spout-only",
    "const-spout-null-bolt",
    "const-spout-id-bolt-null-bolt",
    "wordcount",
    "stateful-wordcount",
    "file-read-wordcount",
    "baseline-crossbeam",
    "baseline-ring",
];

/// Options of `gale bench`.
#[derive(Args, Debug)]
#[command(after_help = "\
Throughput is measured over --duration after --warmup: tuples reaching the \
last component per second, and per component. With --rate the spouts emit \
on a fixed schedule (open loop) and each tuple carries its intended send \
time; the last component records the latency from it (p50, p90, p99, \
p99.9, max). A run whose spout cannot keep to the schedule says so and \
reports no latency. baseline-crossbeam sends the const-spout values through \
a crossbeam channel between two pinned threads, for reference; \
baseline-ring puts const-spout-null-bolt's records (header plus \
archived tuple) through Gale's own SPSC ring between two pinned threads, as \
a worker stages them (one ring record per 4 KiB batch), with no engine: the \
limit of Gale's path. stateful-wordcount is wordcount with its counts \
as checkpointed state (a checkpoint every --checkpoint-ms into \
--state-dir, by default a fresh temporary directory removed afterwards): \
its rate against wordcount's is what state costs. BENCH may also be a \
topology file (.yaml): it is measured the same way, without --rate.")]
pub struct BenchArgs {
    /// The benchmark to run, or a topology file (.yaml, .yml) to measure.
    #[arg(value_name = "BENCH", value_parser = parse_bench)]
    pub name: String,
    /// Seconds measured, after the warm-up (fractions allowed).
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_secs)]
    pub duration: Duration,
    /// Seconds run before measuring (0 for none).
    #[arg(long, value_name = "SECS", default_value = "2", value_parser = parse_warmup)]
    pub warmup: Duration,
    /// Emit at this many tuples per second in total (open loop) and
    /// measure spout-to-sink latency.
    #[arg(long, value_name = "TUPLES_PER_S", value_parser = clap::value_parser!(u64).range(1..))]
    pub rate: Option<u64>,
    /// Track every tuple with the acker (at-least-once).
    #[arg(long)]
    pub ack: bool,
    /// With --ack: at most N trees in flight per spout task.
    #[arg(long, value_name = "N", requires = "ack",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_pending: Option<u64>,
    /// Bytes of the constant string (const-spout benches and
    /// the baselines) [default: "some data", 9 bytes].
    #[arg(long, value_name = "BYTES")]
    pub tuple_size: Option<usize>,
    /// file-read-wordcount: the text to read, one sentence per line
    /// [default: a generated text].
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// Tasks of the spout component [default: 1]; --rate is split
    /// evenly over them.
    #[arg(long, value_name = "N")]
    pub spouts: Option<usize>,
    /// Tasks per bolt component [default: --threads for the word counts,
    /// 1 for the const-spout benches].
    #[arg(long, value_name = "N")]
    pub bolts: Option<usize>,
    /// Grouping between the const-spout benches' components.
    #[arg(long, value_enum, default_value_t = PerfGrouping::LocalOrShuffle)]
    pub grouping: PerfGrouping,
    /// Shuffles give every task an even share instead of being load
    /// aware (Storm's `topology.disable.loadaware.messaging`).
    #[arg(long)]
    pub even_shuffle: bool,
    /// stateful-wordcount: checkpoint into DIR (an existing directory)
    /// [default: a fresh temporary directory, removed afterwards].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// stateful-wordcount: checkpoint every MS milliseconds [default: 1000].
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=86_400_000))]
    pub checkpoint_ms: Option<u64>,
    /// Engine options (--threads, --pin/--no-pin, --busy-spin, --json).
    #[command(flatten)]
    pub engine: EngineArgs,
}

impl BenchArgs {
    /// The options of a bench of `topology` (a user's own, see
    /// [`run`](super::run)): measured for `duration` after `warmup`.
    pub fn for_topology(
        topology: &gale_engine::Topology,
        duration: Duration,
        warmup: Duration,
        engine: &EngineArgs,
    ) -> Self {
        Self {
            name: topology.name().to_owned(),
            duration,
            warmup,
            rate: None,
            ack: false,
            max_pending: None,
            tuple_size: None,
            file: None,
            spouts: None,
            bolts: None,
            grouping: PerfGrouping::LocalOrShuffle,
            even_shuffle: false,
            state_dir: None,
            checkpoint_ms: None,
            engine: engine.clone(),
        }
    }
}

/// A benchmark's name, or the path of a topology file.
fn parse_bench(s: &str) -> Result<String, String> {
    if BENCHES.contains(&s) || crate::topofile::is_topology_file(s) {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "no benchmark `{s}`; one of {} or a topology file (.yaml, .yml)",
            BENCHES.join(", ")
        ))
    }
}

/// How far behind its schedule a paced spout may end the window and still
/// count as keeping the rate: 1% of the window, at least 10 ms (a thread
/// descheduled once for a time slice is not a rate it cannot reach).
pub fn rate_tolerance(window: Duration) -> Duration {
    (window / 100).max(Duration::from_millis(10))
}

/// Refuses options that do not apply to the benchmark: the message, for
/// `gale bench`'s usage error.
pub(super) fn check(args: &BenchArgs) -> Result<(), String> {
    let name = args.name.as_str();
    if crate::topofile::is_topology_file(name) {
        let own = [
            (args.rate.is_some(), "--rate"),
            (args.ack, "--ack"),
            (args.tuple_size.is_some(), "--tuple-size"),
            (args.file.is_some(), "--file"),
            (args.spouts.is_some(), "--spouts"),
            (args.bolts.is_some(), "--bolts"),
            (args.grouping != PerfGrouping::LocalOrShuffle, "--grouping"),
            (args.state_dir.is_some(), "--state-dir"),
            (args.checkpoint_ms.is_some(), "--checkpoint-ms"),
        ];
        if let Some((_, flag)) = own.iter().find(|(set, _)| *set) {
            return Err(format!(
                "{flag} is for the built-in benchmarks; a topology file says its own \
                 components, parallelism and acking (and its spouts cannot be paced)"
            ));
        }
        return Ok(());
    }
    if args.file.is_some() && name != "file-read-wordcount" {
        return Err(format!(
            "--file is for file-read-wordcount only, not {name}"
        ));
    }
    if args.tuple_size.is_some() && name.ends_with("wordcount") {
        return Err(format!(
            "--tuple-size is for the const-spout benches and the baselines, not {name} (its tuples are sentences)"
        ));
    }
    if args.ack && name.starts_with("baseline-") {
        return Err(format!(
            "{name} has no acker; --ack applies to the Gale topologies"
        ));
    }
    if name.starts_with("baseline-") && (args.spouts.is_some() || args.bolts.is_some()) {
        return Err(format!(
            "{name} is one sender and one receiver thread; --spouts and --bolts \
             apply to the Gale topologies"
        ));
    }
    if (args.state_dir.is_some() || args.checkpoint_ms.is_some()) && name != "stateful-wordcount" {
        return Err(format!(
            "--state-dir and --checkpoint-ms are for stateful-wordcount only, not {name}"
        ));
    }
    if args.grouping != PerfGrouping::LocalOrShuffle && !name.starts_with("const-spout") {
        return Err(format!(
            "--grouping is for the const-spout benches, not {name}"
        ));
    }
    Ok(())
}

/// What is being measured.
enum Subject {
    Gale(RunningTopology),
    Baseline(Baseline),
}

impl Subject {
    fn stats(&self) -> TopologyStats {
        match self {
            Self::Gale(t) => t.stats(),
            Self::Baseline(b) => b.stats(),
        }
    }

    /// The spouts' complete latencies published so far (Gale only).
    fn complete_latencies(&self) -> Option<Histogram<u64>> {
        match self {
            Self::Gale(t) => Some(t.metrics_handle().complete_latency_histogram()),
            Self::Baseline(_) => None,
        }
    }

    fn is_finished(&self) -> bool {
        match self {
            Self::Gale(t) => t.is_finished(),
            Self::Baseline(b) => b.is_finished(),
        }
    }

    /// Stops it, lets what is in flight finish, returns the final counters.
    fn finish(self) -> Result<TopologyStats, CliError> {
        match self {
            Self::Gale(t) => {
                t.stop();
                Ok(t.wait()?)
            }
            Self::Baseline(b) => Ok(b.finish()),
        }
    }
}

/// The figures of one run.
struct Outcome {
    /// Counters over the measured window.
    window: Report,
    /// Counters at the end.
    end: TopologyStats,
    /// Process CPU time over the window.
    cpu: Option<Duration>,
    /// How far the paced spouts were behind at the end of the window.
    behind: Option<Duration>,
    /// Spout-to-sink latencies of tuples stamped inside the window.
    latency: Option<Histogram<u64>>,
    /// Complete latencies of trees completed inside the window (to within
    /// the 100 ms the workers publish at; `None` with metrics off).
    complete: Option<Histogram<u64>>,
    /// The topology finished by itself before the window ended.
    ended_early: bool,
}

pub(super) fn run(args: &BenchArgs) -> Result<(), CliError> {
    if crate::topofile::is_topology_file(&args.name) {
        let topology = crate::topofile::load(&args.name)?;
        return run_topology(topology, args);
    }
    let probe = args.rate.and_then(NonZeroU64::new).map(Probe::new);
    let threads;
    // Kept until the report is out: removes a temporary state directory.
    let state: Option<BenchState>;
    let (shape, subject) = if args.name.starts_with("baseline-") {
        threads = 2;
        let config = args.engine.run_config(None);
        let channel = if args.name == "baseline-ring" {
            Channel::Ring(config.ring_config())
        } else {
            Channel::Crossbeam
        };
        let value = const_value(args.tuple_size);
        let baseline = Baseline::start(channel, value, probe.clone(), config.pin)
            .map_err(|source| CliError::Run(RunError::Spawn { thread: 0, source }))?;
        let shape = Shape::new(&args.name, &baseline::COMPONENTS);
        state = None;
        (shape, Subject::Baseline(baseline))
    } else {
        state = (args.name == "stateful-wordcount")
            .then(|| BenchState::new(args.state_dir.as_deref()))
            .transpose()?;
        let opts = BuiltinOptions {
            threads: args.engine.threads,
            tuple_size: args.tuple_size,
            ack: args.ack,
            max_pending: args
                .max_pending
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
            probe: probe.clone(),
            file: args.file.clone(),
            spout_parallelism: args.spouts,
            bolt_parallelism: args.bolts,
            grouping: args.grouping,
            even_shuffle: args.even_shuffle,
            state_dir: state.as_ref().map(|s| s.dir.clone()),
            checkpoint_interval: state
                .is_some()
                .then(|| Duration::from_millis(args.checkpoint_ms.unwrap_or(1000))),
            ..BuiltinOptions::default()
        };
        let built = builtin::build(&args.name, &opts)?;
        let shape = Shape::of(&built.topology);
        let config = args.engine.run_config(None);
        threads = config.thread_count();
        let running = LocalCluster::new(config).submit(built.topology)?;
        (shape, Subject::Gale(running))
    };
    let reported = report(subject, &shape, args, threads, probe.as_ref());
    drop(state);
    reported
}

/// stateful-wordcount's checkpoint directory: the one given, or a fresh
/// temporary one that is removed when this is dropped.
struct BenchState {
    dir: PathBuf,
    temporary: bool,
}

impl BenchState {
    fn new(given: Option<&std::path::Path>) -> Result<Self, CliError> {
        if let Some(dir) = given {
            return Ok(Self {
                dir: dir.to_owned(),
                temporary: false,
            });
        }
        let dir = std::env::temp_dir().join(format!("gale-bench-state-{}", std::process::id()));
        // A leftover of an earlier process with this pid is not ours to
        // keep: start empty, so the run restores nothing.
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|source| {
            CliError::Builtin(BuiltinError::State {
                name: "stateful-wordcount",
                message: format!("cannot create `{}`: {source}", dir.display()),
            })
        })?;
        Ok(Self {
            dir,
            temporary: true,
        })
    }
}

impl Drop for BenchState {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Measures any topology (a topology file's, or a user binary's through
/// `gale::cli::run`'s `bench` subcommand): throughput, CPU per tuple and,
/// when its spouts emit with message ids, acking; no paced latency (its
/// spouts are not Gale's to pace).
pub(crate) fn run_topology(
    mut topology: gale_engine::Topology,
    args: &BenchArgs,
) -> Result<(), CliError> {
    if args.even_shuffle {
        topology.set_load_aware(false);
    }
    let shape = Shape::of(&topology);
    let config = args.engine.run_config(None);
    let threads = config.thread_count();
    let running = LocalCluster::new(config).submit(topology)?;
    report(Subject::Gale(running), &shape, args, threads, None)
}

/// Measures `subject` and prints the report (and JSON with `--json`).
fn report(
    subject: Subject,
    shape: &Shape,
    args: &BenchArgs,
    threads: usize,
    probe: Option<&Probe>,
) -> Result<(), CliError> {
    let outcome = measure(subject, shape, args, probe)?;
    let tolerance = rate_tolerance(outcome.window.elapsed);
    let reached = outcome.behind.map(|b| b <= tolerance);
    print_text(args, threads, &outcome, reached, tolerance)?;
    if args.engine.json {
        let json = to_json(args, threads, &outcome, reached);
        let mut out = io::stdout().lock();
        writeln!(out, "{json}")?;
        out.flush()?;
    }
    Ok(())
}

/// Warms up, measures the window, stops.
fn measure(
    subject: Subject,
    shape: &Shape,
    args: &BenchArgs,
    probe: Option<&Probe>,
) -> Result<Outcome, CliError> {
    let mut progress = Progress::new(shape, &args.name);
    progress.wait(&subject, "warm-up", args.warmup);
    let before = subject.stats();
    let complete_before = subject.complete_latencies();
    let cpu_before = machine::cpu_time();
    if let Some(p) = probe {
        p.open_window(p.now_ns());
    }
    progress.wait(&subject, "measuring", args.duration);
    let ended_early = subject.is_finished();
    let after = subject.stats();
    let complete = subject.complete_latencies().zip(complete_before);
    let cpu_after = machine::cpu_time();
    let behind = probe.and_then(|p| {
        let now = p.now_ns();
        p.close_window(now);
        p.behind_ns(now).map(Duration::from_nanos)
    });
    progress.clear();
    let end = subject.finish()?;
    let window = Report::new(shape, &difference(&before, &after));
    let latency = probe.map(Probe::latency).filter(|h| !h.is_empty());
    // With metrics off, nothing is published while the topology runs:
    // then the whole run's figure (from `end`) is all there is.
    let complete = complete
        .filter(|_| !args.engine.no_metrics)
        .and_then(|(mut after, before)| after.subtract(&before).ok().map(|()| after))
        .filter(|h| !h.is_empty());
    Ok(Outcome {
        window,
        end,
        cpu: cpu_after.zip(cpu_before).map(|(a, b)| a.saturating_sub(b)),
        behind,
        latency,
        complete,
        ended_early,
    })
}

/// The counters of the window from `before` to `after`.
fn difference(before: &TopologyStats, after: &TopologyStats) -> TopologyStats {
    let components = after
        .components
        .iter()
        .map(|(name, a)| {
            let b = before.components.get(name).cloned().unwrap_or_default();
            let c = ComponentStats {
                tasks: a.tasks,
                counters: a.counters.since(&b.counters),
                complete_latency: None,
            };
            (name.clone(), c)
        })
        .collect();
    TopologyStats {
        elapsed: after.elapsed.saturating_sub(before.elapsed),
        components,
        errors: after.errors.clone(),
    }
}

/// The live line on stderr while a bench runs (only on a terminal).
struct Progress<'a> {
    shape: &'a Shape,
    name: &'a str,
    on: bool,
}

impl<'a> Progress<'a> {
    fn new(shape: &'a Shape, name: &'a str) -> Self {
        Self {
            shape,
            name,
            on: io::stderr().is_terminal(),
        }
    }

    /// Sleeps `total` (less if the subject stops), showing the rate of the
    /// last component every quarter second.
    fn wait(&mut self, subject: &Subject, phase: &str, total: Duration) {
        const TICK: Duration = Duration::from_millis(250);
        let start = Instant::now();
        let mut last = subject.stats();
        loop {
            let left = total.saturating_sub(start.elapsed());
            if left.is_zero() || subject.is_finished() {
                return;
            }
            thread::sleep(left.min(TICK));
            if !self.on {
                continue;
            }
            let now = subject.stats();
            let report = Report::new(self.shape, &difference(&last, &now));
            last = now;
            let (component, per_s) = report.rate().unwrap_or(("-", 0.0));
            eprint!(
                "\r\x1b[2Kgale bench {}: {phase} {:.1}/{:.1} s, {:.3} M tuples/s at `{component}`",
                self.name,
                start.elapsed().as_secs_f64().min(total.as_secs_f64()),
                total.as_secs_f64(),
                per_s / 1e6
            );
        }
    }

    fn clear(&self) {
        if self.on {
            eprint!("\r\x1b[2K");
        }
    }
}

/// Tuples that reached the last component in the window (executed by a
/// bolt, emitted by a spout), and their rate.
fn throughput(outcome: &Outcome) -> (u64, f64) {
    let Some((name, rate)) = outcome.window.rate() else {
        return (0, 0.0);
    };
    let tuples = outcome
        .window
        .rows
        .iter()
        .find(|r| r.name == name)
        .map_or(0, |r| {
            if r.spout {
                r.stats.emitted
            } else {
                r.stats.executed
            }
        });
    (tuples, rate)
}

fn cpu_ns_per_tuple(outcome: &Outcome) -> Option<f64> {
    let (tuples, _) = throughput(outcome);
    let cpu = outcome.cpu?;
    (tuples > 0).then(|| cpu.as_nanos() as f64 / tuples as f64)
}

/// Trees acked and failed by the spouts over the window.
/// Whether the run tracked tuples: `--ack`, or a topology (a file's, a
/// user's) whose spouts acked or failed trees in the window.
fn tracked(args: &BenchArgs, outcome: &Outcome) -> bool {
    let (acked, failed) = acked_failed(outcome);
    args.ack || acked + failed > 0
}

fn acked_failed(outcome: &Outcome) -> (u64, u64) {
    outcome
        .window
        .rows
        .iter()
        .filter(|r| r.spout)
        .fold((0, 0), |(a, f), r| (a + r.stats.acked, f + r.stats.failed))
}

/// Messages the acker tasks executed per tuple reaching the last component.
fn acker_per_tuple(outcome: &Outcome) -> Option<f64> {
    let acker = outcome
        .window
        .rows
        .iter()
        .find(|r| r.name == ACKER_COMPONENT)?;
    let (tuples, _) = throughput(outcome);
    (tuples > 0).then(|| acker.stats.executed as f64 / tuples as f64)
}

/// The spouts' complete latency over the measured window, or over the
/// whole run with metrics off (spouts of the topology only; `None`
/// without acking).
fn complete_latency(outcome: &Outcome) -> Option<gale_engine::LatencyStats> {
    if let Some(h) = &outcome.complete {
        return gale_engine::LatencyStats::from_histogram(h);
    }
    outcome
        .end
        .components
        .values()
        .find_map(|c| c.complete_latency.clone())
}

const QUANTILES: [(&str, f64); 4] = [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999)];

fn latency_json(h: &Histogram<u64>) -> Json {
    let mut obj = serde_json::Map::new();
    for (key, q) in QUANTILES {
        obj.insert(key.to_owned(), json!(h.value_at_quantile(q)));
    }
    obj.insert("max".to_owned(), json!(h.max()));
    obj.insert("count".to_owned(), json!(h.len()));
    Json::Object(obj)
}

fn print_text(
    args: &BenchArgs,
    threads: usize,
    outcome: &Outcome,
    reached: Option<bool>,
    tolerance: Duration,
) -> Result<(), CliError> {
    let mut w = io::stderr().lock();
    if outcome.ended_early {
        writeln!(
            w,
            "gale bench {}: note: the topology finished by itself before the window ended; \
             the window covers only what ran in it (give its spouts more to emit, or \
             shorten --warmup and --duration)",
            args.name
        )?;
    }
    writeln!(
        w,
        "gale bench {}: {threads} threads, warm-up {:.1} s, measured window:",
        args.name,
        args.warmup.as_secs_f64()
    )?;
    outcome.window.write_text(&mut w)?;
    let (_, rate) = throughput(outcome);
    writeln!(w, "  throughput: {:.3} M tuples/s", rate / 1e6)?;
    if let Some(ns) = cpu_ns_per_tuple(outcome) {
        writeln!(w, "  cpu: {ns:.1} ns per tuple (user+sys of the process)")?;
    }
    if let Some(target) = args.rate {
        match (reached, &outcome.latency) {
            (Some(false), _) => writeln!(
                w,
                "  rate NOT reached: the spout ended {:.1} ms behind its schedule of {target} tuples/s \
                 (tolerance {:.1} ms); no latency reported",
                outcome.behind.unwrap_or_default().as_secs_f64() * 1e3,
                tolerance.as_secs_f64() * 1e3
            )?,
            (_, Some(h)) => writeln!(
                w,
                "  latency at {target} tuples/s (spout to last component, from intended send time): \
                 p50 {:.2} µs, p90 {:.2} µs, p99 {:.2} µs, p99.9 {:.2} µs, max {:.2} µs ({} tuples)",
                h.value_at_quantile(0.5) as f64 / 1e3,
                h.value_at_quantile(0.9) as f64 / 1e3,
                h.value_at_quantile(0.99) as f64 / 1e3,
                h.value_at_quantile(0.999) as f64 / 1e3,
                h.max() as f64 / 1e3,
                h.len()
            )?,
            (_, None) => writeln!(
                w,
                "  latency: none recorded ({} has no sink that records stamps, or no tuple finished in the window)",
                args.name
            )?,
        }
    }
    if tracked(args, outcome) {
        let (acked, failed) = acked_failed(outcome);
        writeln!(w, "  acked {acked}, failed {failed} trees in the window")?;
        if let Some(n) = acker_per_tuple(outcome) {
            writeln!(w, "  acker: {n:.3} messages per tuple")?;
        }
        if let Some(l) = complete_latency(outcome) {
            let over = if outcome.complete.is_some() {
                "in the window"
            } else {
                "over the whole run (metrics off)"
            };
            let quantiles = super::report::complete_quantiles(&l);
            writeln!(w, "  complete latency {over}: {quantiles}")?;
        }
    }
    Ok(())
}

fn to_json(args: &BenchArgs, threads: usize, outcome: &Outcome, reached: Option<bool>) -> Json {
    let config = args.engine.run_config(None);
    let window = outcome.window.elapsed.as_secs_f64();
    let per_s = |n: u64| if window > 0.0 { n as f64 / window } else { 0.0 };
    let mut window_json = outcome.window.to_json();
    let mut components = window_json["components"].take();
    for row in &outcome.window.rows {
        if let Some(c) = components.get_mut(&row.name) {
            c["emitted_per_s"] = json!(per_s(row.stats.emitted));
            c["executed_per_s"] = json!(per_s(row.stats.executed));
        }
    }
    let (_, rate) = throughput(outcome);
    let tuple_size = match args.name.ends_with("wordcount") {
        true => None,
        false => Some(
            args.tuple_size
                .unwrap_or(builtin::perf::DEFAULT_VALUE.len()),
        ),
    };
    let mut out = json!({
        "name": args.name,
        "ended_early": outcome.ended_early,
        "config": {
            "threads": threads,
            "duration_s": args.duration.as_secs_f64(),
            "warmup_s": args.warmup.as_secs_f64(),
            "rate": args.rate,
            "ack": args.ack,
            "max_pending": args.max_pending,
            "tuple_size": tuple_size,
            "file": args.file.as_ref().map(|p| p.display().to_string()),
            "spouts": args.spouts,
            "bolts": args.bolts,
            "grouping": args
                .name
                .starts_with("const-spout")
                .then(|| args.grouping.to_possible_value())
                .flatten()
                .map(|v| v.get_name().to_owned()),
            "pin": config.pin,
            "busy_spin": args.engine.busy_spin,
            "even_shuffle": args.even_shuffle,
        },
        "gale_version": env!("CARGO_PKG_VERSION"),
        "machine": machine::describe(),
        "window_s": window,
        "throughput_tuples_per_s": rate,
        "throughput_component": outcome.window.rate().map(|r| r.0),
        "components": components,
        "cpu_ns_per_tuple": cpu_ns_per_tuple(outcome),
        "errors": window_json["errors"].take(),
    });
    if args.rate.is_some() {
        out["rate_reached"] = json!(reached);
        out["behind_ns"] = json!(outcome.behind.map(|b| b.as_nanos() as u64));
        out["latency_ns"] = match (reached, &outcome.latency) {
            (Some(true), Some(h)) => latency_json(h),
            _ => Json::Null,
        };
    }
    if tracked(args, outcome) {
        let (acked, failed) = acked_failed(outcome);
        out["acked"] = json!(acked);
        out["failed"] = json!(failed);
        out["acker_messages_per_tuple"] = json!(acker_per_tuple(outcome));
        out["complete_latency_ns"] = match complete_latency(outcome) {
            Some(l) => json!({
                "count": l.count,
                "p50": l.p50_ns,
                "p99": l.p99_ns,
                "p999": l.p999_ns,
                "max": l.max_ns,
            }),
            None => Json::Null,
        };
    }
    out
}

/// Parses a number of seconds, 0 allowed (the warm-up).
pub(super) fn parse_warmup(s: &str) -> Result<Duration, String> {
    if s.trim().parse::<f64>() == Ok(0.0) {
        return Ok(Duration::ZERO);
    }
    parse_secs(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_subtracts_counters() {
        let c = |executed| ComponentStats {
            tasks: 2,
            counters: gale_engine::Counters {
                executed,
                ..Default::default()
            },
            ..ComponentStats::default()
        };
        let at = |secs, executed| TopologyStats {
            elapsed: Duration::from_secs(secs),
            components: [("b".to_owned(), c(executed))].into_iter().collect(),
            errors: Vec::new(),
        };
        let d = difference(&at(2, 100), &at(5, 400));
        assert_eq!(d.elapsed, Duration::from_secs(3));
        assert_eq!(d.components["b"], c(300));
    }

    #[test]
    fn tolerance_has_a_floor() {
        assert_eq!(
            rate_tolerance(Duration::from_millis(100)),
            Duration::from_millis(10)
        );
        assert_eq!(
            rate_tolerance(Duration::from_secs(10)),
            Duration::from_millis(100)
        );
    }
}
