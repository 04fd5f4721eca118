//! `emit_many`, `emit_batch` and `emit_each`: a run of emits gives exactly
//! what the same emits one at a time give (every tuple delivered once, in order, counted once; a tuple
//! of the wrong arity reported and dropped; one too large for a ring
//! reported and dropped) on every lane: a route resolved at start (global
//! grouping, to the same thread or another one), a stream without
//! subscribers, and routes decided per tuple (shuffle or fields over
//! several tasks: each tuple to the task it would go to alone).

mod util;

use std::sync::{Arc, Mutex};

use gale_codec::Value;
use gale_engine::{
    Bolt, BoltOutput, Input, OutputFieldsDeclarer, Spout, SpoutOutput, TopologyBuilder,
    TopologyStats,
};

const N: i64 = 10_000;
/// Ids that are emitted with two values instead of one.
fn misfit(id: i64) -> bool {
    id % 97 == 5
}
/// Ids whose string is too large for a ring record of the small rings
/// (two in a row: some runs lose two tuples).
fn oversized(id: i64) -> bool {
    id % 1000 >= 998
}

/// Which collector method a run goes through.
#[derive(Clone, Copy, PartialEq, Debug)]
enum How {
    Many,
    Batch,
    /// `emit_each`: one value per tuple, so no misfit can be emitted (the
    /// misfit ids are skipped).
    Each,
    /// `emit_batch` of two-field tuples `[text, id]` (the misfits have
    /// one field).
    Wide,
    /// `emit` of each tuple alone: what the runs must match.
    One,
}

/// Emits ids `0..N` as one field `[text]` whose text starts with the id
/// (with `How::Wide`, `[text, id]`), in runs of `run` through `how`.
struct Runs {
    next: i64,
    run: i64,
    big: usize,
    how: How,
}

impl Runs {
    fn tuple(&self, id: i64) -> Vec<Value> {
        let text = if oversized(id) {
            format!("{id}:{}", "x".repeat(self.big))
        } else {
            format!("{id}:some text")
        };
        match (misfit(id), self.how == How::Wide) {
            (false, false) | (true, true) => vec![Value::Str(text)],
            (true, false) | (false, true) => vec![Value::Str(text), Value::I64(id)],
        }
    }
}

impl Spout for Runs {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        match self.how {
            How::Wide => d.declare(["text", "id"]),
            _ => d.declare(["text"]),
        }
    }
    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        let end = (self.next + self.run).min(N);
        let tuples: Vec<Vec<Value>> = (self.next..end).map(|id| self.tuple(id)).collect();
        match self.how {
            How::Many => out.emit_many(tuples.iter().map(Vec::as_slice)),
            How::Batch | How::Wide => {
                out.emit_batch(&tuples.iter().map(Vec::as_slice).collect::<Vec<_>>())
            }
            How::One => {
                for t in &tuples {
                    out.emit(t);
                }
            }
            How::Each => {
                let values: Vec<Value> = tuples
                    .into_iter()
                    .filter(|t| t.len() == 1)
                    .map(|mut t| t.remove(0))
                    .collect();
                out.emit_each(&values);
            }
        }
        self.next = end;
    }
    fn is_finished(&self) -> bool {
        self.next >= N
    }
}

/// What each sink task received, by task.
type Seen = Arc<Mutex<Vec<(u32, i64)>>>;

struct Sink {
    seen: Seen,
}

impl Bolt for Sink {
    fn declare_output_fields(&self, _d: &mut OutputFieldsDeclarer) {}
    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        let text = input.get(0).and_then(|v| v.as_str()).expect("a string");
        let id: i64 = text.split(':').next().unwrap().parse().unwrap();
        if let Some(second) = input.get(1) {
            assert_eq!(second.as_i64(), Some(id), "the id field of {text}");
        }
        self.seen.lock().unwrap().push((out.task_id(), id));
        out.ack(input);
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Route {
    /// Global grouping: the route resolved at start.
    Global,
    /// Shuffle over three tasks: routed per tuple.
    Shuffle,
    /// Fields grouping on the text over three tasks: routed per tuple,
    /// by its value.
    Fields,
    /// No subscriber at all.
    Nobody,
}

fn run(
    route: Route,
    threads: usize,
    run: i64,
    ring_bytes: usize,
) -> (TopologyStats, Vec<(u32, i64)>) {
    run_as(How::Many, route, threads, run, ring_bytes)
}

fn run_as(
    how: How,
    route: Route,
    threads: usize,
    run: i64,
    ring_bytes: usize,
) -> (TopologyStats, Vec<(u32, i64)>) {
    let seen: Seen = Arc::default();
    let mut b = TopologyBuilder::new("emit-many");
    // Larger than a ring record of the small rings, smaller than one of
    // the default rings.
    let big = 40_000;
    b.set_spout(
        "runs",
        move || Runs {
            next: 0,
            run,
            big,
            how,
        },
        1,
    );
    if route != Route::Nobody {
        let s = Arc::clone(&seen);
        let parallelism = if route == Route::Global { 1 } else { 3 };
        let sink = b.set_bolt(
            "sink",
            move || Sink {
                seen: Arc::clone(&s),
            },
            parallelism,
        );
        match route {
            Route::Global => sink.global_grouping("runs"),
            Route::Fields => sink.fields_grouping("runs", ["text"]),
            _ => sink.shuffle_grouping("runs"),
        };
    }
    let stats = util::run_with(b.build().unwrap(), util::config(threads, ring_bytes))
        .expect("the run completes");
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    (stats, seen)
}

fn fitting() -> impl Iterator<Item = i64> {
    (0..N).filter(|&id| !misfit(id))
}

#[test]
fn a_resolved_route_gets_every_tuple_once_in_order_on_any_thread() {
    for how in [How::Many, How::Batch, How::Each, How::Wide] {
        for threads in [1, 2] {
            for run_len in [1, 7, 64, 1000] {
                let (stats, seen) = run_as(how, Route::Global, threads, run_len, 1 << 20);
                let ids: Vec<i64> = seen.iter().map(|&(_, id)| id).collect();
                let expected: Vec<i64> = fitting().collect();
                assert_eq!(
                    ids, expected,
                    "{how:?}, threads {threads}, runs of {run_len}"
                );
                let spout = &stats.components["runs"];
                let misfits = match how {
                    How::Each => 0,
                    _ => (0..N).filter(|&id| misfit(id)).count() as u64,
                };
                assert_eq!(spout.emitted, expected.len() as u64);
                assert_eq!(spout.transferred, expected.len() as u64);
                assert_eq!(spout.errors, misfits);
                assert_eq!(stats.components["sink"].executed, expected.len() as u64);
            }
        }
    }
}

#[test]
fn batches_and_each_on_routes_decided_per_tuple() {
    for how in [How::Batch, How::Each, How::Wide] {
        let (stats, seen) = run_as(how, Route::Shuffle, 2, 64, 1 << 20);
        let mut ids: Vec<i64> = seen.iter().map(|&(_, id)| id).collect();
        ids.sort_unstable();
        assert_eq!(ids, fitting().collect::<Vec<_>>(), "{how:?}");
        assert_eq!(stats.components["runs"].emitted, fitting().count() as u64);
    }
}

#[test]
fn a_tuple_too_large_for_the_ring_is_reported_and_the_rest_delivered() {
    for how in [How::Many, How::Wide] {
        too_large_as(how);
    }
}

fn too_large_as(how: How) {
    // 64 KiB rings: the oversized tuples do not fit one ring record.
    let (stats, seen) = run_as(how, Route::Global, 2, 64, 1 << 16);
    let ids: Vec<i64> = seen.iter().map(|&(_, id)| id).collect();
    let expected: Vec<i64> = fitting().filter(|&id| !oversized(id)).collect();
    assert_eq!(ids, expected);
    let spout = &stats.components["runs"];
    let lost = fitting().filter(|&id| oversized(id)).count() as u64;
    assert_eq!(spout.emitted, fitting().count() as u64);
    assert_eq!(spout.transferred, expected.len() as u64);
    let misfits = (0..N).filter(|&id| misfit(id)).count() as u64;
    assert_eq!(spout.errors, misfits + lost);
    assert!(
        stats
            .errors
            .iter()
            .any(|e| e.message.contains("could not deliver")),
        "{:?}",
        stats.errors.first()
    );
}

#[test]
fn routes_decided_per_tuple_and_streams_without_subscribers() {
    let (stats, seen) = run(Route::Shuffle, 2, 64, 1 << 20);
    let mut ids: Vec<i64> = seen.iter().map(|&(_, id)| id).collect();
    ids.sort_unstable();
    assert_eq!(ids, fitting().collect::<Vec<_>>());
    let tasks: std::collections::BTreeSet<u32> = seen.iter().map(|&(t, _)| t).collect();
    assert_eq!(tasks.len(), 3, "shuffle reached every task");
    assert_eq!(stats.components["runs"].emitted, fitting().count() as u64);

    let (stats, seen) = run(Route::Nobody, 1, 64, 1 << 20);
    assert!(seen.is_empty());
    let spout = &stats.components["runs"];
    assert_eq!(spout.emitted, fitting().count() as u64);
    assert_eq!(spout.transferred, 0);
    assert_eq!(spout.errors, (0..N).filter(|&id| misfit(id)).count() as u64);
}

#[test]
fn a_run_on_a_fields_grouping_sends_each_tuple_where_it_would_go_alone() {
    let by_task = |seen: Vec<(u32, i64)>| {
        let mut seen = seen;
        seen.sort_unstable();
        seen
    };
    for threads in [1, 2] {
        let (_, alone) = run_as(How::One, Route::Fields, threads, 64, 1 << 20);
        let alone = by_task(alone);
        let tasks: std::collections::BTreeSet<u32> = alone.iter().map(|&(t, _)| t).collect();
        assert_eq!(tasks.len(), 3, "the keys reached every task");
        for how in [How::Many, How::Batch, How::Each] {
            let (stats, seen) = run_as(how, Route::Fields, threads, 64, 1 << 20);
            let seen = by_task(seen);
            let moved = seen.iter().zip(&alone).filter(|(a, b)| a != b).count();
            assert!(
                seen.len() == alone.len() && moved == 0,
                "{how:?} on {threads} thread(s): {} tuples against {}, {moved} at another task",
                seen.len(),
                alone.len()
            );
            let spout = &stats.components["runs"];
            assert_eq!(spout.emitted, fitting().count() as u64, "{how:?}");
            assert_eq!(spout.transferred, fitting().count() as u64, "{how:?}");
        }
    }
}
