//! Model checks of the ring protocol with loom (`--cfg loom`).
//!
//! Each test runs a producer thread and a consumer thread over a tiny ring;
//! loom explores their interleavings (bounded preemptions) and reports any
//! data race on the payload bytes through the shadow cells in `region.rs`.
//! The last one checks the doorbell on a ring: no wake-up is lost.

use loom::thread;

use super::*;

/// Pushes `records` from one thread and reads them on another; checks that
/// each arrives exactly once, in order, intact.
fn exchange(capacity: usize, batch: usize, records: &'static [&'static [u8]]) {
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(3);
    model.check(move || {
        let config = RingConfig::new(capacity).with_batch(batch);
        let (mut tx, mut rx) = ring(config).unwrap();
        let producer = thread::spawn(move || {
            for record in records {
                loop {
                    match tx.try_push(record) {
                        Ok(()) => break,
                        Err(ReserveError::Full) => thread::yield_now(),
                        Err(e) => panic!("unexpected {e}"),
                    }
                }
            }
            tx.flush();
        });
        let mut got = 0;
        while got < records.len() {
            let mut batch = rx.read();
            let before = got;
            for record in &mut batch {
                assert_eq!(record, records[got], "record {got} corrupted");
                got += 1;
            }
            drop(batch);
            if got == before {
                thread::yield_now();
            }
        }
        producer.join().unwrap();
        assert!(rx.read().is_empty(), "records arrived twice");
    });
}

/// Four 8-byte records fill a 64-byte ring exactly; the fifth must wait for
/// the consumer's release.
const EXACTLY_FULL: &[&[u8]] = &[
    b"record-0",
    b"record-1",
    b"record-2",
    b"record-3",
    b"record-4",
];

/// 24-byte footprints: the third record does not fit before the end and wraps
/// behind a pad; the last is the maximum size (24 bytes).
const WRAP: &[&[u8]] = &[
    b"first record 16b",
    b"second record 16",
    b"third wraps 16by",
    b"max record 24 bytes long",
];

#[test]
fn loom_exactly_full_batch1() {
    exchange(64, 1, EXACTLY_FULL);
}

#[test]
fn loom_wrap_batch1() {
    exchange(64, 1, WRAP);
}

#[test]
fn loom_exactly_full_batch2_flush() {
    exchange(64, 2, EXACTLY_FULL);
}

#[test]
fn loom_wrap_batch2_flush() {
    exchange(64, 2, WRAP);
}

/// The no-lost-wake-up property under loom: a consumer that arms the bell
/// and then finds its ring empty goes to sleep, so the producer's
/// publication must ring; and one arming rings at most once.
#[test]
fn loom_a_consumer_that_sleeps_is_always_woken() {
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(3);
    model.check(|| {
        let (mut tx, rx) = ring(RingConfig::new(64)).unwrap();
        // A std Arc as in the ring; the bell's atomics are loom's.
        let bell = std::sync::Arc::new(Doorbell::new().unwrap());
        rx.set_doorbell(std::sync::Arc::clone(&bell));
        // The producer's publication rings through `Producer::flush`.
        let producer = thread::spawn(move || {
            tx.try_push(b"wake").unwrap();
            tx.flush();
        });
        // The consumer's side of the I/O loop: arm, look again, sleep
        // only if still empty.
        bell.arm();
        let sleeps = rx.is_empty();
        producer.join().unwrap();
        if sleeps {
            assert_eq!(bell.rung(), 1, "a sleeping consumer was never woken");
        }
        assert!(bell.rung() <= 1, "one arming rang twice");
        assert!(!rx.is_empty(), "the record was lost");
    });
}
