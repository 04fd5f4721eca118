//! The collectors a running task emits through: [`SpoutOutput`] (Storm's
//! `SpoutOutputCollector`) and [`BoltOutput`] (Storm's `OutputCollector`),
//! thin handles on the worker's [`Emitter`].

use std::fmt;

use gale_codec::Value;

use super::input::{Anchor, Emission, Input};
use super::output::{Emitter, Track};
use crate::acker::SpoutPending;
use crate::TaskId;

/// The methods both collectors share: untracked emits, errors, the id.
macro_rules! common_collector_methods {
    ($collector:ident) => {
        impl $collector<'_> {
            /// Emits `values` on the default stream, untracked (not part of
            /// any tuple tree).
            pub fn emit(&mut self, values: &[Value]) {
                self.emitter.emit_default(self.slot, self.task, values);
            }

            /// Emits each of `tuples` on the default stream, in order,
            /// untracked: the same as [`emit`](Self::emit) for each, with
            /// what the engine does per emit (routing, counters, metrics)
            /// done once for the whole run where the stream's route allows
            /// (one subscriber that always gets the tuple, or none).
            ///
            /// ```
            /// # use gale_codec::Value;
            /// # use gale_engine::SpoutOutput;
            /// fn emit_words(out: &mut SpoutOutput<'_>, words: &[Vec<Value>]) {
            ///     out.emit_many(words.iter().map(Vec::as_slice));
            /// }
            /// ```
            pub fn emit_many<'v>(&mut self, tuples: impl IntoIterator<Item = &'v [Value]>) {
                self.emitter.emit_many_default(self.slot, self.task, tuples);
            }

            /// Emits `values` on `stream`, untracked.
            pub fn emit_to(&mut self, stream: &str, values: &[Value]) {
                self.emitter
                    .emit(self.slot, self.task, Some(stream), None, values, Track::No);
            }

            /// Emits `values` on the direct `stream` to `task` only,
            /// untracked.
            pub fn emit_direct(&mut self, task: TaskId, stream: &str, values: &[Value]) {
                let (slot, me) = (self.slot, self.task);
                self.emitter
                    .emit(slot, me, Some(stream), Some(task), values, Track::No);
            }

            /// Reports an error with this task's component and id; the
            /// topology keeps running.
            pub fn report_error(&mut self, error: impl fmt::Display) {
                self.emitter
                    .error(self.slot, self.task, format_args!("reported: {error}"));
            }

            /// This task's id.
            pub fn task_id(&self) -> TaskId {
                self.task
            }
        }
    };
}

common_collector_methods!(SpoutOutput);
common_collector_methods!(BoltOutput);

/// The spout's collector (Storm's `SpoutOutputCollector`).
pub struct SpoutOutput<'a> {
    pub(crate) emitter: &'a mut Emitter,
    pub(crate) slot: usize,
    pub(crate) task: TaskId,
}

impl SpoutOutput<'_> {
    /// Emits `values` on the default stream as a reliable tuple: the spout
    /// gets exactly one `ack(msg_id)` once its tree is fully processed or
    /// one `fail(msg_id)` if it fails or times out.
    pub fn emit_with_id(&mut self, values: &[Value], msg_id: u64) {
        let track = Track::Root(msg_id);
        self.emitter
            .emit(self.slot, self.task, None, None, values, track);
    }

    /// Like [`emit_with_id`](Self::emit_with_id), on `stream`.
    pub fn emit_to_with_id(&mut self, stream: &str, values: &[Value], msg_id: u64) {
        let track = Track::Root(msg_id);
        self.emitter
            .emit(self.slot, self.task, Some(stream), None, values, track);
    }

    /// Emits an [`Emission`] (any stream, direct or not, optionally
    /// reporting its target tasks), reliable with `msg_id` or untracked
    /// with `None`.
    pub fn emit_with(&mut self, emission: Emission<'_>, msg_id: Option<u64>) {
        let track = msg_id.map_or(Track::No, Track::Root);
        self.emitter
            .emit_general(self.slot, self.task, emission, track);
    }

    /// Trees this spout task has in flight.
    pub fn pending(&self) -> usize {
        self.emitter.pending(self.slot).map_or(0, SpoutPending::len)
    }
}

/// The bolt's collector (Storm's `OutputCollector`).
pub struct BoltOutput<'a> {
    pub(crate) emitter: &'a mut Emitter,
    pub(crate) slot: usize,
    pub(crate) task: TaskId,
}

impl BoltOutput<'_> {
    /// Emits `values` on `stream` anchored to `anchors`: the new tuple joins
    /// the trees of every anchor (several anchors make a DAG), so they
    /// complete only once it is acked too.
    pub fn emit_anchored(&mut self, stream: &str, anchors: &[&Input<'_>], values: &[Value]) {
        let track = Track::Anchors(anchors);
        self.emitter
            .emit(self.slot, self.task, Some(stream), None, values, track);
    }

    /// Emits `values` on the direct `stream` to `task`, anchored.
    pub fn emit_direct_anchored(
        &mut self,
        task: TaskId,
        stream: &str,
        anchors: &[&Input<'_>],
        values: &[Value],
    ) {
        let track = Track::Anchors(anchors);
        self.emitter.emit(
            self.slot,
            self.task,
            Some(stream),
            Some(task),
            values,
            track,
        );
    }

    /// Emits an [`Emission`] (any stream, direct or not, optionally
    /// reporting its target tasks) anchored to `anchors` (none: untracked).
    pub fn emit_with(&mut self, emission: Emission<'_>, anchors: &[Anchor]) {
        let track = Track::Owned(anchors);
        self.emitter
            .emit_general(self.slot, self.task, emission, track);
    }

    /// Acknowledges `input` as fully processed by this bolt. Ack (or fail)
    /// each input exactly once, after emitting what is anchored to it.
    pub fn ack(&mut self, input: &Input<'_>) {
        self.ack_roots(
            input.view.roots(),
            input.view.edge_id(),
            input.view.stream(),
            std::ptr::from_ref(input.view.archived()).cast(),
        );
    }

    /// Fails `input`: every tree it belongs to fails at once and its spout
    /// may replay it.
    pub fn fail(&mut self, input: &Input<'_>) {
        self.fail_roots(
            input.view.roots(),
            input.view.stream(),
            std::ptr::from_ref(input.view.archived()).cast(),
        );
    }

    /// [`ack`](Self::ack) for an input kept as an [`Anchor`].
    pub fn ack_anchor(&mut self, anchor: &Anchor) {
        self.ack_roots(
            anchor.roots.iter().copied(),
            anchor.edge,
            anchor.stream,
            std::ptr::null(),
        );
    }

    /// [`fail`](Self::fail) for an input kept as an [`Anchor`].
    pub fn fail_anchor(&mut self, anchor: &Anchor) {
        self.fail_roots(
            anchor.roots.iter().copied(),
            anchor.stream,
            std::ptr::null(),
        );
    }

    /// Counts the ack (`input`: the archived input while it is executed,
    /// for its process latency; null for an anchor) and sends it.
    fn ack_roots(
        &mut self,
        roots: impl Iterator<Item = u64>,
        edge: u64,
        stream: u32,
        input: *const u8,
    ) {
        self.emitter.acked(self.slot, stream, input);
        for root in roots {
            self.emitter.tracking.ack(root, edge);
        }
    }

    /// Counts the fail (as [`ack_roots`](Self::ack_roots)) and sends it.
    fn fail_roots(&mut self, roots: impl Iterator<Item = u64>, stream: u32, input: *const u8) {
        self.emitter.failed(self.slot, stream, input);
        for root in roots {
            self.emitter.tracking.fail(root);
        }
    }

    /// Restarts the timeout of every tree `input` belongs to (for
    /// long-running work on one tuple).
    pub fn reset_timeout(&mut self, input: &Input<'_>) {
        for root in input.view.roots() {
            self.emitter.tracking.reset(root);
        }
        // Sent and published now, not after `execute` returns: the point is
        // to reach the spout while this work goes on.
        let emitter = &mut *self.emitter;
        emitter.tracking.flush(&mut emitter.outbox);
        emitter.outbox.flush();
    }
}
