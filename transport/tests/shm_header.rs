//! Opening ring files: header validation, attach flags, and a fuzz test that
//! feeds mutated files to `open_*` (a ring file is untrusted input).

#![cfg(not(loom))]

mod util;

use std::io::ErrorKind;

use gale_transport::{
    Consumer, Producer, RingConfig, RingError, Role, DATA_OFFSET, LAYOUT_VERSION, MAGIC,
};
use proptest::prelude::*;
use util::TempRingPath;

// Header field offsets (see the layout in ring/layout.rs).
const VERSION_AT: usize = 8;
const CAPACITY_AT: usize = 24;
const MAX_RECORD_AT: usize = 32;

const CAP: usize = 256;

/// A valid ring file's bytes with a few records published but unread.
fn valid_ring_bytes() -> Vec<u8> {
    let path = TempRingPath::new("src");
    let mut tx = Producer::create_shm(path.path(), RingConfig::new(CAP).with_batch(1)).unwrap();
    for len in [0usize, 5, 16, 40, 100] {
        tx.try_push(&vec![len as u8; len]).unwrap();
    }
    drop(tx);
    std::fs::read(path.path()).unwrap()
}

fn write_file(tag: &str, bytes: &[u8]) -> TempRingPath {
    let path = TempRingPath::new(tag);
    std::fs::write(path.path(), bytes).unwrap();
    chmod(&path, 0o600);
    path
}

fn chmod(path: &TempRingPath, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path.path(), std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn ring_files_are_created_private_to_their_user() {
    use std::os::unix::fs::MetadataExt;
    let path = TempRingPath::new("mode");
    let _tx = Producer::create_shm(path.path(), RingConfig::new(CAP)).unwrap();
    let meta = std::fs::metadata(path.path()).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o600);
    // SAFETY: geteuid has no preconditions.
    assert_eq!(meta.uid(), unsafe { libc::geteuid() });
}

#[test]
fn a_ring_file_others_may_read_or_a_symlink_is_refused() {
    let path = write_file("shared", &valid_ring_bytes());
    chmod(&path, 0o644);
    let err = Consumer::open_shm(path.path()).unwrap_err();
    assert!(
        matches!(&err, RingError::Untrusted { reason, .. } if reason.contains("644")),
        "{err}"
    );
    chmod(&path, 0o600);
    let link = TempRingPath::new("link");
    std::os::unix::fs::symlink(path.path(), link.path()).unwrap();
    let err = Consumer::open_shm(link.path()).unwrap_err();
    assert!(
        matches!(&err, RingError::Io { source, .. } if source.raw_os_error() == Some(libc::ELOOP)),
        "{err}"
    );
    Consumer::open_shm(path.path()).unwrap();
}

fn patch(bytes: &mut [u8], at: usize, value: &[u8]) {
    bytes[at..at + value.len()].copy_from_slice(value);
}

#[test]
fn valid_file_opens_and_keeps_its_records() {
    let path = write_file("ok", &valid_ring_bytes());
    let mut rx = Consumer::open_shm(path.path()).unwrap();
    assert_eq!(rx.capacity(), CAP);
    let mut batch = rx.read();
    let lens: Vec<usize> = batch.records().map(<[u8]>::len).collect();
    assert_eq!(lens, [0, 5, 16, 40, 100]);
}

#[test]
fn wrong_magic_is_bad_magic() {
    let mut bytes = valid_ring_bytes();
    assert_eq!(u64::from_le_bytes(bytes[..8].try_into().unwrap()), MAGIC);
    patch(&mut bytes, 0, b"NOTARING");
    let path = write_file("magic", &bytes);
    let err = Consumer::open_shm(path.path()).unwrap_err();
    assert!(
        matches!(err, RingError::BadMagic { found } if found == u64::from_le_bytes(*b"NOTARING")),
        "{err}"
    );
}

#[test]
fn wrong_version_is_version_mismatch() {
    let mut bytes = valid_ring_bytes();
    patch(&mut bytes, VERSION_AT, &(LAYOUT_VERSION + 1).to_ne_bytes());
    let path = write_file("version", &bytes);
    let err = Producer::open_shm(path.path(), 1).unwrap_err();
    assert!(
        matches!(err, RingError::VersionMismatch { found, expected } if found == LAYOUT_VERSION + 1 && expected == LAYOUT_VERSION),
        "{err}"
    );
}

#[test]
fn truncated_file_is_truncated() {
    let bytes = valid_ring_bytes();
    for len in [0, 7, DATA_OFFSET - 1] {
        let path = write_file("trunc", &bytes[..len]);
        let err = Consumer::open_shm(path.path()).unwrap_err();
        assert!(
            matches!(err, RingError::Truncated { len: l, .. } if l == len as u64),
            "{err}"
        );
    }
    // Header intact but data area cut short.
    let path = write_file("short", &bytes[..DATA_OFFSET + CAP / 2]);
    let err = Consumer::open_shm(path.path()).unwrap_err();
    assert!(matches!(err, RingError::CorruptHeader { .. }), "{err}");
}

#[test]
fn inconsistent_geometry_is_corrupt_header() {
    let cases: [(usize, u64); 4] = [
        (CAPACITY_AT, 96),                 // not a power of two
        (CAPACITY_AT, 512),                // disagrees with the file length
        (CAPACITY_AT, 0),                  // too small
        (MAX_RECORD_AT, (CAP / 2) as u64), // max record above capacity/2 - 8
    ];
    for (at, value) in cases {
        let mut bytes = valid_ring_bytes();
        patch(&mut bytes, at, &value.to_ne_bytes());
        let path = write_file("geom", &bytes);
        let err = Consumer::open_shm(path.path()).unwrap_err();
        assert!(
            matches!(err, RingError::CorruptHeader { .. }),
            "offset {at} = {value}: {err}"
        );
    }
}

#[test]
fn inconsistent_positions_are_corrupt_header() {
    let mut bytes = valid_ring_bytes();
    let tail_at = 2 * (DATA_OFFSET / 3); // head and tail sit at 1/3 and 2/3
    patch(&mut bytes, tail_at, &(10 * CAP as u64).to_ne_bytes());
    let path = write_file("pos", &bytes);
    let err = Producer::open_shm(path.path(), 1).unwrap_err();
    assert!(matches!(err, RingError::CorruptHeader { .. }), "{err}");
}

#[test]
fn one_producer_and_one_consumer_at_most() {
    let path = TempRingPath::new("attach");
    let rx = Consumer::create_shm(path.path(), RingConfig::new(CAP)).unwrap();
    let err = Consumer::open_shm(path.path()).unwrap_err();
    assert!(
        matches!(
            err,
            RingError::AlreadyAttached {
                role: Role::Consumer
            }
        ),
        "{err}"
    );
    let tx = Producer::open_shm(path.path(), 1).unwrap();
    let err = Producer::open_shm(path.path(), 1).unwrap_err();
    assert!(
        matches!(
            err,
            RingError::AlreadyAttached {
                role: Role::Producer
            }
        ),
        "{err}"
    );
    // Dropping a side clears its flag.
    drop(rx);
    drop(tx);
    let _rx = Consumer::open_shm(path.path()).unwrap();
    let _tx = Producer::open_shm(path.path(), 1).unwrap();
}

#[test]
fn reopened_producer_continues_where_the_last_one_stopped() {
    let path = TempRingPath::new("reopen");
    let mut rx = Consumer::create_shm(path.path(), RingConfig::new(CAP)).unwrap();
    for round in 0..10u8 {
        let mut tx = Producer::open_shm(path.path(), 4).unwrap();
        tx.try_push(&[round; 50]).unwrap();
        drop(tx); // publishes
        assert_eq!(rx.try_pop_with(<[u8]>::to_vec), Some(vec![round; 50]));
    }
}

#[test]
fn create_refuses_existing_files_and_open_missing_ones() {
    let path = TempRingPath::new("exists");
    let _tx = Producer::create_shm(path.path(), RingConfig::new(CAP)).unwrap();
    let err = Consumer::create_shm(path.path(), RingConfig::new(CAP)).unwrap_err();
    assert!(
        matches!(&err, RingError::Io { source, .. } if source.kind() == ErrorKind::AlreadyExists),
        "{err}"
    );
    let missing = TempRingPath::new("missing");
    let err = Consumer::open_shm(missing.path()).unwrap_err();
    assert!(
        matches!(&err, RingError::Io { source, .. } if source.kind() == ErrorKind::NotFound),
        "{err}"
    );
    let err = Producer::create_shm(missing.path(), RingConfig::new(100)).unwrap_err();
    assert!(matches!(err, RingError::InvalidConfig(_)), "{err}");
    assert!(
        !missing.path().exists(),
        "a failed create must leave no file"
    );
}

/// Opens `bytes` as a ring file with both roles and reads whatever it holds.
/// Must never panic or read out of bounds, whatever the bytes are.
fn open_untrusted(bytes: &[u8]) {
    let path = write_file("fuzz", bytes);
    if let Ok(mut rx) = Consumer::open_shm(path.path()) {
        let mut batch = rx.read();
        for rec in &mut batch {
            assert!(rec.len() <= rx_max(bytes));
        }
    }
    if let Ok(mut tx) = Producer::open_shm(path.path(), 1) {
        let _ = tx.try_push(b"probe");
        let _ = tx.free_space();
    }
}

fn rx_max(bytes: &[u8]) -> usize {
    u64::from_ne_bytes(bytes[MAX_RECORD_AT..MAX_RECORD_AT + 8].try_into().unwrap()) as usize
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn mutated_ring_files_never_panic(
        mutations in prop::collection::vec((0..DATA_OFFSET + 128, any::<u8>()), 1..8),
        cut in prop::option::weighted(0.1, 0..DATA_OFFSET + CAP),
    ) {
        let mut bytes = valid_ring_bytes();
        for (at, byte) in mutations {
            bytes[at] = byte;
        }
        if let Some(len) = cut {
            bytes.truncate(len);
        }
        open_untrusted(&bytes);
    }

    #[test]
    fn random_files_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..DATA_OFFSET + 2 * CAP)) {
        open_untrusted(&bytes);
    }
}

#[test]
fn corrupt_record_header_poisons_the_consumer() {
    let mut bytes = valid_ring_bytes();
    // First record (zero length) claims 1000 bytes: more than max_record.
    patch(&mut bytes, DATA_OFFSET, &1000u32.to_ne_bytes());
    let path = write_file("record", &bytes);
    let mut rx = Consumer::open_shm(path.path()).unwrap();
    assert_eq!(rx.read().records().count(), 0);
    assert!(rx.is_poisoned());
    assert!(rx.read().is_empty(), "a poisoned consumer stays stopped");
}
