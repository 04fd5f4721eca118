//! The acker's bookkeeping alone, without threads or rings: XOR updates
//! per second through the workers' acker logs ([`AckTable`]) into an
//! acker task ([`Acker`]), batched as the engine does it against one
//! message per update.
//!
//! Each tree is const-spout-id-bolt-null-bolt's: the spout's worker
//! delivers the tuple with the root id as its edge (no update: the acker
//! opens the tree with it); the identity bolt's worker acks it and
//! creates e2 (one update); the null bolt's worker acks e2 (one update).
//! That is two updates per tree, made on two workers with a log each, so
//! folding never merges two updates of one tree: what batching saves here
//! is the message per update. A
//! log is drained into one message when it holds `batch` records
//! ("unbatched": after every update). Every tree must
//! complete: the bench checks the completions before it is timed and in
//! every iteration.
//!
//! Run: `cargo bench --bench acker`

// criterion_group! generates a public function without docs.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gale::engine::bench_api::{root_id, AckTable, Acker};

/// Trees per iteration.
const TREES: u64 = 4096;
/// Updates per tree.
const UPDATES: u64 = 2;
/// The one acker task's id, and the spout task's.
const ACKERS: [u32; 1] = [100];
const SPOUT_TASK: u32 = 1;

/// Two workers' tables and the acker, draining at `batch` roots.
struct Pipeline {
    tables: [AckTable; 2],
    acker: Acker,
    batch: usize,
    /// xorshift state for edge ids.
    seed: u64,
    /// The spout's next sequence number.
    seq: u64,
}

impl Pipeline {
    fn new(batch: usize) -> Self {
        Self {
            tables: Default::default(),
            acker: Acker::new(&[SPOUT_TASK]),
            batch,
            seed: 0x9e37_79b9_7f4a_7c15,
            seq: 0,
        }
    }

    fn id(&mut self) -> u64 {
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        self.seed
    }

    fn maybe_drain(&mut self, table: usize) {
        if self.tables[table].len() >= self.batch {
            let acker = &mut self.acker;
            self.tables[table].drain(&ACKERS, |_, bytes| acker.apply(bytes));
        }
    }

    /// Runs `trees` trees through, drains everything, returns the
    /// completions the acker decided.
    fn run(&mut self, trees: u64) -> usize {
        let mut done = 0;
        for _ in 0..trees {
            self.seq += 1;
            let (root, e2) = (root_id(SPOUT_TASK, self.seq), self.id());
            // The spout's delivery: edge `root`, no update.
            self.tables[0].xor(root, root ^ e2);
            self.maybe_drain(0);
            self.tables[1].xor(root, e2);
            self.maybe_drain(1);
            done += self.acker.take_completions();
        }
        for t in 0..2 {
            let acker = &mut self.acker;
            self.tables[t].drain(&ACKERS, |_, bytes| acker.apply(bytes));
        }
        done + self.acker.take_completions()
    }
}

fn bench_acker(c: &mut Criterion) {
    let mut g = c.benchmark_group("acker/updates");
    g.sample_size(20).measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Elements(TREES * UPDATES));
    for (name, batch) in [("unbatched", 1), ("batch-64", 64), ("batch-1024", 1024)] {
        // Behaviour first: every tree completes exactly once.
        assert_eq!(Pipeline::new(batch).run(TREES), TREES as usize, "{name}");
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            let mut p = Pipeline::new(batch);
            b.iter(|| {
                let done = p.run(black_box(TREES));
                assert_eq!(done, TREES as usize, "{name}");
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_acker);
criterion_main!(benches);
