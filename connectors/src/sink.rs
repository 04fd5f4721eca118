//! What every batching sink does alike: hold inputs until `batch` of
//! them or until the oldest has waited `linger_ms` (or a tick arrives),
//! write them together (a lookup emits what it found, anchored), ack
//! them all after the write or fail them all
//! (the spout replays them); an input that cannot be staged fails alone;
//! a configuration error found at start fails every input.
//!
//! A bolt keeps a [`Batching`] next to its [`BatchWriter`] and hands both
//! to the calls of its `Bolt` impl.

use std::sync::Arc;

use gale_engine::{Anchor, BoltOutput, Input, InputBatch};

use crate::task::{Fatal, Linger};
use crate::{ConnectorError, ConnectorMetrics};

/// The part of a sink that knows its target.
pub(crate) trait BatchWriter {
    /// Adds `input` to the batch being built; an error fails this input
    /// alone (and is reported).
    fn stage(&mut self, input: &Input<'_>) -> Result<(), ConnectorError>;

    /// Writes the staged batch, one input per anchor of `held` (in the
    /// order staged; a writer that emits anchors to them). `Ok` acks them
    /// all; an error fails them all and is reported; `Err(None)`: not now
    /// (waiting out a reconnect backoff) — the inputs stay held, staged,
    /// and the write is tried again at the next poll.
    fn write(
        &mut self,
        held: &[Anchor],
        out: &mut BoltOutput<'_>,
    ) -> Result<(), Option<ConnectorError>>;

    /// Drops what is staged (the batch failed).
    fn discard(&mut self);

    /// After a write that succeeded: the indexes (into `held`) of inputs
    /// the writer failed alone (and reported); the rest are acked.
    fn take_rejected(&mut self) -> Vec<usize> {
        Vec::new()
    }

    /// Something to do even with nothing held (a time-based rotation);
    /// called from `poll`. Returns whether it did anything.
    fn idle_work(&mut self, _out: &mut BoltOutput<'_>) -> bool {
        false
    }
}

/// The held inputs of a batching sink and when to write them.
#[derive(Debug)]
pub(crate) struct Batching {
    held: Vec<Anchor>,
    linger: Linger,
    batch: usize,
    pub(crate) fatal: Fatal,
    pub(crate) metrics: Arc<ConnectorMetrics>,
}

impl Batching {
    /// Writes every `batch` inputs or after `linger_ms`.
    pub(crate) fn new(connector: &str, batch: usize, linger_ms: u64) -> Self {
        Self {
            held: Vec::new(),
            linger: Linger::new(linger_ms),
            batch: batch.max(1),
            fatal: Fatal::default(),
            metrics: ConnectorMetrics::new(connector, "", 0),
        }
    }

    /// An input: staged and held (written once the batch is full), or
    /// failed.
    pub(crate) fn execute(
        &mut self,
        w: &mut impl BatchWriter,
        input: &Input<'_>,
        out: &mut BoltOutput<'_>,
    ) {
        if input.is_tick() {
            self.flush(w, out);
            return;
        }
        if self.fatal.refuse(input, out) {
            return;
        }
        match w.stage(input) {
            Ok(()) => {
                self.linger.held();
                self.held.push(input.anchor());
                if self.held.len() >= self.batch {
                    self.flush(w, out);
                }
            }
            Err(e) => {
                self.metrics.error();
                out.report_error(&e);
                out.fail(input);
            }
        }
    }

    /// A run of inputs.
    pub(crate) fn execute_batch(
        &mut self,
        w: &mut impl BatchWriter,
        inputs: &mut InputBatch<'_, '_>,
        out: &mut BoltOutput<'_>,
    ) {
        for input in inputs {
            self.execute(w, &input, out);
        }
        self.metrics.set_pending(self.held.len());
    }

    /// Writes what is held, if anything.
    pub(crate) fn flush(&mut self, w: &mut impl BatchWriter, out: &mut BoltOutput<'_>) {
        if self.held.is_empty() {
            return;
        }
        match w.write(&self.held, out) {
            Ok(()) => {
                let rejected = w.take_rejected();
                self.metrics.batch(self.held.len() - rejected.len());
                for (i, a) in self.held.drain(..).enumerate() {
                    if rejected.contains(&i) {
                        out.fail_anchor(&a);
                    } else {
                        out.ack_anchor(&a);
                    }
                }
            }
            Err(None) => return, // later
            Err(Some(e)) => {
                self.metrics.error();
                out.report_error(&e);
                w.discard();
                for a in self.held.drain(..) {
                    out.fail_anchor(&a);
                }
            }
        }
        self.linger.clear();
        self.metrics.set_pending(0);
    }

    /// The linger passed: write. Returns whether anything was done.
    pub(crate) fn poll(&mut self, w: &mut impl BatchWriter, out: &mut BoltOutput<'_>) -> bool {
        let due = self.linger.due();
        if due {
            self.flush(w, out);
        }
        w.idle_work(out) || due
    }

    /// Whether inputs are held.
    pub(crate) fn has_pending(&self) -> bool {
        !self.held.is_empty()
    }
}

/// The `Bolt` methods of a batching bolt: each hands the call to the
/// bolt's [`Batching`] `b` and its writer field `$w`.
macro_rules! batching_bolt_methods {
    ($w:ident) => {
        fn execute(
            &mut self,
            input: &gale_engine::Input<'_>,
            out: &mut gale_engine::BoltOutput<'_>,
        ) {
            self.b.execute(&mut self.$w, input, out);
        }

        fn execute_batch(
            &mut self,
            inputs: &mut gale_engine::InputBatch<'_, '_>,
            out: &mut gale_engine::BoltOutput<'_>,
        ) {
            self.b.execute_batch(&mut self.$w, inputs, out);
        }

        fn wants_poll(&self) -> bool {
            true
        }

        fn poll(&mut self, out: &mut gale_engine::BoltOutput<'_>) -> bool {
            self.b.poll(&mut self.$w, out)
        }

        fn has_pending(&self) -> bool {
            self.b.has_pending()
        }
    };
}
pub(crate) use batching_bolt_methods;
