//! Ring throughput between two pinned threads: Gale's shared-memory ring
//! against crossbeam-channel and rtrb moving the same payloads, in the same
//! group and the same run.
//!
//! Run: `cargo bench --bench ring`

// criterion_group! generates a public function without docs.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gale_transport::{ring, ReserveError, RingConfig};

/// Ring data area for every contender (records of N bytes: the same number
/// of slots for the baselines as Gale's ring holds records).
const RING_BYTES: usize = 1 << 20;

fn pin(i: usize) {
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    if let Some(core) = cores.get(i % cores.len().max(1)) {
        core_affinity::set_for_current(*core);
    }
}

/// Runs `produce` and `consume` on two pinned threads released together by
/// a barrier; returns the time until the consumer has seen every record.
fn two_threads<P, C>(produce: P, consume: C) -> Duration
where
    P: FnOnce() + Send + 'static,
    C: FnOnce() + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(3));
    let (b1, b2) = (Arc::clone(&barrier), Arc::clone(&barrier));
    let p = thread::spawn(move || {
        pin(0);
        b1.wait();
        produce();
    });
    let c = thread::spawn(move || {
        pin(1);
        b2.wait();
        let start = Instant::now();
        consume();
        start.elapsed()
    });
    barrier.wait();
    p.join().expect("producer panicked");
    c.join().expect("consumer panicked")
}

fn payload<const N: usize>(seq: u64) -> [u8; N] {
    let mut p = [0u8; N];
    p[..8].copy_from_slice(&seq.to_le_bytes());
    p
}

fn seq_of(record: &[u8]) -> u64 {
    u64::from_le_bytes(record[..8].try_into().expect("records are >= 8 bytes"))
}

fn gale<const N: usize>(n: u64, batch: usize) -> Duration {
    let (mut tx, mut rx) = ring(RingConfig::new(RING_BYTES).with_batch(batch)).unwrap();
    two_threads(
        move || {
            for seq in 0..n {
                loop {
                    match tx.try_reserve(N) {
                        Ok(mut slot) => {
                            slot.copy_from_slice(&payload::<N>(seq));
                            slot.commit();
                            break;
                        }
                        Err(ReserveError::Full) => {
                            tx.flush();
                            std::hint::spin_loop();
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
            }
            tx.flush();
        },
        move || {
            let mut next = 0u64;
            while next < n {
                let mut batch = rx.read();
                for record in &mut batch {
                    assert_eq!(seq_of(black_box(record)), next, "gale ring lost order");
                    next += 1;
                }
            }
        },
    )
}

fn crossbeam<const N: usize>(n: u64) -> Duration {
    let (tx, rx) = crossbeam_channel::bounded::<[u8; N]>(RING_BYTES / (N + 8));
    two_threads(
        move || {
            for seq in 0..n {
                tx.send(payload::<N>(seq)).unwrap();
            }
        },
        move || {
            for next in 0..n {
                let record = rx.recv().unwrap();
                assert_eq!(seq_of(black_box(&record)), next, "crossbeam lost order");
            }
        },
    )
}

fn rtrb<const N: usize>(n: u64) -> Duration {
    let (mut tx, mut rx) = rtrb::RingBuffer::<[u8; N]>::new(RING_BYTES / (N + 8));
    two_threads(
        move || {
            for seq in 0..n {
                let mut item = payload::<N>(seq);
                while let Err(rtrb::PushError::Full(back)) = tx.push(item) {
                    item = back;
                    std::hint::spin_loop();
                }
            }
        },
        move || {
            let mut next = 0u64;
            while next < n {
                match rx.pop() {
                    Ok(record) => {
                        assert_eq!(seq_of(black_box(&record)), next, "rtrb lost order");
                        next += 1;
                    }
                    Err(_) => std::hint::spin_loop(),
                }
            }
        },
    )
}

fn bench_size<const N: usize>(c: &mut Criterion) {
    // Check behaviour before timing: every contender delivers in order.
    gale::<N>(100_000, 64);
    gale::<N>(10_000, 1);
    crossbeam::<N>(10_000);
    rtrb::<N>(10_000);

    let mut g = c.benchmark_group(format!("ring/{N}B"));
    g.throughput(Throughput::Elements(1));
    g.bench_function(BenchmarkId::new("gale", "batch64"), |b| {
        b.iter_custom(|iters| gale::<N>(iters, 64))
    });
    g.bench_function(BenchmarkId::new("gale", "batch1"), |b| {
        b.iter_custom(|iters| gale::<N>(iters, 1))
    });
    g.bench_function("crossbeam-channel", |b| b.iter_custom(crossbeam::<N>));
    g.bench_function("rtrb", |b| b.iter_custom(rtrb::<N>));
    g.finish();
}

/// CPU cost per record without cross-core traffic: one thread writes a batch
/// of 64 records and reads it back. Much less noisy than the two-thread
/// figures on a shared machine, and a floor for them.
fn bench_one_thread(c: &mut Criterion) {
    let mut g = c.benchmark_group("ring-one-thread/64B");
    g.throughput(Throughput::Elements(64));
    let (mut tx, mut rx) = ring(RingConfig::new(RING_BYTES).with_batch(64)).unwrap();
    let mut seq = 0u64;
    g.bench_function("gale", |b| {
        b.iter(|| {
            for _ in 0..64 {
                let mut slot = tx.try_reserve(64).unwrap();
                slot.copy_from_slice(&payload::<64>(seq));
                slot.commit();
                seq += 1;
            }
            let mut sum = 0u64;
            for record in &mut rx.read() {
                sum = sum.wrapping_add(seq_of(black_box(record)));
            }
            sum
        })
    });
    let (ctx, crx) = crossbeam_channel::bounded::<[u8; 64]>(RING_BYTES / 72);
    g.bench_function("crossbeam-channel", |b| {
        b.iter(|| {
            for _ in 0..64 {
                ctx.send(payload::<64>(seq)).unwrap();
                seq += 1;
            }
            let mut sum = 0u64;
            for _ in 0..64 {
                sum = sum.wrapping_add(seq_of(black_box(&crx.recv().unwrap())));
            }
            sum
        })
    });
    let (mut rtx, mut rrx) = rtrb::RingBuffer::<[u8; 64]>::new(RING_BYTES / 72);
    g.bench_function("rtrb", |b| {
        b.iter(|| {
            for _ in 0..64 {
                rtx.push(payload::<64>(seq)).unwrap();
                seq += 1;
            }
            let mut sum = 0u64;
            for _ in 0..64 {
                sum = sum.wrapping_add(seq_of(black_box(&rrx.pop().unwrap())));
            }
            sum
        })
    });
    g.finish();
}

fn bench_ring(c: &mut Criterion) {
    bench_size::<16>(c);
    bench_size::<64>(c);
    bench_size::<256>(c);
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5));
    targets = bench_ring, bench_one_thread
}
criterion_main!(benches);
