//! `exclamation`: Storm's ExclamationTopology.
//!
//! `word` ([`WordSpout`]) → `exclaim1` ([`ExclamationBolt`], shuffle) →
//! `exclaim2` ([`ExclamationBolt`], shuffle); each bolt appends `"!!!"`.

use gale_codec::Value;
use gale_engine::{
    Bolt, BoltOutput, Input, OutputFieldsDeclarer, Spout, SpoutOutput, Topology, TopologyBuilder,
    TopologyContext, TopologyError,
};

use super::BuiltinOptions;

/// The words [`WordSpout`] cycles through (those of Storm's
/// `TestWordSpout`).
pub const WORDS: [&str; 5] = ["nathan", "mike", "jackson", "golda", "bertels"];

/// Emits [`WORDS`] in a cycle, one `["word"]` tuple per call; with a total,
/// its tasks share it exactly (task `i` of `n` emits positions `i, i + n,
/// …` below the total) and then report themselves finished.
#[derive(Debug, Clone)]
pub struct WordSpout {
    values: Vec<[Value; 1]>,
    total: Option<u64>,
    next: u64,
    step: u64,
}

impl WordSpout {
    /// A spout that emits `total` words over all its tasks, or cycles
    /// forever for `None`.
    pub fn new(total: Option<u64>) -> Self {
        Self {
            values: WORDS.iter().map(|w| [Value::from(*w)]).collect(),
            total,
            next: 0,
            step: 1,
        }
    }
}

impl Spout for WordSpout {
    fn declare_output_fields(&self, declarer: &mut OutputFieldsDeclarer) {
        declarer.declare(["word"]);
    }

    fn open(&mut self, context: &TopologyContext) {
        self.next = context.task_index() as u64;
        self.step = context.component_tasks().len().max(1) as u64;
    }

    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        if self.is_finished() {
            return;
        }
        let i = (self.next % self.values.len() as u64) as usize;
        out.emit(&self.values[i]);
        self.next = self.next.wrapping_add(self.step);
    }

    fn is_finished(&self) -> bool {
        self.total.is_some_and(|total| self.next >= total)
    }
}

/// Emits `["word"]` with field 0 of its input followed by `"!!!"`; acks
/// its input (fails inputs whose field 0 is not a string).
#[derive(Debug, Clone)]
pub struct ExclamationBolt {
    word: [Value; 1],
}

impl Default for ExclamationBolt {
    fn default() -> Self {
        Self {
            word: [Value::Str(String::new())],
        }
    }
}

impl Bolt for ExclamationBolt {
    fn declare_output_fields(&self, declarer: &mut OutputFieldsDeclarer) {
        declarer.declare(["word"]);
    }

    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        let Some(word) = input.get(0).and_then(|v| v.as_str()) else {
            out.fail(input);
            return;
        };
        if let Value::Str(buf) = &mut self.word[0] {
            buf.clear();
            buf.push_str(word);
            buf.push_str("!!!");
        }
        out.emit(&self.word);
        out.ack(input);
    }
}

/// Builds the exclamation topology: `word` ([`WordSpout`], emitting
/// `opts.count` words or forever) → `exclaim1` → `exclaim2`, both
/// [`ExclamationBolt`] with shuffle grouping.
pub fn exclamation(opts: &BuiltinOptions) -> Result<Topology, TopologyError> {
    let total = opts.count;
    let bolts = opts.scaled_bolt_tasks();
    let mut builder = TopologyBuilder::new("exclamation");
    builder.set_num_ackers(opts.ackers());
    if let Some(n) = opts.max_pending {
        builder.set_max_spout_pending(n);
    }
    builder.set_spout("word", move || WordSpout::new(total), opts.spout_tasks());
    builder
        .set_bolt("exclaim1", ExclamationBolt::default, bolts)
        .shuffle_grouping("word");
    builder
        .set_bolt("exclaim2", ExclamationBolt::default, bolts)
        .shuffle_grouping("exclaim1");
    builder.build()
}
