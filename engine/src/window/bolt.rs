//! [`WindowedBolt`]: the trait a bolt that processes windows implements.

use super::tuple::{TupleWindow, WindowOutput};
use crate::{BoltOutput, OutputFieldsDeclarer, TopologyContext};

/// A bolt that processes windows of tuples (Storm's `IWindowedBolt`).
///
/// Register it with
/// [`TopologyBuilder::set_windowed_bolt`](crate::TopologyBuilder::set_windowed_bolt);
/// each task gets its own instance. Its inputs are acked for it, when
/// they leave their last window; its emits through [`WindowOutput::emit`]
/// are anchored to the whole window, as Storm's are.
pub trait WindowedBolt: Send + 'static {
    /// Declares the streams this bolt emits (the late-tuple stream is
    /// declared for it).
    fn declare_output_fields(&self, declarer: &mut OutputFieldsDeclarer);

    /// Called once on the worker thread before the first window.
    fn prepare(&mut self, _context: &TopologyContext) {}

    /// Processes one window.
    fn execute(&mut self, window: &TupleWindow<'_>, out: &mut WindowOutput<'_, '_>);

    /// Called once when the topology shuts down.
    fn cleanup(&mut self) {}

    /// Whether this bolt does work outside `execute` and wants
    /// [`poll`](Self::poll) calls (as [`Bolt::wants_poll`](crate::Bolt::wants_poll)).
    fn wants_poll(&self) -> bool {
        false
    }

    /// Work outside `execute` (as [`Bolt::poll`](crate::Bolt::poll)).
    fn poll(&mut self, _out: &mut BoltOutput<'_>) -> bool {
        false
    }

    /// Whether it holds work not finished yet (as
    /// [`Bolt::has_pending`](crate::Bolt::has_pending)).
    fn has_pending(&self) -> bool {
        false
    }
}
