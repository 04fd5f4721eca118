//! [`Topology`]: a validated topology, ready to run.

use std::collections::HashMap;
use std::sync::Arc;

use super::component::{Component, Kind, Saves};
use super::config::TopologyConfig;
use crate::state::Checkpointing;

/// A validated topology, ready to run; made by
/// [`TopologyBuilder::build`](super::TopologyBuilder::build).
#[derive(Clone)]
pub struct Topology {
    pub(crate) name: String,
    pub(crate) components: Vec<Component>,
    pub(crate) config: TopologyConfig,
    /// How its state is checkpointed, if it is.
    pub(crate) checkpointing: Option<Arc<Checkpointing>>,
    /// What each rewindable spout and stateful bolt keeps in checkpoints.
    pub(crate) saves: HashMap<String, Saves>,
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

    /// Turns load-aware shuffles on or off for this topology (as
    /// [`TopologyBuilder::set_load_aware`](super::TopologyBuilder::set_load_aware)
    /// before it was built: a run-time choice that validation does not
    /// depend on).
    pub fn set_load_aware(&mut self, on: bool) {
        self.config.load_aware = on;
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

    /// How its state is checkpointed
    /// ([`TopologyBuilder::set_checkpointing`](super::TopologyBuilder::set_checkpointing)),
    /// if it is.
    pub fn checkpointing(&self) -> Option<&Arc<Checkpointing>> {
        self.checkpointing.as_ref()
    }

    /// Its tasks, acker tasks included (saturating).
    pub(crate) fn task_count(&self) -> usize {
        task_count(&self.components, &self.config)
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

/// The tasks of `components` and the acker tasks `config` asks for
/// (saturating).
pub(crate) fn task_count(components: &[Component], config: &TopologyConfig) -> usize {
    components
        .iter()
        .fold(config.ackers, |n, c| n.saturating_add(c.parallelism))
}
