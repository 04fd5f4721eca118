//! Live metrics: exact counts on a finite, acked word count (per stream,
//! per input, per task and per component), latency sample counts, metrics
//! off, live updates while running, grouped user errors, and metric
//! sources of other subsystems.

mod util;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gale_codec::Value;
use gale_engine::{
    Bolt, BoltOutput, ComponentKind, Input, LocalCluster, MetricSource, MetricsConfig,
    OutputFieldsDeclarer, RunConfig, Sample, SampleKind, Spout, SpoutOutput, Topology,
    TopologyBuilder, TopologyMetrics,
};
use util::{config, wait, wait_until};

const SENTENCES: [&str; 3] = [
    "the cow jumped over the moon",
    "an apple a day",
    "four score and seven years ago",
];

/// Emits `n` sentences with message ids (or forever with `n == u64::MAX`).
struct Sentences {
    n: u64,
    i: u64,
}

impl Spout for Sentences {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare(["sentence"]);
    }
    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        if self.i < self.n {
            let s = SENTENCES[(self.i % SENTENCES.len() as u64) as usize];
            out.emit_with_id(&[Value::from(s)], self.i);
            self.i += 1;
        }
    }
    fn is_finished(&self) -> bool {
        self.i == self.n
    }
}

/// Words on `default`, one length per sentence on `lengths`, all anchored.
struct Split;

impl Bolt for Split {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare(["word"]);
        d.declare_stream("lengths", ["n"]);
    }
    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        let sentence = input.field("sentence").unwrap().as_str().unwrap();
        let mut n = 0;
        for word in sentence.split_whitespace() {
            out.emit_anchored("default", &[input], &[Value::from(word)]);
            n += 1;
        }
        out.emit_anchored("lengths", &[input], &[Value::I64(n)]);
        out.ack(input);
    }
}

/// Acks everything; reports an error for each `moon`.
struct Sink;

impl Bolt for Sink {
    fn declare_output_fields(&self, _d: &mut OutputFieldsDeclarer) {}
    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        if input.get(0).and_then(|v| v.as_str()) == Some("moon") {
            out.report_error("no moons here");
        }
        out.ack(input);
    }
}

fn topology(sentences: u64) -> Topology {
    let mut b = TopologyBuilder::new("metrics");
    b.set_spout("sentences", move || Sentences { n: sentences, i: 0 }, 2);
    b.set_bolt("split", || Split, 3)
        .shuffle_grouping("sentences");
    b.set_bolt("count", || Sink, 2)
        .fields_grouping("split", ["word"]);
    b.set_bolt("lengths", || Sink, 1)
        .grouping("split", "lengths", gale_engine::Grouping::Global);
    // Two inputs and ticks: per-input counts for more than one stream.
    b.set_bolt("both", || Sink, 2)
        .shuffle_grouping("split")
        .grouping("split", "lengths", gale_engine::Grouping::Shuffle)
        .tick_interval(std::time::Duration::from_millis(5));
    b.build().unwrap()
}

fn run(sentences: u64, metrics: MetricsConfig) -> TopologyMetrics {
    let cfg = RunConfig {
        metrics,
        ..config(2, 1 << 16)
    };
    let running = LocalCluster::new(cfg).submit(topology(sentences)).unwrap();
    let handle = running.metrics_handle();
    wait(running, "metrics word count").unwrap();
    let m = handle.metrics();
    assert!(m.finished);
    m
}

/// Words in the first `n` sentences of each of the two spout tasks.
fn words(n: u64) -> u64 {
    2 * (0..n)
        .map(|i| SENTENCES[(i % 3) as usize].split_whitespace().count() as u64)
        .sum::<u64>()
}

#[test]
fn counts_are_exact_per_stream_input_task_and_component() {
    const N: u64 = 600; // per spout task
    let m = run(
        N,
        MetricsConfig {
            sample_rate: 1.0,
            // Every execute timed, however close together.
            min_sample_interval: Duration::ZERO,
            ..MetricsConfig::default()
        },
    );
    let (sentences, words) = (2 * N, words(N));
    let moons = 2 * N / 3;

    let spout = m.component("sentences").unwrap();
    assert_eq!(spout.kind, ComponentKind::Spout);
    assert_eq!(spout.tasks.len(), 2);
    assert_eq!(spout.counters.emitted, sentences);
    assert_eq!(spout.counters.transferred, sentences);
    assert_eq!(spout.counters.acked, sentences);
    assert_eq!(spout.counters.failed, 0);
    assert_eq!(spout.outputs.len(), 1);
    assert_eq!(spout.outputs[0].stream, "default");
    assert_eq!(spout.outputs[0].emitted, sentences);
    let complete = spout.complete_latency.as_ref().expect("complete latency");
    assert_eq!(complete.count, sentences);
    assert!(complete.p50_ns <= complete.p99_ns && complete.p99_ns <= complete.max_ns);

    let split = m.component("split").unwrap();
    assert_eq!(split.kind, ComponentKind::Bolt);
    assert_eq!(split.counters.executed, sentences);
    assert_eq!(split.counters.acked, sentences);
    assert_eq!(split.counters.emitted, words + sentences);
    let out = |name: &str| split.outputs.iter().find(|o| o.stream == name).unwrap();
    assert_eq!(out("default").emitted, words);
    assert_eq!(out("lengths").emitted, sentences);
    assert_eq!(split.inputs.len(), 1);
    let input = &split.inputs[0];
    assert_eq!(
        (
            input.component.as_str(),
            input.stream.as_str(),
            input.grouping.as_str()
        ),
        ("sentences", "default", "shuffle")
    );
    assert_eq!(
        (input.executed, input.acked, input.failed),
        (sentences, sentences, 0)
    );
    // A sample rate of 1 times every execute, and every ack inside it.
    assert_eq!(split.execute_latency.as_ref().unwrap().count, sentences);
    assert_eq!(split.process_latency.as_ref().unwrap().count, sentences);

    let count = m.component("count").unwrap();
    assert_eq!(count.counters.executed, words);
    assert_eq!(count.counters.acked, words);
    assert_eq!(count.counters.errors, moons);
    assert_eq!(count.inputs[0].grouping, "fields");
    assert_eq!(count.inputs[0].executed, words);
    assert_eq!(count.execute_latency.as_ref().unwrap().count, words);
    let lengths = m.component("lengths").unwrap();
    assert_eq!(lengths.counters.executed, sentences);
    assert_eq!(lengths.inputs[0].stream, "lengths");
    assert_eq!(lengths.inputs[0].executed, sentences);
    let both = m.component("both").unwrap();
    let input = |stream: &str| both.inputs.iter().find(|i| i.stream == stream).unwrap();
    assert_eq!(
        (input("default").executed, input("default").acked),
        (words, words)
    );
    assert_eq!(
        (input("lengths").executed, input("lengths").acked),
        (sentences, sentences)
    );
    let ticks = both.counters.executed - words - sentences;
    if ticks > 0 {
        assert_eq!(input("__system").component, "__system");
        assert_eq!(input("__system").executed, ticks);
        assert_eq!(input("__system").acked, ticks);
    }
    assert_eq!(both.counters.acked, both.counters.executed);
    let by_input: u64 = both.inputs.iter().map(|i| i.executed).sum();
    assert_eq!(by_input, both.counters.executed, "{:?}", both.inputs);
    let split_out: u64 = split.outputs.iter().map(|o| o.transferred).sum();
    assert_eq!(split_out, split.counters.transferred);
    assert_eq!(out("default").transferred, 2 * words);
    assert_eq!(out("lengths").transferred, 2 * sentences);

    // Tasks sum to their component.
    for c in &m.components {
        let executed: u64 = m
            .tasks
            .iter()
            .filter(|t| t.component == c.name)
            .map(|t| t.counters.executed)
            .sum();
        assert_eq!(executed, c.counters.executed, "{}", c.name);
        assert!(c.capacity >= 0.0 && c.capacity.is_finite(), "{}", c.name);
        assert!((0.0..=1.0).contains(&c.ring_occupancy), "{}", c.name);
    }
    assert_eq!(m.component("__acker").unwrap().kind, ComponentKind::System);
    let node = m.node_totals();
    assert_eq!(
        node.emitted,
        m.components.iter().map(|c| c.counters.emitted).sum::<u64>()
    );
    assert_eq!(m.workers.len(), 2);
    assert!(m.workers.iter().all(|w| w.ring_capacity > 0));

    // Errors grouped by task and message, with their count.
    let reported: u64 = m
        .errors
        .iter()
        .filter(|e| e.component == "count" && e.message == "reported: no moons here")
        .map(|e| e.count)
        .sum();
    assert_eq!(reported, moons);
    assert!(m.errors.iter().all(|e| e.first <= e.last));
}

#[test]
fn metrics_off_keeps_totals_only() {
    const N: u64 = 300;
    let m = run(
        N,
        MetricsConfig {
            enabled: false,
            sample_rate: 1.0,
            ..MetricsConfig::default()
        },
    );
    let split = m.component("split").unwrap();
    assert_eq!(split.counters.executed, 2 * N);
    assert_eq!(split.counters.emitted, words(N) + 2 * N);
    assert!(split.outputs.iter().all(|o| o.emitted == 0));
    assert!(split.execute_latency.is_none() && split.process_latency.is_none());
    // The spouts' complete latency is still kept (published at the end).
    let spout = m.component("sentences").unwrap();
    assert_eq!(spout.complete_latency.as_ref().unwrap().count, 2 * N);
}

struct Link(AtomicU64);

impl MetricSource for Link {
    fn collect(&self, out: &mut Vec<Sample>) {
        out.push(Sample {
            name: "gale_link_bytes_out_total".into(),
            help: "Bytes sent to a peer".into(),
            kind: SampleKind::Counter,
            labels: vec![("peer".into(), "node-2".into())],
            value: self.0.load(Ordering::Relaxed) as f64,
        });
    }
}

#[test]
fn metrics_are_live_and_sources_are_collected() {
    let running = LocalCluster::new(config(2, 1 << 16))
        .submit(topology(u64::MAX))
        .unwrap();
    let link = Arc::new(Link(AtomicU64::new(7)));
    running
        .metrics_handle()
        .register(Arc::clone(&link) as Arc<dyn MetricSource>);
    wait_until("live executed counts", || {
        let m = running.metrics();
        let c = m.component("count").unwrap();
        c.counters.executed > 1000 && c.inputs[0].executed > 0
    });
    let first = running.metrics();
    assert!(!first.finished);
    assert_eq!(first.samples.len(), 1);
    assert_eq!(first.samples[0].value, 7.0);
    link.0.store(9, Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(300));
    let second = running.metrics();
    assert_eq!(second.samples[0].value, 9.0);
    let window = second.window_since(&first);
    let count = window.iter().find(|w| w.component == "count").unwrap();
    assert!(count.rate > 0.0, "{window:?}");
    assert!(
        count.capacity > 0.0 && count.capacity.is_finite(),
        "{window:?}"
    );
    let since_start = second.window_since_start();
    let count = since_start.iter().find(|w| w.component == "count").unwrap();
    let c = second.component("count").unwrap();
    let expected = c.counters.executed as f64 / second.uptime.as_secs_f64();
    assert!(
        (count.rate - expected).abs() < 1e-6 * expected.max(1.0),
        "{since_start:?}"
    );
    assert!(second.id.starts_with("metrics-1-"), "{}", second.id);
    running.stop();
    wait(running, "live metrics").unwrap();
}

/// Emits `n` untracked numbers, as fast as it is called.
struct Numbers {
    n: u64,
    i: u64,
}

impl Spout for Numbers {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare(["n"]);
    }
    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        if self.i < self.n {
            out.emit(&[Value::I64(self.i as i64)]);
            self.i += 1;
        }
    }
    fn is_finished(&self) -> bool {
        self.i == self.n
    }
}

/// Spends `spin` in each `execute` (busy, so the time is its own).
struct Slow {
    spin: Duration,
}

impl Bolt for Slow {
    fn declare_output_fields(&self, _d: &mut OutputFieldsDeclarer) {}
    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        let start = std::time::Instant::now();
        while start.elapsed() < self.spin {
            std::hint::spin_loop();
        }
        out.ack(input);
    }
}

/// Takes its whole run first, then spends `spin` per input on all of them
/// together (a sink that writes a batch).
struct Gathering {
    spin: Duration,
}

impl Bolt for Gathering {
    fn declare_output_fields(&self, _d: &mut OutputFieldsDeclarer) {}
    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        out.ack(input);
    }
    fn execute_batch(
        &mut self,
        inputs: &mut gale_engine::InputBatch<'_, '_>,
        out: &mut BoltOutput<'_>,
    ) {
        let anchors: Vec<_> = inputs.map(|i| i.anchor()).collect();
        let start = std::time::Instant::now();
        while start.elapsed() < self.spin * anchors.len() as u32 {
            std::hint::spin_loop();
        }
        for anchor in &anchors {
            out.ack_anchor(anchor);
        }
    }
}

#[test]
fn a_sampled_input_is_timed_alone_within_a_longer_run() {
    const N: u64 = 4000;
    const SPIN: Duration = Duration::from_micros(100);
    let mut b = TopologyBuilder::new("sampled");
    b.set_spout("numbers", || Numbers { n: N, i: 0 }, 1);
    b.set_bolt("slow", || Slow { spin: SPIN }, 1)
        .shuffle_grouping("numbers");
    b.set_bolt("gathering", || Gathering { spin: SPIN }, 1)
        .shuffle_grouping("numbers");
    let cfg = RunConfig {
        metrics: MetricsConfig {
            sample_rate: 0.05,
            ..MetricsConfig::default()
        },
        ..config(2, 1 << 16)
    };
    let running = LocalCluster::new(cfg).submit(b.build().unwrap()).unwrap();
    let handle = running.metrics_handle();
    wait(running, "sampled run").unwrap();
    let m = handle.metrics();
    for name in ["slow", "gathering"] {
        let c = m.component(name).unwrap();
        assert_eq!(c.counters.executed, N, "{name}");
        assert_eq!(c.counters.acked, N, "{name}");
        // One execute in 20 timed, wherever it fell in a run.
        let execute = c.execute_latency.as_ref().unwrap();
        assert!(
            (N / 20 - 1..=N / 20 + 1).contains(&execute.count),
            "{name}: {} executes timed of {N}",
            execute.count
        );
        // The timed input is its own: one input's work, not the run's.
        assert!(
            execute.p50_ns >= SPIN.as_nanos() as u64,
            "{name}: p50 {} ns",
            execute.p50_ns
        );
        assert!(
            execute.p50_ns < 10 * SPIN.as_nanos() as u64,
            "{name}: p50 {} ns",
            execute.p50_ns
        );
    }
    // Acked inside its execute, a timed input's process latency is timed
    // too.
    let slow = m.component("slow").unwrap();
    let process = slow.process_latency.as_ref().unwrap();
    assert!(
        (N / 20 - 1..=N / 20 + 1).contains(&process.count),
        "{} acks timed",
        process.count
    );
}
