//! Two real OS processes linked over 127.0.0.x: this test binary re-executes
//! itself as the second node. The child blocks `io_uring_setup` with a
//! seccomp filter first, so its `Backend::Auto` link must fall back to mio
//! while the parent uses io_uring.

#![cfg(not(loom))]

mod link_util;

use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use gale_transport::link::{Backend, BackendKind, PeerState};
use link_util::*;

const CHILD_ENV: &str = "GALE_LINK_TEST_CHILD";
const PARENT: u32 = 200;
const CHILD: u32 = 201;
const STOP: u64 = u64::MAX;

fn specs(a: &str, b: &str, same_host: bool) -> Vec<NodeSpec> {
    vec![
        NodeSpec {
            id: PARENT,
            addr: a.parse().unwrap(),
            same_host,
        },
        NodeSpec {
            id: CHILD,
            addr: b.parse().unwrap(),
            same_host,
        },
    ]
}

/// Starts this binary as the child node. `mode` is `seccomp` (block
/// io_uring, TCP link) or `shm` (same-host peer with rings under `dir`).
fn spawn_child(a: SocketAddr, b: SocketAddr, mode: &str, dir: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_node", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, format!("{a};{b};{mode};{dir}"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_exit(child: &mut Child) -> (ExitStatus, String) {
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("child did not exit");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    (status, out)
}

#[test]
fn two_processes_exchange_records_with_io_uring_and_the_mio_fallback() {
    let (a, b) = (free_addr("127.0.0.1"), free_addr("127.0.0.2"));
    let mut child = spawn_child(a, b, "seccomp", "");
    let all = specs(&a.to_string(), &b.to_string(), false);
    let mut node = start_node(0, &all, 1, |c| c.backend = Backend::IoUring);
    assert_eq!(node.link().backend(), BackendKind::IoUring);
    assert!(node.link().wait_connected(WAIT), "child never connected");

    let n = 20_000u64;
    let next = std::cell::Cell::new(0u64);
    let check = |_: usize, r: &[u8]| {
        let (task, thread, seq) = decode(r);
        assert_eq!(task, PARENT * 100 + 1);
        assert_eq!(thread, 7);
        if seq == STOP {
            return;
        }
        assert_eq!(seq, next.get(), "echo out of order");
        next.set(seq + 1);
    };
    for seq in 0..n {
        let size = if seq % 10 == 0 { 1024 } else { 64 };
        node.push(CHILD, 0, &record(CHILD * 100 + 1, 7, seq, size));
        node.drain(check);
    }
    node.push(CHILD, 0, &record(CHILD * 100 + 1, 7, STOP, 64));
    node.flush();
    wait_for("every echo", || {
        node.drain(check);
        next.get() >= n
    });
    // The child echoes the stop marker too, then exits.
    let (status, out) = wait_exit(&mut child);
    assert!(status.success(), "child failed: {out}");
    assert!(out.contains("child backend: mio"), "{out}");
    let stats = node.link().stats();
    assert_eq!(stats.peers[0].records_out, n + 1);
    assert_eq!(stats.peers[0].dropped, 0);
}

/// The second node; does nothing unless started by the test above.
#[test]
fn child_node() {
    let Ok(addrs) = std::env::var(CHILD_ENV) else {
        return;
    };
    let parts: Vec<&str> = addrs.split(';').collect();
    let (a, b, mode, dir) = (parts[0], parts[1], parts[2], parts[3]);
    if mode == "seccomp" {
        deny_io_uring_setup();
    }
    let same_host = mode == "shm";
    let mut node = start_node(1, &specs(a, b, same_host), 1, |c| {
        c.backend = Backend::Auto;
        if same_host {
            c.shm_dir = dir.into();
        }
    });
    println!("child backend: {}", node.link().backend());
    if mode == "seccomp" {
        assert_eq!(node.link().backend(), BackendKind::Mio);
    }
    assert!(node.link().wait_connected(WAIT));
    let mut echo = Vec::new();
    let mut stop = false;
    let deadline = Instant::now() + WAIT * 2;
    while !stop {
        assert!(Instant::now() < deadline, "child timed out");
        node.drain(|_, r| echo.push(r.to_vec()));
        for mut r in echo.drain(..) {
            stop |= decode(&r).2 == STOP;
            r[..4].copy_from_slice(&(PARENT * 100 + 1).to_le_bytes());
            node.push(PARENT, 0, &r);
        }
        node.flush();
        std::thread::yield_now();
    }
    // Let the link send the last echoes, then leave.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(node.state_of(PARENT), PeerState::Up);
    node.link.take().unwrap().stop();
}

/// Installs a seccomp filter on this thread (inherited by threads it
/// starts) that fails `io_uring_setup` with ENOSYS, as a hardened container
/// runtime does.
fn deny_io_uring_setup() {
    // BPF_LD | BPF_W | BPF_ABS, BPF_JMP | BPF_JEQ | BPF_K, BPF_RET | BPF_K.
    const BPF_LD_W_ABS: u16 = 0x20;
    const BPF_JMP_JEQ_K: u16 = 0x15;
    const BPF_RET_K: u16 = 0x06;
    const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
    let stmt = |code, k| libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    };
    let mut filter = [
        // Load the syscall number (offset 0 of struct seccomp_data).
        stmt(BPF_LD_W_ABS, 0),
        libc::sock_filter {
            code: BPF_JMP_JEQ_K,
            jt: 0,
            jf: 1,
            k: libc::SYS_io_uring_setup as u32,
        },
        stmt(BPF_RET_K, libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32),
        stmt(BPF_RET_K, SECCOMP_RET_ALLOW),
    ];
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_mut_ptr(),
    };
    // SAFETY: plain prctl calls; `prog` points at a filter that lives until
    // the call returns (the kernel copies it).
    unsafe {
        assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
        assert_eq!(
            libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER as libc::c_ulong,
                &prog as *const libc::sock_fprog,
            ),
            0,
            "seccomp: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// Ring files of links under `dir`.
fn ring_files(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("gale-link-"))
        .collect();
    v.sort();
    v
}

/// Sends `n` records from sender thread `thread` and collects the echoes,
/// which must be exactly this session's, in order. With `kill_after`, the
/// child is killed with SIGKILL once that many echoes came back.
fn session(node: &mut Node, thread: u32, n: u64, mut kill: Option<(u64, &mut Child)>) -> u64 {
    let next = std::cell::Cell::new(0u64);
    let check = |_: usize, r: &[u8]| {
        let (task, from, seq) = decode(r);
        assert_eq!(task, PARENT * 100 + 1);
        assert_eq!(from, thread, "an echo from another session (a stale ring?)");
        assert_eq!(seq, next.get(), "echo out of order");
        next.set(seq + 1);
    };
    for seq in 0..n {
        node.push(CHILD, 0, &record(CHILD * 100 + 1, thread, seq, 128));
        node.drain(check);
        if let Some((after, child)) = kill.as_mut() {
            if next.get() >= *after {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                return next.get();
            }
        }
    }
    node.flush();
    wait_for("every echo of the session", || {
        node.drain(check);
        next.get() >= n
    });
    n
}

#[test]
fn same_host_processes_use_shm_rings_and_survive_kill_9() {
    let dir = ShmDir::new("kill9");
    let (a, b) = (free_addr("127.0.0.1"), free_addr("127.0.0.2"));
    let all = specs(&a.to_string(), &b.to_string(), true);
    let dir_s = dir.path().to_str().unwrap().to_string();
    let mut node = start_node(0, &all, 1, |c| c.shm_dir = dir.path().to_path_buf());
    let mut child = spawn_child(a, b, "shm", &dir_s);
    assert!(node.link().wait_connected(WAIT), "child never connected");
    assert!(node.link().stats().peers[0].shm, "not using shared memory");
    let first = ring_files(dir.path());
    assert_eq!(first.len(), 2, "{first:?}");

    // Session 1, killed half-way.
    let echoed = session(&mut node, 1, 50_000, Some((2_000, &mut child)));
    assert!(echoed >= 2_000);
    wait_for("peer down", || node.state_of(CHILD) == PeerState::Down);
    wait_for("ring files removed", || ring_files(dir.path()).is_empty());
    // Whatever session 1 left in our inbound ring is from before the kill.
    node.drain(|_, _| {});
    // Records for the dead peer are dropped, never block the worker.
    for seq in 0..1_000 {
        node.push(CHILD, 0, &record(CHILD * 100 + 1, 9, seq, 128));
    }
    node.flush();
    wait_for("records dropped", || {
        node.link().stats().peers[0].dropped >= 1_000
    });

    // Restarted: new ring files (new generation), and only session 2's
    // records come back.
    let mut child = spawn_child(a, b, "shm", &dir_s);
    wait_for("reconnected", || node.state_of(CHILD) == PeerState::Up);
    let second = ring_files(dir.path());
    assert_eq!(second.len(), 2, "{second:?}");
    assert!(
        second.iter().all(|f| !first.contains(f)),
        "{first:?} {second:?}"
    );
    session(&mut node, 2, 20_000, None);
    node.push(CHILD, 0, &record(CHILD * 100 + 1, 2, STOP, 64));
    node.flush();
    let (status, out) = wait_exit(&mut child);
    assert!(status.success(), "child failed: {out}");
    assert!(node.link().stats().peers[0].reconnects >= 1);
}
