//! What a windowed bolt sees: [`WindowTuple`] (an input kept in a
//! window), [`TupleWindow`] (one fired window) and [`WindowOutput`] (its
//! collector, anchoring to the window).

use std::sync::Arc;

use gale_codec::{Fields, Value};

use super::manager::Entry;
use crate::{Anchor, BoltOutput, Emission, TaskId, DEFAULT_STREAM};

/// Where an input came from: kept once per input stream, shared by its
/// tuples.
#[derive(Debug)]
pub(crate) struct Source {
    pub(crate) component: String,
    pub(crate) stream: String,
    pub(crate) fields: Option<Fields>,
}

/// An input tuple held in a window (an owned copy of Storm's `Tuple`).
#[derive(Debug)]
pub struct WindowTuple {
    pub(crate) values: Vec<Value>,
    pub(crate) source: Arc<Source>,
    pub(crate) ts: i64,
    pub(crate) anchor: Anchor,
    pub(crate) seen: bool,
}

impl WindowTuple {
    /// All values.
    pub fn values(&self) -> &[Value] {
        &self.values
    }

    /// The value at `index`.
    pub fn get(&self, index: usize) -> Option<&Value> {
        self.values.get(index)
    }

    /// The value of the declared field `name` (`None` if the stream has
    /// no such field).
    pub fn field(&self, name: &str) -> Option<&Value> {
        let index = self.source.fields.as_ref()?.index_of(name)?;
        self.values.get(index)
    }

    /// Component that emitted it.
    pub fn source_component(&self) -> &str {
        &self.source.component
    }

    /// Stream it was emitted on.
    pub fn source_stream(&self) -> &str {
        &self.source.stream
    }

    /// Its timestamp in milliseconds: its timestamp field in event time,
    /// its arrival time by the window's clock in processing time.
    pub fn timestamp(&self) -> i64 {
        self.ts
    }

    /// Its place in its tuple trees, to anchor emits to it alone
    /// ([`WindowOutput::emit_anchored`]).
    pub fn anchor(&self) -> &Anchor {
        &self.anchor
    }
}

impl Entry for WindowTuple {
    fn ts(&self) -> i64 {
        self.ts
    }
    fn seen(&self) -> bool {
        self.seen
    }
    fn set_seen(&mut self) {
        self.seen = true;
    }
}

/// One fired window (Storm's `TupleWindow`).
#[derive(Debug)]
pub struct TupleWindow<'a> {
    pub(crate) tuples: &'a [WindowTuple],
    pub(crate) expired: &'a [WindowTuple],
    pub(crate) start: Option<i64>,
    pub(crate) end: i64,
}

impl<'a> TupleWindow<'a> {
    /// Every tuple in the window, by timestamp (then arrival).
    pub fn get(&self) -> &'a [WindowTuple] {
        self.tuples
    }

    /// The tuples in this window that were in no earlier window.
    pub fn get_new(&self) -> impl Iterator<Item = &'a WindowTuple> + 'a {
        self.tuples.iter().filter(|t| !t.seen)
    }

    /// The tuples that were in earlier windows and left since the last
    /// window fired (already acked).
    pub fn get_expired(&self) -> &'a [WindowTuple] {
        self.expired
    }

    /// The window's end in milliseconds: for a duration slide the end of
    /// the interval (exclusive); for a count slide the timestamp of its
    /// last tuple.
    pub fn end_timestamp(&self) -> i64 {
        self.end
    }

    /// The window's start in milliseconds, for a duration length:
    /// `end - length` (inclusive for a duration slide, exclusive for a
    /// count slide). `None` for a count length.
    pub fn start_timestamp(&self) -> Option<i64> {
        self.start
    }
}

/// A windowed bolt's collector: emits anchored to the window (Storm's
/// windowed output collector), to chosen tuples, or unanchored.
pub struct WindowOutput<'o, 'b> {
    pub(crate) out: &'o mut BoltOutput<'b>,
    pub(crate) window: &'o [WindowTuple],
    /// The tracked anchors of the window, made at the first anchored emit.
    pub(crate) anchors: Option<Vec<Anchor>>,
}

impl<'b> WindowOutput<'_, 'b> {
    /// Emits `values` on the default stream anchored to every tuple of the
    /// window.
    pub fn emit(&mut self, values: &[Value]) {
        self.emit_to(DEFAULT_STREAM, values);
    }

    /// Emits `values` on `stream` anchored to every tuple of the window.
    pub fn emit_to(&mut self, stream: &str, values: &[Value]) {
        let window = self.window;
        let anchors = self.anchors.get_or_insert_with(|| {
            window
                .iter()
                .filter(|t| t.anchor.is_tracked())
                .map(|t| t.anchor.clone())
                .collect()
        });
        self.out.emit_with(emission(stream, values), anchors);
    }

    /// Emits `values` on `stream` anchored to `tuples` only (for outputs
    /// that depend on part of the window, such as one key's count).
    pub fn emit_anchored(&mut self, stream: &str, tuples: &[&WindowTuple], values: &[Value]) {
        let anchors: Vec<Anchor> = tuples
            .iter()
            .filter(|t| t.anchor.is_tracked())
            .map(|t| t.anchor.clone())
            .collect();
        self.out.emit_with(emission(stream, values), &anchors);
    }

    /// Emits `values` on `stream`, untracked.
    pub fn emit_unanchored(&mut self, stream: &str, values: &[Value]) {
        self.out.emit_with(emission(stream, values), &[]);
    }

    /// Reports an error with this task's component and id.
    pub fn report_error(&mut self, error: impl std::fmt::Display) {
        self.out.report_error(error);
    }

    /// This task's id.
    pub fn task_id(&self) -> TaskId {
        self.out.task_id()
    }

    /// The bolt collector underneath (for [`WindowedBoltOf`](super::WindowedBoltOf)).
    pub(crate) fn bolt_output(&mut self) -> &mut BoltOutput<'b> {
        self.out
    }
}

fn emission<'a>(stream: &'a str, values: &'a [Value]) -> Emission<'a> {
    Emission {
        stream,
        direct: None,
        values,
        targets: None,
    }
}
