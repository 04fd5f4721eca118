//! What a link is started with: [`LinkConfig`] (this node, its peers,
//! the secret, the backend), [`PeerSpec`], [`Backend`].

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::resolve::Resolve;

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

/// The backend a running [`Link`](super::Link) actually uses.
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

/// Everything a [`Link`](super::Link) needs besides its rings.
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
    /// dropped); outbound frames are built up to 256 KiB, or this size if
    /// less (a larger batch of records still goes into one frame whole).
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
