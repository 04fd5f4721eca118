//! Same-host peers: records travel through a pair of `/dev/shm` rings (one
//! per direction) instead of TCP. The TCP connection still carries the
//! handshake, then one ring message each way naming the sender's outbound
//! ring file, and then stays open as a liveness signal: when it drops
//! (the peer exited or was killed), both ring files are removed. The only
//! frame it carries after the ring message is the sealed goodbye of a
//! peer that stops on purpose (once its records are in the shared ring),
//! so that a peer lost without one is told from a stop, as over TCP.
//!
//! A ring file is named `gale-link-{from}-to-{to}-{generation}.ring`, the
//! generation being fresh random bits per connection, so a restarted process
//! never opens its dead predecessor's half-written ring: it only opens the
//! file its current peer names on the current connection, and only a name
//! of exactly that form for exactly this pair of nodes. At start a node also
//! removes the files its predecessors left (`gale-link-{me}-to-*`).
//!
//! Each ring record is a record batch, as in the workers' rings. A batch
//! read from a peer's ring is copied, then its records are routed
//! (validated) like records from TCP and delivered in runs; a batch whose
//! delivery finds a worker's ring full waits, and reading stops until it
//! is delivered (back-pressure), as does a batch that does not fit the
//! outbound ring.

use std::path::{Path, PathBuf};

use crate::{Consumer, Producer, ReserveError, RingConfig, RingError};

use gale_codec::AlignedVec;

use super::buf::RecvBuf;
use super::config::NodeId;
use super::msg::{encode_msg, MsgHeader, MsgKind, MSG_HEADER, WIRE_VERSION};
use super::route::{InboundRecords, InboundRoute};
use super::runs::{Runs, TooLarge};
use super::stats::PeerCounters;

/// Data area of each same-host ring.
pub(crate) const SHM_RING_BYTES: usize = 4 << 20;

/// The rings of one same-host connection.
pub(crate) struct ShmLink {
    dir: PathBuf,
    out: Producer,
    out_path: PathBuf,
    inp: Option<Consumer>,
    in_path: Option<PathBuf>,
    /// An outbound record batch that did not fit `out` yet.
    out_stash: Option<Vec<u8>>,
    /// A private copy of the inbound batch being checked and delivered
    /// (aligned for the check).
    in_batch: AlignedVec,
    /// The delivery of `in_batch`.
    in_runs: Runs,
    /// `in_batch` is partly delivered: a worker's ring was full.
    in_pending: bool,
}

fn prefix(from: NodeId, to: NodeId) -> String {
    format!("gale-link-{from}-to-{to}-")
}

/// Removes ring files a previous process of node `me` left in `dir`.
pub(crate) fn remove_stale(dir: &Path, me: NodeId) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mine = format!("gale-link-{me}-to-");
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(&mine) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

impl ShmLink {
    /// Creates this side's outbound ring file for `peer` and queues the ring
    /// message naming it into `out`.
    pub fn create(
        dir: &Path,
        me: NodeId,
        peer: NodeId,
        max_record: usize,
        out: &mut Vec<u8>,
    ) -> Result<ShmLink, RingError> {
        let mut generation = [0u8; 8];
        getrandom::fill(&mut generation).map_err(|e| RingError::Io {
            path: dir.to_path_buf(),
            source: std::io::Error::other(e),
        })?;
        let name = format!(
            "{}{:016x}.ring",
            prefix(me, peer),
            u64::from_le_bytes(generation)
        );
        let out_path = dir.join(&name);
        let config = RingConfig::new(SHM_RING_BYTES)
            .with_max_record(max_record.max(64))
            .with_batch(64);
        let producer = Producer::create_shm(&out_path, config)?;
        let mut body = Vec::with_capacity(8 + name.len());
        body.extend_from_slice(&(name.len() as u32).to_le_bytes());
        body.extend_from_slice(&0u32.to_le_bytes());
        body.extend_from_slice(name.as_bytes());
        encode_msg(WIRE_VERSION, MsgKind::Ring, &body, out);
        Ok(ShmLink {
            dir: dir.to_path_buf(),
            out: producer,
            out_path,
            inp: None,
            in_path: None,
            out_stash: None,
            in_batch: AlignedVec::new(),
            in_runs: Runs::default(),
            in_pending: false,
        })
    }

    /// Handles the peer's ring message: checks the name and opens the ring.
    pub fn open_peer_ring(&mut self, me: NodeId, peer: NodeId, body: &[u8]) -> Result<(), String> {
        if self.inp.is_some() {
            return Err("a second ring message".into());
        }
        let len = body
            .get(..4)
            .map(|h| u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize)
            .ok_or("malformed ring message")?;
        let name = body
            .get(8..8 + len)
            .and_then(|n| std::str::from_utf8(n).ok())
            .ok_or("malformed ring message")?;
        let expected = prefix(peer, me);
        let generation = name
            .strip_prefix(&expected)
            .and_then(|rest| rest.strip_suffix(".ring"))
            .ok_or_else(|| format!("ring file name {name:?} is not {expected}<generation>.ring"))?;
        if generation.len() != 16 || !generation.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("ring file name {name:?} has a bad generation"));
        }
        let path = self.dir.join(name);
        let consumer =
            Consumer::open_shm(&path).map_err(|e| format!("cannot open the peer's ring: {e}"))?;
        self.inp = Some(consumer);
        self.in_path = Some(path);
        Ok(())
    }

    /// Moves record batches from `rings` into the outbound ring until it
    /// is full; returns (records moved, records in batches too large for
    /// the shm ring).
    pub fn send_from(&mut self, rings: &mut [Consumer], start: usize) -> (u64, u64) {
        let (mut moved, mut dropped) = (0, 0);
        let records = |batch: &[u8]| InboundRecords::new(batch).count() as u64;
        if let Some(batch) = self.out_stash.take() {
            match self.out.try_push(&batch) {
                Ok(()) => moved += records(&batch),
                Err(ReserveError::Full) => {
                    self.out_stash = Some(batch);
                    self.out.flush();
                    return (0, 0);
                }
                Err(ReserveError::TooLarge { .. }) => dropped += records(&batch),
            }
        }
        let n = rings.len();
        'rings: for k in 0..n {
            let mut read = rings[(start + k) % n].read();
            for batch in read.records() {
                match self.out.try_push(batch) {
                    Ok(()) => moved += records(batch),
                    Err(ReserveError::Full) => {
                        self.out_stash = Some(batch.to_vec());
                        break 'rings;
                    }
                    Err(ReserveError::TooLarge { .. }) => dropped += records(batch),
                }
            }
        }
        self.out.flush();
        (moved, dropped)
    }

    /// Whether the peer's ring is open (its ring message came).
    pub fn peer_ring_open(&self) -> bool {
        self.inp.is_some()
    }

    /// Whether every record taken from the workers' rings is in the
    /// shared ring (none waits in the stash).
    pub fn all_out(&self) -> bool {
        self.out_stash.is_none()
    }

    /// Removes both ring files (the mappings stay valid until dropped).
    pub fn remove_files(&self) {
        let _ = std::fs::remove_file(&self.out_path);
        if let Some(p) = &self.in_path {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Where a same-host connection delivers the records it reads: the local
/// workers' inbound rings, through the engine's route, with the peer's
/// counters.
pub(crate) struct ShmDelivery<'a> {
    /// This node.
    pub me: NodeId,
    /// The peer.
    pub peer: NodeId,
    /// One ring per local worker thread.
    pub inbound: &'a mut [Producer],
    /// Validates each record and names its worker.
    pub route: &'a dyn InboundRoute,
    /// The peer's counters.
    pub counters: &'a PeerCounters,
}

impl ShmLink {
    /// A same-host connection's input: ring messages waiting in `inbuf`
    /// (unless the backend is receiving into it), then record batches from
    /// the peer's ring, validated and placed into the workers' rings.
    /// Returns whether any record moved, or why the connection must close
    /// (bad input).
    pub(crate) fn deliver(
        &mut self,
        inbuf: &mut RecvBuf,
        recv_busy: bool,
        to: ShmDelivery<'_>,
    ) -> Result<bool, String> {
        let peer_id = to.peer;
        if !recv_busy {
            self.ring_messages(inbuf, to.me, peer_id)?;
        }
        let counters = to.counters;
        let bad =
            |i: usize, e: String| format!("record {i} from same-host node {peer_id} refused: {e}");
        let (mut records, mut bytes) = (0u64, 0u64);
        // The rest of a batch that found a worker's ring full.
        if self.in_pending {
            if !deliver_batch(&mut self.in_runs, &self.in_batch, to.inbound, peer_id)? {
                return Ok(false);
            }
            self.in_pending = false;
            records += self.in_runs.delivered() as u64;
            bytes += self.in_batch.len() as u64;
        }
        let Some(ring) = self.inp.as_mut() else {
            PeerCounters::add(&counters.records_in, records);
            PeerCounters::add(&counters.bytes_in, bytes);
            return Ok(records > 0);
        };
        let mut read = ring.try_read_batch(1024);
        for shared_batch in read.records() {
            // The peer process can still write its ring: check and deliver
            // a private copy, so what was checked is what the worker reads
            // (no check-then-use race on shared memory).
            self.in_batch.clear();
            self.in_batch.extend_from_slice(shared_batch);
            let batch: &[u8] = &self.in_batch;
            InboundRecords::count_checked(batch)
                .map_err(|e| format!("a malformed batch from same-host node {peer_id}: {e}"))?;
            self.in_runs.targets.reset(Runs::limit_of(to.inbound));
            for (i, (tag, record)) in InboundRecords::new(batch).enumerate() {
                let target = to
                    .route
                    .route(peer_id, tag, record)
                    .map_err(|e| bad(i, e))?;
                if target >= to.inbound.len() {
                    return Err(bad(i, format!("routed to missing worker {target}")));
                }
                self.in_runs.targets.push(target as u32, record);
            }
            self.in_runs.start(0);
            if !deliver_batch(&mut self.in_runs, &self.in_batch, to.inbound, peer_id)? {
                self.in_pending = true;
                break;
            }
            records += self.in_runs.delivered() as u64;
            bytes += self.in_batch.len() as u64;
        }
        drop(read);
        if self.inp.as_ref().is_some_and(|r| r.is_poisoned()) {
            return Err(format!("the ring from same-host node {peer_id} is corrupt"));
        }
        PeerCounters::add(&counters.records_in, records);
        PeerCounters::add(&counters.bytes_in, bytes);
        Ok(records > 0)
    }
}

/// Delivers what is left of `batch` by `runs`; returns whether all of it
/// went (`false`: a worker's ring is full).
fn deliver_batch(
    runs: &mut Runs,
    batch: &[u8],
    inbound: &mut [Producer],
    peer_id: NodeId,
) -> Result<bool, String> {
    runs.deliver(batch, inbound)
        .map_err(|TooLarge { index, worker, max }| {
            format!(
                "record {index} from same-host node {peer_id} does not fit worker {worker}'s \
                 ring (at most {max} bytes)"
            )
        })
}

impl ShmLink {
    /// Reads the ring message waiting in `inbuf` (the peer naming its
    /// outbound ring file) and opens the ring it names. What follows it
    /// are frames (the goodbye), which the caller reads.
    fn ring_messages(
        &mut self,
        inbuf: &mut RecvBuf,
        me: NodeId,
        peer_id: NodeId,
    ) -> Result<(), String> {
        while self.inp.is_none() {
            let avail = inbuf.filled();
            let header = match MsgHeader::parse(avail) {
                Ok(None) => break,
                Ok(Some(h)) => h,
                Err(e) => return Err(format!("bad message from same-host node {peer_id}: {e}")),
            };
            let len = MSG_HEADER + header.len;
            if avail.len() < len {
                break;
            }
            if header.kind != MsgKind::Ring {
                return Err(format!(
                    "unexpected {:?} message from same-host node {peer_id}",
                    header.kind
                ));
            }
            self.open_peer_ring(me, peer_id, &avail[MSG_HEADER..len])
                .map_err(|e| format!("same-host node {peer_id}: {e}"))?;
            inbuf.consume(len);
        }
        Ok(())
    }

    /// Moves records from the workers' outbound rings for this peer
    /// (starting at `*next_ring`, which then moves on by one) into the
    /// shared ring; returns whether any moved.
    pub(crate) fn fill(
        &mut self,
        outbound: &mut [Consumer],
        next_ring: &mut usize,
        counters: &PeerCounters,
    ) -> bool {
        let (moved, dropped) = self.send_from(outbound, *next_ring);
        if !outbound.is_empty() {
            *next_ring = (*next_ring + 1) % outbound.len();
        }
        PeerCounters::add(&counters.records_out, moved);
        PeerCounters::add(&counters.dropped, dropped);
        moved > 0
    }
}
