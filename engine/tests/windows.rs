//! Windowed bolts through the real engine: windows fired from real inputs,
//! late tuples on their stream, acking (a tuple still in a window is not
//! acked; none is acked twice; one left in an open window times out),
//! processing time driven by the worker's poll, a plain bolt run on
//! windows, and the build-time checks. The window logic itself is checked
//! against a model in the engine's unit tests (`window::tests`).

mod util;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gale_codec::Value;
use gale_engine::window::{
    Length, TupleWindow, Window, WindowOutput, WindowedBolt, WindowedBoltOf,
};
use gale_engine::{
    Bolt, BoltOutput, Input, OutputFieldsDeclarer, Spout, SpoutOutput, TopologyBuilder,
    TopologyError,
};
use util::{config, run_config};

/// Acks and fails per message id, and broken expectations.
#[derive(Default)]
struct Log {
    acks: Mutex<BTreeMap<i64, (u32, u32)>>,
    windows: Mutex<Vec<Seen>>,
    late: Mutex<Vec<i64>>,
    problems: Mutex<Vec<String>>,
}

/// One window as the bolt saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    ids: Vec<i64>,
    new: Vec<i64>,
    expired: Vec<i64>,
    start: Option<i64>,
    end: i64,
}

/// Emits `(id, ts)` for each item, reliably (message id = id) or not.
struct Items {
    items: Vec<(i64, i64)>,
    next: usize,
    reliable: bool,
    log: Arc<Log>,
    /// Emit no faster than one tuple per this much real time.
    pace: Option<Duration>,
    last: Option<Instant>,
}

impl Spout for Items {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare(["id", "ts"]);
    }
    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        if let Some(pace) = self.pace {
            if self.last.is_some_and(|l| l.elapsed() < pace) {
                return;
            }
            self.last = Some(Instant::now());
        }
        let Some(&(id, ts)) = self.items.get(self.next) else {
            return;
        };
        self.next += 1;
        let values = [Value::I64(id), Value::I64(ts)];
        if self.reliable {
            out.emit_with_id(&values, id as u64);
        } else {
            out.emit(&values);
        }
    }
    fn ack(&mut self, id: u64) {
        self.log
            .acks
            .lock()
            .unwrap()
            .entry(id as i64)
            .or_default()
            .0 += 1;
    }
    fn fail(&mut self, id: u64) {
        self.log
            .acks
            .lock()
            .unwrap()
            .entry(id as i64)
            .or_default()
            .1 += 1;
    }
    fn is_finished(&self) -> bool {
        self.next >= self.items.len()
    }
}

fn id(v: Option<&Value>) -> i64 {
    match v {
        Some(Value::I64(i)) => *i,
        other => panic!("not an id: {other:?}"),
    }
}

/// Records every window and checks, as it fires, that none of its tuples
/// has been acked at the spout yet.
struct Collect(Arc<Log>);

impl WindowedBolt for Collect {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare(["end", "size"]);
    }
    fn execute(&mut self, window: &TupleWindow<'_>, out: &mut WindowOutput<'_, '_>) {
        let ids: Vec<i64> = window.get().iter().map(|t| id(t.field("id"))).collect();
        let acks = self.0.acks.lock().unwrap();
        for i in &ids {
            if acks.get(i).is_some_and(|a| a.0 > 0) {
                let p = format!(
                    "id {i} was acked while window ending {} holds it",
                    window.end_timestamp()
                );
                self.0.problems.lock().unwrap().push(p);
            }
        }
        drop(acks);
        self.0.windows.lock().unwrap().push(Seen {
            new: window.get_new().map(|t| id(t.field("id"))).collect(),
            expired: window
                .get_expired()
                .iter()
                .map(|t| id(t.field("id")))
                .collect(),
            ids,
            start: window.start_timestamp(),
            end: window.end_timestamp(),
        });
        out.emit(&[
            Value::I64(window.end_timestamp()),
            Value::I64(window.get().len() as i64),
        ]);
    }
}

/// Acks everything; records late tuples' ids.
struct Sink(Arc<Log>);

impl Bolt for Sink {
    fn declare_output_fields(&self, _d: &mut OutputFieldsDeclarer) {}
    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        if input.source_stream() == "late" {
            let values = input.field("late_tuple").unwrap().to_value();
            let Value::List(values) = values else {
                panic!("late_tuple is not a list: {values:?}");
            };
            self.0.late.lock().unwrap().push(id(values.first()));
        }
        out.ack(input);
    }
}

fn items(ts: &[i64]) -> Vec<(i64, i64)> {
    ts.iter().enumerate().map(|(i, t)| (i as i64, *t)).collect()
}

fn spout(
    log: &Arc<Log>,
    items: Vec<(i64, i64)>,
    reliable: bool,
) -> impl Fn() -> Items + Send + Sync {
    let log = Arc::clone(log);
    move || Items {
        items: items.clone(),
        next: 0,
        reliable,
        log: Arc::clone(&log),
        pace: None,
        last: None,
    }
}

#[test]
fn a_tumbling_count_window_acks_its_tuples_after_firing_and_never_the_ones_still_held() {
    let log = Arc::new(Log::default());
    let mut b = TopologyBuilder::new("tumbling-count");
    b.set_message_timeout(Duration::from_secs(2));
    b.set_spout("items", spout(&log, items(&[0; 95]), true), 1);
    let l = Arc::clone(&log);
    b.set_windowed_bolt(
        "window",
        move || Collect(Arc::clone(&l)),
        Window::tumbling(Length::Count(10)),
        1,
    )
    .shuffle_grouping("items");
    let l = Arc::clone(&log);
    b.set_bolt("sink", move || Sink(Arc::clone(&l)), 1)
        .shuffle_grouping("window");
    run_config(b.build().unwrap(), config(2, 1 << 16));

    let windows = log.windows.lock().unwrap().clone();
    let expected: Vec<Vec<i64>> = (0..9).map(|w| (w * 10..w * 10 + 10).collect()).collect();
    assert_eq!(
        windows.iter().map(|w| w.ids.clone()).collect::<Vec<_>>(),
        expected
    );
    for (k, w) in windows.iter().enumerate() {
        assert_eq!(w.new, w.ids, "window {k}: all new in a tumbling window");
        let before: Vec<i64> = if k == 0 {
            vec![]
        } else {
            expected[k - 1].clone()
        };
        assert_eq!(w.expired, before, "window {k}: the previous window expired");
    }
    let acks = log.acks.lock().unwrap().clone();
    for i in 0..95 {
        // 0..90 left their window and were acked once; 90..95 are still in
        // an unfired window when the spout ends, so they time out.
        let want = if i < 90 { (1, 0) } else { (0, 1) };
        assert_eq!(acks.get(&i).copied(), Some(want), "id {i}");
    }
    assert_eq!(*log.problems.lock().unwrap(), Vec::<String>::new());
}

#[test]
fn event_time_windows_send_late_tuples_to_their_stream_and_ack_them() {
    // A rising clock with tuples out of order by up to 5 ms (within the
    // lag) and three far behind (late); a last tuple far ahead closes
    // every window before it.
    let ts = [
        100, 103, 101, 110, 108, 115, 90, 121, 119, 125, 100, 131, 140, 138, 147, 120, 152, 10_000,
    ];
    let late_expected = vec![6, 10, 15];
    let log = Arc::new(Log::default());
    let mut b = TopologyBuilder::new("event-time");
    b.set_message_timeout(Duration::from_secs(2));
    b.set_spout("items", spout(&log, items(&ts), true), 1);
    let window = Window::sliding(Duration::from_millis(20), Duration::from_millis(10))
        .with_timestamp_field("ts")
        .with_lag(Duration::from_millis(5))
        .with_late_tuple_stream("late");
    let l = Arc::clone(&log);
    b.set_windowed_bolt("window", move || Collect(Arc::clone(&l)), window, 1)
        .shuffle_grouping("items");
    let l = Arc::clone(&log);
    b.set_bolt("sink", move || Sink(Arc::clone(&l)), 1)
        .shuffle_grouping("window")
        .shuffle_grouping_stream("window", "late");
    run_config(b.build().unwrap(), config(2, 1 << 16));

    assert_eq!(*log.late.lock().unwrap(), late_expected);
    // The model: windows [end - 20, end) for ends at multiples of 10 up to
    // the watermark (10_000 - 5), over the tuples that were not late,
    // skipping empty ones.
    let on_time: Vec<(i64, i64)> = items(&ts)
        .into_iter()
        .filter(|(i, _)| !late_expected.contains(i))
        .collect();
    let mut expected = Vec::new();
    let mut end = 110;
    while end <= 9_995 {
        let mut inside: Vec<(i64, i64)> = on_time
            .iter()
            .copied()
            .filter(|(_, t)| (end - 20..end).contains(t))
            .collect();
        inside.sort_by_key(|&(i, t)| (t, i));
        if !inside.is_empty() {
            expected.push((end, inside.iter().map(|e| e.0).collect::<Vec<_>>()));
        }
        end += 10;
    }
    let windows = log.windows.lock().unwrap().clone();
    let got: Vec<(i64, Vec<i64>)> = windows.iter().map(|w| (w.end, w.ids.clone())).collect();
    assert_eq!(got, expected);
    assert!(windows.iter().all(|w| w.start == Some(w.end - 20)));
    let acks = log.acks.lock().unwrap().clone();
    for (i, _) in items(&ts) {
        // The last tuple stays in its window (none closes after it).
        let want = if i == 17 { (0, 1) } else { (1, 0) };
        assert_eq!(acks.get(&i).copied(), Some(want), "id {i}");
    }
    assert_eq!(*log.problems.lock().unwrap(), Vec::<String>::new());
}

#[test]
fn processing_time_windows_fire_from_the_poll_loop_and_ack_every_tuple_once() {
    let log = Arc::new(Log::default());
    let mut b = TopologyBuilder::new("processing-time");
    let l = Arc::clone(&log);
    let n = 150;
    b.set_spout(
        "items",
        move || Items {
            items: items(&vec![0; n]),
            next: 0,
            reliable: true,
            log: Arc::clone(&l),
            pace: Some(Duration::from_millis(1)),
            last: None,
        },
        1,
    );
    let window = Window::sliding(Duration::from_millis(40), Duration::from_millis(20));
    let l = Arc::clone(&log);
    b.set_windowed_bolt("window", move || Collect(Arc::clone(&l)), window, 1)
        .shuffle_grouping("items");
    let l = Arc::clone(&log);
    b.set_bolt("sink", move || Sink(Arc::clone(&l)), 1)
        .shuffle_grouping("window");
    run_config(b.build().unwrap(), config(2, 1 << 16));

    let windows = log.windows.lock().unwrap().clone();
    assert!(windows.len() >= 2, "{windows:?}");
    let mut times_seen: BTreeMap<i64, usize> = BTreeMap::new();
    for pair in windows.windows(2) {
        assert!(pair[0].end < pair[1].end);
    }
    for w in &windows {
        assert_eq!(w.end % 20, 0, "windows end at multiples of the slide");
        assert_eq!(w.start, Some(w.end - 40));
        for i in &w.ids {
            *times_seen.entry(*i).or_default() += 1;
        }
    }
    // Every tuple was in one or two windows (length 2 slides), and, once
    // time ran past its last window, acked exactly once.
    assert_eq!(times_seen.len(), n);
    assert!(
        times_seen.values().all(|k| (1..=2).contains(k)),
        "{times_seen:?}"
    );
    let acks = log.acks.lock().unwrap().clone();
    assert!(
        acks.values().all(|a| *a == (1, 0)) && acks.len() == n,
        "{acks:?}"
    );
    assert_eq!(*log.problems.lock().unwrap(), Vec::<String>::new());
}

/// A plain bolt that counts the tuples of each window tuple and acks it.
struct CountWindow;

impl Bolt for CountWindow {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare(["end", "size"]);
    }
    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        let n = input.field("tuples").unwrap().as_list().unwrap().len() as i64;
        let end = input.field("end").unwrap().as_i64().unwrap();
        out.emit_anchored("default", &[input], &[Value::I64(end), Value::I64(n)]);
        out.ack(input);
    }
}

/// Records (end, size) pairs.
struct Sizes(Arc<Mutex<Vec<(i64, i64)>>>);

impl Bolt for Sizes {
    fn declare_output_fields(&self, _d: &mut OutputFieldsDeclarer) {}
    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        let get = |f| input.field(f).unwrap().as_i64().unwrap();
        self.0.lock().unwrap().push((get("end"), get("size")));
        out.ack(input);
    }
}

#[test]
fn a_plain_bolt_runs_on_windows_as_one_tuple_each_and_its_trees_complete() {
    let log = Arc::new(Log::default());
    let sizes = Arc::new(Mutex::new(Vec::new()));
    let mut b = TopologyBuilder::new("plain-on-windows");
    b.set_message_timeout(Duration::from_secs(2));
    b.set_spout("items", spout(&log, items(&[0; 40]), true), 1);
    let window = Window::sliding(Length::Count(8), Length::Count(4));
    b.set_windowed_bolt("count", || WindowedBoltOf::new(CountWindow), window, 1)
        .shuffle_grouping("items");
    let s = Arc::clone(&sizes);
    b.set_bolt("sizes", move || Sizes(Arc::clone(&s)), 1)
        .shuffle_grouping("count");
    run_config(b.build().unwrap(), config(2, 1 << 16));
    // Windows after 4, 8, ..., 40 tuples: 4, then 8 each.
    let got: Vec<i64> = sizes.lock().unwrap().iter().map(|p| p.1).collect();
    assert_eq!(got, [4, 8, 8, 8, 8, 8, 8, 8, 8, 8]);
    // 0..36 left every window that can hold them; the last window's 4
    // newest wait for the next one, which never comes: they time out.
    let acks = log.acks.lock().unwrap().clone();
    for i in 0..40 {
        let want = if i < 36 { (1, 0) } else { (0, 1) };
        assert_eq!(acks.get(&i).copied(), Some(want), "id {i}");
    }
}

struct Nothing;
impl Spout for Nothing {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare(["id", "ts"]);
    }
    fn next_tuple(&mut self, _out: &mut SpoutOutput<'_>) {}
}

fn build_with(window: Window, setup: impl FnOnce(&mut TopologyBuilder)) -> Option<TopologyError> {
    let log = Arc::new(Log::default());
    let mut b = TopologyBuilder::new("checks");
    b.set_spout("items", || Nothing, 2);
    setup(&mut b);
    b.set_windowed_bolt("w", move || Collect(Arc::clone(&log)), window, 1)
        .shuffle_grouping("items");
    b.build().err()
}

#[test]
fn windows_that_would_outlive_the_message_timeout_or_bad_windows_are_refused_at_build() {
    let secs = Duration::from_secs;
    // 20 s + 10 s > 25 s: tuples would time out inside the window.
    let err = build_with(Window::sliding(secs(20), secs(10)), |b| {
        b.set_message_timeout(secs(25));
    })
    .unwrap();
    assert!(
        matches!(
            err,
            TopologyError::WindowExceedsTimeout {
                hold_ms: 30_000,
                timeout_ms: 25_000,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("`w`"), "{err}");
    // Without ackers nothing times out, so it is fine.
    let ok = build_with(Window::sliding(secs(20), secs(10)), |b| {
        b.set_message_timeout(secs(25)).set_num_ackers(0);
    });
    assert!(ok.is_none(), "{ok:?}");
    // The lag counts too in event time.
    let w = Window::tumbling(secs(10))
        .with_timestamp_field("ts")
        .with_lag(secs(25));
    assert!(matches!(
        build_with(w, |_| {}),
        Some(TopologyError::WindowExceedsTimeout { .. })
    ));
    // A count window of 50 + 50 cannot fill with 2 spout tasks x 40 pending.
    let err = build_with(Window::sliding(Length::Count(50), Length::Count(50)), |b| {
        b.set_max_spout_pending(40);
    })
    .unwrap();
    assert!(
        matches!(
            err,
            TopologyError::WindowExceedsMaxPending {
                needed: 100,
                in_flight: 80,
                ..
            }
        ),
        "{err}"
    );
    let ok = build_with(Window::sliding(Length::Count(40), Length::Count(40)), |b| {
        b.set_max_spout_pending(40);
    });
    assert!(ok.is_none(), "{ok:?}");
    // Bad windows.
    let err = build_with(Window::tumbling(Length::Count(0)), |_| {}).unwrap();
    assert!(matches!(err, TopologyError::BadWindow { .. }), "{err}");
    let err = build_with(
        Window::tumbling(secs(1)).with_late_tuple_stream("late"),
        |_| {},
    )
    .unwrap();
    assert!(err.to_string().contains("timestamp field"), "{err}");
    let err = build_with(
        Window::tumbling(secs(1)).with_timestamp_field("time"),
        |_| {},
    )
    .unwrap();
    assert!(
        matches!(&err, TopologyError::WindowTimestampField { field, .. } if field == "time"),
        "{err}"
    );
    assert!(err.to_string().contains("`time`"), "{err}");
}
