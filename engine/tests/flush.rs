//! Low rates: a tuple must not wait for its ring batch to fill. A spout
//! that emits the next tuple only after the bolt has executed the previous
//! one would hang (and trip the watchdog) if rings published only full
//! batches or on a long timer.

mod util;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gale_codec::Value;
use gale_engine::*;
use gale_transport::WaitStrategy;

const N: u64 = 200;

struct PingSpout {
    sent: u64,
    seen: Arc<AtomicU64>,
}
impl Spout for PingSpout {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare(["n"]);
    }
    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        // SYNC: Acquire pairs with the bolt's Release store.
        if self.sent < N && self.seen.load(Ordering::Acquire) == self.sent {
            out.emit(&[Value::I64(self.sent as i64)]);
            self.sent += 1;
        }
    }
    fn is_finished(&self) -> bool {
        self.sent == N
    }
}

struct PongBolt(Arc<AtomicU64>);
impl Bolt for PongBolt {
    fn declare_output_fields(&self, _d: &mut OutputFieldsDeclarer) {}
    fn execute(&mut self, input: &Input<'_>, _out: &mut BoltOutput<'_>) {
        let n = input.get(0).and_then(|v| v.as_i64()).unwrap();
        assert_eq!(
            n as u64,
            self.0.load(Ordering::Relaxed),
            "in order, one at a time"
        );
        // SYNC: Release pairs with the spout's Acquire load.
        self.0.store(n as u64 + 1, Ordering::Release);
    }
}

fn ping_pong(wait: WaitStrategy) {
    let seen = Arc::new(AtomicU64::new(0));
    let mut b = TopologyBuilder::new("ping-pong");
    let s = Arc::clone(&seen);
    b.set_spout(
        "ping",
        move || PingSpout {
            sent: 0,
            seen: Arc::clone(&s),
        },
        1,
    );
    let s = Arc::clone(&seen);
    b.set_bolt("pong", move || PongBolt(Arc::clone(&s)), 1)
        .shuffle_grouping("ping");
    let config = RunConfig {
        threads: 2, // spout and bolt on different threads: through a ring
        pin: false,
        wait,
        batch: 64,
        // The timer alone would never fire in time: an idle worker must
        // flush by itself.
        flush_interval: Duration::from_secs(3600),
        ..RunConfig::default()
    };
    let stats = util::run_config(b.build().unwrap(), config);
    assert_eq!(stats.components["pong"].executed, N);
    assert_eq!(seen.load(Ordering::Acquire), N);
}

#[test]
fn one_tuple_at_a_time_with_the_default_wait() {
    ping_pong(WaitStrategy::default());
}

#[test]
fn one_tuple_at_a_time_with_busy_spin() {
    ping_pong(WaitStrategy::BusySpin);
}

/// Tuples a spout emits one per call, a millisecond apart.
const SLOW: u64 = 128;

struct SlowSpout {
    sent: u64,
    epoch: Instant,
}
impl Spout for SlowSpout {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare(["sent_ns"]);
    }
    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        if self.sent < SLOW {
            let ns = self.epoch.elapsed().as_nanos() as i64;
            out.emit(&[Value::I64(ns)]);
            self.sent += 1;
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    fn is_finished(&self) -> bool {
        self.sent == SLOW
    }
}

struct DelayBolt {
    epoch: Instant,
    delays: Arc<Mutex<Vec<u64>>>,
}
impl Bolt for DelayBolt {
    fn declare_output_fields(&self, _d: &mut OutputFieldsDeclarer) {}
    fn execute(&mut self, input: &Input<'_>, _out: &mut BoltOutput<'_>) {
        let sent = input.get(0).and_then(|v| v.as_i64()).unwrap() as u64;
        let now = self.epoch.elapsed().as_nanos() as u64;
        self.delays.lock().unwrap().push(now.saturating_sub(sent));
    }
}

/// A spout that emits on every call keeps its worker in one batch of
/// calls (64 of them, here 64 ms long): its tuples for another thread
/// must still go out every `flush_interval`, not wait for the batch's end
/// (then half of them would wait over 30 ms).
#[test]
fn a_busy_spouts_tuples_go_out_within_its_batch_of_calls() {
    let epoch = Instant::now();
    let delays = Arc::new(Mutex::new(Vec::new()));
    let mut b = TopologyBuilder::new("slow-spout");
    b.set_spout("slow", move || SlowSpout { sent: 0, epoch }, 1);
    let d = Arc::clone(&delays);
    b.set_bolt(
        "delay",
        move || DelayBolt {
            epoch,
            delays: Arc::clone(&d),
        },
        1,
    )
    .shuffle_grouping("slow");
    let config = RunConfig {
        threads: 2,
        pin: false,
        flush_interval: Duration::from_millis(5),
        ..RunConfig::default()
    };
    let stats = util::run_config(b.build().unwrap(), config);
    assert_eq!(stats.components["delay"].executed, SLOW);
    let mut delays = delays.lock().unwrap().clone();
    delays.sort_unstable();
    let median = Duration::from_nanos(delays[delays.len() / 2]);
    // Within the interval and 8 calls (the clock is read every 8) of
    // being staged; 20 ms leaves room for a noisy machine.
    assert!(
        median < Duration::from_millis(20),
        "median delay {median:?} (delays {delays:?})"
    );
}

/// Tuples of [`Isolated`].
const ISOLATED: u64 = 20;

/// Where [`Isolated`] is in its cycle of calls.
#[derive(Clone, Copy)]
enum Phase {
    /// Emit the next tuple.
    Emit,
    /// The call right after an emit, in the same pass: emit nothing, which
    /// ends the pass's batch of calls.
    End,
    /// The next pass: wait until the bolt has executed the tuple (or a
    /// second has gone by: the tuple was late) and emit nothing, so that
    /// this pass is idle and the next tuple's pass follows an idle one.
    Wait,
}

/// Emits a tuple per three calls, in the cycle of [`Phase`].
struct Isolated {
    sent: u64,
    phase: Phase,
    seen: Arc<AtomicU64>,
    late: Arc<AtomicU64>,
}
impl Spout for Isolated {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare(["n"]);
    }
    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        match self.phase {
            Phase::Emit if self.sent < ISOLATED => {
                out.emit(&[Value::I64(self.sent as i64)]);
                self.sent += 1;
                self.phase = Phase::End;
            }
            Phase::Emit => {}
            Phase::End => self.phase = Phase::Wait,
            Phase::Wait => {
                let deadline = Instant::now() + Duration::from_secs(1);
                // SYNC: Acquire pairs with the bolt's Release store.
                while self.seen.load(Ordering::Acquire) < self.sent {
                    if Instant::now() > deadline {
                        self.late.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    std::hint::spin_loop();
                }
                self.phase = Phase::Emit;
            }
        }
    }
    fn is_finished(&self) -> bool {
        self.sent == ISOLATED && matches!(self.phase, Phase::Emit)
    }
}
/// A tuple emitted by a pass that follows an idle one goes out at the end
/// of that pass, not when the next pass finds nothing to do: at low rates
/// a tuple does not wait a pass of its worker (with a flush interval of an
/// hour, only that rule publishes it while the spout waits for it).
#[test]
fn an_isolated_tuple_goes_out_at_the_end_of_its_pass() {
    for wait in [WaitStrategy::default(), WaitStrategy::BusySpin] {
        let seen = Arc::new(AtomicU64::new(0));
        let late = Arc::new(AtomicU64::new(0));
        let mut b = TopologyBuilder::new("isolated");
        let (s, l) = (Arc::clone(&seen), Arc::clone(&late));
        b.set_spout(
            "isolated",
            move || Isolated {
                sent: 0,
                phase: Phase::Emit,
                seen: Arc::clone(&s),
                late: Arc::clone(&l),
            },
            1,
        );
        let s = Arc::clone(&seen);
        b.set_bolt("pong", move || PongBolt(Arc::clone(&s)), 1)
            .shuffle_grouping("isolated");
        let config = RunConfig {
            threads: 2,
            pin: false,
            wait,
            flush_interval: Duration::from_secs(3600),
            ..RunConfig::default()
        };
        let stats = util::run_config(b.build().unwrap(), config);
        assert_eq!(stats.components["pong"].executed, ISOLATED);
        assert_eq!(late.load(Ordering::Relaxed), 0, "{wait:?}: tuples late");
    }
}
