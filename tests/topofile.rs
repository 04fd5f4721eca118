//! The topology-file loader: the examples load, and a file with many
//! mistakes gets every one reported with its location.

mod util;

use std::path::Path;

use gale::topofile::{self, LoadError};
use util::*;

fn load(text: &str) -> Result<topofile::Loaded, LoadError> {
    topofile::load_str(text, Path::new("t.yaml"), &root().join("examples/python"))
}

fn messages(err: &LoadError) -> Vec<String> {
    err.errors()
        .iter()
        .map(|e| format!("{:?} {}: {}", e.line, e.at, e.message))
        .collect()
}

#[test]
fn the_examples_load() {
    for file in [
        "wordcount.yaml",
        "wordcount-streamparse.yaml",
        "wordcount-batched.yaml",
    ] {
        let loaded = topofile::load_full(root().join("examples/python").join(file))
            .unwrap_or_else(|e| panic!("{e}"));
        let names: Vec<&str> = loaded.topology.component_names().collect();
        assert_eq!(names, ["sentences", "split", "count"], "{file}");
        assert!(loaded.counts.is_some());
        assert_eq!(loaded.finite, file != "wordcount.yaml");
    }
}

#[test]
fn every_mistake_is_reported_with_its_location() {
    let text = "\
name: bad
colour: blue
config:
  max_spout_pending: 0
spouts:
  - id: src
    builtin: sentences
    args: {count: 10, speed: 3}
bolts:
  - id: split
    parallelism: 0
    shell:
      command: python3
      args: [split_bolt.py]
      serializer: yaml
    streams:
      default: [word]
  - id: count
    builtin: counter
  - id: lonely
    builtin: split
streams:
  - {from: src, to: split, grouping: shuffle}
  - {from: nowhere, to: split, grouping: shuffle}
  - {from: split, to: count, grouping: {type: fields, fields: [wrod]}}
  - {from: split, to: lonely, grouping: direct}
  - {from: split, to: src, grouping: shuffle}
  - {from: split, to: lonely, stream: other, grouping: shuffle}
";
    let err = load(text).unwrap_err();
    let all = messages(&err);
    let expect = [
        ("Some(2) colour", "unknown key"),
        ("Some(3) config.max_spout_pending", "at least 1"),
        ("Some(6) spouts[0] `src`.args", "no argument `speed`"),
        ("Some(10) bolts[0] `split`.parallelism", "at least 1"),
        (
            "Some(10) bolts[0] `split`.shell.serializer",
            "`yaml` is not a serializer",
        ),
        (
            "Some(18) bolts[1] `count`.builtin",
            "no built-in bolt `counter`",
        ),
        ("Some(24) streams[1].from", "no component `nowhere`"),
        ("Some(26) streams[3].grouping", "is not direct"),
        ("Some(27) streams[4].to", "`src` is a spout"),
        ("Some(28) streams[5].stream", "declares no stream `other`"),
    ];
    for (place, text) in expect {
        assert!(
            all.iter().any(|m| m.starts_with(place) && m.contains(text)),
            "no `{place}`: `{text}` in {all:#?}"
        );
    }
    // The whole listing names the file and line of each.
    let shown = err.to_string();
    assert!(shown.contains("t.yaml:24: streams[1].from"), "{shown}");
}

#[test]
fn a_missing_field_and_a_bolt_without_inputs_are_found() {
    let text = "\
spouts:
  - {id: src, builtin: sentences}
bolts:
  - {id: split, builtin: split}
  - {id: count, builtin: count}
streams:
  - {from: src, to: split, grouping: shuffle}
  - {from: split, to: count, grouping: {type: fields, fields: [wrod]}}
";
    let err = load(text).unwrap_err();
    let all = messages(&err);
    assert!(
        all.iter()
            .any(|m| m.contains("streams[1].grouping.fields") && m.contains("no field `wrod`")),
        "{all:#?}"
    );
    let text = text.replace(
        "  - {from: split, to: count, grouping: {type: fields, fields: [wrod]}}\n",
        "",
    );
    let err = load(&text).unwrap_err();
    assert!(
        messages(&err)
            .iter()
            .any(|m| m.starts_with("Some(5) bolts[1] `count`") && m.contains("no inputs")),
        "{err}"
    );
}

#[test]
fn yaml_syntax_and_type_errors_give_their_line() {
    let err = load("spouts:\n  - id: a\n    builtin: [unclosed\n").unwrap_err();
    assert!(err.errors()[0].line.is_some(), "{err}");
    let err =
        load("spouts:\n  - id: a\n    builtin: sentences\n    parallelism: many\n").unwrap_err();
    let all = messages(&err);
    assert!(
        all.iter()
            .any(|m| m.contains("spouts[0]") && m.contains("parallelism")),
        "{all:#?}"
    );
    let err = load("spouts: 3\n").unwrap_err();
    assert!(
        messages(&err)
            .iter()
            .any(|m| m.starts_with("Some(1) spouts: must be a list")),
        "{err}"
    );
}

#[test]
fn an_unset_variable_without_a_default_is_an_error() {
    let text = "\
spouts:
  - id: s
    shell: {command: \"${GALE_TEST_SURELY_UNSET_VARIABLE}\"}
    streams: {default: [x]}
";
    let err = load(text).unwrap_err();
    assert!(
        err.to_string()
            .contains("`GALE_TEST_SURELY_UNSET_VARIABLE` is not set"),
        "{err}"
    );
    let ok = text.replace("VARIABLE}", "VARIABLE:-python3}");
    assert!(load(&ok).is_ok());
}

#[test]
fn the_python_shorthand_runs_a_class_over_the_batched_protocol_exactly() {
    let loaded = topofile::load_full(root().join("examples/python/wordcount-batched.yaml"))
        .unwrap_or_else(|e| panic!("{e}"));
    let counts = loaded.counts.clone().expect("a count bolt");
    let stats = run_finite(loaded.topology);
    assert!(stats.errors.is_empty(), "{:#?}", stats.errors);
    assert_eq!(
        counts.snapshot(),
        gale::builtin::wordcount::expected_counts(20_000)
    );
}

#[test]
fn protocol_and_python_mistakes_are_reported() {
    let text = "\
name: bad
spouts:
  - id: src
    builtin: sentences
bolts:
  - id: a
    shell: {command: python3, protocol: carrier-pigeon}
    streams: {default: [word]}
  - id: b
    python: {class: split_bolt:SplitBolt, colour: red}
  - id: c
    python: {class: split_bolt:SplitBolt}
    shell: {command: python3}
streams:
  - {from: src, to: a, grouping: shuffle}
  - {from: src, to: b, grouping: shuffle}
  - {from: src, to: c, grouping: shuffle}
";
    let err = load(text).expect_err("invalid");
    let all = messages(&err).join("\n");
    assert!(
        all.contains("bolts[0] `a`.shell.protocol")
            && all.contains("`carrier-pigeon` is not a protocol"),
        "{all}"
    );
    assert!(all.contains("colour"), "{all}");
    assert!(all.contains("give one of `shell` and `python`"), "{all}");
}

#[test]
fn a_python_class_that_cannot_be_imported_stops_the_run_with_its_traceback() {
    let text = format!(
        "\
name: typo
spouts:
  - id: sentences
    builtin: sentences
    args: {{count: 100}}
bolts:
  - id: split
    python: {{class: split_bolt:NoSuchBolt, start_attempts: 2, interpreter: '{}'}}
    streams: {{default: [word]}}
  - id: count
    builtin: count
streams:
  - {{from: sentences, to: split, grouping: shuffle}}
  - {{from: split, to: count, grouping: {{type: fields, fields: [word]}}}}
",
        python()
    );
    let loaded = load(&text).unwrap_or_else(|e| panic!("{e}"));
    let err = gale::engine::LocalCluster::new(config(std::time::Duration::from_secs(120)))
        .submit(loaded.topology)
        .expect("started")
        .wait()
        .expect_err("the split bolt cannot start");
    let text = err.to_string();
    assert!(
        text.starts_with("task 2 of component `split` stopped the topology: cannot start `")
            && text.contains("gale.run split_bolt:NoSuchBolt` (2 attempts in a row")
            && text
                .split_once("stderr tail")
                .is_some_and(|(_, tail)| tail.contains("NoSuchBolt")),
        "{text}"
    );
}
