//! The backend-independent half of the link: connections as state machines
//! over byte buffers (handshake, frame validation and delivery, outbound
//! framing), peers, backoff and counters. The backends (`mio_io.rs`,
//! `uring.rs`) only move bytes between sockets and these buffers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gale_codec::{BodyRecords, FrameHeader};
use tracing::{info, warn};

use super::admit::{Admission, Noise, HELLO_TIMEOUT};
use super::buf::RecvBuf;
use super::config::{LinkConfig, NodeId, MIN_SECRET_LEN};
use super::error::LinkError;
use super::handshake::{Handshake, HandshakeError, Identity, Step};
use super::msg::{MsgHeader, MSG_HEADER};
use super::outq::OutFrames;
use super::route::{InboundRoute, LinkRings, Refusal};
use super::runs::{Runs, TooLarge};
use super::seal::{Session, TAG_LEN};
use super::shm_peer::{remove_stale, ShmDelivery, ShmLink};
use super::stats::PeerState;
use super::stats::{LinkShared, PeerCounters};
use crate::{Consumer, Producer};

/// Capacity of a connection's handshake output: hello + auth + ok + the
/// largest refusal, with room to spare.
pub(crate) const HS_OUT_CAPACITY: usize = 1024;

/// How an I/O loop waits after a round that moved nothing.
///
/// Right after traffic it polls its outbound rings on a short timer (100 us):
/// while records flow, that gathers many of them into each frame, where a
/// wake-up per publication would send a small frame per worker batch. Once
/// the link has been quiet for a while (20 rounds, about 2 ms), it
/// sleeps on the doorbell (an eventfd that the first worker to publish into
/// an empty outbound ring writes, see `ring::Doorbell`) with a long timeout
/// (1 ms) for timers and dials: a record after a quiet spell is sent at
/// once, and an idle link costs little. Where the doorbell cannot help
/// ([`LinkCore::park`] says no: a worker has yet to drain a full inbound ring,
/// or records come from a same-host peer's ring), it keeps polling, on the
/// short timer for a while (20 ms), then every millisecond. 100 us rather
/// than 50: on a loaded host, half the wake-ups per MB while traffic flows
/// (a frame per wake-up), for up to 50 us more latency at middling rates.
pub(crate) struct Idle {
    quiet: u32,
}

/// The wait before the next round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Wait {
    /// At most this long (zero: do not wait).
    pub time: Duration,
    /// Sleep [`Idle::LONG`] instead if [`LinkCore::park`] arms the doorbell.
    pub doorbell: bool,
}

impl Idle {
    /// The wait soon after traffic.
    pub const SHORT: Duration = Duration::from_micros(100);
    /// The wait of an idle link.
    pub const LONG: Duration = Duration::from_millis(1);
    /// Rounds without traffic before the link sleeps on the doorbell.
    const POLL_ROUNDS: u32 = 20;
    /// Rounds without traffic before a link that cannot sleep on the
    /// doorbell polls less often.
    const SHORT_ROUNDS: u32 = 200;

    pub fn new() -> Self {
        Idle { quiet: 0 }
    }

    /// The wait before the next round.
    pub fn next(&mut self, progress: bool) -> Wait {
        if progress {
            self.quiet = 0;
        } else {
            self.quiet = self.quiet.saturating_add(1);
        }
        let time = match self.quiet {
            0 => Duration::ZERO,
            q if q <= Self::SHORT_ROUNDS => Self::SHORT,
            _ => Self::LONG,
        };
        Wait {
            time,
            doorbell: self.quiet > Self::POLL_ROUNDS,
        }
    }
}

/// Bytes that make a frame worth sending at once, right after the last
/// one; fewer wait up to [`Idle::SHORT`] for more (see `LinkCore::fill_frame`).
pub(crate) const MIN_FRAME: usize = 32 << 10;

/// Bytes a frame is filled to (or `max_frame`'s room, if less; a ring
/// record that takes a frame past it still goes in whole). A frame is
/// decrypted, checked and copied into the rings before the next one, so
/// it had better stay in the receiving core's cache: with 1 KiB tuples,
/// frames of 256 KiB moved about 7 % more bytes between two nodes than
/// frames of 2 MiB (the default `max_frame`), and no fewer 9-byte tuples.
pub(crate) const FRAME_TARGET: usize = 256 << 10;

/// The records of a worker's record batch (one ring record), for the
/// count of dropped records: those whose headers are whole, at least one.
fn records_in(batch: &[u8]) -> u64 {
    (BodyRecords::new(batch).count() as u64).max(1)
}

/// A backend's handle for one connection.
pub(crate) type ConnKey = usize;

/// Why a connection is closed, and whether it counts as bad input.
#[derive(Debug)]
pub(crate) struct Close {
    pub reason: String,
    /// Refused handshake or bad input (logged as a warning, counted).
    pub bad: bool,
}

impl Close {
    pub fn bad(reason: impl Into<String>) -> Self {
        Close {
            reason: reason.into(),
            bad: true,
        }
    }

    pub fn normal(reason: impl Into<String>) -> Self {
        Close {
            reason: reason.into(),
            bad: false,
        }
    }
}

/// What a connection wants from its backend next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Interest {
    /// Receive into [`Conn::recv_space`].
    pub read: bool,
    /// Send [`Conn::send_bufs`].
    pub write: bool,
    /// Records moved through shared-memory rings in this pump.
    pub progress: bool,
}

/// A frame whose records are being placed into inbound rings; resumes where
/// it stopped when a ring was full.
struct Delivery {
    len: usize,
    /// The frame with its tag.
    tagged: usize,
}

/// One TCP connection's protocol state.
pub(crate) struct Conn {
    pub key: ConnKey,
    pub remote: SocketAddr,
    hs: Handshake,
    /// Index of the peer in [`LinkCore::peers`], once known.
    pub(super) peer: Option<usize>,
    pub(super) inbuf: RecvBuf,
    hs_out: Vec<u8>,
    hs_sent: usize,
    frames: OutFrames,
    deadline: Instant,
    /// An accepted connection must send its hello by then.
    hello_deadline: Instant,
    delivery: Option<Delivery>,
    /// The delivery of the frame being delivered.
    runs: Runs,
    /// A refusal to send before closing.
    closing: Option<Close>,
    /// The kernel may be writing into `recv_space` (io_uring): the receive
    /// buffer must not be touched, so input is processed only after the
    /// receive completes.
    pub recv_busy: bool,
    /// The rings of a same-host peer (set when the handshake completes).
    pub(super) shm: Option<ShmLink>,
    /// The frame keys and sequence numbers (set when the handshake
    /// completes).
    session: Option<Session>,
    /// The peer sent its goodbye: it stops on purpose.
    peer_said_goodbye: bool,
    /// Our goodbye is queued (the link is stopping).
    goodbye_sent: bool,
    /// An accepted connection counted in `LinkCore::admission`.
    counted: bool,
    /// Until then, a frame is built only from [`MIN_FRAME`] bytes on.
    next_small_frame: Instant,
}

impl Conn {
    /// Room to receive into (never empty while [`Interest::read`]).
    pub fn recv_space(&mut self) -> &mut [u8] {
        self.inbuf.spare()
    }

    /// Marks `n` bytes of [`recv_space`](Self::recv_space) as received.
    pub fn received(&mut self, n: usize) {
        self.inbuf.commit(n);
    }

    /// The bytes to send next, to be written in order with one gathered
    /// write (both empty when there is nothing to send). Handshake messages
    /// go alone; then up to two finished frames.
    pub fn send_bufs(&self) -> [&[u8]; 2] {
        if self.hs_sent < self.hs_out.len() {
            return [&self.hs_out[self.hs_sent..], &[]];
        }
        self.frames.bufs()
    }

    /// Whether there is nothing to send.
    pub fn send_idle(&self) -> bool {
        self.send_bufs()[0].is_empty()
    }

    /// Marks `n` bytes of [`send_bufs`](Self::send_bufs) as sent. Returns
    /// the records of the frames completed by this.
    fn advance_sent(&mut self, n: usize) -> Option<u64> {
        if self.hs_sent < self.hs_out.len() {
            self.hs_sent += n;
            if self.hs_sent == self.hs_out.len() {
                self.hs_out.clear();
                self.hs_sent = 0;
            }
            return None;
        }
        Some(self.frames.advance(n))
    }

    /// Why the connection ended when the peer closed it: a clean close
    /// between messages, or a truncated frame or handshake message.
    pub fn eof_reason(&self) -> Close {
        let pending = self.inbuf.filled().len();
        if pending > 0 || self.delivery.is_some() {
            Close::bad(format!(
                "connection closed in the middle of a {} ({pending} bytes of it received)",
                if self.hs.is_up() {
                    "frame"
                } else {
                    "handshake message"
                }
            ))
        } else if !self.hs.is_up() {
            Close::normal("connection closed during the handshake")
        } else {
            Close::normal("peer closed the connection")
        }
    }

    /// The session's keys, for tests that seal frames as the peer would.
    #[cfg(test)]
    pub(super) fn session_mut(&mut self) -> Option<&mut Session> {
        self.session.as_mut()
    }

    /// Whether the handshake is complete.
    pub fn is_up(&self) -> bool {
        self.hs.is_up()
    }

    /// Whether this connection still has to send something before the
    /// link stops: frames, or its goodbye.
    pub fn stop_pending(&self) -> bool {
        self.is_up() && (!self.send_idle() || !self.goodbye_sent)
    }

    /// Queues the goodbye (once): the link is stopping and everything for
    /// the peer is out of its rings (`drained`). A same-host peer gets it
    /// over the TCP connection too, so that it can tell a stop from a
    /// crash.
    fn say_goodbye(&mut self, drained: bool) {
        if self.goodbye_sent || !drained || self.frames.queued() > 0 {
            return;
        }
        if let Some(session) = self.session.as_mut() {
            self.goodbye_sent = self.frames.seal_goodbye(session);
        }
    }
}

/// One configured peer.
pub(crate) struct Peer {
    pub id: NodeId,
    pub addr: SocketAddr,
    /// Index of the peer's name in the resolver, if it has one (and we
    /// dial it).
    host: Option<usize>,
    pub(super) outbound: Vec<Consumer>,
    pub(super) next_ring: usize,
    /// The connection that carries records (handshake complete).
    active: Option<ConnKey>,
    /// A dial in progress.
    dialing: Option<ConnKey>,
    /// We dial this peer (lower id dials higher).
    we_dial: bool,
    /// Records travel through `/dev/shm` rings.
    same_host: bool,
    ever_up: bool,
    backoff: Duration,
    next_dial: Instant,
}

/// Everything but the sockets.
pub(crate) struct LinkCore {
    pub(super) id: Identity,
    max_frame: usize,
    frame_target: usize,
    recv_limit: usize,
    handshake_timeout: Duration,
    reconnect: (Duration, Duration),
    pub(super) route: Box<dyn InboundRoute>,
    pub(super) inbound: Vec<Producer>,
    pub peers: Vec<Peer>,
    pub shared: Arc<LinkShared>,
    to_close: Vec<ConnKey>,
    /// Which addresses may connect; accepted connections still in their
    /// handshake.
    admission: Admission,
    /// The IP this node listens on; dials start from it.
    listen_ip: std::net::IpAddr,
    /// When the names of the peers were last refreshed because a
    /// connection came from an address not (yet) theirs.
    admit_refreshed: Option<Instant>,
    /// Warnings about dropped handshakes, rate-limited.
    noise: Noise,
    shm_dir: std::path::PathBuf,
    /// Largest outbound record: the maximum record of same-host rings.
    largest_record: usize,
    /// Resolves the names of the peers we dial.
    resolver: super::resolve::Resolver,
    /// Delivery stopped at a full inbound ring since the last `park`.
    inbound_full: bool,
    /// The link is stopping: connections send their goodbye once their
    /// records are out.
    stopping: bool,
}

impl LinkCore {
    /// Checks the configuration and the rings and builds the core.
    pub fn new(
        config: &LinkConfig,
        rings: LinkRings,
        route: Box<dyn InboundRoute>,
        shared: Arc<LinkShared>,
    ) -> Result<LinkCore, LinkError> {
        let cfg_err = |m: String| Err(LinkError::Config(m));
        if config.secret.len() < MIN_SECRET_LEN {
            return cfg_err(format!(
                "the cluster secret has {} bytes; it needs at least {} random bytes",
                config.secret.len(),
                MIN_SECRET_LEN
            ));
        }
        if config.max_frame > gale_codec::MAX_FRAME_BODY || config.max_frame < 4096 {
            return cfg_err(format!(
                "max_frame {} is outside 4096..={}",
                config.max_frame,
                gale_codec::MAX_FRAME_BODY
            ));
        }
        if config.reconnect_min.is_zero() || config.reconnect_max < config.reconnect_min {
            return cfg_err("reconnect delays must satisfy 0 < min <= max".into());
        }
        let mut largest = 0;
        let mut peers = Vec::with_capacity(config.peers.len());
        let mut hosts = Vec::new();
        let now = Instant::now();
        for spec in &config.peers {
            if spec.id == config.node {
                return cfg_err(format!("node {} lists itself as a peer", spec.id));
            }
            if peers.iter().any(|p: &Peer| p.id == spec.id) {
                return cfg_err(format!("peer {} is listed twice", spec.id));
            }
            let we_dial = config.node < spec.id;
            // Every named peer is resolved in the background: the ones we
            // dial to dial them, all of them to admit their connections
            // (a pod back at a new IP, a name that had no address yet).
            let host = spec.host.as_ref().map(|name| {
                let first = (!spec.addr.ip().is_unspecified()).then_some(spec.addr);
                hosts.push((name.clone(), first));
                hosts.len() - 1
            });
            let host = host.filter(|_| we_dial);
            peers.push(Peer {
                id: spec.id,
                addr: spec.addr,
                host,
                outbound: Vec::new(),
                next_ring: 0,
                active: None,
                dialing: None,
                we_dial,
                same_host: spec.same_host,
                ever_up: false,
                backoff: config.reconnect_min,
                next_dial: now,
            });
        }
        for (id, rings) in rings.outbound {
            let Some(peer) = peers.iter_mut().find(|p| p.id == id) else {
                return cfg_err(format!("outbound rings for node {id}, which is not a peer"));
            };
            if !peer.outbound.is_empty() {
                return cfg_err(format!("outbound rings for node {id} are given twice"));
            }
            largest = rings
                .iter()
                .map(Consumer::max_record)
                .fold(largest, usize::max);
            if let Some(bell) = &shared.doorbell {
                for ring in &rings {
                    ring.set_doorbell(Arc::clone(bell));
                }
            }
            peer.outbound = rings;
        }
        if peers.iter().any(|p| p.same_host) {
            if !config.shm_dir.is_dir() {
                return cfg_err(format!(
                    "shm_dir {} is not a directory",
                    config.shm_dir.display()
                ));
            }
            if largest > super::shm_peer::SHM_RING_BYTES / 2 - 8 {
                return cfg_err(format!(
                    "outbound records of up to {largest} bytes do not fit a same-host ring"
                ));
            }
            remove_stale(&config.shm_dir, config.node);
        }
        let slack = FrameHeader::LEN + 8 + largest.next_multiple_of(8);
        if config.max_frame < slack * 2 {
            return cfg_err(format!(
                "max_frame {} is too small for outbound records of up to {largest} bytes",
                config.max_frame
            ));
        }
        let resolver = super::resolve::Resolver::start(config.node, hosts, config.resolve.clone())
            .map_err(|source| LinkError::Io {
                context: "spawning the resolver thread",
                source,
            })?;
        Ok(LinkCore {
            id: Identity {
                node: config.node,
                secret: config.secret.clone(),
                fingerprint: config.fingerprint,
            },
            max_frame: config.max_frame,
            frame_target: (config.max_frame - slack).min(FRAME_TARGET),
            recv_limit: FrameHeader::LEN + config.max_frame + TAG_LEN + 4096,
            handshake_timeout: config.handshake_timeout,
            reconnect: (config.reconnect_min, config.reconnect_max),
            route,
            inbound: rings.inbound,
            peers,
            shared,
            to_close: Vec::new(),
            admission: Admission::new(
                config
                    .peers
                    .iter()
                    .map(|p| p.addr.ip())
                    .filter(|ip| !ip.is_unspecified()),
            ),
            noise: Noise::new(now),
            listen_ip: config.listen.ip(),
            admit_refreshed: None,
            shm_dir: config.shm_dir.clone(),
            largest_record: largest,
            resolver,
            inbound_full: false,
            stopping: false,
        })
    }

    /// This node's id.
    pub fn node(&self) -> NodeId {
        self.id.node
    }

    /// Starts a non-blocking connect to peer `p`, from this node's listen
    /// IP when it has a concrete one (so the peer's admission control sees
    /// the address the cluster file names for this node).
    pub fn dial_socket(&self, p: usize) -> std::io::Result<mio::net::TcpStream> {
        let remote = self.peers[p].addr;
        #[cfg(target_os = "linux")]
        if !self.listen_ip.is_unspecified() && self.listen_ip.is_ipv4() == remote.is_ipv4() {
            return super::sys::connect_from(self.listen_ip, remote);
        }
        mio::net::TcpStream::connect(remote)
    }

    fn counters(&self, peer: usize) -> &PeerCounters {
        &self.shared.peers[peer]
    }

    /// A new connection: dialed to `dial` (a peer index) or accepted.
    pub fn new_conn(
        &mut self,
        key: ConnKey,
        remote: SocketAddr,
        dial: Option<usize>,
        now: Instant,
    ) -> std::io::Result<Conn> {
        // Large enough for every handshake message a side sends, so appends
        // never reallocate while io_uring may be sending from it.
        if dial.is_none() {
            // Named peers' latest addresses are theirs too.
            for h in 0..self.resolver.len() {
                if let Some(addr) = self.resolver.host(h).latest() {
                    self.admission.allow(addr.ip());
                }
            }
            if let Err((kind, reason)) = self.admission.admit(remote.ip()) {
                if kind == super::admit::NOT_IN_CLUSTER
                    && self
                        .admit_refreshed
                        .is_none_or(|at| now.duration_since(at) >= Duration::from_secs(1))
                {
                    // Perhaps a named peer at a new address: look the
                    // names up again (at most once a second), so its next
                    // try is admitted.
                    self.admit_refreshed = Some(now);
                    for h in 0..self.resolver.len() {
                        self.resolver.refresh(h);
                    }
                }
                self.noise.report(self.id.node, now, kind, || {
                    format!("link: dropping new connection from {remote}: {reason}")
                });
                PeerCounters::add(&self.shared.rejected, 1);
                return Err(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    reason,
                ));
            }
        }
        let mut hs_out = Vec::with_capacity(HS_OUT_CAPACITY);
        let hs = match Handshake::new(&self.id, dial.map(|p| self.peers[p].id), &mut hs_out) {
            Ok(hs) => hs,
            Err(e) => {
                if dial.is_none() {
                    self.admission.release(remote.ip());
                }
                return Err(e);
            }
        };
        if let Some(p) = dial {
            self.peers[p].dialing = Some(key);
        }
        Ok(Conn {
            key,
            remote,
            hs,
            peer: dial,
            inbuf: RecvBuf::new((64 << 10).min(self.recv_limit), self.recv_limit),
            hs_out,
            hs_sent: 0,
            frames: OutFrames::new(),
            deadline: now + self.handshake_timeout,
            hello_deadline: now + HELLO_TIMEOUT.min(self.handshake_timeout),
            delivery: None,
            runs: Runs::default(),
            closing: None,
            recv_busy: false,
            shm: None,
            session: None,
            peer_said_goodbye: false,
            goodbye_sent: false,
            counted: dial.is_none(),
            next_small_frame: now,
        })
    }

    /// Runs a connection's protocol on what it received and what the
    /// workers wrote: handshake, validation and delivery of frames, and the
    /// next outbound frame. `Err` means: close it (after which the backend
    /// calls [`closed`](Self::closed)).
    pub fn pump(&mut self, conn: &mut Conn, now: Instant) -> Result<Interest, Close> {
        if conn.closing.is_some() {
            // A peer that does not even read our refusal is not waited for.
            if conn.send_idle() || now >= conn.deadline {
                return Err(conn.closing.take().expect("checked"));
            }
            return Ok(Interest {
                read: false,
                write: true,
                progress: false,
            });
        }
        let mut progress = false;
        if !conn.hs.is_up() {
            if now >= conn.deadline {
                return Err(Close::bad(format!(
                    "handshake not completed within {:?}",
                    self.handshake_timeout
                )));
            }
            if conn.counted && !conn.hs.got_hello() && now >= conn.hello_deadline {
                return Err(Close::bad(format!(
                    "no hello within {:?}",
                    HELLO_TIMEOUT.min(self.handshake_timeout)
                )));
            }
            if conn.recv_busy {
                // Input is processed when the receive completes.
            } else if let Err(close) = self.handshake(conn) {
                if conn.send_idle() {
                    return Err(close);
                }
                // Send the refusal first.
                conn.closing = Some(close);
                return Ok(Interest {
                    read: false,
                    write: true,
                    progress: false,
                });
            }
        }
        let result = if let Some(shm) = conn.shm.as_mut() {
            let p = conn.peer.expect("up connections are identified");
            let to = ShmDelivery {
                me: self.id.node,
                peer: self.peers[p].id,
                inbound: &mut self.inbound,
                route: &*self.route,
                counters: &self.shared.peers[p],
            };
            let delivered = shm
                .deliver(&mut conn.inbuf, conn.recv_busy, to)
                .map(|moved| progress |= moved)
                .map_err(Close::bad);
            // After its ring message, a same-host peer sends only its
            // goodbye over TCP, sealed like any frame.
            match delivered {
                Ok(()) if shm.peer_ring_open() && !conn.recv_busy => self.deliver(conn),
                other => other,
            }
        } else if conn.hs.is_up() && !conn.recv_busy {
            self.deliver(conn)
        } else {
            Ok(())
        };
        for ring in &mut self.inbound {
            ring.flush();
        }
        result?;
        if conn.hs.is_up() {
            if let Some(p) = conn
                .peer
                .filter(|&p| self.peers[p].active == Some(conn.key))
            {
                if let Some(shm) = conn.shm.as_mut() {
                    let peer = &mut self.peers[p];
                    let counters = &self.shared.peers[p];
                    progress |= shm.fill(&mut peer.outbound, &mut peer.next_ring, counters);
                    let drained = shm.all_out() && peer.outbound.iter().all(Consumer::is_empty);
                    conn.say_goodbye(self.stopping && drained);
                } else {
                    self.fill_frame(p, conn, now);
                }
            }
        }
        if !conn.recv_busy && conn.delivery.is_none() && conn.inbuf.spare_len() == 0 {
            let want = (conn.inbuf.filled().len() + (64 << 10)).min(self.recv_limit);
            conn.inbuf.make_room(want);
        }
        Ok(Interest {
            read: conn.delivery.is_none() && conn.inbuf.spare_len() > 0,
            write: !conn.send_idle(),
            progress,
        })
    }

    /// Reports that `n` bytes of `conn.send_bufs()` went out.
    pub fn sent(&mut self, conn: &mut Conn, n: usize) {
        let frame = conn.hs_sent >= conn.hs_out.len();
        if let Some(p) = conn.peer {
            if frame {
                PeerCounters::add(&self.counters(p).bytes_out, n as u64);
            }
            if let Some(records) = conn.advance_sent(n) {
                PeerCounters::add(&self.counters(p).records_out, records);
            }
        } else {
            conn.advance_sent(n);
        }
    }

    /// Handshake messages in the receive buffer. On a refusal, returns the
    /// close reason; the refuse message is queued for sending.
    fn handshake(&mut self, conn: &mut Conn) -> Result<(), Close> {
        while !conn.hs.is_up() {
            let avail = conn.inbuf.filled();
            let header = match MsgHeader::parse(avail) {
                Ok(None) => {
                    conn.inbuf.make_room(MSG_HEADER);
                    return Ok(());
                }
                Ok(Some(h)) => h,
                Err(e) => return Err(Close::bad(format!("bad handshake: {e}"))),
            };
            let len = MSG_HEADER + header.len;
            if avail.len() < len {
                conn.inbuf.make_room(len);
                return Ok(());
            }
            let body = &avail[MSG_HEADER..len];
            let (node, peers) = (self.id.node, &self.peers);
            let acceptable = |from: NodeId| {
                match peers.iter().find(|p| p.id == from) {
                None => Err(format!("node {from} is not in this node's cluster file")),
                Some(p) if p.we_dial => Err(format!(
                    "node {from} dialed node {node}, but the lower id dials (node {node} dials {from})"
                )),
                Some(_) => Ok(()),
            }
            };
            let step = conn
                .hs
                .on_message(&self.id, header, body, acceptable, &mut conn.hs_out);
            conn.inbuf.consume(len);
            match step {
                Ok(Step::Continue) => {}
                Ok(Step::Identified(id)) => {
                    conn.peer = self.peers.iter().position(|p| p.id == id);
                }
                Ok(Step::Up) => self.on_up(conn)?,
                Err(HandshakeError::Refused { code, reason }) => {
                    return Err(Close::bad(format!("refusing ({code:?}): {reason}")));
                }
                Err(HandshakeError::PeerRefused { code, reason }) => {
                    return Err(Close::bad(format!(
                        "peer refused the handshake ({code:?}): {reason}"
                    )));
                }
                Err(HandshakeError::Protocol(reason)) => {
                    return Err(Close::bad(format!("bad handshake: {reason}")))
                }
            }
        }
        Ok(())
    }

    fn on_up(&mut self, conn: &mut Conn) -> Result<(), Close> {
        let p = conn
            .peer
            .expect("a connection is identified before it is up");
        if std::mem::take(&mut conn.counted) {
            self.admission.release(conn.remote.ip());
        }
        conn.session = conn.hs.take_session();
        let peer = &mut self.peers[p];
        if peer.same_host {
            let shm = ShmLink::create(
                &self.shm_dir,
                self.id.node,
                peer.id,
                self.largest_record,
                &mut conn.hs_out,
            )
            .map_err(|e| Close::bad(format!("cannot create the same-host ring: {e}")))?;
            conn.shm = Some(shm);
        }
        if let Some(old) = peer.active.replace(conn.key) {
            if old != conn.key {
                self.to_close.push(old);
            }
        }
        if peer.dialing == Some(conn.key) {
            peer.dialing = None;
        }
        peer.backoff = self.reconnect.0;
        let counters = &self.shared.peers[p];
        if peer.ever_up {
            PeerCounters::add(&counters.reconnects, 1);
        }
        peer.ever_up = true;
        counters.set_state(PeerState::Up);
        counters
            .shm
            .store(conn.shm.is_some(), std::sync::atomic::Ordering::Relaxed);
        info!(
            node = self.id.node,
            peer = peer.id,
            remote = %conn.remote,
            shm = conn.shm.is_some(),
            "link: connected to node {}",
            peer.id
        );
        Ok(())
    }

    /// Validates and delivers complete frames from the receive buffer.
    fn deliver(&mut self, conn: &mut Conn) -> Result<(), Close> {
        let p = conn.peer.expect("up connections are identified");
        let peer_id = self.peers[p].id;
        loop {
            if conn.delivery.is_none() {
                let avail = conn.inbuf.filled();
                if avail.len() < FrameHeader::LEN {
                    return Ok(());
                }
                let header = FrameHeader::parse(avail)
                    .map_err(|e| Close::bad(format!("bad frame from node {peer_id}: {e}")))?;
                if header.body_len as usize > self.max_frame {
                    return Err(Close::bad(format!(
                        "frame from node {peer_id} of {} bytes exceeds the {}-byte limit",
                        header.body_len, self.max_frame
                    )));
                }
                let len = header.frame_len();
                if avail.len() < len + TAG_LEN {
                    conn.inbuf.make_room(len + TAG_LEN);
                    return Ok(());
                }
                let session = conn.session.as_mut().expect("set when up");
                let (frame, tag) = conn.inbuf.filled_mut()[..len + TAG_LEN].split_at_mut(len);
                if let Err(forged) = session.open(frame, tag) {
                    return Err(Close::bad(format!(
                        "frame {} from node {peer_id} failed authentication (modified, injected, \
                         replayed or reordered on the way, or not from the node)",
                        forged.seq
                    )));
                }
                if header.count == 0 {
                    // The goodbye: the peer stops on purpose.
                    conn.peer_said_goodbye = true;
                    conn.inbuf.consume(len + TAG_LEN);
                    continue;
                }
                if conn.shm.is_some() {
                    return Err(Close::bad(format!(
                        "records over TCP from same-host node {peer_id} (they belong in its ring)"
                    )));
                }
                let avail = conn.inbuf.filled();
                // One walk: the frame's structure and each record's route.
                let targets = &mut conn.runs.targets;
                targets.reset(Runs::limit_of(&self.inbound));
                self.route
                    .route_frame(peer_id, &avail[..len], targets)
                    .map_err(|refused| match refused {
                        Refusal::Frame(e) => {
                            Close::bad(format!("bad frame from node {peer_id}: {e}"))
                        }
                        Refusal::Record { index, reason } => Close::bad(format!(
                            "record {index} of a frame from node {peer_id} refused: {reason}"
                        )),
                    })?;
                // (A route that named no worker, or several, for some
                // record would make the runs below read past the frame.)
                if targets.len() != header.count as usize {
                    return Err(Close::bad(format!(
                        "the route named {} workers for the {} records of a frame from node \
                         {peer_id}",
                        targets.len(),
                        header.count
                    )));
                }
                let workers = self.inbound.len();
                if let Some((index, worker)) = targets.first_beyond(workers) {
                    return Err(Close::bad(format!(
                        "record {index} from node {peer_id} routed to worker {worker}, but there \
                         are {workers}"
                    )));
                }
                conn.runs.start(FrameHeader::LEN);
                conn.delivery = Some(Delivery {
                    len,
                    tagged: len + TAG_LEN,
                });
            }
            let d = conn.delivery.as_mut().expect("set above");
            let frame = &conn.inbuf.filled()[..d.len];
            match conn.runs.deliver(frame, &mut self.inbound) {
                Ok(true) => {}
                // The worker has not drained its ring: stop here and stop
                // reading this socket until it has.
                Ok(false) => {
                    self.inbound_full = true;
                    return Ok(());
                }
                Err(TooLarge { index, worker, max }) => {
                    return Err(Close::bad(format!(
                        "record {index} from node {peer_id} does not fit worker {worker}'s ring \
                         (at most {max} bytes)"
                    )))
                }
            }
            let counters = &self.shared.peers[p];
            PeerCounters::add(&counters.records_in, conn.runs.delivered() as u64);
            PeerCounters::add(&counters.bytes_in, d.tagged as u64);
            conn.inbuf.consume(d.tagged);
            conn.delivery = None;
        }
    }

    /// Moves records from the peer's outbound rings into the connection's
    /// next frame, up to the frame target.
    fn fill_frame(&mut self, p: usize, conn: &mut Conn, now: Instant) {
        let peer = &mut self.peers[p];
        // While a frame is out, build the second one only if half a frame
        // is waiting: small frames would cost a send each.
        if conn.frames.queued() > 0 {
            let waiting: usize = peer.outbound.iter().map(Consumer::len_bytes).sum();
            if waiting < self.frame_target / 2 {
                return;
            }
        } else if now < conn.next_small_frame && !self.stopping {
            // Right after a frame, wait (up to Idle::SHORT) for more than
            // a few worker batches: a loop that chases the workers would
            // otherwise send a small frame per batch.
            let waiting: usize = peer.outbound.iter().map(Consumer::len_bytes).sum();
            if waiting < MIN_FRAME.min(self.frame_target) {
                return;
            }
        }
        let Some(frame) = conn.frames.free() else {
            return;
        };
        let n = peer.outbound.len();
        let mut dropped = 0u64;
        for k in 0..n {
            if frame.len_bytes() >= self.frame_target {
                break;
            }
            let ring = &mut peer.outbound[(peer.next_ring + k) % n];
            let mut batch = ring.read();
            for records in batch.records() {
                // Each ring record is a worker's record batch, appended
                // whole. Cannot fail: a batch is at most the rings'
                // max_record and the frame stays under max_frame (checked
                // in `new`); a malformed batch would be dropped whole.
                if frame.push_body(records).is_err() {
                    dropped += records_in(records);
                }
                if frame.len_bytes() >= self.frame_target {
                    break;
                }
            }
        }
        if n > 0 {
            peer.next_ring = (peer.next_ring + 1) % n;
        }
        if dropped > 0 {
            PeerCounters::add(&self.shared.peers[p].dropped, dropped);
        }
        if self.stopping && peer.outbound.iter().all(Consumer::is_empty) {
            conn.say_goodbye(true);
            if conn.goodbye_sent {
                return;
            }
        }
        let Some(session) = conn.session.as_mut() else {
            return;
        };
        if conn.frames.seal(session) {
            conn.next_small_frame = now + Idle::SHORT;
        }
    }

    /// A connection is gone (closed by us, by the peer, or failed).
    pub fn closed(&mut self, conn: &Conn, close: Close, now: Instant) {
        if conn.counted {
            self.admission.release(conn.remote.ip());
        }
        let node = self.id.node;
        let who = match conn.peer {
            Some(p) => format!("node {}", self.peers[p].id),
            None => String::from("unidentified peer"),
        };
        if close.bad && !conn.is_up() {
            self.noise.report(node, now, "bad handshakes", || {
                format!(
                    "link: dropping connection to {who} from {}: {}",
                    conn.remote, close.reason
                )
            });
        } else if close.bad {
            warn!(node, remote = %conn.remote, "link: dropping connection to {who}: {}", close.reason);
        } else if !conn.is_up() {
            // Dials to a peer that is not there yet: expected while it starts.
            tracing::debug!(node, remote = %conn.remote, "link: connection to {who} failed: {}", close.reason);
        } else if self.lost(conn) {
            let p = conn.peer.expect("lost connections are identified");
            let waiting: usize = self.peers[p].outbound.iter().map(Consumer::len_bytes).sum();
            PeerCounters::add(&self.shared.peers[p].lost, 1);
            warn!(
                node,
                peer = self.peers[p].id,
                remote = %conn.remote,
                shm = conn.shm.is_some(),
                unsent_records = conn.frames.unsent_records(),
                queued_bytes = waiting,
                partial_bytes_in = conn.inbuf.filled().len(),
                "link: lost {who} while running ({}): {} records in unsent frames and {waiting} \
                 bytes of records queued to it are dropped, {} bytes of a frame from it were \
                 cut off; tuples in flight to and from it are lost (replayed by reliable spouts)",
                close.reason,
                conn.frames.unsent_records(),
                conn.inbuf.filled().len()
            );
        } else {
            info!(node, remote = %conn.remote, "link: connection to {who} closed: {}", close.reason);
        }
        if let Some(shm) = &conn.shm {
            shm.remove_files();
        }
        let Some(p) = conn.peer else {
            if close.bad {
                self.shared
                    .rejected
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            return;
        };
        if close.bad {
            PeerCounters::add(&self.counters(p).refused, 1);
        }
        let peer = &mut self.peers[p];
        if peer.active == Some(conn.key) {
            peer.active = None;
            self.shared.peers[p].set_state(PeerState::Down);
        }
        if peer.dialing == Some(conn.key) {
            peer.dialing = None;
        }
        if peer.we_dial && peer.active.is_none() && peer.dialing.is_none() {
            peer.next_dial = now + peer.backoff;
            peer.backoff = (peer.backoff * 2).min(self.reconnect.1);
            // The peer may be back at another address.
            if let Some(h) = peer.host {
                self.resolver.refresh(h);
            }
        }
    }

    /// Whether closing `conn` loses its peer: the connection carried
    /// records (up, the peer's active one, over TCP or same-host rings),
    /// neither side is stopping on purpose, and the peer did not say
    /// goodbye.
    fn lost(&self, conn: &Conn) -> bool {
        conn.is_up()
            && !self.stopping
            && !conn.peer_said_goodbye
            && conn
                .peer
                .is_some_and(|p| self.peers[p].active == Some(conn.key))
    }

    /// The link is stopping: each connection sends its goodbye once its
    /// records are out, and no later close counts as a lost peer.
    pub fn begin_stop(&mut self) {
        self.stopping = true;
    }

    /// Periodic work: drop records for peers that are down, and return the
    /// peers to dial now (into `dials`).
    pub fn tick(&mut self, now: Instant, dials: &mut Vec<usize>) {
        dials.clear();
        self.noise.flush(self.id.node, now);
        for (p, peer) in self.peers.iter_mut().enumerate() {
            if peer.active.is_none() && peer.ever_up {
                let mut dropped = 0u64;
                for ring in &mut peer.outbound {
                    dropped += ring.read().records().map(records_in).sum::<u64>();
                }
                if dropped > 0 {
                    PeerCounters::add(&self.shared.peers[p].dropped, dropped);
                }
            }
            if peer.we_dial
                && peer.active.is_none()
                && peer.dialing.is_none()
                && now >= peer.next_dial
            {
                if let Some(h) = peer.host {
                    let host = self.resolver.host(h);
                    let Some(addr) = host.latest() else {
                        // No address yet: ask again, dial later.
                        peer.next_dial = now + peer.backoff;
                        self.resolver.refresh(h);
                        continue;
                    };
                    if addr != peer.addr {
                        info!(
                            node = self.id.node,
                            peer = peer.id,
                            host = %host.host,
                            %addr,
                            "link: dialing the peer at a new address"
                        );
                        peer.addr = addr;
                        self.admission.allow(addr.ip());
                    }
                }
                dials.push(p);
            }
        }
    }

    /// A dial that failed before a connection existed.
    pub fn dial_failed(&mut self, p: usize, reason: &std::io::Error, now: Instant) {
        let peer = &mut self.peers[p];
        tracing::debug!(
            node = self.id.node,
            peer = peer.id,
            "link: cannot dial {}: {reason}",
            peer.addr
        );
        peer.next_dial = now + peer.backoff;
        peer.backoff = (peer.backoff * 2).min(self.reconnect.1);
        if let Some(h) = peer.host {
            self.resolver.refresh(h);
        }
    }

    /// An accepted connection that could not be taken (too many in their
    /// handshake, or a socket error); the backend closes it.
    pub fn rejected(&mut self, remote: SocketAddr, reason: &std::io::Error) {
        if reason.kind() == std::io::ErrorKind::PermissionDenied {
            // Refused by admission control: reported and counted there.
            return;
        }
        let now = Instant::now();
        self.noise.report(self.id.node, now, "socket errors", || {
            format!("link: dropping new connection from {remote}: {reason}")
        });
        PeerCounters::add(&self.shared.rejected, 1);
    }

    /// Before sleeping on the doorbell: arms it, then looks at the
    /// outbound rings once more. Returns whether the thread may sleep (no
    /// ring of a connected peer has records; else the bell is disarmed and
    /// the caller waits on the short timer instead). Without a doorbell,
    /// returns false.
    pub fn park(&mut self) -> bool {
        let Some(bell) = &self.shared.doorbell else {
            return false;
        };
        // The worker that drains a full inbound ring does not ring, nor
        // does a same-host peer writing its ring: keep polling for those.
        if std::mem::take(&mut self.inbound_full)
            || self.shared.peers.iter().any(|c| {
                c.state() == PeerState::Up && c.shm.load(std::sync::atomic::Ordering::Relaxed)
            })
        {
            return false;
        }
        bell.arm();
        if self.outbound_pending() {
            bell.disarm();
            return false;
        }
        true
    }

    /// After a sleep on the doorbell: producers need not ring any more.
    pub fn unpark(&self) {
        if let Some(bell) = &self.shared.doorbell {
            bell.disarm();
        }
    }

    /// The doorbell, if the link has one.
    pub fn doorbell(&self) -> Option<&Arc<crate::ring::Doorbell>> {
        self.shared.doorbell.as_ref()
    }

    /// Whether a connected peer still has records in its outbound rings
    /// (`stop` keeps sending them for a while).
    pub fn outbound_pending(&self) -> bool {
        self.peers
            .iter()
            .any(|p| p.active.is_some() && p.outbound.iter().any(|r| !r.is_empty()))
    }

    /// Connections replaced by a newer one to the same peer; the backend
    /// closes them.
    pub fn take_to_close(&mut self) -> Option<ConnKey> {
        self.to_close.pop()
    }
}
