//! `rolling-top-words`: storm-starter's RollingTopWords on windowed bolts.
//!
//! `words` ([`TimedWordSpout`], one task) → `counter`
//! ([`RollingCountBolt`], a windowed bolt: the last 9 s, every 3 s, in
//! event time; fields grouping on the word) → `intermediate`
//! ([`IntermediateRankingsBolt`]: the top [`TOP_N`] of its words per
//! window; fields grouping on the word) → `total`
//! ([`TotalRankingsBolt`]: the merged top [`TOP_N`] per window; global),
//! which publishes each window's ranking to a [`RankingSink`].
//!
//! storm-starter counts in a tick-driven bolt over processing time, so its
//! rankings depend on timing. Here the words carry event time (word `i`
//! at `i` × [`WORD_SPACING_MS`]) and the window is an event-time
//! [`Window`], so every run ranks the same windows the same way and the
//! rankings can be checked against a brute-force count ([`words`] gives
//! the input). For that the stages must know when a window is complete:
//!
//! - The spout emits a *clock* tuple (null word) every second of event
//!   time, and one far ahead after its last word; the `counter`'s grouping
//!   ([`WordOrAll`]) hashes words to one task but sends clock tuples to
//!   every task, so every counter task's watermark moves. The spout also
//!   emits a clock tuple at its last word, so every window that holds a
//!   word holds clock tuples and changes from one slide to the next on
//!   every task alike: all counter tasks fire the same windows.
//! - After a window's counts, each counter task emits a `done` marker
//!   (all grouping); an intermediate ranker ranks a window once every
//!   counter task's marker for it has come (tuples from one task to
//!   another keep their order), and the total ranker merges a window once
//!   every intermediate ranker's ranking for it has come.
//!
//! With `--ack`, words are emitted with message ids and acked when they
//! leave their last window; failed words are not replayed (they would be
//! late for their windows).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use gale_codec::Value;
use gale_engine::window::{TupleWindow, Window, WindowOutput, WindowTuple, WindowedBolt};
use gale_engine::{
    Anchor, Bolt, BoltOutput, CustomGrouping, Emission, Grouping, Input, OutputFieldsDeclarer,
    Spout, SpoutOutput, TaskId, Topology, TopologyBuilder, TopologyContext, TopologyError,
};

use super::wordcount::SENTENCES;
use super::BuiltinOptions;

/// How many words a ranking keeps (storm-starter's `TOP_N`).
pub const TOP_N: usize = 5;
/// The counting window's length (storm-starter: 9 s).
pub const WINDOW: Duration = Duration::from_secs(9);
/// How often it fires (storm-starter: every 3 s).
pub const SLIDE: Duration = Duration::from_secs(3);
/// Event time between consecutive words.
pub const WORD_SPACING_MS: i64 = 10;
/// Event time between clock tuples (no longer than the slide, so every
/// window holds one).
pub const CLOCK_MS: i64 = 1_000;

/// The `total` component's output: window end (ms) → ranking, best
/// first, as `(word, count)`.
pub type Rankings = BTreeMap<i64, Vec<(String, u64)>>;

/// Where [`TotalRankingsBolt`] publishes each window's ranking; read it
/// after the run.
#[derive(Debug, Clone, Default)]
pub struct RankingSink(Arc<Mutex<Rankings>>);

impl RankingSink {
    /// The rankings so far, by window end.
    pub fn snapshot(&self) -> Rankings {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn put(&self, end: i64, ranking: Vec<(String, u64)>) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(end, ranking);
    }
}

/// The distinct words of the word count's sentences, the vocabulary.
fn vocabulary() -> Vec<&'static str> {
    let mut words: Vec<&str> = SENTENCES
        .iter()
        .flat_map(|s| s.split_whitespace())
        .collect();
    words.sort_unstable();
    words.dedup();
    words
}

/// The word at position `i` of the stream: a skewed pick from the
/// vocabulary (the smaller of two hashed draws, so early words are more
/// frequent), the same on every run.
fn word_at(vocabulary: &[&'static str], i: u64) -> &'static str {
    let draw = |salt: u64| {
        let mut x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ salt;
        x ^= x >> 31;
        x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x ^= x >> 29;
        x % vocabulary.len() as u64
    };
    vocabulary[draw(0x1234_5678).min(draw(0x8765_4321)) as usize]
}

/// The first `n` words the spout emits, with their event times (ms): the
/// input a finite run ranks.
pub fn words(n: u64) -> Vec<(&'static str, i64)> {
    let vocabulary = vocabulary();
    (0..n)
        .map(|i| (word_at(&vocabulary, i), i as i64 * WORD_SPACING_MS))
        .collect()
}

/// Emits `["word", "ts"]`: word `i` at event time `i` ×
/// [`WORD_SPACING_MS`], a clock tuple (null word) every [`CLOCK_MS`], and,
/// with a total, a last clock tuple past every window once all words are
/// out.
#[derive(Debug, Clone)]
pub struct TimedWordSpout {
    vocabulary: Vec<&'static str>,
    total: Option<u64>,
    next: u64,
    next_clock: i64,
    closed: bool,
    reliable: bool,
}

impl TimedWordSpout {
    /// A spout emitting `total` words, or words forever for `None`.
    pub fn new(total: Option<u64>, reliable: bool) -> Self {
        Self {
            vocabulary: vocabulary(),
            total,
            next: 0,
            next_clock: 0,
            closed: false,
            reliable,
        }
    }
}

impl Spout for TimedWordSpout {
    fn declare_output_fields(&self, declarer: &mut OutputFieldsDeclarer) {
        declarer.declare(["word", "ts"]);
    }

    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        if self.total.is_some_and(|t| self.next >= t) {
            if !self.closed {
                // A clock at the last word, so every window holding a word
                // holds a clock tuple (all counter tasks fire it), then
                // one past the end of every such window, to close them.
                let last = (self.next as i64 - 1).max(0) * WORD_SPACING_MS;
                let end = last + (WINDOW + SLIDE).as_millis() as i64 + CLOCK_MS;
                out.emit(&[Value::Null, Value::I64(last)]);
                out.emit(&[Value::Null, Value::I64(end)]);
                self.closed = true;
            }
            return;
        }
        let ts = self.next as i64 * WORD_SPACING_MS;
        if ts >= self.next_clock {
            out.emit(&[Value::Null, Value::I64(ts)]);
            self.next_clock = ts + CLOCK_MS;
        }
        let values = [
            Value::from(word_at(&self.vocabulary, self.next)),
            Value::I64(ts),
        ];
        if self.reliable {
            out.emit_with_id(&values, self.next);
        } else {
            out.emit(&values);
        }
        self.next += 1;
    }

    fn is_finished(&self) -> bool {
        self.closed
    }
}

/// Words by a stable hash of the word to one task; clock tuples (a null
/// word) to every task.
#[derive(Debug, Default)]
pub struct WordOrAll {
    tasks: Vec<TaskId>,
}

impl CustomGrouping for WordOrAll {
    fn prepare(&mut self, target_tasks: &[TaskId]) {
        self.tasks = target_tasks.to_vec();
    }

    fn choose_tasks(&mut self, values: &[Value], out: &mut Vec<TaskId>) {
        match values.first() {
            Some(Value::Str(word)) if !self.tasks.is_empty() => {
                // FNV-1a: the same on every run and every host.
                let mut h: u64 = 0xcbf2_9ce4_8422_2325;
                for b in word.bytes() {
                    h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
                }
                out.push(self.tasks[(h % self.tasks.len() as u64) as usize]);
            }
            _ => out.extend_from_slice(&self.tasks),
        }
    }
}

/// Counts each word over the window (storm-starter's RollingCountBolt):
/// emits `["word", "count", "end"]` per word, anchored to that word's
/// tuples, then `["end"]` on stream `done`.
#[derive(Debug, Default)]
pub struct RollingCountBolt;

impl WindowedBolt for RollingCountBolt {
    fn declare_output_fields(&self, declarer: &mut OutputFieldsDeclarer) {
        declarer.declare(["word", "count", "end"]);
        declarer.declare_stream("done", ["end"]);
    }

    fn execute(&mut self, window: &TupleWindow<'_>, out: &mut WindowOutput<'_, '_>) {
        let mut by_word: BTreeMap<&str, Vec<&WindowTuple>> = BTreeMap::new();
        for t in window.get() {
            if let Some(Value::Str(word)) = t.get(0) {
                by_word.entry(word).or_default().push(t);
            }
        }
        let end = Value::I64(window.end_timestamp());
        for (word, tuples) in &by_word {
            let values = [
                Value::from(*word),
                Value::I64(tuples.len() as i64),
                end.clone(),
            ];
            out.emit_anchored("default", tuples, &values);
        }
        // Unanchored: it carries no data, only "this window is complete".
        out.emit_unanchored("done", &[end]);
    }
}

/// The best [`TOP_N`] of `counts`: by count, then word.
fn top(mut counts: Vec<(String, u64)>) -> Vec<(String, u64)> {
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    counts.truncate(TOP_N);
    counts
}

fn ranking_value(ranking: &[(String, u64)]) -> Value {
    Value::List(
        ranking
            .iter()
            .map(|(w, c)| Value::List(vec![Value::from(w.as_str()), Value::I64(*c as i64)]))
            .collect(),
    )
}

/// One window's pending part in a ranker: what came so far, from how many
/// upstream tasks, and the inputs to ack once it is ranked.
#[derive(Default)]
struct Pending {
    counts: Vec<(String, u64)>,
    markers: usize,
    anchors: Vec<Anchor>,
}

/// Ranks a window's words once every upstream task has reported it, emits
/// the ranking anchored to its inputs and acks them.
fn finish(pending: Pending, end: i64, out: &mut BoltOutput<'_>) -> Vec<(String, u64)> {
    let ranking = top(pending.counts);
    let values = [ranking_value(&ranking), Value::I64(end)];
    out.emit_with(
        Emission {
            stream: "default",
            direct: None,
            values: &values,
            targets: None,
        },
        &pending.anchors,
    );
    for a in &pending.anchors {
        out.ack_anchor(a);
    }
    ranking
}

/// The best [`TOP_N`] of the words it counts, per window (storm-starter's
/// IntermediateRankingsBolt): emits `["rankings", "end"]` once every
/// counter task's `done` marker for the window has come.
#[derive(Default)]
pub struct IntermediateRankingsBolt {
    counters: usize,
    windows: HashMap<i64, Pending>,
}

impl Bolt for IntermediateRankingsBolt {
    fn declare_output_fields(&self, declarer: &mut OutputFieldsDeclarer) {
        declarer.declare(["rankings", "end"]);
    }

    fn prepare(&mut self, context: &TopologyContext) {
        self.counters = context.tasks_of("counter").len();
    }

    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        let end = input.field("end").ok().and_then(|v| v.as_i64());
        let Some(end) = end else {
            out.report_error("a tuple without an integer `end`");
            out.fail(input);
            return;
        };
        let pending = self.windows.entry(end).or_default();
        pending.anchors.push(input.anchor());
        if input.source_stream() == "done" {
            pending.markers += 1;
        } else {
            let word = input.field("word").ok().and_then(|v| v.as_str());
            let count = input.field("count").ok().and_then(|v| v.as_i64());
            if let (Some(word), Some(count)) = (word, count) {
                pending.counts.push((word.to_owned(), count.max(0) as u64));
            }
        }
        if pending.markers == self.counters {
            if let Some(pending) = self.windows.remove(&end) {
                finish(pending, end, out);
            }
        }
    }
}

/// Merges the intermediate rankings of each window into the total top
/// [`TOP_N`] (storm-starter's TotalRankingsBolt), publishes it to its
/// [`RankingSink`] and emits `["rankings", "end"]`.
pub struct TotalRankingsBolt {
    sink: RankingSink,
    rankers: usize,
    windows: HashMap<i64, Pending>,
}

impl TotalRankingsBolt {
    /// A total ranker publishing to `sink`.
    pub fn new(sink: RankingSink) -> Self {
        Self {
            sink,
            rankers: 0,
            windows: HashMap::new(),
        }
    }
}

impl Bolt for TotalRankingsBolt {
    fn declare_output_fields(&self, declarer: &mut OutputFieldsDeclarer) {
        declarer.declare(["rankings", "end"]);
    }

    fn prepare(&mut self, context: &TopologyContext) {
        self.rankers = context.tasks_of("intermediate").len();
    }

    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        let end = input.field("end").ok().and_then(|v| v.as_i64());
        let ranking = input.field("rankings").ok().and_then(|v| v.as_list());
        let (Some(end), Some(ranking)) = (end, ranking) else {
            out.report_error("a ranking without `rankings` and an integer `end`");
            out.fail(input);
            return;
        };
        let pending = self.windows.entry(end).or_default();
        pending.anchors.push(input.anchor());
        pending.markers += 1;
        for entry in ranking {
            let pair = entry.as_list().unwrap_or_default();
            if let [word, count] = pair {
                if let (Some(w), Some(c)) = (word.as_str(), count.as_i64()) {
                    pending.counts.push((w.to_owned(), c.max(0) as u64));
                }
            }
        }
        if pending.markers == self.rankers {
            if let Some(pending) = self.windows.remove(&end) {
                let ranking = finish(pending, end, out);
                self.sink.put(end, ranking);
            }
        }
    }
}

/// storm-starter's own way of counting, for comparison: a plain bolt
/// that keeps per-word counts in slots of one slide (storm-starter's
/// `SlidingWindowCounter`) and, when event time passes a slide's end,
/// emits the sums over the last window's slots, exactly as
/// [`RollingCountBolt`] does (the same rows, the same `done` markers, the
/// same windows: those that hold a tuple, clock tuples included). It acks
/// each input at once and emits unanchored, as storm-starter's does. The
/// `rolling-top-words-slots` built-in; `scripts/bench-windows` measures
/// both.
#[derive(Debug, Default)]
pub struct SlotCountBolt {
    /// Slot start (ms) → word counts; a slot exists once a tuple fell in.
    slots: BTreeMap<i64, HashMap<String, u64>>,
    /// The largest timestamp seen.
    watermark: Option<i64>,
    /// The end of the next window to consider.
    next_end: Option<i64>,
}

impl SlotCountBolt {
    /// Emits every window ending at or before the watermark that holds a
    /// tuple, and forgets slots no later window holds.
    fn fire(&mut self, watermark: i64, out: &mut BoltOutput<'_>) {
        let (length, slide) = (WINDOW.as_millis() as i64, SLIDE.as_millis() as i64);
        while let Some(first) = self.slots.keys().next().copied() {
            let end = self.next_end.unwrap_or(first + slide).max(first + slide);
            if end > watermark {
                break;
            }
            let mut sums: BTreeMap<&str, u64> = BTreeMap::new();
            let mut any = false;
            for (_, counts) in self.slots.range(end - length..end) {
                any = true;
                for (word, n) in counts {
                    *sums.entry(word).or_default() += n;
                }
            }
            if any {
                for (word, n) in sums {
                    out.emit(&[Value::from(word), Value::I64(n as i64), Value::I64(end)]);
                }
                out.emit_to("done", &[Value::I64(end)]);
            }
            self.slots = self.slots.split_off(&(end + slide - length));
            self.next_end = Some(end + slide);
        }
    }
}

impl Bolt for SlotCountBolt {
    fn declare_output_fields(&self, declarer: &mut OutputFieldsDeclarer) {
        declarer.declare(["word", "count", "end"]);
        declarer.declare_stream("done", ["end"]);
    }

    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        let Some(ts) = input.field("ts").ok().and_then(|v| v.as_i64()) else {
            out.report_error("a word without an integer `ts`");
            out.fail(input);
            return;
        };
        let slide = SLIDE.as_millis() as i64;
        if self.watermark.is_none_or(|w| ts >= w) {
            let slot = self.slots.entry(ts.div_euclid(slide) * slide).or_default();
            if let Some(word) = input.field("word").ok().and_then(|v| v.as_str()) {
                *slot.entry(word.to_owned()).or_default() += 1;
            }
            self.watermark = Some(ts);
        }
        out.ack(input);
        self.fire(ts, out);
    }
}

/// A built `rolling-top-words` and where its rankings go.
#[derive(Debug)]
pub struct RollingTopWords {
    /// The topology.
    pub topology: Topology,
    /// The total ranking of every window, filled while it runs.
    pub rankings: RankingSink,
}

/// Builds `rolling-top-words`: one spout task (event time must rise in one
/// place), `counter` and `intermediate` with `opts`' scaled bolt tasks,
/// one `total`.
pub fn rolling_top_words(opts: &BuiltinOptions) -> Result<RollingTopWords, TopologyError> {
    build(opts, false)
}

/// `rolling-top-words-slots`: the same with [`SlotCountBolt`] as the
/// counter (storm-starter's own counting, the reference for the windowed
/// bolt).
pub fn rolling_top_words_slots(opts: &BuiltinOptions) -> Result<RollingTopWords, TopologyError> {
    build(opts, true)
}

fn build(opts: &BuiltinOptions, slots: bool) -> Result<RollingTopWords, TopologyError> {
    let rankings = RankingSink::default();
    let tasks = opts.scaled_bolt_tasks();
    let (total, reliable) = (opts.count, opts.ack);
    let name = if slots {
        "rolling-top-words-slots"
    } else {
        "rolling-top-words"
    };
    let mut builder = TopologyBuilder::new(name);
    builder.set_num_ackers(opts.ackers());
    if let Some(n) = opts.max_pending {
        builder.set_max_spout_pending(n);
    }
    builder.set_spout("words", move || TimedWordSpout::new(total, reliable), 1);
    let counter = if slots {
        builder.set_bolt("counter", SlotCountBolt::default, tasks)
    } else {
        let window = Window::sliding(WINDOW, SLIDE).with_timestamp_field("ts");
        builder.set_windowed_bolt("counter", || RollingCountBolt, window, tasks)
    };
    let _ = counter.custom_grouping("words", "default", Grouping::custom(WordOrAll::default));
    builder
        .set_bolt("intermediate", IntermediateRankingsBolt::default, tasks)
        .fields_grouping("counter", ["word"])
        .grouping("counter", "done", Grouping::All);
    let sink = rankings.clone();
    builder
        .set_bolt("total", move || TotalRankingsBolt::new(sink.clone()), 1)
        .global_grouping("intermediate");
    Ok(RollingTopWords {
        topology: builder.build()?,
        rankings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_word_stream_is_skewed_and_the_same_every_time() {
        let a = words(10_000);
        assert_eq!(a, words(10_000));
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for (w, _) in &a {
            *counts.entry(w).or_default() += 1;
        }
        let mut n: Vec<usize> = counts.values().copied().collect();
        n.sort_unstable();
        assert!(n.len() > 20 && n[n.len() - 1] > 3 * n[0], "{n:?}");
        assert_eq!(a[7].1, 7 * WORD_SPACING_MS);
    }

    #[test]
    fn clock_tuples_go_to_every_task_and_words_to_one() {
        let mut g = WordOrAll::default();
        g.prepare(&[3, 4, 5]);
        let mut out = Vec::new();
        g.choose_tasks(&[Value::Null, Value::I64(0)], &mut out);
        assert_eq!(out, [3, 4, 5]);
        out.clear();
        g.choose_tasks(&[Value::from("cow"), Value::I64(0)], &mut out);
        assert_eq!(out.len(), 1);
        let first = out[0];
        out.clear();
        g.choose_tasks(&[Value::from("cow"), Value::I64(9)], &mut out);
        assert_eq!(out, [first]);
    }
}
