//! Every [`TopologyError`] comes from the matching mistake, and its message
//! names the component, stream or field at fault.

use std::collections::BTreeSet;
use std::time::Duration;

use gale_codec::{Fields, FieldsError, Value};
use gale_engine::window::{Length, TupleWindow, Window, WindowOutput, WindowedBolt};
use gale_engine::{
    Bolt, BoltOutput, Grouping, Input, OutputFieldsDeclarer, Spout, SpoutOutput, TaskId,
    TopologyBuilder, TopologyError, DEFAULT_STREAM,
};

/// (stream, fields, direct)
type Decl = (&'static str, &'static [&'static str], bool);

fn declare(d: &mut OutputFieldsDeclarer, streams: &[Decl]) {
    for (name, fields, direct) in streams {
        if *direct {
            d.declare_direct_stream(name, fields.iter().copied());
        } else {
            d.declare_stream(name, fields.iter().copied());
        }
    }
}

/// A spout that only declares streams.
struct Src(&'static [Decl]);
impl Spout for Src {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        declare(d, self.0);
    }
    fn next_tuple(&mut self, _out: &mut SpoutOutput<'_>) {}
}

/// A bolt that only declares streams.
struct Node(&'static [Decl]);
impl Bolt for Node {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        declare(d, self.0);
    }
    fn execute(&mut self, _input: &Input<'_>, _out: &mut BoltOutput<'_>) {}
}

/// A windowed bolt that only declares streams.
struct Win;
impl WindowedBolt for Win {
    fn declare_output_fields(&self, _d: &mut OutputFieldsDeclarer) {}
    fn execute(&mut self, _window: &TupleWindow<'_>, _out: &mut WindowOutput<'_, '_>) {}
}

const WORDS: &[Decl] = &[
    (DEFAULT_STREAM, &["word", "count"], false),
    ("errors", &["reason"], false),
    ("control", &["cmd"], true),
];
const NOTHING: &[Decl] = &[];

/// A builder with spout `words` (streams `default`, `errors`, direct
/// `control`).
fn builder() -> TopologyBuilder {
    let mut b = TopologyBuilder::new("t");
    b.set_spout("words", || Src(WORDS), 1);
    b
}

/// Builds and returns the error, checking that its message mentions each
/// of `names` in backquotes.
#[track_caller]
fn error(b: TopologyBuilder, names: &[&str]) -> TopologyError {
    let err = b.build().expect_err("the topology should be refused");
    let message = err.to_string();
    for name in names {
        assert!(
            message.contains(&format!("`{name}`")),
            "message of {err:?} does not name `{name}`: {message}"
        );
    }
    err
}

/// Name of the variant (an exhaustive match, so a new variant fails to
/// compile here until it gets a test).
fn variant(e: &TopologyError) -> &'static str {
    match e {
        TopologyError::NoSpout { .. } => "NoSpout",
        TopologyError::DuplicateComponent { .. } => "DuplicateComponent",
        TopologyError::InvalidComponentName { .. } => "InvalidComponentName",
        TopologyError::ZeroParallelism { .. } => "ZeroParallelism",
        TopologyError::TooManyTasks { .. } => "TooManyTasks",
        TopologyError::UnknownComponent { .. } => "UnknownComponent",
        TopologyError::UnknownStream { .. } => "UnknownStream",
        TopologyError::UnknownField { .. } => "UnknownField",
        TopologyError::EmptyGroupingFields { .. } => "EmptyGroupingFields",
        TopologyError::DirectGroupingOnNonDirectStream { .. } => "DirectGroupingOnNonDirectStream",
        TopologyError::NonDirectGroupingOnDirectStream { .. } => "NonDirectGroupingOnDirectStream",
        TopologyError::DuplicateSubscription { .. } => "DuplicateSubscription",
        TopologyError::BadStream { .. } => "BadStream",
        TopologyError::BadFields { .. } => "BadFields",
        TopologyError::NoInputs { .. } => "NoInputs",
        TopologyError::ZeroTickFrequency { .. } => "ZeroTickFrequency",
        TopologyError::ZeroMessageTimeout { .. } => "ZeroMessageTimeout",
        TopologyError::ZeroMaxSpoutPending { .. } => "ZeroMaxSpoutPending",
        TopologyError::DurationTooLong { .. } => "DurationTooLong",
        TopologyError::BadWindow { .. } => "BadWindow",
        TopologyError::WindowTimestampField { .. } => "WindowTimestampField",
        TopologyError::WindowExceedsTimeout { .. } => "WindowExceedsTimeout",
        TopologyError::WindowExceedsMaxPending { .. } => "WindowExceedsMaxPending",
    }
}

#[test]
fn a_correct_topology_builds() {
    let mut b = builder();
    b.set_bolt("count", || Node(WORDS), 2)
        .fields_grouping("words", ["word"])
        .shuffle_grouping_stream("words", "errors")
        .direct_grouping("words", "control")
        .tick_interval(Duration::from_millis(5));
    // Subscribing to a bolt declared later is fine.
    b.set_bolt("early", || Node(NOTHING), 1)
        .partial_key_grouping("late", ["word", "count"])
        .grouping("count", "errors", Grouping::Global);
    b.set_bolt("late", || Node(WORDS), 3)
        .all_grouping("count")
        .local_or_shuffle_grouping("words");
    let t = b.build().unwrap();
    assert_eq!(
        t.component_names().collect::<Vec<_>>(),
        ["words", "count", "early", "late"]
    );
    assert_eq!(t.parallelism("late"), Some(3));
    assert_eq!(t.is_spout("words"), Some(true));
    assert_eq!(t.is_spout("count"), Some(false));
    assert_eq!(t.parallelism("nope"), None);
}

#[test]
fn unknown_component() {
    let mut b = builder();
    b.set_bolt("count", || Node(NOTHING), 1)
        .shuffle_grouping("wrods");
    let err = error(b, &["count", "wrods"]);
    assert_eq!(
        err,
        TopologyError::UnknownComponent {
            bolt: "count".into(),
            source_component: "wrods".into(),
        }
    );
}

#[test]
fn unknown_stream() {
    let mut b = builder();
    b.set_bolt("count", || Node(NOTHING), 1)
        .shuffle_grouping_stream("words", "eror");
    let err = error(b, &["count", "words", "eror"]);
    assert_eq!(
        err,
        TopologyError::UnknownStream {
            bolt: "count".into(),
            source_component: "words".into(),
            stream: "eror".into(),
            declared: vec!["default".into(), "errors".into(), "control".into()],
        }
    );
    // The message lists what is declared, to help fix the typo.
    assert!(err.to_string().contains("errors"), "{err}");
}

#[test]
fn unknown_stream_of_a_bolt_that_declares_nothing() {
    let mut b = builder();
    b.set_bolt("sink", || Node(NOTHING), 1)
        .shuffle_grouping("words");
    b.set_bolt("after", || Node(NOTHING), 1)
        .shuffle_grouping("sink");
    let err = error(b, &["after", "sink", "default"]);
    assert!(
        matches!(err, TopologyError::UnknownStream { ref declared, .. } if declared.is_empty())
    );
}

#[test]
fn unknown_field_in_fields_grouping() {
    let mut b = builder();
    b.set_bolt("count", || Node(NOTHING), 1)
        .fields_grouping("words", ["word", "wrod"]);
    let err = error(b, &["count", "words", "default", "wrod"]);
    assert_eq!(
        err,
        TopologyError::UnknownField {
            bolt: "count".into(),
            source_component: "words".into(),
            stream: "default".into(),
            field: "wrod".into(),
            declared: Fields::new(["word", "count"]).unwrap(),
        }
    );
}

#[test]
fn unknown_field_in_fields_grouping_on_a_named_stream() {
    let mut b = builder();
    b.set_bolt("count", || Node(NOTHING), 1)
        .fields_grouping_stream("words", "errors", ["word"]);
    let err = error(b, &["count", "words", "errors", "word"]);
    assert_eq!(variant(&err), "UnknownField");
}

#[test]
fn unknown_field_in_partial_key_grouping() {
    let mut b = builder();
    b.set_bolt("count", || Node(NOTHING), 1)
        .partial_key_grouping("words", ["cnt"]);
    let err = error(b, &["count", "words", "default", "cnt"]);
    assert!(
        matches!(&err, TopologyError::UnknownField { field, .. } if field == "cnt"),
        "{err:?}"
    );
}

#[test]
fn empty_grouping_fields() {
    for partial in [false, true] {
        let mut b = builder();
        let d = b.set_bolt("count", || Node(NOTHING), 1);
        if partial {
            let _ = d.partial_key_grouping("words", Vec::<String>::new());
        } else {
            let _ = d.fields_grouping("words", Vec::<String>::new());
        }
        let err = error(b, &["count", "words", "default"]);
        assert_eq!(
            err,
            TopologyError::EmptyGroupingFields {
                bolt: "count".into(),
                source_component: "words".into(),
                stream: "default".into(),
            }
        );
    }
}

#[test]
fn direct_grouping_on_a_non_direct_stream() {
    let mut b = builder();
    b.set_bolt("count", || Node(NOTHING), 1)
        .direct_grouping("words", "errors");
    let err = error(b, &["count", "words", "errors"]);
    assert_eq!(
        err,
        TopologyError::DirectGroupingOnNonDirectStream {
            bolt: "count".into(),
            source_component: "words".into(),
            stream: "errors".into(),
        }
    );
}

#[test]
fn non_direct_grouping_on_a_direct_stream() {
    let groupings = [
        Grouping::Shuffle,
        Grouping::Fields(vec!["cmd".into()]),
        Grouping::PartialKey(vec!["cmd".into()]),
        Grouping::All,
        Grouping::Global,
        Grouping::None,
        Grouping::LocalOrShuffle,
        Grouping::custom(|| Anywhere),
    ];
    for g in groupings {
        let name = g.name();
        let mut b = builder();
        b.set_bolt("count", || Node(NOTHING), 1)
            .grouping("words", "control", g);
        let err = error(b, &["count", "words", "control"]);
        assert_eq!(
            err,
            TopologyError::NonDirectGroupingOnDirectStream {
                bolt: "count".into(),
                source_component: "words".into(),
                stream: "control".into(),
            },
            "{name}"
        );
    }
}

struct Anywhere;
impl gale_engine::CustomGrouping for Anywhere {
    fn choose_tasks(&mut self, _values: &[Value], _out: &mut Vec<TaskId>) {}
}

#[test]
fn duplicate_component() {
    for second_is_spout in [false, true] {
        let mut b = builder();
        b.set_bolt("count", || Node(NOTHING), 1)
            .shuffle_grouping("words");
        if second_is_spout {
            b.set_spout("count", || Src(WORDS), 1);
        } else {
            b.set_bolt("count", || Node(NOTHING), 1)
                .shuffle_grouping("words");
        }
        let err = error(b, &["count"]);
        assert_eq!(
            err,
            TopologyError::DuplicateComponent {
                component: "count".into()
            }
        );
    }
}

#[test]
fn reserved_or_empty_component_names() {
    for name in ["", "__system", "__acker", "__x"] {
        let mut b = builder();
        b.set_bolt(name, || Node(NOTHING), 1)
            .shuffle_grouping("words");
        let err = error(b, &[name]);
        assert!(
            matches!(&err, TopologyError::InvalidComponentName { component, .. } if component == name),
            "{name:?}: {err:?}"
        );
    }
    // A spout too.
    let mut b = TopologyBuilder::new("t");
    b.set_spout("__spout", || Src(WORDS), 1);
    let err = error(b, &["__spout"]);
    assert_eq!(variant(&err), "InvalidComponentName");
}

#[test]
fn zero_parallelism() {
    let mut b = builder();
    b.set_bolt("count", || Node(NOTHING), 0)
        .shuffle_grouping("words");
    let err = error(b, &["count"]);
    assert_eq!(
        err,
        TopologyError::ZeroParallelism {
            component: "count".into()
        }
    );
    let mut b = TopologyBuilder::new("t");
    b.set_spout("words", || Src(WORDS), 0);
    assert_eq!(variant(&error(b, &["words"])), "ZeroParallelism");
}

#[test]
fn more_tasks_than_task_ids() {
    // One acker task (the default) and the spout's: this many bolt tasks
    // make one too many.
    let mut b = builder();
    b.set_bolt("count", || Node(NOTHING), gale_engine::MAX_TASKS - 1)
        .shuffle_grouping("words");
    let err = error(b, &["t"]);
    assert_eq!(
        err,
        TopologyError::TooManyTasks {
            topology: "t".into(),
            tasks: gale_engine::MAX_TASKS + 1,
            max: gale_engine::MAX_TASKS,
        }
    );
    let mut b = builder();
    b.set_bolt("count", || Node(NOTHING), gale_engine::MAX_TASKS - 2)
        .shuffle_grouping("words");
    b.build().expect("exactly MAX_TASKS tasks");
    // A parallelism that would overflow the count.
    let mut b = builder();
    b.set_bolt("count", || Node(NOTHING), usize::MAX)
        .shuffle_grouping("words");
    assert_eq!(variant(&error(b, &["t"])), "TooManyTasks");
}

#[test]
fn no_spout() {
    let mut b = TopologyBuilder::new("lonely");
    b.set_bolt("a", || Node(WORDS), 1).shuffle_grouping("b");
    b.set_bolt("b", || Node(WORDS), 1).shuffle_grouping("a");
    let err = error(b, &["lonely"]);
    assert_eq!(
        err,
        TopologyError::NoSpout {
            topology: "lonely".into()
        }
    );
    assert_eq!(
        TopologyBuilder::new("empty").build().unwrap_err(),
        TopologyError::NoSpout {
            topology: "empty".into()
        }
    );
}

#[test]
fn bolt_with_no_inputs() {
    let mut b = builder();
    b.set_bolt("count", || Node(NOTHING), 1)
        .shuffle_grouping("words");
    let _ = b.set_bolt("orphan", || Node(NOTHING), 1);
    let err = error(b, &["orphan"]);
    assert_eq!(
        err,
        TopologyError::NoInputs {
            bolt: "orphan".into()
        }
    );
}

#[test]
fn duplicate_subscription() {
    let mut b = builder();
    b.set_bolt("count", || Node(NOTHING), 1)
        .shuffle_grouping("words")
        .shuffle_grouping_stream("words", "errors")
        .fields_grouping("words", ["word"]);
    let err = error(b, &["count", "words", "default"]);
    assert_eq!(
        err,
        TopologyError::DuplicateSubscription {
            bolt: "count".into(),
            source_component: "words".into(),
            stream: "default".into(),
        }
    );
}

#[test]
fn duplicate_stream() {
    const TWICE: &[Decl] = &[("out", &["a"], false), ("out", &["b"], true)];
    let mut b = builder();
    b.set_bolt("count", || Node(TWICE), 1)
        .shuffle_grouping("words");
    let err = error(b, &["count", "out"]);
    assert!(
        matches!(&err, TopologyError::BadStream { component, stream, reason }
            if component == "count" && stream == "out" && reason.contains("twice")),
        "{err:?}"
    );
    // `declare` twice is the same mistake on the default stream.
    const DEFAULT_TWICE: &[Decl] = &[
        (DEFAULT_STREAM, &["a"], false),
        (DEFAULT_STREAM, &["a"], false),
    ];
    let mut b = TopologyBuilder::new("t");
    b.set_spout("words", || Src(DEFAULT_TWICE), 1);
    let err = error(b, &["words", "default"]);
    assert_eq!(variant(&err), "BadStream");
}

#[test]
fn reserved_or_empty_stream_names() {
    const TICK: &[Decl] = &[("__tick", &["a"], false)];
    const SYSTEM: &[Decl] = &[("__metrics", &["a"], false)];
    const EMPTY: &[Decl] = &[("", &["a"], false)];
    for (decl, name) in [(TICK, "__tick"), (SYSTEM, "__metrics"), (EMPTY, "")] {
        let mut b = TopologyBuilder::new("t");
        b.set_spout("words", move || Src(decl), 1);
        let err = error(b, &["words", name]);
        assert!(
            matches!(&err, TopologyError::BadStream { component, stream, .. }
                if component == "words" && stream == name),
            "{name:?}: {err:?}"
        );
    }
}

#[test]
fn bad_fields() {
    const DUP: &[Decl] = &[("pairs", &["k", "v", "k"], false)];
    let mut b = builder();
    b.set_bolt("count", || Node(DUP), 1)
        .shuffle_grouping("words");
    let err = error(b, &["count", "pairs", "k"]);
    assert_eq!(
        err,
        TopologyError::BadFields {
            component: "count".into(),
            stream: "pairs".into(),
            source: FieldsError::Duplicate {
                name: "k".into(),
                first: 0,
                second: 2,
            },
        }
    );
    const EMPTY: &[Decl] = &[(DEFAULT_STREAM, &["a", ""], true)];
    let mut b = TopologyBuilder::new("t");
    b.set_spout("words", || Src(EMPTY), 1);
    let err = error(b, &["words", "default"]);
    assert_eq!(
        err,
        TopologyError::BadFields {
            component: "words".into(),
            stream: "default".into(),
            source: FieldsError::Empty { position: 1 },
        }
    );
}

#[test]
fn zero_tick_interval() {
    let mut b = builder();
    b.set_bolt("count", || Node(NOTHING), 1)
        .shuffle_grouping("words")
        .tick_interval(Duration::ZERO);
    let err = error(b, &["count"]);
    assert_eq!(
        err,
        TopologyError::ZeroTickFrequency {
            component: "count".into()
        }
    );
}

#[test]
fn durations_longer_than_a_year_are_refused() {
    let mut b = builder();
    b.set_bolt("count", || Node(NOTHING), 1)
        .shuffle_grouping("words")
        .tick_interval(Duration::from_secs(10_000_000_000_000_000_000));
    let err = b.build().unwrap_err();
    assert!(
        matches!(&err, TopologyError::DurationTooLong { what, .. } if what.contains("`count`")),
        "{err}"
    );
    let mut b = builder();
    b.set_bolt("count", || Node(NOTHING), 1)
        .shuffle_grouping("words");
    b.set_message_timeout(gale_engine::MAX_DURATION + Duration::from_secs(1));
    let err = b.build().unwrap_err();
    assert!(err.to_string().contains("message timeout"), "{err}");
    assert_eq!(variant(&err), "DurationTooLong");
}

#[test]
fn zero_message_timeout() {
    let mut b = builder();
    b.set_bolt("count", || Node(NOTHING), 1)
        .shuffle_grouping("words");
    b.set_message_timeout(Duration::ZERO);
    let name = b.build().err().map(|e| e.to_string());
    let mut b = builder();
    b.set_bolt("count", || Node(NOTHING), 1)
        .shuffle_grouping("words");
    b.set_message_timeout(Duration::ZERO);
    let err = b.build().unwrap_err();
    assert!(matches!(&err, TopologyError::ZeroMessageTimeout { topology } if !topology.is_empty()));
    assert!(name.unwrap().contains("message timeout"), "{err}");
}

#[test]
fn zero_max_spout_pending() {
    let mut b = TopologyBuilder::new("t");
    b.set_spout("words", || Src(WORDS), 1).max_spout_pending(0);
    b.set_bolt("count", || Node(NOTHING), 1)
        .shuffle_grouping("words");
    let err = error(b, &["words"]);
    assert_eq!(
        err,
        TopologyError::ZeroMaxSpoutPending {
            component: "words".into()
        }
    );
}

/// Each mistake above, once more, to check that together they produce
/// every variant.
#[test]
fn every_variant_is_reachable() {
    type Mistake = fn(&mut TopologyBuilder);
    const DUP: &[Decl] = &[("s", &["a", "a"], false)];
    const TWICE: &[Decl] = &[("s", &["a"], false), ("s", &["a"], false)];
    let mistakes: [Mistake; 20] = [
        |b| {
            let w = Window::tumbling(Length::Count(0));
            let _ = b
                .set_windowed_bolt("x", || Win, w, 1)
                .shuffle_grouping("words");
        },
        |b| {
            let w = Window::tumbling(Duration::from_secs(1)).with_timestamp_field("ts");
            let _ = b
                .set_windowed_bolt("x", || Win, w, 1)
                .shuffle_grouping("words");
        },
        |b| {
            let w = Window::tumbling(Duration::from_secs(60));
            let _ = b
                .set_windowed_bolt("x", || Win, w, 1)
                .shuffle_grouping("words");
        },
        |b| {
            let w = Window::tumbling(Length::Count(10));
            let _ = b
                .set_windowed_bolt("x", || Win, w, 1)
                .shuffle_grouping("words");
            b.set_max_spout_pending(5);
        },
        |b| {
            let _ = b
                .set_bolt("x", || Node(NOTHING), 1)
                .shuffle_grouping("nope");
        },
        |b| {
            let _ = b
                .set_bolt("x", || Node(NOTHING), 1)
                .shuffle_grouping_stream("words", "nope");
        },
        |b| {
            let _ = b
                .set_bolt("x", || Node(NOTHING), 1)
                .fields_grouping("words", ["nope"]);
        },
        |b| {
            let _ = b
                .set_bolt("x", || Node(NOTHING), 1)
                .fields_grouping("words", Vec::<String>::new());
        },
        |b| {
            let _ = b
                .set_bolt("x", || Node(NOTHING), 1)
                .direct_grouping("words", "errors");
        },
        |b| {
            let _ = b
                .set_bolt("x", || Node(NOTHING), 1)
                .shuffle_grouping_stream("words", "control");
        },
        |b| {
            let _ = b
                .set_bolt("x", || Node(NOTHING), 1)
                .shuffle_grouping("words")
                .all_grouping("words");
        },
        |b| {
            let _ = b.set_spout("words", || Src(WORDS), 1);
        },
        |b| {
            let _ = b.set_spout("__x", || Src(WORDS), 1);
        },
        |b| {
            let _ = b.set_spout("x", || Src(WORDS), 0);
        },
        |b| {
            let _ = b.set_bolt("x", || Node(NOTHING), 1);
        },
        |b| {
            let _ = b.set_bolt("x", || Node(TWICE), 1).shuffle_grouping("words");
        },
        |b| {
            let _ = b.set_bolt("x", || Node(DUP), 1).shuffle_grouping("words");
        },
        |b| {
            let _ = b
                .set_bolt("x", || Node(NOTHING), 1)
                .shuffle_grouping("words")
                .tick_interval(Duration::ZERO);
        },
        |b| {
            let _ = b
                .set_bolt("x", || Node(NOTHING), 1)
                .shuffle_grouping("words");
            b.set_message_timeout(Duration::ZERO);
        },
        |b| {
            let _ = b
                .set_bolt("x", || Node(NOTHING), 1)
                .shuffle_grouping("words");
            b.set_max_spout_pending(0);
        },
    ];
    let mut seen = BTreeSet::new();
    for mistake in mistakes {
        let mut b = builder();
        mistake(&mut b);
        seen.insert(variant(&b.build().unwrap_err()));
    }
    seen.insert(variant(&TopologyBuilder::new("t").build().unwrap_err()));
    assert_eq!(seen.len(), 21, "{seen:?}");
}
