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
//! - **ring**: the limit of Gale's own path. The sender puts record
//!   batches into Gale's SPSC ring as a worker does: records of exactly
//!   the size const-spout-null-bolt stages (an 8-byte header plus the
//!   archived tuple, archived once up front; with a probe, per tuple with
//!   its stamp), as many as fit in 4 KiB, one ring record (reserved,
//!   copied, committed and published) per batch; the receiver reads up
//!   to 8 ring records at a time in place, walks their records and
//!   releases them. No routing, no acking, no counters: what is left is
//!   the ring and the copy.

use std::hint::black_box;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Instant;

use crossbeam_utils::CachePadded;
use gale_codec::{view_trusted, AlignedVec, Encoder, Header, TupleRef, Value};
use gale_engine::{ComponentStats, Counters, TopologyStats};
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

/// Ring records (record batches) the receiver takes per read (as a
/// worker does).
const RING_READ_BATCH: usize = 8;

/// A count one thread stores and `stats` reads.
type Counter = Arc<CachePadded<AtomicU64>>;

/// Core `i` of the machine's (modulo their number) when pinning, else none.
fn core_picker(pin: bool) -> impl Fn(usize) -> Option<core_affinity::CoreId> {
    let cores = if pin {
        core_affinity::get_core_ids().unwrap_or_default()
    } else {
        Vec::new()
    };
    move |i| (!cores.is_empty()).then(|| cores[i % cores.len()])
}

/// Spawns thread `name` running `f`, pinned to `core` if given.
fn spawn_pinned(
    name: &str,
    core: Option<core_affinity::CoreId>,
    f: impl FnOnce() + Send + 'static,
) -> io::Result<JoinHandle<()>> {
    thread::Builder::new().name(name.into()).spawn(move || {
        if let Some(id) = core {
            core_affinity::set_for_current(id);
        }
        f();
    })
}

/// The running pipeline.
pub(crate) struct Baseline {
    start: Instant,
    stop: Arc<AtomicBool>,
    sent: Counter,
    received: Counter,
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

    /// A pipeline of `sender` and `receiver` counting into `sent` and
    /// `received`, stopped through `stop`.
    fn running(
        stop: Arc<AtomicBool>,
        (sent, received): (Counter, Counter),
        sender: JoinHandle<()>,
        receiver: JoinHandle<()>,
    ) -> Self {
        Self {
            start: Instant::now(),
            stop,
            sent,
            received,
            threads: vec![sender, receiver],
        }
    }

    fn start_crossbeam(value: String, probe: Option<Probe>, pin: bool) -> io::Result<Self> {
        let (tx, rx) = crossbeam_channel::bounded::<Vec<Value>>(CAPACITY);
        let core = core_picker(pin);
        let stop = Arc::new(AtomicBool::new(false));
        let (sent, received) = (Counter::default(), Counter::default());

        let recorder = probe.as_ref().map(Probe::recorder);
        let count = Arc::clone(&received);
        let receiver = spawn_pinned("baseline-bolt", core(1), move || {
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

        let (count, halt) = (Arc::clone(&sent), Arc::clone(&stop));
        let sender = spawn_pinned("baseline-spout", core(0), move || {
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
        Ok(Self::running(stop, (sent, received), sender, receiver))
    }

    fn start_ring(
        config: RingConfig,
        value: String,
        probe: Option<Probe>,
        pin: bool,
    ) -> io::Result<Self> {
        let (tx, rx) = ring(config).map_err(io::Error::other)?;
        let core = core_picker(pin);
        let stop = Arc::new(AtomicBool::new(false));
        let sender_done = Arc::new(AtomicBool::new(false));
        let (sent, received) = (Counter::default(), Counter::default());

        let recorder = probe.as_ref().map(Probe::recorder);
        let (count, done) = (Arc::clone(&received), Arc::clone(&sender_done));
        let receiver = spawn_pinned("baseline-bolt", core(1), move || {
            ring_receiver(rx, recorder, &count, &done);
        })?;
        let (count, halt, done) = (
            Arc::clone(&sent),
            Arc::clone(&stop),
            Arc::clone(&sender_done),
        );
        let sender = spawn_pinned("baseline-spout", core(0), move || {
            ring_sender(tx, &value, probe, &count, &halt);
            // SYNC: Release pairs with the Acquire load in `ring_receiver`:
            // the last records were published before.
            done.store(true, Ordering::Release);
        });
        let sender = match sender {
            Ok(s) => s,
            Err(e) => {
                // SYNC: Release, as above (nothing was sent).
                sender_done.store(true, Ordering::Release);
                let _ = receiver.join();
                return Err(e);
            }
        };
        Ok(Self::running(stop, (sent, received), sender, receiver))
    }

    /// Counters so far, shaped like a topology's.
    pub(crate) fn stats(&self) -> TopologyStats {
        // SYNC: Relaxed: statistics (see the stores).
        let sent = self.sent.load(Ordering::Relaxed);
        let received = self.received.load(Ordering::Relaxed);
        let spout = ComponentStats {
            tasks: 1,
            counters: Counters {
                emitted: sent,
                transferred: sent,
                ..Counters::default()
            },
            ..ComponentStats::default()
        };
        let bolt = ComponentStats {
            tasks: 1,
            counters: Counters {
                executed: received,
                ..Counters::default()
            },
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

/// Bytes of records a worker stages before it puts them into the ring as
/// one ring record (the engine's `STAGE_BYTES`).
const STAGE_BYTES: usize = 4096;
/// The header of each record in a record batch: destination task, length.
const RECORD_HEADER: usize = 8;

/// Appends to `batch` the const-spout tuple's record as a worker stages it:
/// the 8-byte header (destination task, length), then the archived tuple
/// of `values`, padded to 8 bytes.
fn push_record(values: &[Value], encoder: &mut Encoder, batch: &mut AlignedVec<16>) {
    let header = Header {
        source_task: 1,
        ..Header::default()
    };
    let tuple = TupleRef {
        header: &header,
        values,
    };
    let start = batch.len();
    let bound = gale_codec::encoded_len_bound(tuple).unwrap_or(4096);
    batch.resize(start + RECORD_HEADER + bound, 0);
    let used = encoder
        .encode_into(tuple, &mut batch[start + RECORD_HEADER..])
        .unwrap_or_default();
    let word = 2u64 | (used as u64) << 32;
    batch[start..start + RECORD_HEADER].copy_from_slice(&word.to_le_bytes());
    batch.resize(start + RECORD_HEADER + used.next_multiple_of(8), 0);
}

/// Writes record batches into `tx` as fast as the ring takes them (or on
/// the probe's schedule) until `halt`.
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
    let mut batch = AlignedVec::<16>::new();
    // Unpaced, the same full batch every time: as many records as fit in
    // a stage (and in a ring record).
    let limit = STAGE_BYTES.min(tx.max_record());
    let mut full = 0u64;
    if pacer.is_none() {
        push_record(&values, &mut encoder, &mut batch);
        let one = batch.len();
        let copies = (limit / one).max(1);
        let record: Vec<u8> = batch.to_vec();
        for _ in 1..copies {
            batch.extend_from_slice(&record);
        }
        full = copies as u64;
    }
    let mut n = 0u64;
    // SYNC: Relaxed: `halt` carries no data, only "stop now".
    while !halt.load(Ordering::Relaxed) {
        let records = match &mut pacer {
            None => full,
            Some(p) => {
                batch.clear();
                let mut k = 0;
                while batch.len() < limit.saturating_sub(128) {
                    let Some(stamp) = p.due() else { break };
                    p.sent();
                    values[1] = Value::I64(i64::try_from(stamp).unwrap_or(i64::MAX));
                    push_record(&values, &mut encoder, &mut batch);
                    k += 1;
                }
                if k == 0 {
                    std::hint::spin_loop();
                    continue;
                }
                k
            }
        };
        loop {
            if let Ok(mut slot) = tx.try_reserve(batch.len()) {
                slot.copy_from_slice(&batch);
                slot.commit();
                tx.flush();
                break;
            }
            // SYNC: Relaxed, as above.
            if halt.load(Ordering::Relaxed) {
                return;
            }
            std::hint::spin_loop();
        }
        n += records;
        // SYNC: Relaxed: a statistic read by `stats`.
        count.store(n, Ordering::Relaxed);
    }
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
        for ring_record in &mut batch {
            let mut at = 0;
            while let Some(h) = ring_record.get(at..at + RECORD_HEADER) {
                let len = u32::from_le_bytes([h[4], h[5], h[6], h[7]]) as usize;
                let start = at + RECORD_HEADER;
                let Some(tuple) = ring_record.get(start..start + len) else {
                    break;
                };
                if let Some(r) = &mut recorder {
                    // SAFETY: the sender wrote these bytes with our
                    // encoder (`push_record`), 8-aligned in the ring.
                    let view = unsafe { view_trusted(tuple) };
                    if let Some(stamp) = view.get(1).and_then(|v| v.as_i64()) {
                        r.record(u64::try_from(stamp).unwrap_or(0));
                    }
                }
                black_box(tuple);
                k += 1;
                at = start + len.next_multiple_of(8);
            }
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
