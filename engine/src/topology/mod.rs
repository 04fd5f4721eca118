//! Defining a topology: [`TopologyBuilder`] and the validated [`Topology`].

mod builder;
mod error;

use std::sync::Arc;
use std::time::Duration;

pub use builder::{BoltDeclarer, SpoutDeclarer, TopologyBuilder};

/// The longest message timeout, tick interval or run duration accepted
/// anywhere (topology, topology file, cluster file, flags): one year. Longer
/// values are refused when they are validated, so no deadline computed from
/// them can overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);
pub use error::TopologyError;

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

    pub(crate) fn stream(&self, name: &str) -> Option<&StreamDecl> {
        self.streams.iter().find(|s| s.name == name)
    }
}

/// A validated topology, ready to run; made by
/// [`TopologyBuilder::build`].
#[derive(Clone)]
pub struct Topology {
    pub(crate) name: String,
    pub(crate) components: Vec<Component>,
    pub(crate) config: TopologyConfig,
}

/// Topology-wide settings (Storm's `topology.*` configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopologyConfig {
    /// Acker tasks. 0 turns reliability off: a spout's emit with a message
    /// id is acked at once, as in Storm.
    pub ackers: usize,
    /// A tuple tree not completed within this time fails (default 30 s).
    pub message_timeout: Duration,
    /// Default for spouts without their own `max_spout_pending`: at most
    /// this many trees in flight per spout task (`None`: unbounded).
    pub max_spout_pending: Option<usize>,
}

impl Default for TopologyConfig {
    fn default() -> Self {
        Self {
            ackers: 1,
            message_timeout: Duration::from_secs(30),
            max_spout_pending: None,
        }
    }
}

impl Topology {
    /// The topology's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its topology-wide settings.
    pub fn config(&self) -> &TopologyConfig {
        &self.config
    }

    /// Component names, spouts and bolts, in declaration order.
    pub fn component_names(&self) -> impl Iterator<Item = &str> {
        self.components.iter().map(|c| c.name.as_str())
    }

    /// Parallelism (task count) of `component`.
    pub fn parallelism(&self, component: &str) -> Option<usize> {
        self.component(component).map(|c| c.parallelism)
    }

    /// Whether `component` is a spout.
    pub fn is_spout(&self, component: &str) -> Option<bool> {
        self.component(component).map(Component::is_spout)
    }

    pub(crate) fn component(&self, name: &str) -> Option<&Component> {
        self.components.iter().find(|c| c.name == name)
    }
}

impl std::fmt::Debug for Topology {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Topology");
        d.field("name", &self.name);
        for c in &self.components {
            d.field(
                &c.name,
                &format_args!(
                    "{} x{} streams={:?} inputs={:?}",
                    match c.kind {
                        Kind::Spout(_) => "spout",
                        Kind::Bolt(_) => "bolt",
                        Kind::Acker => "acker",
                    },
                    c.parallelism,
                    c.streams.iter().map(|s| &s.name).collect::<Vec<_>>(),
                    c.inputs
                ),
            );
        }
        d.finish()
    }
}
