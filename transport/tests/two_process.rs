//! A ring shared between two processes through a file under /dev/shm.
//!
//! The parent test re-executes this test binary, running only
//! `child_entry`, with `GALE_RING_CHILD` saying which role to play and where
//! the ring file is. Without that variable `child_entry` does nothing.

#![cfg(not(loom))]

mod util;

use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use gale_transport::{Consumer, Producer, ReserveError, RingConfig, WaitStrategy, Waiter};
use util::{check_record, fill_record, record_len, TempRingPath, Watchdog};

const CHILD_ENV: &str = "GALE_RING_CHILD";
const RECORDS: u64 = 200_000;
const MAX: usize = 200;
const STALL: Duration = Duration::from_secs(60);

fn config() -> RingConfig {
    RingConfig::new(1 << 14).with_max_record(MAX).with_batch(16)
}

fn produce(tx: &mut Producer, mut alive: impl FnMut() -> Result<(), String>) {
    let mut waiter = Waiter::new(WaitStrategy::SpinPark {
        spins: 64,
        yields: 8,
        park: Duration::from_micros(50),
    });
    let mut dog = Watchdog::new("producer", STALL);
    for seq in 0..RECORDS {
        let len = record_len(seq, MAX);
        loop {
            match tx.try_reserve(len) {
                Ok(mut slot) => {
                    fill_record(seq, &mut slot);
                    slot.commit();
                    break;
                }
                Err(ReserveError::Full) => {
                    if let Err(why) = alive() {
                        panic!("ring full at record {seq}: {why}");
                    }
                    dog.check(|| format!("ring full at record {seq}"));
                    waiter.idle();
                }
                Err(e) => panic!("record {seq}: {e}"),
            }
        }
        waiter.reset();
        dog.progress();
    }
    tx.flush();
}

fn consume(rx: &mut Consumer, mut alive: impl FnMut() -> Result<(), String>) {
    let mut waiter = Waiter::new(WaitStrategy::SpinPark {
        spins: 64,
        yields: 8,
        park: Duration::from_micros(50),
    });
    let mut dog = Watchdog::new("consumer", STALL);
    let mut next = 0;
    while next < RECORDS {
        let mut batch = rx.read();
        let before = next;
        for rec in &mut batch {
            check_record(next, MAX, rec);
            next += 1;
        }
        drop(batch);
        if next == before {
            if let Err(why) = alive() {
                panic!("waiting for record {next}: {why}");
            }
            dog.check(|| format!("waiting for record {next}"));
            waiter.idle();
        } else {
            waiter.reset();
            dog.progress();
        }
    }
    assert!(!rx.is_poisoned());
    assert!(rx.read().is_empty(), "records beyond the last one arrived");
}

/// Entry point of the child process; a no-op in a normal test run.
#[test]
fn child_entry() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (role, path) = spec.split_once(':').expect("ROLE:PATH");
    match role {
        "produce" => produce(
            &mut Producer::open_shm(path, 16).expect("child opens ring"),
            || Ok(()),
        ),
        "consume" => consume(
            &mut Consumer::open_shm(path).expect("child opens ring"),
            || Ok(()),
        ),
        other => panic!("unknown role {other}"),
    }
}

/// Kills the child if the parent test fails before waiting for it.
struct ChildGuard(Option<Child>);

impl ChildGuard {
    fn spawn(role: &str, path: &TempRingPath) -> Self {
        let exe = std::env::current_exe().expect("test binary path");
        let child = Command::new(exe)
            .args([
                "child_entry",
                "--exact",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(CHILD_ENV, format!("{role}:{}", path.path().display()))
            .stdout(Stdio::null()) // the child's harness chatter; panics go to stderr
            .spawn()
            .expect("spawn child test process");
        ChildGuard(Some(child))
    }

    /// `Err` if the child already exited (it should not have, while we still
    /// expect records from it, unless it failed).
    fn check_running(&mut self) -> Result<(), String> {
        match self.0.as_mut().unwrap().try_wait() {
            Ok(Some(status)) if !status.success() => Err(format!("child failed: {status}")),
            Ok(_) => Ok(()),
            Err(e) => Err(format!("cannot poll child: {e}")),
        }
    }

    fn wait(mut self, limit: Duration) -> ExitStatus {
        let mut child = self.0.take().unwrap();
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("poll child") {
                return status;
            }
            if start.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                panic!("watchdog: child did not exit within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn child_process_produces_parent_consumes() {
    let path = TempRingPath::new("c2p");
    let mut rx = Consumer::create_shm(path.path(), config()).unwrap();
    let mut child = ChildGuard::spawn("produce", &path);
    consume(&mut rx, || child.check_running());
    let status = child.wait(STALL);
    assert!(status.success(), "child producer failed: {status}");
}

#[test]
fn parent_produces_child_process_consumes() {
    let path = TempRingPath::new("p2c");
    let mut tx = Producer::create_shm(path.path(), config()).unwrap();
    let mut child = ChildGuard::spawn("consume", &path);
    produce(&mut tx, || child.check_running());
    let status = child.wait(STALL);
    assert!(status.success(), "child consumer failed: {status}");
}
