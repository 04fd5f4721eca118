//! Windowed bolts, with Storm's semantics and vocabulary
//! (`BaseWindowedBolt`, `TupleWindow`).
//!
//! A [`WindowedBolt`] is handed whole windows of tuples instead of single
//! tuples. [`TopologyBuilder::set_windowed_bolt`](crate::TopologyBuilder::set_windowed_bolt)
//! wraps it, with its [`Window`], into an ordinary [`Bolt`](crate::Bolt)
//! (the executor in this module) that buffers the inputs, fires windows
//! and acks each input once it has left every window that holds it. The
//! engine's data path knows nothing of windows.
//!
//! - **Length and slide**, each a tuple count or a duration, in any
//!   combination: [`Window::sliding`] (Storm's `withWindow(length,
//!   slide)`) and [`Window::tumbling`] (`withTumblingWindow(length)`).
//!   A duration slide fires windows ending at multiples of the slide
//!   (aligned to the clock's epoch, as Flink does), each holding the
//!   tuples with `end - length <= ts < end`; a count slide fires after
//!   every `slide` tuples, each window ending at its last tuple.
//! - **Processing time** by default: a tuple's timestamp is the
//!   [`WindowClock`]'s reading when it arrives (the system clock, or a
//!   [`ManualClock`] in tests). Time windows fire from the worker's poll
//!   loop and on each arrival, so no timer thread is involved.
//! - **Event time** with [`Window::with_timestamp_field`]: the timestamp
//!   is the tuple's integer field (milliseconds). The watermark is, as in
//!   Storm, the smallest of the latest timestamps seen on each input
//!   stream (once every input stream has sent one) minus
//!   [`with_lag`](Window::with_lag); windows fire when the watermark
//!   passes their end. A tuple below the watermark is late: it goes to
//!   [`with_late_tuple_stream`](Window::with_late_tuple_stream)'s stream
//!   (one field, `late_tuple`: the tuple's values as a list), anchored,
//!   or is dropped, and is acked either way. By default the watermark
//!   moves with every tuple (exact and timer-free);
//!   [`with_watermark_interval`](Window::with_watermark_interval) moves it
//!   only at that interval, as Storm does.
//! - **Acking** as in Storm: inputs are acked when they leave every
//!   window that can hold them (for a tumbling window, right after it
//!   fired), never while a window still holds them, and exactly once.
//!   With acking on, [`TopologyBuilder::build`](crate::TopologyBuilder::build)
//!   refuses a window that would hold tuples longer than the message
//!   timeout (duration length plus slide, plus the lag) or more tuples than
//!   the spouts may have in flight (count length plus slide, when
//!   `max_spout_pending` bounds every spout).
//! - What Gale does differently: empty windows and windows identical to
//!   the previous one are not fired (Storm skips empty ones but fires
//!   unchanged ones again); time windows are aligned to multiples of the
//!   slide; tuples are acked as soon as no later window can hold them,
//!   not at the next firing; a windowed bolt does not flush its open
//!   windows when the topology shuts down (neither does Storm).
//!
//! [`WindowedBoltOf`] runs a plain [`Bolt`](crate::Bolt), such as a
//! multi-lang shell bolt, on windows: each fired window reaches it as one
//! tuple (fields [`WINDOW_FIELDS`]).

mod adapter;
mod bolt;
mod clock;
mod definition;
mod executor;
mod length;
mod manager;
mod tuple;

pub use adapter::{WindowedBoltOf, WINDOW_FIELDS, WINDOW_STREAM};
pub use bolt::WindowedBolt;
pub use clock::{ManualClock, SystemClock, WindowClock};
pub use definition::{Window, LATE_TUPLE_FIELD};
pub(crate) use executor::WindowedExecutor;
pub use length::Length;
pub use tuple::{TupleWindow, WindowOutput, WindowTuple};

#[cfg(test)]
mod tests;
