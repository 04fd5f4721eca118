//! `gale run stateful-wordcount --state-dir D` (and `--state-url` with a
//! real `redis-server`): killed with SIGKILL at several moments and
//! started again with the same directory (server), it ends with exactly
//! the counts of a run never killed; a missing directory, an unreachable
//! server or a damaged checkpoint is a clear error naming it.

mod util;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gale::builtin::wordcount::expected_counts;
use serde_json::Value as Json;
use util::servers::Redis;
use util::{gale, scratch};

const SENTENCES_RUN: u64 = 1_000_000;

/// The `word<TAB>count` lines and the closing JSON report.
fn counts_and_json(stdout: &str) -> (BTreeMap<String, u64>, Json) {
    let (lines, json) = stdout.trim_end().rsplit_once('\n').unwrap_or(("", stdout));
    let counts = lines
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(w, n)| (w.to_owned(), n.parse().unwrap()))
        .collect();
    (counts, serde_json::from_str(json).unwrap_or(Json::Null))
}

/// `--state-dir DIR`, or `--state-url URL` when `state` starts with
/// `redis://`.
fn args<'a>(state: &'a str, count: &'a str) -> Vec<&'a str> {
    let flag = if state.starts_with("redis://") {
        "--state-url"
    } else {
        "--state-dir"
    };
    vec![
        "run",
        "stateful-wordcount",
        "--count",
        count,
        "--threads",
        "2",
        "--no-pin",
        // Two spout tasks and two of each bolt: barriers are aligned over
        // several upstream tasks at every stage.
        "--spouts",
        "2",
        "--bolts",
        "2",
        flag,
        state,
        "--checkpoint-ms",
        "100",
        "--json",
    ]
}

#[test]
fn killed_at_random_moments_and_restarted_it_counts_exactly_once() {
    let tmp = scratch("kill");
    let dir = tmp.path();
    let current = || std::fs::read(dir.join("CURRENT")).ok();
    kill_restart_and_count(dir.to_str().unwrap(), current);
}

#[test]
fn with_redis_killed_and_restarted_it_counts_exactly_once() {
    let redis = Redis::start();
    let url = redis.url();
    let current = || {
        redis
            .cli(&["GET", "gale:state:stateful-wordcount:current"])
            .filter(|v| !v.trim().is_empty())
    };
    kill_restart_and_count(&url, current);
    // Older checkpoints are deleted once a newer one is current.
    let keys = redis
        .cli(&["KEYS", "gale:state:stateful-wordcount:chk:*"])
        .unwrap();
    assert_eq!(keys.lines().count(), 1, "{keys}");
}

/// Killed mid-run with 2 `count` tasks, then with 5 (each time after a
/// checkpoint of its own), then run to the end with 3: each run restores
/// the counts its tasks own under their number (the checkpoint records
/// the task counts it was saved with), and the counts end exact.
#[test]
fn restarted_with_other_bolt_counts_each_word_keeps_its_count() {
    let tmp = scratch("rescale");
    let dir = tmp.path();
    let d = dir.to_str().unwrap();
    let current = || std::fs::read(dir.join("CURRENT")).ok();
    let count = SENTENCES_RUN.to_string();
    let with_bolts = |bolts: &'static str| {
        let mut a = args(d, &count);
        let at = a.iter().position(|x| *x == "--bolts").unwrap() + 1;
        a[at] = bolts;
        a
    };
    for bolts in ["2", "5"] {
        let before = current();
        let mut child = Command::new(env!("CARGO_BIN_EXE_gale"))
            .args(with_bolts(bolts))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        while current() == before {
            assert!(
                child.try_wait().unwrap().is_none(),
                "the run with {bolts} bolts ended before a checkpoint"
            );
            assert!(
                Instant::now() < deadline,
                "no checkpoint with {bolts} bolts"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run with {bolts} bolts ended before the kill: raise SENTENCES_RUN"
        );
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let run = gale(&with_bolts("3"));
    assert!(run.ok(), "exit {:?}\n{}", run.code, run.stderr);
    // Without the split, 3 tasks restoring a checkpoint of 5 would lose
    // the counts of the last 2, and 5 restoring one of 2 would fail.
    let (counts, json) = counts_and_json(&run.stdout);
    assert_eq!(counts, expected_counts(SENTENCES_RUN));
    let emitted = json["components"]["spout"]["emitted"].as_u64().unwrap();
    assert!(emitted < SENTENCES_RUN, "emitted {emitted}: not resumed");
}

/// SIGKILLs `gale run stateful-wordcount` on `state` (a directory or a
/// Redis URL) three times mid-run, then runs it to the end twice: the
/// counts must be exact. `current` reads the current checkpoint marker.
fn kill_restart_and_count<T: PartialEq>(d: &str, current: impl Fn() -> Option<T>) {
    let count = SENTENCES_RUN.to_string();
    // SIGKILL three times, at different moments: each round waits until
    // its run has completed a checkpoint of its own (so that the kill
    // falls mid-run whatever the machine's speed), then a little longer.
    let mut kills = 0;
    for (round, ms) in [0u64, 37, 111].into_iter().enumerate() {
        let before = current();
        let mut child = Command::new(env!("CARGO_BIN_EXE_gale"))
            .args(args(d, &count))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while current() == before && Instant::now() < deadline {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(ms));
        if child.try_wait().unwrap().is_none() {
            kills += 1;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(
            round > 0 || kills == 1,
            "round 0: the run ended before a checkpoint and a kill"
        );
    }
    assert!(kills >= 1);
    assert!(current().is_some(), "no checkpoint was ever completed");
    let run = gale(&args(d, &count));
    assert!(run.ok(), "exit {:?}\n{}", run.code, run.stderr);
    let (counts, json) = counts_and_json(&run.stdout);
    assert_eq!(counts, expected_counts(SENTENCES_RUN));
    // It did resume: its spout emitted fewer sentences than the total
    // (barriers count as emits too, so compare with room for them).
    let emitted = json["components"]["spout"]["emitted"].as_u64().unwrap();
    assert!(emitted < SENTENCES_RUN, "emitted {emitted}: not resumed");
    // Once more: it resumes from its last checkpoint and still ends exact.
    let run = gale(&args(d, &count));
    assert!(run.ok(), "{}", run.stderr);
    assert_eq!(
        counts_and_json(&run.stdout).0,
        expected_counts(SENTENCES_RUN)
    );
}

#[test]
fn an_unreachable_or_damaged_redis_is_an_error_naming_it() {
    let redis = Redis::start();
    let url = redis.url();
    let unreachable = format!("redis://127.0.0.1:{}", util::servers::free_port());
    let run = gale(&args(&unreachable, "100"));
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains(&unreachable), "{}", run.stderr);
    let run = gale(&args("redis://user:secret@127.0.0.1:1", "100"));
    assert!(
        !run.ok() && run.stderr.contains("password"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("secret"), "{}", run.stderr);
    // A complete run leaves a checkpoint; damage a task's snapshot.
    assert!(gale(&args(&url, "1000")).ok());
    let key = redis
        .cli(&["KEYS", "gale:state:stateful-wordcount:chk:*"])
        .unwrap();
    let key = key.trim();
    redis.cli(&["HSET", key, "count-0", "garbage"]).unwrap();
    let run = gale(&args(&url, "1000"));
    assert!(
        !run.ok(),
        "a damaged checkpoint must not start from empty state"
    );
    assert!(run.stderr.contains(key), "{}", run.stderr);
    assert!(run.stderr.contains("damaged"), "{}", run.stderr);
}

#[test]
fn a_missing_directory_or_a_damaged_checkpoint_is_an_error_naming_it() {
    let tmp = scratch("bad");
    let dir = tmp.path();
    let missing = dir.join("nope");
    let run = gale(&args(missing.to_str().unwrap(), "100"));
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr.contains(missing.to_str().unwrap()),
        "{}",
        run.stderr
    );
    // A complete run leaves a checkpoint; damage a task's file.
    let d = dir.to_str().unwrap();
    assert!(gale(&args(d, "1000")).ok());
    let current = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("chk-"))
        .unwrap()
        .path();
    let file = current.join("count-0.state");
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
    let run = gale(&args(d, "1000"));
    assert!(
        !run.ok(),
        "a damaged checkpoint must not start from empty state"
    );
    assert!(run.stderr.contains("count-0.state"), "{}", run.stderr);
    assert!(run.stderr.contains("damaged"), "{}", run.stderr);
}
