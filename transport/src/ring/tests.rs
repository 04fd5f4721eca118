//! Edge cases of the ring protocol, single-threaded; the doorbell on a ring.

use std::sync::Arc;
use std::time::Duration;

use super::layout::{footprint, KIND_PAD};
use super::*;

fn small(capacity: usize, batch: usize) -> (Producer, Consumer) {
    ring(RingConfig::new(capacity).with_batch(batch)).unwrap()
}

fn drain(rx: &mut Consumer) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let mut batch = rx.read();
        let before = out.len();
        out.extend(batch.records().map(<[u8]>::to_vec));
        if out.len() == before {
            return out;
        }
    }
}

#[test]
fn exactly_full_ring() {
    let (mut tx, mut rx) = small(64, 1);
    for i in 0..4u8 {
        tx.try_push(&[i; 8]).unwrap(); // footprint 16: four fill 64 bytes
    }
    assert_eq!(tx.free_space(), 0);
    assert_eq!(tx.try_reserve(0).unwrap_err(), ReserveError::Full);
    assert_eq!(rx.len_bytes(), 64);
    // Releasing one record makes room for exactly one more.
    assert_eq!(rx.try_pop_with(<[u8]>::to_vec), Some(vec![0; 8]));
    assert_eq!(tx.free_space(), 16);
    tx.try_push(&[4; 8]).unwrap();
    assert_eq!(tx.try_push(&[]), Err(ReserveError::Full));
    let got = drain(&mut rx);
    assert_eq!(got, (1..5u8).map(|i| vec![i; 8]).collect::<Vec<_>>());
    assert!(rx.is_empty());
    assert_eq!(tx.free_space(), 64);
}

#[test]
fn wrap_around_writes_padding_and_consumer_skips_it() {
    let (mut tx, mut rx) = small(64, 1);
    tx.try_push(&[1; 16]).unwrap(); // [0, 24)
    tx.try_push(&[2; 16]).unwrap(); // [24, 48)
    assert_eq!(drain(&mut rx).len(), 2);
    // 16 bytes left before the end, record needs 24: pad [48, 64), record [64, 88).
    tx.try_push(&[3; 16]).unwrap();
    // SAFETY: test-only read of the pad header the producer just published.
    let (pad_len, pad_kind) = unsafe {
        let p = tx.region.data_at(48).cast::<u32>();
        (p.read(), p.add(1).read())
    };
    assert_eq!((pad_len, pad_kind), (8, KIND_PAD));
    let mut batch = rx.read();
    let recs: Vec<&[u8]> = batch.records().collect();
    assert_eq!(recs, [&[3u8; 16][..]]);
    // SAFETY: test-only address computation inside the data area.
    let first_payload = unsafe { tx.region.data_at(RECORD_HEADER) };
    assert_eq!(recs[0].as_ptr(), first_payload.cast_const());
    drop(batch);
    assert_eq!(tx.free_space(), 64);
}

#[test]
fn max_record_fits_an_empty_ring_at_every_offset() {
    let (mut tx, mut rx) = small(64, 1);
    let max = tx.max_record();
    assert_eq!(max, 24);
    for step in 0..20 {
        let payload = vec![step as u8; max];
        tx.try_push(&payload).unwrap();
        assert_eq!(drain(&mut rx), [payload]);
        // Shift the start offset by 8 bytes for the next round.
        tx.try_push(&[]).unwrap();
        assert_eq!(drain(&mut rx), [Vec::<u8>::new()]);
    }
}

#[test]
fn too_large_record_is_rejected() {
    let (mut tx, _rx) = small(128, 1);
    assert_eq!(
        tx.try_reserve(57).unwrap_err(),
        ReserveError::TooLarge { len: 57, max: 56 }
    );
    assert_eq!(
        tx.try_push(&[0; 1000]),
        Err(ReserveError::TooLarge { len: 1000, max: 56 })
    );
    assert!(tx.try_reserve(56).is_ok());
}

#[test]
fn zero_length_records() {
    let (mut tx, mut rx) = small(64, 1);
    for _ in 0..8 {
        tx.try_push(&[]).unwrap();
    }
    assert_eq!(tx.try_push(&[]), Err(ReserveError::Full));
    let got = drain(&mut rx);
    assert_eq!(got.len(), 8);
    assert!(got.iter().all(Vec::is_empty));
}

#[test]
fn abandoned_slot_is_invisible() {
    let (mut tx, mut rx) = small(64, 1);
    let mut slot = tx.try_reserve(8).unwrap();
    slot.copy_from_slice(b"abandon!");
    drop(slot);
    assert!(rx.read().is_empty());
    assert_eq!(tx.pending(), 0);
    tx.try_push(b"kept").unwrap();
    assert_eq!(drain(&mut rx), [b"kept".to_vec()]);
    // An abandoned slot that would have wrapped leaves no padding behind.
    tx.try_push(&[0; 16]).unwrap(); // [16, 40)
    tx.try_push(&[0; 8]).unwrap(); // [40, 56)
    drain(&mut rx);
    drop(tx.try_reserve(16).unwrap()); // would pad [56, 64)
    tx.try_push(&[]).unwrap(); // fits at 56 instead
    assert_eq!(drain(&mut rx), [Vec::<u8>::new()]);
    assert_eq!(tx.write_pos, 64);
}

#[test]
fn unflushed_commits_are_invisible_until_batch_or_flush() {
    let (mut tx, mut rx) = small(256, 3);
    tx.try_push(b"a").unwrap();
    tx.try_push(b"b").unwrap();
    assert_eq!(tx.pending(), 2);
    assert!(rx.read().is_empty());
    assert!(rx.is_empty());
    tx.try_push(b"c").unwrap(); // third commit completes the batch
    assert_eq!(tx.pending(), 0);
    assert_eq!(
        drain(&mut rx),
        [b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]
    );
    tx.try_push(b"d").unwrap();
    assert!(rx.read().is_empty());
    tx.flush();
    assert_eq!(tx.pending(), 0);
    assert_eq!(drain(&mut rx), [b"d".to_vec()]);
    tx.flush(); // nothing pending: no-op
    tx.try_push(b"e").unwrap();
    drop(tx); // dropping the producer publishes what it committed
    assert_eq!(drain(&mut rx), [b"e".to_vec()]);
}

#[test]
fn commit_len_shortens_the_record() {
    let (mut tx, mut rx) = small(256, 1);
    let mut slot = tx.try_reserve(40).unwrap();
    assert_eq!(slot.len(), 40);
    assert_eq!(slot.as_ptr() as usize % RECORD_ALIGN, 0);
    slot[..3].copy_from_slice(b"xyz");
    slot.commit_len(3);
    assert_eq!(tx.write_pos, footprint(3) as u64);
    tx.try_push(b"next").unwrap();
    assert_eq!(drain(&mut rx), [b"xyz".to_vec(), b"next".to_vec()]);
}

#[test]
#[should_panic(expected = "exceeds the reserved")]
fn commit_len_beyond_reservation_panics() {
    let (mut tx, _rx) = small(256, 1);
    tx.try_reserve(4).unwrap().commit_len(5);
}

#[test]
fn partial_batches_leave_the_rest_for_later() {
    let (mut tx, mut rx) = small(256, 1);
    for i in 0..5u8 {
        tx.try_push(&[i]).unwrap();
    }
    let mut batch = rx.try_read_batch(2);
    assert_eq!(batch.records().count(), 2);
    assert!(batch.is_empty());
    batch.release();
    assert_eq!(tx.free_space(), 256 - 3 * 16); // three records still unread
                                               // Taking one record from an unlimited batch consumes only that one.
    let mut batch = rx.read();
    assert_eq!(batch.records().next(), Some(&[2u8][..]));
    drop(batch);
    assert_eq!(drain(&mut rx), [vec![3], vec![4]]);
}

#[test]
fn payloads_are_eight_byte_aligned() {
    let (mut tx, mut rx) = small(1024, 1);
    for len in 0..60 {
        let mut slot = tx.try_reserve(len).unwrap();
        assert_eq!(slot.as_mut_ptr() as usize % 8, 0);
        slot.fill(len as u8);
        slot.commit();
        let mut batch = rx.read();
        for rec in &mut batch {
            assert_eq!(rec.as_ptr() as usize % 8, 0);
            assert_eq!(rec, vec![len as u8; len].as_slice());
        }
    }
}

#[test]
fn handles_are_send_and_report_state() {
    fn assert_send<T: Send>() {}
    assert_send::<Producer>();
    assert_send::<Consumer>();
    let (mut tx, rx) = small(128, 4);
    assert_eq!((tx.capacity(), rx.capacity()), (128, 128));
    assert_eq!(tx.batch(), 4);
    tx.set_batch(0);
    assert_eq!(tx.batch(), 1);
    assert!(!rx.is_poisoned());
    assert!(format!("{tx:?} {rx:?}").contains("write_pos"));
}

#[test]
fn invalid_config_is_a_typed_error() {
    assert!(matches!(
        ring(RingConfig::new(100)),
        Err(RingError::InvalidConfig(
            ConfigError::CapacityNotPowerOfTwo { capacity: 100 }
        ))
    ));
}

#[test]
fn an_open_record_is_written_over_several_calls_then_finished() {
    let (mut tx, mut rx) = small(256, 1);
    tx.begin(64).unwrap();
    assert!(tx.is_open());
    tx.open_record().unwrap()[..3].copy_from_slice(b"abc");
    tx.open_record().unwrap()[3..5].copy_from_slice(b"de");
    tx.finish(5);
    assert!(!tx.is_open() && tx.open_record().is_none());
    // Abandoned: nothing visible, and its room is free again.
    tx.begin(64).unwrap();
    tx.open_record().unwrap()[0] = b'x';
    tx.finish(0);
    tx.try_push(b"f").unwrap();
    tx.flush();
    assert_eq!(drain(&mut rx), [b"abcde".to_vec(), b"f".to_vec()]);
}

#[test]
#[should_panic(expected = "while a record is open")]
fn reserving_while_a_record_is_open_panics() {
    let (mut tx, _rx) = small(256, 1);
    tx.begin(8).unwrap();
    let _ = tx.try_reserve(8);
}

// The doorbell on a ring: a consumer sleeping on it is woken by the
// first publication after it armed the bell.

/// Whether the eventfd becomes readable within `ms` milliseconds.
fn readable_within(bell: &Doorbell, ms: i32) -> bool {
    use std::os::fd::{AsFd, AsRawFd};
    let mut p = libc::pollfd {
        fd: bell.as_fd().as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call.
    unsafe { libc::poll(&mut p, 1, ms) == 1 }
}

fn readable(bell: &Doorbell) -> bool {
    readable_within(bell, 0)
}

#[test]
fn doorbell_rings_once_per_arming_and_only_when_armed() {
    let (mut tx, mut rx) = ring(RingConfig::new(4096)).unwrap();
    let bell = Arc::new(Doorbell::new().unwrap());
    rx.set_doorbell(Arc::clone(&bell));
    tx.try_push(b"not armed").unwrap();
    tx.flush();
    assert_eq!(bell.rung(), 0);
    assert!(!readable(&bell));
    bell.arm();
    tx.try_push(b"one").unwrap();
    tx.flush();
    tx.try_push(b"two").unwrap();
    tx.flush();
    assert_eq!(bell.rung(), 1, "the first publication disarms the bell");
    assert!(readable(&bell));
    bell.drain();
    assert!(!readable(&bell));
    assert_eq!(rx.read().records().count(), 3);
}

#[test]
fn doorbell_wakes_a_consumer_sleeping_on_it() {
    let (mut tx, mut rx) = ring(RingConfig::new(4096)).unwrap();
    let bell = Arc::new(Doorbell::new().unwrap());
    rx.set_doorbell(Arc::clone(&bell));
    bell.arm();
    assert!(rx.is_empty());
    let sleeper = std::thread::spawn(move || {
        // Sleeps until the producer rings (the minute is only a bound
        // so that a broken bell fails instead of hanging).
        let woken = readable_within(&bell, 60_000);
        (woken, rx.read().records().count())
    });
    tx.try_push(b"wake up").unwrap();
    tx.flush();
    assert_eq!(sleeper.join().unwrap(), (true, 1));
}

#[test]
fn a_sleep_on_the_doorbell_ends_when_a_producer_publishes() {
    let (mut tx, mut rx) = ring(RingConfig::new(4096)).unwrap();
    let bell = Arc::new(Doorbell::new().unwrap());
    rx.set_doorbell(Arc::clone(&bell));
    let (armed_tx, armed_rx) = std::sync::mpsc::channel();
    let sleeper = std::thread::spawn(move || {
        bell.arm();
        assert!(rx.is_empty());
        armed_tx.send(()).unwrap();
        // The minute is only a bound: a bell that does not end the sleep
        // makes this take a minute and fail, rather than hang.
        let started = std::time::Instant::now();
        bell.sleep(Duration::from_secs(60));
        bell.disarm();
        let slept = started.elapsed();
        (slept, rx.read().records().count(), bell.rung())
    });
    armed_rx.recv().unwrap();
    tx.try_push(b"wake up").unwrap();
    tx.flush();
    let (slept, records, rung) = sleeper.join().unwrap();
    assert_eq!((records, rung), (1, 1));
    assert!(
        slept < Duration::from_secs(30),
        "slept {slept:?}: the bell did not wake it"
    );
}

#[test]
fn a_sleep_on_the_doorbell_ends_at_its_timeout_and_a_later_ring_does_not_linger() {
    // On a thread of its own, so that a sleep that ignored its timeout
    // fails the test instead of hanging it.
    let (done, finished) = std::sync::mpsc::channel();
    let sleeper = std::thread::spawn(move || {
        let bell = Doorbell::new().unwrap();
        bell.arm();
        bell.sleep(Duration::from_millis(1));
        // Rung while armed but after the sleep: the next sleep returns at once
        // (the eventfd was written) and resets it, the one after that sleeps.
        bell.published();
        assert_eq!(bell.rung(), 1);
        let started = std::time::Instant::now();
        bell.sleep(Duration::from_secs(60));
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the ring before the sleep did not end it"
        );
        bell.arm();
        let started = std::time::Instant::now();
        bell.sleep(Duration::from_millis(20));
        assert!(
            started.elapsed() >= Duration::from_millis(20),
            "the eventfd was not reset"
        );
        bell.disarm();
        let _ = done.send(());
    });
    match finished.recv_timeout(Duration::from_secs(120)) {
        Ok(()) => {}
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("a sleep on the doorbell did not end at its timeout")
        }
        // It panicked: its assertion is the failure.
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(panic) = sleeper.join() {
                std::panic::resume_unwind(panic);
            }
        }
    }
}
