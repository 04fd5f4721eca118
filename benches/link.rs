//! Link throughput: two links on loopback (127.0.0.1 -> 127.0.0.2), one
//! worker thread writing records for the peer into its outbound ring and the
//! peer's worker draining its inbound ring; io_uring against mio in the same
//! group and the same run, for 64-byte and 1 KiB records. Then the round
//! trip of one 64-byte record (a ping answered by the peer's worker) with
//! nothing else in flight: the latency at a low rate.
//!
//! Run: `cargo bench --bench link` (short check:
//! `cargo bench --bench link -- --warm-up-time 1 --measurement-time 2`).

// criterion_group! generates a public function without docs.
#![allow(missing_docs)]

use std::net::{SocketAddr, TcpListener};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gale_transport::link::{
    Backend, BackendKind, InboundRecords, InboundRoute, Link, LinkConfig, LinkRings, NodeId,
    PeerSpec,
};
use gale_transport::{ring, Consumer, Producer, ReserveError, RingConfig};

/// Every record goes to worker 0; the tag must be the task the bench
/// sends to, as the engine checks its tasks.
struct ToWorkerZero;

/// The task the bench's records are tagged with.
const TASK: u32 = 7;

impl InboundRoute for ToWorkerZero {
    fn route(&self, _peer: NodeId, tag: u32, _record: &[u8]) -> Result<usize, String> {
        match tag {
            TASK => Ok(0),
            _ => Err(format!("no task {tag}")),
        }
    }
}

/// Bytes of records a sender batches into one ring record, as a worker's
/// stage does.
const BATCH_BYTES: usize = 4096;

fn free_addr(ip: &str) -> SocketAddr {
    TcpListener::bind((ip, 0)).unwrap().local_addr().unwrap()
}

/// A sender link and a receiver link with their worker-side ring ends.
struct Pair {
    links: (Link, Link),
    /// A's worker: writes for B, reads from B.
    tx: Producer,
    a_rx: Consumer,
    /// B's worker: reads from A, writes for A.
    rx: Consumer,
    b_tx: Producer,
}

fn pair(backend: Backend) -> Pair {
    let (a, b) = (free_addr("127.0.0.1"), free_addr("127.0.0.2"));
    let cfg = RingConfig::new(1 << 22)
        .with_max_record(4096)
        .with_batch(64);
    let start = |me: NodeId, listen, peer: NodeId, peer_addr, outbound, inbound| {
        let mut config = LinkConfig::new(
            me,
            listen,
            vec![PeerSpec::new(peer, peer_addr)],
            b"bench secret, 32 bytes or longer".to_vec(),
            [1; 32],
        );
        config.backend = backend;
        Link::start(
            config,
            LinkRings {
                outbound: vec![(peer, vec![outbound])],
                inbound: vec![inbound],
            },
            Box::new(ToWorkerZero),
        )
        .expect("link starts")
    };
    let (tx, a_out) = ring(cfg).unwrap();
    let (a_in, a_rx) = ring(cfg).unwrap();
    let (b_tx, b_out) = ring(cfg).unwrap();
    let (b_in, rx) = ring(cfg).unwrap();
    let la = start(1, a, 2, b, a_out, a_in);
    let lb = start(2, b, 1, a, b_out, b_in);
    assert!(la.wait_connected(Duration::from_secs(30)));
    assert!(lb.wait_connected(Duration::from_secs(30)));
    Pair {
        links: (la, lb),
        tx,
        a_rx,
        rx,
        b_tx,
    }
}

/// Sends `n` records of `size` bytes and waits until all arrived; checks
/// the sequence numbers on the way.
fn run(p: &mut Pair, n: u64, size: usize) -> Duration {
    let mut record = vec![0u8; size];
    let one = InboundRecords::one_len(&record);
    let per_batch = (BATCH_BYTES / one).max(1);
    let mut batch = vec![0u8; one * per_batch];
    let start = Instant::now();
    thread::scope(|s| {
        let tx = &mut p.tx;
        s.spawn(move || {
            let mut seq = 0;
            while seq < n {
                let k = per_batch.min((n - seq) as usize);
                for (i, slot) in batch.chunks_exact_mut(one).take(k).enumerate() {
                    record[8..16].copy_from_slice(&(seq + i as u64).to_le_bytes());
                    InboundRecords::write_one(TASK, &record, slot);
                }
                loop {
                    match tx.try_push(&batch[..k * one]) {
                        Ok(()) => break,
                        Err(ReserveError::Full) => std::hint::spin_loop(),
                        Err(e) => panic!("{e}"),
                    }
                }
                seq += k as u64;
            }
            tx.flush();
        });
        let mut next = 0u64;
        let deadline = Instant::now() + Duration::from_secs(120);
        while next < n {
            let mut batch = p.rx.read();
            for (_, r) in batch.records().flat_map(InboundRecords::new) {
                let seq = u64::from_le_bytes(r[8..16].try_into().unwrap());
                assert_eq!(seq, next, "record lost or reordered");
                next += 1;
            }
            drop(batch);
            assert!(Instant::now() < deadline, "records stopped arriving");
            std::hint::spin_loop();
        }
    });
    start.elapsed()
}

/// `n` round trips of one record: A sends, B's worker answers, A waits for
/// the answer before sending the next.
fn round_trips(p: &mut Pair, n: u64) -> Duration {
    let mut record = [0u8; 64];
    let mut one = vec![0u8; InboundRecords::one_len(&record)];
    let start = Instant::now();
    thread::scope(|s| {
        let (rx, b_tx) = (&mut p.rx, &mut p.b_tx);
        s.spawn(move || {
            let mut answered = 0;
            while answered < n {
                let mut batch = rx.read();
                for (_, r) in batch.records().flat_map(InboundRecords::new) {
                    let mut answer = vec![0u8; InboundRecords::one_len(r)];
                    InboundRecords::write_one(TASK, r, &mut answer);
                    while b_tx.try_push(&answer).is_err() {
                        std::hint::spin_loop();
                    }
                    answered += 1;
                }
                drop(batch);
                b_tx.flush();
            }
        });
        let deadline = Instant::now() + Duration::from_secs(120);
        for seq in 0..n {
            record[8..16].copy_from_slice(&seq.to_le_bytes());
            InboundRecords::write_one(TASK, &record, &mut one);
            p.tx.try_push(&one)
                .expect("ring has room: one record in flight");
            p.tx.flush();
            loop {
                let mut batch = p.a_rx.read();
                if let Some((_, r)) = batch.records().flat_map(InboundRecords::new).next() {
                    assert_eq!(r[8..16], seq.to_le_bytes(), "wrong answer");
                    break;
                }
                drop(batch);
                assert!(Instant::now() < deadline, "no answer");
                std::hint::spin_loop();
            }
        }
    });
    start.elapsed()
}

fn bench_link(c: &mut Criterion) {
    let mut group = c.benchmark_group("link");
    for backend in [Backend::IoUring, Backend::Mio] {
        let mut p = pair(backend);
        let kind = match p.links.0.backend() {
            BackendKind::IoUring => "io_uring",
            BackendKind::Mio => "mio",
        };
        for size in [64usize, 1024] {
            group.throughput(Throughput::Bytes(size as u64));
            group.bench_with_input(BenchmarkId::new(kind, size), &size, |b, &size| {
                b.iter_custom(|iters| run(&mut p, iters, size));
            });
        }
    }
    group.finish();
    let mut group = c.benchmark_group("link_round_trip");
    for backend in [Backend::IoUring, Backend::Mio] {
        let mut p = pair(backend);
        let kind = match p.links.0.backend() {
            BackendKind::IoUring => "io_uring",
            BackendKind::Mio => "mio",
        };
        group.bench_function(kind, |b| b.iter_custom(|iters| round_trips(&mut p, iters)));
    }
    group.finish();
}

criterion_group!(benches, bench_link);
criterion_main!(benches);
