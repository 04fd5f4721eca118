//! Runs a small word count through `gale::prelude` with Gale's default
//! features off, and checks the counts (exit code 1 if they are wrong).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use gale::prelude::*;

const SENTENCES: [&str; 3] = [
    "the cow jumped over the moon",
    "an apple a day keeps the doctor away",
    "four score and seven years ago",
];

/// Emits each sentence `rounds` times, reliably (acked end to end).
struct Sentences {
    left: usize,
}

impl Spout for Sentences {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare(["sentence"]);
    }

    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        if self.left > 0 {
            self.left -= 1;
            let s = SENTENCES[self.left % SENTENCES.len()];
            out.emit_with_id(&[Value::from(s)], self.left as u64);
        }
    }

    fn is_finished(&self) -> bool {
        self.left == 0
    }
}

struct Split;

impl Bolt for Split {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare(["word"]);
    }

    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        let sentence = input.field("sentence").ok().and_then(|v| v.as_str()).unwrap_or("");
        for word in sentence.split(' ') {
            out.emit_anchored(DEFAULT_STREAM, &[input], &[Value::from(word)]);
        }
        out.ack(input);
    }
}

struct Count(Arc<Mutex<BTreeMap<String, u64>>>);

impl Bolt for Count {
    fn declare_output_fields(&self, _d: &mut OutputFieldsDeclarer) {}

    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        if let Some(word) = input.field("word").ok().and_then(|v| v.as_str()) {
            *self.0.lock().unwrap().entry(word.to_owned()).or_default() += 1;
        }
        out.ack(input);
    }
}

fn main() -> ExitCode {
    let rounds = 300;
    let counts = Arc::new(Mutex::new(BTreeMap::new()));
    let mut builder = TopologyBuilder::new("downstream");
    builder.set_spout("sentences", move || Sentences { left: rounds }, 1);
    builder
        .set_bolt("split", || Split, 2)
        .shuffle_grouping("sentences");
    let sink = Arc::clone(&counts);
    builder
        .set_bolt("count", move || Count(Arc::clone(&sink)), 2)
        .fields_grouping("split", ["word"]);
    let result = builder
        .build()
        .map_err(|e| e.to_string())
        .and_then(|t| {
            let config = RunConfig {
                threads: 2,
                pin: false,
                ..RunConfig::default()
            };
            LocalCluster::new(config)
                .submit(t)
                .and_then(|r| r.wait())
                .map_err(|e| e.to_string())
        });
    let stats = match result {
        Ok(stats) => stats,
        Err(e) => {
            eprintln!("downstream: the topology failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    let counts = counts.lock().unwrap();
    // Each sentence is emitted rounds / 3 times; "the" is in two of them
    // (twice in the first).
    let per_sentence = (rounds / SENTENCES.len()) as u64;
    let expected_the = 3 * per_sentence;
    let words: u64 = counts.values().sum();
    let expected_words: u64 = SENTENCES
        .iter()
        .map(|s| s.split(' ').count() as u64 * per_sentence)
        .sum();
    let acked = stats.components["sentences"].acked;
    println!(
        "downstream: {words} words, \"the\" {} times, {acked} sentences acked",
        counts.get("the").copied().unwrap_or(0)
    );
    if counts.get("the") != Some(&expected_the)
        || words != expected_words
        || acked != rounds as u64
    {
        eprintln!(
            "downstream: wrong result: expected {expected_words} words, \"the\" {expected_the} times, {rounds} acked"
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
