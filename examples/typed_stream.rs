//! A typed stream next to the same data as dynamic values: a spout emits
//! `count` points `(id, x, y)`, a bolt reads every field and sums them.
//! Prints each run's rate and checks both sums.
//!
//! Run: `cargo run --release --example typed_stream -- [typed|values]
//! [COUNT] [THREADS] [chain|no-chain]` (both kinds, 10 M points, 1 thread,
//! chained, by default).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use gale::{
    Bolt, BoltOutput, Input, LocalCluster, OutputFieldsDeclarer, RunConfig, Spout, SpoutOutput,
    TopologyBuilder, Value,
};
use gale_engine::rkyv::{Archive, Serialize};

#[derive(Archive, Serialize)]
#[rkyv(crate = gale_engine::rkyv)]
struct Point {
    id: u64,
    x: i64,
    y: i64,
}

/// Emits points `0..count`, typed or as three `Value::I64`s.
struct Points {
    next: u64,
    count: u64,
    typed: bool,
}

impl Spout for Points {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        if self.typed {
            d.declare_typed::<Point>("points", "point");
        } else {
            d.declare_stream("points", ["id", "x", "y"]);
        }
    }
    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        let end = (self.next + 64).min(self.count);
        for id in self.next..end {
            let (x, y) = (id as i64 % 1000, -(id as i64 % 77));
            if self.typed {
                out.emit_typed("points", &Point { id, x, y });
            } else {
                out.emit_to(
                    "points",
                    &[Value::I64(id as i64), Value::I64(x), Value::I64(y)],
                );
            }
        }
        self.next = end;
    }
    fn is_finished(&self) -> bool {
        self.next == self.count
    }
}

/// Sums `id + x + y` of every point.
struct Sum {
    typed: bool,
    local: i64,
    total: Arc<AtomicI64>,
}

impl Bolt for Sum {
    fn declare_output_fields(&self, _d: &mut OutputFieldsDeclarer) {}
    fn execute(&mut self, input: &Input<'_>, _out: &mut BoltOutput<'_>) {
        self.local += if self.typed {
            let p = input.typed::<Point>().expect("a point");
            p.id.to_native() as i64 + p.x.to_native() + p.y.to_native()
        } else {
            let v = |i| input.get(i).and_then(|v| v.as_i64()).expect("an integer");
            v(0) + v(1) + v(2)
        };
    }
    fn cleanup(&mut self) {
        self.total.fetch_add(self.local, Ordering::Relaxed);
    }
}

fn run(typed: bool, count: u64, threads: usize, chain: bool) {
    let total = Arc::new(AtomicI64::new(0));
    let mut b = TopologyBuilder::new("points");
    b.set_spout(
        "points",
        move || Points {
            next: 0,
            count,
            typed,
        },
        1,
    );
    let t = total.clone();
    b.set_bolt(
        "sum",
        move || Sum {
            typed,
            local: 0,
            total: t.clone(),
        },
        1,
    )
    .grouping("points", "points", gale::Grouping::Shuffle);
    let config = RunConfig {
        threads,
        chain,
        ..RunConfig::default()
    };
    let start = Instant::now();
    LocalCluster::new(config)
        .submit(b.build().expect("a valid topology"))
        .expect("the topology starts")
        .wait()
        .expect("the topology runs");
    let secs = start.elapsed().as_secs_f64();
    let expected: i64 = (0..count)
        .map(|id| id as i64 + id as i64 % 1000 - id as i64 % 77)
        .sum();
    assert_eq!(
        total.load(Ordering::Relaxed),
        expected,
        "every point summed"
    );
    let kind = if typed { "typed" } else { "values" };
    println!(
        "{kind}: {count} points on {threads} thread(s) in {secs:.3} s: {:.2} M points/s",
        count as f64 / secs / 1e6
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let kinds: &[bool] = match args.first().map(String::as_str) {
        Some("typed") => &[true],
        Some("values") => &[false],
        _ => &[true, false],
    };
    let count = args
        .get(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000_000);
    let threads = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
    let chain = args.get(3).map(String::as_str) != Some("no-chain");
    for &typed in kinds {
        run(typed, count, threads, chain);
    }
}
