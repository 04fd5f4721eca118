//! Tiny rings between workers: every shape of topology still finishes (no
//! deadlock) and every count is exact, at several thread counts and
//! publication batches.

mod util;

use std::sync::Arc;

use gale_codec::Value;
use gale_engine::{
    OutputFieldsDeclarer, RunConfig, Spout, SpoutOutput, TaskId, Topology, TopologyBuilder,
    TopologyContext, TopologyStats,
};
use util::{all_ids, assert_each_id, config, run_config, Numbers, Recorder, Sink};

/// Tuples per spout task.
const N: u64 = 500;

/// Every configuration the shapes run under: 256-byte rings hold two of
/// the tests' tuples.
fn configs() -> Vec<RunConfig> {
    let mut configs = Vec::new();
    for threads in [1, 2, 4] {
        for ring_bytes in [256, 512] {
            for batch in [1, 64] {
                configs.push(RunConfig {
                    batch,
                    ..config(threads, ring_bytes)
                });
            }
        }
    }
    configs
}

/// Builds a topology reporting to a fresh sink, runs it under each
/// configuration and checks the outcome.
fn check_everywhere(
    build: impl Fn(&Arc<Sink>) -> Topology,
    check: impl Fn(&Sink, &TopologyStats, &str),
) {
    for config in configs() {
        let sink = Sink::new();
        let what = format!(
            "threads={} ring_bytes={} batch={}",
            config.threads, config.ring_bytes, config.batch
        );
        let stats = run_config(build(&sink), config);
        check(&sink, &stats, &what);
    }
}

#[test]
fn fan_out() {
    check_everywhere(
        |sink| {
            let mut b = TopologyBuilder::new("fan-out");
            let s = Arc::clone(sink);
            b.set_spout("numbers", move || Numbers::new(N).sink(&s), 1);
            for bolt in ["a", "b", "c"] {
                let s = Arc::clone(sink);
                b.set_bolt(bolt, move || Recorder::new(&s), 2)
                    .shuffle_grouping("numbers");
            }
            b.build().unwrap()
        },
        |sink, stats, what| {
            let ids = all_ids(&sink.tasks_of("numbers"), N);
            for bolt in ["a", "b", "c"] {
                assert_each_id(&sink.received_by(bolt), &ids, 1, &format!("{what}: {bolt}"));
                assert_eq!(stats.components[bolt].executed, N, "{what}: {bolt}");
            }
            assert_eq!(stats.components["numbers"].emitted, N, "{what}");
            assert_eq!(stats.components["numbers"].transferred, 3 * N, "{what}");
        },
    );
}

#[test]
fn fan_in() {
    check_everywhere(
        |sink| {
            let mut b = TopologyBuilder::new("fan-in");
            for spout in ["s1", "s2", "s3"] {
                let s = Arc::clone(sink);
                b.set_spout(spout, move || Numbers::new(N).sink(&s), 1);
            }
            let s = Arc::clone(sink);
            b.set_bolt("sink", move || Recorder::new(&s), 2)
                .shuffle_grouping("s1")
                .shuffle_grouping("s2")
                .fields_grouping("s3", ["key"]);
            b.build().unwrap()
        },
        |sink, stats, what| {
            let spouts: Vec<TaskId> = ["s1", "s2", "s3"]
                .iter()
                .flat_map(|s| sink.tasks_of(s))
                .collect();
            assert_eq!(spouts.len(), 3);
            assert_each_id(&sink.received_by("sink"), &all_ids(&spouts, N), 1, what);
            assert_eq!(stats.components["sink"].executed, 3 * N, "{what}");
        },
    );
}

#[test]
fn diamond() {
    check_everywhere(
        |sink| {
            let mut b = TopologyBuilder::new("diamond");
            let s = Arc::clone(sink);
            b.set_spout("numbers", move || Numbers::new(N).sink(&s), 2);
            let s = Arc::clone(sink);
            b.set_bolt("a", move || Recorder::relay(&s, 1), 2)
                .shuffle_grouping("numbers");
            let s = Arc::clone(sink);
            b.set_bolt("b", move || Recorder::relay(&s, 1), 2)
                .fields_grouping("numbers", ["key"]);
            let s = Arc::clone(sink);
            b.set_bolt("c", move || Recorder::new(&s), 2)
                .shuffle_grouping("a")
                .fields_grouping("b", ["id"]);
            b.build().unwrap()
        },
        |sink, stats, what| {
            let ids = all_ids(&sink.tasks_of("numbers"), N);
            let c = sink.received_by("c");
            for via in ["a", "b"] {
                let path: Vec<_> = c
                    .iter()
                    .filter(|r| r.source_component == via)
                    .cloned()
                    .collect();
                assert_each_id(&path, &ids, 1, &format!("{what}: via {via}"));
            }
            assert_eq!(c.len(), 2 * ids.len(), "{what}");
            assert_eq!(stats.components["c"].executed, 4 * N, "{what}");
            assert_eq!(
                stats.components["a"].transferred + stats.components["b"].transferred,
                4 * N,
                "{what}"
            );
        },
    );
}

#[test]
fn all_grouping_fan_out() {
    check_everywhere(
        |sink| {
            let mut b = TopologyBuilder::new("all");
            let s = Arc::clone(sink);
            b.set_spout("numbers", move || Numbers::new(N).sink(&s), 2);
            let s = Arc::clone(sink);
            b.set_bolt("everyone", move || Recorder::new(&s), 3)
                .all_grouping("numbers");
            b.build().unwrap()
        },
        |sink, stats, what| {
            let ids = all_ids(&sink.tasks_of("numbers"), N);
            let recs = sink.received_by("everyone");
            for t in sink.tasks_of("everyone") {
                let mine: Vec<_> = recs.iter().filter(|r| r.task == t).cloned().collect();
                assert_each_id(&mine, &ids, 1, &format!("{what}: task {t}"));
            }
            assert_eq!(stats.components["numbers"].transferred, 6 * N, "{what}");
            assert_eq!(stats.components["everyone"].executed, 6 * N, "{what}");
        },
    );
}

#[test]
fn multi_stream() {
    check_everywhere(
        |sink| {
            let mut b = TopologyBuilder::new("streams");
            let s = Arc::clone(sink);
            b.set_spout(
                "numbers",
                move || Numbers::new(N).streams(&["left", "right"]).sink(&s),
                2,
            );
            let s = Arc::clone(sink);
            b.set_bolt("x", move || Recorder::new(&s), 2)
                .shuffle_grouping_stream("numbers", "left");
            let s = Arc::clone(sink);
            b.set_bolt("y", move || Recorder::new(&s), 2)
                .fields_grouping_stream("numbers", "right", ["key"]);
            let s = Arc::clone(sink);
            b.set_bolt("z", move || Recorder::new(&s), 3)
                .shuffle_grouping_stream("numbers", "left")
                .fields_grouping_stream("numbers", "right", ["id"]);
            b.build().unwrap()
        },
        |sink, stats, what| {
            let ids = all_ids(&sink.tasks_of("numbers"), N);
            for (bolt, stream) in [("x", "left"), ("y", "right"), ("z", "left"), ("z", "right")] {
                let got: Vec<_> = sink
                    .received_by(bolt)
                    .into_iter()
                    .filter(|r| r.source_stream == stream)
                    .collect();
                assert_each_id(&got, &ids, 1, &format!("{what}: {bolt} on {stream}"));
            }
            assert_eq!(stats.components["x"].executed, 2 * N, "{what}");
            assert_eq!(stats.components["y"].executed, 2 * N, "{what}");
            assert_eq!(stats.components["z"].executed, 4 * N, "{what}");
            assert_eq!(stats.components["numbers"].emitted, 4 * N, "{what}");
            assert_eq!(stats.components["numbers"].transferred, 8 * N, "{what}");
        },
    );
}

#[test]
fn amplification() {
    const COPIES: usize = 10;
    check_everywhere(
        |sink| {
            let mut b = TopologyBuilder::new("amplify");
            let s = Arc::clone(sink);
            b.set_spout("numbers", move || Numbers::new(N / 2).sink(&s), 1);
            let s = Arc::clone(sink);
            b.set_bolt("amp", move || Recorder::relay(&s, COPIES), 2)
                .shuffle_grouping("numbers");
            let s = Arc::clone(sink);
            b.set_bolt("sink", move || Recorder::new(&s), 2)
                .shuffle_grouping("amp");
            b.build().unwrap()
        },
        |sink, stats, what| {
            let ids = all_ids(&sink.tasks_of("numbers"), N / 2);
            assert_each_id(&sink.received_by("amp"), &ids, 1, what);
            assert_each_id(&sink.received_by("sink"), &ids, COPIES, what);
            let total = COPIES as u64 * (N / 2);
            assert_eq!(stats.components["amp"].emitted, total, "{what}");
            assert_eq!(stats.components["sink"].executed, total, "{what}");
        },
    );
}

#[test]
fn more_threads_than_tasks() {
    let sink = Sink::new();
    let mut b = TopologyBuilder::new("sparse");
    let s = Arc::clone(&sink);
    b.set_spout("numbers", move || Numbers::new(N).sink(&s), 1);
    let s = Arc::clone(&sink);
    b.set_bolt("sink", move || Recorder::new(&s), 1)
        .shuffle_grouping("numbers");
    let stats = run_config(b.build().unwrap(), config(4, 256));
    assert_each_id(&sink.received_by("sink"), &all_ids(&[1], N), 1, "sparse");
    assert_eq!(stats.components["sink"].executed, N);
}

/// Emits `N` tuples whose payload is too big for a 256-byte ring.
struct Big {
    left: u64,
}
impl Spout for Big {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare(["id", "key"]);
    }
    fn open(&mut self, _context: &TopologyContext) {}
    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        if self.left > 0 {
            self.left -= 1;
            out.emit(&[Value::I64(self.left as i64), Value::from("x".repeat(200))]);
        }
    }
    fn is_finished(&self) -> bool {
        self.left == 0
    }
}

/// Spout task 1 on thread 0, its sink (task 2) on thread 1: every tuple
/// must cross a 256-byte ring, and none fits.
fn oversized() -> (Arc<Sink>, gale_engine::TopologyStats) {
    let sink = Sink::new();
    let mut b = TopologyBuilder::new("oversized");
    b.set_spout("big", || Big { left: 5 }, 1);
    let s = Arc::clone(&sink);
    b.set_bolt("sink", move || Recorder::new(&s), 1)
        .shuffle_grouping("big");
    let stats = util::run_with(b.build().unwrap(), config(2, 256)).unwrap();
    (sink, stats)
}

#[test]
fn a_tuple_too_big_for_the_ring_is_reported_and_the_topology_finishes() {
    let (sink, stats) = oversized();
    assert!(sink.received_by("sink").is_empty());
    assert_eq!(stats.errors.len(), 5, "{:?}", stats.errors);
    for e in &stats.errors {
        assert_eq!((e.component.as_str(), e.task), ("big", 1), "{e:?}");
        assert!(e.message.contains("ring_bytes"), "{e:?}");
    }
    assert_eq!(stats.components["big"].errors, 5);
    assert_eq!(stats.components["big"].emitted, 5);
    // Nothing was delivered, so nothing counts as transferred.
    assert_eq!(
        stats.components["big"].transferred, 0,
        "{:?}",
        stats.components["big"]
    );
    assert_eq!(stats.components["sink"].executed, 0);
}
