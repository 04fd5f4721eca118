//! [`Topology::rebalanced`]: the same topology with other task counts
//! (Storm's `rebalance -e COMPONENT=N`).

use super::component::Kind;
use super::definition::Topology;
use crate::state::CHECKPOINT_STREAM;

/// Why a topology cannot be rebalanced as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RebalanceError {
    /// No spout or bolt of that name.
    #[error("topology `{topology}` has no component `{component}` (it has: {known})")]
    UnknownComponent {
        /// The topology.
        topology: String,
        /// The name asked for.
        component: String,
        /// Its spouts and bolts, comma-separated.
        known: String,
    },
    /// A task count of 0.
    #[error("component `{component}`: parallelism must be at least 1, not 0")]
    ZeroParallelism {
        /// The component.
        component: String,
    },
    /// The topology takes checkpoints: every task's barrier is counted, so
    /// its task count is fixed while it runs.
    #[error(
        "topology `{topology}` takes checkpoints (stateful bolts), whose barriers count every \
         task: restart its nodes with the new parallelism instead of rebalancing"
    )]
    Checkpointed {
        /// The topology.
        topology: String,
    },
}

impl Topology {
    /// This topology with the task count of each `(component, n)` of
    /// `changes` set to `n` (what a rebalance restarts with). Every name
    /// must be a spout or bolt of the topology and every `n` at least 1;
    /// a topology that takes checkpoints is refused.
    pub fn rebalanced(&self, changes: &[(String, usize)]) -> Result<Topology, RebalanceError> {
        let mut topology = self.clone();
        if !changes.is_empty()
            && self
                .components
                .iter()
                .any(|c| c.streams.iter().any(|s| s.name == CHECKPOINT_STREAM))
        {
            return Err(RebalanceError::Checkpointed {
                topology: self.name.clone(),
            });
        }
        for (name, n) in changes {
            let Some(c) = topology
                .components
                .iter_mut()
                .find(|c| &c.name == name && !matches!(c.kind, Kind::Acker))
            else {
                return Err(RebalanceError::UnknownComponent {
                    topology: self.name.clone(),
                    component: name.clone(),
                    known: self.component_names().collect::<Vec<_>>().join(", "),
                });
            };
            if *n == 0 {
                return Err(RebalanceError::ZeroParallelism {
                    component: name.clone(),
                });
            }
            c.parallelism = *n;
        }
        Ok(topology)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BoltOutput, Input, OutputFieldsDeclarer, Spout, SpoutOutput, TopologyBuilder};

    struct S;
    impl Spout for S {
        fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
            d.declare(["w"]);
        }
        fn next_tuple(&mut self, _: &mut SpoutOutput<'_>) {}
    }
    struct B;
    impl crate::Bolt for B {
        fn declare_output_fields(&self, _: &mut OutputFieldsDeclarer) {}
        fn execute(&mut self, _: &Input<'_>, _: &mut BoltOutput<'_>) {}
    }

    #[test]
    fn rebalanced_sets_task_counts_and_refuses_bad_names() {
        let mut b = TopologyBuilder::new("t");
        b.set_spout("spout", || S, 1);
        b.set_bolt("count", || B, 2).fields_grouping("spout", ["w"]);
        let t = b.build().expect("valid");
        let r = t.rebalanced(&[("count".into(), 4)]).expect("rebalanced");
        assert_eq!(r.parallelism("count"), Some(4));
        assert_eq!(t.parallelism("count"), Some(2), "the original is unchanged");
        let e = t.rebalanced(&[("cuont".into(), 4)]).unwrap_err();
        assert!(e.to_string().contains("`cuont`") && e.to_string().contains("spout, count"));
        let e = t.rebalanced(&[("count".into(), 0)]).unwrap_err();
        assert_eq!(
            e,
            RebalanceError::ZeroParallelism {
                component: "count".into()
            }
        );
    }
}
