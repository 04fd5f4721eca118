//! [`Topology::rebalanced`]: the same topology with other task counts
//! (Storm's `rebalance -e COMPONENT=N`).

use super::component::{Component, Kind, Saves};
use super::definition::Topology;
use crate::state::CHECKPOINT_STREAM;
use crate::Grouping;

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
    /// More tasks in all than [`MAX_TASKS`](crate::MAX_TASKS).
    #[error("the rebalanced topology would have {tasks} tasks (acker tasks included); at most {max} are allowed")]
    TooManyTasks {
        /// Its task count.
        tasks: usize,
        /// [`MAX_TASKS`](crate::MAX_TASKS).
        max: usize,
    },
    /// A rewindable spout of a topology that takes checkpoints: its
    /// positions belong to its tasks, so its task count is fixed.
    #[error(
        "component `{component}` is a rewindable spout: its checkpointed positions belong to \
         its {tasks} task(s) (how its source is split among tasks is its own), so its task \
         count cannot change"
    )]
    RewindableSpout {
        /// The spout.
        component: String,
        /// Its task count.
        tasks: usize,
    },
    /// A stateful bolt whose inputs are not all fields groupings on one
    /// field: which new task an entry belongs to is not known.
    #[error(
        "component `{component}` is a stateful bolt whose input {input} is not a fields \
         grouping on one field: its state cannot follow its keys to a new task count (see \
         docs/operations.md, rebalance)"
    )]
    StateNotKeyed {
        /// The bolt.
        component: String,
        /// The input that is not: `component/stream (grouping)`.
        input: String,
    },
}

impl Topology {
    /// This topology with the task count of each `(component, n)` of
    /// `changes` set to `n` (what a rebalance restarts with). Every name
    /// must be a spout or bolt of the topology and every `n` at least 1.
    /// In a topology that takes checkpoints, a rewindable spout keeps its
    /// task count, and a stateful bolt may change its own only if every
    /// input is a fields grouping on one field: its state then follows
    /// its keys (each entry goes to the task that grouping routes its key
    /// to; see [`state`](crate::state)).
    pub fn rebalanced(&self, changes: &[(String, usize)]) -> Result<Topology, RebalanceError> {
        let mut topology = self.clone();
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
            if *n != c.parallelism {
                check_saves(self.saves.get(name).copied(), c)?;
            }
            c.parallelism = *n;
        }
        let tasks = topology.task_count();
        if tasks > crate::MAX_TASKS {
            return Err(RebalanceError::TooManyTasks {
                tasks,
                max: crate::MAX_TASKS,
            });
        }
        Ok(topology)
    }
}

/// Whether component `c`, which keeps `saves` in checkpoints, may change
/// its task count.
fn check_saves(saves: Option<Saves>, c: &Component) -> Result<(), RebalanceError> {
    match saves {
        None => Ok(()),
        Some(Saves::Position) => Err(RebalanceError::RewindableSpout {
            component: c.name.clone(),
            tasks: c.parallelism,
        }),
        Some(Saves::State) => {
            let unkeyed = c.inputs.iter().find(|s| {
                s.stream != CHECKPOINT_STREAM
                    && !matches!(&s.grouping, Grouping::Fields(f) if f.len() == 1)
            });
            match unkeyed {
                None => Ok(()),
                Some(s) => Err(RebalanceError::StateNotKeyed {
                    component: c.name.clone(),
                    input: format!("{}/{} ({})", s.component, s.stream, s.grouping.name()),
                }),
            }
        }
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
        // The spout's task and the acker's leave room for MAX_TASKS - 2.
        let e = t
            .rebalanced(&[("count".into(), crate::MAX_TASKS - 1)])
            .unwrap_err();
        assert_eq!(
            e,
            RebalanceError::TooManyTasks {
                tasks: crate::MAX_TASKS + 1,
                max: crate::MAX_TASKS
            }
        );
        t.rebalanced(&[("count".into(), crate::MAX_TASKS - 2)])
            .expect("exactly MAX_TASKS tasks");
    }

    struct Rw;
    impl Spout for Rw {
        fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
            d.declare(["w"]);
        }
        fn next_tuple(&mut self, _: &mut SpoutOutput<'_>) {}
    }
    impl crate::state::RewindableSpout for Rw {
        fn checkpoint(&self) -> gale_codec::Value {
            gale_codec::Value::I64(0)
        }
        fn restore(&mut self, _: &gale_codec::Value) {}
    }
    struct Sb;
    impl crate::state::StatefulBolt for Sb {
        fn declare_output_fields(&self, _: &mut OutputFieldsDeclarer) {}
        fn execute(
            &mut self,
            _: &Input<'_>,
            _: &mut crate::state::KeyValueState,
            _: &mut BoltOutput<'_>,
        ) {
        }
    }

    #[test]
    fn a_checkpointed_topology_rebalances_its_keyed_state_but_not_its_positions() {
        let dir = std::env::temp_dir().join(format!("gale-rebalanced-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let backend = crate::state::DirBackend::open(&dir).unwrap();
        let mut b = TopologyBuilder::new("t");
        b.set_checkpointing(crate::state::Checkpointing::new(
            backend,
            std::time::Duration::from_secs(1),
        ));
        b.set_rewindable_spout("spout", || Rw, 2);
        b.set_stateful_bolt("count", || Sb, 2)
            .fields_grouping("spout", ["w"]);
        b.set_stateful_bolt("total", || Sb, 1)
            .shuffle_grouping("spout");
        b.set_bolt("log", || B, 1).shuffle_grouping("spout");
        let t = b.build().expect("valid");
        // A fields-grouped stateful bolt and a bolt without state resize.
        let r = t
            .rebalanced(&[("count".into(), 5), ("log".into(), 3)])
            .expect("rebalanced");
        assert_eq!(r.parallelism("count"), Some(5));
        // The same count again is no change.
        assert!(t.rebalanced(&[("spout".into(), 2)]).is_ok());
        let e = t.rebalanced(&[("spout".into(), 3)]).unwrap_err();
        assert!(
            matches!(&e, RebalanceError::RewindableSpout { component, tasks: 2 } if component == "spout"),
            "{e}"
        );
        let e = t
            .rebalanced(&[("total".into(), 2)])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`total`") && e.contains("spout/default (shuffle)"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
