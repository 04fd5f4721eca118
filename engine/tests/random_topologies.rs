//! Random topologies (random groupings, fan-out and fan-in, relaying bolts,
//! tiny to large rings, acking on or off, relays by `emit`, `emit_many` or
//! anchored `emit_anchored` or `forward`) run on one worker thread chained (a bolt runs
//! within the emit that reaches it), on one thread unchained (every tuple
//! takes the same-thread queue), and on two or three, where most take the
//! rings between workers as staged record batches. Every run must deliver
//! what the topology's semantics say, exactly (every tuple once per
//! subscription, `parallelism` times for an all grouping, relayed copies
//! included), with acking every spout tuple's tree acked exactly once and
//! never failed, and the groupings that do not depend on arrival order
//! (fields, global, all) must give every task exactly the same tuples.

mod util;

use std::collections::BTreeMap;

use gale_engine::{Grouping, RunConfig, TaskId, TopologyBuilder};
use proptest::prelude::*;
use util::{config, run_config, Acks, Numbers, Recorder, Relay, Sink, ID_STRIDE};

/// A grouping of the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum G {
    Shuffle,
    Fields,
    Global,
    All,
    PartialKey,
}

impl G {
    fn grouping(self) -> Grouping {
        match self {
            G::Shuffle => Grouping::Shuffle,
            G::Fields => Grouping::Fields(vec!["key".into()]),
            G::Global => Grouping::Global,
            G::All => Grouping::All,
            G::PartialKey => Grouping::PartialKey(vec!["key".into()]),
        }
    }

    /// Whether each task's share does not depend on arrival order.
    fn placed_by_value(self) -> bool {
        matches!(self, G::Fields | G::Global | G::All)
    }
}

/// A bolt of the model: parallelism, copies it relays of each input, and
/// its subscriptions (index into spouts then bolts, grouping).
type BoltModel = (usize, usize, Vec<(usize, G)>);

/// How bolts relay: `emit` per copy, one `emit_many` for all copies, or
/// (with acking) `emit_anchored` or `forward` per copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Emit,
    Many,
    Acked,
    Forward,
}

impl Mode {
    /// Whether the spouts emit with message ids and the bolts anchor.
    fn acked(self) -> bool {
        matches!(self, Mode::Acked | Mode::Forward)
    }
}

/// A random topology: spouts `s0..`, then bolts `b0..`, each bolt
/// subscribing to earlier components.
#[derive(Debug, Clone)]
struct Model {
    /// Per spout: (parallelism, tuples per task, keys).
    spouts: Vec<(usize, u64, u64)>,
    /// Per bolt.
    bolts: Vec<BoltModel>,
    ring_bytes: usize,
    threads: usize,
    mode: Mode,
}

impl Model {
    fn name(&self, component: usize) -> String {
        if component < self.spouts.len() {
            format!("s{component}")
        } else {
            format!("b{}", component - self.spouts.len())
        }
    }

    fn parallelism(&self, component: usize) -> usize {
        if component < self.spouts.len() {
            self.spouts[component].0
        } else {
            self.bolts[component - self.spouts.len()].0
        }
    }

    /// How many times `component` emits each id, by id.
    fn emits(&self, component: usize) -> BTreeMap<i64, usize> {
        if component < self.spouts.len() {
            // Task ids: spouts first, in order, from 1.
            let first: usize = 1 + (0..component).map(|c| self.parallelism(c)).sum::<usize>();
            let (tasks, n, _) = self.spouts[component];
            let mut out = BTreeMap::new();
            for t in first..first + tasks {
                for i in 0..n as i64 {
                    out.insert(t as i64 * ID_STRIDE + i, 1);
                }
            }
            return out;
        }
        let (_, copies, _) = self.bolts[component - self.spouts.len()];
        let mut out = BTreeMap::new();
        for (from, per_id) in self.receives(component) {
            let _ = from;
            for (id, n) in per_id {
                *out.entry(id).or_default() += n * copies;
            }
        }
        out
    }

    /// What bolt `component` receives from each subscription: (source
    /// component name, count per id).
    fn receives(&self, component: usize) -> Vec<(String, BTreeMap<i64, usize>)> {
        let (tasks, _, subs) = &self.bolts[component - self.spouts.len()];
        subs.iter()
            .map(|&(from, g)| {
                let times = if g == G::All { *tasks } else { 1 };
                let per_id = self
                    .emits(from)
                    .into_iter()
                    .map(|(id, n)| (id, n * times))
                    .collect();
                (self.name(from), per_id)
            })
            .collect()
    }
}

fn model() -> impl Strategy<Value = Model> {
    let spouts = prop::collection::vec((1usize..=2, 1u64..=1500, 1u64..=6), 1..=2);
    let mode = prop_oneof![
        Just(Mode::Emit),
        Just(Mode::Many),
        Just(Mode::Acked),
        Just(Mode::Forward)
    ];
    (spouts, 1usize..=3, 0usize..4, 2usize..=3, mode)
        .prop_flat_map(|(spouts, n_bolts, ring, threads, mode)| {
            let n_spouts = spouts.len();
            let bolt = |b: usize| {
                let sub = (0..n_spouts + b, g());
                (
                    1usize..=3,
                    1usize..=2,
                    prop::collection::vec(sub, 1..=2).prop_map(|mut subs| {
                        // One subscription per source component.
                        subs.sort_by_key(|s| s.0);
                        subs.dedup_by_key(|s| s.0);
                        subs
                    }),
                )
            };
            let bolts: Vec<_> = (0..n_bolts).map(bolt).collect();
            (Just(spouts), bolts, Just(ring), Just(threads), Just(mode))
        })
        .prop_map(|(spouts, bolts, ring, threads, mode)| Model {
            spouts,
            bolts,
            // Tiny rings twice as often: they overflow, and their records
            // hold one or two tuples each.
            ring_bytes: [256, 256, 4096, 1 << 16][ring],
            threads,
            mode,
        })
}

fn g() -> impl Strategy<Value = G> {
    prop_oneof![
        Just(G::Shuffle),
        Just(G::Fields),
        Just(G::Global),
        Just(G::All),
        Just(G::PartialKey),
    ]
}

/// Per receiving component: (task, source component, id) -> count.
type Received = BTreeMap<String, BTreeMap<(TaskId, String, i64), usize>>;

/// Runs the model on `threads` workers, chaining bolts or not; what each
/// bolt task received.
fn run(model: &Model, threads: usize, chain: bool) -> Received {
    let sink = Sink::new();
    let acks = Acks::default();
    let mut b = TopologyBuilder::new("random");
    for (i, &(tasks, n, keys)) in model.spouts.iter().enumerate() {
        let acks = std::sync::Arc::clone(&acks);
        let acked = model.mode.acked();
        let numbers = move || {
            let numbers = Numbers::new(n).keys(keys);
            if acked {
                numbers.reliable(&acks)
            } else {
                numbers
            }
        };
        b.set_spout(&model.name(i), numbers, tasks);
    }
    for (j, (tasks, copies, subs)) in model.bolts.iter().enumerate() {
        let component = model.spouts.len() + j;
        let s = std::sync::Arc::clone(&sink);
        let relay = match model.mode {
            Mode::Emit => Relay::Copies(*copies),
            Mode::Many => Relay::Many(*copies),
            Mode::Acked => Relay::Anchored(*copies),
            Mode::Forward => Relay::Forwarded(*copies),
        };
        let mut d = b.set_bolt(
            &model.name(component),
            move || Recorder::relay_with(&s, relay),
            *tasks,
        );
        for &(from, g) in subs {
            d = d.grouping(&model.name(from), gale_engine::DEFAULT_STREAM, g.grouping());
        }
    }
    let topology = b.build().expect("a valid random topology");
    let config = RunConfig {
        chain,
        ..config(threads, model.ring_bytes)
    };
    run_config(topology, config);
    if model.mode.acked() {
        // Every spout tuple's tree completed once, none failed.
        let acks = acks.lock().unwrap();
        let emitted: usize = (0..model.spouts.len()).map(|c| model.emits(c).len()).sum();
        assert_eq!(acks.len(), emitted, "{threads} thread(s): trees acked");
        for (id, &(acked, failed)) in acks.iter() {
            assert_eq!((acked, failed), (1, 0), "{threads} thread(s): id {id}");
        }
    }
    let mut out = Received::new();
    for rec in sink.tuples() {
        *out.entry(rec.component.clone())
            .or_default()
            .entry((rec.task, rec.source_component.clone(), rec.id()))
            .or_default() += 1;
    }
    out
}

/// Checks `got` against the model's semantics.
fn check_semantics(model: &Model, got: &Received, what: &str) {
    for j in 0..model.bolts.len() {
        let component = model.spouts.len() + j;
        let name = model.name(component);
        let mut expected: BTreeMap<(String, i64), usize> = BTreeMap::new();
        for (from, per_id) in model.receives(component) {
            for (id, n) in per_id {
                *expected.entry((from.clone(), id)).or_default() += n;
            }
        }
        let mut seen: BTreeMap<(String, i64), usize> = BTreeMap::new();
        for ((_, from, id), n) in got.get(&name).into_iter().flatten() {
            *seen.entry((from.clone(), *id)).or_default() += n;
        }
        assert_eq!(seen, expected, "{what}: what `{name}` received");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn the_chained_queue_and_ring_paths_deliver_the_same(model in model()) {
        let one = run(&model, 1, true);
        check_semantics(&model, &one, "one thread, chained");
        let queued = run(&model, 1, false);
        check_semantics(&model, &queued, "one thread, queued");
        let many = run(&model, model.threads, true);
        check_semantics(&model, &many, "several threads");
        // Subscriptions placed by value: identical per task.
        for (j, (_, _, subs)) in model.bolts.iter().enumerate() {
            let name = model.name(model.spouts.len() + j);
            for &(from, g) in subs.iter().filter(|s| s.1.placed_by_value()) {
                let from = model.name(from);
                let pick = |r: &Received| -> BTreeMap<(TaskId, i64), usize> {
                    r.get(&name)
                        .into_iter()
                        .flatten()
                        .filter(|((_, f, _), _)| *f == from)
                        .map(|((t, _, id), n)| ((*t, *id), *n))
                        .collect()
                };
                prop_assert_eq!(pick(&one), pick(&many), "`{}` from `{}` ({:?})", name, from, g);
                prop_assert_eq!(pick(&one), pick(&queued), "`{}` from `{}` ({:?})", name, from, g);
            }
        }
    }
}
