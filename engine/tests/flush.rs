//! Low rates: a tuple must not wait for its ring batch to fill. A spout
//! that emits the next tuple only after the bolt has executed the previous
//! one would hang (and trip the watchdog) if rings published only full
//! batches or on a long timer.

mod util;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

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
