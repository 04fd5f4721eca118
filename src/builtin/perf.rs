//! storm-perf's components: [`ConstSpout`], [`IdBolt`] and [`DevNullBolt`],
//! used by the `const-spout-*` topologies and by benchmarks.

use gale_codec::{ArchivedValue, Value};
use gale_engine::{
    Bolt, BoltOutput, Grouping, Input, OutputFieldsDeclarer, Spout, SpoutOutput, TopologyContext,
    DEFAULT_STREAM,
};

use super::options::share;
use super::{BuiltinOptions, PerfGrouping, Replayer};

/// Component id of the storm-perf spout (as in storm-perf).
pub const SPOUT_ID: &str = "constSpout";
/// Component id of the identity bolt.
pub const ID_BOLT_ID: &str = "idBolt";
/// Component id of the null bolt.
pub const NULL_BOLT_ID: &str = "nullBolt";
/// The string storm-perf's `ConstSpout` emits by default.
pub const DEFAULT_VALUE: &str = "some data";

/// Emits the same one-field `["str"]` tuple on every call, forever or (with
/// a total) until its share of the total is emitted; the shares of its
/// tasks add up to the total exactly.
#[derive(Debug, Clone)]
pub struct ConstSpout {
    value: [Value; 1],
    total: Option<u64>,
    remaining: u64,
    /// Next message id (with reliability on).
    next: u64,
    replay: Replayer,
}

impl ConstSpout {
    /// A spout emitting `value`, `total` times over all its tasks (forever
    /// for `None`).
    pub fn new(value: impl Into<String>, total: Option<u64>) -> Self {
        Self {
            value: [Value::Str(value.into())],
            total,
            remaining: total.unwrap_or(u64::MAX),
            next: 0,
            replay: Replayer::default(),
        }
    }

    /// Emits with message ids (tracked by the acker) and replays failed
    /// tuples.
    pub fn reliable(mut self, on: bool) -> Self {
        self.replay = Replayer::new(on);
        self
    }

    /// The spout `opts` asks for: a string of `opts.tuple_size` bytes (or
    /// [`DEFAULT_VALUE`]), `opts.count` times in total.
    pub fn from_options(opts: &BuiltinOptions) -> Self {
        let value = match opts.tuple_size {
            Some(n) => "x".repeat(n),
            None => DEFAULT_VALUE.to_owned(),
        };
        Self::new(value, opts.count).reliable(opts.ack)
    }
}

impl Spout for ConstSpout {
    fn declare_output_fields(&self, declarer: &mut OutputFieldsDeclarer) {
        declarer.declare(["str"]);
    }

    fn open(&mut self, context: &TopologyContext) {
        if let Some(total) = self.total {
            let tasks = context.component_tasks().len();
            self.remaining = share(total, context.task_index(), tasks);
        }
    }

    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        if let Some(id) = self.replay.next_replay() {
            out.emit_with_id(&self.value, id);
            return;
        }
        if self.remaining == 0 {
            return;
        }
        if self.replay.reliable() {
            out.emit_with_id(&self.value, self.next);
            self.next += 1;
            self.replay.emitted();
        } else {
            out.emit(&self.value);
        }
        if self.total.is_some() {
            self.remaining -= 1;
        }
    }

    fn ack(&mut self, msg_id: u64) {
        self.replay.ack(msg_id);
    }

    fn fail(&mut self, msg_id: u64) {
        self.replay.fail(msg_id);
    }

    fn is_finished(&self) -> bool {
        self.remaining == 0 && self.replay.settled()
    }
}

/// Re-emits every input's values, anchored to it, on the default stream
/// and acks it (storm-perf's `IdBolt`).
#[derive(Debug, Clone)]
pub struct IdBolt {
    fields: Vec<String>,
    scratch: Vec<Value>,
}

impl IdBolt {
    /// An identity bolt declaring these output fields (they must match its
    /// inputs' arity).
    pub fn new<I, S>(fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            fields: fields.into_iter().map(Into::into).collect(),
            scratch: Vec::new(),
        }
    }
}

impl Bolt for IdBolt {
    fn declare_output_fields(&self, declarer: &mut OutputFieldsDeclarer) {
        declarer.declare(self.fields.iter().cloned());
    }

    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        let values = input.values();
        self.scratch.truncate(values.len());
        for (i, value) in values.iter().enumerate() {
            match self.scratch.get_mut(i) {
                Some(slot) => copy_into(slot, value),
                None => self.scratch.push(value.to_value()),
            }
        }
        out.emit_anchored(DEFAULT_STREAM, &[input], &self.scratch);
        out.ack(input);
    }
}

/// Overwrites `slot` with `value`, reusing `slot`'s buffer when both are
/// strings or both are bytes.
fn copy_into(slot: &mut Value, value: &ArchivedValue) {
    match (slot, value.as_str(), value.as_bytes()) {
        (Value::Str(buf), Some(s), _) => {
            buf.clear();
            buf.push_str(s);
        }
        (Value::Bytes(buf), _, Some(b)) => {
            buf.clear();
            buf.extend_from_slice(b);
        }
        (slot, _, _) => *slot = value.to_value(),
    }
}

/// Acks every input and emits nothing (storm-perf's `DevNullBolt`).
#[derive(Debug, Clone, Copy, Default)]
pub struct DevNullBolt;

impl Bolt for DevNullBolt {
    fn declare_output_fields(&self, _declarer: &mut OutputFieldsDeclarer) {}

    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        out.ack(input);
    }
}

impl From<PerfGrouping> for Grouping {
    fn from(grouping: PerfGrouping) -> Self {
        match grouping {
            PerfGrouping::LocalOrShuffle => Grouping::LocalOrShuffle,
            PerfGrouping::Shuffle => Grouping::Shuffle,
        }
    }
}
