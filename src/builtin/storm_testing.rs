//! Stand-ins for the Storm classes that Flux's documentation uses
//! (`org.apache.storm.testing.TestWordSpout`,
//! `org.apache.storm.flux.wrappers.bolts.LogInfoBolt`), so that those
//! files run under Gale as they are. Storm's `TestWordCounter` is Gale's
//! [`CountBolt`](super::wordcount::CountBolt).

use std::time::{Duration, Instant};

use gale_codec::Value;
use gale_engine::TopologyContext;
use gale_engine::{Bolt, BoltOutput, Input, OutputFieldsDeclarer, Spout, SpoutOutput};

/// The words Storm's `TestWordSpout` picks from.
pub const TEST_WORDS: [&str; 5] = ["nathan", "mike", "jackson", "golda", "bertels"];

/// Storm's `TestWordSpout`: one `["word"]` tuple, a word of
/// [`TEST_WORDS`] picked at random, every `interval` (Storm's is 100 ms),
/// without a message id (as Storm's); with a `count`, it is finished
/// after that many words (over all its tasks).
#[derive(Debug, Clone)]
pub struct TestWordSpout {
    interval: Duration,
    /// Words left for this task (`None`: forever).
    left: Option<u64>,
    /// The total before `open` splits it over the tasks.
    total: Option<u64>,
    due: Option<Instant>,
    rng: u64,
    word: [Value; 1],
}

impl TestWordSpout {
    /// A word every `interval` (zero: as often as asked), `count` words
    /// in all or forever.
    pub fn new(interval: Duration, count: Option<u64>) -> Self {
        Self {
            interval,
            left: count,
            total: count,
            due: None,
            rng: 0x9E37_79B9_7F4A_7C15,
            word: [Value::Str(String::new())],
        }
    }

    fn next_word(&mut self) -> &'static str {
        // xorshift64: a fixed, cheap sequence per task.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        TEST_WORDS[(self.rng % TEST_WORDS.len() as u64) as usize]
    }
}

impl Default for TestWordSpout {
    /// Storm's: a word every 100 ms, forever.
    fn default() -> Self {
        Self::new(Duration::from_millis(100), None)
    }
}

impl Spout for TestWordSpout {
    fn declare_output_fields(&self, declarer: &mut OutputFieldsDeclarer) {
        declarer.declare(["word"]);
    }

    fn open(&mut self, context: &TopologyContext) {
        let tasks = context.component_tasks().len().max(1) as u64;
        let index = context.task_index() as u64;
        self.left = self.total.map(|t| t / tasks + u64::from(index < t % tasks));
        self.rng = self
            .rng
            .wrapping_add(index.wrapping_mul(0x2545_F491_4F6C_DD1D))
            | 1;
    }

    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        if self.left == Some(0) {
            return;
        }
        if !self.interval.is_zero() {
            let now = Instant::now();
            match self.due {
                Some(due) if now < due => return,
                _ => self.due = Some(now + self.interval),
            }
        }
        let word = self.next_word();
        if let Value::Str(s) = &mut self.word[0] {
            s.clear();
            s.push_str(word);
        }
        out.emit(&self.word);
        if let Some(left) = &mut self.left {
            *left -= 1;
        }
    }

    fn is_finished(&self) -> bool {
        self.left == Some(0)
    }
}

/// Flux's `LogInfoBolt`: logs every input at info level (component,
/// stream and values) through `tracing`, acks it, emits nothing.
#[derive(Debug, Clone, Default)]
pub struct LogInfoBolt {
    component: String,
}

impl Bolt for LogInfoBolt {
    fn declare_output_fields(&self, _declarer: &mut OutputFieldsDeclarer) {}

    fn prepare(&mut self, context: &TopologyContext) {
        self.component = context.component_id().to_owned();
    }

    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        if tracing::enabled!(tracing::Level::INFO) {
            let values = Value::List(input.values().iter().map(|v| v.to_value()).collect());
            tracing::info!(
                component = %self.component,
                source = input.source_component(),
                stream = input.source_stream(),
                "{values}"
            );
        }
        out.ack(input);
    }
}
