//! [`WindowedExecutor`]: the [`Bolt`] that runs a [`WindowedBolt`] (Storm's
//! `WindowedBoltExecutor`): it timestamps and buffers inputs, keeps the
//! watermark, fires windows through the [`Manager`] and acks what leaves
//! them.

use std::sync::Arc;

use gale_codec::Value;

use super::bolt::WindowedBolt;
use super::definition::{Window, LATE_TUPLE_FIELD};
use super::length::Length;
use super::manager::{ms, Fire, Manager};
use super::tuple::{Source, TupleWindow, WindowOutput, WindowTuple};
use crate::{Bolt, BoltOutput, Input, OutputFieldsDeclarer, TopologyContext};

/// Event-time state: the latest timestamp per input stream and the
/// watermark.
#[derive(Debug)]
struct EventTime {
    field: String,
    lag: i64,
    interval: Option<i64>,
    /// Input streams (component, stream) and their latest timestamp.
    latest: Vec<(String, String, Option<i64>)>,
    watermark: Option<i64>,
    /// With an interval: when the watermark moves next (by the clock).
    next_update: i64,
}

impl EventTime {
    /// Moves the watermark to the smallest latest timestamp over the
    /// input streams, minus the lag, once every stream has sent one; it
    /// never goes back.
    fn update(&mut self) {
        let mut min: Option<i64> = None;
        for (_, _, latest) in &self.latest {
            let Some(ts) = latest else { return };
            min = Some(min.map_or(*ts, |m| m.min(*ts)));
        }
        if let Some(m) = min {
            let w = m.saturating_sub(self.lag);
            self.watermark = Some(self.watermark.map_or(w, |old| old.max(w)));
        }
    }
}

/// Runs a [`WindowedBolt`] as a [`Bolt`].
pub(crate) struct WindowedExecutor<W> {
    bolt: W,
    window: Window,
    manager: Manager<WindowTuple>,
    sources: Vec<Arc<Source>>,
    event: Option<EventTime>,
    /// Processing time: the last clock reading (the clock must not go
    /// back).
    last_now: i64,
    component: String,
}

impl<W: WindowedBolt> WindowedExecutor<W> {
    pub(crate) fn new(bolt: W, window: Window) -> Self {
        let event = window.timestamp_field.clone().map(|field| EventTime {
            field,
            lag: ms(window.lag),
            interval: window.watermark_interval.map(ms),
            latest: Vec::new(),
            watermark: None,
            next_update: i64::MIN,
        });
        Self {
            manager: Manager::new(window.length, window.slide, event.is_some()),
            bolt,
            window,
            sources: Vec::new(),
            event,
            last_now: i64::MIN,
            component: String::new(),
        }
    }

    fn now(&mut self) -> i64 {
        self.last_now = self.last_now.max(self.window.clock.now_ms());
        self.last_now
    }

    /// The shared [`Source`] of `input`'s stream.
    fn source(&mut self, input: &Input<'_>) -> Arc<Source> {
        let (component, stream) = (input.source_component(), input.source_stream());
        if let Some(s) = self
            .sources
            .iter()
            .find(|s| s.component == component && s.stream == stream)
        {
            return Arc::clone(s);
        }
        let source = Arc::new(Source {
            component: component.to_owned(),
            stream: stream.to_owned(),
            fields: input.fields().cloned(),
        });
        self.sources.push(Arc::clone(&source));
        source
    }

    /// Fires every window that is due, then acks what left them.
    fn advance(&mut self, out: &mut BoltOutput<'_>) -> bool {
        let limit = match &self.event {
            Some(e) => match e.watermark {
                Some(w) => w,
                None => return false,
            },
            None => self.now(),
        };
        let mut fired = false;
        while let Some(fire) = self.manager.next_fire(limit) {
            self.fire(fire, out);
            fired = true;
        }
        self.manager.settle(&mut |t| out.ack_anchor(&t.anchor));
        fired
    }

    fn fire(&mut self, fire: Fire, out: &mut BoltOutput<'_>) {
        let (tuples, expired) = self.manager.view(fire);
        let window = TupleWindow {
            tuples,
            expired,
            start: fire.start,
            end: fire.end,
        };
        let mut wout = WindowOutput {
            out: &mut *out,
            window: tuples,
            anchors: None,
        };
        self.bolt.execute(&window, &mut wout);
        self.manager.fired(fire, &mut |t| out.ack_anchor(&t.anchor));
    }

    /// Event time: the input's timestamp field, or an error naming it.
    fn event_ts(&self, input: &Input<'_>, field: &str) -> Result<i64, String> {
        match input.field(field) {
            Ok(v) => v.as_i64().ok_or_else(|| {
                format!(
                    "windowed bolt `{}`: the timestamp field `{field}` of a tuple from `{}` \
                     stream `{}` is a {}, not an integer (milliseconds)",
                    self.component,
                    input.source_component(),
                    input.source_stream(),
                    v.kind()
                )
            }),
            Err(e) => Err(format!(
                "windowed bolt `{}`: a tuple from `{}` stream `{}` has no timestamp field \
                 `{field}`: {e}",
                self.component,
                input.source_component(),
                input.source_stream()
            )),
        }
    }
}

impl<W: WindowedBolt> Bolt for WindowedExecutor<W> {
    fn declare_output_fields(&self, declarer: &mut OutputFieldsDeclarer) {
        self.bolt.declare_output_fields(declarer);
        if let Some(late) = &self.window.late_stream {
            declarer.declare_stream(late, [LATE_TUPLE_FIELD]);
        }
    }

    fn prepare(&mut self, context: &TopologyContext) {
        self.component = context.component_id().to_owned();
        if let Some(e) = &mut self.event {
            e.latest = context
                .sources()
                .iter()
                .flat_map(|(c, streams)| streams.keys().map(move |s| (c.clone(), s.clone(), None)))
                .collect();
        }
        self.bolt.prepare(context);
    }

    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        if input.is_tick() {
            self.advance(out);
            return;
        }
        let source = self.source(input);
        let ts = match &self.event {
            None => self.now(),
            Some(e) => {
                let field = e.field.clone();
                match self.event_ts(input, &field) {
                    Ok(ts) => ts,
                    Err(message) => {
                        out.report_error(message);
                        out.fail(input);
                        return;
                    }
                }
            }
        };
        if let Some(e) = &mut self.event {
            if e.watermark.is_some_and(|w| ts < w) {
                if let Some(late) = &self.window.late_stream {
                    let values = Value::List(input.values().iter().map(|v| v.to_value()).collect());
                    out.emit_anchored(late, &[input], &[values]);
                }
                out.ack(input);
                return;
            }
            let stream = (input.source_component(), input.source_stream());
            if let Some(entry) = e
                .latest
                .iter_mut()
                .find(|(c, s, _)| (c.as_str(), s.as_str()) == stream)
            {
                entry.2 = Some(entry.2.map_or(ts, |t| t.max(ts)));
            }
        }
        self.manager.insert(WindowTuple {
            values: input.values().iter().map(|v| v.to_value()).collect(),
            source,
            ts,
            anchor: input.anchor(),
            seen: false,
        });
        match self.event.as_ref().map(|e| e.interval) {
            Some(None) => {
                if let Some(e) = &mut self.event {
                    e.update();
                }
                self.advance(out);
            }
            // Periodic watermark: moved by `poll`.
            Some(Some(_)) => {
                self.poll(out);
            }
            None => {
                self.advance(out);
            }
        }
    }

    fn cleanup(&mut self) {
        self.bolt.cleanup();
    }

    fn wants_poll(&self) -> bool {
        let time_trigger = matches!(self.window.slide, Length::Duration(_));
        let periodic = self.window.watermark_interval.is_some();
        (time_trigger && self.event.is_none()) || periodic || self.bolt.wants_poll()
    }

    fn poll(&mut self, out: &mut BoltOutput<'_>) -> bool {
        let mut did = false;
        if self.bolt.wants_poll() {
            did |= self.bolt.poll(out);
        }
        if self.event.is_some() {
            let now = self.now();
            let Some(e) = &mut self.event else {
                return did;
            };
            match e.interval {
                Some(every) if now >= e.next_update => {
                    e.next_update = now.saturating_add(every);
                    e.update();
                }
                _ => return did,
            }
        } else if !matches!(self.window.slide, Length::Duration(_)) {
            return did;
        }
        did | self.advance(out)
    }

    fn has_pending(&self) -> bool {
        self.bolt.has_pending()
    }
}

impl<W> std::fmt::Debug for WindowedExecutor<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowedExecutor")
            .field("component", &self.component)
            .field("window", &self.window)
            .field("held", &self.manager.len())
            .finish()
    }
}
