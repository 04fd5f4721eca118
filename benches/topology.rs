//! End to end: storm-perf's const-spout-null-bolt on two pinned worker
//! threads, against the same spout->bolt pipeline written with a
//! crossbeam channel, and word count, in tuples (sentences) per second.
//!
//! Run: `cargo bench --bench topology`

// criterion_group! generates a public function without docs.
#![allow(missing_docs)]

use std::hint::black_box;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use gale::builtin::{self, BuiltinOptions};
use gale::{LocalCluster, RunConfig, Value};

fn run_builtin(name: &str, count: u64, threads: usize) -> Duration {
    run_builtin_with(name, count, threads, false)
}

fn run_builtin_with(name: &str, count: u64, threads: usize, ack: bool) -> Duration {
    let opts = BuiltinOptions {
        threads,
        count: Some(count),
        ack,
        ..BuiltinOptions::default()
    };
    let built = builtin::build(name, &opts).expect("built-in topology");
    let config = RunConfig {
        threads,
        ..RunConfig::default()
    };
    let start = Instant::now();
    let stats = LocalCluster::new(config)
        .submit(built.topology)
        .expect("topology starts")
        .wait()
        .expect("topology runs");
    let elapsed = start.elapsed();
    // Check behaviour, not just time: every tuple reached the last bolt.
    let last = stats
        .components
        .values()
        .map(|c| c.executed)
        .max()
        .unwrap_or(0);
    assert!(last >= count, "{name}: {last} executed of {count}");
    elapsed
}

/// The same values, spout thread to bolt thread, through a bounded
/// crossbeam channel: each tuple is an owned `Vec<Value>` as a naive engine
/// would pass it.
fn crossbeam_pipeline(count: u64) -> Duration {
    let (tx, rx) = crossbeam_channel::bounded::<Vec<Value>>(1 << 14);
    let value = Value::from(builtin::perf::DEFAULT_VALUE);
    let start = Instant::now();
    let producer = thread::spawn(move || {
        for _ in 0..count {
            tx.send(vec![value.clone()]).expect("receiver alive");
        }
    });
    let mut seen = 0u64;
    for tuple in rx.iter() {
        black_box(&tuple);
        seen += 1;
    }
    producer.join().expect("producer");
    assert_eq!(seen, count);
    start.elapsed()
}

fn bench_topologies(c: &mut Criterion) {
    let mut g = c.benchmark_group("topology/const-spout-null-bolt");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Elements(1));
    g.bench_function("gale", |b| {
        b.iter_custom(|iters| run_builtin("const-spout-null-bolt", iters, 2))
    });
    g.bench_function("crossbeam-channel", |b| b.iter_custom(crossbeam_pipeline));
    g.finish();

    // Storm's acker benchmark: the same topology with and without acking,
    // in one group, so the ratio is measured in one run.
    let mut g = c.benchmark_group("topology/const-spout-id-bolt-null-bolt");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Elements(1));
    g.bench_function("no-acking", |b| {
        b.iter_custom(|iters| run_builtin_with("const-spout-id-bolt-null-bolt", iters, 2, false))
    });
    g.bench_function("acking", |b| {
        b.iter_custom(|iters| run_builtin_with("const-spout-id-bolt-null-bolt", iters, 2, true))
    });
    g.finish();

    let mut g = c.benchmark_group("topology/wordcount");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Elements(1));
    g.bench_function("gale-2-threads", |b| {
        b.iter_custom(|iters| run_builtin("wordcount", iters, 2))
    });
    g.finish();
}

criterion_group!(benches, bench_topologies);
criterion_main!(benches);
