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

use super::perf::{set_int, set_stamp, stamp_of};
use super::probe::{PacerSlot, Probe, Recorder, STAMP_FIELD};
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

/// One-field `["sentence"]` tuples, shared by a spout's tasks.
pub type Sentences = Arc<Vec<[Value; 1]>>;

/// [`SENTENCES`] as spout values.
pub fn default_sentences() -> Sentences {
    Arc::new(SENTENCES.iter().map(|s| [Value::from(*s)]).collect())
}

/// Emits its sentences ([`SENTENCES`] by default) in a cycle, one
/// `["sentence"]` tuple per call.
///
/// With a total, the spout's tasks share it exactly: task `i` of `n` emits
/// the sentences at global positions `i, i + n, i + 2n, …` below the total,
/// so the run as a whole emits the first `total` sentences of the cycle
/// whatever the parallelism, and then reports itself finished. With a
/// [`Probe`] ([`paced`](Self::paced)) it emits `["sentence", "ts"]` on the
/// probe's schedule.
#[derive(Debug, Clone)]
pub struct SentenceSpout {
    values: Sentences,
    total: Option<u64>,
    next: u64,
    step: u64,
    replay: Replayer,
    probe: Option<Probe>,
    pacer: PacerSlot,
    /// `[sentence, stamp]` when paced.
    stamped: Vec<Value>,
}

impl SentenceSpout {
    /// A spout that emits `total` sentences over all its tasks, or cycles
    /// forever for `None`.
    pub fn new(total: Option<u64>) -> Self {
        Self::from_sentences(default_sentences(), total)
    }

    /// A spout cycling through `values` (which must not be empty) instead
    /// of [`SENTENCES`].
    pub fn from_sentences(values: Sentences, total: Option<u64>) -> Self {
        assert!(!values.is_empty(), "a sentence spout needs sentences");
        Self {
            values,
            total,
            next: 0,
            step: 1,
            replay: Replayer::default(),
            probe: None,
            pacer: PacerSlot::default(),
            stamped: Vec::new(),
        }
    }

    /// Emits with message ids (the sentence's position) and replays failed
    /// sentences.
    pub fn reliable(mut self, on: bool) -> Self {
        self.replay = Replayer::new(on);
        self
    }

    /// Emits on `probe`'s schedule with a stamp field (`None`: as fast as
    /// it is polled, no stamp).
    pub fn paced(mut self, probe: Option<Probe>) -> Self {
        self.stamped = match probe {
            Some(_) => vec![Value::Str(String::new()), Value::I64(0)],
            None => Vec::new(),
        };
        self.probe = probe;
        self
    }

    /// Emits sentence `pos` (modulo the cycle), with `msg_id` if given and
    /// `stamp` if paced.
    fn emit(&mut self, out: &mut SpoutOutput<'_>, pos: u64, msg_id: Option<u64>, stamp: u64) {
        let sentence = &self.values[(pos % self.values.len() as u64) as usize];
        let values: &[Value] = if self.probe.is_some() {
            if let (Value::Str(buf), Value::Str(s)) = (&mut self.stamped[0], &sentence[0]) {
                buf.clear();
                buf.push_str(s);
            }
            set_stamp(&mut self.stamped, stamp);
            &self.stamped
        } else {
            sentence
        };
        match msg_id {
            Some(id) => out.emit_with_id(values, id),
            None => out.emit(values),
        }
    }
}

/// The position is the spout task's next sentence (`stateful-wordcount`
/// rewinds it after a crash).
impl gale_engine::state::RewindableSpout for SentenceSpout {
    fn checkpoint(&self) -> Value {
        Value::I64(self.next as i64)
    }

    fn restore(&mut self, position: &Value) {
        if let Value::I64(next) = position {
            self.next = (*next).max(0) as u64;
        }
    }
}

impl Spout for SentenceSpout {
    fn declare_output_fields(&self, declarer: &mut OutputFieldsDeclarer) {
        match self.probe {
            Some(_) => declarer.declare(["sentence", STAMP_FIELD]),
            None => declarer.declare(["sentence"]),
        }
    }

    fn open(&mut self, context: &TopologyContext) {
        self.next = context.task_index() as u64;
        self.step = context.component_tasks().len().max(1) as u64;
        self.pacer.0 = self
            .probe
            .as_ref()
            .map(|p| p.pacer(context.task_index(), self.step as usize));
    }

    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        if let Some(pos) = self.replay.next_replay() {
            // A replay is off the schedule: stamped with its resend time.
            let stamp = self.probe.as_ref().map_or(0, Probe::now_ns);
            self.emit(out, pos, Some(pos), stamp);
            return;
        }
        if self.total.is_some_and(|total| self.next >= total) {
            return;
        }
        let mut stamp = 0;
        if let Some(pacer) = &mut self.pacer.0 {
            let Some(due) = pacer.due() else {
                return;
            };
            stamp = due;
            pacer.sent();
        }
        let pos = self.next;
        if self.replay.reliable() {
            self.emit(out, pos, Some(pos), stamp);
            self.replay.emitted();
        } else {
            self.emit(out, pos, None, stamp);
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
/// per word; acks its input. [`stamped`](Self::stamped) passes a stamp on:
/// `["word", "ts"]` with the input's last field.
#[derive(Debug, Clone)]
pub struct SplitBolt {
    /// The word, then (when stamped) the stamp.
    word: Vec<Value>,
}

impl Default for SplitBolt {
    fn default() -> Self {
        Self {
            word: vec![Value::Str(String::new())],
        }
    }
}

impl SplitBolt {
    /// A split bolt that copies its input's stamp into every word.
    pub fn stamped() -> Self {
        Self {
            word: vec![Value::Str(String::new()), Value::I64(0)],
        }
    }
}

/// Calls `f` with each word of `sentence`, as [`str::split_whitespace`]
/// yields them; an ASCII sentence (the common case) is split by a loop
/// over its bytes, which does not decode characters.
fn for_each_word(sentence: &str, mut f: impl FnMut(&str)) {
    if !sentence.is_ascii() {
        sentence.split_whitespace().for_each(f);
        return;
    }
    // The ASCII characters with Unicode's White_Space property: tab, line
    // feed, vertical tab, form feed, carriage return and space
    // (`u8::is_ascii_whitespace` leaves out the vertical tab).
    let space = |b: u8| matches!(b, b'\t'..=b'\r' | b' ');
    let mut start = None;
    for (i, &b) in sentence.as_bytes().iter().enumerate() {
        match (space(b), start) {
            (true, Some(s)) => {
                // ASCII: every byte offset is a character boundary.
                f(&sentence[s..i]);
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        f(&sentence[s..]);
    }
}

impl Bolt for SplitBolt {
    fn declare_output_fields(&self, declarer: &mut OutputFieldsDeclarer) {
        match self.word.len() {
            1 => declarer.declare(["word"]),
            _ => declarer.declare(["word", STAMP_FIELD]),
        }
    }

    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        let Some(sentence) = input.get(0).and_then(|v| v.as_str()) else {
            out.fail(input);
            return;
        };
        if self.word.len() > 1 {
            set_stamp(&mut self.word, stamp_of(input).unwrap_or(0));
        }
        for_each_word(sentence, |word| {
            // Reuse one string buffer: no allocation per word once warm.
            if let Value::Str(buf) = &mut self.word[0] {
                buf.clear();
                buf.push_str(word);
            }
            // Anchored: with acking on, a sentence completes once all its
            // words are counted.
            out.emit_anchored(DEFAULT_STREAM, &[input], &self.word);
        });
        out.ack(input);
    }
}

/// Splits field `line` into words and emits `["id", "word"]` per word,
/// anchored, where `id` is the input's `id` field, `/` and the word's
/// position in the line: unique per word and the same when the line is
/// replayed, so a sink can skip what it already wrote
/// (`postgres-bolt`'s `dedup_field`). An input without a string `id` and
/// `line` is failed and reported.
#[derive(Debug, Default)]
pub struct SplitKeyedBolt {
    out: Vec<Value>,
}

impl Bolt for SplitKeyedBolt {
    fn declare_output_fields(&self, declarer: &mut OutputFieldsDeclarer) {
        declarer.declare(["id", "word"]);
    }

    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        let id = input.field("id").ok().and_then(|v| v.as_str());
        let line = input.field("line").ok().and_then(|v| v.as_str());
        let (Some(id), Some(line)) = (id, line) else {
            out.report_error(format_args!(
                "split-keyed: an input from `{}` without string fields `id` and `line`",
                input.source_component()
            ));
            out.fail(input);
            return;
        };
        for (i, word) in line.split_whitespace().enumerate() {
            self.out.clear();
            self.out.push(Value::Str(format!("{id}/{i}")));
            self.out.push(Value::Str(word.to_owned()));
            out.emit_anchored(DEFAULT_STREAM, &[input], &self.out);
        }
        out.ack(input);
    }
}

/// Counts field 0 (a word) and emits `["word", "count"]` with the word's
/// running count; acks its input. At shutdown it adds its counts to the
/// [`CountSink`] it was made with. With a [`Recorder`] it records the
/// latency of each input's stamp (its last field).
#[derive(Debug)]
pub struct CountBolt {
    /// foldhash, not SipHash: hashing every word was a twentieth of the
    /// word count's instructions.
    counts: HashMap<String, u64, foldhash::fast::RandomState>,
    sink: CountSink,
    output: CountOutput,
}

impl CountBolt {
    /// A count bolt that publishes its final counts to `sink`.
    pub fn new(sink: CountSink) -> Self {
        Self {
            counts: HashMap::default(),
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

impl Bolt for CountBolt {
    fn declare_output_fields(&self, declarer: &mut OutputFieldsDeclarer) {
        CountOutput::declare(declarer);
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
        self.output.counted(input, word, count, out);
    }

    fn cleanup(&mut self) {
        self.sink.merge(&self.counts);
        self.output.flush();
    }
}

/// What a count bolt does with a word it counted, the same with or
/// without state: records the input's stamp (with a [`Recorder`]), emits
/// `["word", "count"]` and acks the input.
#[derive(Debug)]
pub(crate) struct CountOutput {
    update: [Value; 2],
    pub(crate) recorder: Option<Recorder>,
}

impl Default for CountOutput {
    fn default() -> Self {
        Self {
            update: [Value::Str(String::new()), Value::I64(0)],
            recorder: None,
        }
    }
}

impl CountOutput {
    /// Declares `["word", "count"]`.
    pub(crate) fn declare(declarer: &mut OutputFieldsDeclarer) {
        declarer.declare(["word", "count"]);
    }

    /// `word` (of `input`) now counts `count`.
    // Always inlined: a call per word was 3 % of the word count.
    #[inline(always)]
    pub(crate) fn counted(
        &mut self,
        input: &Input<'_>,
        word: &str,
        count: u64,
        out: &mut BoltOutput<'_>,
    ) {
        if let (Some(recorder), Some(stamp)) = (&mut self.recorder, stamp_of(input)) {
            recorder.record(stamp);
        }
        if let Value::Str(buf) = &mut self.update[0] {
            buf.clear();
            buf.push_str(word);
        }
        set_int(
            &mut self.update[1],
            i64::try_from(count).unwrap_or(i64::MAX),
        );
        out.emit(&self.update);
        out.ack(input);
    }

    /// Publishes what the recorder holds (at shutdown).
    pub(crate) fn flush(&mut self) {
        if let Some(recorder) = &mut self.recorder {
            recorder.flush();
        }
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
    pub fn merge<S>(&self, counts: &HashMap<String, u64, S>) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        for (word, n) in counts {
            *map.entry(word.clone()).or_insert(0) += n;
        }
    }

    /// Forgets every count published so far.
    pub fn clear(&self) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
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
/// → `count` ([`CountBolt`], fields grouping on `"word"`). With a probe
/// the spout is paced and `count` records the latency of every word.
pub fn wordcount(opts: &BuiltinOptions) -> Result<WordCount, TopologyError> {
    wordcount_of("wordcount", default_sentences(), opts)
}

/// [`wordcount`] named `name`, its spout cycling through `sentences`
/// (which must not be empty).
pub fn wordcount_of(
    name: &str,
    sentences: Sentences,
    opts: &BuiltinOptions,
) -> Result<WordCount, TopologyError> {
    let counts = CountSink::new();
    let sink = counts.clone();
    let probe = opts.probe.clone();
    let mut builder = TopologyBuilder::new(name);
    let bolts = add_spout_and_split(&mut builder, sentences, opts, false);
    builder
        .set_bolt(
            "count",
            move || CountBolt::new(sink.clone()).recording(probe.as_ref()),
            bolts,
        )
        .fields_grouping("split", ["word"]);
    Ok(WordCount {
        topology: builder.build()?,
        counts,
    })
}

/// Adds what every word count has but its `count` bolt to `builder`:
/// ackers, max spout pending, `spout` ([`SentenceSpout`] over
/// `sentences`; a rewindable spout with `rewindable`) and `split`; returns
/// the tasks `count` gets, which the caller adds with a fields grouping
/// on `split`'s `"word"`. `wordcount` and `stateful-wordcount` differ in
/// nothing else.
pub(crate) fn add_spout_and_split(
    builder: &mut TopologyBuilder,
    sentences: Sentences,
    opts: &BuiltinOptions,
    rewindable: bool,
) -> usize {
    let total = opts.count;
    let ack = opts.ack;
    let probe = opts.probe.clone();
    let stamped = probe.is_some();
    let bolts = opts.scaled_bolt_tasks();
    builder.set_num_ackers(opts.ackers());
    if let Some(n) = opts.max_pending {
        builder.set_max_spout_pending(n);
    }
    let spout = move || {
        SentenceSpout::from_sentences(Arc::clone(&sentences), total)
            .reliable(ack)
            .paced(probe.clone())
    };
    if rewindable {
        builder.set_rewindable_spout("spout", spout, opts.spout_tasks());
    } else {
        builder.set_spout("spout", spout, opts.spout_tasks());
    }
    builder
        .set_bolt(
            "split",
            move || {
                if stamped {
                    SplitBolt::stamped()
                } else {
                    SplitBolt::default()
                }
            },
            bolts,
        )
        .shuffle_grouping("spout");
    bolts
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

    proptest::proptest! {
        #[test]
        fn words_are_split_whitespace_s(
            sentence in "[ a-c\t\n\u{b}\u{c}\r\u{1c}\u{85}\u{a0}\u{3000}é]{0,24}",
        ) {
            let mut words = Vec::new();
            for_each_word(&sentence, |w| words.push(w.to_owned()));
            let expected: Vec<&str> = sentence.split_whitespace().collect();
            proptest::prop_assert_eq!(words, expected);
        }
    }

    #[test]
    fn ascii_words_split_on_every_white_space_character() {
        let mut words = Vec::new();
        for_each_word(" a\tb\nc\u{b}d\u{c}e\rf  g\u{1c}h ", |w| {
            words.push(w.to_owned())
        });
        assert_eq!(words, ["a", "b", "c", "d", "e", "f", "g\u{1c}h"]);
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
