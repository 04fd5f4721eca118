//! A word count through the whole runtime, at several thread counts.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use gale_codec::Value;
use gale_engine::*;

const SENTENCES: [&str; 3] = ["the cow jumped over the moon", "a b c", "the end"];

struct Sentences {
    left: u64,
    i: usize,
}
impl Spout for Sentences {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare(["sentence"]);
    }
    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        if self.left > 0 {
            out.emit(&[Value::from(SENTENCES[self.i % SENTENCES.len()])]);
            self.i += 1;
            self.left -= 1;
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
        let s = input.field("sentence").unwrap().as_str().unwrap();
        for w in s.split_whitespace() {
            out.emit(&[Value::from(w)]);
        }
    }
}

struct Count {
    counts: BTreeMap<String, u64>,
    sink: Arc<Mutex<BTreeMap<String, u64>>>,
}
impl Bolt for Count {
    fn declare_output_fields(&self, _d: &mut OutputFieldsDeclarer) {}
    fn execute(&mut self, input: &Input<'_>, _out: &mut BoltOutput<'_>) {
        let w = input.field("word").unwrap().as_str().unwrap();
        *self.counts.entry(w.to_owned()).or_default() += 1;
    }
    fn cleanup(&mut self) {
        let mut sink = self.sink.lock().unwrap();
        for (w, c) in &self.counts {
            assert!(
                sink.insert(w.clone(), *c).is_none(),
                "word {w} counted by two tasks"
            );
        }
    }
}

fn run(threads: usize, n: u64) -> (BTreeMap<String, u64>, TopologyStats) {
    let sink = Arc::new(Mutex::new(BTreeMap::new()));
    let mut b = TopologyBuilder::new("wc");
    b.set_spout("spout", move || Sentences { left: n, i: 0 }, 1);
    b.set_bolt("split", || Split, 3).shuffle_grouping("spout");
    let s = Arc::clone(&sink);
    b.set_bolt(
        "count",
        move || Count {
            counts: BTreeMap::new(),
            sink: Arc::clone(&s),
        },
        3,
    )
    .fields_grouping("split", ["word"]);
    let config = RunConfig {
        threads,
        pin: false,
        ring_bytes: 4096,
        ..RunConfig::default()
    };
    let stats = LocalCluster::new(config)
        .submit(b.build().unwrap())
        .unwrap()
        .wait()
        .unwrap();
    let counts = sink.lock().unwrap().clone();
    (counts, stats)
}

#[test]
fn word_count_is_exact() {
    for threads in [1, 2, 4] {
        let (counts, stats) = run(threads, 3000);
        assert_eq!(counts["the"], 3000, "threads={threads}");
        assert_eq!(counts["moon"], 1000);
        assert_eq!(counts["end"], 1000);
        assert_eq!(stats.components["spout"].emitted, 3000);
        assert_eq!(stats.components["split"].executed, 3000);
        assert_eq!(
            stats.components["count"].executed,
            6 * 1000 + 3 * 1000 + 2 * 1000
        );
    }
}
