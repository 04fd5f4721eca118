//! Counters shared between the I/O thread (writer) and [`Link`](super::Link)
//! handles (readers).
//!
//! Every counter is a monotonic statistic read for display or tests; no other
//! memory is published through them, so all accesses are `Relaxed` (no
//! pairing).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};

use super::{BackendKind, LinkStats, NodeId, PeerState, PeerStats};

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
pub(crate) struct Shared {
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

impl Shared {
    pub fn new(backend: BackendKind, ids: Vec<NodeId>) -> Self {
        let peers = ids.iter().map(|_| PeerCounters::default()).collect();
        Shared {
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
