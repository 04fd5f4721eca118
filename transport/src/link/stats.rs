//! Counters shared between the I/O thread (writer) and [`Link`](super::Link)
//! handles (readers), and their snapshot ([`LinkStats`], [`PeerStats`]).
//!
//! Every counter is a monotonic statistic read for display or tests; no other
//! memory is published through them, so all accesses are `Relaxed` (no
//! pairing).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};

use super::config::{BackendKind, NodeId};

#[derive(Default)]
pub(crate) struct PeerCounters {
    pub state: AtomicU8,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    pub records_in: AtomicU64,
    pub records_out: AtomicU64,
    pub reconnects: AtomicU64,
    pub dropped: AtomicU64,
    pub refused: AtomicU64,
    pub lost: AtomicU64,
    pub shm: AtomicBool,
}

impl PeerCounters {
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    pub fn set_state(&self, s: PeerState) {
        self.state.store(s as u8, Ordering::Relaxed);
    }

    pub fn state(&self) -> PeerState {
        match self.state.load(Ordering::Relaxed) {
            x if x == PeerState::Up as u8 => PeerState::Up,
            x if x == PeerState::Down as u8 => PeerState::Down,
            _ => PeerState::Connecting,
        }
    }
}

/// State shared by the I/O thread and the `Link` handle.
pub(crate) struct LinkShared {
    pub backend: BackendKind,
    pub ids: Vec<NodeId>,
    pub peers: Vec<PeerCounters>,
    pub rejected: AtomicU64,
    /// The I/O thread panicked (its message): the link is gone.
    pub panicked: std::sync::Mutex<Option<String>>,
    /// Set by `Link::stop`; the I/O thread polls it at least every
    /// millisecond. Relaxed: the join that follows orders everything else.
    pub stop: AtomicBool,
    /// Rung by the workers' outbound rings when the I/O thread sleeps on it
    /// (none if the eventfd could not be created: the thread then polls).
    pub doorbell: Option<std::sync::Arc<crate::ring::Doorbell>>,
}

impl LinkShared {
    pub fn new(backend: BackendKind, ids: Vec<NodeId>) -> Self {
        let peers = ids.iter().map(|_| PeerCounters::default()).collect();
        LinkShared {
            backend,
            ids,
            peers,
            rejected: AtomicU64::new(0),
            panicked: std::sync::Mutex::new(None),
            stop: AtomicBool::new(false),
            doorbell: match crate::ring::Doorbell::new() {
                Ok(bell) => Some(std::sync::Arc::new(bell)),
                Err(e) => {
                    tracing::warn!("link: no eventfd for wake-ups ({e}); polling instead");
                    None
                }
            },
        }
    }

    pub fn snapshot(&self) -> LinkStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        LinkStats {
            backend: self.backend,
            peers: self
                .ids
                .iter()
                .zip(&self.peers)
                .map(|(&id, p)| PeerStats {
                    id,
                    state: p.state(),
                    bytes_in: get(&p.bytes_in),
                    bytes_out: get(&p.bytes_out),
                    records_in: get(&p.records_in),
                    records_out: get(&p.records_out),
                    reconnects: get(&p.reconnects),
                    dropped: get(&p.dropped),
                    refused: get(&p.refused),
                    lost: get(&p.lost),
                    shm: p.shm.load(Ordering::Relaxed),
                })
                .collect(),
            rejected_connections: get(&self.rejected),
            wakeups: self.doorbell.as_ref().map_or(0, |b| b.rung()),
        }
    }
}

/// The state of the link to one peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PeerState {
    /// Dialing, waiting for the peer to dial, or handshaking.
    Connecting,
    /// Handshake done; records flow.
    Up,
    /// The connection failed; waiting to redial (outbound records are
    /// dropped meanwhile).
    Down,
}

/// Counters of the link to one peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerStats {
    /// The peer.
    pub id: NodeId,
    /// Current state.
    pub state: PeerState,
    /// Payload bytes received (frames, or records through shm rings).
    pub bytes_in: u64,
    /// Payload bytes sent.
    pub bytes_out: u64,
    /// Records received and placed in inbound rings.
    pub records_in: u64,
    /// Records sent.
    pub records_out: u64,
    /// Completed handshakes after the first one.
    pub reconnects: u64,
    /// Outbound records drained and dropped because the peer was not up.
    pub dropped: u64,
    /// Connections to or from this peer that were refused or dropped for bad
    /// input.
    pub refused: u64,
    /// Times the connection to this peer was lost while both sides ran: it
    /// dropped without the peer's goodbye (the peer crashed or was killed,
    /// or the network failed); what was in flight on it is gone. Same-host
    /// peers too: their goodbye comes over the TCP connection that carried
    /// the handshake.
    pub lost: u64,
    /// Records travel through `/dev/shm` rings on the current (or last)
    /// connection (a same-host peer).
    pub shm: bool,
}

/// A snapshot of a [`Link`](super::Link)'s counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkStats {
    /// The backend in use.
    pub backend: BackendKind,
    /// One entry per configured peer, in configuration order.
    pub peers: Vec<PeerStats>,
    /// Inbound connections dropped before they identified as a known peer
    /// (garbage, unknown node id, handshake timeout).
    pub rejected_connections: u64,
    /// Times a worker woke the sleeping I/O thread by publishing records
    /// into an empty outbound ring (the doorbell; see `Idle`). Only a link
    /// that was idle for a while sleeps on it, so this stays far below the
    /// number of frames while traffic flows.
    pub wakeups: u64,
}
