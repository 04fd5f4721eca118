//! `stateful-wordcount`: the word count with its counts as checkpointed
//! state, exactly-once across crashes.
//!
//! [`SentenceSpout`](super::wordcount::SentenceSpout) (rewindable: its
//! position is its next sentence) → `split`
//! ([`SplitBolt`](super::wordcount::SplitBolt), shuffle) → `count`
//! ([`StatefulCountBolt`], fields grouping on `"word"`), whose counts live
//! in its
//! [`KeyValueState`]: `wordcount` with its counts as state and nothing
//! else changed (the same spout, split, groupings, tasks and emits), so
//! `gale bench` compares the two. With a state directory
//! ([`BuiltinOptions::state_dir`]) every component is checkpointed by
//! aligned barriers every [`BuiltinOptions::checkpoint_interval`]; a run
//! killed at any moment and started again with the same directory goes
//! back to the last complete checkpoint (counts and spout positions
//! together) and ends with exactly the counts of a run never killed.

use std::collections::HashMap;
use std::time::Duration;

use gale_codec::Value;
use gale_engine::state::{Checkpointing, DirBackend, KeyValueState, StateError, StatefulBolt};
use gale_engine::{BoltOutput, Input, OutputFieldsDeclarer, TopologyBuilder, TopologyContext};

use super::error::Failure;
use super::options::BuiltinOptions;
use super::probe::Probe;
use super::wordcount::{add_spout_and_split, default_sentences, CountOutput, CountSink, WordCount};

/// The default checkpoint interval (Storm's and Flink's usual 1 s).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

/// Counts words in its state (word → count) and, as
/// [`CountBolt`](super::wordcount::CountBolt) does, emits
/// `["word", "count"]` with the word's running count and acks its input.
#[derive(Debug)]
pub struct StatefulCountBolt {
    sink: CountSink,
    output: CountOutput,
}

impl StatefulCountBolt {
    /// A count bolt that publishes its final counts to `sink`.
    pub fn new(sink: CountSink) -> Self {
        Self {
            sink,
            output: CountOutput::default(),
        }
    }

    /// Records each input's stamp into `probe` (`None`: no recording).
    pub fn recording(mut self, probe: Option<&Probe>) -> Self {
        self.output.recorder = probe.map(Probe::recorder);
        self
    }
}

impl StatefulBolt for StatefulCountBolt {
    fn declare_output_fields(&self, declarer: &mut OutputFieldsDeclarer) {
        CountOutput::declare(declarer);
    }

    fn prepare(&mut self, _context: &TopologyContext, _state: &KeyValueState) {}

    fn execute(&mut self, input: &Input<'_>, state: &mut KeyValueState, out: &mut BoltOutput<'_>) {
        let Some(word) = input.get(0).and_then(|v| v.as_str()) else {
            out.fail(input);
            return;
        };
        let count = match state.get_mut(word) {
            Some(Value::I64(n)) => {
                *n += 1;
                *n
            }
            _ => {
                state.put(word, Value::I64(1));
                1
            }
        };
        self.output.counted(input, word, count.max(0) as u64, out);
    }

    fn cleanup(&mut self, state: &KeyValueState) {
        let counts: HashMap<String, u64> = state
            .iter()
            .filter_map(|(w, v)| match v {
                Value::I64(n) => Some((w.to_owned(), (*n).max(0) as u64)),
                _ => None,
            })
            .collect();
        self.sink.merge(&counts);
        self.output.flush();
    }
}

/// Builds `stateful-wordcount`.
pub(crate) fn stateful_wordcount(opts: &BuiltinOptions) -> Result<WordCount, Failure> {
    let counts = CountSink::new();
    let mut builder = TopologyBuilder::new("stateful-wordcount");
    let interval = opts.checkpoint_interval.unwrap_or(DEFAULT_INTERVAL);
    if let Some(dir) = &opts.state_dir {
        let backend = DirBackend::open(dir)?;
        builder.set_checkpointing(Checkpointing::new(backend, interval));
    } else if let Some(url) = &opts.state_url {
        builder.set_checkpointing(Checkpointing::new(redis_backend(url)?, interval));
    }
    let tasks = add_spout_and_split(&mut builder, default_sentences(), opts, true);
    let sink = counts.clone();
    let probe = opts.probe.clone();
    builder
        .set_stateful_bolt(
            "count",
            move || StatefulCountBolt::new(sink.clone()).recording(probe.as_ref()),
            tasks,
        )
        .fields_grouping("split", ["word"]);
    Ok(WordCount {
        topology: builder.build()?,
        counts,
    })
}

/// The Redis backend at `url`, keys under `gale:state:stateful-wordcount`.
#[cfg(feature = "multilang")]
fn redis_backend(url: &str) -> Result<gale_connectors::RedisStateBackend, Failure> {
    let config = gale_connectors::EndpointConfig {
        url: Some(url.to_owned()),
        ..Default::default()
    };
    let endpoint = config
        .resolve("state backend", "stateful-wordcount")
        .map_err(|e| StateError::Remote {
            location: "--state-url".to_owned(),
            reason: e.to_string(),
        })?;
    Ok(gale_connectors::RedisStateBackend::connect(
        endpoint,
        "gale:state:stateful-wordcount",
    )?)
}

/// Without the connectors there is no Redis backend.
#[cfg(not(feature = "multilang"))]
fn redis_backend(url: &str) -> Result<DirBackend, Failure> {
    Err(StateError::Remote {
        location: url.to_owned(),
        reason: "this build has no Redis backend (it needs gale's `multilang` feature)".to_owned(),
    }
    .into())
}

impl From<StateError> for Failure {
    fn from(e: StateError) -> Self {
        Self::State(e)
    }
}
