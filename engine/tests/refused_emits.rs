//! A spout's reliable emit that is refused (an undeclared stream, the
//! wrong number of values, the wrong type on a typed stream) fails its
//! message id at once: the spout gets exactly one `fail` for it, so
//! neither it nor a multi-lang child keeps the id forever. The error is
//! reported; the other emits are acked as usual.

mod util;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use gale_codec::Value;
use gale_engine::{
    Bolt, BoltOutput, Input, OutputFieldsDeclarer, Spout, SpoutOutput, TopologyBuilder,
};
use util::{config, run_with};

/// Per message id: (acks, fails) the spout got.
type Outcomes = Arc<Mutex<BTreeMap<u64, (u32, u32)>>>;

/// Counts an `ack` (`acked`) or a `fail` of `id` in `outcomes`.
fn outcome(outcomes: &Outcomes, id: u64, acked: bool) {
    let mut map = outcomes.lock().unwrap();
    let (acks, fails) = map.entry(id).or_default();
    *(if acked { acks } else { fails }) += 1;
}

/// Emits ids 0..4: 1 on an undeclared stream, 2 with two values, 3 as the
/// wrong type on the typed stream; 0 and 4 properly.
struct Mixed {
    next: u64,
    outcomes: Outcomes,
}

impl Spout for Mixed {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare(["n"]);
        d.declare_typed::<u64>("typed", "value");
    }
    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        let id = self.next;
        match id {
            0 | 4 => out.emit_with_id(&[Value::I64(id as i64)], id),
            1 => out.emit_to_with_id("nowhere", &[Value::I64(1)], id),
            2 => out.emit_with_id(&[Value::I64(2), Value::I64(2)], id),
            3 => out.emit_typed_with_id("typed", &3u32, id),
            _ => return,
        }
        self.next += 1;
    }
    fn is_finished(&self) -> bool {
        self.next == 5
    }
    fn ack(&mut self, id: u64) {
        outcome(&self.outcomes, id, true);
    }
    fn fail(&mut self, id: u64) {
        outcome(&self.outcomes, id, false);
    }
}

struct Acks;

impl Bolt for Acks {
    fn declare_output_fields(&self, _d: &mut OutputFieldsDeclarer) {}
    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        out.ack(input);
    }
}

#[test]
fn a_refused_reliable_emit_fails_its_id_at_once() {
    for threads in [1, 2] {
        let outcomes = Outcomes::default();
        let mut b = TopologyBuilder::new("refused");
        let o = outcomes.clone();
        b.set_spout(
            "src",
            move || Mixed {
                next: 0,
                outcomes: o.clone(),
            },
            1,
        );
        b.set_bolt("sink", || Acks, 2).shuffle_grouping("src");
        let stats = run_with(b.build().unwrap(), config(threads, 1 << 20)).expect("the run ends");
        let outcomes = outcomes.lock().unwrap().clone();
        let expected: BTreeMap<u64, (u32, u32)> = [
            (0, (1, 0)),
            (1, (0, 1)),
            (2, (0, 1)),
            (3, (0, 1)),
            (4, (1, 0)),
        ]
        .into();
        assert_eq!(outcomes, expected, "threads={threads}");
        assert_eq!(
            stats.errors.len(),
            3,
            "threads={threads}: {:?}",
            stats.errors
        );
    }
}

/// Emits ids 0..5 as one run with `emit_many_with_ids`, id 2 with two
/// values.
struct Run {
    done: bool,
    outcomes: Outcomes,
}

impl Spout for Run {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare(["n"]);
    }
    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let tuples: Vec<Vec<Value>> = (0..5)
            .map(|i| match i {
                2 => vec![Value::I64(i), Value::I64(i)],
                _ => vec![Value::I64(i)],
            })
            .collect();
        out.emit_many_with_ids(tuples.iter().map(Vec::as_slice).zip(0..));
    }
    fn is_finished(&self) -> bool {
        self.done
    }
    fn ack(&mut self, id: u64) {
        outcome(&self.outcomes, id, true);
    }
    fn fail(&mut self, id: u64) {
        outcome(&self.outcomes, id, false);
    }
}

#[test]
fn a_refused_emit_in_a_run_with_ids_fails_its_id_and_the_others_are_acked() {
    // One sink task: the stream's route is resolved at start and the run
    // goes down it as one; two: each tuple is routed on its own.
    for (threads, sinks) in [(1, 1), (2, 1), (2, 2)] {
        let outcomes = Outcomes::default();
        let mut b = TopologyBuilder::new("refused-run");
        let o = outcomes.clone();
        b.set_spout(
            "src",
            move || Run {
                done: false,
                outcomes: o.clone(),
            },
            1,
        );
        b.set_bolt("sink", || Acks, sinks).shuffle_grouping("src");
        let what = format!("threads={threads}, sinks={sinks}");
        let stats = run_with(b.build().unwrap(), config(threads, 1 << 20)).expect("the run ends");
        let outcomes = outcomes.lock().unwrap().clone();
        let expected: BTreeMap<u64, (u32, u32)> = [
            (0, (1, 0)),
            (1, (1, 0)),
            (2, (0, 1)),
            (3, (1, 0)),
            (4, (1, 0)),
        ]
        .into();
        assert_eq!(outcomes, expected, "{what}");
        assert_eq!(stats.errors.len(), 1, "{what}: {:?}", stats.errors);
        assert!(
            stats.errors[0].message.contains("emitted 2 values"),
            "{what}: {:?}",
            stats.errors
        );
    }
}
