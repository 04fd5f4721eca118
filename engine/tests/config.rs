//! `RunConfig` settings: thread count from the machine, pinning, and ring
//! sizes that cannot work.

mod util;

use std::sync::Arc;

use gale_engine::{LocalCluster, RunConfig, RunError, Topology, TopologyBuilder};
use util::{all_ids, assert_each_id, config, run_config, Numbers, Recorder, Sink};

const N: u64 = 500;

fn topology(sink: &Arc<Sink>) -> Topology {
    let mut b = TopologyBuilder::new("config");
    let s = Arc::clone(sink);
    b.set_spout("numbers", move || Numbers::new(N).sink(&s), 2);
    let s = Arc::clone(sink);
    b.set_bolt("sink", move || Recorder::new(&s), 3)
        .fields_grouping("numbers", ["key"]);
    b.build().unwrap()
}

#[test]
fn zero_threads_means_one_per_core() {
    let config = config(0, 4096);
    let threads = config.thread_count();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(threads, cores);
    assert_eq!(
        RunConfig {
            threads: 3,
            ..config.clone()
        }
        .thread_count(),
        3
    );

    let sink = Sink::new();
    run_config(topology(&sink), config);
    let used: Vec<usize> = sink.seen.lock().unwrap().iter().map(|s| s.thread).collect();
    assert!(
        used.iter().all(|t| *t < threads),
        "{used:?} with {threads} threads"
    );
    assert_each_id(
        &sink.received_by("sink"),
        &all_ids(&sink.tasks_of("numbers"), N),
        1,
        "threads=0",
    );
}

#[test]
fn pinned_workers_run_the_same() {
    let sink = Sink::new();
    let config = RunConfig {
        pin: true,
        ..config(2, 4096)
    };
    run_config(topology(&sink), config);
    assert_each_id(
        &sink.received_by("sink"),
        &all_ids(&sink.tasks_of("numbers"), N),
        1,
        "pinned",
    );
}

/// Submits with `ring_bytes` over two threads and returns the error.
fn refused(ring_bytes: usize) -> RunError {
    let sink = Sink::new();
    match LocalCluster::new(config(2, ring_bytes)).submit(topology(&sink)) {
        Ok(running) => {
            running.stop();
            panic!("ring_bytes={ring_bytes} was accepted");
        }
        Err(e) => e,
    }
}

#[test]
fn impossible_ring_sizes_are_refused() {
    for ring_bytes in [1000, 32] {
        let err = refused(ring_bytes);
        assert!(matches!(err, RunError::Ring(_)), "{ring_bytes}: {err:?}");
        assert!(err.to_string().contains("ring"), "{err}");
    }
}

#[test]

fn tiny_ring_sizes_are_refused_not_panicked_on() {
    for ring_bytes in [0, 8] {
        let err = std::panic::catch_unwind(|| refused(ring_bytes))
            .unwrap_or_else(|_| panic!("submit panicked for ring_bytes={ring_bytes}"));
        assert!(matches!(err, RunError::Ring(_)), "{ring_bytes}: {err:?}");
    }
}
