//! Links between Gale nodes: ring records carried over TCP (io_uring or
//! mio/epoll) or, for peers on the same host, through `/dev/shm` rings.
//!
//! A [`Link`] is one I/O thread per node. The engine hands it
//! [`LinkRings`]: for every peer, one outbound ring per local worker thread
//! (the workers fill them with records for that peer's tasks), and one
//! inbound ring per local worker thread (the link fills them with validated
//! records from peers). Records are the engine's ring records
//! (`[dest task: u32][reserved: u32][payload]`); the link ships them
//! unchanged and knows nothing of topologies: an engine-provided
//! [`InboundRoute`] validates each inbound record and names the worker that
//! gets it.
//!
//! Wire format, handshake and behaviour are described in the guide's page
//! `docs/link.md`.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::{Consumer, Producer};

mod admit;
mod buf;
mod core;
mod handshake;
mod mio_io;
mod outq;
mod resolve;
mod seal;
mod shm_peer;
mod stats;
#[cfg(target_os = "linux")]
mod sys;
#[cfg(target_os = "linux")]
mod uring;
pub mod wire;

pub use resolve::Resolve;

use self::core::Core;
use self::stats::Shared;

/// Identifies a node of the cluster.
pub type NodeId = u32;

/// Which I/O backend carries TCP links.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Backend {
    /// io_uring when the kernel allows it (`io_uring_setup` succeeds), else
    /// mio/epoll.
    #[default]
    Auto,
    /// io_uring only; starting fails if it is unavailable.
    IoUring,
    /// mio/epoll only.
    Mio,
}

/// The backend a running [`Link`] actually uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// io_uring.
    IoUring,
    /// mio (epoll).
    Mio,
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendKind::IoUring => "io_uring",
            BackendKind::Mio => "mio",
        })
    }
}

/// Another node of the cluster, as this node sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerSpec {
    /// The peer's node id.
    pub id: NodeId,
    /// Where the peer listens (with [`host`](Self::host): the first
    /// answer for the name, or an unspecified address if it did not
    /// resolve yet).
    pub addr: SocketAddr,
    /// The `hostname:port` the address came from, if any: the link
    /// resolves it again (in the background, with
    /// [`LinkConfig::resolve`]) whenever a dial to the peer fails or its
    /// connection drops, and does not dial while it has no address.
    pub host: Option<String>,
    /// The peer shares this host: records travel through `/dev/shm` rings set
    /// up by a handshake over TCP, not through TCP.
    pub same_host: bool,
}

impl PeerSpec {
    /// A peer on another host.
    pub fn new(id: NodeId, addr: SocketAddr) -> Self {
        PeerSpec {
            id,
            addr,
            host: None,
            same_host: false,
        }
    }

    /// A peer named by `host` (`hostname:port`), first resolved to `addr`
    /// if it resolved yet.
    pub fn named(id: NodeId, host: impl Into<String>, addr: Option<SocketAddr>) -> Self {
        PeerSpec {
            id,
            addr: addr.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0))),
            host: Some(host.into()),
            same_host: false,
        }
    }

    /// Marks the peer as sharing this host.
    #[must_use]
    pub fn same_host(mut self, same_host: bool) -> Self {
        self.same_host = same_host;
        self
    }
}

/// Everything a [`Link`] needs besides its rings.
#[derive(Clone)]
pub struct LinkConfig {
    /// This node's id.
    pub node: NodeId,
    /// The address to listen on; exactly this address is bound.
    pub listen: SocketAddr,
    /// Every other node of the cluster (links are all-to-all; the node with
    /// the lower id dials the one with the higher id).
    pub peers: Vec<PeerSpec>,
    /// The cluster secret (at least [`MIN_SECRET_LEN`] random bytes), used
    /// for HMAC-SHA256 challenge-response and to derive each session's
    /// frame keys; never sent.
    pub secret: Vec<u8>,
    /// A hash of the topology and cluster file; peers must present the same.
    pub fingerprint: [u8; 32],
    /// The I/O backend.
    pub backend: Backend,
    /// Frames with a body larger than this are refused (and the connection
    /// dropped); outbound frames are built up to this size.
    pub max_frame: usize,
    /// A connection that has not completed its handshake within this time is
    /// dropped.
    pub handshake_timeout: Duration,
    /// First delay before redialing a peer after a failure.
    pub reconnect_min: Duration,
    /// Largest delay between redials (the delay doubles up to it).
    pub reconnect_max: Duration,
    /// Directory of the ring files of same-host peers (`/dev/shm`).
    pub shm_dir: PathBuf,
    /// Resolves the [`PeerSpec::host`] names (the system resolver by
    /// default).
    pub resolve: Resolve,
}

impl fmt::Debug for LinkConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkConfig")
            .field("node", &self.node)
            .field("listen", &self.listen)
            .field("peers", &self.peers)
            .field("secret", &"<redacted>")
            .field("fingerprint", &self.fingerprint)
            .field("backend", &self.backend)
            .field("max_frame", &self.max_frame)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("reconnect_min", &self.reconnect_min)
            .field("reconnect_max", &self.reconnect_max)
            .field("shm_dir", &self.shm_dir)
            .field("resolve", &self.resolve)
            .finish()
    }
}

/// Fewest bytes a cluster secret may have: 32 random bytes (256 bits),
/// beyond any offline guessing.
pub const MIN_SECRET_LEN: usize = 32;

impl LinkConfig {
    /// Default largest frame body: 1 MiB.
    pub const DEFAULT_MAX_FRAME: usize = 1 << 20;

    /// A configuration with defaults for the optional settings: backend
    /// [`Backend::Auto`], 1 MiB frames, 5 s handshake timeout, reconnect
    /// backoff from 50 ms to 2 s, rings under `/dev/shm`.
    pub fn new(
        node: NodeId,
        listen: SocketAddr,
        peers: Vec<PeerSpec>,
        secret: impl Into<Vec<u8>>,
        fingerprint: [u8; 32],
    ) -> Self {
        LinkConfig {
            node,
            listen,
            peers,
            secret: secret.into(),
            fingerprint,
            backend: Backend::Auto,
            max_frame: Self::DEFAULT_MAX_FRAME,
            handshake_timeout: Duration::from_secs(5),
            reconnect_min: Duration::from_millis(50),
            reconnect_max: Duration::from_secs(2),
            shm_dir: PathBuf::from("/dev/shm"),
            resolve: Resolve::system(),
        }
    }

    /// Sets the backend.
    #[must_use]
    pub fn with_backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }
}

/// Decides where an inbound record goes. Implemented by the engine.
pub trait InboundRoute: Send + 'static {
    /// `record` is untrusted bytes from `peer` (prefix + payload). Validate it
    /// completely (e.g. `gale_codec::view_checked` for tuples) and return the
    /// index of the local worker thread whose inbound ring gets it, or a
    /// reason to refuse it (the link then drops the connection and logs the
    /// reason).
    fn route(&self, peer: NodeId, record: &[u8]) -> Result<usize, String>;
}

/// The rings the engine hands to the link when it starts.
pub struct LinkRings {
    /// For each peer: one ring per local worker thread that the worker fills
    /// with records for that peer's tasks; the link's I/O thread drains them.
    pub outbound: Vec<(NodeId, Vec<Consumer>)>,
    /// One ring per local worker thread that the I/O thread fills with
    /// validated inbound records; the worker drains it like its other rings.
    pub inbound: Vec<Producer>,
}

impl fmt::Debug for LinkRings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkRings")
            .field(
                "outbound",
                &self
                    .outbound
                    .iter()
                    .map(|(id, rings)| (*id, rings.len()))
                    .collect::<Vec<_>>(),
            )
            .field("inbound", &self.inbound.len())
            .finish()
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
    /// or the network failed); what was in flight on it is gone. TCP peers
    /// only (a same-host peer's loss is not told from its stop).
    pub lost: u64,
    /// Records travel through `/dev/shm` rings on the current (or last)
    /// connection (a same-host peer).
    pub shm: bool,
}

/// A snapshot of a [`Link`]'s counters.
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

/// Why a [`Link`] could not start.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The configured listen address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// Another I/O error while starting (poller, thread, io_uring setup).
    #[error("link I/O error while {context}: {source}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// An inconsistent configuration or ring set.
    #[error("invalid link configuration: {0}")]
    Config(String),
    /// [`Backend::IoUring`] was requested but io_uring is not available.
    #[error("io_uring is not available: {0}")]
    IoUringUnavailable(std::io::Error),
}

/// A running link: its I/O thread and its counters.
pub struct Link {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Link")
            .field("backend", &self.shared.backend)
            .finish_non_exhaustive()
    }
}

/// A cloneable reader of a link's counters (for a metrics endpoint); it
/// keeps working after the link stops.
#[derive(Clone)]
pub struct LinkStatsHandle(Arc<Shared>);

impl LinkStatsHandle {
    /// A snapshot of the counters.
    pub fn stats(&self) -> LinkStats {
        self.0.snapshot()
    }

    /// The panic message of the I/O thread, if it panicked (the link is
    /// then gone).
    pub fn panicked(&self) -> Option<String> {
        self.0
            .panicked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl std::fmt::Debug for LinkStatsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkStatsHandle").finish_non_exhaustive()
    }
}

impl Link {
    /// A handle on the counters that outlives the link.
    pub fn stats_handle(&self) -> LinkStatsHandle {
        LinkStatsHandle(Arc::clone(&self.shared))
    }

    /// Binds the listen address, starts the I/O thread and begins connecting
    /// to every peer. Returns once listening; peers come up in the background
    /// (see [`wait_connected`](Self::wait_connected)).
    pub fn start(
        config: LinkConfig,
        rings: LinkRings,
        route: Box<dyn InboundRoute>,
    ) -> Result<Link, LinkError> {
        let listener =
            std::net::TcpListener::bind(config.listen).map_err(|source| LinkError::Bind {
                addr: config.listen,
                source,
            })?;
        let io = |context| move |source| LinkError::Io { context, source };
        let ids = config.peers.iter().map(|p| p.id).collect();
        let backend = select_backend(config.backend)?;
        let shared = Arc::new(Shared::new(backend.kind(), ids));
        let core = Core::new(&config, rings, route, Arc::clone(&shared))?;
        let runner: Box<dyn FnOnce() + Send> = match backend {
            Selected::Mio => {
                let link = mio_io::MioLink::new(core, listener).map_err(io("setting up mio"))?;
                Box::new(move || link.run())
            }
            #[cfg(target_os = "linux")]
            Selected::IoUring(ring) => {
                let link = uring::UringLink::new(core, listener, ring)
                    .map_err(io("setting up io_uring"))?;
                Box::new(move || link.run())
            }
        };
        tracing::info!(
            node = config.node,
            listen = %config.listen,
            backend = %shared.backend,
            "link: listening"
        );
        // A panic of the I/O thread is kept for `LinkStatsHandle::panicked`,
        // so the engine can stop the run instead of running on without
        // its peers.
        let thread_shared = Arc::clone(&shared);
        let node = config.node;
        let thread = std::thread::Builder::new()
            .name(format!("gale-link-{}", config.node))
            .spawn(move || {
                if let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(runner))
                {
                    let message = payload
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| payload.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "non-string panic payload".to_owned());
                    tracing::error!(node, "link: the I/O thread panicked: {message}");
                    *thread_shared
                        .panicked
                        .lock()
                        .unwrap_or_else(|e| e.into_inner()) = Some(message);
                }
            })
            .map_err(io("spawning the I/O thread"))?;
        Ok(Link {
            shared,
            thread: Some(thread),
        })
    }

    /// The backend in use.
    pub fn backend(&self) -> BackendKind {
        self.shared.backend
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> LinkStats {
        self.shared.snapshot()
    }

    /// Waits until every peer is [`PeerState::Up`] or `timeout` passes;
    /// returns whether all are up.
    pub fn wait_connected(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.stats().peers.iter().all(|p| p.state == PeerState::Up) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Sends what the workers already wrote (for up to a second), closes
    /// the connections and joins the I/O thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            // A panic was caught and logged on the thread itself.
            let _ = thread.join();
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The backend chosen at start.
enum Selected {
    Mio,
    #[cfg(target_os = "linux")]
    IoUring(Box<io_uring::IoUring>),
}

impl Selected {
    fn kind(&self) -> BackendKind {
        match self {
            Selected::Mio => BackendKind::Mio,
            #[cfg(target_os = "linux")]
            Selected::IoUring(_) => BackendKind::IoUring,
        }
    }
}

fn select_backend(backend: Backend) -> Result<Selected, LinkError> {
    match backend {
        Backend::Mio => Ok(Selected::Mio),
        #[cfg(target_os = "linux")]
        Backend::IoUring => uring::setup()
            .map(|r| Selected::IoUring(Box::new(r)))
            .map_err(LinkError::IoUringUnavailable),
        #[cfg(target_os = "linux")]
        Backend::Auto => match uring::setup() {
            Ok(ring) => Ok(Selected::IoUring(Box::new(ring))),
            Err(e) => {
                tracing::info!("link: io_uring unavailable ({e}); using mio (epoll)");
                Ok(Selected::Mio)
            }
        },
        #[cfg(not(target_os = "linux"))]
        Backend::IoUring => Err(LinkError::IoUringUnavailable(std::io::Error::from(
            std::io::ErrorKind::Unsupported,
        ))),
        #[cfg(not(target_os = "linux"))]
        Backend::Auto => Ok(Selected::Mio),
    }
}
