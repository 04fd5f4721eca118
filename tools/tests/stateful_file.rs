//! `config.state` in a topology file: a run of a file whose stateful
//! count bolt checkpoints into the directory the file names (no flags),
//! killed with SIGKILL and run again, ends with exact counts; the
//! command line's `--state-dir` and `--checkpoint-ms` override the file;
//! bad `config.state` values are errors naming the key and line.

mod util;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gale::builtin::wordcount::expected_counts;
use serde_json::Value as Json;
use util::gale;

const SENTENCES_RUN: u64 = 400_000;

/// A file counting `n` sentences (two spout tasks, two of each bolt) with
/// `state` as its `config.state` block.
fn topology(n: u64, state: &str) -> String {
    format!(
        "\
name: counted
config:
  state:
{state}
spouts:
  - id: spout
    builtin: sentences
    parallelism: 2
    args: {{count: {n}, reliable: false}}
bolts:
  - {{id: split, builtin: split, parallelism: 2}}
  - {{id: count, builtin: stateful-count, parallelism: 2}}
streams:
  - {{from: spout, to: split, grouping: shuffle}}
  - {{from: split, to: count, grouping: {{type: fields, fields: [word]}}}}
"
    )
}

/// The `word<TAB>count` lines and the `emitted` count of the spouts in
/// the closing JSON report.
fn counts_and_emitted(stdout: &str) -> (BTreeMap<String, u64>, u64) {
    let mut counts = BTreeMap::new();
    let mut emitted = u64::MAX;
    for line in stdout.lines() {
        if line.starts_with('{') {
            let json: Json = serde_json::from_str(line).unwrap();
            emitted = json["components"]["spout"]["emitted"].as_u64().unwrap();
        } else if let Some((w, n)) = line.split_once('\t') {
            counts.insert(w.to_owned(), n.parse().unwrap());
        }
    }
    (counts, emitted)
}

fn run_args(file: &Path) -> Vec<String> {
    let file = file.to_str().unwrap().to_owned();
    [&file, "--threads", "2", "--no-pin", "--json"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
}

#[test]
fn a_file_configured_directory_is_checkpointed_and_restored_without_flags() {
    let dir = util::servers::temp_dir("restore");
    std::fs::create_dir_all(dir.join("state")).unwrap();
    let file = dir.join("counted.yaml");
    let block = "    backend: dir\n    path: state\n    checkpoint_interval_ms: 100";
    std::fs::write(&file, topology(SENTENCES_RUN, block)).unwrap();
    let current = || std::fs::read(dir.join("state/CURRENT")).ok();
    // SIGKILL twice, each after a checkpoint of the run's own.
    for pause in [0, 50] {
        let before = current();
        let mut child = Command::new(env!("CARGO_BIN_EXE_gale"))
            .arg("run")
            .args(run_args(&file))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while current() == before {
            assert!(
                child.try_wait().unwrap().is_none(),
                "the run ended before a kill"
            );
            assert!(Instant::now() < deadline, "no checkpoint in state/");
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(pause));
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before a kill"
        );
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let mut args = vec!["run".to_owned()];
    args.extend(run_args(&file));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = gale(&args);
    assert!(run.ok(), "{}", run.stderr);
    let (counts, emitted) = counts_and_emitted(&run.stdout);
    assert_eq!(counts, expected_counts(SENTENCES_RUN));
    assert!(emitted < SENTENCES_RUN, "emitted {emitted}: not resumed");

    // `--state-dir` overrides the file's: an empty directory, a run from
    // the start (every sentence emitted), checkpointed there; the file's
    // directory is left as it was.
    let kept = current();
    let other = dir.join("other");
    std::fs::create_dir_all(&other).unwrap();
    let mut args = args.clone();
    let other_arg = other.to_str().unwrap().to_owned();
    args.extend(["--state-dir", &other_arg, "--checkpoint-ms", "50"]);
    let run = gale(&args);
    assert!(run.ok(), "{}", run.stderr);
    let (counts, emitted) = counts_and_emitted(&run.stdout);
    assert_eq!(counts, expected_counts(SENTENCES_RUN));
    assert!(
        emitted >= SENTENCES_RUN,
        "emitted {emitted}: restored from the file's directory"
    );
    assert!(other.join("CURRENT").exists());
    assert_eq!(current(), kept);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Writes `block` as the `config.state` of a file and returns what `gale
/// validate` and `gale run` say (both must fail).
fn refused(name: &str, block: &str) -> (String, String) {
    let dir = util::servers::temp_dir(name);
    let file = dir.join("bad.yaml");
    std::fs::write(&file, topology(10, block)).unwrap();
    let path = file.to_str().unwrap();
    let validate = gale(&["validate", path]);
    assert_eq!(validate.code, Some(1), "{}", validate.stderr);
    let run = gale(&["run", path, "--threads", "1", "--no-pin"]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let _ = std::fs::remove_dir_all(&dir);
    (format!("{path}:"), run.stderr)
}

#[test]
fn bad_config_state_values_are_errors_naming_the_key_and_line() {
    // `state:` is on line 3, its keys from line 4.
    for (name, block, wanted) in [
        (
            "backend",
            "    backend: rocksdb\n    path: x",
            "4: config.state.backend: unknown backend `rocksdb` (dir or redis)",
        ),
        (
            "no-path",
            "    backend: dir",
            "3: config.state.path: missing",
        ),
        (
            "no-url",
            "    backend: redis",
            "3: config.state.url: missing",
        ),
        (
            "zero",
            "    backend: dir\n    path: x\n    checkpoint_interval_ms: 0",
            "6: config.state.checkpoint_interval_ms: must be a number of milliseconds above 0",
        ),
        (
            "password",
            "    backend: redis\n    url: redis://u:hunter2@127.0.0.1:1",
            "5: config.state.url:",
        ),
        (
            "unknown",
            "    backend: dir\n    path: x\n    dir: y",
            "6: config.state.dir: unknown key",
        ),
    ] {
        let (path, err) = refused(name, block);
        assert!(
            err.contains(&format!("{path}{wanted}")),
            "{name}: {wanted}\n{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
        if name == "password" {
            assert!(err.contains("password_env"), "{err}");
        }
    }
    // Storm's key is read too, and checked.
    let dir = util::servers::temp_dir("storm-key");
    let file = dir.join("bad.yaml");
    let text = topology(10, "    backend: dir\n    path: x").replace(
        "config:\n",
        "config:\n  topology.state.checkpoint.interval.ms: 0\n",
    );
    std::fs::write(&file, text).unwrap();
    let run = gale(&["validate", file.to_str().unwrap()]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr.contains(":3: config.topology.state.checkpoint.interval.ms: must be a number of milliseconds above 0"),
        "{}",
        run.stderr
    );
    let _ = std::fs::remove_dir_all(&dir);
    // A valid block whose directory is missing: the run says which.
    let (_, err) = refused_run("missing-dir", "    backend: dir\n    path: nowhere");
    assert!(
        err.contains("config.state.path") && err.contains("nowhere"),
        "{err}"
    );
}

/// Like [`refused`], for a file that is valid but cannot run.
fn refused_run(name: &str, block: &str) -> (String, String) {
    let dir = util::servers::temp_dir(name);
    let file = dir.join("bad.yaml");
    std::fs::write(&file, topology(10, block)).unwrap();
    let path = file.to_str().unwrap();
    assert!(gale(&["validate", path]).ok());
    let run = gale(&["run", path, "--threads", "1", "--no-pin"]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let _ = std::fs::remove_dir_all(&dir);
    (format!("{path}:"), run.stderr)
}
