//! The classic word count, exact at several thread counts and ring sizes.

mod util;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use gale_codec::Value;
use gale_engine::{
    Bolt, BoltOutput, Input, OutputFieldsDeclarer, RunConfig, Spout, SpoutOutput, TaskId,
    TopologyBuilder, TopologyContext,
};
use util::run;

const SENTENCES: [&str; 5] = [
    "the cow jumped over the moon",
    "an apple a day keeps the doctor away",
    "four score and seven years ago",
    "snow white and the seven dwarfs",
    "i am at two with nature",
];

/// Emits `n` sentences per task, cycling through [`SENTENCES`].
struct Sentences {
    n: usize,
    i: usize,
}

impl Spout for Sentences {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare(["sentence"]);
    }
    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        if self.i < self.n {
            out.emit(&[Value::from(SENTENCES[self.i % SENTENCES.len()])]);
            self.i += 1;
        }
    }
    fn is_finished(&self) -> bool {
        self.i == self.n
    }
}

struct Split;

impl Bolt for Split {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare(["word", "one"]);
    }
    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        let sentence = input.field("sentence").unwrap().as_str().unwrap();
        for word in sentence.split_whitespace() {
            out.emit(&[Value::from(word), Value::I64(1)]);
        }
        out.ack(input);
    }
}

/// Final counts: word -> (count, task that counted it).
type Counts = Arc<Mutex<BTreeMap<String, (u64, TaskId)>>>;

struct Count {
    task: TaskId,
    counts: BTreeMap<String, u64>,
    sink: Counts,
}

impl Bolt for Count {
    fn declare_output_fields(&self, _d: &mut OutputFieldsDeclarer) {}
    fn prepare(&mut self, context: &TopologyContext) {
        self.task = context.task_id();
    }
    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        let word = input.field("word").unwrap().as_str().unwrap();
        let one = input.field("one").unwrap().as_i64().unwrap();
        *self.counts.entry(word.to_owned()).or_default() += one as u64;
        out.ack(input);
    }
    fn cleanup(&mut self) {
        let mut sink = self.sink.lock().unwrap();
        for (word, count) in &self.counts {
            if let Some((_, other)) = sink.insert(word.clone(), (*count, self.task)) {
                panic!("`{word}` was counted by tasks {other} and {}", self.task);
            }
        }
    }
}

fn expected(per_task: usize, spout_tasks: usize) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for i in 0..per_task {
        for word in SENTENCES[i % SENTENCES.len()].split_whitespace() {
            *counts.entry(word.to_owned()).or_default() += spout_tasks as u64;
        }
    }
    counts
}

#[test]
fn word_count_is_exact() {
    const PER_TASK: usize = 1000;
    let want = expected(PER_TASK, 2);
    let words: u64 = want.values().sum();
    for threads in [1, 2, 4] {
        for ring_bytes in [4096, RunConfig::default().ring_bytes] {
            let sink: Counts = Arc::default();
            let mut b = TopologyBuilder::new("word-count");
            b.set_spout("sentences", || Sentences { n: PER_TASK, i: 0 }, 2);
            b.set_bolt("split", || Split, 3)
                .shuffle_grouping("sentences");
            let s = Arc::clone(&sink);
            b.set_bolt(
                "count",
                move || Count {
                    task: 0,
                    counts: BTreeMap::new(),
                    sink: Arc::clone(&s),
                },
                4,
            )
            .fields_grouping("split", ["word"]);
            let stats = run(b.build().unwrap(), threads, ring_bytes);

            let what = format!("threads={threads} ring_bytes={ring_bytes}");
            let got = sink.lock().unwrap().clone();
            let counts: BTreeMap<String, u64> =
                got.iter().map(|(w, (c, _))| (w.clone(), *c)).collect();
            assert_eq!(counts, want, "{what}");
            let mut tasks: Vec<TaskId> = got.values().map(|(_, t)| *t).collect();
            tasks.sort_unstable();
            tasks.dedup();
            assert!(tasks.len() > 1, "{what}: all words counted by {tasks:?}");
            let c = &stats.components;
            assert_eq!(c["sentences"].emitted, 2 * PER_TASK as u64, "{what}");
            assert_eq!(c["split"].executed, 2 * PER_TASK as u64, "{what}");
            assert_eq!(c["split"].emitted, words, "{what}");
            assert_eq!(c["count"].executed, words, "{what}");
            assert_eq!(c["count"].acked, words, "{what}");
        }
    }
}
