//! Helpers for the link tests: nodes with their rings, a test route, record
//! payloads that carry (sender thread, sequence), and captured logs.
#![allow(dead_code)]

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use gale_transport::link::{
    Backend, InboundRecords, InboundRoute, Link, LinkConfig, LinkRings, NodeId, PeerSpec, PeerState,
};
use gale_transport::{ring, Consumer, Producer, ReserveError, RingConfig};

pub const SECRET: &[u8] = b"test cluster secret of 32+ bytes";
pub const FP: [u8; 32] = [7; 32];
/// Generous waits: the machine running the tests may be loaded.
pub const WAIT: Duration = Duration::from_secs(60);

/// The backends under test.
pub fn backends() -> [Backend; 2] {
    [Backend::Mio, Backend::IoUring]
}

/// A free port on `ip` (bound then released; good enough on loopback).
pub fn free_addr(ip: &str) -> SocketAddr {
    let l = TcpListener::bind((ip, 0)).expect("bind a free port");
    l.local_addr().unwrap()
}

/// Tasks are numbered `node * 100 + k`; a node owns its hundred and routes
/// task `t` to worker `t % workers`.
pub struct TestRoute {
    pub node: NodeId,
    pub workers: usize,
}

impl InboundRoute for TestRoute {
    fn route(&self, peer: NodeId, tag: u32, record: &[u8]) -> Result<usize, String> {
        let h: [u8; 8] = record
            .get(..8)
            .and_then(|h| h.try_into().ok())
            .ok_or_else(|| format!("record of {} bytes has no task prefix", record.len()))?;
        let task = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
        if u32::from_le_bytes([h[4], h[5], h[6], h[7]]) != 0 {
            return Err("reserved prefix bits set".into());
        }
        if tag != task {
            return Err(format!("tag {tag} is not the record's task {task}"));
        }
        // A panic on the I/O thread, for the test that it is reported.
        assert_ne!(task, u32::MAX, "the test route panics on task u32::MAX");
        if task / 100 != self.node {
            return Err(format!(
                "task {task} (from node {peer}) is not on node {}",
                self.node
            ));
        }
        Ok(task as usize % self.workers)
    }
}

/// A record for `task`: prefix, sender thread, sequence number, filler up to
/// `size` bytes in total.
pub fn record(task: u32, thread: u32, seq: u64, size: usize) -> Vec<u8> {
    let mut r = Vec::with_capacity(size.max(24));
    r.extend_from_slice(&task.to_le_bytes());
    r.extend_from_slice(&0u32.to_le_bytes());
    r.extend_from_slice(&thread.to_le_bytes());
    r.extend_from_slice(&0u32.to_le_bytes());
    r.extend_from_slice(&seq.to_le_bytes());
    while r.len() < size {
        r.push((r.len() as u8) ^ (seq as u8));
    }
    r
}

/// `record` (made by [`record`]) as a batch of one for an outbound ring,
/// tagged with its task.
pub fn batch(record: &[u8]) -> Vec<u8> {
    let task = u32::from_le_bytes(record[..4].try_into().expect("a task prefix"));
    let mut batch = vec![0; InboundRecords::one_len(record)];
    InboundRecords::write_one(task, record, &mut batch);
    batch
}

/// Decodes (task, sender thread, seq) and checks the filler.
pub fn decode(r: &[u8]) -> (u32, u32, u64) {
    assert!(r.len() >= 24, "record of {} bytes", r.len());
    let u32_at = |i: usize| u32::from_le_bytes(r[i..i + 4].try_into().unwrap());
    let seq = u64::from_le_bytes(r[16..24].try_into().unwrap());
    for (i, b) in r.iter().enumerate().skip(24) {
        assert_eq!(*b, (i as u8) ^ (seq as u8), "filler byte {i} damaged");
    }
    (u32_at(0), u32_at(8), seq)
}

/// One node under test: its link, the worker ends of its rings.
pub struct Node {
    pub id: NodeId,
    pub addr: SocketAddr,
    pub link: Option<Link>,
    /// Per peer: the producers the workers fill.
    pub out: Vec<(NodeId, Vec<Producer>)>,
    /// The consumers the workers drain.
    pub inbound: Vec<Consumer>,
}

#[derive(Clone)]
pub struct NodeSpec {
    pub id: NodeId,
    pub addr: SocketAddr,
    pub same_host: bool,
}

pub fn ring_config() -> RingConfig {
    RingConfig::new(1 << 16).with_max_record(4096).with_batch(8)
}

/// Starts node `me` of `all` with `workers` threads.
pub fn start_node(
    me: usize,
    all: &[NodeSpec],
    workers: usize,
    tune: impl FnOnce(&mut LinkConfig),
) -> Node {
    let spec = &all[me];
    let peers: Vec<PeerSpec> = all
        .iter()
        .filter(|n| n.id != spec.id)
        .map(|n| PeerSpec::new(n.id, n.addr).same_host(n.same_host && spec.same_host))
        .collect();
    let mut config = LinkConfig::new(spec.id, spec.addr, peers.clone(), SECRET, FP);
    config.reconnect_min = Duration::from_millis(20);
    config.reconnect_max = Duration::from_millis(200);
    tune(&mut config);
    let mut out = Vec::new();
    let mut outbound = Vec::new();
    for p in &peers {
        let (tx, rx): (Vec<_>, Vec<_>) = (0..workers).map(|_| ring(ring_config()).unwrap()).unzip();
        out.push((p.id, tx));
        outbound.push((p.id, rx));
    }
    let (inbound_tx, inbound): (Vec<_>, Vec<_>) =
        (0..workers).map(|_| ring(ring_config()).unwrap()).unzip();
    let link = Link::start(
        config,
        LinkRings {
            outbound,
            inbound: inbound_tx,
        },
        Box::new(TestRoute {
            node: spec.id,
            workers,
        }),
    )
    .expect("link starts");
    Node {
        id: spec.id,
        addr: spec.addr,
        link: Some(link),
        out,
        inbound,
    }
}

impl Node {
    pub fn link(&self) -> &Link {
        self.link.as_ref().unwrap()
    }

    pub fn state_of(&self, peer: NodeId) -> PeerState {
        self.link()
            .stats()
            .peers
            .iter()
            .find(|p| p.id == peer)
            .unwrap()
            .state
    }

    /// Pushes a record into worker `thread`'s ring for `peer`, waiting while
    /// the ring is full; returns how often it was full.
    pub fn push(&mut self, peer: NodeId, thread: usize, rec: &[u8]) -> u64 {
        self.push_batch(peer, thread, &batch(rec))
    }

    /// Pushes records (a record batch, as [`batch`] makes them, concatenated)
    /// into worker `thread`'s ring for `peer` as one ring record, as the
    /// engine's workers do, waiting while the ring is full; returns how often
    /// it was full.
    pub fn push_batch(&mut self, peer: NodeId, thread: usize, rec: &[u8]) -> u64 {
        let ring = &mut self.out.iter_mut().find(|(id, _)| *id == peer).unwrap().1[thread];
        let deadline = Instant::now() + WAIT;
        let mut full = 0;
        loop {
            match ring.try_push(rec) {
                Ok(()) => return full,
                Err(ReserveError::Full) => {
                    full += 1;
                    assert!(Instant::now() < deadline, "outbound ring stayed full");
                    std::thread::yield_now();
                }
                Err(e) => panic!("push: {e}"),
            }
        }
    }

    pub fn flush(&mut self) {
        for (_, rings) in &mut self.out {
            for r in rings {
                r.flush();
            }
        }
    }

    /// Drains every inbound ring once, passing (worker, record) to `f`.
    pub fn drain(&mut self, mut f: impl FnMut(usize, &[u8])) -> usize {
        let mut n = 0;
        for (w, ring) in self.inbound.iter_mut().enumerate() {
            let mut batch = ring.read();
            for (_, r) in batch.records().flat_map(InboundRecords::new) {
                f(w, r);
                n += 1;
            }
        }
        n
    }
}

/// Waits for `cond`, failing the test with `what` after [`WAIT`].
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Captured log output of the whole test binary.
#[derive(Clone, Default)]
pub struct LogBuf(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        std::io::stderr().write_all(buf)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

static LOGS: OnceLock<LogBuf> = OnceLock::new();

/// Installs the capturing subscriber (once per test binary).
pub fn logs() -> LogBuf {
    LOGS.get_or_init(|| {
        let buf = LogBuf::default();
        let writer = buf.clone();
        tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || writer.clone())
            .init();
        buf
    })
    .clone()
}

impl LogBuf {
    /// Whether one captured line contains every one of `parts`.
    pub fn has_line(&self, parts: &[&str]) -> bool {
        let text = String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned();
        text.lines().any(|l| parts.iter().all(|p| l.contains(p)))
    }

    /// How many captured lines contain every one of `parts`.
    pub fn count_lines(&self, parts: &[&str]) -> usize {
        let text = String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned();
        text.lines()
            .filter(|l| parts.iter().all(|p| l.contains(p)))
            .count()
    }

    /// Waits until a line contains all `parts`.
    pub fn wait_line(&self, parts: &[&str]) {
        wait_for(&format!("a log line with {parts:?}"), || {
            self.has_line(parts)
        });
    }
}

/// A private directory under /dev/shm for ring files, removed on drop.
pub struct ShmDir(std::path::PathBuf);

impl ShmDir {
    pub fn new(tag: &str) -> Self {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let base = if std::path::Path::new("/dev/shm").is_dir() {
            std::path::PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!(
            "gale-link-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        ShmDir(dir)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for ShmDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
