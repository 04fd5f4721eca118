//! [`BuiltinOptions`]: the knobs every built-in topology understands.

use std::num::NonZeroUsize;
use std::path::PathBuf;

use super::Probe;

/// Options for building a built-in topology. Every field has a default
/// (`BuiltinOptions::default()`), so set only what you need.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BuiltinOptions {
    /// Worker threads the run will use (0 = one per core). `wordcount` and
    /// `exclamation` give each bolt this many tasks unless
    /// [`bolt_parallelism`](Self::bolt_parallelism) says otherwise.
    pub threads: usize,
    /// Total tuples the spout component emits (for `wordcount`: sentences),
    /// split evenly over its tasks; the topology then finishes by itself.
    /// `None` = emit forever.
    pub count: Option<u64>,
    /// Tasks per spout component (default 1).
    pub spout_parallelism: Option<usize>,
    /// Tasks per bolt component (default: `threads` for `wordcount` and
    /// `exclamation`, 1 for the storm-perf topologies, as in storm-perf).
    pub bolt_parallelism: Option<usize>,
    /// Size in bytes of the constant string the storm-perf spout emits
    /// (default: storm-perf's `"some data"`, 9 bytes).
    pub tuple_size: Option<usize>,
    /// Grouping between the storm-perf components.
    pub grouping: PerfGrouping,
    /// Track tuples with the acker (one acker task): spouts emit with
    /// message ids and replay failed ones. Off: no acker at all.
    pub ack: bool,
    /// Trees in flight per spout task (with `ack`); `None`: unbounded.
    pub max_pending: Option<usize>,
    /// Shuffles give every task an even share instead of being load
    /// aware ([`TopologyBuilder::set_load_aware`](gale_engine::TopologyBuilder::set_load_aware)`(false)`).
    pub even_shuffle: bool,
    /// Pace the spouts and measure spout-to-sink latency (`gale bench
    /// --rate`): spouts emit on the probe's schedule with a stamp field
    /// ([`STAMP_FIELD`](super::probe::STAMP_FIELD)) last in every tuple,
    /// and the last component records the stamps. `None`: as fast as
    /// possible, no stamps.
    pub probe: Option<Probe>,
    /// The text `file-read-wordcount` reads, one sentence per line
    /// (`None`: a generated text).
    pub file: Option<PathBuf>,
    /// `stateful-wordcount`: checkpoint its state into this directory
    /// (which must exist) and restore from it (`None`: state in memory).
    pub state_dir: Option<PathBuf>,
    /// `stateful-wordcount`: checkpoint its state into this Redis server
    /// (`redis://HOST:PORT[/DB]`, no password) instead of a directory.
    pub state_url: Option<String>,
    /// `stateful-wordcount`: how often to checkpoint (default 1 s).
    pub checkpoint_interval: Option<std::time::Duration>,
}

/// How the storm-perf topologies connect their components (storm-perf's
/// `grouping` setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum PerfGrouping {
    /// A task on the same worker thread if there is one, else on the same
    /// node, else shuffle (storm-perf's default, `local`).
    #[default]
    #[cfg_attr(feature = "cli", value(name = "local"))]
    LocalOrShuffle,
    /// Spread evenly over all tasks.
    Shuffle,
    /// By the hash of the `str` field (every tuple to one task: the
    /// spout emits one string), as a keyed count would be fed.
    Fields,
}

impl BuiltinOptions {
    /// Acker tasks for these options.
    pub fn ackers(&self) -> usize {
        usize::from(self.ack)
    }

    /// Tasks per spout component.
    pub fn spout_tasks(&self) -> usize {
        self.spout_parallelism.unwrap_or(1)
    }

    /// Tasks per bolt component when the topology scales its bolts with
    /// the thread count: the override, else `threads` (one per core for 0).
    pub fn scaled_bolt_tasks(&self) -> usize {
        self.bolt_parallelism.unwrap_or_else(|| match self.threads {
            0 => std::thread::available_parallelism().map_or(1, NonZeroUsize::get),
            n => n,
        })
    }

    /// Tasks per bolt component when the topology follows storm-perf's
    /// default of one bolt task.
    pub fn perf_bolt_tasks(&self) -> usize {
        self.bolt_parallelism.unwrap_or(1)
    }
}

/// How many of `total` tuples the task at `index` of `tasks` emits, so that
/// the shares add up to exactly `total` (the first `total % tasks` tasks get
/// one more).
pub(crate) fn share(total: u64, index: usize, tasks: usize) -> u64 {
    let tasks = tasks.max(1) as u64;
    let index = index as u64;
    total / tasks + u64::from(index < total % tasks)
}

#[cfg(test)]
mod tests {
    use super::share;

    #[test]
    fn shares_add_up_exactly() {
        for total in [0, 1, 7, 10, 10_001] {
            for tasks in 1..6 {
                let sum: u64 = (0..tasks).map(|i| share(total, i, tasks)).sum();
                assert_eq!(sum, total, "total {total} over {tasks} tasks");
            }
        }
    }
}
