//! [`WindowedBoltOf`]: a plain [`Bolt`] run on windows, each window handed
//! to it as one tuple. This is how a multi-lang shell bolt gets windows
//! (Storm's multi-lang protocol has no windowed bolts): the child sees an
//! ordinary tuple on stream [`WINDOW_STREAM`] whose fields are
//! [`WINDOW_FIELDS`], and acks, fails and anchors to it as to any tuple.
//!
//! Acking: the window tuple belongs to the trees of every tracked tuple in
//! the window, with an edge of its own (XORed into those trees when it is
//! made, as an anchored emit would be), so the trees stay open until the
//! bolt acks it, even when the window's tuples leave the window (and are
//! acked) before the child has answered. Making it counts one ack on the
//! bolt (the edge's), and the bolt's ack of it one more.

use gale_codec::{
    encoded_len_bound, view_checked, AlignedVec, Encoder, Fields, Header, TupleRef, Value,
};

use super::bolt::WindowedBolt;
use super::tuple::{TupleWindow, WindowOutput, WindowTuple};
use crate::{Anchor, Bolt, BoltOutput, Input, OutputFieldsDeclarer, TopologyContext};

/// The fields of the tuple a [`WindowedBoltOf`] hands its bolt: every
/// tuple of the window, those new in it and those expired since the last
/// window (each a list of value lists), its start (or null) and end in
/// milliseconds.
pub const WINDOW_FIELDS: [&str; 5] = ["tuples", "new", "expired", "start", "end"];

/// The stream the window tuple reports as its own.
pub const WINDOW_STREAM: &str = "__window";

/// The stream id in the window tuple's header (reserved, like the tick
/// stream's and the acker's).
const WINDOW_STREAM_ID: u32 = u32::MAX - 3;

/// Runs a plain [`Bolt`] (a multi-lang shell bolt, say) on windows: each
/// window reaches its `execute` as one tuple with [`WINDOW_FIELDS`].
pub struct WindowedBoltOf<B> {
    bolt: B,
    fields: Fields,
    component: String,
    encoder: Encoder,
    buf: AlignedVec<16>,
    /// xorshift state for the window tuples' edge ids.
    rng: u64,
}

impl<B: Bolt> WindowedBoltOf<B> {
    /// Wraps `bolt`.
    pub fn new(bolt: B) -> Self {
        let mut seed = [0u8; 8];
        // Any seed works; a fixed one if the OS has no randomness.
        let _ = getrandom::fill(&mut seed);
        Self {
            bolt,
            fields: Fields::new(WINDOW_FIELDS).unwrap_or_else(|_| Fields::empty()),
            component: String::new(),
            encoder: Encoder::new(),
            buf: AlignedVec::new(),
            rng: u64::from_le_bytes(seed) | 1,
        }
    }

    fn next_edge(&mut self) -> u64 {
        loop {
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            if self.rng != 0 {
                return self.rng;
            }
        }
    }
}

/// A list of the tuples' value lists.
fn list<'a>(tuples: impl Iterator<Item = &'a WindowTuple>) -> Value {
    Value::List(tuples.map(|t| Value::List(t.values.clone())).collect())
}

impl<B: Bolt> WindowedBolt for WindowedBoltOf<B> {
    fn declare_output_fields(&self, declarer: &mut OutputFieldsDeclarer) {
        self.bolt.declare_output_fields(declarer);
    }

    fn prepare(&mut self, context: &TopologyContext) {
        self.component = context.component_id().to_owned();
        self.bolt.prepare(context);
    }

    fn execute(&mut self, window: &TupleWindow<'_>, out: &mut WindowOutput<'_, '_>) {
        let values = [
            list(window.get().iter()),
            list(window.get_new()),
            list(window.get_expired().iter()),
            window.start_timestamp().map_or(Value::Null, Value::I64),
            Value::I64(window.end_timestamp()),
        ];
        let mut roots: Vec<u64> = window
            .get()
            .iter()
            .flat_map(|t| t.anchor.roots.iter().copied())
            .collect();
        roots.sort_unstable();
        roots.dedup();
        let edge = if roots.is_empty() {
            0
        } else {
            self.next_edge()
        };
        let header = Header {
            stream: WINDOW_STREAM_ID,
            source_task: 0,
            edge_id: edge,
            roots,
        };
        let tuple = TupleRef {
            header: &header,
            values: &values,
        };
        let encoded = encoded_len_bound(tuple).and_then(|bound| {
            self.buf.clear();
            self.buf.resize(bound, 0);
            self.encoder.encode_into(tuple, &mut self.buf)
        });
        let view = match encoded
            .map_err(|e| e.to_string())
            .and_then(|len| view_checked(&self.buf[..len]).map_err(|e| e.to_string()))
        {
            Ok(view) => view,
            Err(e) => {
                out.report_error(format_args!(
                    "windowed bolt `{}`: a window of {} tuples cannot be made into one tuple: {e}",
                    self.component,
                    window.get().len()
                ));
                return;
            }
        };
        let out = out.bolt_output();
        if edge != 0 {
            // The window tuple's edge joins its trees, as an anchored emit's.
            out.ack_anchor(&Anchor {
                roots: header.roots.clone(),
                edge,
                stream: WINDOW_STREAM_ID,
            });
        }
        let input = Input {
            view: view.with_fields(&self.fields),
            component: &self.component,
            stream: WINDOW_STREAM,
            typed: None,
        };
        self.bolt.execute(&input, out);
    }

    fn cleanup(&mut self) {
        self.bolt.cleanup();
    }

    fn wants_poll(&self) -> bool {
        self.bolt.wants_poll()
    }

    fn poll(&mut self, out: &mut BoltOutput<'_>) -> bool {
        self.bolt.poll(out)
    }

    fn has_pending(&self) -> bool {
        self.bolt.has_pending()
    }
}
