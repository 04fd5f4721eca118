//! The link between nodes over real sockets on 127.0.0.x, with both
//! backends: delivery and order, handshake refusals, bad input, reconnect,
//! flow control.

#![cfg(not(loom))]

mod link_util;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use gale_transport::link::wire::{self, Hello, MsgHeader, MsgKind, RefuseCode, WIRE_VERSION};
use gale_transport::link::{Backend, Link, NodeId, PeerState, Resolve};
use link_util::*;

/// Generates one test per backend from `fn name(backend: Backend)`.
macro_rules! per_backend {
    ($($name:ident),* $(,)?) => {
        mod mio {
            $( #[test] fn $name() { super::$name(gale_transport::link::Backend::Mio) } )*
        }
        mod io_uring {
            $( #[test] fn $name() { super::$name(gale_transport::link::Backend::IoUring) } )*
        }
    };
}

per_backend!(
    two_links_deliver_every_record_in_order,
    a_bad_batch_from_a_same_host_peer_drops_the_connection,
    three_links_all_to_all,
    wrong_secret_is_refused_and_logged_on_both_sides,
    fingerprint_mismatch_is_refused_and_logged_on_both_sides,
    wire_version_mismatch_is_refused,
    a_dialing_link_refuses_a_peer_of_another_wire_version,
    bad_input_drops_the_connection_and_the_link_serves_on,
    never_finished_handshake_times_out,
    a_dialed_peer_that_never_answers_times_out_and_is_redialed,
    reconnects_after_the_peer_restarts,
    full_inbound_ring_pushes_back_to_the_sender_without_loss,
    full_inbound_ring_pushes_back_through_shm_rings_without_loss,
    same_host_peers_exchange_through_shm_rings,
    connection_flood_is_bounded_and_the_link_serves_on,
    mutated_and_random_frames_never_break_the_link,
    a_named_peer_is_dialed_once_it_resolves_and_again_at_its_new_address,
    a_record_after_a_quiet_spell_rings_the_doorbell_and_is_delivered,
    modified_replayed_injected_or_reordered_frames_drop_the_connection,
    a_strangers_hello_gets_nothing_secret_derived,
    silent_connections_from_a_stranger_address_do_not_delay_a_peers_join,
    a_peer_that_stops_says_goodbye_and_one_that_vanishes_is_lost_loudly,
    a_panic_on_the_io_thread_is_reported_by_the_stats_handle,
    a_strangers_refusal_is_logged_escaped,
    a_named_peer_that_dials_is_admitted_once_its_name_resolves,
);

fn nodes(base: NodeId, n: usize) -> Vec<NodeSpec> {
    (0..n)
        .map(|i| NodeSpec {
            id: base + i as NodeId,
            addr: free_addr(&format!("127.0.0.{}", i + 1)),
            same_host: false,
        })
        .collect()
}

fn with_backend(backend: Backend) -> impl FnOnce(&mut gale_transport::link::LinkConfig) {
    move |c| c.backend = backend
}

/// Every node sends `per_thread` records from each worker thread to every
/// other node's tasks, then checks that every node got them all, each
/// (sender node, thread) in order.
fn exchange(nodes: &mut [Node], workers: usize, per_thread: u64, size: usize) {
    let ids: Vec<NodeId> = nodes.iter().map(|n| n.id).collect();
    let dropped_before: Vec<Vec<u64>> = nodes
        .iter()
        .map(|n| n.link().stats().peers.iter().map(|p| p.dropped).collect())
        .collect();
    // Per receiving node: the last sequence seen per (sender thread,
    // receiving worker), which must increase, and the count per thread.
    let mut last: Vec<HashMap<(u32, usize), u64>> = vec![HashMap::new(); nodes.len()];
    let mut per_sender: Vec<HashMap<u32, u64>> = vec![HashMap::new(); nodes.len()];
    let expected = per_thread * workers as u64 * (ids.len() as u64 - 1);
    let mut got = vec![0u64; nodes.len()];
    let mut check = |j: usize, me: NodeId, w: usize, r: &[u8]| {
        let (task, thread, seq) = decode(r);
        assert_eq!(
            task / 100,
            me,
            "record for task {task} delivered to node {me}"
        );
        assert_eq!(
            task as usize % workers,
            w,
            "record for task {task} in worker {w}'s ring"
        );
        if let Some(prev) = last[j].insert((thread, w), seq) {
            assert!(
                seq > prev,
                "node {me}: record {seq} from thread {thread} after {prev}"
            );
        }
        *per_sender[j].entry(thread).or_insert(0) += 1;
    };
    for seq in 0..per_thread {
        for i in 0..nodes.len() {
            for &peer in ids.iter().filter(|&&p| p != ids[i]) {
                for t in 0..workers {
                    let task = peer * 100 + (seq as u32 + t as u32) % 7;
                    let thread = ids[i] * 1000 + t as u32 * 10 + peer;
                    let rec = record(task, thread, seq, size);
                    nodes[i].push(peer, t, &rec);
                }
            }
            // Keep receivers draining while senders push.
            for (j, node) in nodes.iter_mut().enumerate() {
                let me = ids[j];
                got[j] += node.drain(|w, r| check(j, me, w, r)) as u64;
            }
        }
    }
    for n in nodes.iter_mut() {
        n.flush();
    }
    wait_for("every record delivered", || {
        for (j, node) in nodes.iter_mut().enumerate() {
            let me = ids[j];
            got[j] += node.drain(|w, r| check(j, me, w, r)) as u64;
        }
        got.iter().all(|&g| g == expected)
    });
    for (j, n) in nodes.iter().enumerate() {
        for (k, p) in n.link().stats().peers.iter().enumerate() {
            assert_eq!(
                p.dropped, dropped_before[j][k],
                "node {} dropped records for {}",
                ids[j], p.id
            );
            assert_eq!(p.state, PeerState::Up);
        }
    }
    for counts in &per_sender {
        assert!(counts.values().all(|&c| c == per_thread), "{counts:?}");
    }
}

fn two_links_deliver_every_record_in_order(backend: Backend) {
    let specs = nodes(10, 2);
    let mut ns: Vec<Node> = (0..2)
        .map(|i| start_node(i, &specs, 2, with_backend(backend)))
        .collect();
    assert!(ns.iter().all(|n| n.link().wait_connected(WAIT)));
    assert_eq!(
        ns[0].link().backend(),
        match backend {
            Backend::IoUring => gale_transport::link::BackendKind::IoUring,
            _ => gale_transport::link::BackendKind::Mio,
        }
    );
    // The listener binds exactly its address: the same port on another
    // loopback address is closed.
    let port = specs[1].addr.port();
    assert!(TcpStream::connect(("127.0.0.3", port)).is_err());
    exchange(&mut ns, 2, 3000, 64);
    exchange(&mut ns, 2, 300, 1024);
    let s = ns[0].link().stats();
    assert_eq!(s.peers[0].records_out, 2 * 3300);
    assert_eq!(s.peers[0].records_in, 2 * 3300);
}

fn three_links_all_to_all(backend: Backend) {
    let specs = nodes(20, 3);
    let mut ns: Vec<Node> = (0..3)
        .map(|i| start_node(i, &specs, 2, with_backend(backend)))
        .collect();
    assert!(ns.iter().all(|n| n.link().wait_connected(WAIT)));
    exchange(&mut ns, 2, 1000, 200);
}

fn refused_pair(
    backend: Backend,
    base: NodeId,
    tune_b: impl FnOnce(&mut gale_transport::link::LinkConfig),
) -> Vec<Node> {
    let specs = nodes(base, 2);
    let a = start_node(0, &specs, 1, with_backend(backend));
    let b = start_node(1, &specs, 1, |c| {
        c.backend = backend;
        tune_b(c);
    });
    vec![a, b]
}

fn wrong_secret_is_refused_and_logged_on_both_sides(backend: Backend) {
    let logs = logs();
    let base = if backend == Backend::Mio { 30 } else { 35 };
    let ns = refused_pair(backend, base, |c| {
        c.secret = b"another secret, also 32 bytes long".to_vec()
    });
    let (a, b) = (format!("node={base}"), format!("node={}", base + 1));
    logs.wait_line(&[&a, "refus", "cluster secret"]);
    logs.wait_line(&[&b, "refus", "cluster secret"]);
    // Still refused after retries, never up.
    wait_for("several refusals", || {
        ns[0].link().stats().peers[0].refused >= 2
    });
    assert_ne!(ns[0].state_of(base + 1), PeerState::Up);
    assert_ne!(ns[1].state_of(base), PeerState::Up);
}

fn fingerprint_mismatch_is_refused_and_logged_on_both_sides(backend: Backend) {
    let logs = logs();
    let base = if backend == Backend::Mio { 40 } else { 45 };
    let ns = refused_pair(backend, base, |c| c.fingerprint = [8; 32]);
    let (a, b) = (format!("node={base}"), format!("node={}", base + 1));
    logs.wait_line(&[&a, "refus", "fingerprint mismatch"]);
    logs.wait_line(&[&b, "refus", "fingerprint mismatch"]);
    assert_ne!(ns[0].state_of(base + 1), PeerState::Up);
}

/// Reads handshake messages until a refuse; returns its code and text.
fn read_refusal(s: &mut TcpStream) -> (RefuseCode, String) {
    s.set_read_timeout(Some(WAIT)).unwrap();
    loop {
        let mut h = [0u8; wire::MSG_HEADER];
        s.read_exact(&mut h).expect("a handshake message");
        let header = MsgHeader::parse(&h).unwrap().unwrap();
        let mut body = vec![0u8; header.len];
        s.read_exact(&mut body).unwrap();
        if header.kind == MsgKind::Refuse {
            return wire::decode_refuse(&body);
        }
    }
}

fn wire_version_mismatch_is_refused(backend: Backend) {
    let logs = logs();
    let base = if backend == Backend::Mio { 50 } else { 55 };
    // Node base+1 accepts from node base, which is a raw socket here.
    let specs = nodes(base, 2);
    let b = start_node(1, &specs, 1, with_backend(backend));
    let mut s = say_hello(specs[1].addr, base, base + 1, WIRE_VERSION + 1);
    let (code, text) = read_refusal(&mut s);
    assert_eq!(code, RefuseCode::WireVersion, "{text}");
    assert!(text.contains("wire version mismatch"), "{text}");
    logs.wait_line(&[
        &format!("node={}", base + 1),
        "refusing",
        "wire version mismatch",
    ]);
    drop(b);
}

/// A raw socket to `addr` that sent a hello from `from` to `to` in wire
/// `version`.
fn say_hello(addr: std::net::SocketAddr, from: NodeId, to: NodeId, version: u16) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    let mut out = Vec::new();
    Hello {
        from,
        to,
        nonce: [1; 32],
    }
    .encode(version, &mut out);
    s.write_all(&out).unwrap();
    s
}

/// A raw peer that completed a real handshake with node `to` as node
/// `from` (it holds the secret): the stream and the session's keys.
fn raw_peer(addr: std::net::SocketAddr, from: NodeId, to: NodeId) -> (TcpStream, wire::Session) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let session =
        wire::dial_handshake(&mut s, from, to, SECRET, FP).expect("handshake with the link");
    (s, session)
}

/// A well-formed frame carrying `records`, each tagged with its task (not
/// sealed).
fn frame(records: &[Vec<u8>]) -> Vec<u8> {
    let mut w = gale_codec::FrameWriter::new();
    for r in records {
        w.push_body(&batch(r)).unwrap();
    }
    w.finish().to_vec()
}

/// `f` sealed as the next frame of `session`.
fn sealed(session: &mut wire::Session, mut f: Vec<u8>) -> Vec<u8> {
    session.seal_frame(&mut f);
    f
}

/// Waits until the link closes `s` (EOF or reset).
fn wait_closed(s: &mut TcpStream) {
    let mut buf = [0u8; 256];
    let deadline = Instant::now() + WAIT;
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => assert!(Instant::now() < deadline, "connection never closed"),
        }
    }
}

fn bad_input_drops_the_connection_and_the_link_serves_on(backend: Backend) {
    let logs = logs();
    let base: NodeId = if backend == Backend::Mio { 60 } else { 65 };
    // Nodes: base (raw attacker, never started), base+1 (good peer), base+2
    // (the link under test).
    let specs = nodes(base, 3);
    let mut good = start_node(1, &specs, 1, with_backend(backend));
    let mut link = start_node(2, &specs, 2, with_backend(backend));
    wait_for("good pair up", || {
        good.state_of(base + 2) == PeerState::Up && link.state_of(base + 1) == PeerState::Up
    });
    let me = format!("node={}", base + 2);
    let task = (base + 2) * 100 + 3;
    let mut seq = 0;
    let mut still_serving = |good: &mut Node, link: &mut Node| {
        let rec = record(task, 1, seq, 64);
        good.push(base + 2, 0, &rec);
        good.flush();
        let mut seen = false;
        wait_for("a record from the good peer", || {
            link.drain(|_, r| {
                assert_eq!(decode(r).2, seq);
                seen = true;
            });
            seen
        });
        seq += 1;
    };
    still_serving(&mut good, &mut link);

    // Garbage instead of a handshake.
    let mut s = TcpStream::connect(specs[2].addr).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    wait_closed(&mut s);
    logs.wait_line(&[&me, "dropping", "not a Gale link peer"]);
    still_serving(&mut good, &mut link);

    // Garbage after a good handshake.
    let (mut s, _) = raw_peer(specs[2].addr, base, base + 2);
    s.write_all(&[0xAB; 64]).unwrap();
    wait_closed(&mut s);
    logs.wait_line(&[&me, "dropping", "bad frame magic"]);
    still_serving(&mut good, &mut link);

    // An absurd length.
    let mut f = frame(&[record(task, 9, 0, 64)]);
    f[8..12].copy_from_slice(&(1u32 << 30).to_le_bytes());
    let (mut s, mut session) = raw_peer(specs[2].addr, base, base + 2);
    s.write_all(&sealed(&mut session, f)).unwrap();
    wait_closed(&mut s);
    logs.wait_line(&[&me, "dropping", "bad frame body length"]);
    // Just over the configured limit.
    let mut f = frame(&[record(task, 9, 0, 64)]);
    f[8..12].copy_from_slice(
        &((gale_transport::link::LinkConfig::DEFAULT_MAX_FRAME + 8) as u32).to_le_bytes(),
    );
    let (mut s, mut session) = raw_peer(specs[2].addr, base, base + 2);
    s.write_all(&sealed(&mut session, f)).unwrap();
    wait_closed(&mut s);
    logs.wait_line(&[&me, "dropping", "exceeds the"]);
    still_serving(&mut good, &mut link);

    // A truncated frame, then the peer goes away.
    let f = frame(&[record(task, 9, 0, 512), record(task, 9, 1, 512)]);
    let (mut s, mut session) = raw_peer(specs[2].addr, base, base + 2);
    let f = sealed(&mut session, f);
    s.write_all(&f[..f.len() - 100]).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    wait_closed(&mut s);
    logs.wait_line(&[&me, "dropping", "in the middle of a frame"]);
    still_serving(&mut good, &mut link);

    // A record count that does not match the body.
    let mut f = frame(&[record(task, 9, 0, 64)]);
    f[12..16].copy_from_slice(&5u32.to_le_bytes());
    let (mut s, mut session) = raw_peer(specs[2].addr, base, base + 2);
    s.write_all(&sealed(&mut session, f)).unwrap();
    wait_closed(&mut s);
    logs.wait_line(&[&me, "dropping", "header says 5"]);

    // A record for a task this node does not own: nothing of that frame is
    // delivered, not even the valid record before it.
    let f = frame(&[record(task, 9, 0, 64), record((base + 1) * 100, 9, 1, 64)]);
    let (mut s, mut session) = raw_peer(specs[2].addr, base, base + 2);
    s.write_all(&sealed(&mut session, f)).unwrap();
    wait_closed(&mut s);
    logs.wait_line(&[&me, "dropping", "is not on node"]);
    assert_eq!(
        link.drain(|_, _| {}),
        0,
        "a record of a refused frame was delivered"
    );
    still_serving(&mut good, &mut link);

    let stats = link.link().stats();
    let attacker = stats.peers.iter().find(|p| p.id == base).unwrap();
    assert!(attacker.refused >= 6, "{stats:?}");
    assert!(stats.rejected_connections >= 1, "{stats:?}");
    assert_eq!(link.state_of(base + 1), PeerState::Up);
}

fn never_finished_handshake_times_out(backend: Backend) {
    let logs = logs();
    let base: NodeId = if backend == Backend::Mio { 70 } else { 75 };
    let specs = nodes(base, 2);
    let mut good = start_node(0, &specs, 1, with_backend(backend));
    let mut link = start_node(1, &specs, 1, |c| {
        c.backend = backend;
        c.handshake_timeout = Duration::from_millis(300);
    });
    assert!(link.link().wait_connected(WAIT));
    // Silent connections, and one that stops half-way through a hello.
    let mut silent: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(specs[1].addr).unwrap())
        .collect();
    let mut half = TcpStream::connect(specs[1].addr).unwrap();
    let mut out = Vec::new();
    Hello {
        from: base,
        to: base + 1,
        nonce: [0; 32],
    }
    .encode(WIRE_VERSION, &mut out);
    half.write_all(&out[..40]).unwrap();
    silent.push(half);
    for s in &mut silent {
        s.set_read_timeout(Some(WAIT)).unwrap();
        wait_closed(s);
    }
    logs.wait_line(&[
        &format!("node={}", base + 1),
        "dropping",
        "handshake not completed",
    ]);
    // The good peer was served throughout.
    good.push(base + 1, 0, &record((base + 1) * 100, 1, 0, 64));
    good.flush();
    let mut n = 0;
    wait_for("record after the timeouts", || {
        n += link.drain(|_, _| {});
        n == 1
    });
}

fn reconnects_after_the_peer_restarts(backend: Backend) {
    let base: NodeId = if backend == Backend::Mio { 80 } else { 85 };
    let specs = nodes(base, 2);
    let mut a = start_node(0, &specs, 1, with_backend(backend));
    let b = start_node(1, &specs, 1, with_backend(backend));
    assert!(a.link().wait_connected(WAIT));
    b.link.unwrap().stop();
    wait_for("peer down", || a.state_of(base + 1) == PeerState::Down);
    // Records for a down peer are drained and dropped, never block; they
    // are counted one by one, also in batches (of 5 here).
    for i in 0..1000 {
        a.push(base + 1, 0, &record((base + 1) * 100, 1, i, 64));
    }
    for i in (1000..5000).step_by(5) {
        let five: Vec<u8> = (i..i + 5)
            .flat_map(|k| batch(&record((base + 1) * 100, 1, k, 64)))
            .collect();
        a.push_batch(base + 1, 0, &five);
    }
    a.flush();
    wait_for("records dropped", || {
        a.link().stats().peers[0].dropped == 5000
    });
    let b = start_node(1, &specs, 1, with_backend(backend));
    assert!(a.link().wait_connected(WAIT));
    assert!(b.link().wait_connected(WAIT));
    assert!(a.link().stats().peers[0].reconnects >= 1);
    let mut ns = vec![a, b];
    exchange(&mut ns, 1, 500, 64);
}

fn full_inbound_ring_pushes_back_to_the_sender_without_loss(backend: Backend) {
    let base: NodeId = if backend == Backend::Mio { 90 } else { 95 };
    back_pressure(backend, base, false);
}

fn full_inbound_ring_pushes_back_through_shm_rings_without_loss(backend: Backend) {
    let base: NodeId = if backend == Backend::Mio { 130 } else { 135 };
    back_pressure(backend, base, true);
}

fn back_pressure(backend: Backend, base: NodeId, same_host: bool) {
    let dir = ShmDir::new("back-pressure");
    let mut specs = nodes(base, 2);
    for s in &mut specs {
        s.same_host = same_host;
    }
    let tune = |c: &mut gale_transport::link::LinkConfig| {
        c.backend = backend;
        c.shm_dir = dir.path().to_path_buf();
    };
    let mut a = start_node(0, &specs, 1, tune);
    let mut b = start_node(1, &specs, 1, tune);
    assert!(a.link().wait_connected(WAIT));
    assert_eq!(a.link().stats().peers[0].shm, same_host);
    // B's worker does not drain: B's inbound ring (64 KiB), B's receive
    // buffer, the sockets' buffers and A's outbound ring fill up, and then
    // A's worker finds its ring full.
    let size = 1024;
    let mut seq = 0u64;
    let mut full_since: Option<Instant> = None;
    let ring = &mut a.out[0].1[0];
    loop {
        match ring.try_push(&batch(&record((base + 1) * 100, 1, seq, size))) {
            Ok(()) => {
                seq += 1;
                full_since = None;
            }
            Err(gale_transport::ReserveError::Full) => {
                // Full for a good while: the back-pressure reached the sender.
                let since = *full_since.get_or_insert_with(Instant::now);
                if since.elapsed() > Duration::from_millis(500) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => panic!("{e}"),
        }
        assert!(seq < 1_000_000, "the sender never felt back-pressure");
    }
    // Bounded: what left A's worker ring is at most B's ring, B's receive
    // buffer and the sockets' buffers, or the shared ring (a few MiB), not
    // everything A's worker wrote.
    let sent = a.link().stats().peers[0].records_out * size as u64;
    assert!(sent < 64 << 20, "{sent} bytes in flight");
    assert_eq!(a.state_of(base + 1), PeerState::Up);
    assert_eq!(a.link().stats().peers[0].dropped, 0);
    // Now drain: every record arrives, in order.
    a.flush();
    let mut next = 0u64;
    wait_for("all records after back-pressure", || {
        b.drain(|_, r| {
            assert_eq!(decode(r).2, next);
            next += 1;
        });
        next == seq
    });
    assert_eq!(a.link().stats().peers[0].dropped, 0);
}

#[allow(dead_code)]
fn link_type_is_send(l: Link) -> impl Send {
    l
}

/// Ring files of the link under `dir`.
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

fn same_host_peers_exchange_through_shm_rings(backend: Backend) {
    let base: NodeId = if backend == Backend::Mio { 100 } else { 105 };
    let dir = ShmDir::new("same-host");
    let mut specs = nodes(base, 3);
    // Nodes base and base+1 share a host; base+2 is remote.
    specs[0].same_host = true;
    specs[1].same_host = true;
    let mut ns: Vec<Node> = (0..3)
        .map(|i| {
            start_node(i, &specs, 2, |c| {
                c.backend = backend;
                c.shm_dir = dir.path().to_path_buf();
            })
        })
        .collect();
    assert!(ns.iter().all(|n| n.link().wait_connected(WAIT)));
    let shm_of = |n: &Node, peer: NodeId| {
        n.link()
            .stats()
            .peers
            .iter()
            .find(|p| p.id == peer)
            .unwrap()
            .shm
    };
    assert!(shm_of(&ns[0], base + 1) && shm_of(&ns[1], base));
    assert!(!shm_of(&ns[0], base + 2) && !shm_of(&ns[2], base + 1));
    let files = ring_files(dir.path());
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(files[0].starts_with(&format!("gale-link-{base}-to-{}-", base + 1)));
    assert!(files[1].starts_with(&format!("gale-link-{}-to-{base}-", base + 1)));
    exchange(&mut ns, 2, 3000, 64);
    exchange(&mut ns, 2, 300, 1024);
    // `base` stops on purpose: its same-host peer gets its goodbye (over
    // TCP, the rings' liveness connection) and counts no loss.
    ns[0].link.take().unwrap().stop();
    wait_for("base down", || ns[1].state_of(base) == PeerState::Down);
    let stats = ns[1].link().stats();
    let to_base = stats.peers.iter().find(|p| p.id == base).unwrap();
    assert_eq!(to_base.lost, 0, "a clean stop counted as a loss: {stats:?}");
    for n in &mut ns[1..] {
        n.link.take().unwrap().stop();
    }
    assert_eq!(ring_files(dir.path()), Vec::<String>::new());
}

/// Sends one record from `good` to `link` and waits for it.
fn served(good: &mut Node, link: &mut Node, to: NodeId, seq: u64) {
    good.push(to, 0, &record(to * 100 + 1, 1, seq, 64));
    good.flush();
    let mut seen = false;
    wait_for("a record from the good peer", || {
        link.drain(|_, r| seen |= decode(r) == (to * 100 + 1, 1, seq));
        seen
    });
}

fn connection_flood_is_bounded_and_the_link_serves_on(backend: Backend) {
    let base: NodeId = if backend == Backend::Mio { 110 } else { 115 };
    let specs = nodes(base, 2);
    let mut good = start_node(0, &specs, 1, with_backend(backend));
    let mut link = start_node(1, &specs, 1, |c| {
        c.backend = backend;
        c.handshake_timeout = Duration::from_secs(3);
    });
    assert!(link.link().wait_connected(WAIT));
    // Far more silent connections than the link keeps in their handshake.
    let flood: Vec<TcpStream> = (0..150)
        .map(|_| TcpStream::connect(specs[1].addr).unwrap())
        .collect();
    wait_for("connections beyond the limit rejected", || {
        link.link().stats().rejected_connections >= 150 - 64
    });
    served(&mut good, &mut link, base + 1, 0);
    drop(flood);
    served(&mut good, &mut link, base + 1, 1);
    assert_eq!(link.state_of(base), PeerState::Up);
}

/// A small deterministic generator (xorshift64*), enough for mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn mutated_and_random_frames_never_break_the_link(backend: Backend) {
    let base: NodeId = if backend == Backend::Mio { 120 } else { 125 };
    // base: raw peer; base+1: good peer; base+2: the link under test.
    let specs = nodes(base, 3);
    let mut good = start_node(1, &specs, 1, with_backend(backend));
    let mut link = start_node(2, &specs, 2, with_backend(backend));
    wait_for("good pair up", || link.state_of(base + 1) == PeerState::Up);
    let task = (base + 2) * 100;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ u64::from(base));
    for round in 0..40u64 {
        let mut bytes = if round % 4 == 3 {
            // Pure noise.
            (0..1 + rng.below(4096)).map(|_| rng.next() as u8).collect()
        } else {
            let records: Vec<Vec<u8>> = (0..3)
                .map(|i| record(task + i, 5, round, 24 + rng.below(300)))
                .collect();
            frame(&records)
        };
        let (mut s, mut session) = raw_peer(specs[2].addr, base, base + 2);
        // Mutated before sealing (a peer holding the secret sends garbage)
        // or after (damaged or forged on the way).
        let before = round % 2 == 0;
        if round % 4 != 3 && !before {
            bytes = sealed(&mut session, bytes);
        }
        if round % 4 != 3 {
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(bytes.len());
                bytes[at] ^= 1 << rng.below(8);
            }
        }
        if round % 4 != 3 && before {
            bytes = sealed(&mut session, bytes);
        }
        s.write_all(&bytes).unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        wait_closed(&mut s);
        // Whatever was delivered is well-formed and addressed to this node.
        link.drain(|_, r| {
            let task = u32::from_le_bytes(r[..4].try_into().unwrap());
            assert_eq!(task / 100, base + 2);
        });
    }
    served(&mut good, &mut link, base + 2, 0);
    assert_eq!(link.state_of(base + 1), PeerState::Up);
}

fn a_dialing_link_refuses_a_peer_of_another_wire_version(backend: Backend) {
    let logs = logs();
    let base: NodeId = if backend == Backend::Mio { 140 } else { 145 };
    // The link (base) dials base+1, which is a raw listener speaking the
    // next wire version.
    let specs = nodes(base, 2);
    let listener = std::net::TcpListener::bind(specs[1].addr).unwrap();
    let link = start_node(0, &specs, 1, with_backend(backend));
    let (mut s, _) = listener.accept().unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut h = [0u8; wire::MSG_HEADER];
    s.read_exact(&mut h).unwrap();
    let header = MsgHeader::parse(&h).unwrap().unwrap();
    assert_eq!(
        (header.kind, header.version),
        (MsgKind::Hello, WIRE_VERSION)
    );
    let mut body = vec![0u8; header.len];
    s.read_exact(&mut body).unwrap();
    let hello = Hello::decode(&body).unwrap();
    assert_eq!((hello.from, hello.to), (base, base + 1));
    let mut out = Vec::new();
    Hello {
        from: base + 1,
        to: base,
        nonce: [3; 32],
    }
    .encode(WIRE_VERSION + 1, &mut out);
    s.write_all(&out).unwrap();
    let (code, text) = read_refusal(&mut s);
    assert_eq!(code, RefuseCode::WireVersion, "{text}");
    logs.wait_line(&[
        &format!("node={base}"),
        "refusing",
        &format!("wire version mismatch: peer speaks {}", WIRE_VERSION + 1),
    ]);
    // The link keeps redialing with backoff.
    let (again, _) = listener.accept().unwrap();
    drop(again);
    assert_ne!(link.state_of(base + 1), PeerState::Up);
}

fn a_dialed_peer_that_never_answers_times_out_and_is_redialed(backend: Backend) {
    let logs = logs();
    let base: NodeId = if backend == Backend::Mio { 150 } else { 155 };
    // The link (base) dials base+1: a listener that accepts and stays silent.
    let specs = nodes(base, 2);
    let listener = std::net::TcpListener::bind(specs[1].addr).unwrap();
    let link = start_node(0, &specs, 1, |c| {
        c.backend = backend;
        c.handshake_timeout = Duration::from_millis(300);
    });
    let (mut first, _) = listener.accept().unwrap();
    first.set_read_timeout(Some(WAIT)).unwrap();
    let mut hello = [0u8; wire::MSG_HEADER + wire::HELLO_BODY];
    first.read_exact(&mut hello).unwrap();
    wait_closed(&mut first);
    logs.wait_line(&[
        &format!("node={base}"),
        "dropping",
        "handshake not completed",
    ]);
    // Redialed with backoff.
    let (second, _) = listener.accept().unwrap();
    drop(second);
    assert_ne!(link.state_of(base + 1), PeerState::Up);
    assert!(link.link().stats().peers[0].refused >= 1);
}

/// A peer named by hostname (a Kubernetes pod): not dialed while the name
/// does not resolve, dialed once it does, and found again at a new address
/// after it restarts there. DNS is a table the test controls; the sockets
/// are real.
fn a_named_peer_is_dialed_once_it_resolves_and_again_at_its_new_address(backend: Backend) {
    use std::sync::{Arc, Mutex};
    let base: NodeId = if backend == Backend::Mio { 160 } else { 165 };
    const NAME: &str = "gale-1.gale.example:7000";
    let dns: Arc<Mutex<Option<std::net::SocketAddr>>> = Arc::default();
    let lookups = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let specs = nodes(base, 2);
    let resolve = {
        let (dns, lookups) = (Arc::clone(&dns), Arc::clone(&lookups));
        Resolve::new(move |host| {
            assert_eq!(host, NAME);
            lookups.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            dns.lock().unwrap().ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such host (yet)")
            })
        })
    };
    let named = move |c: &mut gale_transport::link::LinkConfig| {
        c.backend = backend;
        c.peers[0] = gale_transport::link::PeerSpec::named(base + 1, NAME, None);
        c.resolve = resolve;
    };
    let a = start_node(0, &specs, 1, named);
    let b = start_node(1, &specs, 1, with_backend(backend));
    // The name does not resolve: A keeps asking and does not dial.
    wait_for("lookups", || {
        lookups.load(std::sync::atomic::Ordering::Relaxed) >= 3
    });
    assert_ne!(a.state_of(base + 1), PeerState::Up);
    *dns.lock().unwrap() = Some(specs[1].addr);
    assert!(a.link().wait_connected(WAIT));
    // B restarts at another address, and the name follows it.
    b.link.unwrap().stop();
    wait_for("peer down", || a.state_of(base + 1) == PeerState::Down);
    let mut moved = specs.clone();
    moved[1].addr = free_addr("127.0.0.3");
    *dns.lock().unwrap() = Some(moved[1].addr);
    let b = start_node(1, &moved, 1, with_backend(backend));
    assert!(a.link().wait_connected(WAIT));
    assert!(b.link().wait_connected(WAIT));
    assert!(a.link().stats().peers[0].reconnects >= 1);
    let mut ns = vec![a, b];
    exchange(&mut ns, 1, 500, 64);
}

/// A link that has been quiet for a while sleeps on its doorbell; the next
/// record a worker publishes wakes it (counted in `wakeups`, at most one
/// per publication) and arrives.
fn a_record_after_a_quiet_spell_rings_the_doorbell_and_is_delivered(backend: Backend) {
    let base: NodeId = if backend == Backend::Mio { 170 } else { 175 };
    let specs = nodes(base, 2);
    let mut ns: Vec<Node> = (0..2)
        .map(|i| start_node(i, &specs, 1, with_backend(backend)))
        .collect();
    assert!(ns.iter().all(|n| n.link().wait_connected(WAIT)));
    let to = base + 1;
    let mut got = 0;
    let mut sent = 0u64;
    // The link parks after about a millisecond of quiet; a loaded machine
    // may take longer, so give it several spells (no timing is asserted).
    while ns[0].link().stats().wakeups == 0 && sent < 100 {
        std::thread::sleep(Duration::from_millis(20));
        ns[0].push(to, 0, &record(to * 100, 1, sent, 64));
        ns[0].flush();
        sent += 1;
        wait_for("the record after a quiet spell", || {
            got += ns[1].drain(|_, _| ());
            got as u64 == sent
        });
    }
    let woken = ns[0].link().stats().wakeups;
    assert!(woken > 0, "{sent} records after quiet spells, no wake-up");
    assert!(woken <= sent, "{woken} wake-ups for {sent} records");
    // Then a burst, in order and complete, with the bell in use.
    exchange(&mut ns, 1, 20_000, 64);
}

/// What the man in the middle does to the dialer's frames on one
/// connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tamper {
    /// Flip a bit in the body of the second frame.
    Modify,
    /// Send the first frame twice.
    Replay,
    /// Insert a well-formed frame with a made-up tag before the second.
    Inject,
    /// Swap the first two frames.
    Reorder,
    /// Forward faithfully.
    None,
}

/// Reads one frame and its tag from `s`.
fn read_sealed(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut f = vec![0u8; gale_codec::FrameHeader::LEN];
    s.read_exact(&mut f)?;
    let h = gale_codec::FrameHeader::parse(&f).expect("a frame header from the link");
    f.resize(h.frame_len() + wire::TAG_LEN, 0);
    s.read_exact(&mut f[gale_codec::FrameHeader::LEN..])?;
    Ok(f)
}

/// A TCP proxy on `listen` to `target` that tampers with the frames of its
/// n-th connection as `plan[n]` says (then forwards faithfully). The
/// dialer's side of the handshake (hello and auth) passes unchanged.
fn tampering_proxy(
    listen: std::net::SocketAddr,
    target: std::net::SocketAddr,
    receiver: NodeId,
    plan: Vec<Tamper>,
) {
    let listener = std::net::TcpListener::bind(listen).unwrap();
    std::thread::spawn(move || {
        for (n, conn) in listener.incoming().enumerate() {
            let Ok(mut from) = conn else { return };
            let mode = plan.get(n).copied().unwrap_or(Tamper::None);
            let Ok(mut to) = TcpStream::connect(target) else {
                return;
            };
            let (mut back_from, mut back_to) = (to.try_clone().unwrap(), from.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut back_from, &mut back_to);
                let _ = back_to.shutdown(std::net::Shutdown::Both);
            });
            std::thread::spawn(move || {
                let forward = |from: &mut TcpStream, to: &mut TcpStream| -> std::io::Result<()> {
                    // Hello, then (after the acceptor's hello) auth.
                    for body in [wire::HELLO_BODY, wire::AUTH_BODY] {
                        let mut msg = vec![0u8; wire::MSG_HEADER + body];
                        from.read_exact(&mut msg)?;
                        to.write_all(&msg)?;
                    }
                    let first = read_sealed(from)?;
                    let mut second = read_sealed(from)?;
                    match mode {
                        Tamper::Modify => {
                            let at = gale_codec::FrameHeader::LEN + 20;
                            second[at] ^= 0x10;
                            to.write_all(&first)?;
                            to.write_all(&second)?;
                        }
                        Tamper::Replay => {
                            to.write_all(&first)?;
                            to.write_all(&first)?;
                            to.write_all(&second)?;
                        }
                        Tamper::Inject => {
                            let mut forged = frame(&[record(receiver * 100, 99, 0, 64)]);
                            forged.extend_from_slice(&[0x5a; wire::TAG_LEN]);
                            to.write_all(&first)?;
                            to.write_all(&forged)?;
                            to.write_all(&second)?;
                        }
                        Tamper::Reorder => {
                            to.write_all(&second)?;
                            to.write_all(&first)?;
                        }
                        Tamper::None => {
                            to.write_all(&first)?;
                            to.write_all(&second)?;
                        }
                    }
                    std::io::copy(from, to).map(|_| ())
                };
                let _ = forward(&mut from, &mut to);
                let _ = to.shutdown(std::net::Shutdown::Both);
                let _ = from.shutdown(std::net::Shutdown::Both);
            });
        }
    });
}

/// A man in the middle between two linked nodes modifies, replays,
/// injects and reorders frames, one way per connection: each time the
/// receiver drops the connection naming the failed authentication, never
/// delivers a tampered, repeated or made-up record, and the link comes
/// back once the path is clean.
fn modified_replayed_injected_or_reordered_frames_drop_the_connection(backend: Backend) {
    let logs = logs();
    let base: NodeId = if backend == Backend::Mio { 170 } else { 175 };
    let specs = nodes(base, 2);
    let proxy = free_addr("127.0.0.2");
    let plan = vec![
        Tamper::Modify,
        Tamper::Replay,
        Tamper::Inject,
        Tamper::Reorder,
    ];
    tampering_proxy(proxy, specs[1].addr, base + 1, plan.clone());
    let mut b = start_node(1, &specs, 1, with_backend(backend));
    let mut a = start_node(0, &specs, 1, |c| {
        c.backend = backend;
        c.peers[0].addr = proxy;
    });
    let me = format!("node={}", base + 1);
    let task = (base + 1) * 100 + 1;
    let mut seq = 0u64;
    let last = std::cell::Cell::new(None);
    let check = |r: &[u8]| {
        let (t, thread, s) = decode(r);
        assert_eq!((t, thread), (task, 1), "a record the sender never sent");
        let prev = last.get();
        assert!(
            prev < Some(s),
            "record {s} after {prev:?}: replayed or reordered"
        );
        last.set(Some(s));
    };
    for round in 1..=plan.len() as u64 {
        // Small frames, a few milliseconds apart, until the receiver drops
        // the tampered connection.
        wait_for("the tampered connection dropped", || {
            a.push(base + 1, 0, &record(task, 1, seq, 64));
            a.flush();
            seq += 1;
            std::thread::sleep(Duration::from_millis(2));
            b.drain(|_, r| check(r));
            b.link().stats().peers[0].refused >= round
        });
    }
    assert_eq!(
        logs.count_lines(&[&me, "dropping", "failed authentication"]),
        plan.len(),
        "one logged reason per tampered connection"
    );
    // The path is clean now: records flow again.
    let before = last.get();
    wait_for("records after the tampering", || {
        a.push(base + 1, 0, &record(task, 1, seq, 64));
        a.flush();
        seq += 1;
        std::thread::sleep(Duration::from_millis(2));
        b.drain(|_, r| check(r));
        last.get() > before && b.state_of(base) == PeerState::Up
    });
}

/// Reads one handshake message (kind, body) within `timeout`; `None` if
/// nothing came.
fn read_msg(s: &mut TcpStream, timeout: Duration) -> Option<(MsgKind, Vec<u8>)> {
    s.set_read_timeout(Some(timeout)).unwrap();
    let mut h = [0u8; wire::MSG_HEADER];
    s.read_exact(&mut h).ok()?;
    let header = MsgHeader::parse(&h).unwrap().unwrap();
    let mut body = vec![0u8; header.len];
    s.read_exact(&mut body).unwrap();
    Some((header.kind, body))
}

/// A stranger that knows the node ids but not the secret says hello: the
/// node answers with its own hello (a nonce) and nothing else; a made-up
/// auth is refused, and still nothing derived from the secret or the
/// fingerprint comes back to test guesses against.
fn a_strangers_hello_gets_nothing_secret_derived(backend: Backend) {
    let base: NodeId = if backend == Backend::Mio { 190 } else { 195 };
    let specs = nodes(base, 2);
    let b = start_node(1, &specs, 1, with_backend(backend));
    let mut s = say_hello(specs[1].addr, base, base + 1, WIRE_VERSION);
    let (kind, body) = read_msg(&mut s, WAIT).expect("the node's hello");
    assert_eq!(kind, MsgKind::Hello);
    let hello = Hello::decode(&body).unwrap();
    assert_eq!((hello.from, hello.to), (base + 1, base));
    assert_eq!(
        read_msg(&mut s, Duration::from_millis(300)),
        None,
        "the node sent more than its hello before the dialer proved the secret"
    );
    let mut out = Vec::new();
    let auth = wire::Auth {
        proof: [1; 32],
        fingerprint: [2; 32],
    };
    wire::encode_msg(WIRE_VERSION, MsgKind::Auth, &auth.encode(), &mut out);
    s.write_all(&out).unwrap();
    let (kind, body) = read_msg(&mut s, WAIT).expect("a refusal");
    assert_eq!(kind, MsgKind::Refuse);
    let (code, text) = wire::decode_refuse(&body);
    assert_eq!(code, RefuseCode::Auth, "{text}");
    assert_eq!(read_msg(&mut s, Duration::from_millis(300)), None);
    drop(b);
}

/// 200 silent connections from an address that is not in the cluster
/// file are closed at once: a real peer that dials meanwhile joins within
/// a second, and the node logs them in a line or two, not 200.
fn silent_connections_from_a_stranger_address_do_not_delay_a_peers_join(backend: Backend) {
    let logs = logs();
    let base: NodeId = if backend == Backend::Mio { 200 } else { 205 };
    let specs = nodes(base, 2);
    let b = start_node(1, &specs, 1, with_backend(backend));
    let stranger: std::net::IpAddr = "127.0.0.9".parse().unwrap();
    let flood: Vec<TcpStream> = (0..200)
        .filter_map(|_| wire::connect_from(stranger, specs[1].addr).ok())
        .collect();
    assert!(flood.len() >= 150, "only {} connections", flood.len());
    let a = start_node(0, &specs, 1, with_backend(backend));
    let joined = a.link().wait_connected(Duration::from_secs(1));
    assert!(
        joined,
        "the peer did not join within 1 s of 200 silent strangers"
    );
    wait_for("every stranger rejected", || {
        b.link().stats().rejected_connections >= flood.len() as u64
    });
    let me = format!("node={}", base + 1);
    let lines = logs.count_lines(&[&me, "127.0.0.9"]);
    assert!(lines <= 2, "{lines} log lines about the strangers");
    drop(flood);
}

/// A peer whose link stops says goodbye: its connection ends quietly. A
/// peer that vanishes without one (killed: here a raw peer that drops its
/// socket after a frame) is counted as lost and named in a WARN line.
fn a_peer_that_stops_says_goodbye_and_one_that_vanishes_is_lost_loudly(backend: Backend) {
    let logs = logs();
    let base: NodeId = if backend == Backend::Mio { 210 } else { 215 };
    let specs = nodes(base, 3);
    let mut b = start_node(1, &specs, 1, with_backend(backend));
    let c = start_node(2, &specs, 1, with_backend(backend));
    wait_for("b and c up", || b.state_of(base + 2) == PeerState::Up);
    // c stops on purpose.
    c.link.unwrap().stop();
    wait_for("c down", || b.state_of(base + 2) == PeerState::Down);
    let stats = b.link().stats();
    let to_c = stats.peers.iter().find(|p| p.id == base + 2).unwrap();
    assert_eq!(to_c.lost, 0, "a clean stop counted as a loss: {stats:?}");
    // `base` vanishes mid-stream.
    let (mut s, mut session) = raw_peer(specs[1].addr, base, base + 1);
    let f = sealed(&mut session, frame(&[record((base + 1) * 100, 3, 0, 64)]));
    s.write_all(&f).unwrap();
    wait_for("the record", || b.drain(|_, _| {}) == 1);
    drop(s);
    wait_for("the loss counted", || {
        b.link()
            .stats()
            .peers
            .iter()
            .any(|p| p.id == base && p.lost == 1)
    });
    logs.wait_line(&[
        &format!("node={}", base + 1),
        "WARN",
        &format!("lost node {base} while running"),
    ]);
}

/// A panic on the I/O thread (here in the engine's route) is caught and
/// kept for the stats handle, so the engine can stop the run with it.
fn a_panic_on_the_io_thread_is_reported_by_the_stats_handle(backend: Backend) {
    let base: NodeId = if backend == Backend::Mio { 220 } else { 225 };
    let specs = nodes(base, 2);
    let b = start_node(1, &specs, 1, with_backend(backend));
    let handle = b.link().stats_handle();
    assert_eq!(handle.panicked(), None);
    let (mut s, mut session) = raw_peer(specs[1].addr, base, base + 1);
    s.write_all(&sealed(&mut session, frame(&[record(u32::MAX, 1, 0, 64)])))
        .unwrap();
    wait_for("the panic reported", || handle.panicked().is_some());
    let message = handle.panicked().unwrap();
    assert!(message.contains("the test route panics"), "{message}");
}

/// Text a stranger sends (here: the "refusal" of a listener posing as the
/// dialed peer) reaches the log escaped: its newlines cannot start a
/// forged log line.
fn a_strangers_refusal_is_logged_escaped(backend: Backend) {
    let logs = logs();
    let base: NodeId = if backend == Backend::Mio { 230 } else { 235 };
    let specs = nodes(base, 2);
    let listener = std::net::TcpListener::bind(specs[1].addr).unwrap();
    let _link = start_node(0, &specs, 1, with_backend(backend));
    let (mut s, _) = listener.accept().unwrap();
    let mut out = Vec::new();
    wire::encode_refuse(
        RefuseCode::Auth,
        "nope\n2026-01-01T00:00:00Z  INFO forged: all is well\r",
        &mut out,
    );
    s.write_all(&out).unwrap();
    let me = format!("node={base}");
    logs.wait_line(&[&me, "peer refused the handshake", "nope\\n2026"]);
    assert_eq!(
        logs.count_lines(&["INFO forged"]),
        logs.count_lines(&["nope\\n2026-01-01T00:00:00Z  INFO forged"]),
        "a line starts with the stranger's text"
    );
}

/// The acceptor knows its dialing peer by a name that has no address yet
/// (a pod whose DNS record is late): the peer's connections are refused
/// as not from a cluster address until the name resolves, then admitted.
fn a_named_peer_that_dials_is_admitted_once_its_name_resolves(backend: Backend) {
    use std::sync::{Arc, Mutex};
    let base: NodeId = if backend == Backend::Mio { 240 } else { 245 };
    const NAME: &str = "gale-0.gale.example:7000";
    let dns: Arc<Mutex<Option<std::net::SocketAddr>>> = Arc::default();
    let specs = nodes(base, 2);
    let resolve = {
        let dns = Arc::clone(&dns);
        Resolve::new(move |host| {
            assert_eq!(host, NAME);
            dns.lock().unwrap().ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such host (yet)")
            })
        })
    };
    let b = start_node(1, &specs, 1, move |c| {
        c.backend = backend;
        c.peers[0] = gale_transport::link::PeerSpec::named(base, NAME, None);
        c.resolve = resolve;
    });
    let a = start_node(0, &specs, 1, with_backend(backend));
    wait_for("refusals of the unknown address", || {
        b.link().stats().rejected_connections >= 2
    });
    assert_ne!(a.state_of(base + 1), PeerState::Up);
    *dns.lock().unwrap() = Some(specs[0].addr);
    assert!(b.link().wait_connected(WAIT));
    assert!(a.link().wait_connected(WAIT));
}

/// A same-host peer's ring is shared memory the peer writes: a batch read
/// from it is checked like a frame from TCP. A record for a task this
/// node does not own, or a batch whose record headers do not fill it,
/// drops the connection, and nothing of that batch is delivered; the
/// peer then reconnects and its good records arrive.
fn a_bad_batch_from_a_same_host_peer_drops_the_connection(backend: Backend) {
    let base: NodeId = if backend == Backend::Mio { 250 } else { 252 };
    let logs = logs();
    let me = format!("node={}", base + 1);
    let dir = ShmDir::new("bad-batch");
    let mut specs = nodes(base, 2);
    specs[0].same_host = true;
    specs[1].same_host = true;
    let mut ns: Vec<Node> = (0..2)
        .map(|i| {
            start_node(i, &specs, 1, |c| {
                c.backend = backend;
                c.shm_dir = dir.path().to_path_buf();
            })
        })
        .collect();
    assert!(ns.iter().all(|n| n.link().wait_connected(WAIT)));
    assert!(ns[0].link().stats().peers[0].shm);
    // A good record, then one for a task of the sender's own node, in one
    // batch.
    let mut bad = batch(&record((base + 1) * 100, 1, 0, 64));
    bad.extend_from_slice(&batch(&record(base * 100, 1, 1, 64)));
    let mut truncated = batch(&record((base + 1) * 100, 1, 2, 64));
    truncated.truncate(truncated.len() - 8);
    for (bytes, says) in [(bad, "is not on node"), (truncated, "malformed batch")] {
        wait_for("the same-host connection", || {
            ns[0].state_of(base + 1) == PeerState::Up && ns[1].state_of(base) == PeerState::Up
        });
        ns[0].out[0].1[0]
            .try_push(&bytes)
            .expect("room in the ring");
        ns[0].flush();
        logs.wait_line(&[&me, "same-host node", says]);
        assert_eq!(
            ns[1].drain(|_, _| {}),
            0,
            "a record of a bad batch was delivered"
        );
    }
    wait_for("the peer back", || {
        ns[0].state_of(base + 1) == PeerState::Up
    });
    let (sender, receiver) = ns.split_at_mut(1);
    served(&mut sender[0], &mut receiver[0], base + 1, 3);
}
