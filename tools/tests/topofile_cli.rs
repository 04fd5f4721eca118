//! `gale validate FILE.yaml` and `gale run FILE.yaml` with the real binary.

mod util;

use std::path::PathBuf;

use util::{gale, python, repo};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gale-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
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
    let dir = scratch("validate-bad");
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
    let file = scratch("run-streamparse").join("wc.yaml");
    std::fs::write(&file, text).unwrap();
    let run = gale(&["run", file.to_str().unwrap(), "--threads", "2", "--no-pin"]);
    assert!(run.ok(), "{}", run.stderr);
    let counts: std::collections::BTreeMap<String, u64> = run
        .stdout
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(w, n)| (w.to_owned(), n.parse().unwrap()))
        .collect();
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
    let file = scratch("run-windowed").join("w.yaml");
    std::fs::write(&file, text).unwrap();
    let run = gale(&["run", file.to_str().unwrap(), "--threads", "2", "--no-pin"]);
    assert!(run.ok(), "{}", run.stderr);
    // 1000 sentences in tumbling windows of 10: 100 windows of 10 new
    // tuples, every tree completed (the run ends by itself).
    assert_eq!(run.stdout.trim(), "size10new10\t100", "{}", run.stderr);
}

#[test]
fn a_bad_window_block_is_reported_with_its_place() {
    let dir = scratch("validate-window");
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
