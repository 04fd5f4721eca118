//! Low-rate latency: one tuple in flight at a time (the spout emits the
//! next only after the bolt has executed the previous one), so a tuple
//! never waits for a ring batch to fill and every hop shows its idle-path
//! cost: flush on idle plus the wait strategy's wake-up. Reports the time
//! per spout-to-bolt-and-back round trip, with the default spin-yield-park
//! strategy and with busy-spin.
//!
//! Run: `cargo bench --bench latency`

// criterion_group! generates a public function without docs.
#![allow(missing_docs)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use gale::prelude::*;

struct Ping {
    sent: u64,
    total: u64,
    seen: Arc<AtomicU64>,
    value: [Value; 1],
}

impl Spout for Ping {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare(["n"]);
    }
    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        // SYNC: Acquire pairs with the bolt's Release store.
        if self.sent < self.total && self.seen.load(Ordering::Acquire) == self.sent {
            out.emit(&self.value);
            self.sent += 1;
        }
    }
    fn is_finished(&self) -> bool {
        self.sent == self.total
    }
}

struct Pong(Arc<AtomicU64>);

impl Bolt for Pong {
    fn declare_output_fields(&self, _d: &mut OutputFieldsDeclarer) {}
    fn execute(&mut self, _input: &Input<'_>, _out: &mut BoltOutput<'_>) {
        // SYNC: Release pairs with the spout's Acquire load.
        self.0.fetch_add(1, Ordering::Release);
    }
}

fn round_trips(n: u64, wait: WaitStrategy) -> Duration {
    let seen = Arc::new(AtomicU64::new(0));
    let mut b = TopologyBuilder::new("ping-pong");
    let s = Arc::clone(&seen);
    b.set_spout(
        "ping",
        move || Ping {
            sent: 0,
            total: n,
            seen: Arc::clone(&s),
            value: [Value::I64(1)],
        },
        1,
    );
    let s = Arc::clone(&seen);
    b.set_bolt("pong", move || Pong(Arc::clone(&s)), 1)
        .shuffle_grouping("ping");
    let config = RunConfig {
        threads: 2,
        wait,
        ..RunConfig::default()
    };
    let start = Instant::now();
    let stats = LocalCluster::new(config)
        .submit(b.build().expect("valid topology"))
        .expect("starts")
        .wait()
        .expect("runs");
    assert_eq!(stats.components["pong"].executed, n);
    start.elapsed()
}

fn bench_latency(c: &mut Criterion) {
    let mut g = c.benchmark_group("latency/one-tuple-in-flight");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("spin-yield-park", |b| {
        b.iter_custom(|iters| round_trips(iters, WaitStrategy::default()))
    });
    g.bench_function("busy-spin", |b| {
        b.iter_custom(|iters| round_trips(iters, WaitStrategy::BusySpin))
    });
    g.finish();
}

criterion_group!(benches, bench_latency);
criterion_main!(benches);
