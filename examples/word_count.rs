//! A word count written from scratch as a Gale user would, run with the
//! same command-line options as `gale run` through one call,
//! [`gale::cli::run`]:
//!
//! ```sh
//! cargo run --release --example word_count -- --threads 4 --json
//! cargo run --release --example word_count -- --help
//! ```
//!
//! `lines` (a spout reading a short text, [`LINES_TO_EMIT`] lines in all)
//! → `split` (shuffle) → `count` (fields grouping on `"word"`). The count
//! tasks hand their maps to `main` when they are cleaned up, and `main`
//! prints the ten most frequent words after the run's report.

use std::collections::{BTreeMap, HashMap};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};

use gale::prelude::*;

const TEXT: &str = "\
It was the best of times, it was the worst of times,
it was the age of wisdom, it was the age of foolishness,
it was the epoch of belief, it was the epoch of incredulity,
it was the season of Light, it was the season of Darkness,
it was the spring of hope, it was the winter of despair.";

/// Lines the spout emits before it reports itself finished.
const LINES_TO_EMIT: u64 = 200_000;

/// Emits the lines of [`TEXT`] in a cycle, `LINES_TO_EMIT` in all.
struct LineSpout {
    lines: Vec<[Value; 1]>,
    emitted: u64,
}

impl Spout for LineSpout {
    fn declare_output_fields(&self, declarer: &mut OutputFieldsDeclarer) {
        declarer.declare(["line"]);
    }

    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        if !self.is_finished() {
            let i = (self.emitted % self.lines.len() as u64) as usize;
            out.emit(&self.lines[i]);
            self.emitted += 1;
        }
    }

    fn is_finished(&self) -> bool {
        self.emitted >= LINES_TO_EMIT
    }
}

/// Emits each word of a line, lower-cased and without punctuation.
struct SplitBolt;

impl Bolt for SplitBolt {
    fn declare_output_fields(&self, declarer: &mut OutputFieldsDeclarer) {
        declarer.declare(["word"]);
    }

    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        let line = input.get(0).and_then(|v| v.as_str()).unwrap_or_default();
        for word in line.split(|c: char| !c.is_alphanumeric()) {
            if !word.is_empty() {
                out.emit(&[Value::from(word.to_lowercase())]);
            }
        }
        out.ack(input);
    }
}

/// Counts words; at cleanup adds its counts to the shared total.
struct CountBolt {
    counts: HashMap<String, u64>,
    total: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl Bolt for CountBolt {
    fn declare_output_fields(&self, declarer: &mut OutputFieldsDeclarer) {
        declarer.declare(["word", "count"]);
    }

    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        if let Some(word) = input.field("word").ok().and_then(|v| v.as_str()) {
            let n = self.counts.entry(word.to_owned()).or_insert(0);
            *n += 1;
            out.emit(&[Value::from(word), Value::I64(*n as i64)]);
        }
        out.ack(input);
    }

    fn cleanup(&mut self) {
        let mut total = self.total.lock().unwrap_or_else(PoisonError::into_inner);
        for (word, n) in self.counts.drain() {
            *total.entry(word).or_insert(0) += n;
        }
    }
}

fn main() -> ExitCode {
    let total = Arc::new(Mutex::new(BTreeMap::new()));
    let sink = Arc::clone(&total);

    let mut builder = TopologyBuilder::new("word-count-example");
    builder.set_spout(
        "lines",
        || LineSpout {
            lines: TEXT.lines().map(|l| [Value::from(l)]).collect(),
            emitted: 0,
        },
        1,
    );
    builder
        .set_bolt("split", || SplitBolt, 2)
        .shuffle_grouping("lines");
    builder
        .set_bolt(
            "count",
            move || CountBolt {
                counts: HashMap::new(),
                total: Arc::clone(&sink),
            },
            2,
        )
        .fields_grouping("split", ["word"]);
    let topology = match builder.build() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("word_count: invalid topology: {e}");
            return ExitCode::FAILURE;
        }
    };

    // Parses --threads/--duration/--pin/--json..., runs, prints the report.
    let code = gale::cli::run(topology);

    let total = total.lock().unwrap_or_else(PoisonError::into_inner);
    if total.is_empty() {
        return code; // --help, a bad flag, or a failed run
    }
    let mut top: Vec<_> = total.iter().collect();
    top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    eprintln!("most frequent words:");
    for (word, n) in top.into_iter().take(10) {
        eprintln!("  {word:<12} {n}");
    }
    code
}
