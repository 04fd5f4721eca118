//! Fuzzing the link's frame reader, the code that takes a peer's bytes
//! after the handshake: the frame header, the tag, the frame's records and
//! the engine's route, through [`LinkCore::pump`] as the backends call it.
//!
//! Two link cores are handshaken in memory (no sockets: each side's output
//! is copied into the other's receive buffer), then the acceptor is fed
//! one frame that is
//!
//! - sealed by the dialer's session over arbitrary records, with arbitrary
//!   bit flips *before* sealing (a peer that holds the secret but sends
//!   garbage: header, lengths and records are all at stake), or
//! - sealed, then flipped, cut short or followed by noise *after* sealing
//!   (damaged or forged on the way), or
//! - pure noise.
//!
//! The reader must never panic, must drop the connection for a frame
//! changed after sealing and deliver nothing of it, and must deliver only
//! records its route accepts, in order, all of a frame or none of it.
//!
//! The case count is `GALE_FUZZ_CASES` (256 by default, part of the normal
//! tests); `GALE_FUZZ_CASES=100000 cargo test -p gale-transport --lib
//! fuzz_tests` is a long run (docs/security.md).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use gale_codec::{FrameHeader, FrameWriter};
use proptest::prelude::*;

use super::config::{BackendKind, LinkConfig, NodeId, PeerSpec};
use super::core::{Conn, LinkCore};
use super::route::{InboundRoute, LinkRings};
use super::seal::TAG_LEN;
use super::stats::LinkShared;
use crate::{ring, Consumer, Producer, RingConfig};

const SECRET: &[u8; 32] = b"0123456789abcdef0123456789abcdef";
/// The dialer (the lower id dials).
const D: NodeId = 1;
/// The acceptor, the reader under test.
const A: NodeId = 2;

/// The engine's route in miniature: a record's tag is its task, the
/// acceptor owns tasks `200..300`, and a payload must not start with
/// `0xff`.
struct Route;

impl InboundRoute for Route {
    fn route(&self, _peer: NodeId, task: u32, record: &[u8]) -> Result<usize, String> {
        if task / 100 != A {
            return Err(format!("task {task} is not on node {A}"));
        }
        if record.first() == Some(&0xff) {
            return Err("a bad payload".into());
        }
        Ok(0)
    }
}

/// A record: its tag (the task) and its payload.
type Record = (u32, Vec<u8>);

fn addr(node: NodeId) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, node as u8], 1))
}

/// One side: its core, its connection to the other, and the far ends of
/// its rings (what the workers would hold).
struct Side {
    core: LinkCore,
    conn: Conn,
    /// Records delivered to this side's (only) worker.
    inbound: Consumer,
    _outbound: Producer,
}

fn side(me: NodeId, peer: NodeId) -> Side {
    let config = LinkConfig::new(
        me,
        addr(me),
        vec![PeerSpec::new(peer, addr(peer))],
        SECRET.to_vec(),
        [7; 32],
    );
    let rings = RingConfig::new(1 << 20);
    let (out_tx, out_rx) = ring(rings).expect("ring");
    let (in_tx, in_rx) = ring(rings).expect("ring");
    let shared = Arc::new(LinkShared::new(BackendKind::Mio, vec![peer]));
    let mut core = LinkCore::new(
        &config,
        LinkRings {
            outbound: vec![(peer, vec![out_rx])],
            inbound: vec![in_tx],
        },
        Box::new(Route),
        shared,
    )
    .expect("core");
    let dial = (me < peer).then_some(0);
    let conn = core
        .new_conn(0, addr(peer), dial, Instant::now())
        .expect("connection");
    Side {
        core,
        conn,
        inbound: in_rx,
        _outbound: out_tx,
    }
}

/// Copies what `from` has to send into `to`'s receive buffer (as much as
/// fits); returns the bytes moved.
fn shuttle(from: &mut Side, to: &mut Side) -> usize {
    let [a, b] = from.conn.send_bufs();
    let pending: Vec<u8> = a.iter().chain(b).copied().collect();
    let space = to.conn.recv_space();
    let n = pending.len().min(space.len());
    space[..n].copy_from_slice(&pending[..n]);
    to.conn.received(n);
    from.core.sent(&mut from.conn, n);
    n
}

/// A dialer and an acceptor whose handshake completed.
fn up_pair() -> (Side, Side) {
    let (mut d, mut a) = (side(D, A), side(A, D));
    for _ in 0..16 {
        let now = Instant::now();
        d.core.pump(&mut d.conn, now).expect("dialer");
        shuttle(&mut d, &mut a);
        a.core.pump(&mut a.conn, now).expect("acceptor");
        shuttle(&mut a, &mut d);
        if d.conn.is_up() && a.conn.is_up() {
            return (d, a);
        }
    }
    panic!("the in-memory handshake did not complete");
}

/// Feeds `bytes` to the acceptor as the network would, in pieces as large
/// as its receive buffer takes, pumping after each; returns whether the
/// connection survived.
fn feed(a: &mut Side, bytes: &[u8]) -> bool {
    let mut at = 0;
    let mut idle = 0;
    while at < bytes.len() {
        let space = a.conn.recv_space();
        let n = (bytes.len() - at).min(space.len());
        space[..n].copy_from_slice(&bytes[at..at + n]);
        a.conn.received(n);
        at += n;
        if a.core.pump(&mut a.conn, Instant::now()).is_err() {
            return false;
        }
        // The receive buffer grows to the frame's length, so every round
        // takes bytes; a reader that stopped taking them would hang here.
        idle = if n == 0 { idle + 1 } else { 0 };
        assert!(idle < 4, "the reader stopped taking bytes");
    }
    true
}

fn delivered(a: &mut Side) -> Vec<Record> {
    let mut batch = a.inbound.read();
    batch
        .records()
        .flat_map(super::InboundRecords::new)
        .map(|(tag, r)| (tag, r.to_vec()))
        .collect()
}

/// `records` as a record batch.
fn batch_of(records: &[Record]) -> Vec<u8> {
    let mut batch = Vec::new();
    for (tag, r) in records {
        let at = batch.len();
        batch.resize(at + super::InboundRecords::one_len(r), 0);
        super::InboundRecords::write_one(*tag, r, &mut batch[at..]);
    }
    batch
}

fn arb_record() -> impl Strategy<Value = Record> {
    prop_oneof![
        // For this node (most of them), for another.
        8 => (200u32..300, proptest::collection::vec(any::<u8>(), 0..80)),
        1 => (any::<u32>(), proptest::collection::vec(any::<u8>(), 0..80)),
    ]
}

/// How the sealed frame is damaged on the way.
#[derive(Debug, Clone)]
enum OnTheWay {
    Nothing,
    Flip(Vec<(usize, u8)>),
    /// Cut to this fraction (in 1/256) of its length; the peer then sends
    /// nothing more.
    Cut(u8),
    /// Followed by these bytes (the start of a next frame that is noise).
    Noise(Vec<u8>),
}

fn arb_on_the_way() -> impl Strategy<Value = OnTheWay> {
    prop_oneof![
        2 => Just(OnTheWay::Nothing),
        2 => proptest::collection::vec((any::<usize>(), 0u8..8), 1..4).prop_map(OnTheWay::Flip),
        1 => any::<u8>().prop_map(OnTheWay::Cut),
        1 => proptest::collection::vec(any::<u8>(), 1..200).prop_map(OnTheWay::Noise),
    ]
}

fn cases() -> u32 {
    std::env::var("GALE_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// Frames from a peer that holds the secret, with arbitrary records,
    /// possibly garbled before sealing, possibly damaged after.
    #[test]
    fn the_frame_reader_delivers_whole_routable_frames_and_drops_anything_else(
        records in proptest::collection::vec(arb_record(), 0..12),
        before in proptest::collection::vec((any::<usize>(), 0u8..8), 0..3),
        after in arb_on_the_way(),
    ) {
        let (mut d, mut a) = up_pair();
        let mut writer = FrameWriter::new();
        writer.push_body(&batch_of(&records)).expect("small records fit a frame");
        let mut bytes = writer.finish().to_vec();
        for &(at, bit) in &before {
            let at = at % bytes.len();
            bytes[at] ^= 1 << bit;
        }
        let session = d.conn.session_mut().expect("up");
        session.seal_frame(&mut bytes);
        let sealed_len = bytes.len();
        let changed = matches!(after, OnTheWay::Flip(_));
        match &after {
            OnTheWay::Nothing => {}
            OnTheWay::Flip(flips) => {
                for &(at, bit) in flips {
                    bytes[at % sealed_len] ^= 1 << bit;
                }
            }
            OnTheWay::Cut(f) => {
                bytes.truncate(sealed_len * usize::from(*f) / 256);
            }
            OnTheWay::Noise(noise) => bytes.extend_from_slice(noise),
        }
        let alive = feed(&mut a, &bytes);
        let got = delivered(&mut a);
        if changed {
            // Flips that cancel out leave the frame as sealed.
            let mut unflipped = bytes.clone();
            if let OnTheWay::Flip(flips) = &after {
                for &(at, bit) in flips.iter().rev() {
                    unflipped[at % sealed_len] ^= 1 << bit;
                }
            }
            if unflipped != bytes {
                prop_assert!(got.is_empty(), "records of a forged frame were delivered");
                // Dropped, unless a flipped length makes the reader wait
                // for more of the frame (whose tag then fails).
                let waits = FrameHeader::parse(&bytes)
                    .is_ok_and(|h| h.frame_len() + TAG_LEN > bytes.len());
                prop_assert!(!alive || waits, "a frame changed after sealing was accepted");
            }
        }
        // Whatever was delivered passed the route, is a record that was
        // sealed, and came in order: a whole frame or nothing.
        for (tag, r) in &got {
            prop_assert!(Route.route(D, *tag, r).is_ok(), "delivered a refused record");
        }
        if before.is_empty() && !got.is_empty() {
            prop_assert_eq!(&got, &records);
        }
        let all_routable = records.iter().all(|(tag, r)| Route.route(D, *tag, r).is_ok());
        if before.is_empty() && matches!(after, OnTheWay::Nothing) {
            // An intact frame: delivered whole if every record routes,
            // else refused whole (an empty frame is the goodbye).
            prop_assert_eq!(alive, all_routable);
            if all_routable {
                prop_assert_eq!(&got, &records);
            } else {
                prop_assert!(got.is_empty());
            }
        }
        if matches!(after, OnTheWay::Cut(_)) {
            // Part of a frame: nothing yet, and (its header intact) the
            // connection waits for the rest.
            prop_assert!(got.is_empty());
            prop_assert!(alive || !before.is_empty());
        }
    }

    /// Noise instead of frames after the handshake.
    #[test]
    fn noise_after_the_handshake_never_panics_or_delivers(
        noise in proptest::collection::vec(any::<u8>(), 0..(4096 + TAG_LEN)),
    ) {
        let (_d, mut a) = up_pair();
        feed(&mut a, &noise);
        prop_assert!(delivered(&mut a).is_empty());
    }
}
