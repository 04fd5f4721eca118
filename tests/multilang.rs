//! Multi-lang with real Python and real pystorm/streamparse: word count
//! through a Python split bolt (JSON and msgpack), a reliable Python
//! spout, direct emits with task-id replies, and heartbeats.

mod util;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gale::builtin::wordcount::expected_counts;
use gale::engine::{
    Bolt, BoltOutput, Input, LocalCluster, OutputFieldsDeclarer, TaskId, TopologyBuilder,
    TopologyContext,
};
use gale::multilang::{Serializer, ShellBolt, ShellConfig, ShellSpout};
use util::*;

#[test]
fn wordcount_through_a_pystorm_split_bolt_is_exact_with_json() {
    let split = python_split(&[&example("split_bolt.py"), "json"]);
    let (topology, counts) = wordcount(split, 500, 2);
    let stats = run_finite(topology);
    assert!(stats.errors.is_empty(), "{:#?}", stats.errors);
    assert_eq!(counts.snapshot(), expected_counts(500));
}

#[test]
fn wordcount_through_a_pystorm_split_bolt_is_exact_with_msgpack() {
    let split =
        python_split(&[&example("split_bolt.py"), "msgpack"]).serializer(Serializer::Msgpack);
    let (topology, counts) = wordcount(split, 500, 2);
    let stats = run_finite(topology);
    assert!(stats.errors.is_empty(), "{:#?}", stats.errors);
    assert_eq!(counts.snapshot(), expected_counts(500));
}

#[test]
fn a_shell_bolts_execute_latency_runs_from_sending_an_input_to_its_ack() {
    const SENTENCES: u64 = 20;
    // The child takes 30 ms per sentence; writing into the pipe takes
    // microseconds.
    let split = python_split(&[&script("slow_split.py"), "30"]);
    let (topology, counts) = wordcount(split, SENTENCES, 1);
    let (stats, metrics) = run_finite_with_metrics(topology);
    assert!(stats.errors.is_empty(), "{:#?}", stats.errors);
    assert_eq!(counts.snapshot(), expected_counts(SENTENCES));
    let split = metrics.component("split").unwrap();
    let latency = split.execute_latency.as_ref().expect("a histogram");
    // Every input the child acked, not a sample of execute calls.
    assert_eq!(latency.count, SENTENCES, "{latency:?}");
    // Each input waits for its own 30 ms at least (several are queued
    // at the child at once, so most wait longer).
    let min = Duration::from_millis(30).as_nanos() as u64;
    assert!(latency.p50_ns >= min, "{latency:?}");
    assert!(latency.max_ns >= 2 * min, "{latency:?}");
}

#[test]
fn metrics_a_child_reports_become_gauges_and_bad_ones_errors() {
    const SENTENCES: u64 = 300;
    let split = python_split(&[&script("metrics_split.py"), "json"]);
    let (topology, counts) = wordcount(split, SENTENCES, 2);
    let (stats, metrics) = run_finite_with_metrics(topology);
    assert_eq!(counts.snapshot(), expected_counts(SENTENCES));
    // pystorm's report_metric("sentences", n) after each sentence: per
    // task the latest n, which add up to every sentence.
    let sentences = samples_labelled(&metrics, "gale_multilang_metric", ("name", "sentences"));
    assert_eq!(sentences.len(), 2, "one gauge per task: {sentences:#?}");
    assert!(sentences.iter().all(|s| s
        .labels
        .iter()
        .any(|(k, v)| k == "component" && v == "split")));
    let total: f64 = sentences.iter().map(|s| s.value).sum();
    assert_eq!(total, SENTENCES as f64, "{sentences:#?}");
    // A value that is not a number is refused, naming the metric.
    let bad = errors_with(&stats, "split", "metric `mood`");
    assert_eq!(bad.len(), 2, "{:#?}", stats.errors);
    assert!(metrics
        .samples
        .iter()
        .all(|s| !s.labels.iter().any(|(_, v)| v == "mood")));
}

#[test]
fn wordcount_is_exact_with_one_pending_tuple_per_child() {
    let split = python_split(&[&example("split_bolt.py"), "json"]).max_pending(1);
    let (topology, counts) = wordcount(split, 200, 2);
    let stats = run_finite(topology);
    assert!(stats.errors.is_empty(), "{:#?}", stats.errors);
    assert_eq!(counts.snapshot(), expected_counts(200));
}

#[test]
fn wordcount_through_a_streamparse_bolt_is_exact() {
    let split = ShellConfig::new(
        python(),
        ["-m", "streamparse.run", "streamparse_split.SplitBolt"],
    )
    .working_dir(root().join("examples/python"))
    .stream("default", ["word"]);
    let (topology, counts) = wordcount(split, 300, 1);
    let stats = run_finite(topology);
    assert!(stats.errors.is_empty(), "{:#?}", stats.errors);
    assert_eq!(counts.snapshot(), expected_counts(300));
}

/// Reads the `ack N` / `fail N` lines a Python spout wrote.
fn spout_log(path: &std::path::Path) -> (BTreeMap<u64, u32>, BTreeMap<u64, u32>) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let (mut acks, mut fails) = (BTreeMap::new(), BTreeMap::new());
    for line in text.lines() {
        let Some((what, n)) = line.split_once(' ') else {
            continue;
        };
        let Ok(n) = n.parse() else { continue };
        match what {
            "ack" => *acks.entry(n).or_insert(0) += 1,
            "fail" => *fails.entry(n).or_insert(0) += 1,
            _ => {}
        }
    }
    (acks, fails)
}

#[test]
fn a_reliable_python_spout_sees_every_message_acked_once_after_a_bolt_fails_some() {
    const N: u64 = 200;
    for serializer in [Serializer::Json, Serializer::Msgpack] {
        let tmp = scratch(&format!("reliable-{}", serializer.name()));
        let dir = tmp.path();
        let log = dir.join("spout.log");
        let spout = ShellConfig::new(
            python(),
            [
                script("reliable_spout.py"),
                serializer.name().to_owned(),
                N.to_string(),
                log.display().to_string(),
            ],
        )
        .serializer(serializer)
        .stream("default", ["n"]);
        let bolt = ShellConfig::new(
            python(),
            [script("flaky_bolt.py"), serializer.name().to_owned()],
        )
        .serializer(serializer);
        let mut b = TopologyBuilder::new("reliable");
        b.set_spout("numbers", move || ShellSpout::new(spout.clone()), 1);
        b.set_bolt("flaky", move || ShellBolt::new(bolt.clone()), 2)
            .shuffle_grouping("numbers");
        let running = LocalCluster::new(config(WATCHDOG))
            .submit(b.build().unwrap())
            .unwrap();
        let start = Instant::now();
        while spout_log(&log).0.len() < N as usize && start.elapsed() < WATCHDOG {
            std::thread::sleep(Duration::from_millis(50));
        }
        running.stop();
        let stats = running.wait().unwrap();
        assert!(stats.errors.is_empty(), "{:#?}", stats.errors);
        let (acks, fails) = spout_log(&log);
        assert_eq!(acks.len() as u64, N, "acked: {acks:?}");
        assert!(acks.values().all(|&n| n == 1), "acked twice: {acks:?}");
        assert!(
            fails.keys().all(|n| n % 4 == 0),
            "unexpected fails: {fails:?}"
        );
        assert!(fails.contains_key(&0), "the bolt failed none: {fails:?}");
    }
}

/// What a Rust `sink` bolt saw: (its task, stream, values as strings).
type Seen = Arc<Mutex<Vec<(TaskId, String, Vec<String>)>>>;

struct Recorder {
    seen: Seen,
    task: TaskId,
}

impl Bolt for Recorder {
    fn declare_output_fields(&self, _d: &mut OutputFieldsDeclarer) {}
    fn prepare(&mut self, context: &TopologyContext) {
        self.task = context.task_id();
    }
    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        let values = input
            .values()
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_owned())
            .collect();
        let stream = input.source_stream().to_owned();
        self.seen.lock().unwrap().push((self.task, stream, values));
        out.ack(input);
    }
}

#[test]
fn direct_emits_reach_their_task_and_need_task_ids_gets_the_targets() {
    direct_emits(ShellConfig::new(
        python(),
        [script("direct_bolt.py"), "json".to_owned()],
    ));
}

#[test]
fn direct_emits_and_need_task_ids_work_under_the_batched_protocol() {
    let direct = ShellConfig::python(python(), "direct_bolt:DirectBolt")
        .working_dir(root().join("tests/python"));
    direct_emits(direct);
}

/// Runs the direct-emit topology with the emitter `direct` (the pystorm
/// bolt of tests/python/direct_bolt.py).
fn direct_emits(direct: ShellConfig) {
    const SENTENCES: u64 = 40;
    let seen: Seen = Arc::default();
    let direct = direct
        .stream("default", ["word"])
        .direct_stream("direct", ["word", "ids"]);
    let split = python_split(&[&example("split_bolt.py"), "json"]);
    let mut b = TopologyBuilder::new("direct");
    b.set_spout(
        "spout",
        || gale::builtin::wordcount::SentenceSpout::new(Some(SENTENCES)).reliable(true),
        1,
    );
    b.set_bolt("split", move || ShellBolt::new(split.clone()), 1)
        .shuffle_grouping("spout");
    b.set_bolt("emitter", move || ShellBolt::new(direct.clone()), 2)
        .shuffle_grouping("split");
    let s = Arc::clone(&seen);
    b.set_bolt(
        "sink",
        move || Recorder {
            seen: Arc::clone(&s),
            task: 0,
        },
        3,
    )
    .fields_grouping("emitter", ["word"])
    .direct_grouping("emitter", "direct");
    let topology = b.build().unwrap();
    let stats = run_finite(topology);
    assert!(stats.errors.is_empty(), "{:#?}", stats.errors);
    let seen = seen.lock().unwrap();
    let sinks: BTreeSet<TaskId> = seen.iter().map(|s| s.0).collect();
    let words: usize = expected_counts(SENTENCES)
        .values()
        .map(|&n| n as usize)
        .sum();
    // Every word went once on each stream.
    let on = |stream: &str| seen.iter().filter(|s| s.1 == stream).count();
    assert_eq!(on("default"), words);
    assert_eq!(on("direct"), words);
    // Each word's default-stream emit went to the task the child was told.
    let task_of_word: BTreeMap<&str, TaskId> = seen
        .iter()
        .filter(|s| s.1 == "default")
        .map(|s| (s.2[0].as_str(), s.0))
        .collect();
    let highest = *sinks.iter().max().unwrap();
    for (task, _, values) in seen.iter().filter(|s| s.1 == "direct") {
        assert_eq!(*task, highest, "direct emit to the wrong task");
        let ids: Vec<TaskId> = serde_json::from_str(&values[1]).unwrap();
        assert_eq!(ids, vec![task_of_word[values[0].as_str()]], "{values:?}");
    }
}

#[test]
fn heartbeats_and_ticks_reach_an_idle_child_and_are_answered() {
    let tmp = scratch("heartbeats");
    let dir = tmp.path();
    let log = dir.join("heartbeats.log");
    let bolt = ShellConfig::new(
        python(),
        [
            script("heartbeat_bolt.py"),
            "json".to_owned(),
            log.display().to_string(),
        ],
    )
    .heartbeat_interval(Duration::from_millis(50))
    .subprocess_timeout(Duration::from_secs(60));
    let mut b = TopologyBuilder::new("heartbeats");
    b.set_spout("spout", || Idle, 1);
    b.set_bolt("idle", move || ShellBolt::new(bolt.clone()), 1)
        .shuffle_grouping("spout")
        .tick_interval(Duration::from_millis(50));
    let running = LocalCluster::new(config(WATCHDOG))
        .submit(b.build().unwrap())
        .unwrap();
    let start = Instant::now();
    let count = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .count()
    };
    while count() < 5 && start.elapsed() < WATCHDOG {
        std::thread::sleep(Duration::from_millis(50));
    }
    running.stop();
    let stats = running.wait().unwrap();
    assert!(
        count() >= 5,
        "only {} heartbeats reached the child",
        count()
    );
    assert!(stats.errors.is_empty(), "{:#?}", stats.errors);
}
