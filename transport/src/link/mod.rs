//! Links between Gale nodes: ring records carried over TCP (io_uring or
//! mio/epoll) or, for peers on the same host, through `/dev/shm` rings.
//!
//! A [`Link`] is one I/O thread per node. The engine hands it
//! [`LinkRings`]: for every peer, one outbound ring per local worker thread
//! (the workers fill them with batches of records for that peer's tasks),
//! and one inbound ring per local worker thread (the link fills them with
//! validated records from peers, runs of them as one ring record). Every
//! ring record is a record batch in the layout of a frame's body
//! ([`InboundRecords`]: per record `[len: u32][tag: u32][payload]`, the
//! tag naming the engine's destination task); the link ships batches into
//! frames unchanged and knows nothing of topologies: an engine-provided
//! [`InboundRoute`] validates each inbound record and names the worker that
//! gets it.
//!
//! Wire format, handshake and behaviour are described in the guide's page
//! `docs/internals.md` ("The link").

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

mod admit;
mod buf;
mod config;
mod core;
mod error;
#[cfg(test)]
mod fuzz_tests;
mod handshake;
mod mio_io;
mod msg;
mod outq;
mod resolve;
mod route;
mod runs;
mod seal;
mod shm_peer;
mod stats;
#[cfg(target_os = "linux")]
mod sys;
#[cfg(target_os = "linux")]
mod uring;

pub use config::{Backend, BackendKind, LinkConfig, NodeId, PeerSpec, MIN_SECRET_LEN};
pub use error::LinkError;
pub use handshake::{control_nonce, control_proof, verify_control_proof};
pub use resolve::Resolve;
pub use route::{route_records, InboundRecords, InboundRoute, LinkRings, Refusal};
pub use runs::WorkerRuns;
pub use stats::{LinkStats, PeerState, PeerStats};

use self::core::LinkCore;
use self::stats::LinkShared;

/// The link's handshake messages on the wire, and the pieces of its
/// protocol that tests and tools speak by hand (see the `msg` module's
/// documentation for the layout).
pub mod wire {
    pub use super::handshake::dial_handshake;
    pub use super::msg::*;
    pub use super::seal::{Session, TAG_LEN};
    #[cfg(target_os = "linux")]
    pub use super::sys::connect_from_blocking as connect_from;
}

/// How long [`Link::start`] retries a listen address that is in use: a
/// node restarted right after it was killed found its old listening socket
/// still open for a moment, about one restart in four in the shared-host
/// kill test (most likely io_uring, which releases a dead process's
/// sockets asynchronously, after the process is reaped).
const BIND_RETRY: Duration = Duration::from_secs(5);

/// Binds the link's listening socket, retrying an address in use for up
/// to [`BIND_RETRY`].
fn bind(addr: std::net::SocketAddr, node: NodeId) -> std::io::Result<std::net::TcpListener> {
    let deadline = Instant::now() + BIND_RETRY;
    let mut said = false;
    loop {
        match std::net::TcpListener::bind(addr) {
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && Instant::now() < deadline => {
                if !std::mem::replace(&mut said, true) {
                    tracing::info!(
                        node,
                        "link: {addr} is in use (a killed predecessor's socket?); retrying for \
                         up to {BIND_RETRY:?}"
                    );
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            result => return result,
        }
    }
}

/// A running link: its I/O thread and its counters.
pub struct Link {
    shared: Arc<LinkShared>,
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
pub struct LinkStatsHandle(Arc<LinkShared>);

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
        let listener = bind(config.listen, config.node).map_err(|source| LinkError::Bind {
            addr: config.listen,
            source,
        })?;
        let io = |context| move |source| LinkError::Io { context, source };
        let ids = config.peers.iter().map(|p| p.id).collect();
        let backend = select_backend(config.backend)?;
        let shared = Arc::new(LinkShared::new(backend.kind(), ids));
        let core = LinkCore::new(&config, rings, route, Arc::clone(&shared))?;
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
