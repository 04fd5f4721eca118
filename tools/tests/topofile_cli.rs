//! `gale validate FILE.yaml` and `gale run FILE.yaml` with the real binary.

mod util;

use util::{gale, gale_with_env, python, repo, scratch};

/// The `word<TAB>count` lines of a run's stdout.
fn counts(stdout: &str) -> std::collections::BTreeMap<String, u64> {
    stdout
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(w, n)| (w.to_owned(), n.parse().unwrap()))
        .collect()
}

#[test]
fn validate_describes_a_good_file() {
    let file = repo().join("examples/python/wordcount.yaml");
    let run = gale(&["validate", file.to_str().unwrap()]);
    assert!(run.ok(), "{}", run.stderr);
    assert!(
        run.stdout.contains("topology `wordcount-python` is valid"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("bolt split x2"), "{}", run.stdout);
}

#[test]
fn validate_lists_every_error_with_its_line() {
    let tmp = scratch("validate-bad");
    let dir = tmp.path();
    let file = dir.join("bad.yaml");
    std::fs::write(
        &file,
        "spouts:\n  - {id: s, builtin: sentences, parallelism: 0}\nbolts:\n  - {id: b, builtin: nope}\n",
    )
    .unwrap();
    let run = gale(&["validate", file.to_str().unwrap()]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let path = file.display().to_string();
    assert!(run.stderr.contains("has 3 errors"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("{path}:2: spouts[0] `s`.parallelism")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains(&format!("{path}:4: bolts[0] `b`.builtin")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("has no inputs"), "{}", run.stderr);
}

#[test]
fn run_a_streamparse_topology_file_prints_exact_counts() {
    let example = repo().join("examples/python/wordcount-streamparse.yaml");
    let text = std::fs::read_to_string(&example)
        .unwrap()
        .replace("${GALE_PYTHON:-python3}", &python())
        .replace(
            "      serializer: msgpack",
            &format!(
                "      serializer: msgpack\n      cwd: {}",
                repo().join("examples/python").display()
            ),
        );
    let tmp = scratch("run-streamparse");
    let file = tmp.path().join("wc.yaml");
    std::fs::write(&file, text).unwrap();
    let run = gale(&["run", file.to_str().unwrap(), "--threads", "2", "--no-pin"]);
    assert!(run.ok(), "{}", run.stderr);
    let counts = counts(&run.stdout);
    assert_eq!(counts, gale::builtin::wordcount::expected_counts(200));
}

#[test]
fn builtin_flags_are_refused_with_a_file() {
    let file = repo().join("examples/python/wordcount.yaml");
    let run = gale(&["run", file.to_str().unwrap(), "--count", "5"]);
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr
            .contains("--count applies to built-in topologies"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_python_bolt_with_a_window_block_gets_each_window_as_one_tuple() {
    let text = format!(
        "\
name: windowed-python
spouts:
  - id: sentences
    builtin: sentences
    args: {{count: 1000}}
bolts:
  - id: sizes
    python:
      class: window_size:WindowSize
      interpreter: {python}
      cwd: {cwd}
      protocol: storm
    streams: {{default: [word]}}
    window:
      length: {{count: 10}}
  - id: count
    builtin: count
streams:
  - {{from: sentences, to: sizes, grouping: shuffle}}
  - {{from: sizes, to: count, grouping: {{type: fields, fields: [word]}}}}
",
        python = python(),
        cwd = repo().join("tests/python").display(),
    );
    let tmp = scratch("run-windowed");
    let file = tmp.path().join("w.yaml");
    std::fs::write(&file, text).unwrap();
    let run = gale(&["run", file.to_str().unwrap(), "--threads", "2", "--no-pin"]);
    assert!(run.ok(), "{}", run.stderr);
    // 1000 sentences in tumbling windows of 10: 100 windows of 10 new
    // tuples, every tree completed (the run ends by itself).
    assert_eq!(run.stdout.trim(), "size10new10\t100", "{}", run.stderr);
}

#[test]
fn a_bad_window_block_is_reported_with_its_place() {
    let tmp = scratch("validate-window");
    let dir = tmp.path();
    let file = dir.join("bad.yaml");
    std::fs::write(
        &file,
        "spouts:\n  - {id: s, builtin: sentences, window: {length: {count: 3}}}\nbolts:\n  - id: b\n    shell: {command: python3, args: [x.py]}\n    window: {length: {count: 0, secs: 2}, lag_secs: -1}\nstreams:\n  - {from: s, to: b, grouping: shuffle}\n",
    )
    .unwrap();
    let run = gale(&["validate", file.to_str().unwrap()]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    for wanted in [
        "spouts[0] `s`.window: only shell and Python bolts take a window",
        "bolts[0] `b`.window.length: give exactly one of `count`",
        "bolts[0] `b`.window.lag_secs: must be a number of seconds above 0",
    ] {
        assert!(run.stderr.contains(wanted), "{wanted}\n{}", run.stderr);
    }
}

/// The executed count of `component` in a run's `--json` report.
fn executed(run: &util::Run, component: &str) -> u64 {
    let line = run.stdout.lines().last().unwrap_or("");
    let json: serde_json::Value = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", run.stdout, run.stderr));
    json["components"][component]["executed"]
        .as_u64()
        .unwrap_or_else(|| panic!("no {component} in {json}"))
}

/// The environment under which `python3` is the interpreter with pystorm.
fn venv_path() -> String {
    let bin = std::path::Path::new(&python())
        .parent()
        .expect("the interpreter's directory")
        .to_owned();
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

#[test]
fn storms_flux_word_count_validates_and_runs() {
    let file = repo().join("examples/flux/wordcount.yaml");
    let file = file.to_str().unwrap();
    let run = gale(&["validate", file]);
    assert!(run.ok(), "{}", run.stderr);
    assert!(
        run.stdout.contains("topology `yaml-topology` is valid")
            && run.stdout.contains("spout spout-1 x1"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains(&format!(
            "gale: warning: {file}:11: config.topology.workers: Storm key not used by Gale"
        )),
        "{}",
        run.stderr
    );
    let run = gale(&["run", file, "--duration", "1.5", "--json", "--no-pin"]);
    assert!(run.ok(), "{}", run.stderr);
    // TestWordSpout: a word every 100 ms, each counted and logged.
    let (counted, logged) = (executed(&run, "bolt-1"), executed(&run, "bolt-2"));
    assert!(counted > 0 && logged > 0, "{}", run.stdout);
}

#[test]
fn storms_flux_shell_example_validates_and_runs_python_components() {
    let file = repo().join("examples/flux/shell.yaml");
    let file = file.to_str().unwrap();
    let path = venv_path();
    let env = [("PATH", path.as_str())];
    let run = gale_with_env(&["validate", file], &env);
    assert!(run.ok(), "{}", run.stderr);
    assert!(
        run.stdout.contains("bolt splitsentence x1"),
        "{}",
        run.stdout
    );
    let run = gale_with_env(
        &["run", file, "--duration", "3", "--json", "--no-pin"],
        &env,
    );
    assert!(run.ok(), "{}", run.stderr);
    // Sentences from the Python spout, split by the Python bolt, counted
    // and logged.
    let split = executed(&run, "splitsentence");
    let counted = executed(&run, "count");
    assert!(split > 0 && counted > split, "{}", run.stdout);
    assert!(executed(&run, "log") > 0, "{}", run.stdout);
}

#[test]
fn the_filtered_flux_example_runs_with_its_properties_to_exact_counts() {
    let dir = repo().join("examples/flux");
    let file = dir.join("filtered.yaml");
    let props = dir.join("dev.properties");
    let path = venv_path();
    let run = gale_with_env(
        &[
            "run",
            file.to_str().unwrap(),
            "--filter",
            props.to_str().unwrap(),
            "--no-pin",
        ],
        &[("PATH", path.as_str())],
    );
    assert!(run.ok(), "{}", run.stderr);
    let counts = counts(&run.stdout);
    assert_eq!(counts, gale::builtin::wordcount::expected_counts(500));
    // --filter is for files.
    let run = gale(&["run", "wordcount", "--filter", props.to_str().unwrap()]);
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr.contains("--filter applies to topology files"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_flux_file_with_a_typod_class_and_a_missing_ref_gets_both_lines() {
    let tmp = scratch("flux-bad");
    let dir = tmp.path();
    let file = dir.join("bad.yaml");
    std::fs::write(
        &file,
        "\
name: bad
spouts:
  - id: spout-1
    className: org.apache.storm.testing.TestWordSpot
bolts:
  - id: split
    className: org.apache.storm.flux.wrappers.bolts.FluxShellBolt
    constructorArgs:
      - [python3, splitsentence.py]
      - ref: wordFields
streams:
  - from: spout-1
    to: split
    grouping:
      type: SHUFFLE
",
    )
    .unwrap();
    let run = gale(&["validate", file.to_str().unwrap()]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let path = file.display().to_string();
    for needle in [
        format!("{path}:4: spouts[0] `spout-1`.className: no spout class `org.apache.storm.testing.TestWordSpot`"),
        format!("{path}:10: bolts[0] `split`.constructorArgs: `ref: wordFields`: no component `wordFields`"),
    ] {
        assert!(run.stderr.contains(&needle), "{needle}\n{}", run.stderr);
    }
}
