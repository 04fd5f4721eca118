//! `gale bench baseline-crossbeam`: the const-spout-null-bolt pipeline
//! without Gale, as a reference measured in the same run: one thread makes
//! the spout's values (an owned `Vec<Value>` per tuple, as a naive engine
//! would pass them) and sends them through a bounded crossbeam channel to a
//! second thread that drops them; both threads pinned to the first two
//! cores (unless `--no-pin`). With a probe the sender follows its schedule
//! and stamps each tuple, and the receiver records the latency.

use std::hint::black_box;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Instant;

use crossbeam_utils::CachePadded;
use gale_codec::Value;
use gale_engine::{ComponentStats, TopologyStats};

use crate::builtin::perf::{NULL_BOLT_ID, SPOUT_ID};
use crate::builtin::Probe;

/// Tuples the channel holds (as in `benches/topology.rs`).
const CAPACITY: usize = 1 << 14;

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
    /// Starts the two threads, sending `value` (and a stamp with a probe).
    pub(crate) fn start(value: String, probe: Option<Probe>, pin: bool) -> io::Result<Self> {
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
