//! `gale bench baseline-crossbeam` and `gale bench baseline-ring`: the
//! const-spout-null-bolt pipeline without Gale's engine, as references
//! measured in the same sitting, on two threads pinned to the first two
//! cores (unless `--no-pin`). With a probe the sender follows its schedule
//! and stamps each tuple, and the receiver records the latency.
//!
//! - **crossbeam**: the sender makes the spout's values (an owned
//!   `Vec<Value>` per tuple, as a naive engine would pass them) and sends
//!   them through a bounded crossbeam channel to a receiver that drops
//!   them.
//! - **ring**: the limit of Gale's own path. The sender copies a record of
//!   exactly the size const-spout-null-bolt puts in its ring (the 8-byte
//!   ring prefix plus the archived tuple, archived once up front; with a
//!   probe, archived per tuple with its stamp) into Gale's SPSC ring,
//!   reserving, committing and publishing as a worker does (publication
//!   in batches of the engine's `batch`); the receiver reads batches of
//!   up to 256 records in place and releases them. No routing, no
//!   acking, no counters: what is left is the ring and the copy.

use std::hint::black_box;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Instant;

use crossbeam_utils::CachePadded;
use gale_codec::{view_trusted, AlignedVec, Encoder, Header, TupleRef, Value};
use gale_engine::{ComponentStats, TopologyStats};
use gale_transport::{ring, Consumer, Producer, RingConfig};

use crate::builtin::perf::{NULL_BOLT_ID, SPOUT_ID};
use crate::builtin::Probe;

/// Tuples the channel holds (as in `benches/topology.rs`).
const CAPACITY: usize = 1 << 14;

/// Which channel joins the two threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Channel {
    /// A bounded crossbeam channel of `Vec<Value>`.
    Crossbeam,
    /// Gale's SPSC ring with this configuration.
    Ring(RingConfig),
}

/// Records the ring receiver takes per read (as a worker does).
const RING_READ_BATCH: usize = 256;
/// Records the ring sender writes between checks of `stop`.
const RING_WRITE_BATCH: usize = 64;

/// The running pipeline.
pub(crate) struct Baseline {
    start: Instant,
    stop: Arc<AtomicBool>,
    sent: Arc<CachePadded<AtomicU64>>,
    received: Arc<CachePadded<AtomicU64>>,
    threads: Vec<JoinHandle<()>>,
}

/// The component names its counters are reported under (those of
/// const-spout-null-bolt, so the two read alike).
pub(crate) const COMPONENTS: [(&str, bool); 2] = [(SPOUT_ID, true), (NULL_BOLT_ID, false)];

impl Baseline {
    /// Starts the two threads, sending `value` (and a stamp with a probe)
    /// through `channel`.
    pub(crate) fn start(
        channel: Channel,
        value: String,
        probe: Option<Probe>,
        pin: bool,
    ) -> io::Result<Self> {
        match channel {
            Channel::Crossbeam => Self::start_crossbeam(value, probe, pin),
            Channel::Ring(config) => Self::start_ring(config, value, probe, pin),
        }
    }

    fn start_crossbeam(value: String, probe: Option<Probe>, pin: bool) -> io::Result<Self> {
        let (tx, rx) = crossbeam_channel::bounded::<Vec<Value>>(CAPACITY);
        let cores = if pin {
            core_affinity::get_core_ids().unwrap_or_default()
        } else {
            Vec::new()
        };
        let core = |i: usize| (!cores.is_empty()).then(|| cores[i % cores.len()]);
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(CachePadded::new(AtomicU64::new(0)));
        let received = Arc::new(CachePadded::new(AtomicU64::new(0)));

        let recorder = probe.as_ref().map(Probe::recorder);
        let (count, pinned) = (Arc::clone(&received), core(1));
        let receiver = thread::Builder::new()
            .name("baseline-bolt".into())
            .spawn(move || {
                if let Some(id) = pinned {
                    core_affinity::set_for_current(id);
                }
                let mut recorder = recorder;
                let mut n = 0u64;
                for tuple in rx.iter() {
                    if let Some(r) = &mut recorder {
                        if let Some(stamp) = tuple.get(1).and_then(stamp_value) {
                            r.record(stamp);
                        }
                    }
                    black_box(&tuple);
                    n += 1;
                    // SYNC: Relaxed: a statistic read by `stats`.
                    count.store(n, Ordering::Relaxed);
                }
            })?;

        let (count, pinned, halt) = (Arc::clone(&sent), core(0), Arc::clone(&stop));
        let sender = thread::Builder::new()
            .name("baseline-spout".into())
            .spawn(move || {
                if let Some(id) = pinned {
                    core_affinity::set_for_current(id);
                }
                let mut pacer = probe.as_ref().map(|p| p.pacer(0, 1));
                let value = Value::Str(value);
                let mut n = 0u64;
                // SYNC: Relaxed: `stop` carries no data, only "stop now".
                while !halt.load(Ordering::Relaxed) {
                    let tuple = match &mut pacer {
                        Some(p) => {
                            let Some(stamp) = p.due() else {
                                std::hint::spin_loop();
                                continue;
                            };
                            p.sent();
                            let stamp = i64::try_from(stamp).unwrap_or(i64::MAX);
                            vec![value.clone(), Value::I64(stamp)]
                        }
                        None => vec![value.clone()],
                    };
                    if tx.send(tuple).is_err() {
                        break;
                    }
                    n += 1;
                    // SYNC: Relaxed: a statistic read by `stats`.
                    count.store(n, Ordering::Relaxed);
                }
            });
        let sender = match sender {
            Ok(s) => s,
            Err(e) => {
                // The receiver ends once the channel's sender is dropped,
                // which it was with the failed closure.
                let _ = receiver.join();
                return Err(e);
            }
        };
        Ok(Self {
            start: Instant::now(),
            stop,
            sent,
            received,
            threads: vec![sender, receiver],
        })
    }

    fn start_ring(
        config: RingConfig,
        value: String,
        probe: Option<Probe>,
        pin: bool,
    ) -> io::Result<Self> {
        let (tx, rx) = ring(config).map_err(io::Error::other)?;
        let cores = if pin {
            core_affinity::get_core_ids().unwrap_or_default()
        } else {
            Vec::new()
        };
        let core = |i: usize| (!cores.is_empty()).then(|| cores[i % cores.len()]);
        let stop = Arc::new(AtomicBool::new(false));
        let sender_done = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(CachePadded::new(AtomicU64::new(0)));
        let received = Arc::new(CachePadded::new(AtomicU64::new(0)));

        let recorder = probe.as_ref().map(Probe::recorder);
        let (count, pinned, done) = (Arc::clone(&received), core(1), Arc::clone(&sender_done));
        let receiver = thread::Builder::new()
            .name("baseline-bolt".into())
            .spawn(move || {
                if let Some(id) = pinned {
                    core_affinity::set_for_current(id);
                }
                ring_receiver(rx, recorder, &count, &done);
            })?;
        let (count, pinned, halt) = (Arc::clone(&sent), core(0), Arc::clone(&stop));
        let done = Arc::clone(&sender_done);
        let sender = thread::Builder::new()
            .name("baseline-spout".into())
            .spawn(move || {
                if let Some(id) = pinned {
                    core_affinity::set_for_current(id);
                }
                ring_sender(tx, &value, probe, &count, &halt);
                // SYNC: Release pairs with the Acquire load in
                // `ring_receiver`: the last records were published before.
                done.store(true, Ordering::Release);
            });
        let sender = match sender {
            Ok(s) => s,
            Err(e) => {
                sender_done.store(true, Ordering::Release);
                let _ = receiver.join();
                return Err(e);
            }
        };
        Ok(Self {
            start: Instant::now(),
            stop,
            sent,
            received,
            threads: vec![sender, receiver],
        })
    }

    /// Counters so far, shaped like a topology's.
    pub(crate) fn stats(&self) -> TopologyStats {
        // SYNC: Relaxed: statistics (see the stores).
        let sent = self.sent.load(Ordering::Relaxed);
        let received = self.received.load(Ordering::Relaxed);
        let spout = ComponentStats {
            tasks: 1,
            emitted: sent,
            transferred: sent,
            ..ComponentStats::default()
        };
        let bolt = ComponentStats {
            tasks: 1,
            executed: received,
            ..ComponentStats::default()
        };
        TopologyStats {
            elapsed: self.start.elapsed(),
            components: [
                (SPOUT_ID.to_owned(), spout),
                (NULL_BOLT_ID.to_owned(), bolt),
            ]
            .into_iter()
            .collect(),
            errors: Vec::new(),
        }
    }

    /// Whether a thread has ended (only after [`finish`](Self::finish) or
    /// a panic).
    pub(crate) fn is_finished(&self) -> bool {
        self.threads.iter().any(JoinHandle::is_finished)
    }

    /// Stops the sender, lets the receiver drain the channel, and returns
    /// the final counters.
    pub(crate) fn finish(mut self) -> TopologyStats {
        self.stop_and_join();
        self.stats()
    }

    fn stop_and_join(&mut self) {
        // SYNC: Relaxed, see the load in the sender.
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Baseline {
    /// Dropping the pipeline stops it and waits for its threads.
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// A stamp carried as an `I64` value.
fn stamp_value(v: &Value) -> Option<u64> {
    match v {
        Value::I64(n) => u64::try_from(*n).ok(),
        _ => None,
    }
}

/// The const-spout tuple's ring record (prefix, then the archived tuple of
/// `values`) in `buf`; its length.
fn ring_record(values: &[Value], encoder: &mut Encoder, buf: &mut AlignedVec<16>) -> usize {
    /// The ring prefix: destination task and a reserved word.
    const PREFIX: usize = 8;
    let header = Header {
        source_task: 1,
        ..Header::default()
    };
    let tuple = TupleRef {
        header: &header,
        values,
    };
    let bound = gale_codec::encoded_len_bound(tuple).unwrap_or(4096);
    buf.resize(PREFIX + bound, 0);
    buf[..PREFIX].copy_from_slice(&2u64.to_le_bytes());
    let used = encoder
        .encode_into(tuple, &mut buf[PREFIX..])
        .unwrap_or_default();
    PREFIX + used
}

/// Writes records into `tx` as fast as the ring takes them (or on the
/// probe's schedule) until `halt`.
fn ring_sender(
    mut tx: Producer,
    value: &str,
    probe: Option<Probe>,
    count: &AtomicU64,
    halt: &AtomicBool,
) {
    let mut pacer = probe.as_ref().map(|p| p.pacer(0, 1));
    let mut values = vec![Value::Str(value.to_owned())];
    if pacer.is_some() {
        values.push(Value::I64(0));
    }
    let mut encoder = Encoder::new();
    let mut buf = AlignedVec::<16>::new();
    let mut len = ring_record(&values, &mut encoder, &mut buf);
    let mut n = 0u64;
    // SYNC: Relaxed: `halt` carries no data, only "stop now".
    while !halt.load(Ordering::Relaxed) {
        for _ in 0..RING_WRITE_BATCH {
            if let Some(p) = &mut pacer {
                let Some(stamp) = p.due() else {
                    std::hint::spin_loop();
                    break;
                };
                p.sent();
                values[1] = Value::I64(i64::try_from(stamp).unwrap_or(i64::MAX));
                len = ring_record(&values, &mut encoder, &mut buf);
            }
            let Ok(mut slot) = tx.try_reserve(len) else {
                std::hint::spin_loop();
                break;
            };
            slot.copy_from_slice(&buf[..len]);
            slot.commit();
            n += 1;
        }
        if pacer.is_some() {
            // Low rates see low latency: publish what is written.
            tx.flush();
        }
        // SYNC: Relaxed: a statistic read by `stats`.
        count.store(n, Ordering::Relaxed);
    }
    tx.flush();
}

/// Reads `rx` in batches until the sender is done and the ring is empty.
fn ring_receiver(
    mut rx: Consumer,
    mut recorder: Option<crate::builtin::Recorder>,
    count: &AtomicU64,
    sender_done: &AtomicBool,
) {
    let mut n = 0u64;
    loop {
        // SYNC: Acquire pairs with the Release store after the sender's
        // last flush: a read after it sees every record.
        let done = sender_done.load(Ordering::Acquire);
        let mut batch = rx.try_read_batch(RING_READ_BATCH);
        let mut k = 0u64;
        for record in &mut batch {
            if let Some(r) = &mut recorder {
                // SAFETY: the sender wrote these bytes with our encoder
                // (`ring_record`) after the 8-byte prefix, 8-aligned.
                let view = unsafe { view_trusted(&record[8..]) };
                if let Some(stamp) = view.get(1).and_then(|v| v.as_i64()) {
                    r.record(u64::try_from(stamp).unwrap_or(0));
                }
            }
            black_box(record);
            k += 1;
        }
        drop(batch);
        if k == 0 {
            if done {
                break;
            }
            std::hint::spin_loop();
            continue;
        }
        n += k;
        // SYNC: Relaxed: a statistic read by `stats`.
        count.store(n, Ordering::Relaxed);
    }
}
