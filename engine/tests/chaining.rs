//! Chained operators: a bolt on the emitting task's thread runs what a call
//! emitted to it when that call returns (a spout's batch of calls), or
//! within the call once it has emitted the chain's scratch limit (chained),
//! unless that could change what it observes. Shown here by what the
//! components see: a call that emits more than the limit sees its first
//! tuples executed before it returns (and not with chaining off); a bolt
//! that emits to itself, or a
//! cycle of bolts, goes through the local queue instead of re-entering a
//! running bolt; tuples from one task to another keep their order when
//! some of them had to be queued; acking and a panicking chained bolt
//! behave as on the other paths.

mod util;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use gale_codec::Value;
use gale_engine::{
    Bolt, BoltOutput, Input, OutputFieldsDeclarer, RunConfig, Spout, SpoutOutput, TopologyBuilder,
    DEFAULT_STREAM,
};
use util::{config, run_config};

const N: i64 = 2_000;

/// Emits `0..N` (one field `n`) in bursts of `BURST` per call, reliable
/// with the number as message id when `reliable`, and counts the
/// executions of the probe bolt that happened within its calls.
struct Counting {
    next: i64,
    reliable: bool,
    executed: Arc<AtomicU64>,
    within_calls: Arc<AtomicU64>,
    acked: Arc<Mutex<Vec<u64>>>,
}

/// Tuples per call: more than the chain's scratch limit holds.
const BURST: i64 = 1_000;

impl Spout for Counting {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare(["n"]);
    }
    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        let before = self.executed.load(Ordering::Relaxed);
        let end = (self.next + BURST).min(N);
        for n in self.next..end {
            let values = [Value::Str(format!("{n:>24}"))];
            if self.reliable {
                out.emit_with_id(&values, n as u64);
            } else {
                out.emit(&values);
            }
        }
        self.next = end;
        let during = self.executed.load(Ordering::Relaxed) - before;
        self.within_calls.fetch_add(during, Ordering::Relaxed);
    }
    fn is_finished(&self) -> bool {
        self.next == N
    }
    fn ack(&mut self, msg_id: u64) {
        self.acked.lock().unwrap().push(msg_id);
    }
    fn fail(&mut self, _msg_id: u64) {
        panic!("no tree may fail here");
    }
}

/// Counts its executions and acks.
struct Probe(Arc<AtomicU64>);

impl Bolt for Probe {
    fn declare_output_fields(&self, _d: &mut OutputFieldsDeclarer) {}
    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        self.0.fetch_add(1, Ordering::Relaxed);
        out.ack(input);
    }
}

fn one_thread(chain: bool) -> RunConfig {
    RunConfig {
        chain,
        ..config(1, 1 << 20)
    }
}

/// One thread: chained, a call that emits more than the scratch limit
/// sees most of its tuples executed before it returns; unchained, none
/// (they wait in the local queue). Reliable or not, every tree is acked
/// once.
#[test]
fn a_chained_bolt_runs_within_a_large_call() {
    for (chain, reliable) in [(true, false), (true, true), (false, false), (false, true)] {
        let executed = Arc::new(AtomicU64::new(0));
        let within_calls = Arc::new(AtomicU64::new(0));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let mut b = TopologyBuilder::new("chained");
        let (e, w, a) = (executed.clone(), within_calls.clone(), acked.clone());
        b.set_spout(
            "src",
            move || Counting {
                next: 0,
                reliable,
                executed: e.clone(),
                within_calls: w.clone(),
                acked: a.clone(),
            },
            1,
        );
        let e = executed.clone();
        b.set_bolt("probe", move || Probe(e.clone()), 1)
            .shuffle_grouping("src");
        let stats = run_config(b.build().unwrap(), one_thread(chain));
        let what = format!("chain={chain}, reliable={reliable}");
        assert_eq!(executed.load(Ordering::Relaxed), N as u64, "{what}");
        let within = within_calls.load(Ordering::Relaxed);
        if chain {
            // Each call's tuples run in chunks of the scratch limit: all
            // but the last chunk of each call within it.
            assert!(
                within >= N as u64 / 2,
                "{what}: {within} chained within calls"
            );
        } else {
            assert_eq!(within, 0, "{what}: queued tuples run after the call");
        }
        let mut acked = acked.lock().unwrap().clone();
        acked.sort_unstable();
        if reliable {
            assert_eq!(acked, (0..N as u64).collect::<Vec<_>>(), "{what}");
        }
        let probe = &stats.components["probe"];
        assert_eq!(
            (probe.executed, probe.acked),
            (N as u64, N as u64),
            "{what}"
        );
    }
}

/// Emits `0..N` untracked.
struct Numbers(i64);

impl Spout for Numbers {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare(["n"]);
    }
    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        if self.0 < N {
            out.emit(&[Value::I64(self.0)]);
            self.0 += 1;
        }
    }
    fn is_finished(&self) -> bool {
        self.0 == N
    }
}

/// `ping` and `pong` both get the spout's numbers, and `pong` answers each
/// on stream `back` to `ping` (a cycle on one thread) with a tuple larger
/// than the chain's scratch limit; `ping` sends `pong` one numbered tuple
/// for every input it gets, of either kind. `pong` records those numbers
/// in the order it gets them. Chained, `pong`'s large answer runs `ping`
/// within `pong`'s execute, so `ping`'s tuple to the running `pong` is
/// queued; `ping`'s next tuple to `pong` must then be queued behind it,
/// not chained ahead of it.
struct Ping {
    seq: i64,
}

impl Bolt for Ping {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare(["seq"]);
    }
    fn execute(&mut self, _input: &Input<'_>, out: &mut BoltOutput<'_>) {
        out.emit(&[Value::I64(self.seq)]);
        self.seq += 1;
    }
}

struct Pong(Arc<Mutex<Vec<i64>>>);

impl Bolt for Pong {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare_stream("back", ["padding"]);
    }
    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        let n = input.get(0).and_then(|v| v.as_i64()).unwrap();
        if input.source_component() == "ping" {
            self.0.lock().unwrap().push(n);
        } else {
            out.emit_to("back", &[Value::Str("x".repeat(20 << 10))]);
        }
    }
}

/// A cycle of bolts on one thread: the bolt running is never entered
/// again (its tuples wait in the local queue), everything is delivered,
/// and `pong` gets `ping`'s tuples in the order `ping` emitted them,
/// although some were queued and others could have been chained.
#[test]
fn a_cycle_is_queued_and_order_between_two_tasks_holds() {
    for chain in [true, false] {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut b = TopologyBuilder::new("cycle");
        b.set_spout("src", || Numbers(0), 1);
        b.set_bolt("ping", || Ping { seq: 0 }, 1)
            .shuffle_grouping("src")
            .grouping("pong", "back", gale_engine::Grouping::Shuffle);
        let s = seen.clone();
        b.set_bolt("pong", move || Pong(s.clone()), 1)
            .shuffle_grouping("src")
            .grouping("ping", DEFAULT_STREAM, gale_engine::Grouping::Shuffle);
        let stats = run_config(b.build().unwrap(), one_thread(chain));
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2 * N as usize, "chain={chain}");
        assert!(
            seen.iter().zip(0..).all(|(&got, want)| got == want),
            "chain={chain}: out of order from {:?}",
            seen.iter().zip(0..).find(|(&got, want)| got != *want)
        );
        assert_eq!(stats.components["ping"].executed, 2 * N as u64);
    }
}

/// Relays each input to itself on stream `again` until it has gone round
/// `ROUNDS` times, then counts it.
struct SelfLoop(Arc<AtomicU64>);

const ROUNDS: i64 = 5;

impl Bolt for SelfLoop {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare_stream("again", ["n", "round"]);
    }
    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        let round = input.get(1).and_then(|v| v.as_i64()).unwrap_or(0);
        if round == ROUNDS {
            self.0.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let n = input.get(0).and_then(|v| v.as_i64()).unwrap();
        out.emit_to("again", &[Value::I64(n), Value::I64(round + 1)]);
    }
}

/// A bolt subscribed to its own stream: every tuple goes round and is
/// counted once, chained or not.
#[test]
fn a_bolt_that_emits_to_itself_is_not_reentered() {
    for chain in [true, false] {
        let done = Arc::new(AtomicU64::new(0));
        let mut b = TopologyBuilder::new("self-loop");
        b.set_spout("src", || Numbers(0), 1);
        let d = done.clone();
        b.set_bolt("loop", move || SelfLoop(d.clone()), 1)
            .shuffle_grouping("src")
            .grouping("loop", "again", gale_engine::Grouping::Shuffle);
        let stats = run_config(b.build().unwrap(), one_thread(chain));
        assert_eq!(done.load(Ordering::Relaxed), N as u64, "chain={chain}");
        let executed = stats.components["loop"].executed;
        assert_eq!(executed, N as u64 * (ROUNDS as u64 + 1), "chain={chain}");
    }
}

/// Emits one tuple over the 16 MiB record limit between two small ones.
struct Oversized(u8);

impl Spout for Oversized {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare(["s"]);
    }
    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        let s = match self.0 {
            0 | 2 => "small".to_owned(),
            1 => "x".repeat((16 << 20) + 1),
            _ => return,
        };
        out.emit(&[Value::Str(s)]);
        self.0 += 1;
    }
    fn is_finished(&self) -> bool {
        self.0 == 3
    }
}

/// The record limit holds on one thread too (chained or queued): the
/// oversized tuple is reported and not delivered, the others are.
#[test]
fn a_tuple_over_the_record_limit_is_refused_on_the_same_thread() {
    for chain in [true, false] {
        let executed = Arc::new(AtomicU64::new(0));
        let mut b = TopologyBuilder::new("oversized");
        b.set_spout("src", || Oversized(0), 1);
        let e = executed.clone();
        b.set_bolt("probe", move || Probe(e.clone()), 1)
            .shuffle_grouping("src");
        let stats = util::run_with(b.build().unwrap(), one_thread(chain)).expect("the run ends");
        assert_eq!(executed.load(Ordering::Relaxed), 2, "chain={chain}");
        assert_eq!(stats.errors.len(), 1, "chain={chain}: {:?}", stats.errors);
        let message = &stats.errors[0].message;
        assert!(message.contains("could not deliver"), "{message}");
    }
}
