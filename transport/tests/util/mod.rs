//! Helpers shared by the integration tests.

#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A unique path for a ring file (under /dev/shm when it exists), removed
/// when the guard drops, also when the test fails.
pub struct TempRingPath(PathBuf);

impl TempRingPath {
    pub fn new(tag: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let path = dir.join(format!("gale-test-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        TempRingPath(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempRingPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// xorshift64*: deterministic, dependency-free randomness for tests.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// Record `seq` of a test stream: its length (0..=max) and contents follow
/// from `seq` alone, so the reader can check order, completeness and every
/// byte. Records of 16 bytes or more start with `seq` and a checksum of the
/// rest (which makes mismatches easy to read in failure messages).
pub fn record_len(seq: u64, max: usize) -> usize {
    (Rng::new(seq).next_u64() % (max as u64 + 1)) as usize
}

pub fn fill_record(seq: u64, buf: &mut [u8]) {
    let mut rng = Rng::new(seq ^ 0xA5A5);
    let body = if buf.len() >= 16 { 16 } else { 0 };
    for b in &mut buf[body..] {
        *b = rng.next_u64() as u8;
    }
    if body == 16 {
        let sum = checksum(&buf[16..]);
        buf[..8].copy_from_slice(&seq.to_le_bytes());
        buf[8..16].copy_from_slice(&sum.to_le_bytes());
    }
}

pub fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Panics with a useful message unless `rec` is record `seq`.
pub fn check_record(seq: u64, max: usize, rec: &[u8]) {
    assert_eq!(
        rec.as_ptr() as usize % 8,
        0,
        "record {seq} is not 8-byte aligned"
    );
    let len = record_len(seq, max);
    if rec.len() >= 16 {
        let got_seq = u64::from_le_bytes(rec[..8].try_into().unwrap());
        assert_eq!(got_seq, seq, "out of order: expected record {seq}");
        let sum = u64::from_le_bytes(rec[8..16].try_into().unwrap());
        assert_eq!(sum, checksum(&rec[16..]), "record {seq}: checksum mismatch");
    }
    assert_eq!(rec.len(), len, "record {seq}: wrong length");
    let mut expected = vec![0; len];
    fill_record(seq, &mut expected);
    assert!(rec == expected, "record {seq}: contents differ");
}

/// Fails the test if `deadline` passes without progress.
pub struct Watchdog {
    what: &'static str,
    limit: Duration,
    last: Instant,
}

impl Watchdog {
    pub fn new(what: &'static str, limit: Duration) -> Self {
        Watchdog {
            what,
            limit,
            last: Instant::now(),
        }
    }

    pub fn progress(&mut self) {
        self.last = Instant::now();
    }

    pub fn check(&self, detail: impl FnOnce() -> String) {
        if self.last.elapsed() > self.limit {
            panic!(
                "watchdog: {} made no progress for {:?} ({})",
                self.what,
                self.limit,
                detail()
            );
        }
    }
}
