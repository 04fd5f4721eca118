//! Checkpoint metrics: a running stateful topology reports its last
//! completed checkpoint (id, duration, size, alignment) and the count of
//! completed checkpoints among the topology's metric samples, in step
//! with what the backend made current.

mod util;

use std::path::PathBuf;
use std::time::Duration;

use gale_codec::Value;
use gale_engine::state::{Checkpointing, DirBackend, KeyValueState, RewindableSpout, StatefulBolt};
use gale_engine::{
    BoltOutput, Input, LocalCluster, OutputFieldsDeclarer, Spout, SpoutOutput, TopologyBuilder,
    TopologyMetrics,
};
use util::{config, wait, wait_until};

/// Emits 0, 1, 2, ... forever; its position is the next number.
#[derive(Default)]
struct Numbers {
    next: i64,
}

impl Spout for Numbers {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare(["n"]);
    }
    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        out.emit(&[Value::I64(self.next)]);
        self.next += 1;
    }
}

impl RewindableSpout for Numbers {
    fn checkpoint(&self) -> Value {
        Value::I64(self.next)
    }
    fn restore(&mut self, position: &Value) {
        if let Value::I64(n) = position {
            self.next = *n;
        }
    }
}

/// Counts numbers by their last digit, in state.
struct Digits;

impl StatefulBolt for Digits {
    fn declare_output_fields(&self, _d: &mut OutputFieldsDeclarer) {}
    fn execute(&mut self, input: &Input<'_>, state: &mut KeyValueState, out: &mut BoltOutput<'_>) {
        if let Some(n) = input.get(0).and_then(|v| v.as_i64()) {
            let key = (n % 10).to_string();
            match state.get_mut(&key) {
                Some(Value::I64(c)) => *c += 1,
                _ => {
                    state.put(&key, Value::I64(1));
                }
            }
        }
        out.ack(input);
    }
}

fn sample(m: &TopologyMetrics, name: &str) -> Option<f64> {
    m.samples.iter().find(|s| s.name == name).map(|s| s.value)
}

#[test]
fn completed_checkpoints_are_reported_with_their_id_duration_and_size() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("checkpoint-metrics");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let checkpointing =
        Checkpointing::new(DirBackend::open(&dir).unwrap(), Duration::from_millis(30));
    let mut b = TopologyBuilder::new("checkpoint-metrics");
    b.set_checkpointing(checkpointing.clone());
    b.set_rewindable_spout("numbers", Numbers::default, 1);
    b.set_stateful_bolt("digits", || Digits, 2)
        .fields_grouping("numbers", ["n"]);
    let running = LocalCluster::new(config(2, 1 << 16))
        .submit(b.build().unwrap())
        .unwrap();
    wait_until("three checkpoints completed", || {
        sample(&running.metrics(), "gale_checkpoints_completed_total").is_some_and(|n| n >= 3.0)
    });
    let m = running.metrics();
    let last = sample(&m, "gale_checkpoint_last_id").expect("a last checkpoint id");
    let current = checkpointing
        .current()
        .unwrap()
        .expect("a current checkpoint");
    // The backend may have committed one more since the snapshot.
    assert!(
        last as u64 == current || last as u64 + 1 == current,
        "metrics say {last}, the backend {current}"
    );
    let size = sample(&m, "gale_checkpoint_last_size_bytes").unwrap();
    assert!(
        size > 0.0,
        "two stateful tasks and a spout position saved: {size}"
    );
    let duration = sample(&m, "gale_checkpoint_last_duration_seconds").unwrap();
    assert!(duration > 0.0 && duration < 60.0, "duration {duration} s");
    let alignment = sample(&m, "gale_checkpoint_last_alignment_seconds").unwrap();
    assert!(
        (0.0..=duration).contains(&alignment),
        "alignment {alignment} s"
    );
    assert_eq!(sample(&m, "gale_checkpoint_errors_total"), Some(0.0));
    let registered = m
        .samples
        .iter()
        .filter(|s| s.name == "gale_checkpoints_completed_total")
        .count();
    assert_eq!(registered, 1, "one source per topology, not per task");
    running.stop();
    wait(running, "checkpoint metrics").unwrap();
}
