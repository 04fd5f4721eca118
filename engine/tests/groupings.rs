//! Each stream grouping, checked by where its tuples actually went.

mod util;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gale_codec::Value;
use gale_engine::{
    Bolt, BoltOutput, CustomGrouping, Grouping, Input, OutputFieldsDeclarer, Spout, SpoutOutput,
    TaskId, TopologyBuilder, TopologyContext, DEFAULT_STREAM,
};
use util::{all_ids, assert_each_id, per_task, run, Numbers, Recorder, Sink, TaskSeen, ID_STRIDE};

/// Tuples per spout task.
const N: u64 = 300;

/// Keys of `recs`, each with the set of tasks that received it.
fn tasks_per_key(recs: &[util::Rec]) -> BTreeMap<String, BTreeSet<TaskId>> {
    let mut map: BTreeMap<String, BTreeSet<TaskId>> = BTreeMap::new();
    for r in recs {
        map.entry(r.key().to_owned()).or_default().insert(r.task);
    }
    map
}

#[test]
fn fields_sends_each_key_to_one_task() {
    for threads in [1, 2, 3] {
        let sink = Sink::new();
        let mut b = TopologyBuilder::new("fields");
        let s = Arc::clone(&sink);
        b.set_spout("numbers", move || Numbers::new(N).keys(20).sink(&s), 2);
        let s = Arc::clone(&sink);
        // Group by the second field, so the key index must be resolved.
        b.set_bolt("count", move || Recorder::new(&s), 4)
            .fields_grouping("numbers", ["key"]);
        let stats = run(b.build().unwrap(), threads, 4096);

        let recs = sink.received_by("count");
        let expected = all_ids(&sink.tasks_of("numbers"), N);
        assert_each_id(&recs, &expected, 1, "fields");
        let by_key = tasks_per_key(&recs);
        assert_eq!(by_key.len(), 20, "every key arrives");
        for (key, tasks) in &by_key {
            assert_eq!(
                tasks.len(),
                1,
                "threads={threads}: key {key} went to {tasks:?}"
            );
        }
        let used: BTreeSet<TaskId> = by_key.values().flatten().copied().collect();
        assert!(used.len() > 1, "20 keys all went to {used:?}");
        assert_eq!(stats.components["count"].executed, 2 * N);
    }
}

#[test]
fn fields_on_several_fields_groups_by_the_combination() {
    let sink = Sink::new();
    let mut b = TopologyBuilder::new("fields2");
    let s = Arc::clone(&sink);
    b.set_spout("numbers", move || Numbers::new(N).keys(6).sink(&s), 1);
    let s = Arc::clone(&sink);
    b.set_bolt("count", move || Recorder::new(&s), 3)
        .fields_grouping("numbers", ["key", "id"]);
    run(b.build().unwrap(), 2, 4096);
    let recs = sink.received_by("count");
    assert_each_id(&recs, &all_ids(&sink.tasks_of("numbers"), N), 1, "fields2");
    // The id is part of the key, so one `key` value spreads over tasks.
    let by_key = tasks_per_key(&recs);
    assert!(
        by_key.values().any(|t| t.len() > 1),
        "grouping by (key, id) behaved like grouping by key: {by_key:?}"
    );
}

#[test]
fn all_sends_every_tuple_to_every_task() {
    for threads in [1, 2] {
        let sink = Sink::new();
        let mut b = TopologyBuilder::new("all");
        let s = Arc::clone(&sink);
        b.set_spout("numbers", move || Numbers::new(N).sink(&s), 2);
        let s = Arc::clone(&sink);
        b.set_bolt("everyone", move || Recorder::new(&s), 3)
            .all_grouping("numbers");
        let stats = run(b.build().unwrap(), threads, 4096);

        let recs = sink.received_by("everyone");
        let expected = all_ids(&sink.tasks_of("numbers"), N);
        let tasks = sink.tasks_of("everyone");
        assert_eq!(tasks.len(), 3);
        for t in &tasks {
            let mine: Vec<_> = recs.iter().filter(|r| r.task == *t).cloned().collect();
            assert_each_id(&mine, &expected, 1, &format!("all, task {t}"));
        }
        assert_eq!(recs.len(), 3 * 2 * N as usize);
        assert_eq!(stats.components["numbers"].emitted, 2 * N);
        assert_eq!(stats.components["numbers"].transferred, 3 * 2 * N);
    }
}

#[test]
fn global_sends_everything_to_the_lowest_task() {
    for threads in [1, 2] {
        let sink = Sink::new();
        let mut b = TopologyBuilder::new("global");
        let s = Arc::clone(&sink);
        b.set_spout("numbers", move || Numbers::new(N).sink(&s), 2);
        let s = Arc::clone(&sink);
        b.set_bolt("one", move || Recorder::new(&s), 3)
            .global_grouping("numbers");
        run(b.build().unwrap(), threads, 4096);

        let tasks = sink.tasks_of("one");
        assert_eq!(tasks.len(), 3);
        let lowest = tasks[0];
        let recs = sink.received_by("one");
        assert_each_id(&recs, &all_ids(&sink.tasks_of("numbers"), N), 1, "global");
        let got: BTreeMap<TaskId, usize> = per_task(&recs);
        assert_eq!(
            got,
            BTreeMap::from([(lowest, 2 * N as usize)]),
            "threads={threads}: global grouping must use task {lowest} of {tasks:?} only"
        );
    }
}

/// Emits each tuple directly to one task of `a` or `b` in turn (the target
/// rides along as the `target` value), and on the default stream.
struct Director {
    n: u64,
    i: u64,
    targets: Vec<TaskId>,
}

impl Spout for Director {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare_direct_stream("direct", ["id", "target"]);
        d.declare(["id", "key"]);
    }
    fn open(&mut self, context: &TopologyContext) {
        self.targets = context.tasks_of("a");
        self.targets.extend(context.tasks_of("b"));
        assert_eq!(self.targets.len(), 5, "{:?}", context.task_to_component());
    }
    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        if self.i < self.n {
            let target = self.targets[self.i as usize % self.targets.len()];
            let id = self.i as i64;
            out.emit_direct(target, "direct", &[Value::I64(id), Value::from(target)]);
            out.emit(&[Value::I64(id), Value::from("k")]);
            self.i += 1;
        }
    }
    fn is_finished(&self) -> bool {
        self.i == self.n
    }
}

#[test]
fn direct_reaches_only_the_chosen_task() {
    for threads in [1, 2] {
        let sink = Sink::new();
        let mut b = TopologyBuilder::new("direct");
        b.set_spout(
            "director",
            || Director {
                n: N,
                i: 0,
                targets: Vec::new(),
            },
            1,
        );
        let s = Arc::clone(&sink);
        b.set_bolt("a", move || Recorder::new(&s), 2)
            .direct_grouping("director", "direct");
        let s = Arc::clone(&sink);
        b.set_bolt("b", move || Recorder::new(&s), 3)
            .direct_grouping("director", "direct");
        let s = Arc::clone(&sink);
        b.set_bolt("c", move || Recorder::new(&s), 2)
            .shuffle_grouping("director");
        let stats = run(b.build().unwrap(), threads, 4096);

        let mut targets = sink.tasks_of("a");
        targets.extend(sink.tasks_of("b"));
        let mut direct = sink.received_by("a");
        direct.extend(sink.received_by("b"));
        let ids: BTreeSet<i64> = (0..N as i64).collect();
        assert_each_id(&direct, &ids, 1, "direct");
        for r in &direct {
            assert_eq!(r.source_stream, "direct");
            assert_eq!(
                r.values[1],
                Value::from(r.task),
                "threads={threads}: tuple {r:?} was sent directly to another task"
            );
        }
        let expected: BTreeMap<TaskId, usize> = targets
            .iter()
            .map(|t| (*t, N as usize / targets.len()))
            .collect();
        assert_eq!(per_task(&direct), expected);
        // The non-direct subscriber gets the default stream only.
        let c = sink.received_by("c");
        assert_each_id(&c, &ids, 1, "c");
        assert!(c.iter().all(|r| r.source_stream == DEFAULT_STREAM));
        assert_eq!(stats.components["director"].emitted, 2 * N);
        assert_eq!(stats.components["director"].transferred, 2 * N);
    }
}

#[test]
fn local_or_shuffle_stays_on_the_emitters_thread() {
    let sink = Sink::new();
    let mut b = TopologyBuilder::new("local");
    let s = Arc::clone(&sink);
    // Tasks 1, 2 (spout) and 3..=6 (bolt) alternate over two threads, so
    // each thread has a spout task and two bolt tasks.
    b.set_spout("numbers", move || Numbers::new(N).sink(&s), 2);
    let s = Arc::clone(&sink);
    b.set_bolt("near", move || Recorder::new(&s), 4)
        .local_or_shuffle_grouping("numbers");
    run(b.build().unwrap(), 2, 4096);

    let thread_of = sink.thread_of();
    let spouts = sink.tasks_of("numbers");
    let threads: BTreeSet<usize> = spouts.iter().map(|t| thread_of[t]).collect();
    assert_eq!(threads.len(), 2, "spout tasks should be on both threads");
    let recs = sink.received_by("near");
    assert_each_id(&recs, &all_ids(&spouts, N), 1, "local-or-shuffle");
    for r in &recs {
        assert_eq!(
            r.thread, thread_of[&r.source_task],
            "tuple from task {} (thread {}) went to task {} on thread {}",
            r.source_task, thread_of[&r.source_task], r.task, r.thread
        );
    }
    let got = per_task(&recs);
    assert_eq!(
        got.keys().copied().collect::<Vec<_>>(),
        sink.tasks_of("near"),
        "every local task gets a share: {got:?}"
    );
}

#[test]
fn local_or_shuffle_falls_back_to_shuffle() {
    let sink = Sink::new();
    let mut b = TopologyBuilder::new("local-fallback");
    let s = Arc::clone(&sink);
    // Spout tasks 1 and 2 on threads 0 and 1; the bolt's one task (3) is on
    // thread 0, so task 2 has no local target.
    b.set_spout("numbers", move || Numbers::new(N).sink(&s), 2);
    let s = Arc::clone(&sink);
    b.set_bolt("far", move || Recorder::new(&s), 1)
        .local_or_shuffle_grouping("numbers");
    run(b.build().unwrap(), 2, 4096);
    let spouts = sink.tasks_of("numbers");
    let recs = sink.received_by("far");
    assert_each_id(&recs, &all_ids(&spouts, N), 1, "local-or-shuffle fallback");
    let sources: BTreeSet<TaskId> = recs.iter().map(|r| r.source_task).collect();
    assert_eq!(sources, spouts.into_iter().collect());
}

#[test]
fn partial_key_uses_at_most_two_tasks_per_key() {
    for threads in [1, 2] {
        let sink = Sink::new();
        let mut b = TopologyBuilder::new("partial");
        let s = Arc::clone(&sink);
        b.set_spout("numbers", move || Numbers::new(N).keys(10).sink(&s), 2);
        let s = Arc::clone(&sink);
        b.set_bolt("count", move || Recorder::new(&s), 4)
            .partial_key_grouping("numbers", ["key"]);
        run(b.build().unwrap(), threads, 4096);

        let recs = sink.received_by("count");
        assert_each_id(&recs, &all_ids(&sink.tasks_of("numbers"), N), 1, "partial");
        let by_key = tasks_per_key(&recs);
        assert_eq!(by_key.len(), 10);
        for (key, tasks) in &by_key {
            assert!(tasks.len() <= 2, "key {key} used tasks {tasks:?}");
        }
        // Unlike a fields grouping, a busy key is split over its two tasks.
        assert!(
            by_key.values().any(|t| t.len() == 2),
            "no key was split: {by_key:?}"
        );
        let used: BTreeSet<TaskId> = by_key.values().flatten().copied().collect();
        assert!(used.len() > 2, "10 keys used only {used:?}");
    }
}

fn check_roughly_even(grouping: &str, subscribe: fn(gale_engine::BoltDeclarer<'_>)) {
    for threads in [1, 2] {
        let sink = Sink::new();
        let mut b = TopologyBuilder::new(grouping);
        // Even by the round robin, whatever the threads' loads.
        b.set_load_aware(false);
        let s = Arc::clone(&sink);
        b.set_spout("numbers", move || Numbers::new(N).sink(&s), 2);
        let s = Arc::clone(&sink);
        subscribe(b.set_bolt("spread", move || Recorder::new(&s), 3));
        let stats = run(b.build().unwrap(), threads, 4096);

        let recs = sink.received_by("spread");
        assert_each_id(&recs, &all_ids(&sink.tasks_of("numbers"), N), 1, grouping);
        let got = per_task(&recs);
        let tasks = sink.tasks_of("spread");
        assert_eq!(got.keys().copied().collect::<Vec<_>>(), tasks, "{got:?}");
        let even = 2 * N as usize / 3;
        for (t, n) in &got {
            assert!(
                (even / 2..=even * 3 / 2).contains(n),
                "{grouping}, threads={threads}: task {t} got {n} of {} ({got:?})",
                2 * N
            );
        }
        assert_eq!(stats.components["spread"].executed, 2 * N);
    }
}

#[test]
fn shuffle_spreads_evenly() {
    check_roughly_even("shuffle", |d| {
        let _ = d.shuffle_grouping("numbers");
    });
}

/// Spins for `d` (a stand-in for work).
fn burn(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// Emits `n` tuples, each after 2 µs of work.
struct BusySpout {
    left: u64,
}

impl Spout for BusySpout {
    fn declare_output_fields(&self, declarer: &mut OutputFieldsDeclarer) {
        declarer.declare(["n"]);
    }

    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        if self.left > 0 {
            burn(Duration::from_micros(2));
            out.emit(&[Value::I64(self.left as i64)]);
            self.left -= 1;
        }
    }

    fn is_finished(&self) -> bool {
        self.left == 0
    }
}

/// Works 1 µs per input and counts its inputs by task index.
struct BusyBolt {
    counts: Arc<[AtomicU64; 2]>,
    index: usize,
}

impl Bolt for BusyBolt {
    fn declare_output_fields(&self, _declarer: &mut OutputFieldsDeclarer) {}

    fn prepare(&mut self, context: &TopologyContext) {
        self.index = context.task_index();
    }

    fn execute(&mut self, _input: &Input<'_>, _out: &mut BoltOutput<'_>) {
        burn(Duration::from_micros(1));
        self.counts[self.index].fetch_add(1, Ordering::Relaxed);
    }
}

/// A spout's thread also runs one of the two tasks its shuffle feeds: the
/// load-aware shuffle (the default) sends most tuples to the task on the
/// other, idler thread; without it, each task gets half.
#[test]
fn a_load_aware_shuffle_favours_the_idler_thread() {
    const TUPLES: u64 = 200_000;
    for load_aware in [true, false] {
        let counts: Arc<[AtomicU64; 2]> = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
        let mut b = TopologyBuilder::new("load-aware");
        b.set_load_aware(load_aware);
        // Tasks go round robin over the two threads in declaration order:
        // the spout (task 1) and work's second task (3) on thread 0,
        // work's first task (2) on thread 1.
        b.set_spout("numbers", || BusySpout { left: TUPLES }, 1);
        let c = Arc::clone(&counts);
        b.set_bolt(
            "work",
            move || BusyBolt {
                counts: Arc::clone(&c),
                index: 0,
            },
            2,
        )
        .shuffle_grouping("numbers");
        let stats = run(b.build().unwrap(), 2, 1 << 16);
        assert_eq!(stats.components["work"].executed, TUPLES);
        let other_thread = counts[0].load(Ordering::Relaxed);
        let spouts_thread = counts[1].load(Ordering::Relaxed);
        assert_eq!(other_thread + spouts_thread, TUPLES);
        if load_aware {
            // It settles near 7 to 1 within some 100 ms of the run's
            // about 600; anything over 3 to 2 shows the balance works.
            assert!(
                other_thread > TUPLES * 3 / 5,
                "load aware: {other_thread} on the idler thread, {spouts_thread} on the spout's"
            );
        } else {
            assert_eq!(other_thread, TUPLES / 2);
        }
    }
}

#[test]
fn none_spreads_evenly() {
    check_roughly_even("none", |d| {
        let _ = d.none_grouping("numbers");
    });
}

/// Sends id `i` to `targets[i % n]`, and even ids also to the last target.
#[derive(Default)]
struct ByValue {
    targets: Vec<TaskId>,
}

impl CustomGrouping for ByValue {
    fn prepare(&mut self, target_tasks: &[TaskId]) {
        self.targets = target_tasks.to_vec();
    }
    fn choose_tasks(&mut self, values: &[Value], out: &mut Vec<TaskId>) {
        let Value::I64(id) = values[0] else {
            panic!("no id in {values:?}")
        };
        let n = self.targets.len() as i64;
        out.push(self.targets[(id % ID_STRIDE % n) as usize]);
        if id % 2 == 0 {
            out.push(*self.targets.last().unwrap());
        }
    }
}

/// The tasks [`ByValue`] picks for `id` among `targets`.
fn by_value(id: i64, targets: &[TaskId]) -> Vec<TaskId> {
    let mut picked = vec![targets[(id % ID_STRIDE % targets.len() as i64) as usize]];
    if id % 2 == 0 {
        picked.push(*targets.last().unwrap());
    }
    picked.sort_unstable();
    picked
}

#[test]
fn custom_grouping_decides_where_tuples_go() {
    for threads in [1, 2] {
        let sink = Sink::new();
        let mut b = TopologyBuilder::new("custom");
        let s = Arc::clone(&sink);
        b.set_spout("numbers", move || Numbers::new(N).sink(&s), 2);
        let s = Arc::clone(&sink);
        b.set_bolt("picked", move || Recorder::new(&s), 3)
            .custom_grouping(
                "numbers",
                DEFAULT_STREAM,
                Grouping::custom(ByValue::default),
            );
        let stats = run(b.build().unwrap(), threads, 4096);

        let targets = sink.tasks_of("picked");
        let mut got: BTreeMap<i64, Vec<TaskId>> = BTreeMap::new();
        for r in sink.received_by("picked") {
            got.entry(r.id()).or_default().push(r.task);
        }
        got.values_mut().for_each(|t| t.sort_unstable());
        let expected: BTreeMap<i64, Vec<TaskId>> = all_ids(&sink.tasks_of("numbers"), N)
            .into_iter()
            .map(|id| (id, by_value(id, &targets)))
            .collect();
        assert_eq!(got, expected, "threads={threads}");
        let deliveries = expected.values().map(Vec::len).sum::<usize>() as u64;
        assert_eq!(stats.components["numbers"].transferred, deliveries);
        assert_eq!(stats.components["picked"].executed, deliveries);
    }
}

/// Picks the first target and a task that is not a target.
struct Stray;
impl CustomGrouping for Stray {
    fn choose_tasks(&mut self, _values: &[Value], out: &mut Vec<TaskId>) {
        out.extend([3, 999]);
    }
}

#[test]
fn custom_grouping_choosing_a_stranger_is_reported() {
    let sink = Sink::new();
    let mut b = TopologyBuilder::new("stray");
    let s = Arc::clone(&sink);
    b.set_spout("numbers", move || Numbers::new(20).sink(&s), 2);
    let s = Arc::clone(&sink);
    b.set_bolt("picked", move || Recorder::new(&s), 2)
        .custom_grouping("numbers", DEFAULT_STREAM, Grouping::custom(|| Stray));
    let stats = util::run_with(b.build().unwrap(), util::config(2, 4096)).unwrap();
    assert_eq!(sink.tasks_of("picked"), vec![3, 4]);
    // The valid choice is delivered, the stray one dropped and reported.
    let recs = sink.received_by("picked");
    assert_each_id(&recs, &all_ids(&[1, 2], 20), 1, "stray");
    assert!(recs.iter().all(|r| r.task == 3));
    assert_eq!(stats.errors.len(), 40, "{:?}", stats.errors);
    for e in &stats.errors {
        assert_eq!(e.component, "numbers", "{e:?}");
        assert!(e.task == 1 || e.task == 2, "{e:?}");
        assert!(e.message.contains("custom grouping"), "{e:?}");
    }
    assert_eq!(stats.components["numbers"].errors, 40);
}

#[test]
fn tasks_are_numbered_from_one_and_spread_round_robin() {
    for threads in [1, 2, 3] {
        let sink = Sink::new();
        let mut b = TopologyBuilder::new("placement");
        let s = Arc::clone(&sink);
        b.set_spout("numbers", move || Numbers::new(5).sink(&s), 2);
        let s = Arc::clone(&sink);
        b.set_bolt("x", move || Recorder::relay(&s, 1), 3)
            .shuffle_grouping("numbers");
        let s = Arc::clone(&sink);
        b.set_bolt("y", move || Recorder::new(&s), 2)
            .shuffle_grouping("x");
        let s = Arc::clone(&sink);
        b.set_bolt("x2", move || Recorder::new(&s), 1)
            .shuffle_grouping("numbers");
        run(b.build().unwrap(), threads, 4096);

        let mut seen: Vec<TaskSeen> = sink.seen.lock().unwrap().clone();
        seen.sort_by_key(|s| s.task);
        let expected: Vec<(String, TaskId, usize, usize, Vec<TaskId>)> = [
            ("numbers", 1, 0, vec![1, 2]),
            ("numbers", 2, 1, vec![1, 2]),
            ("x", 3, 0, vec![3, 4, 5]),
            ("x", 4, 1, vec![3, 4, 5]),
            ("x", 5, 2, vec![3, 4, 5]),
            ("y", 6, 0, vec![6, 7]),
            ("y", 7, 1, vec![6, 7]),
            ("x2", 8, 0, vec![8]),
        ]
        .into_iter()
        .map(|(c, t, i, tasks)| (c.to_owned(), t, i, (t as usize - 1) % threads, tasks))
        .collect();
        let got: Vec<_> = seen
            .into_iter()
            .map(|s| {
                (
                    s.component,
                    s.task,
                    s.task_index,
                    s.thread,
                    s.component_tasks,
                )
            })
            .collect();
        assert_eq!(got, expected, "threads={threads}");
    }
}
