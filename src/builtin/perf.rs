//! storm-perf's components: [`ConstSpout`], [`IdBolt`] and [`DevNullBolt`],
//! used by the `const-spout-*` topologies and by benchmarks.

use gale_codec::Value;
use gale_engine::{
    Bolt, BoltOutput, Grouping, Input, InputBatch, OutputFieldsDeclarer, Spout, SpoutOutput,
    TopologyBuilder, TopologyContext, DEFAULT_STREAM,
};

use super::options::share;
use super::probe::{PacerSlot, Probe, Recorder, STAMP_FIELD};
use super::{BuiltinOptions, PerfGrouping, Replayer};

/// Component id of the storm-perf spout (as in storm-perf).
pub const SPOUT_ID: &str = "constSpout";
/// Component id of the identity bolt.
pub const ID_BOLT_ID: &str = "idBolt";
/// Component id of the null bolt.
pub const NULL_BOLT_ID: &str = "nullBolt";
/// Tuples an unpaced, unreliable [`ConstSpout`] emits per `next_tuple`.
pub const EMIT_RUN: u64 = 256;
/// Trees a reliable, unpaced [`ConstSpout`] starts per `next_tuple`.
/// Fewer than [`EMIT_RUN`]: each is in flight until acked, and a run
/// overshoots the max spout pending by up to this many less one.
pub const RELIABLE_RUN: u64 = 32;
/// Tuples a paced [`ConstSpout`] emits per `next_tuple` at most (those due
/// at one reading of the clock). Fewer than [`EMIT_RUN`]: the batch of
/// them is gathered on the stack, made afresh by every call that has a
/// tuple due, and at low rates that is most such calls' cost.
pub const DUE_RUN: u64 = 64;
/// The string storm-perf's `ConstSpout` emits by default.
pub const DEFAULT_VALUE: &str = "some data";

/// Emits the same one-field `["str"]` tuple, forever or (with a total)
/// until its share of the total is emitted; the shares of its tasks add up
/// to the total exactly. Unpaced and unreliable, it emits a run of
/// [`EMIT_RUN`] tuples per call ([`SpoutOutput::emit_each`]); reliable,
/// a run of [`RELIABLE_RUN`] trees ([`SpoutOutput::emit_many_with_ids`]).
///
/// With a [`Probe`] ([`paced`](Self::paced)) it emits `["str", "ts"]` on
/// the probe's schedule, `ts` being the tuple's intended send time;
/// unreliable, every tuple due at one reading of the clock (up to
/// [`DUE_RUN`]) as one batch ([`SpoutOutput::emit_batch`]).
#[derive(Debug, Clone)]
pub struct ConstSpout {
    /// The string, then (when paced) the stamp.
    value: Vec<Value>,
    /// [`EMIT_RUN`] copies of the string: the one-field tuples of a run.
    run: Vec<Value>,
    /// When paced: [`DUE_RUN`] copies of `value`, the tuples of a run of
    /// those due at once (each with its own stamp).
    stamped: Vec<Vec<Value>>,
    probe: Option<Probe>,
    pacer: PacerSlot,
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
        let value = Value::Str(value.into());
        Self {
            run: vec![value.clone(); EMIT_RUN as usize],
            value: vec![value],
            stamped: Vec::new(),
            probe: None,
            pacer: PacerSlot::default(),
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

    /// Emits on `probe`'s schedule (`None`: as fast as it is polled), with
    /// a stamp field.
    pub fn paced(mut self, probe: Option<Probe>) -> Self {
        if probe.is_some() {
            self.value.truncate(1);
            self.value.push(Value::I64(0));
            self.stamped = vec![self.value.clone(); DUE_RUN as usize];
        }
        self.probe = probe;
        self
    }

    /// The spout `opts` asks for: a string of `opts.tuple_size` bytes (or
    /// [`DEFAULT_VALUE`]), `opts.count` times in total, paced by
    /// `opts.probe`.
    pub fn from_options(opts: &BuiltinOptions) -> Self {
        Self::new(const_value(opts.tuple_size), opts.count)
            .reliable(opts.ack)
            .paced(opts.probe.clone())
    }

    /// The fields it declares: `["str"]`, or `["str", "ts"]` when paced.
    pub fn fields(&self) -> Vec<&'static str> {
        let mut fields = vec!["str"];
        if self.probe.is_some() {
            fields.push(STAMP_FIELD);
        }
        fields
    }
}

/// The constant string of the storm-perf spout: `size` bytes of `x`, or
/// [`DEFAULT_VALUE`].
pub fn const_value(size: Option<usize>) -> String {
    match size {
        Some(n) => "x".repeat(n),
        None => DEFAULT_VALUE.to_owned(),
    }
}

/// Stamps `values` (whose last field is the stamp) with `stamp`.
pub(crate) fn set_stamp(values: &mut [Value], stamp: u64) {
    if let Some(last) = values.last_mut() {
        set_int(last, i64::try_from(stamp).unwrap_or(i64::MAX));
    }
}

/// Sets `slot` to `Value::I64(n)`; in place when it already is an
/// integer (an assignment would drop the old value first: a call per
/// tuple).
#[inline]
pub(crate) fn set_int(slot: &mut Value, n: i64) {
    match slot {
        Value::I64(old) => *old = n,
        other => *other = Value::I64(n),
    }
}

/// The stamp in the last field of `input`, if it has one.
pub(crate) fn stamp_of(input: &Input<'_>) -> Option<u64> {
    let last = input.values().last()?;
    u64::try_from(last.as_i64()?).ok()
}

impl Spout for ConstSpout {
    fn declare_output_fields(&self, declarer: &mut OutputFieldsDeclarer) {
        declarer.declare(self.fields());
    }

    fn open(&mut self, context: &TopologyContext) {
        let tasks = context.component_tasks().len();
        if let Some(total) = self.total {
            self.remaining = share(total, context.task_index(), tasks);
        }
        self.pacer.0 = self
            .probe
            .as_ref()
            .map(|p| p.pacer(context.task_index(), tasks));
    }

    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        if let Some(id) = self.replay.next_replay() {
            // A replay is off the schedule: stamped with its resend time.
            if let Some(probe) = &self.probe {
                set_stamp(&mut self.value, probe.now_ns());
            }
            out.emit_with_id(&self.value, id);
            return;
        }
        if self.remaining == 0 {
            return;
        }
        if self.pacer.0.is_none() && !self.replay.reliable() {
            // Unpaced and untracked: a run of tuples per call.
            let n = self.remaining.min(EMIT_RUN);
            out.emit_each(&self.run[..n as usize]);
            if self.total.is_some() {
                self.remaining -= n;
            }
            return;
        }
        if let Some(pacer) = self.pacer.0.as_mut().filter(|_| !self.replay.reliable()) {
            // Paced and untracked: every tuple due by one reading of the
            // clock (up to a run), each stamped with its own intended
            // time, so a spout that fell behind catches up without a
            // clock read and a worker pass per tuple. They go out as one
            // batch.
            let now = pacer.probe().now_ns();
            if pacer.due_by(now).is_none() {
                // Most calls at a low rate: nothing due, so no batch
                // array to make.
                return;
            }
            let max = DUE_RUN.min(self.remaining) as usize;
            let mut batch: [&[Value]; DUE_RUN as usize] = [&[]; DUE_RUN as usize];
            let mut n = 0;
            for tuple in self.stamped.iter_mut().take(max) {
                let Some(stamp) = pacer.due_by(now) else {
                    break;
                };
                set_stamp(tuple, stamp);
                pacer.sent();
                batch[n] = tuple;
                n += 1;
            }
            if n > 0 {
                out.emit_batch(&batch[..n]);
                if self.total.is_some() {
                    self.remaining -= n as u64;
                }
            }
            return;
        }
        if let Some(pacer) = &mut self.pacer.0 {
            let Some(stamp) = pacer.due() else {
                return;
            };
            set_stamp(&mut self.value, stamp);
            pacer.sent();
        }
        if self.pacer.0.is_none() {
            // Reliable and unpaced: a run of trees per call
            // (`emit_many_with_ids`), each with its own message id. The
            // worker checks the max spout pending before each call, so a
            // run may take the trees in flight past it by up to
            // `RELIABLE_RUN - 1`, as any spout emitting several tuples per
            // call does in Storm.
            let n = self.remaining.min(RELIABLE_RUN);
            let first = self.next;
            let tuple = self.value.as_slice();
            out.emit_many_with_ids(std::iter::repeat_n(tuple, n as usize).zip(first..));
            self.next += n;
            self.replay.emitted_many(n);
            if self.total.is_some() {
                self.remaining -= n;
            }
            return;
        }
        // Reliable and paced: the tuple due now.
        out.emit_with_id(&self.value, self.next);
        self.next += 1;
        self.replay.emitted();
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
/// and acks it (storm-perf's `IdBolt`): with
/// [`forward`](BoltOutput::forward), so the values are written again from
/// their archived form, not built.
#[derive(Debug, Clone)]
pub struct IdBolt {
    fields: Vec<String>,
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
        }
    }
}

impl Bolt for IdBolt {
    fn declare_output_fields(&self, declarer: &mut OutputFieldsDeclarer) {
        declarer.declare(self.fields.iter().cloned());
    }

    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        out.forward(DEFAULT_STREAM, input);
        out.ack(input);
    }
}

/// The last bolt of a paced topology: records the latency of every
/// input's stamp (its last field) and acks it, like [`DevNullBolt`]. The
/// clock is read once per run of inputs, after the run: a latency is late
/// by at most the rest of its run's processing, never early (a reading
/// per input cost more than the rest of the sink, a third of its thread
/// at 10 M tuples/s, which loaded the very path it measures).
#[derive(Debug)]
pub struct StampSinkBolt {
    recorder: Recorder,
    /// The current run's stamps.
    stamps: Vec<u64>,
}

impl StampSinkBolt {
    /// A sink recording into `probe`.
    pub fn new(probe: &Probe) -> Self {
        Self {
            recorder: probe.recorder(),
            stamps: Vec::new(),
        }
    }
}

impl Bolt for StampSinkBolt {
    fn declare_output_fields(&self, _declarer: &mut OutputFieldsDeclarer) {}

    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        if let Some(stamp) = stamp_of(input) {
            self.recorder.record(stamp);
        }
        out.ack(input);
    }

    fn execute_batch(&mut self, inputs: &mut InputBatch<'_, '_>, out: &mut BoltOutput<'_>) {
        inputs.one_at_a_time();
        self.stamps.clear();
        for input in inputs {
            if let Some(stamp) = stamp_of(&input) {
                self.stamps.push(stamp);
            }
            out.ack(&input);
        }
        self.recorder.record_all(&self.stamps);
    }

    fn cleanup(&mut self) {
        self.recorder.flush();
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

/// Adds the storm-perf topologies' last bolt, [`NULL_BOLT_ID`], fed by
/// `from` with `opts.grouping`: a [`DevNullBolt`], or with a probe a
/// [`StampSinkBolt`].
pub(crate) fn set_null_bolt(builder: &mut TopologyBuilder, from: &str, opts: &BuiltinOptions) {
    let tasks = opts.perf_bolt_tasks();
    let grouping = Grouping::from(opts.grouping);
    match opts.probe.clone() {
        Some(probe) => builder.set_bolt(NULL_BOLT_ID, move || StampSinkBolt::new(&probe), tasks),
        None => builder.set_bolt(NULL_BOLT_ID, || DevNullBolt, tasks),
    }
    .grouping(from, DEFAULT_STREAM, grouping);
}

impl From<PerfGrouping> for Grouping {
    fn from(grouping: PerfGrouping) -> Self {
        match grouping {
            PerfGrouping::LocalOrShuffle => Grouping::LocalOrShuffle,
            PerfGrouping::Shuffle => Grouping::Shuffle,
            PerfGrouping::Fields => Grouping::Fields(vec!["str".to_owned()]),
        }
    }
}
