//! [`Router`]: one subscription's grouping, instantiated for one emitting
//! task, choosing target tasks per tuple.

use gale_codec::Value;

use super::balance::Balance;
use super::custom::CustomGrouping;
use super::declared::Grouping;
use super::hash::{bucket, key_hash, KeyValue};
use crate::TaskId;

/// Picks the target task(s) of one subscription for tuples emitted by one
/// task. Built once at start; `route` does not allocate.
pub(crate) enum Router {
    /// Round robin over the targets, starting at an offset per emitter so
    /// that several emitters do not all hit the same task first. Load
    /// aware (with a [`Balance`]), `targets` is a table in which each
    /// target appears in proportion to its weight.
    Shuffle {
        targets: Vec<TaskId>,
        next: usize,
        balance: Option<Box<Balance>>,
    },
    /// `hash(key) % n`.
    Fields {
        targets: Vec<TaskId>,
        key: Vec<usize>,
    },
    /// Two candidate tasks per key; the one this emitter sent fewer tuples to.
    PartialKey {
        targets: Vec<TaskId>,
        key: Vec<usize>,
        sent: Vec<u64>,
    },
    /// Every target.
    All { targets: Vec<TaskId> },
    /// One fixed task (global: the lowest id).
    One { task: TaskId },
    /// Only `emit_direct` reaches this subscription.
    Direct,
    /// A user's grouping, with the targets to check its choices against.
    Custom {
        grouping: Box<dyn CustomGrouping>,
        targets: Vec<TaskId>,
        scratch: Vec<TaskId>,
    },
}

impl Router {
    /// Instantiates `grouping` for an emitting task.
    ///
    /// `targets` are the subscribing bolt's tasks (ascending), `local` the
    /// ones on the emitter's worker thread, `key` the field indices of a
    /// fields or partial-key grouping, `emitter` the emitting task's index
    /// among its component's tasks.
    pub(crate) fn new(
        grouping: &Grouping,
        targets: &[TaskId],
        local: &[TaskId],
        key: Vec<usize>,
        emitter: usize,
    ) -> Self {
        let targets = targets.to_vec();
        match grouping {
            Grouping::Shuffle | Grouping::None => Router::Shuffle {
                next: emitter % targets.len().max(1),
                targets,
                balance: None,
            },
            Grouping::LocalOrShuffle if !local.is_empty() => Router::Shuffle {
                next: emitter % local.len(),
                targets: local.to_vec(),
                balance: None,
            },
            Grouping::LocalOrShuffle => Router::Shuffle {
                next: emitter % targets.len().max(1),
                targets,
                balance: None,
            },
            Grouping::Fields(_) => Router::Fields { targets, key },
            Grouping::PartialKey(_) => Router::PartialKey {
                sent: vec![0; targets.len()],
                targets,
                key,
            },
            Grouping::All => Router::All { targets },
            Grouping::Global => Router::One {
                task: targets.iter().copied().min().unwrap_or_default(),
            },
            Grouping::Direct => Router::Direct,
            Grouping::Custom(factory) => {
                let mut grouping = factory();
                grouping.prepare(&targets);
                Router::Custom {
                    grouping,
                    targets,
                    scratch: Vec::new(),
                }
            }
        }
    }

    /// Calls `deliver` with each chosen target task. Returns the number of
    /// tasks a custom grouping chose that are not targets (dropped).
    #[inline]
    pub(crate) fn route(&mut self, values: &[Value], mut deliver: impl FnMut(TaskId)) -> usize {
        if let Some(t) = self.pick_one(values) {
            deliver(t);
            return 0;
        }
        match self {
            Router::All { targets } => targets.iter().for_each(|t| deliver(*t)),
            Router::Shuffle { .. }
            | Router::Fields { .. }
            | Router::PartialKey { .. }
            | Router::One { .. }
            | Router::Direct => {}
            Router::Custom {
                grouping,
                targets,
                scratch,
            } => {
                scratch.clear();
                grouping.choose_tasks(values, scratch);
                let mut dropped = 0;
                for t in scratch.iter() {
                    if targets.binary_search(t).is_ok() {
                        deliver(*t);
                    } else {
                        dropped += 1;
                    }
                }
                return dropped;
            }
        }
        0
    }

    /// Whether [`pick_one`](Self::pick_one) picks a task for every tuple
    /// (shuffle, fields, partial key, global), so that a run of emits can
    /// be routed tuple by tuple without the general path.
    pub(crate) fn picks_one(&self) -> bool {
        matches!(
            self,
            Router::Shuffle { .. }
                | Router::Fields { .. }
                | Router::PartialKey { .. }
                | Router::One { .. }
        )
    }

    /// The one task this router picks for `values`, for the groupings that
    /// pick exactly one (shuffle, fields, partial key, global); `None`,
    /// with nothing changed, for the others, which [`route`](Self::route)
    /// takes. The same choice, and the same state change, as `route`.
    /// `values` are `Value`s, or archived values read in place (a
    /// forwarded input's), which pick the same task.
    #[inline(always)]
    pub(crate) fn pick_one<V: KeyValue>(&mut self, values: &[V]) -> Option<TaskId> {
        match self {
            Router::Shuffle { targets, next, .. } => {
                let t = *targets.get(*next)?;
                *next = if *next + 1 == targets.len() {
                    0
                } else {
                    *next + 1
                };
                Some(t)
            }
            Router::Fields { targets, key } => targets
                .get(bucket(key_hash(values, key, 0), targets.len()))
                .copied(),
            Router::One { task } => Some(*task),
            Router::PartialKey { .. } => self.pick_partial_key(values),
            Router::All { .. } | Router::Direct | Router::Custom { .. } => None,
        }
    }

    /// [`pick_one`](Self::pick_one) of a partial-key grouping (out of
    /// line: the commoner groupings' picks are inlined into the emit).
    #[inline(never)]
    fn pick_partial_key<V: KeyValue>(&mut self, values: &[V]) -> Option<TaskId> {
        let Router::PartialKey { targets, key, sent } = self else {
            return None;
        };
        let n = targets.len();
        let a = bucket(key_hash(values, key, 0), n);
        let b = bucket(key_hash(values, key, 0x9e37_79b9_7f4a_7c15), n);
        let pick = if sent.get(b) < sent.get(a) { b } else { a };
        let t = *targets.get(pick)?;
        sent[pick] += 1;
        Some(t)
    }

    /// The one task every tuple goes to, if this router always picks the
    /// same one (global, or a shuffle over a single task); `emit` then
    /// delivers there without asking the router.
    pub(crate) fn fixed_target(&self) -> Option<TaskId> {
        match self {
            Router::One { task } => Some(*task),
            Router::Shuffle { targets, .. } if targets.len() == 1 => Some(targets[0]),
            _ => None,
        }
    }

    /// Makes a shuffle load aware ([`Balance`]): `thread_of` names the
    /// worker thread of this node a target task runs on (`None` for
    /// another node's). Nothing for another grouping, nor for targets on
    /// fewer than two of this node's threads ([`is_balanced`](Self::is_balanced)
    /// says which).
    pub(crate) fn balance_by_load(&mut self, thread_of: impl Fn(TaskId) -> Option<usize>) {
        if let Router::Shuffle {
            targets, balance, ..
        } = self
        {
            *balance = Balance::new(targets, thread_of).map(Box::new);
        }
    }

    /// Whether this is a load-aware shuffle.
    pub(crate) fn is_balanced(&self) -> bool {
        matches!(
            self,
            Router::Shuffle {
                balance: Some(_),
                ..
            }
        )
    }

    /// Moves a load-aware shuffle's weights by the busy shares its worker
    /// threads published (`busy(thread)`, 0 to 1); nothing for other
    /// routers.
    pub(crate) fn rebalance(&mut self, busy: &impl Fn(usize) -> f64) {
        if let Router::Shuffle {
            targets,
            next,
            balance: Some(balance),
        } = self
        {
            if balance.rebalance(busy, targets) {
                *next %= targets.len().max(1);
            }
        }
    }

    /// Whether `emit_direct` may target this subscription.
    pub(crate) fn is_direct(&self) -> bool {
        matches!(self, Router::Direct)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route_all(r: &mut Router, values: &[Value], n: usize) -> Vec<TaskId> {
        let mut out = Vec::new();
        for _ in 0..n {
            r.route(values, |t| out.push(t));
        }
        out
    }

    #[test]
    fn shuffle_is_even() {
        let mut r = Router::new(&Grouping::Shuffle, &[4, 5, 6], &[], vec![], 0);
        let got = route_all(&mut r, &[], 9);
        for t in [4, 5, 6] {
            assert_eq!(got.iter().filter(|x| **x == t).count(), 3);
        }
    }

    #[test]
    fn fields_same_key_same_task() {
        let mut r = Router::new(
            &Grouping::Fields(vec!["w".into()]),
            &[1, 2, 3, 4],
            &[],
            vec![0],
            0,
        );
        for word in ["a", "b", "storm", "gale"] {
            let got = route_all(&mut r, &[Value::from(word), Value::I64(0)], 20);
            assert!(got.windows(2).all(|w| w[0] == w[1]), "{word}: {got:?}");
        }
    }

    #[test]
    fn partial_key_uses_at_most_two_tasks() {
        let g = Grouping::PartialKey(vec!["w".into()]);
        let mut r = Router::new(&g, &[1, 2, 3, 4, 5, 6, 7, 8], &[], vec![0], 0);
        for word in ["a", "b", "hot"] {
            let mut got = route_all(&mut r, &[Value::from(word)], 50);
            got.sort_unstable();
            got.dedup();
            assert!(got.len() <= 2, "{word}: {got:?}");
        }
    }

    #[test]
    fn all_global_direct_local() {
        let mut r = Router::new(&Grouping::All, &[3, 4], &[], vec![], 0);
        assert_eq!(route_all(&mut r, &[], 1), vec![3, 4]);
        let mut r = Router::new(&Grouping::Global, &[7, 3, 9], &[], vec![], 0);
        assert_eq!(route_all(&mut r, &[], 2), vec![3, 3]);
        let mut r = Router::new(&Grouping::Direct, &[3, 4], &[], vec![], 0);
        assert!(route_all(&mut r, &[], 2).is_empty() && r.is_direct());
        let mut r = Router::new(&Grouping::LocalOrShuffle, &[3, 4, 5], &[4], vec![], 1);
        assert_eq!(route_all(&mut r, &[], 3), vec![4, 4, 4]);
    }

    struct Evens;
    impl CustomGrouping for Evens {
        fn choose_tasks(&mut self, _values: &[Value], out: &mut Vec<TaskId>) {
            out.extend([2, 4, 99]);
        }
    }

    #[test]
    fn custom_choices_are_checked() {
        let mut r = Router::new(&Grouping::custom(|| Evens), &[1, 2, 3, 4], &[], vec![], 0);
        let mut out = Vec::new();
        assert_eq!(r.route(&[], |t| out.push(t)), 1);
        assert_eq!(out, vec![2, 4]);
    }
}
