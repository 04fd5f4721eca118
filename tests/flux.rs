//! Storm's Flux files: `className` through the registry (Storm's classes
//! and a user's), `constructorArgs`, `configMethods`, `components` and
//! `ref`, includes, property substitution, Storm `config` keys, and
//! strictness: each mistake named with its line.

mod util;

use std::path::Path;
use std::time::Duration;

use gale::prelude::*;
use gale::topofile::registry::{Arg, Registry};
use gale::topofile::{self, LoadError, Options};
use util::*;

fn flux_dir() -> std::path::PathBuf {
    root().join("examples/flux")
}

fn load(text: &str) -> Result<topofile::Loaded, LoadError> {
    load_opts(text, &Options::default())
}

fn load_opts(text: &str, options: &Options) -> Result<topofile::Loaded, LoadError> {
    topofile::load_str_with(text, Path::new("t.yaml"), &flux_dir(), options)
}

/// `(line, at, message)` of every error.
fn errors(text: &str) -> Vec<(Option<usize>, String, String)> {
    match load(text) {
        Ok(_) => panic!("loaded:\n{text}"),
        Err(e) => e
            .errors()
            .iter()
            .map(|e| (e.line, e.at.clone(), e.message.clone()))
            .collect(),
    }
}

/// Asserts one error is on `line` with `at` and `message` in it.
fn has_error(all: &[(Option<usize>, String, String)], line: usize, at: &str, message: &str) {
    assert!(
        all.iter()
            .any(|(l, a, m)| *l == Some(line) && a.contains(at) && m.contains(message)),
        "no error on line {line} at `{at}` saying `{message}` in {all:#?}"
    );
}

#[test]
fn storms_flux_examples_load() {
    let wc = topofile::load_full(flux_dir().join("wordcount.yaml")).unwrap();
    assert_eq!(wc.topology.name(), "yaml-topology");
    let names: Vec<&str> = wc.topology.component_names().collect();
    assert_eq!(names, ["spout-1", "bolt-1", "bolt-2"]);
    assert_eq!(wc.topology.is_spout("spout-1"), Some(true));
    // `topology.workers` is named in a warning, not refused.
    assert!(
        wc.warnings
            .iter()
            .any(|w| w.at == "config.topology.workers" && w.line == Some(11)),
        "{:?}",
        wc.warnings
    );
    let shell = topofile::load_full(flux_dir().join("shell.yaml")).unwrap();
    let names: Vec<&str> = shell.topology.component_names().collect();
    assert_eq!(names, ["sentence-spout", "splitsentence", "log", "count"]);
    assert!(!shell.finite);
}

#[test]
fn the_filtered_example_takes_properties_includes_refs_and_a_named_stream() {
    let options = Options {
        filter: Some(flux_dir().join("dev.properties")),
        ..Options::default()
    };
    let loaded = topofile::load_with(flux_dir().join("filtered.yaml"), &options)
        .unwrap_or_else(|e| panic!("{e}"));
    let t = &loaded.topology;
    assert_eq!(t.name(), "filtered-wordcount");
    assert_eq!(t.parallelism("split"), Some(2));
    assert_eq!(t.config().max_spout_pending, Some(100));
    let mut names: Vec<&str> = t.component_names().collect();
    names.sort_unstable();
    assert_eq!(names, ["count", "log", "sentences", "split"]);
    assert!(loaded.finite);
    // Without the properties file, each `${key}` is an error on its line.
    let err = topofile::load_full(flux_dir().join("filtered.yaml")).unwrap_err();
    let lines: Vec<Option<usize>> = err.errors().iter().map(|e| e.line).collect();
    assert!(
        lines.contains(&Some(12)) && lines.contains(&Some(36)),
        "{err}"
    );
    assert!(
        err.to_string().contains("no property `topology.name`"),
        "{err}"
    );
}

#[test]
fn a_typod_class_name_is_an_error_on_its_line() {
    let text = "\
name: typo
spouts:
  - id: words
    className: \"org.apache.storm.testing.TestWordSpoot\"
bolts:
  - id: count
    parallelism: 2
    className: \"org.apache.storm.testing.TestWordCounter\"
streams:
  - from: words
    to: count
    grouping: {type: FIELDS, args: [word]}
";
    let all = errors(text);
    has_error(
        &all,
        4,
        "spouts[0] `words`.className",
        "no spout class `org.apache.storm.testing.TestWordSpoot`",
    );
    // The unknown class leaves the stream unchecked, not wrongly reported.
    assert_eq!(all.len(), 1, "{all:#?}");
}

#[test]
fn a_missing_ref_is_an_error_on_its_line() {
    let text = "\
components:
  - id: fields
    className: org.apache.storm.tuple.Fields
    constructorArgs: [word]
spouts:
  - id: s
    className: org.apache.storm.flux.wrappers.spouts.FluxShellSpout
    constructorArgs:
      - [python3, randomsentence.py]
      - ref: \"feilds\"
bolts:
  - id: log
    className: org.apache.storm.flux.wrappers.bolts.LogInfoBolt
streams:
  - {from: s, to: log, grouping: {type: SHUFFLE}}
";
    let all = errors(text);
    has_error(
        &all,
        10,
        "spouts[0] `s`.constructorArgs",
        "no component `feilds`",
    );
}

#[test]
fn misspelt_keys_anywhere_are_errors_on_their_lines() {
    let text = "\
spouts:
  - id: words
    builtin: words
bolts:
  - id: count
    builtin: count
  - id: log
    className: org.apache.storm.flux.wrappers.bolts.LogInfoBolt
    paralelism: 2
streams:
  - from: words
    to: count
    grouping:
      type: FIELDS
      feilds: [word]
  - from: count
    to: log
    streem: default
    grouping: shuffle
  - {from: words, to: log, grouping: {type: shuffle, streemId: x}}
";
    let all = errors(text);
    has_error(&all, 9, "bolts[1]", "unknown field `paralelism`");
    has_error(&all, 15, "streams[0].grouping", "unknown field `feilds`");
    has_error(&all, 18, "streams[1]", "unknown field `streem`");
    has_error(&all, 20, "streams[2].grouping", "unknown field `streemId`");
}

#[test]
fn a_misspelt_key_in_a_streams_mapping_is_an_error() {
    let text = "\
spouts:
  - id: s
    shell: {command: python3, args: [randomsentence.py]}
    streams:
      default: {feilds: [word]}
bolts:
  - {id: log, builtin: log}
streams:
  - {from: s, to: log, grouping: shuffle}
";
    let all = errors(text);
    assert!(
        all.iter()
            .any(|(_, _, m)| m.contains("unknown field `feilds`")),
        "{all:#?}"
    );
}

#[test]
fn storm_config_keys_set_what_they_name_and_the_unused_ones_are_warnings() {
    let text = "\
config:
  topology.acker.executors: 2
  topology.max.spout.pending: 7
  topology.message.timeout.secs: 12
  topology.debug: true
  topology.fall.back.on.java.serialization: false
  topology.disable.loadaware.messaging: true
spouts:
  - {id: w, className: org.apache.storm.testing.TestWordSpout}
bolts:
  - {id: c, className: org.apache.storm.testing.TestWordCounter}
streams:
  - {from: w, to: c, grouping: {type: FIELDS, args: [word]}}
";
    let loaded = load(text).unwrap();
    let config = loaded.topology.config();
    assert_eq!(config.ackers, 2);
    assert_eq!(config.max_spout_pending, Some(7));
    assert_eq!(config.message_timeout, Duration::from_secs(12));
    assert!(!config.load_aware);
    let warned: Vec<(Option<usize>, &str)> = loaded
        .warnings
        .iter()
        .map(|w| (w.line, w.at.as_str()))
        .collect();
    assert_eq!(
        warned,
        [(Some(6), "config.topology.fall.back.on.java.serialization")]
    );
    let all = errors(&text.replace("  topology.debug: true", "  ackerz: 1"));
    has_error(&all, 5, "config.ackerz", "unknown key");
    // Gale's own key, and a value of the wrong kind.
    let gale = text.replace(
        "topology.disable.loadaware.messaging: true",
        "load_aware: false",
    );
    assert!(!load(&gale).unwrap().topology.config().load_aware);
    let on = text.replace(
        "topology.disable.loadaware.messaging: true",
        "load_aware: true",
    );
    assert!(load(&on).unwrap().topology.config().load_aware);
    let all = errors(&text.replace("messaging: true", "messaging: 3"));
    has_error(
        &all,
        7,
        "config.topology.disable.loadaware.messaging",
        "must be true or false",
    );
}

#[test]
fn flux_features_gale_lacks_say_so() {
    let text = "\
name: existing
topologySource:
  className: org.apache.storm.flux.test.SimpleTopology
spouts:
  - id: w
    className: org.apache.storm.testing.TestWordSpout
    factory: newInstance
bolts:
  - {id: c, className: org.apache.storm.testing.TestWordCounter, numTasks: 4}
streams:
  - {from: w, to: c, grouping: {type: FIELDS, args: [word]}}
";
    let all = errors(text);
    has_error(&all, 2, "topologySource", "not supported");
    has_error(&all, 5, "spouts[0] `w`.factory", "not supported");
    has_error(&all, 9, "bolts[0] `c`.numTasks", "one task per executor");
}

#[test]
fn env_substitution_takes_the_environment_and_an_unset_variable_is_an_error() {
    // The variable is this test's own.
    std::env::set_var("GALE_FLUX_TEST_WORDS", "40");
    let text = "\
spouts:
  - id: w
    builtin: words
    args: {count: ${ENV-GALE_FLUX_TEST_WORDS}, interval_ms: 0}
bolts:
  - {id: c, className: org.apache.storm.testing.TestWordCounter}
streams:
  - {from: w, to: c, grouping: {type: FIELDS, args: [word]}}
";
    let loaded = load(text).unwrap();
    assert!(loaded.finite);
    run_finite(loaded.topology);
    let counts = loaded.counts.unwrap().snapshot();
    assert_eq!(counts.values().sum::<u64>(), 40, "{counts:?}");
    let all = errors(&text.replace("GALE_FLUX_TEST_WORDS", "GALE_FLUX_TEST_UNSET"));
    has_error(
        &all,
        4,
        "",
        "environment variable `GALE_FLUX_TEST_UNSET` is not set",
    );
}

#[test]
fn includes_merge_as_flux_does() {
    let tmp = scratch("flux-includes");
    let dir = tmp.path();
    std::fs::write(
        dir.join("part.yaml"),
        "\
name: from-the-part
config: {topology.max.spout.pending: 3, topology.message.timeout.secs: 9}
spouts:
  - {id: w, builtin: words, parallelism: 3, args: {count: 10, interval_ms: 0}}
bolts:
  - {id: c, className: org.apache.storm.testing.TestWordCounter}
streams:
  - {from: w, to: c, grouping: {type: FIELDS, args: [word]}}
",
    )
    .unwrap();
    let main = |over: bool| {
        format!(
            "\
name: mine
includes:
  - {{file: part.yaml, override: {over}}}
config: {{topology.max.spout.pending: 5}}
spouts:
  - {{id: w, builtin: words, args: {{count: 10, interval_ms: 0}}}}
"
        )
    };
    let kept = topofile::load_str(&main(false), Path::new("t.yaml"), dir).unwrap();
    assert_eq!(kept.topology.name(), "mine");
    assert_eq!(kept.topology.parallelism("w"), Some(1));
    assert_eq!(kept.topology.config().max_spout_pending, Some(5));
    assert_eq!(
        kept.topology.config().message_timeout,
        Duration::from_secs(9)
    );
    assert!(kept
        .warnings
        .iter()
        .any(|w| w.message.contains("`w` ignored")));
    let replaced = topofile::load_str(&main(true), Path::new("t.yaml"), dir).unwrap();
    assert_eq!(replaced.topology.name(), "from-the-part");
    assert_eq!(replaced.topology.parallelism("w"), Some(3));
    assert_eq!(replaced.topology.config().max_spout_pending, Some(3));
}

/// A user's bolt: appends its `constructorArgs[0]` and, per
/// `configMethods: withRepeat [n]`, repeats it.
struct Suffix(String);

impl Bolt for Suffix {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare(["word"]);
    }
    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        let word = input.get(0).and_then(|v| v.as_str()).unwrap_or("");
        out.emit(&[Value::from(format!("{word}{}", self.0))]);
        out.ack(input);
    }
}

fn user_registry() -> Registry {
    let mut registry = Registry::new();
    registry.add_bolt("com.example.Suffix", |args| {
        let suffix = match args.constructor_args.as_slice() {
            [Arg::Value(Value::Str(s))] => s.clone(),
            other => return Err(format!("takes one string, not {other:?}")),
        };
        let mut times = 1;
        for (name, margs) in &args.config_methods {
            match (name.as_str(), margs.as_slice()) {
                ("withRepeat", [Arg::Value(Value::I64(n))]) => times = *n as usize,
                _ => return Err(format!("no config method `{name}` taking {margs:?}")),
            }
        }
        let suffix = suffix.repeat(times);
        Ok(move || Suffix(suffix.clone()))
    });
    registry
}

#[test]
fn a_class_registered_by_a_binary_runs_with_its_arguments() {
    let text = "\
spouts:
  - id: w
    className: org.apache.storm.testing.TestWordSpout
bolts:
  - id: shout
    className: com.example.Suffix
    constructorArgs: [\"!\"]
    configMethods:
      - {name: withRepeat, args: [3]}
  - id: c
    className: org.apache.storm.testing.TestWordCounter
streams:
  - {from: w, to: shout, grouping: {type: LOCAL_OR_SHUFFLE}}
  - {from: shout, to: c, grouping: {type: FIELDS, args: [word]}}
";
    let finite = text.replace(
        "className: org.apache.storm.testing.TestWordSpout",
        "builtin: words\n    args: {count: 25, interval_ms: 0}",
    );
    let options = Options {
        registry: user_registry(),
        ..Options::default()
    };
    let loaded = load_opts(&finite, &options).unwrap_or_else(|e| panic!("{e}"));
    run_finite(loaded.topology);
    let counts = loaded.counts.unwrap().snapshot();
    assert_eq!(counts.values().sum::<u64>(), 25);
    assert!(counts.keys().all(|w| w.ends_with("!!!")), "{counts:?}");
    // Without the registration the class is unknown (on its line); with a
    // bad argument the factory's message is the error.
    let unknown = load(text).unwrap_err();
    assert!(
        unknown
            .errors()
            .iter()
            .any(|e| e.line == Some(6) && e.message.contains("no bolt class `com.example.Suffix`")),
        "{unknown}"
    );
    let bad = load_opts(&text.replace("[\"!\"]", "[1, 2]"), &options).unwrap_err();
    assert!(
        bad.errors()
            .iter()
            .any(|e| e.line == Some(6) && e.message.contains("takes one string")),
        "{bad}"
    );
}
