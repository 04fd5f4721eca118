//! [`Component`]: a spout or bolt of a topology, with its factory, its
//! settings ([`ComponentConfig`]) and its subscriptions.

use std::sync::Arc;
use std::time::Duration;

use crate::component::StreamDecl;
use crate::{Bolt, Grouping, Spout};

/// Makes one spout instance per task.
pub(crate) type SpoutFactory = Arc<dyn Fn() -> Box<dyn Spout> + Send + Sync>;
/// Makes one bolt instance per task.
pub(crate) type BoltFactory = Arc<dyn Fn() -> Box<dyn Bolt> + Send + Sync>;

/// Spout or bolt, with its factory.
#[derive(Clone)]
pub(crate) enum Kind {
    Spout(SpoutFactory),
    Bolt(BoltFactory),
    /// The system acker component, added when a topology starts.
    Acker,
}

/// What a component keeps in checkpoints (see
/// [`Topology::rebalanced`](super::Topology::rebalanced)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Saves {
    /// A rewindable spout: its position.
    Position,
    /// A stateful bolt: its key-value state.
    State,
}

/// Per-component settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComponentConfig {
    /// Deliver a tick tuple on [`TICK_STREAM`](crate::TICK_STREAM) to each
    /// task of this bolt at this interval.
    pub tick_interval: Option<Duration>,
    /// At most this many tuple trees in flight per spout task (used once
    /// tuples are tracked by the acker).
    pub max_spout_pending: Option<usize>,
}

/// One subscription of a bolt to a stream.
#[derive(Clone, Debug)]
pub(crate) struct Subscription {
    pub(crate) component: String,
    pub(crate) stream: String,
    pub(crate) grouping: Grouping,
}

/// A spout or bolt of a topology.
#[derive(Clone)]
pub(crate) struct Component {
    pub(crate) name: String,
    pub(crate) kind: Kind,
    pub(crate) parallelism: usize,
    pub(crate) streams: Vec<StreamDecl>,
    pub(crate) inputs: Vec<Subscription>,
    pub(crate) config: ComponentConfig,
}

impl Component {
    pub(crate) fn is_spout(&self) -> bool {
        matches!(self.kind, Kind::Spout(_))
    }

    /// The most tuple trees each task of this spout may have in flight:
    /// its own `max_spout_pending`, else the topology's, `default`
    /// (`None`: unbounded, or not a spout).
    pub(crate) fn max_spout_pending(&self, default: Option<usize>) -> Option<usize> {
        self.is_spout()
            .then(|| self.config.max_spout_pending.or(default))
            .flatten()
    }

    pub(crate) fn stream(&self, name: &str) -> Option<&StreamDecl> {
        self.streams.iter().find(|s| s.name == name)
    }
}
