//! [`Grouping`]: the grouping a user declares for a subscription.

use std::fmt;
use std::sync::Arc;

use super::custom::CustomGrouping;

/// How a stream's tuples are spread over a bolt's tasks (Storm's
/// groupings).
#[derive(Clone)]
pub enum Grouping {
    /// Each tuple to one task, spread over the tasks: evenly, or, load
    /// aware (the default, as Storm's), with fewer to the tasks on the
    /// node's busier worker threads (see
    /// [`TopologyBuilder::set_load_aware`](crate::TopologyBuilder::set_load_aware)).
    Shuffle,
    /// Tuples with equal values in these fields go to the same task.
    Fields(Vec<String>),
    /// Like fields, but a key may use either of two tasks (the less loaded
    /// one), to spread skewed keys.
    PartialKey(Vec<String>),
    /// Every tuple to every task.
    All,
    /// Every tuple to the task with the lowest id.
    Global,
    /// No preference; Gale shuffles (as [`Shuffle`](Self::Shuffle)).
    None,
    /// The emitter picks the task with `emit_direct`; the stream must be
    /// declared direct.
    Direct,
    /// A task on the emitter's worker thread if the bolt has one, else one
    /// on the emitter's node, else shuffle over all.
    LocalOrShuffle,
    /// A user's grouping; the factory makes one instance per emitting task.
    Custom(Arc<dyn Fn() -> Box<dyn CustomGrouping> + Send + Sync>),
}

impl Grouping {
    /// A custom grouping made by `factory` (one instance per emitting task).
    pub fn custom<G, F>(factory: F) -> Self
    where
        G: CustomGrouping,
        F: Fn() -> G + Send + Sync + 'static,
    {
        Grouping::Custom(Arc::new(move || Box::new(factory())))
    }

    /// Short name, for errors and the CLI.
    pub fn name(&self) -> &'static str {
        match self {
            Grouping::Shuffle => "shuffle",
            Grouping::Fields(_) => "fields",
            Grouping::PartialKey(_) => "partial-key",
            Grouping::All => "all",
            Grouping::Global => "global",
            Grouping::None => "none",
            Grouping::Direct => "direct",
            Grouping::LocalOrShuffle => "local-or-shuffle",
            Grouping::Custom(_) => "custom",
        }
    }

    /// The grouping's field names, for fields and partial-key groupings.
    pub fn fields(&self) -> Option<&[String]> {
        match self {
            Grouping::Fields(f) | Grouping::PartialKey(f) => Some(f),
            _ => None,
        }
    }
}

impl fmt::Debug for Grouping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.fields() {
            Some(fields) => write!(f, "{}({fields:?})", self.name()),
            None => f.write_str(self.name()),
        }
    }
}
