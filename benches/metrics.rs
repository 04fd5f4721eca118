//! The cost of live metrics: storm-perf's const-spout-null-bolt (and the
//! acked const-spout-id-bolt-null-bolt, which adds complete latency) on two
//! pinned worker threads with metrics off, on at Storm's default latency
//! sample rate (0.05), and on with every execute timed (rate 1), in one
//! group each so the ratios come from one run. The target: at most
//! 5 % below "off" at the default rate.
//!
//! Run: `cargo bench --bench metrics`

// criterion_group! generates a public function without docs.
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use gale::builtin::{self, BuiltinOptions};
use gale::engine::MetricsConfig;
use gale::{LocalCluster, RunConfig};

fn run(name: &str, count: u64, ack: bool, metrics: MetricsConfig) -> Duration {
    let opts = BuiltinOptions {
        threads: 2,
        count: Some(count),
        ack,
        ..BuiltinOptions::default()
    };
    let built = builtin::build(name, &opts).expect("built-in topology");
    let enabled = metrics.enabled;
    let config = RunConfig {
        threads: 2,
        metrics,
        ..RunConfig::default()
    };
    let start = Instant::now();
    let running = LocalCluster::new(config)
        .submit(built.topology)
        .expect("topology starts");
    let handle = running.metrics_handle();
    running.wait().expect("topology runs");
    let elapsed = start.elapsed();
    // Check behaviour, not just time: every tuple reached the last bolt,
    // and the metrics say so (per stream only when on).
    let m = handle.metrics();
    let last = m
        .components
        .iter()
        .map(|c| c.counters.executed)
        .max()
        .unwrap_or(0);
    assert!(last >= count, "{name}: {last} executed of {count}");
    let per_stream: u64 = m
        .components
        .iter()
        .flat_map(|c| &c.inputs)
        .map(|i| i.executed)
        .sum();
    assert_eq!(per_stream >= count, enabled, "{name}: per-stream counts");
    elapsed
}

fn settings() -> [(&'static str, MetricsConfig); 3] {
    let off = MetricsConfig {
        enabled: false,
        ..MetricsConfig::default()
    };
    let every = MetricsConfig {
        sample_rate: 1.0,
        ..MetricsConfig::default()
    };
    [
        ("off", off),
        ("on-sample-0.05", MetricsConfig::default()),
        ("on-sample-1", every),
    ]
}

fn bench_metrics(c: &mut Criterion) {
    for (name, ack) in [
        ("const-spout-null-bolt", false),
        ("const-spout-id-bolt-null-bolt", true),
    ] {
        let mut g = c.benchmark_group(format!("metrics/{name}"));
        g.sample_size(10).measurement_time(Duration::from_secs(10));
        g.throughput(Throughput::Elements(1));
        for (label, metrics) in settings() {
            g.bench_function(label, |b| {
                b.iter_custom(|iters| run(name, iters, ack, metrics.clone()))
            });
        }
        g.finish();
    }
}

criterion_group!(benches, bench_metrics);
criterion_main!(benches);
