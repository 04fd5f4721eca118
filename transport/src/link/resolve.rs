//! Peers named by hostname ([`PeerSpec::host`](super::PeerSpec::host)):
//! a background thread resolves their names again whenever a dial fails or
//! a connection drops, so a peer that comes back at a new address (a
//! Kubernetes pod restarted with a new IP) is found again, and a name that
//! does not resolve yet (DNS records appear a little after the pod) is
//! retried instead of failing the node. The I/O thread never waits for DNS:
//! it dials the latest answer, or postpones the dial while there is none.

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::Thread;
use std::time::Duration;

type ResolveFn = dyn Fn(&str) -> io::Result<SocketAddr> + Send + Sync;

/// Turns `host:port` into a socket address (a test can swap in its own).
#[derive(Clone)]
pub struct Resolve(Arc<ResolveFn>);

impl Resolve {
    /// A resolver from a function.
    pub fn new(f: impl Fn(&str) -> io::Result<SocketAddr> + Send + Sync + 'static) -> Self {
        Resolve(Arc::new(f))
    }

    /// The system resolver (`getaddrinfo`): the first address of the name.
    pub fn system() -> Self {
        Resolve::new(|host| {
            host.to_socket_addrs()?.next().ok_or_else(|| {
                io::Error::new(io::ErrorKind::NotFound, format!("{host}: no address"))
            })
        })
    }

    /// Resolves `host`.
    pub fn resolve(&self, host: &str) -> io::Result<SocketAddr> {
        (self.0)(host)
    }
}

impl Default for Resolve {
    fn default() -> Self {
        Resolve::system()
    }
}

impl fmt::Debug for Resolve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Resolve")
    }
}

/// One peer's name and its latest address.
pub(crate) struct HostAddr {
    pub(crate) host: String,
    latest: Mutex<Option<SocketAddr>>,
    /// Resolve again (a dial failed or the connection dropped).
    stale: AtomicBool,
}

impl HostAddr {
    /// The latest address, if the name resolved yet.
    pub(crate) fn latest(&self) -> Option<SocketAddr> {
        *self.latest.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The names of a link's peers and the thread that resolves them.
pub(crate) struct Resolver {
    hosts: Arc<Vec<HostAddr>>,
    thread: Option<Thread>,
}

/// How long the resolver thread sleeps between rounds: short while a name
/// has no address yet, longer once all have one (it is woken when a dial
/// fails).
const RETRY: Duration = Duration::from_millis(200);
const IDLE: Duration = Duration::from_secs(1);

impl Resolver {
    /// Resolver for `hosts` (name, first address if already resolved);
    /// starts its thread if there is any name.
    pub(crate) fn start(
        node: u32,
        hosts: Vec<(String, Option<SocketAddr>)>,
        resolve: Resolve,
    ) -> io::Result<Self> {
        let hosts: Arc<Vec<HostAddr>> = Arc::new(
            hosts
                .into_iter()
                .map(|(host, first)| HostAddr {
                    host,
                    latest: Mutex::new(first),
                    stale: AtomicBool::new(false),
                })
                .collect(),
        );
        if hosts.is_empty() {
            return Ok(Resolver {
                hosts,
                thread: None,
            });
        }
        let weak = Arc::downgrade(&hosts);
        let thread = std::thread::Builder::new()
            .name(format!("gale-resolve-{node}"))
            .spawn(move || run(node, &weak, &resolve))?
            .thread()
            .clone();
        Ok(Resolver {
            hosts,
            thread: Some(thread),
        })
    }

    /// How many names there are.
    pub(crate) fn len(&self) -> usize {
        self.hosts.len()
    }

    /// Peer name `index`.
    pub(crate) fn host(&self, index: usize) -> &HostAddr {
        &self.hosts[index]
    }

    /// Asks for name `index` to be resolved again.
    pub(crate) fn refresh(&self, index: usize) {
        // SYNC: Relaxed: the flag carries no data; the resolver thread
        // reads it after `unpark` or within a round.
        self.hosts[index].stale.store(true, Ordering::Relaxed);
        if let Some(t) = &self.thread {
            t.unpark();
        }
    }
}

impl Drop for Resolver {
    fn drop(&mut self) {
        // The thread holds only a weak reference: wake it to see the names
        // gone and exit.
        if let Some(t) = &self.thread {
            t.unpark();
        }
    }
}

fn run(node: u32, hosts: &Weak<Vec<HostAddr>>, resolve: &Resolve) {
    loop {
        let Some(hosts) = hosts.upgrade() else {
            return;
        };
        let mut missing = false;
        for h in hosts.iter() {
            let had = h.latest();
            // SYNC: Relaxed, as in `refresh`.
            if had.is_some() && !h.stale.swap(false, Ordering::Relaxed) {
                continue;
            }
            match resolve.resolve(&h.host) {
                Ok(addr) => {
                    if had != Some(addr) {
                        tracing::info!(node, host = %h.host, %addr, "link: peer name resolved");
                    }
                    *h.latest.lock().unwrap_or_else(|e| e.into_inner()) = Some(addr);
                }
                Err(e) => {
                    missing |= had.is_none();
                    tracing::debug!(node, host = %h.host, "link: cannot resolve peer name: {e}");
                }
            }
        }
        drop(hosts);
        std::thread::park_timeout(if missing { RETRY } else { IDLE });
    }
}
