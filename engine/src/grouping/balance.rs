//! [`Balance`]: the weights of a load-aware shuffle.
//!
//! Storm's shuffle has been load aware by default since 2.0
//! (`LoadAwareShuffleGrouping`, off with
//! `topology.disable.loadaware.messaging`): it sends fewer tuples to the
//! targets whose queues are fuller. Gale's does the same within a node,
//! by how busy each target's worker thread is: a thread that also runs a
//! spout, or a heavier share of another component, gets a smaller share
//! of the shuffled tuples, so that both threads stay busy instead of one
//! waiting for the other.
//!
//! The busy share of a thread is the part of its last 10 ms window its
//! loop spent on passes that did work (`runtime/load.rs` measures
//! it; a parked thread, or one whose spouts wait for room in a full ring
//! with nothing else to do, counts as idle). Every
//! such window, each target's weight is multiplied by
//! `exp(GAIN * (mean - busy))` (differences under [`DEADBAND`] are
//! ignored, and the step is bounded by [`MAX_STEP`]): a
//! thread busier than the mean of its subscription's threads loses
//! weight, a less busy one gains. Two saturated threads have equal busy
//! shares and keep their weights; a thread pushed past its capacity
//! blocks its emitters on a full ring, which makes them idle, and the
//! weight flows back. Weights stay within [`MIN_WEIGHT`] and
//! [`MAX_WEIGHT`] of an even share, so every task keeps getting tuples.
//!
//! While every thread of the shuffle is busy less than half of its
//! windows ([`LIGHT_LOAD`]), no thread is near its capacity and the
//! weights go back towards even: balancing gains nothing there, and the
//! round robin keeps its share of tuples on the emitting thread, where a
//! chained tuple waits less than one handed to another thread.
//!
//! Targets on other nodes keep an even share (this node does not see
//! how busy their threads are), and so does the node's share as a whole.
//!
//! The router keeps picking round robin over a table in which each
//! target appears in proportion to its weight, spread evenly through it
//! ([`Balance::rebalance`] rewrites the table): the shuffle's pick costs
//! the same as without balance.

use crate::TaskId;

/// How strongly a difference of busy shares moves the weights.
const GAIN: f64 = 0.5;
/// The largest difference of busy shares one window acts on.
const MAX_STEP: f64 = 0.2;
/// A thread whose busy share is within this of the mean of its
/// shuffle's threads keeps its weight: noise
/// (two saturated threads differ by about 0.02 from window to window),
/// and the small differences of lightly loaded threads, which are best
/// left with the even shares of the round robin.
const DEADBAND: f64 = 0.05;
/// While every thread of a shuffle is busy less than this share of its
/// windows, none is near its capacity: the weights go back towards even
/// (a tuple kept on the emitting thread's chain waits less than one
/// handed to another thread, and balancing gains nothing there).
const LIGHT_LOAD: f64 = 0.5;
/// How much of a weight's distance from even one lightly loaded window
/// keeps.
const RELAX: f64 = 0.5;
/// The least weight of a target, relative to an even share.
const MIN_WEIGHT: f64 = 0.25;
/// The most weight of a target, relative to an even share.
const MAX_WEIGHT: f64 = 4.0;
/// Table entries per target: the resolution of the shares.
const ENTRIES_PER_TARGET: usize = 16;

/// The load-aware state of one shuffle router.
#[derive(Debug)]
pub(crate) struct Balance {
    /// The distinct targets, ascending, with the worker thread of this
    /// node each runs on (`None`: a task of another node).
    targets: Vec<(TaskId, Option<usize>)>,
    /// Each target's weight (1: an even share).
    weights: Vec<f64>,
    /// How often each target appears in the table last built.
    counts: Vec<usize>,
    /// Room to sort the table's entries in (kept between rebuilds).
    order: Vec<(f64, TaskId)>,
}

impl Balance {
    /// The balance of a shuffle over `targets` (distinct), where
    /// `thread_of` names the worker thread of this node a task runs on
    /// (`None` for another node's); `None` if fewer than two threads of
    /// this node run targets (there is nothing to balance between).
    pub(crate) fn new(
        targets: &[TaskId],
        thread_of: impl Fn(TaskId) -> Option<usize>,
    ) -> Option<Self> {
        let mut targets: Vec<(TaskId, Option<usize>)> =
            targets.iter().map(|&t| (t, thread_of(t))).collect();
        targets.sort_unstable();
        targets.dedup();
        let mut threads: Vec<usize> = targets.iter().filter_map(|t| t.1).collect();
        threads.sort_unstable();
        threads.dedup();
        if threads.len() < 2 {
            return None;
        }
        let n = targets.len();
        Some(Self {
            targets,
            weights: vec![1.0; n],
            // The router's first table, each target once, has the
            // shares of this many entries each.
            counts: vec![ENTRIES_PER_TARGET; n],
            order: Vec::new(),
        })
    }

    /// Each target's current weight, in the order of its task id (1: an
    /// even share).
    #[cfg(test)]
    pub(crate) fn weights(&self) -> impl Iterator<Item = (TaskId, f64)> + '_ {
        self.targets
            .iter()
            .map(|t| t.0)
            .zip(self.weights.iter().copied())
    }

    /// Moves weight by `busy(thread)`, the busy share (0 to 1) each worker
    /// thread of this node published for its last window, and rewrites
    /// `table` (the router's round robin) if the shares of its entries
    /// changed; returns whether it did.
    pub(crate) fn rebalance(
        &mut self,
        busy: impl Fn(usize) -> f64,
        table: &mut Vec<TaskId>,
    ) -> bool {
        let (mut sum, mut n, mut busiest) = (0.0, 0.0, 0.0_f64);
        for th in self.targets.iter().filter_map(|t| t.1) {
            let b = busy(th);
            sum += b;
            n += 1.0;
            busiest = busiest.max(b);
        }
        if n == 0.0 {
            return false;
        }
        if busiest < LIGHT_LOAD {
            // Room on every thread: the even shares come back, and with
            // them the round robin's latency.
            for w in self.local_weights() {
                *w = 1.0 + (*w - 1.0) * RELAX;
                if (*w - 1.0).abs() < 0.01 {
                    *w = 1.0;
                }
            }
            return self.build(table);
        }
        let mean = sum / n;
        for (w, &(_, thread)) in self.weights.iter_mut().zip(&self.targets) {
            if let Some(th) = thread {
                let d = mean - busy(th);
                if d.abs() >= DEADBAND {
                    *w *= (GAIN * d.clamp(-MAX_STEP, MAX_STEP)).exp();
                }
            }
        }
        // This node's targets keep their share as a whole (mean weight
        // 1), each within its bounds (twice: a clamp moves the mean).
        for _ in 0..2 {
            let total: f64 = self.local_weights().map(|w| *w).sum();
            let scale = n / total;
            for w in self.local_weights() {
                *w = (*w * scale).clamp(MIN_WEIGHT, MAX_WEIGHT);
            }
        }
        self.build(table)
    }

    /// The weights of this node's targets.
    fn local_weights(&mut self) -> impl Iterator<Item = &mut f64> {
        self.weights
            .iter_mut()
            .zip(&self.targets)
            .filter(|(_, t)| t.1.is_some())
            .map(|(w, _)| w)
    }

    /// Rewrites `table` from the weights if the counts of its entries
    /// change: each target `ENTRIES_PER_TARGET * weight` times (at least
    /// once), spread evenly (target `i`'s `k`-th entry at `(k + 1/2) /
    /// count_i` of the way through).
    fn build(&mut self, table: &mut Vec<TaskId>) -> bool {
        let counts = self
            .weights
            .iter()
            .map(|w| ((w * ENTRIES_PER_TARGET as f64).round() as usize).max(1));
        if counts.clone().eq(self.counts.iter().copied()) {
            return false;
        }
        self.counts.clear();
        self.counts.extend(counts);
        self.order.clear();
        for (&(task, _), &count) in self.targets.iter().zip(&self.counts) {
            let step = 1.0 / count as f64;
            self.order
                .extend((0..count).map(|k| ((k as f64 + 0.5) * step, task)));
        }
        self.order
            .sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        table.clear();
        table.extend(self.order.iter().map(|e| e.1));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share(table: &[TaskId], task: TaskId) -> f64 {
        table.iter().filter(|t| **t == task).count() as f64 / table.len() as f64
    }

    /// Targets 1 and 2 on threads 0 and 1.
    fn two_threads() -> (Balance, Vec<TaskId>) {
        let b = Balance::new(&[1, 2], |t| Some(t as usize - 1)).unwrap();
        (b, vec![1, 2])
    }

    #[test]
    fn nothing_to_balance_on_one_thread_or_none_of_this_node() {
        assert!(Balance::new(&[1, 2, 3], |_| Some(0)).is_none());
        assert!(Balance::new(&[1, 2], |_| None).is_none());
        assert!(Balance::new(&[1, 2, 3], |t| (t == 1).then_some(0)).is_none());
        assert!(Balance::new(&[1, 2, 3], |t| (t != 3).then_some(t as usize)).is_some());
    }

    #[test]
    fn the_busier_thread_gets_less_and_every_task_keeps_some() {
        let (mut b, mut table) = two_threads();
        // Thread 0 saturated, thread 1 half idle.
        for _ in 0..5 {
            b.rebalance(|th| if th == 0 { 1.0 } else { 0.5 }, &mut table);
        }
        let s1 = share(&table, 1);
        assert!(s1 < 0.4, "{s1} {table:?}");
        // Without end, it stops at the least weight.
        for _ in 0..200 {
            b.rebalance(|th| if th == 0 { 1.0 } else { 0.5 }, &mut table);
        }
        let s1 = share(&table, 1);
        let least = MIN_WEIGHT / (MIN_WEIGHT + (2.0 - MIN_WEIGHT));
        assert!((s1 - least).abs() < 0.02, "{s1} {table:?}");
        // And it comes back once the other thread is the busier one.
        for _ in 0..200 {
            b.rebalance(|th| if th == 0 { 0.5 } else { 1.0 }, &mut table);
        }
        assert!(share(&table, 1) > 0.8, "{table:?}");
    }

    #[test]
    fn light_loads_bring_the_even_shares_back() {
        let (mut b, mut table) = two_threads();
        for _ in 0..20 {
            b.rebalance(|th| if th == 0 { 1.0 } else { 0.3 }, &mut table);
        }
        assert!(share(&table, 1) < 0.3, "{table:?}");
        // Both threads below half busy: however different, back to even.
        for _ in 0..20 {
            b.rebalance(|th| if th == 0 { 0.45 } else { 0.05 }, &mut table);
        }
        assert!(b.weights().all(|(_, w)| w == 1.0));
        assert!((share(&table, 1) - 0.5).abs() < 1e-9, "{table:?}");
    }

    #[test]
    fn equal_loads_change_nothing() {
        let (mut b, mut table) = two_threads();
        for busy in [0.0, 0.3, 0.7, 1.0] {
            assert!(!b.rebalance(|_| busy, &mut table));
        }
        // A difference within the dead band is noise.
        let near = 1.0 - DEADBAND / 2.0;
        assert!(!b.rebalance(|th| if th == 0 { 1.0 } else { near }, &mut table));
        assert_eq!(table, [1, 2]);
        assert!(b.weights().all(|(_, w)| w == 1.0));
    }

    #[test]
    fn entries_are_spread_through_the_table() {
        let (mut b, mut table) = two_threads();
        for _ in 0..100 {
            if share(&table, 2) >= 0.7 {
                break;
            }
            b.rebalance(|th| if th == 0 { 1.0 } else { 0.2 }, &mut table);
        }
        assert!(share(&table, 2) >= 0.7, "{table:?}");
        // The rarer target's entries never follow one another.
        assert!(
            table.windows(2).all(|w| !(w[0] == 1 && w[1] == 1)),
            "{table:?}"
        );
        let (mut w1, mut w2) = (0.0, 0.0);
        for (t, w) in b.weights() {
            if t == 1 {
                w1 = w;
            } else {
                w2 = w;
            }
        }
        assert!((w1 + w2 - 2.0).abs() < 1e-9 && w1 < w2, "{w1} {w2}");
    }

    #[test]
    fn other_nodes_keep_an_even_share() {
        // Tasks 1, 2 on threads 0 and 1 of this node, 3 and 4 elsewhere.
        let mut b = Balance::new(&[1, 2, 3, 4], |t| (t <= 2).then(|| t as usize - 1)).unwrap();
        let mut table = vec![1, 2, 3, 4];
        for _ in 0..50 {
            b.rebalance(|th| if th == 0 { 1.0 } else { 0.4 }, &mut table);
        }
        for remote in [3, 4] {
            assert!((share(&table, remote) - 0.25).abs() < 0.02, "{table:?}");
        }
        assert!(share(&table, 1) < share(&table, 2), "{table:?}");
    }
}
