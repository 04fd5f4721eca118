//! Gale's batched multi-lang protocol with real Python: unmodified pystorm
//! and streamparse classes (and `gale` classes) run by `python -m
//! gale.run`, word counts identical to Storm's protocol, a reliable spout
//! acked exactly once, the offer declined or never made, and faults (kill
//! -9, garbage, an oversized frame, a hang) failing and replaying what the
//! child held.

mod util;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gale::builtin::wordcount::{expected_counts, CountBolt, CountSink, SENTENCES};
use gale::codec::Value;
use gale::engine::{
    Bolt, BoltOutput, Input, LocalCluster, OutputFieldsDeclarer, Topology, TopologyBuilder,
    TopologyStats,
};
use gale::multilang::{Protocol, Serializer, ShellBolt, ShellConfig, ShellSpout};
use util::*;

fn examples() -> std::path::PathBuf {
    root().join("examples/python")
}

/// The `gale_multilang_batched` gauges of `split`'s tasks.
fn batched_gauges(metrics: &gale::engine::TopologyMetrics) -> Vec<f64> {
    metrics
        .samples
        .iter()
        .filter(|s| s.name == "gale_multilang_batched")
        .filter(|s| {
            s.labels
                .iter()
                .any(|(k, v)| k == "component" && v == "split")
        })
        .map(|s| s.value)
        .collect()
}

#[test]
fn a_pystorm_split_bolt_under_the_batched_protocol_counts_exactly() {
    let split = gale_run("split_bolt:SplitBolt", &examples());
    let (topology, counts) = wordcount(split, 2000, 2);
    let (stats, metrics) = run_finite_with_metrics(topology);
    assert!(stats.errors.is_empty(), "{:#?}", stats.errors);
    assert_eq!(counts.snapshot(), expected_counts(2000));
    assert_eq!(
        batched_gauges(&metrics),
        [1.0, 1.0],
        "both children batched"
    );
}

#[test]
fn a_streamparse_split_bolt_under_the_batched_protocol_counts_exactly() {
    let split = gale_run("streamparse_split.SplitBolt", &examples());
    let (topology, counts) = wordcount(split, 2000, 2);
    let stats = run_finite(topology);
    assert!(stats.errors.is_empty(), "{:#?}", stats.errors);
    assert_eq!(counts.snapshot(), expected_counts(2000));
}

#[test]
fn the_runner_speaks_storms_protocol_when_batching_is_not_offered() {
    for serializer in [Serializer::Json, Serializer::Msgpack] {
        let split = gale_run("split_bolt:SplitBolt", &examples())
            .protocol(Protocol::Storm)
            .serializer(serializer);
        let (topology, counts) = wordcount(split, 300, 2);
        let stats = run_finite(topology);
        assert!(stats.errors.is_empty(), "{:#?}", stats.errors);
        assert_eq!(counts.snapshot(), expected_counts(300), "{serializer:?}");
    }
}

#[test]
fn a_plain_pystorm_child_offered_batching_keeps_storms_protocol() {
    let split = python_split(&[&example("split_bolt.py"), "json"]).protocol(Protocol::Batched);
    let (topology, counts) = wordcount(split, 300, 2);
    let (stats, metrics) = run_finite_with_metrics(topology);
    assert!(stats.errors.is_empty(), "{:#?}", stats.errors);
    assert_eq!(counts.snapshot(), expected_counts(300));
    assert_eq!(batched_gauges(&metrics), [0.0, 0.0], "pystorm did not ask");
}

/// The streamparse quickstart-style topology of tests/python/quickstart.py:
/// a reliable Python spout → Python split (2 tasks) → Python count (2
/// tasks, auto_ack off, explicit anchors) → Gale's count bolt; each
/// component a child under `protocol` (Storm's: streamparse's own
/// launcher; batched: `python -m gale.run`).
fn quickstart(
    protocol: Protocol,
    sentences: u64,
    log: Option<&Path>,
    pids: Option<&Path>,
) -> (Topology, CountSink) {
    let dir = root().join("tests/python");
    let component = |class: &str, fields: &[&str]| {
        let config = match protocol {
            Protocol::Storm => ShellConfig::new(
                python(),
                ["-m", "streamparse.run", &format!("quickstart.{class}")],
            ),
            Protocol::Batched => ShellConfig::python(python(), &format!("quickstart:{class}")),
        };
        let mut config = config
            .working_dir(&dir)
            .stream("default", fields.iter().copied())
            .conf(
                "quickstart.sentences",
                Value::List(SENTENCES.iter().map(|s| Value::from(*s)).collect()),
            )
            .conf("quickstart.count", Value::I64(sentences as i64));
        if let Some(log) = log {
            config = config.conf("quickstart.log", Value::from(log.display().to_string()));
        }
        if let Some(pids) = pids {
            config = config.conf("quickstart.pids", Value::from(pids.display().to_string()));
        }
        config
    };
    let spout = component("SentenceSpout", &["sentence"]);
    let split = component("SplitBolt", &["word"]);
    let count = component("CountBolt", &["word", "count"]);
    let counts = CountSink::new();
    let sink = counts.clone();
    let mut b = TopologyBuilder::new("quickstart");
    b.set_max_spout_pending(500);
    b.set_spout("sentences", move || ShellSpout::new(spout.clone()), 1);
    b.set_bolt("split", move || ShellBolt::new(split.clone()), 2)
        .shuffle_grouping("sentences");
    b.set_bolt("count", move || ShellBolt::new(count.clone()), 2)
        .fields_grouping("split", ["word"]);
    b.set_bolt("total", move || CountBolt::new(sink.clone()), 1)
        .shuffle_grouping("count");
    (b.build().unwrap(), counts)
}

/// Runs `topology` until `done` or the watchdog, then stops it.
fn run_until(topology: Topology, mut done: impl FnMut() -> bool) -> TopologyStats {
    let running = LocalCluster::new(config(WATCHDOG))
        .submit(topology)
        .unwrap();
    let start = Instant::now();
    while !done() && start.elapsed() < WATCHDOG {
        std::thread::sleep(Duration::from_millis(20));
    }
    running.stop();
    running.wait().unwrap()
}

#[test]
fn quickstart_components_count_the_same_under_both_protocols() {
    const N: u64 = 1000;
    let expected = expected_counts(N);
    for protocol in [Protocol::Storm, Protocol::Batched] {
        let tmp = scratch(&format!("quickstart-{}", protocol.name()));
        let log = tmp.path().join("spout.log");
        let (topology, counts) = quickstart(protocol, N, Some(&log), None);
        // Every sentence acked at the spout: its words were counted.
        let stats = run_until(topology, || acks_and_fails(&log).0.len() as u64 >= N);
        assert!(stats.errors.is_empty(), "{protocol:?}: {:#?}", stats.errors);
        assert_eq!(counts.snapshot(), expected, "{protocol:?}");
        assert_eq!(acks_and_fails(&log).1, 0, "{protocol:?}: nothing failed");
    }
}

/// Reads the `ack N` / `fail N` lines a spout wrote: (acks per id, fails).
fn acks_and_fails(path: &Path) -> (BTreeMap<u64, u32>, u64) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let (mut acks, mut fails) = (BTreeMap::new(), 0);
    for line in text.lines() {
        match line.split_once(' ') {
            Some(("ack", n)) => *acks.entry(n.parse().unwrap()).or_insert(0) += 1,
            Some(("fail", _)) => fails += 1,
            _ => {}
        }
    }
    (acks, fails)
}

/// The pending inputs the failed-child errors of `stats` name.
fn failed_pending(stats: &TopologyStats) -> u64 {
    stats
        .errors
        .iter()
        .filter_map(|e| {
            let (_, rest) = e.message.split_once("); ")?;
            rest.split_once(" pending tuple(s) failed")?
                .0
                .parse::<u64>()
                .ok()
        })
        .sum()
}

#[test]
fn kill_9_of_batched_children_mid_run_loses_nothing() {
    const N: u64 = 20_000;
    let tmp = scratch("batched-kill9");
    let dir = tmp.path();
    let (log, pids) = (dir.join("spout.log"), dir.join("pids"));
    let (topology, _counts) = quickstart(Protocol::Batched, N, Some(&log), Some(&pids));
    let running = LocalCluster::new(config(WATCHDOG))
        .submit(topology)
        .unwrap();
    let metrics = running.metrics_handle();
    let start = Instant::now();
    let mut killed = None;
    loop {
        let acked = acks_and_fails(&log).0.len();
        if acked as u64 >= N || start.elapsed() > WATCHDOG {
            break;
        }
        // Once running and while the bolts' children hold inputs: kill -9
        // every split and count child.
        let live = metrics.metrics();
        let held: f64 = ["split", "count"]
            .iter()
            .flat_map(|c| samples_labelled(&live, "gale_multilang_pending", ("component", c)))
            .map(|s| s.value)
            .sum();
        if killed.is_none() && acked >= 500 && held > 0.0 {
            let text = std::fs::read_to_string(&pids).unwrap();
            for pid in text.lines().filter_map(|l| l.split_whitespace().nth(1)) {
                let _ = std::process::Command::new("kill")
                    .args(["-9", pid])
                    .status();
            }
            killed = Some(acked);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    running.stop();
    let stats = running.wait().unwrap();
    let acked_at_kill = killed.expect("the run ended before the kill");
    assert!(acked_at_kill < N as usize, "killed mid-run");
    let (acks, fails) = acks_and_fails(&log);
    assert_eq!(acks.len() as u64, N, "every message id acked");
    let twice: Vec<_> = acks.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "acked more than once: {twice:?}");
    let lost = errors_with(&stats, "split", "killed by signal 9").len()
        + errors_with(&stats, "count", "killed by signal 9").len();
    assert_eq!(lost, 4, "each child's loss reported: {:#?}", stats.errors);
    // What the killed children held was failed back to the spout, which
    // replayed it (above: acked once in the end).
    if failed_pending(&stats) > 0 {
        assert!(
            fails > 0,
            "failed inputs reach the spout: {:#?}",
            stats.errors
        );
    }
}

/// The word count through tests/python/faulty_batched.py in `mode`.
fn faulty(mode: &str) -> (TopologyStats, gale::engine::TopologyMetrics) {
    let tmp = scratch(&format!("batched-{mode}"));
    let dir = tmp.path();
    let mut split = gale_run("faulty_batched:FaultySplit", &root().join("tests/python"));
    split.env.push(("FAULTY_MODE".to_owned(), mode.to_owned()));
    split.env.push((
        "FAULTY_MARKER".to_owned(),
        dir.join("marker").display().to_string(),
    ));
    let (topology, counts) = wordcount(split.subprocess_timeout(Duration::from_secs(2)), 500, 2);
    let (stats, metrics) = run_finite_with_metrics(topology);
    assert!(dir.join("marker").exists(), "no child misbehaved");
    assert_eq!(counts.snapshot(), expected_counts(500), "{mode}");
    let restarts = sum_labelled(
        &metrics,
        "gale_multilang_restarts_total",
        ("component", "split"),
    );
    assert!(restarts >= 1.0, "{mode}: the child was restarted");
    (stats, metrics)
}

#[test]
fn a_child_writing_garbage_gets_a_clear_error_and_is_restarted() {
    let (stats, _) = faulty("garbage");
    let found = errors_with(
        &stats,
        "split",
        "is the subprocess writing something else to stdout",
    );
    assert!(!found.is_empty(), "{:#?}", stats.errors);
    assert!(
        found.iter().all(|e| e.message.contains("restarting")),
        "{found:#?}"
    );
}

#[test]
fn an_oversized_frame_gets_a_clear_error_and_the_child_is_restarted() {
    let (stats, _) = faulty("oversized");
    let found = errors_with(&stats, "split", &format!("a frame of {} bytes", 64 << 20));
    assert!(!found.is_empty(), "{:#?}", stats.errors);
}

#[test]
fn a_hung_batched_child_is_killed_and_its_inputs_replayed() {
    let (stats, _) = faulty("hang");
    assert!(
        !errors_with(&stats, "split", "(hung)").is_empty(),
        "{:#?}",
        stats.errors
    );
}

#[test]
fn shell_metrics_measure_the_child_latency_cpu_and_memory() {
    const N: u64 = 3000;
    let tmp = scratch("batched-metrics");
    let log = tmp.path().join("spout.log");
    let (topology, _counts) = quickstart(Protocol::Batched, N, Some(&log), None);
    let running = LocalCluster::new(config(WATCHDOG))
        .submit(topology)
        .unwrap();
    let handle = running.metrics_handle();
    let start = Instant::now();
    while (acks_and_fails(&log).0.len() as u64) < N && start.elapsed() < WATCHDOG {
        std::thread::sleep(Duration::from_millis(20));
    }
    // While the children run: their CPU time and memory.
    let live = handle.metrics();
    running.stop();
    let stats = running.wait().unwrap();
    assert!(stats.errors.is_empty(), "{:#?}", stats.errors);
    let of = |name: &str, component: &str| -> Vec<f64> {
        samples_labelled(&live, name, ("component", component))
            .iter()
            .map(|s| s.value)
            .collect()
    };
    for component in ["sentences", "split", "count"] {
        let rss = of("gale_multilang_resident_bytes", component);
        assert!(
            !rss.is_empty() && rss.iter().all(|&b| b > 1e6),
            "{component}: {rss:?}"
        );
        let cpu = of("gale_multilang_cpu_seconds", component);
        assert!(
            !cpu.is_empty() && cpu.iter().all(|&s| s >= 0.0),
            "{component}: {cpu:?}"
        );
    }
    // Every sentence went through split: its execute latency is the time
    // the child held each one, every input timed (not a sample).
    let end = handle.metrics();
    let split = end.component("split").unwrap();
    let latency = split.execute_latency.as_ref().expect("a histogram");
    assert_eq!(latency.count, N, "{latency:?}");
    assert!(latency.mean_ns > 0, "{latency:?}");
}

/// A bolt that never acks: its inputs' trees stay pending.
struct Hold;

impl Bolt for Hold {
    fn declare_output_fields(&self, _: &mut OutputFieldsDeclarer) {}
    fn execute(&mut self, _: &Input<'_>, _: &mut BoltOutput<'_>) {}
}

#[test]
fn a_batched_spout_child_stays_within_max_spout_pending() {
    const MAX: u64 = 10;
    let spout = ShellConfig::python(python(), "endless_spout:Numbers")
        .working_dir(root().join("tests/python"))
        .stream("default", ["n"]);
    let mut b = TopologyBuilder::new("max-pending");
    b.set_max_spout_pending(MAX as usize);
    // Long enough that no tree times out (and is replayed) before the
    // stop; short, because the stop waits for the pending trees.
    b.set_message_timeout(Duration::from_secs(5));
    b.set_spout("numbers", move || ShellSpout::new(spout.clone()), 1);
    b.set_bolt("hold", || Hold, 1).shuffle_grouping("numbers");
    let running = LocalCluster::new(config(WATCHDOG))
        .submit(b.build().unwrap())
        .unwrap();
    let start = Instant::now();
    while running.stats().components["numbers"].emitted < MAX && start.elapsed() < WATCHDOG {
        std::thread::sleep(Duration::from_millis(20));
    }
    // Time for more requests to the child, were it asked for more.
    std::thread::sleep(Duration::from_millis(500));
    running.stop();
    let stats = running.wait().unwrap();
    assert!(stats.errors.is_empty(), "{:#?}", stats.errors);
    // No tree completes (nor times out): the spout emitted its window and
    // no more, though one request under the batched protocol may ask for
    // up to `max_pending` (2048) `next_tuple` calls.
    assert_eq!(stats.components["numbers"].emitted, MAX);
}

#[test]
fn a_gale_bolt_class_counts_exactly_under_both_protocols() {
    for protocol in [Protocol::Batched, Protocol::Storm] {
        let split =
            gale_run("gale_split:GaleSplit", &root().join("tests/python")).protocol(protocol);
        let (topology, counts) = wordcount(split, 1000, 2);
        let (stats, metrics) = run_finite_with_metrics(topology);
        assert!(stats.errors.is_empty(), "{:#?}", stats.errors);
        assert_eq!(counts.snapshot(), expected_counts(1000), "{protocol:?}");
        let batched = f64::from(u8::from(protocol == Protocol::Batched));
        assert_eq!(batched_gauges(&metrics), [batched, batched]);
    }
}

/// Sums the `n` of each (word, n) it gets.
struct SumBolt(Arc<Mutex<BTreeMap<String, u64>>>);

impl Bolt for SumBolt {
    fn declare_output_fields(&self, _d: &mut OutputFieldsDeclarer) {}
    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        let word = input
            .get(0)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_owned();
        let n = input.get(1).and_then(|v| v.as_i64()).unwrap_or(0);
        *self.0.lock().unwrap().entry(word).or_insert(0) += n as u64;
        out.ack(input);
    }
}

#[test]
fn a_streamparse_batching_bolt_groups_between_ticks_under_the_batched_protocol() {
    batching("batching_count:BatchCount");
}

#[test]
fn a_streamparse_tickless_batching_bolt_emits_and_acks_from_its_timer_thread() {
    batching("batching_count:TicklessCount");
}

/// Word count through the batching bolt `class` of
/// tests/python/batching_count.py (2 tasks, a tick every 100 ms): the
/// (word, n) it emits add up to the counts.
fn batching(class: &str) {
    const N: u64 = 500;
    let dir = root().join("tests/python");
    let split = gale_run("split_bolt:SplitBolt", &examples());
    let count = gale_run(class, &dir);
    let count = ShellConfig {
        streams: Vec::new(),
        ..count
    }
    .stream("default", ["word", "n"]);
    let sums = Arc::new(Mutex::new(BTreeMap::new()));
    let sink = Arc::clone(&sums);
    let mut b = TopologyBuilder::new("batching");
    b.set_spout(
        "spout",
        move || gale::builtin::wordcount::SentenceSpout::new(Some(N)).reliable(true),
        1,
    );
    b.set_bolt("split", move || ShellBolt::new(split.clone()), 1)
        .shuffle_grouping("spout");
    b.set_bolt("count", move || ShellBolt::new(count.clone()), 2)
        .fields_grouping("split", ["word"])
        .tick_interval(Duration::from_millis(100));
    b.set_bolt("sum", move || SumBolt(Arc::clone(&sink)), 1)
        .shuffle_grouping("count");
    let stats = run_finite(b.build().unwrap());
    assert!(stats.errors.is_empty(), "{:#?}", stats.errors);
    assert_eq!(*sums.lock().unwrap(), expected_counts(N));
}
