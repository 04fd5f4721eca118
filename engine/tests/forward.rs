//! `BoltOutput::forward`: a bolt passing its inputs on gives exactly what
//! `emit_anchored` of the same values gives, on every route (resolved at
//! start, shuffle, fields, all, a named stream), to a bolt on the same
//! thread (chained or queued) or another, for flat and nested values: the
//! values and their source arrive intact, once, and every tree completes.
//! A forward to an undeclared stream or one of another arity is reported
//! and dropped, as `emit_anchored`'s is (the input's tree then completes
//! with the input's ack).

mod util;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use gale_codec::Value;
use gale_engine::{
    Bolt, BoltOutput, Grouping, Input, OutputFieldsDeclarer, RunConfig, Spout, SpoutOutput,
    TopologyBuilder, DEFAULT_STREAM,
};
use util::{config, run_config, run_with, Acks, Recorder, Sink};

/// Tuples the spout emits.
const N: u64 = 3000;

/// The tuple of index `i`: a few shapes, so that both the archived path
/// (flat values) and the built one (a list, a string too large for the
/// room at hand) are taken.
fn tuple(i: u64) -> Vec<Value> {
    let id = Value::I64(i as i64);
    let key = Value::from(format!("k{}", i % 7));
    match i % 6 {
        0 => vec![id, key, Value::Null, Value::Null],
        1 => vec![id, key, Value::from("short"), Value::F64(0.5)],
        2 => vec![
            id,
            key,
            Value::from("a string of more than eight bytes"),
            Value::Bytes(vec![1, 2, 3]),
        ],
        3 => vec![
            id,
            key,
            Value::List(vec![Value::I64(1), Value::from("nested")]),
            Value::Bool(true),
        ],
        4 => vec![id, key, Value::from("x".repeat(60_000)), Value::Null],
        _ => vec![id, key, Value::Bytes(Vec::new()), Value::from("")],
    }
}

const FIELDS: [&str; 4] = ["id", "key", "a", "b"];

/// Emits `tuple(0..N)` with message ids, counting acks and fails.
struct Shapes {
    next: u64,
    acks: Acks,
    in_flight: u64,
}

impl Spout for Shapes {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare(FIELDS);
    }

    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        if self.next < N {
            out.emit_with_id(&tuple(self.next), self.next);
            self.next += 1;
            self.in_flight += 1;
        }
    }

    fn ack(&mut self, id: u64) {
        self.acks.lock().unwrap().entry(id as i64).or_default().0 += 1;
        self.in_flight -= 1;
    }

    fn fail(&mut self, id: u64) {
        self.acks.lock().unwrap().entry(id as i64).or_default().1 += 1;
        self.in_flight -= 1;
    }

    fn is_finished(&self) -> bool {
        self.next == N && self.in_flight == 0
    }
}

/// Forwards every input to `stream` (or, `anchored`, emits its values
/// built, with `emit_anchored`, to compare), then acks it.
struct Pass {
    stream: &'static str,
    declared: &'static [&'static str],
    anchored: bool,
}

impl Bolt for Pass {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare_stream(self.stream, self.declared.iter().copied());
    }

    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        if self.anchored {
            let values: Vec<Value> = input.values().iter().map(|v| v.to_value()).collect();
            out.emit_anchored(self.stream, &[input], &values);
        } else {
            out.forward(self.stream, input);
        }
        out.ack(input);
    }
}

/// What each sink task received: (task, source component, values) by
/// count, and every tree's (acks, fails).
type Outcome = (
    BTreeMap<(u32, String, String), usize>,
    BTreeMap<i64, (u32, u32)>,
);

/// Runs spout → `pass` (one task) → two sink tasks grouped by `grouping`
/// on `stream`, on `threads` workers (`chain`: bolts on the emitting
/// thread run chained).
fn run(
    grouping: Grouping,
    stream: &'static str,
    anchored: bool,
    threads: usize,
    chain: bool,
) -> Outcome {
    let sink = Sink::new();
    let acks = Acks::default();
    let mut b = TopologyBuilder::new("forward");
    let a = Arc::clone(&acks);
    b.set_spout(
        "shapes",
        move || Shapes {
            next: 0,
            acks: Arc::clone(&a),
            in_flight: 0,
        },
        1,
    );
    b.set_bolt(
        "pass",
        move || Pass {
            stream,
            declared: &FIELDS,
            anchored,
        },
        1,
    )
    .shuffle_grouping("shapes");
    let s = Arc::clone(&sink);
    b.set_bolt("sink", move || Recorder::new(&s), 2)
        .grouping("pass", stream, grouping);
    let topology = b.build().expect("a valid topology");
    let config = RunConfig {
        chain,
        ..config(threads, 1 << 18)
    };
    run_config(topology, config);
    let mut got = BTreeMap::new();
    for r in sink.received_by("sink") {
        *got.entry((
            r.task,
            r.source_component.clone(),
            format!("{:?}", r.values),
        ))
        .or_default() += 1;
    }
    let acks = acks.lock().unwrap().clone();
    (got, acks)
}

#[test]
fn forward_delivers_what_emit_anchored_delivers_on_every_route() {
    let groupings = [
        ("global", Grouping::Global),
        ("shuffle", Grouping::Shuffle),
        ("fields", Grouping::Fields(vec!["key".into()])),
        ("all", Grouping::All),
    ];
    for (name, grouping) in groupings {
        for stream in [DEFAULT_STREAM, "named"] {
            for (threads, chain) in [(1, true), (1, false), (2, true), (3, true)] {
                let what = format!("{name} on `{stream}`, {threads} thread(s), chain {chain}");
                let (got, acks) = run(grouping.clone(), stream, false, threads, chain);
                // Every tuple's values intact, from `pass`, once per sink
                // task that the grouping sends it to.
                let per_tuple: usize = got.values().sum();
                let copies = if name == "all" { 2 } else { 1 };
                assert_eq!(per_tuple, N as usize * copies, "{what}: tuples received");
                let mut by_values: BTreeMap<&str, usize> = BTreeMap::new();
                for ((_, source, values), n) in &got {
                    assert_eq!(source, "pass", "{what}");
                    *by_values.entry(values.as_str()).or_default() += n;
                }
                for i in 0..N {
                    let values = format!("{:?}", tuple(i));
                    assert_eq!(
                        by_values.get(values.as_str()),
                        Some(&copies),
                        "{what}: tuple {i}"
                    );
                }
                // Every tree acked once, none failed.
                assert_eq!(acks.len(), N as usize, "{what}: trees settled");
                assert!(acks.values().all(|&a| a == (1, 0)), "{what}: {acks:?}");
                // Routes placed by value give each task the same tuples
                // as `emit_anchored` does.
                if matches!(name, "global" | "fields" | "all") {
                    let (expected, _) = run(grouping.clone(), stream, true, threads, chain);
                    assert_eq!(got, expected, "{what}: against emit_anchored");
                }
            }
        }
    }
}

/// Forwards to a stream that is undeclared or of another arity.
struct Wrong {
    stream: &'static str,
    errors: Arc<Mutex<u64>>,
}

impl Bolt for Wrong {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare(["only"]);
    }

    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        out.forward(self.stream, input);
        *self.errors.lock().unwrap() += 1;
        out.ack(input);
    }
}

#[test]
fn a_forward_that_does_not_fit_its_stream_is_reported_and_dropped() {
    for stream in ["nowhere", DEFAULT_STREAM] {
        let acks = Acks::default();
        let calls = Arc::new(Mutex::new(0));
        let mut b = TopologyBuilder::new("wrong");
        let a = Arc::clone(&acks);
        b.set_spout(
            "shapes",
            move || Shapes {
                next: N - 10,
                acks: Arc::clone(&a),
                in_flight: 0,
            },
            1,
        );
        let c = Arc::clone(&calls);
        b.set_bolt(
            "wrong",
            move || Wrong {
                stream,
                errors: Arc::clone(&c),
            },
            1,
        )
        .shuffle_grouping("shapes");
        let sink = Sink::new();
        let s = Arc::clone(&sink);
        b.set_bolt("sink", move || Recorder::new(&s), 1)
            .shuffle_grouping("wrong");
        let stats = run_with(b.build().unwrap(), config(2, 1 << 18)).expect("it runs");
        assert_eq!(*calls.lock().unwrap(), 10, "`{stream}`");
        assert!(
            sink.received_by("sink").is_empty(),
            "`{stream}`: nothing sent"
        );
        assert!(
            stats
                .errors
                .iter()
                .any(|e| format!("{e:?}").contains("wrong")),
            "`{stream}`: {:?}",
            stats.errors
        );
        let acks = acks.lock().unwrap();
        assert_eq!(acks.len(), 10, "`{stream}`");
        assert!(acks.values().all(|&a| a == (1, 0)), "`{stream}`: {acks:?}");
    }
}
