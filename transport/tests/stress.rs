//! Two threads push a million records of random lengths through a small ring;
//! every record must arrive exactly once, in order, intact.

#![cfg(not(loom))]

mod util;

use std::time::Duration;

use gale_transport::{ring, ReserveError, RingConfig, WaitStrategy, Waiter};
use util::{check_record, fill_record, record_len, Rng, Watchdog};

const RECORDS: u64 = 1_000_000;
const MAX: usize = 100;
const STALL: Duration = Duration::from_secs(60);

fn run(capacity: usize, batch: usize) {
    let cfg = RingConfig::new(capacity)
        .with_max_record(140)
        .with_batch(batch);
    let (mut tx, mut rx) = ring(cfg).unwrap();
    std::thread::scope(|s| {
        s.spawn(move || {
            let mut rng = Rng::new(7);
            let mut waiter = Waiter::new(WaitStrategy::SpinYield { spins: 16 });
            let mut dog = Watchdog::new("producer", STALL);
            for seq in 0..RECORDS {
                let len = record_len(seq, MAX);
                // Reserve a bit more than needed half the time, to exercise commit_len.
                let extra = if rng.below(2) == 0 {
                    rng.below(40) as usize
                } else {
                    0
                };
                loop {
                    match tx.try_reserve(len + extra) {
                        Ok(mut slot) => {
                            fill_record(seq, &mut slot[..len]);
                            slot.commit_len(len);
                            break;
                        }
                        Err(ReserveError::Full) => {
                            dog.check(|| format!("stuck at record {seq}"));
                            waiter.idle();
                        }
                        Err(e) => panic!("record {seq}: {e}"),
                    }
                }
                waiter.reset();
                dog.progress();
            }
            tx.flush();
        });
        let mut waiter = Waiter::new(WaitStrategy::SpinYield { spins: 16 });
        let mut dog = Watchdog::new("consumer", STALL);
        let mut next = 0u64;
        while next < RECORDS {
            let mut batch = rx.read();
            let before = next;
            for rec in &mut batch {
                assert!(next < RECORDS, "more records than were sent");
                check_record(next, MAX, rec);
                next += 1;
            }
            drop(batch);
            if next == before {
                dog.check(|| format!("waiting for record {next}"));
                waiter.idle();
            } else {
                waiter.reset();
                dog.progress();
            }
        }
        assert!(rx.read().is_empty(), "records beyond the last one arrived");
    });
}

#[test]
fn two_threads_one_million_records_batch_8() {
    run(1 << 12, 8);
}

#[test]
fn two_threads_tiny_ring_batch_1() {
    // 512-byte ring: records of up to ~150 bytes with headers, so it wraps
    // and fills constantly.
    run(1 << 9, 1);
}
