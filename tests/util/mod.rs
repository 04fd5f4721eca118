//! Helpers of the multi-lang tests: the Python interpreter with pystorm,
//! the test scripts, scratch directories, and a word count around a shell
//! split bolt.
#![allow(dead_code)]

mod python_env;
mod scratch;
#[allow(unused_imports)] // not every test file makes scratch directories
pub use scratch::scratch;

use std::path::Path;
use std::time::Duration;

use gale::builtin::wordcount::{CountBolt, CountSink, SentenceSpout};
use gale::engine::{LocalCluster, RunConfig, TaskError, Topology, TopologyBuilder, TopologyStats};
use gale::multilang::{ShellBolt, ShellConfig};

/// No test run should come near this; a run that reaches it failed.
pub const WATCHDOG: Duration = Duration::from_secs(240);

/// The repository root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The Python interpreter with pystorm, streamparse and msgpack:
/// `$GALE_PYTHON`, else the one `scripts/python-env` makes (once).
pub fn python() -> String {
    python_env::python_at(root())
}

/// A test script in tests/python.
pub fn script(name: &str) -> String {
    root().join("tests/python").join(name).display().to_string()
}

/// An example in examples/python.
pub fn example(name: &str) -> String {
    root()
        .join("examples/python")
        .join(name)
        .display()
        .to_string()
}

/// A shell bolt running `args` under the test Python, declaring `word`.
pub fn python_split(args: &[&str]) -> ShellConfig {
    ShellConfig::new(python(), args.iter().copied()).stream("default", ["word"])
}

/// `python -m gale.run CLASS` (batched protocol) from `dir`, declaring `word`.
pub fn gale_run(class: &str, dir: &Path) -> ShellConfig {
    ShellConfig::python(python(), class)
        .working_dir(dir)
        .stream("default", ["word"])
}

/// Reliable word count: `sentences` sentences → `split` (the shell bolt,
/// `tasks` tasks) → Gale's count bolt; returns it and its counts.
pub fn wordcount(split: ShellConfig, sentences: u64, tasks: usize) -> (Topology, CountSink) {
    wordcount_with(split, sentences, tasks, Duration::from_secs(30))
}

/// [`wordcount`] with a message timeout.
pub fn wordcount_with(
    split: ShellConfig,
    sentences: u64,
    tasks: usize,
    message_timeout: Duration,
) -> (Topology, CountSink) {
    let counts = CountSink::new();
    let sink = counts.clone();
    let mut b = TopologyBuilder::new("python-wordcount");
    b.set_message_timeout(message_timeout);
    b.set_spout(
        "spout",
        move || SentenceSpout::new(Some(sentences)).reliable(true),
        1,
    );
    b.set_bolt("split", move || ShellBolt::new(split.clone()), tasks)
        .shuffle_grouping("spout");
    b.set_bolt("count", move || CountBolt::new(sink.clone()), 2)
        .fields_grouping("split", ["word"]);
    (b.build().unwrap(), counts)
}

/// Runs a topology that finishes by itself, under the watchdog.
pub fn run_finite(topology: Topology) -> TopologyStats {
    run_finite_with_metrics(topology).0
}

/// [`run_finite`], with the live metrics taken at the end.
pub fn run_finite_with_metrics(
    topology: Topology,
) -> (TopologyStats, gale::engine::TopologyMetrics) {
    let running = LocalCluster::new(config(WATCHDOG))
        .submit(topology)
        .unwrap();
    let metrics = running.metrics_handle();
    let stats = running.wait().unwrap();
    assert!(
        stats.elapsed < WATCHDOG,
        "the topology did not finish by itself; errors: {:#?}",
        stats.errors
    );
    (stats, metrics.metrics())
}

/// Engine settings of the tests: 2 unpinned threads.
pub fn config(duration: Duration) -> RunConfig {
    RunConfig {
        threads: 2,
        pin: false,
        duration: Some(duration),
        ..RunConfig::default()
    }
}

/// Errors reported about `component` that contain `text`.
pub fn errors_with<'a>(
    stats: &'a TopologyStats,
    component: &str,
    text: &str,
) -> Vec<&'a TaskError> {
    stats
        .errors
        .iter()
        .filter(|e| e.component == component && e.message.contains(text))
        .collect()
}

/// A spout that never emits (and never finishes).
pub struct Idle;

impl gale::engine::Spout for Idle {
    fn declare_output_fields(&self, d: &mut gale::engine::OutputFieldsDeclarer) {
        d.declare(["sentence"]);
    }
    fn next_tuple(&mut self, _out: &mut gale::engine::SpoutOutput<'_>) {}
}

/// The samples of metric `name` that carry the label `key` = `value`.
pub fn samples_labelled<'a>(
    metrics: &'a gale::engine::TopologyMetrics,
    name: &str,
    (key, value): (&str, &str),
) -> Vec<&'a gale::engine::Sample> {
    metrics
        .samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| s.labels.iter().any(|(k, v)| k == key && v == value))
        .collect()
}

/// The sum of the samples named `name` with the label `label`.
pub fn sum_labelled(
    metrics: &gale::engine::TopologyMetrics,
    name: &str,
    label: (&str, &str),
) -> f64 {
    samples_labelled(metrics, name, label)
        .iter()
        .map(|s| s.value)
        .sum()
}
