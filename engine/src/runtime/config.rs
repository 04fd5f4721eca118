//! How a topology runs: [`RunConfig`] (threads, rings, batching, chaining)
//! and [`MetricsConfig`] (what is measured live).

use std::thread;
use std::time::Duration;

use gale_transport::{RingConfig, WaitStrategy};

/// [`MetricsConfig::min_sample_interval`]'s default: at 60 ns a sample
/// (three reads of the time-stamp counter and the run's two stops to time
/// it, on the VMs Gale is measured on), 0.6 % of a thread that samples
/// this often.
const DEFAULT_MIN_SAMPLE_INTERVAL: Duration = Duration::from_micros(10);

/// How a topology runs on this machine.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Worker threads; 0 means one per core.
    pub threads: usize,
    /// Pin worker `i` to core `i % cores`.
    pub pin: bool,
    /// What a worker does when it has nothing to do.
    pub wait: WaitStrategy,
    /// Data area of each ring between two workers (a power of two).
    pub ring_bytes: usize,
    /// Records per published ring batch.
    pub batch: usize,
    /// A busy worker flushes its rings at least this often (one that was
    /// idle at the end of the pass that found work): how long a tuple for
    /// another thread may wait in its sender's stage before it is
    /// published, whatever the rate (a stage also goes out as soon as it
    /// holds 4 KiB). Default 1 µs: at the
    /// highest rates a stage fills sooner than that, so throughput pays
    /// little for it, and at middling rates (10 M tuples/s) a tuple does
    /// not wait for 4 KiB of others. Against 2 µs it took the median
    /// latency at 10 M tuples/s from 3.7 to 2.7 µs with no throughput
    /// lost; 500 ns gave no less (the flushes cost the sender more).
    pub flush_interval: Duration,
    /// Stop (cleanly, draining what is in flight) after this long.
    pub duration: Option<Duration>,
    /// What is measured live ([`RunningTopology::metrics`](super::RunningTopology::metrics)).
    pub metrics: MetricsConfig,
    /// Run a bolt *chained* when a task of its own thread emits to it: the
    /// bolt executes the tuples right after the emitting call, without the
    /// local queue (as Flink chains operators). On by default; off only to
    /// compare the two paths (results are the same either way).
    pub chain: bool,
    /// Spouts carried over from a run stopped for a rebalance, and where
    /// this run parks its own when it is stopped for one.
    pub handoff: Option<super::SpoutHandoff>,
    /// Start deactivated (Storm's `INACTIVE`: spouts not polled until
    /// [`activate`](super::RunningTopology::activate)); a rebalance of a
    /// deactivated topology restarts it so.
    pub start_inactive: bool,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            threads: 0,
            pin: true,
            wait: WaitStrategy::default(),
            ring_bytes: 1 << 20,
            batch: 64,
            flush_interval: Duration::from_micros(1),
            duration: None,
            metrics: MetricsConfig::default(),
            chain: true,
            handoff: None,
            start_inactive: false,
        }
    }
}

impl RunConfig {
    /// The number of worker threads this configuration gives.
    pub fn thread_count(&self) -> usize {
        match self.threads {
            0 => thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }
}

impl RunConfig {
    /// The configuration of the rings between worker threads: `ring_bytes`
    /// each, records of up to half that, published every `batch` commits.
    pub fn ring_config(&self) -> RingConfig {
        RingConfig::new(self.ring_bytes)
            .with_max_record((self.ring_bytes / 2).saturating_sub(8))
            .with_batch(self.batch.max(1))
    }
}

/// What the engine measures while a topology runs.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsConfig {
    /// Per-stream counters, latency histograms, ring occupancy and
    /// backpressure time, published live. Off, only the per-task totals
    /// of [`TopologyStats`](crate::TopologyStats) and the spouts' complete
    /// latency are kept (and published when the topology stops).
    pub enabled: bool,
    /// Fraction of `execute` calls whose execute and process latency are
    /// measured (Storm's `topology.stats.sample.rate`, 0.05 by default);
    /// 1 measures every call, 0 none. Counters are always exact.
    pub sample_rate: f64,
    /// Latency samples of one worker thread fall at least this far apart
    /// on average: where inputs come so fast that `sample_rate` would
    /// time them more often (a bolt whose `execute` takes nanoseconds),
    /// the thread samples fewer of them, so that timing (a few clock
    /// reads, 10–30 ns each on a VM) stays under about 1 % of its time.
    /// 10 µs by default; zero samples at `sample_rate` whatever it costs.
    /// Counters are exact either way.
    pub min_sample_interval: Duration,
    /// This node's name in metric labels.
    pub node: String,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            sample_rate: 0.05,
            min_sample_interval: DEFAULT_MIN_SAMPLE_INTERVAL,
            node: "local".to_owned(),
        }
    }
}
