//! Typed streams: a Rust struct emitted with `emit_typed` arrives as
//! `&T::Archived` through `Input::typed`, on one thread (chained) and
//! across threads (rings), by shuffle and by a fields grouping on the typed
//! field, with acking (every tree acked once). A wrong type is an error on
//! either side, and bytes that are not a valid archived value are an error
//! for the reader, never a panic.

mod util;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use gale_codec::Value;
use gale_engine::rkyv::{Archive, Serialize};
use gale_engine::{
    Bolt, BoltOutput, Grouping, Input, OutputFieldsDeclarer, RunConfig, Spout, SpoutOutput,
    TopologyBuilder, TypedError,
};
use util::{config, run_config, run_with};

#[derive(Archive, Serialize, Debug, Clone, PartialEq)]
#[rkyv(crate = gale_engine::rkyv)]
struct Reading {
    sensor: u32,
    celsius: f64,
    label: String,
    samples: Vec<u16>,
}

#[derive(Archive, Serialize)]
#[rkyv(crate = gale_engine::rkyv)]
struct Other {
    x: u64,
}

const N: u32 = 3_000;

fn reading(i: u32) -> Reading {
    Reading {
        sensor: i % 7,
        celsius: f64::from(i) / 4.0,
        label: format!("sensor-{}-reading-{i}", i % 7),
        samples: (0..(i % 5) as u16).collect(),
    }
}

/// Emits `reading(0..N)` on the typed stream `readings`, reliable with
/// the index as message id; records acks and fails.
struct Readings {
    next: u32,
    acks: Arc<Mutex<BTreeMap<u64, (u32, u32)>>>,
}

impl Spout for Readings {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare_typed::<Reading>("readings", "reading");
    }
    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        if self.next < N {
            out.emit_typed_with_id("readings", &reading(self.next), u64::from(self.next));
            self.next += 1;
        }
    }
    fn is_finished(&self) -> bool {
        self.next == N
    }
    fn ack(&mut self, id: u64) {
        self.acks.lock().unwrap().entry(id).or_default().0 += 1;
    }
    fn fail(&mut self, id: u64) {
        self.acks.lock().unwrap().entry(id).or_default().1 += 1;
    }
}

/// Reads each reading in place, checks it against what was sent, and
/// passes a summary on, typed and anchored.
struct Check;

#[derive(Archive, Serialize)]
#[rkyv(crate = gale_engine::rkyv)]
struct Summary {
    sensor: u32,
    tenths: i64,
}

impl Bolt for Check {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare_typed::<Summary>("summaries", "summary");
    }
    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        let r = input.typed::<Reading>().expect("a valid reading");
        let i = (r.celsius.to_native() * 4.0) as u32;
        let expected = reading(i);
        assert_eq!(r.sensor.to_native(), expected.sensor);
        assert_eq!(r.label.as_str(), expected.label);
        let samples: Vec<u16> = r.samples.iter().map(|s| s.to_native()).collect();
        assert_eq!(samples, expected.samples);
        // Asking for another type is an error, not a misread.
        assert!(matches!(
            input.typed::<Other>(),
            Err(TypedError::WrongType { .. })
        ));
        let summary = Summary {
            sensor: expected.sensor,
            tenths: (expected.celsius * 10.0) as i64,
        };
        out.emit_typed_anchored("summaries", &[input], &summary);
        out.ack(input);
    }
}

/// Sums the tenths per sensor, as read by each task.
struct Totals(Arc<Mutex<BTreeMap<u32, (i64, u32)>>>);

impl Bolt for Totals {
    fn declare_output_fields(&self, _d: &mut OutputFieldsDeclarer) {}
    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        let s = input.typed::<Summary>().expect("a valid summary");
        let mut totals = self.0.lock().unwrap();
        let e = totals.entry(s.sensor.to_native()).or_default();
        e.0 += s.tenths.to_native();
        e.1 += 1;
        out.ack(input);
    }
}

#[test]
fn typed_values_arrive_in_place_on_every_path_with_acking() {
    let mut expected: BTreeMap<u32, (i64, u32)> = BTreeMap::new();
    for i in 0..N {
        let r = reading(i);
        let e = expected.entry(r.sensor).or_default();
        e.0 += (r.celsius * 10.0) as i64;
        e.1 += 1;
    }
    for (threads, chain) in [(1, true), (1, false), (2, true)] {
        let acks = Arc::new(Mutex::new(BTreeMap::new()));
        let totals = Arc::new(Mutex::new(BTreeMap::new()));
        let mut b = TopologyBuilder::new("typed");
        let a = acks.clone();
        b.set_spout(
            "src",
            move || Readings {
                next: 0,
                acks: a.clone(),
            },
            1,
        );
        b.set_bolt("check", || Check, 2)
            .grouping("src", "readings", Grouping::Shuffle);
        let t = totals.clone();
        b.set_bolt("totals", move || Totals(t.clone()), 2).grouping(
            "check",
            "summaries",
            Grouping::Fields(vec!["summary".into()]),
        );
        let config = RunConfig {
            chain,
            ..config(threads, 1 << 20)
        };
        run_config(b.build().unwrap(), config);
        let what = format!("threads={threads}, chain={chain}");
        assert_eq!(*totals.lock().unwrap(), expected, "{what}");
        let acks = acks.lock().unwrap();
        assert_eq!(acks.len(), N as usize, "{what}");
        assert!(acks.values().all(|&c| c == (1, 0)), "{what}: {acks:?}");
    }
}

/// Emits one `Other` on the typed stream of `Reading`s (refused and
/// reported), then raw bytes on it through the untyped `emit_to` (not a
/// valid `Reading`: the reader's error), then a real reading.
struct Mistakes(u32);

impl Spout for Mistakes {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare_typed::<Reading>("readings", "reading");
        d.declare(["plain"]);
    }
    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        match self.0 {
            0 => out.emit_typed("readings", &Other { x: 1 }),
            1 => out.emit_to("readings", &[Value::Bytes(vec![0xff; 3])]),
            2 => out.emit_typed("readings", &reading(9)),
            3 => out.emit(&[Value::I64(5)]),
            _ => return,
        }
        self.0 += 1;
    }
    fn is_finished(&self) -> bool {
        self.0 == 4
    }
}

/// Records what reading each input gives.
struct Outcomes(Arc<Mutex<Vec<Result<u32, String>>>>);

impl Bolt for Outcomes {
    fn declare_output_fields(&self, _d: &mut OutputFieldsDeclarer) {}
    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        let outcome = input
            .typed::<Reading>()
            .map(|r| r.sensor.to_native())
            .map_err(|e| e.to_string());
        self.0.lock().unwrap().push(outcome);
        out.ack(input);
    }
}

#[test]
fn wrong_types_and_bad_bytes_are_errors_not_panics() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut b = TopologyBuilder::new("typed-mistakes");
    b.set_spout("src", || Mistakes(0), 1);
    let s = seen.clone();
    b.set_bolt("read", move || Outcomes(s.clone()), 1)
        .grouping("src", "readings", Grouping::Shuffle)
        .shuffle_grouping("src");
    let stats = run_with(b.build().unwrap(), config(1, 1 << 20)).expect("the run completes");
    let errors: Vec<&str> = stats.errors.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("Other") && errors[0].contains("readings"),
        "{errors:?}"
    );
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(
        seen[0]
            .as_ref()
            .is_err_and(|e| e.contains("not a valid archived")),
        "{seen:?}"
    );
    assert_eq!(seen[1], Ok(reading(9).sensor));
    assert!(
        seen[2].as_ref().is_err_and(|e| e.contains("untyped")),
        "{seen:?}"
    );
}
