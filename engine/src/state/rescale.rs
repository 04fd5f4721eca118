//! Keyed state across a change of task count (a rebalance, or a restart
//! with other parallelism): Flink's key groups, with Storm's routing as
//! the key-to-task map.
//!
//! Every checkpoint holds, besides each task's snapshot, its [`Layout`]:
//! the task count of every component when it was saved (the entry
//! [`LAYOUT`], written by one node). A task that restores a checkpoint
//! whose layout gives its component another task count than this run's:
//!
//! - of a stateful bolt: reads the snapshots of every old task of its
//!   component and keeps the entries it owns now ([`split`]): the entry
//!   of state key `K` belongs to the task that a fields grouping on one
//!   field routes a tuple holding the string `K` to ([`owner`]). So every
//!   entry lands on exactly one new task, the one that will get the
//!   tuples of its key (the word count's case: the state key is the
//!   word). A key found in the snapshots of two old tasks is an error
//!   naming the component and the key: that state is not keyed by its
//!   grouping's field, and merging it would lose one of the values.
//! - of a rewindable spout: an error naming the component (a position
//!   belongs to its task: how a source is split among tasks is the
//!   spout's own business). `Topology::rebalanced` refuses this before
//!   anything stops.
//! - of any other component: nothing was saved, nothing to split.
//!
//! A checkpoint without a layout (made before layouts were saved) is
//! restored with the task counts it was saved with only: a task whose
//! component has more saved tasks than this run is refused.

use std::collections::BTreeMap;

use gale_codec::Value;

use super::file::StateError;
use super::key_value::KeyValueState;

/// The name of a checkpoint's layout entry (no task key can take it: a
/// component name starting with `__` is refused).
pub(crate) const LAYOUT: &str = "__layout";

/// Component → task count of the run that saved a checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Layout(BTreeMap<String, usize>);

impl Layout {
    /// The layout of `(component, tasks)` pairs.
    pub(crate) fn of<'a>(counts: impl IntoIterator<Item = (&'a str, usize)>) -> Self {
        Self(counts.into_iter().map(|(c, n)| (c.to_owned(), n)).collect())
    }

    /// The task count of `component`, if the layout has it.
    pub(crate) fn tasks(&self, component: &str) -> Option<usize> {
        self.0.get(component).copied()
    }

    /// As bytes: a [`KeyValueState`] snapshot, component → count.
    pub(crate) fn snapshot(&self) -> Result<Vec<u8>, StateError> {
        let mut state = KeyValueState::default();
        for (c, n) in &self.0 {
            state.put(c.as_str(), Value::I64(*n as i64));
        }
        state.snapshot()
    }

    /// What [`snapshot`](Self::snapshot) made, every entry checked (the
    /// bytes come from a backend: untrusted).
    pub(crate) fn restore(bytes: &[u8]) -> Result<Self, StateError> {
        let state = KeyValueState::restore(bytes)?;
        let mut counts = BTreeMap::new();
        for (c, v) in state.iter() {
            match v {
                Value::I64(n) if *n >= 1 => {
                    counts.insert(c.to_owned(), *n as usize);
                }
                other => {
                    return Err(StateError::Snapshot {
                        reason: format!(
                            "the layout gives component `{}` the task count {other:?}, not a \
                             number of at least 1",
                            c.escape_debug()
                        ),
                    })
                }
            }
        }
        Ok(Self(counts))
    }
}

/// The index of the task, among `tasks`, that owns state key `key`: the
/// one a fields grouping on one field routes a tuple holding the string
/// `key` to.
pub(crate) fn owner(key: &str, tasks: usize) -> usize {
    crate::grouping::fields_owner(&Value::from(key), tasks)
}

/// The state of task `index` of `tasks` of `component`: the entries it
/// [owns](owner) in the snapshots of the component's `old` tasks
/// (`load(i)`: old task `i`'s).
pub(crate) fn split(
    component: &str,
    index: usize,
    tasks: usize,
    old: usize,
    mut load: impl FnMut(usize) -> Result<KeyValueState, StateError>,
) -> Result<KeyValueState, StateError> {
    let mut mine = KeyValueState::default();
    for i in 0..old {
        let state = load(i)?;
        for (key, value) in state.iter() {
            if owner(key, tasks) != index {
                continue;
            }
            if mine.put(key, value.clone()).is_some() {
                return Err(StateError::Rescale {
                    component: component.to_owned(),
                    reason: format!(
                        "state key `{}` is in the snapshots of more than one of its {old} old \
                         tasks (task {i} among them): its state is not keyed by the field its \
                         fields grouping routes on, so it cannot be split among {tasks} tasks",
                        key.escape_debug()
                    ),
                });
            }
        }
    }
    Ok(mine)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grouping::{Grouping, Router};

    /// `n` word-like keys spread over `tasks` old tasks the way a fields
    /// grouping sent them.
    fn saved(keys: &[String], tasks: usize) -> Vec<KeyValueState> {
        let mut states = vec![KeyValueState::default(); tasks];
        for (i, k) in keys.iter().enumerate() {
            states[owner(k, tasks)].put(k.as_str(), Value::I64(i as i64));
        }
        states
    }

    #[test]
    fn every_key_lands_on_exactly_one_new_task_the_one_the_fields_grouping_routes_it_to() {
        let keys: Vec<String> = (0..5000).map(|i| format!("w{i}")).collect();
        for (old, new) in [(2, 5), (5, 2), (3, 3), (1, 7), (7, 1)] {
            let before = saved(&keys, old);
            let after: Vec<KeyValueState> = (0..new)
                .map(|index| {
                    split("count", index, new, old, |i| Ok(before[i].clone())).expect("splits")
                })
                .collect();
            // The tasks of a bolt with `new` tasks, as the runtime numbers
            // them (ascending), and the grouping that feeds it.
            let targets: Vec<crate::TaskId> = (10..10 + new as crate::TaskId).collect();
            let mut router = Router::new(
                &Grouping::Fields(vec!["word".into()]),
                &targets,
                &[],
                vec![0],
                0,
            );
            for (i, k) in keys.iter().enumerate() {
                let holders: Vec<usize> = (0..new).filter(|&t| after[t].get(k).is_some()).collect();
                let mut routed = Vec::new();
                router.route(&[Value::from(k.as_str())], |t| routed.push(t));
                assert_eq!(holders.len(), 1, "{old}->{new}: `{k}` held by {holders:?}");
                assert_eq!(routed, [targets[holders[0]]], "{old}->{new}: `{k}`");
                assert_eq!(after[holders[0]].get(k), Some(&Value::I64(i as i64)));
            }
            let total: usize = after.iter().map(KeyValueState::len).sum();
            assert_eq!(total, keys.len(), "{old}->{new}");
        }
    }

    #[test]
    fn a_key_in_two_old_tasks_is_refused_naming_the_component_and_the_key() {
        let mut a = KeyValueState::default();
        a.put("total", Value::I64(3));
        let b = a.clone();
        let index = owner("total", 3);
        let e = split("sum", index, 3, 2, |i| Ok([&a, &b][i].clone())).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("`sum`") && text.contains("`total`"), "{text}");
        // A task that does not own the key does not see the clash.
        let other = (index + 1) % 3;
        assert!(split("sum", other, 3, 2, |i| Ok([&a, &b][i].clone())).is_ok());
    }

    #[test]
    fn a_layout_round_trips_and_a_bad_one_is_an_error() {
        let layout = Layout::of([("spout", 3), ("count", 5)]);
        let back = Layout::restore(&layout.snapshot().unwrap()).unwrap();
        assert_eq!(back, layout);
        assert_eq!(back.tasks("count"), Some(5));
        let mut bad = KeyValueState::default();
        bad.put("count", Value::I64(0));
        let e = Layout::restore(&bad.snapshot().unwrap()).unwrap_err();
        assert!(e.to_string().contains("`count`"), "{e}");
        assert!(Layout::restore(b"not a layout").is_err());
    }
}
