//! Edge cases of the data path: zero-length tuples, every kind of value,
//! records of changing size through a tiny ring (wrap-around, a ring
//! nearly full with one record), and a bolt that feeds itself.

mod util;

use std::collections::BTreeMap;
use std::sync::Arc;

use gale_codec::Value;
use gale_engine::{
    Bolt, BoltOutput, Input, OutputFieldsDeclarer, Spout, SpoutOutput, TopologyBuilder,
    TopologyContext,
};
use util::{run, Recorder, Sink};

/// Emits `values[i]` as `[id = i, v = values[i]]`, or zero-length tuples
/// when `empty`.
struct Samples {
    values: Vec<Value>,
    empty: bool,
    i: usize,
}

impl Spout for Samples {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        if self.empty {
            d.declare(Vec::<String>::new());
        } else {
            d.declare(["id", "v"]);
        }
    }
    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        if let Some(v) = self.values.get(self.i) {
            if self.empty {
                out.emit(&[]);
            } else {
                out.emit(&[Value::I64(self.i as i64), v.clone()]);
            }
            self.i += 1;
        }
    }
    fn is_finished(&self) -> bool {
        self.i == self.values.len()
    }
}

/// A value of every kind, including empty, extreme and nested ones.
fn every_kind() -> Vec<Value> {
    let nested = Value::List(vec![
        Value::Null,
        Value::Map(vec![
            (
                "a".into(),
                Value::List(vec![Value::I64(1), Value::from("x")]),
            ),
            ("".into(), Value::Map(Vec::new())),
        ]),
    ]);
    vec![
        Value::Null,
        Value::Bool(true),
        Value::Bool(false),
        Value::I64(0),
        Value::I64(i64::MIN),
        Value::I64(i64::MAX),
        Value::F64(-0.0),
        Value::F64(1.5e300),
        Value::F64(f64::INFINITY),
        Value::from(""),
        Value::from("héllo, wörld ☃"),
        Value::from("a".repeat(1000)),
        Value::Bytes(Vec::new()),
        Value::Bytes((0..=255).collect()),
        Value::List(Vec::new()),
        Value::Map(Vec::new()),
        nested,
    ]
}

#[test]
fn every_kind_of_value_arrives_intact() {
    let values = every_kind();
    // threads=1: through the local queue; threads=2: through the rings.
    for threads in [1, 2] {
        let sink = Sink::new();
        let mut b = TopologyBuilder::new("values");
        let v = values.clone();
        b.set_spout(
            "samples",
            move || Samples {
                values: v.clone(),
                empty: false,
                i: 0,
            },
            1,
        );
        let s = Arc::clone(&sink);
        b.set_bolt("sink", move || Recorder::new(&s), 2)
            .shuffle_grouping("samples");
        run(b.build().unwrap(), threads, 1 << 16);
        let got: BTreeMap<i64, Value> = sink
            .received_by("sink")
            .into_iter()
            .map(|r| (r.id(), r.values[1].clone()))
            .collect();
        let expected: BTreeMap<i64, Value> = (0..).zip(values.iter().cloned()).collect();
        assert_eq!(got, expected, "threads={threads}");
    }
}

/// Checks zero-length inputs: not ticks, no values, empty fields.
struct ExpectEmpty {
    inner: Recorder,
}

impl Bolt for ExpectEmpty {
    fn declare_output_fields(&self, _d: &mut OutputFieldsDeclarer) {}
    fn prepare(&mut self, context: &TopologyContext) {
        self.inner.prepare(context);
    }
    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        assert_eq!(input.len(), 0);
        assert!(input.is_empty() && input.get(0).is_none());
        assert!(!input.is_tick(), "a zero-length data tuple is not a tick");
        assert!(input.fields().is_some_and(|f| f.is_empty()));
        self.inner.execute(input, out);
    }
}

#[test]
fn zero_length_tuples() {
    const N: usize = 300;
    for threads in [1, 2] {
        let sink = Sink::new();
        let mut b = TopologyBuilder::new("empty");
        b.set_spout(
            "samples",
            || Samples {
                values: vec![Value::Null; N],
                empty: true,
                i: 0,
            },
            2,
        );
        let s = Arc::clone(&sink);
        b.set_bolt(
            "sink",
            move || ExpectEmpty {
                inner: Recorder::new(&s),
            },
            2,
        )
        .shuffle_grouping("samples");
        let stats = run(b.build().unwrap(), threads, 256);
        let recs = sink.received_by("sink");
        assert_eq!(recs.len(), 2 * N, "threads={threads}");
        assert!(recs
            .iter()
            .all(|r| r.values.is_empty() && r.source_component == "samples"));
        assert_eq!(stats.components["sink"].executed, 2 * N as u64);
    }
}

#[test]
fn records_of_changing_size_wrap_around_a_tiny_ring() {
    // Keys of 0..=16 bytes: the largest records take nearly half of a
    // 256-byte ring, so the ring is often full with one record and records
    // wrap at every position.
    const N: usize = 2000;
    let values: Vec<Value> = (0..N).map(|i| Value::from("k".repeat(i % 17))).collect();
    for batch in [1, 64] {
        let sink = Sink::new();
        let mut b = TopologyBuilder::new("wrap");
        let v = values.clone();
        b.set_spout(
            "samples",
            move || Samples {
                values: v.clone(),
                empty: false,
                i: 0,
            },
            1,
        );
        let s = Arc::clone(&sink);
        // Task 2 on thread 1: every tuple crosses the ring.
        b.set_bolt("sink", move || Recorder::new(&s), 1)
            .shuffle_grouping("samples");
        let config = gale_engine::RunConfig {
            batch,
            ..util::config(2, 256)
        };
        util::run_config(b.build().unwrap(), config);
        let recs = sink.received_by("sink");
        assert!(
            recs.iter().all(|r| r.thread != 0),
            "the sink is on thread 1"
        );
        let got: Vec<(i64, Value)> = recs.iter().map(|r| (r.id(), r.values[1].clone())).collect();
        let expected: Vec<(i64, Value)> = (0..).zip(values.iter().cloned()).collect();
        // One emitter, one receiver: order is kept too.
        assert_eq!(got, expected, "batch={batch}");
    }
}

/// Emits `[id, n]` for n in `0..N`.
struct Countdowns {
    i: i64,
}

impl Spout for Countdowns {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare(["id", "n"]);
    }
    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        if self.i < 20 {
            out.emit(&[Value::I64(self.i), Value::I64(self.i)]);
            self.i += 1;
        }
    }
    fn is_finished(&self) -> bool {
        self.i == 20
    }
}

/// Re-emits `[id, n - 1]` to itself until `n` is 0.
struct Loop {
    inner: Recorder,
}

impl Bolt for Loop {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare_stream("again", ["id", "n"]);
    }
    fn prepare(&mut self, context: &TopologyContext) {
        self.inner.prepare(context);
    }
    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        let id = input.field("id").unwrap().as_i64().unwrap();
        let n = input.field("n").unwrap().as_i64().unwrap();
        if n > 0 {
            out.emit_to("again", &[Value::I64(id), Value::I64(n - 1)]);
        }
        self.inner.execute(input, out);
    }
}

#[test]
fn a_bolt_feeding_itself_finishes_with_exact_counts() {
    for threads in [1, 2, 3] {
        let sink = Sink::new();
        let mut b = TopologyBuilder::new("loop");
        b.set_spout("countdowns", || Countdowns { i: 0 }, 1);
        let s = Arc::clone(&sink);
        b.set_bolt(
            "loop",
            move || Loop {
                inner: Recorder::new(&s),
            },
            3,
        )
        .shuffle_grouping("countdowns")
        .fields_grouping_stream("loop", "again", ["n"]);
        let stats = run(b.build().unwrap(), threads, 512);
        // Countdown `id` visits n = id, id - 1, ..., 0.
        let mut got: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        for r in sink.received_by("loop") {
            let Value::I64(n) = r.values[1] else { panic!() };
            got.entry(r.id()).or_default().push(n);
        }
        got.values_mut().for_each(|v| v.sort_unstable());
        let expected: BTreeMap<i64, Vec<i64>> =
            (0..20).map(|id| (id, (0..=id).collect())).collect();
        assert_eq!(got, expected, "threads={threads}");
        assert_eq!(stats.components["loop"].executed, (1..=20).sum::<u64>());
    }
}
