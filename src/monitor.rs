//! The monitoring endpoint of a node: [`MetricsServer`] serves the live
//! metrics of this process's topologies over HTTP:
//!
//! - `/metrics`: Prometheus' text format ([`prometheus::render`]);
//! - `/api/v1/topology/summary`, `/api/v1/topology/<id>`,
//!   `/api/v1/topology/<id>/component/<component>`: JSON shaped like
//!   Storm UI's REST API ([`api`]); anything else under `/` is a `404`
//!   with a JSON error;
//! - `/`: a live page drawing each topology's graph with its components'
//!   rate, latency, capacity and backpressure, refreshed every second;
//! - the control channel of a cluster node ([`control`]): `POST
//!   /api/v1/topology/<id>/activate|deactivate|kill/<wait>|rebalance/<wait>`
//!   ([`rebalance`]), each proving
//!   the cluster secret, and `/api/v1/node/status`;
//! - `/api/v1/cluster/topology/<name>`: the topology summed over every
//!   node of the cluster, and `/metrics?scope=cluster`: every node's
//!   series (each has a `node` label) and `gale_node_up`, fetched from
//!   the peers ([`cluster`]).
//!
//! ```no_run
//! # fn topology() -> gale::Topology { unimplemented!() }
//! use gale::monitor::MetricsServer;
//! let running = gale::LocalCluster::default().submit(topology())?;
//! let server = MetricsServer::start("127.0.0.1:9090")?;
//! server.add(running.metrics_handle());
//! println!("open http://{}/", server.local_addr());
//! running.wait()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod api;
pub mod cluster;
pub mod control;
pub mod http;
pub mod prometheus;
pub mod rebalance;
mod switch_cut;

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use gale_engine::{ControlHandle, MetricsHandle, TopologyMetrics, WindowStats};

pub use http::{get, get_with_token, GetError, ServeError, MAX_CONNS, MAX_PER_ADDR};

use http::{Request, Response, Server};

const PAGE: &str = include_str!("monitor/page/index.html");
const SCRIPT: &str = include_str!("monitor/page/gale.js");
const STYLE: &str = include_str!("monitor/page/gale.css");

/// Rates are measured over windows of at least this long.
const RATE_WINDOW: Duration = Duration::from_secs(1);

/// A topology served, with the snapshot that starts its rate window.
struct Entry {
    handle: MetricsHandle,
    window: Mutex<Window>,
}

#[derive(Default)]
struct Window {
    base: Option<TopologyMetrics>,
    last: Vec<WindowStats>,
}

impl Entry {
    /// Rate and capacity per component over the last full window (since
    /// start until one has passed).
    fn window(&self, now: &TopologyMetrics) -> Vec<WindowStats> {
        let mut w = self.window.lock().unwrap_or_else(|e| e.into_inner());
        match &w.base {
            Some(base) if now.uptime.saturating_sub(base.uptime) >= RATE_WINDOW => {
                w.last = now.window_since(base);
                w.base = Some(now.clone());
            }
            Some(_) => {}
            None => w.base = Some(now.clone()),
        }
        if w.last.is_empty() {
            return now.window_since_start();
        }
        w.last.clone()
    }
}

/// The topologies a server shows, its control channel, and the bearer
/// token it requires (and sends to its peers for the cluster view: every
/// node of a cluster is started with the same token file).
#[derive(Default)]
struct Registry(RwLock<Vec<Arc<Entry>>>, control::Control, Option<String>);

impl Registry {
    fn entries(&self) -> Vec<Arc<Entry>> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn route(&self, request: &Request) -> Response {
        let path = request.path.trim_end_matches('/');
        let parts: Vec<&str> = path.split('/').skip(1).collect();
        if request.method == "POST" {
            return self.1.post(request);
        }
        match parts.as_slice() {
            ["api", "v1", "control", "nonce"] => self.1.nonce(),
            ["api", "v1", "node", "status"] => self.1.status(),
            ["api", "v1", "cluster", "topology", name] => {
                let local = self.entries().into_iter().find_map(|e| {
                    let m = e.handle.metrics();
                    (m.id == *name || m.name == *name).then(|| api::topology(&m, &e.window(&m)))
                });
                let (node, peers) = self.1.peers();
                let token = self.2.as_deref();
                match cluster::topology(name, local.map(|d| (node, d)), &peers, token) {
                    Some(doc) => json(&doc),
                    None => Response::error(404, &format!("no node runs a topology `{name}`")),
                }
            }
            [] | ["index.html"] => Response::ok("text/html; charset=utf-8", PAGE),
            ["gale.js"] => Response::ok("text/javascript; charset=utf-8", SCRIPT),
            ["gale.css"] => Response::ok("text/css; charset=utf-8", STYLE),
            ["metrics"] => {
                let all: Vec<TopologyMetrics> =
                    self.entries().iter().map(|e| e.handle.metrics()).collect();
                let text = prometheus::render(&all);
                if request.query.split('&').any(|q| q == "scope=cluster") {
                    let (node, peers) = self.1.peers();
                    let text = cluster::metrics(&text, node, &peers, self.2.as_deref());
                    return Response::ok(prometheus::CONTENT_TYPE, text);
                }
                Response::ok(prometheus::CONTENT_TYPE, text)
            }
            ["api", "v1", "topology", "summary"] => {
                let all: Vec<TopologyMetrics> =
                    self.entries().iter().map(|e| e.handle.metrics()).collect();
                json(&api::summary(&all))
            }
            ["api", "v1", "topology", id] => match self.find(id) {
                Some(e) => {
                    let m = e.handle.metrics();
                    json(&api::topology(&m, &e.window(&m)))
                }
                None => Response::error(404, &format!("no topology `{id}`")),
            },
            ["api", "v1", "topology", id, "component", component] => match self.find(id) {
                Some(e) => {
                    let m = e.handle.metrics();
                    match api::component(&m, component, &e.window(&m)) {
                        Some(doc) => json(&doc),
                        None => Response::error(
                            404,
                            &format!("topology `{id}` has no component `{component}`"),
                        ),
                    }
                }
                None => Response::error(404, &format!("no topology `{id}`")),
            },
            _ => Response::error(404, &format!("no such resource: {}", request.path)),
        }
    }

    fn find(&self, id: &str) -> Option<Arc<Entry>> {
        self.entries().into_iter().find(|e| e.handle.id() == id)
    }
}

fn json(doc: &serde_json::Value) -> Response {
    Response::ok("application/json", doc.to_string())
}

/// A node's monitoring endpoint (see the [module docs](self)); dropping it
/// stops it.
pub struct MetricsServer {
    registry: Arc<Registry>,
    server: Server,
}

impl MetricsServer {
    /// Listens on `addr` (port 0 picks a free one: see
    /// [`local_addr`](Self::local_addr)).
    pub fn start(addr: impl ToSocketAddrs + std::fmt::Debug) -> Result<Self, ServeError> {
        Self::start_with_token(addr, None)
    }

    /// Like [`start`](Self::start); with `token`, every request must carry
    /// `Authorization: Bearer TOKEN` (`401` otherwise).
    pub fn start_with_token(
        addr: impl ToSocketAddrs + std::fmt::Debug,
        token: Option<String>,
    ) -> Result<Self, ServeError> {
        let registry = Arc::new(Registry(
            RwLock::default(),
            control::Control::default(),
            token.clone(),
        ));
        let routes = Arc::clone(&registry);
        let server = Server::start(addr, Arc::new(move |r: &Request| routes.route(r)), token)?;
        Ok(Self { registry, server })
    }

    /// Serves the metrics of the topology behind `handle` (until the server
    /// is dropped, after the topology stops too).
    pub fn add(&self, handle: MetricsHandle) {
        let entry = Arc::new(Entry {
            handle,
            window: Mutex::new(Window::default()),
        });
        self.registry
            .0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(entry);
    }

    /// Turns on the control channel ([`control`]): requests proving
    /// `config.secret` act on the topologies given to
    /// [`add_control`](Self::add_control), here and on `config.peers`.
    pub fn set_control(&self, config: control::ControlConfig) {
        self.registry.1.configure(config);
    }

    /// Puts the topology behind `handle` under the control channel.
    pub fn add_control(&self, handle: ControlHandle) {
        self.registry.1.add(handle);
    }

    /// Serves `metrics` and `control` in place of the topology of the same
    /// name (which a rebalance stopped and started again).
    pub fn replace(&self, metrics: MetricsHandle, control: ControlHandle) {
        let name = metrics.metrics().name;
        self.registry
            .0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|e| e.handle.metrics().name != name);
        self.add(metrics);
        self.registry.1.replace(control);
    }

    /// Lets the control channel rebalance this node's topology
    /// ([`rebalance`]).
    pub fn set_rebalancer(&self, rebalancer: Arc<dyn rebalance::Rebalancer>) {
        self.registry.1.set_rebalancer(rebalancer);
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// `http://ADDR/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.local_addr())
    }
}
