//! `wordcount`: Storm's WordCountTopology.
//!
//! [`SentenceSpout`] → `split` ([`SplitBolt`], shuffle) → `count`
//! ([`CountBolt`], fields grouping on `"word"`). Each count task keeps its
//! own map and, at shutdown, adds it to a shared [`CountSink`] that the
//! caller reads once the run has ended.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use gale_codec::Value;
use gale_engine::{
    Bolt, BoltOutput, Input, OutputFieldsDeclarer, Spout, SpoutOutput, Topology, TopologyBuilder,
    TopologyContext, TopologyError, DEFAULT_STREAM,
};

use super::{BuiltinOptions, Replayer};

/// The sentences [`SentenceSpout`] cycles through, in order.
pub const SENTENCES: [&str; 10] = [
    "the cow jumped over the moon",
    "an apple a day keeps the doctor away",
    "four score and seven years ago",
    "snow white and the seven dwarfs",
    "i am at two with nature",
    "the quick brown fox jumps over the lazy dog",
    "a stitch in time saves nine",
    "all that glitters is not gold",
    "the early bird catches the worm",
    "to be or not to be that is the question",
];

/// The word counts of the first `sentences` sentences [`SentenceSpout`]
/// emits (what a finite `wordcount` run must print).
pub fn expected_counts(sentences: u64) -> BTreeMap<String, u64> {
    let len = SENTENCES.len() as u64;
    let mut counts = BTreeMap::new();
    for (i, sentence) in SENTENCES.iter().enumerate() {
        let times = sentences / len + u64::from((i as u64) < sentences % len);
        for word in sentence.split_whitespace() {
            *counts.entry(word.to_owned()).or_insert(0) += times;
        }
    }
    counts.retain(|_, n| *n > 0);
    counts
}

/// Emits [`SENTENCES`] in a cycle, one `["sentence"]` tuple per call.
///
/// With a total, the spout's tasks share it exactly: task `i` of `n` emits
/// the sentences at global positions `i, i + n, i + 2n, …` below the total,
/// so the run as a whole emits the first `total` sentences of the cycle
/// whatever the parallelism, and then reports itself finished.
#[derive(Debug, Clone)]
pub struct SentenceSpout {
    values: Vec<[Value; 1]>,
    total: Option<u64>,
    next: u64,
    step: u64,
    replay: Replayer,
}

impl SentenceSpout {
    /// A spout that emits `total` sentences over all its tasks, or cycles
    /// forever for `None`.
    pub fn new(total: Option<u64>) -> Self {
        Self {
            values: SENTENCES.iter().map(|s| [Value::from(*s)]).collect(),
            total,
            next: 0,
            step: 1,
            replay: Replayer::default(),
        }
    }

    /// Emits with message ids (the sentence's position) and replays failed
    /// sentences.
    pub fn reliable(mut self, on: bool) -> Self {
        self.replay = Replayer::new(on);
        self
    }
}

impl Spout for SentenceSpout {
    fn declare_output_fields(&self, declarer: &mut OutputFieldsDeclarer) {
        declarer.declare(["sentence"]);
    }

    fn open(&mut self, context: &TopologyContext) {
        self.next = context.task_index() as u64;
        self.step = context.component_tasks().len().max(1) as u64;
    }

    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        let n = self.values.len() as u64;
        if let Some(pos) = self.replay.next_replay() {
            out.emit_with_id(&self.values[(pos % n) as usize], pos);
            return;
        }
        if self.total.is_some_and(|total| self.next >= total) {
            return;
        }
        let i = (self.next % n) as usize;
        if self.replay.reliable() {
            out.emit_with_id(&self.values[i], self.next);
            self.replay.emitted();
        } else {
            out.emit(&self.values[i]);
        }
        self.next = self.next.wrapping_add(self.step);
    }

    fn ack(&mut self, msg_id: u64) {
        self.replay.ack(msg_id);
    }

    fn fail(&mut self, msg_id: u64) {
        self.replay.fail(msg_id);
    }

    fn is_finished(&self) -> bool {
        self.total.is_some_and(|total| self.next >= total) && self.replay.settled()
    }
}

/// Splits field 0 (a sentence) on whitespace and emits one `["word"]` tuple
/// per word; acks its input.
#[derive(Debug, Clone)]
pub struct SplitBolt {
    word: [Value; 1],
}

impl Default for SplitBolt {
    fn default() -> Self {
        Self {
            word: [Value::Str(String::new())],
        }
    }
}

impl Bolt for SplitBolt {
    fn declare_output_fields(&self, declarer: &mut OutputFieldsDeclarer) {
        declarer.declare(["word"]);
    }

    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        let Some(sentence) = input.get(0).and_then(|v| v.as_str()) else {
            out.fail(input);
            return;
        };
        for word in sentence.split_whitespace() {
            // Reuse one string buffer: no allocation per word once warm.
            if let Value::Str(buf) = &mut self.word[0] {
                buf.clear();
                buf.push_str(word);
            }
            // Anchored: with acking on, a sentence completes once all its
            // words are counted.
            out.emit_anchored(DEFAULT_STREAM, &[input], &self.word);
        }
        out.ack(input);
    }
}

/// Counts field 0 (a word) and emits `["word", "count"]` with the word's
/// running count; acks its input. At shutdown it adds its counts to the
/// [`CountSink`] it was made with.
#[derive(Debug)]
pub struct CountBolt {
    counts: HashMap<String, u64>,
    sink: CountSink,
    update: [Value; 2],
}

impl CountBolt {
    /// A count bolt that publishes its final counts to `sink`.
    pub fn new(sink: CountSink) -> Self {
        Self {
            counts: HashMap::new(),
            sink,
            update: [Value::Str(String::new()), Value::I64(0)],
        }
    }
}

impl Bolt for CountBolt {
    fn declare_output_fields(&self, declarer: &mut OutputFieldsDeclarer) {
        declarer.declare(["word", "count"]);
    }

    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        let Some(word) = input.get(0).and_then(|v| v.as_str()) else {
            out.fail(input);
            return;
        };
        let count = match self.counts.get_mut(word) {
            Some(n) => {
                *n += 1;
                *n
            }
            None => {
                self.counts.insert(word.to_owned(), 1);
                1
            }
        };
        if let Value::Str(buf) = &mut self.update[0] {
            buf.clear();
            buf.push_str(word);
        }
        self.update[1] = Value::I64(i64::try_from(count).unwrap_or(i64::MAX));
        out.emit(&self.update);
        out.ack(input);
    }

    fn cleanup(&mut self) {
        self.sink.merge(&self.counts);
    }
}

/// Where [`CountBolt`] tasks publish their final counts at shutdown: a
/// shared, cloneable map from word to count.
#[derive(Debug, Clone, Default)]
pub struct CountSink(Arc<Mutex<BTreeMap<String, u64>>>);

impl CountSink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `counts` to the sink's counts.
    pub fn merge(&self, counts: &HashMap<String, u64>) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        for (word, n) in counts {
            *map.entry(word.clone()).or_insert(0) += n;
        }
    }

    /// A copy of the counts published so far, sorted by word.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// The word-count topology and the sink its final counts land in.
#[derive(Debug)]
pub struct WordCount {
    /// The topology (components `spout`, `split`, `count`).
    pub topology: Topology,
    /// Filled by the count tasks when the topology shuts down.
    pub counts: CountSink,
}

/// Builds the word count: `spout` ([`SentenceSpout`], emitting
/// `opts.count` sentences or forever) → `split` ([`SplitBolt`], shuffle)
/// → `count` ([`CountBolt`], fields grouping on `"word"`).
pub fn wordcount(opts: &BuiltinOptions) -> Result<WordCount, TopologyError> {
    let counts = CountSink::new();
    let sink = counts.clone();
    let total = opts.count;
    let ack = opts.ack;
    let bolts = opts.scaled_bolt_tasks();
    let mut builder = TopologyBuilder::new("wordcount");
    builder.set_num_ackers(opts.ackers());
    if let Some(n) = opts.max_pending {
        builder.set_max_spout_pending(n);
    }
    builder.set_spout(
        "spout",
        move || SentenceSpout::new(total).reliable(ack),
        opts.spout_tasks(),
    );
    builder
        .set_bolt("split", SplitBolt::default, bolts)
        .shuffle_grouping("spout");
    builder
        .set_bolt("count", move || CountBolt::new(sink.clone()), bolts)
        .fields_grouping("split", ["word"]);
    Ok(WordCount {
        topology: builder.build()?,
        counts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_counts_match_the_cycle() {
        for n in [0, 1, 9, 10, 11, 1234] {
            let mut naive = BTreeMap::new();
            for i in 0..n {
                for w in SENTENCES[i % SENTENCES.len()].split_whitespace() {
                    *naive.entry(w.to_owned()).or_insert(0) += 1;
                }
            }
            assert_eq!(expected_counts(n as u64), naive, "{n} sentences");
        }
    }

    #[test]
    fn sink_adds_up_tasks() {
        let sink = CountSink::new();
        sink.merge(&HashMap::from([("a".to_owned(), 2), ("b".to_owned(), 1)]));
        sink.clone().merge(&HashMap::from([("a".to_owned(), 3)]));
        let expected = BTreeMap::from([("a".to_owned(), 5), ("b".to_owned(), 1)]);
        assert_eq!(sink.snapshot(), expected);
    }
}
