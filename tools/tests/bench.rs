//! `gale bench` end to end with the real binary: every benchmark runs and
//! its JSON has every documented key with sane values; `--rate` gives a
//! latency distribution, an unreachable rate is reported as such, and bad
//! options are refused with a clear message. Nothing here asserts on
//! speed: runs are short and only counts, types and orderings are checked.

mod util;

use std::path::PathBuf;

use gale::cli::BENCHES;
use serde_json::Value as Json;
use util::{gale, Run};

/// A short run: 0.3 s of warm-up, 1 s measured (long enough that even a
/// heavily loaded machine moves some tuples in the window).
fn bench(name: &str, extra: &[&str]) -> (Run, Json) {
    let mut args = vec![
        "bench",
        name,
        "--warmup",
        "0.3",
        "--duration",
        "1",
        "--threads",
        "2",
        "--no-pin",
        "--json",
    ];
    args.extend_from_slice(extra);
    let run = gale(&args);
    assert!(run.ok(), "{args:?}: exit {:?}\n{}", run.code, run.stderr);
    let json = serde_json::from_str(run.stdout.trim())
        .unwrap_or_else(|e| panic!("{args:?}: {e}: stdout:\n{}", run.stdout));
    (run, json)
}

fn number(json: &Json, key: &str) -> f64 {
    json[key]
        .as_f64()
        .unwrap_or_else(|| panic!("`{key}` is not a number in {json}"))
}

fn count(json: &Json, key: &str) -> u64 {
    json[key]
        .as_u64()
        .unwrap_or_else(|| panic!("`{key}` is not a count in {json}"))
}

/// The last component of each benchmark (where throughput is counted).
fn last_component(name: &str) -> &'static str {
    match name {
        "const-spout-only" => "constSpout",
        n if n.ends_with("wordcount") => "count",
        _ => "nullBolt",
    }
}

/// Checks a `latency_ns` (or `complete_latency_ns`) object: counts of
/// samples and ordered quantiles.
fn check_quantiles(latency: &Json, keys: &[&str]) {
    let mut previous = 0;
    for key in keys {
        let v = latency[*key]
            .as_u64()
            .unwrap_or_else(|| panic!("`{key}` missing in {latency}"));
        assert!(
            v >= previous,
            "{key} below the previous quantile: {latency}"
        );
        previous = v;
    }
    assert!(count(latency, "count") > 0, "{latency}");
}

#[test]
fn every_bench_runs_and_reports_every_key() {
    for name in BENCHES {
        let (run, json) = bench(name, &[]);
        assert_eq!(json["name"], name);
        let config = &json["config"];
        for key in [
            "threads",
            "duration_s",
            "warmup_s",
            "rate",
            "ack",
            "max_pending",
            "tuple_size",
            "file",
            "spouts",
            "bolts",
            "grouping",
            "pin",
            "busy_spin",
        ] {
            assert!(
                config.get(key).is_some(),
                "{name}: config.{key} missing: {json}"
            );
        }
        assert_eq!(config["threads"], 2, "{name}");
        assert_eq!(number(config, "duration_s"), 1.0);
        assert_eq!(number(config, "warmup_s"), 0.3);
        assert_eq!(config["pin"], false);
        let grouping = if name.starts_with("const-spout") {
            "local"
        } else {
            ""
        };
        assert_eq!(
            config["grouping"].as_str().unwrap_or_default(),
            grouping,
            "{name}"
        );
        assert!(config["rate"].is_null() && config["ack"] == false);
        assert!(json["gale_version"].as_str().is_some_and(|v| !v.is_empty()));
        assert!(count(&json["machine"], "cores") >= 1, "{json}");
        let model = &json["machine"]["cpu_model"];
        assert!(model.is_string() || model.is_null(), "{json}");
        assert!(number(&json, "window_s") > 0.0, "{json}");

        // Throughput is the last component's tuples over the window.
        let last = last_component(name);
        assert_eq!(json["throughput_component"], last, "{name}");
        let component = &json["components"][last];
        let tuples = if name == "const-spout-only" {
            count(component, "emitted")
        } else {
            count(component, "executed")
        };
        assert!(tuples > 0, "{name}: nothing reached `{last}`: {json}");
        let rate = number(&json, "throughput_tuples_per_s");
        let expected = tuples as f64 / number(&json, "window_s");
        assert!((rate - expected).abs() <= expected * 1e-6, "{name}: {json}");
        assert!(number(&json, "cpu_ns_per_tuple") > 0.0, "{name}: {json}");
        // No latency without --rate, no acking figures without --ack.
        for key in ["latency_ns", "rate_reached", "acked", "complete_latency_ns"] {
            assert!(json.get(key).is_none(), "{name}: unexpected {key}: {json}");
        }
        assert!(json["errors"].as_array().is_some_and(|e| e.is_empty()));
        // Not a terminal: no progress line.
        assert!(
            !run.stderr.contains('\r'),
            "{name}: progress line on a pipe"
        );
        assert!(run.stderr.contains("throughput:"), "{}", run.stderr);
    }
}

#[test]
fn a_reachable_rate_reports_latency_quantiles() {
    // A rate far below what even a debug build sustains; a loaded machine
    // could still stall a spout at the very end of the window, so a run
    // that honestly says it missed the rate is retried (never more than
    // three runs).
    for name in ["const-spout-null-bolt", "wordcount", "baseline-crossbeam"] {
        let mut reached = false;
        for _ in 0..3 {
            let (_, json) = bench(name, &["--rate", "1000"]);
            assert_eq!(json["config"]["rate"], 1000);
            assert!(json["behind_ns"].is_u64(), "{json}");
            match json["rate_reached"].as_bool() {
                Some(true) => {
                    check_quantiles(&json["latency_ns"], &["p50", "p90", "p99", "p999", "max"]);
                    // The spout kept to its schedule: about 1000 tuples per
                    // second of the window (counters are published once
                    // per worker pass, hence the slack).
                    let spout = if name == "wordcount" {
                        "spout"
                    } else {
                        "constSpout"
                    };
                    let emitted = count(&json["components"][spout], "emitted") as f64;
                    let scheduled = 1000.0 * number(&json, "window_s");
                    assert!(
                        (emitted - scheduled).abs() <= 50.0 + scheduled / 10.0,
                        "{name}: {emitted} emitted, {scheduled} scheduled: {json}"
                    );
                    reached = true;
                    break;
                }
                Some(false) => assert!(json["latency_ns"].is_null(), "{json}"),
                None => panic!("rate_reached missing: {json}"),
            }
        }
        assert!(reached, "{name}: 1000 tuples/s never reached in three runs");
    }
}

#[test]
fn an_unreachable_rate_is_reported_without_latency() {
    for name in ["const-spout-null-bolt", "baseline-crossbeam"] {
        let (run, json) = bench(name, &["--rate", "1000000000000"]);
        assert_eq!(json["rate_reached"], false, "{json}");
        assert!(json["latency_ns"].is_null(), "{json}");
        assert!(count(&json, "behind_ns") > 0, "{json}");
        assert!(run.stderr.contains("rate NOT reached"), "{}", run.stderr);
        assert!(!run.stderr.contains("p99"), "{}", run.stderr);
    }
}

#[test]
fn acking_reports_acked_failed_and_complete_latency() {
    let (_, json) = bench(
        "const-spout-id-bolt-null-bolt",
        &["--ack", "--max-pending", "1000"],
    );
    assert_eq!(json["config"]["ack"], true);
    assert_eq!(json["config"]["max_pending"], 1000);
    assert!(count(&json, "acked") > 0, "{json}");
    assert_eq!(count(&json, "failed"), 0, "{json}");
    check_quantiles(&json["complete_latency_ns"], &["p50", "p99", "p999", "max"]);
    // Complete latency covers the trees of the window (to within the
    // 100 ms workers publish at), not the 0.3 s warm-up too.
    let (trees, acked) = (
        count(&json["complete_latency_ns"], "count") as f64,
        count(&json, "acked") as f64,
    );
    assert!(
        (0.7 * acked..=1.2 * acked).contains(&trees),
        "{trees} latencies for {acked} trees acked in the window: {json}"
    );
    assert!(number(&json, "acker_messages_per_tuple") > 0.0, "{json}");
    assert!(json["components"].get("__acker").is_some(), "{json}");
}

fn temp_file(name: &str, text: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gale-bench-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write the text file");
    path
}

#[test]
fn file_read_wordcount_reads_the_given_file() {
    // Every line has three words, so the split bolt emits exactly three
    // words per sentence it executed (its counters are published together
    // after each sentence).
    let path = temp_file(
        "three.txt",
        b"one two three\n\nfour five six\r\nseven eight nine\n",
    );
    let file = path.to_str().expect("utf-8 temp path");
    let (_, json) = bench("file-read-wordcount", &["--file", file]);
    assert_eq!(json["config"]["file"], file);
    assert!(json["config"]["tuple_size"].is_null(), "{json}");
    let split = &json["components"]["split"];
    let sentences = count(split, "executed");
    assert!(sentences > 0, "{json}");
    assert_eq!(count(split, "emitted"), 3 * sentences, "{json}");

    let missing = path.with_file_name("missing.txt");
    let run = gale(&[
        "bench",
        "file-read-wordcount",
        "--file",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("missing.txt"), "{}", run.stderr);

    let blank = temp_file("blank.txt", b"\n   \n");
    let run = gale(&[
        "bench",
        "file-read-wordcount",
        "--file",
        blank.to_str().unwrap(),
    ]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("no line with a word"), "{}", run.stderr);
    let _ = std::fs::remove_dir_all(path.parent().expect("temp dir"));
}

#[test]
fn bad_options_are_refused_with_a_clear_message() {
    let cases: [(&[&str], &str); 13] = [
        (&["bench", "nope"], "baseline-crossbeam"),
        (&["bench"], "BENCH"),
        (&["bench", "wordcount", "--rate", "0"], "--rate"),
        (&["bench", "wordcount", "--duration", "0"], "--duration"),
        (&["bench", "wordcount", "--warmup", "soon"], "--warmup"),
        (&["bench", "wordcount", "--max-pending", "4"], "--ack"),
        (
            &["bench", "wordcount", "--file", "x.txt"],
            "--file is for file-read-wordcount",
        ),
        (&["bench", "wordcount", "--tuple-size", "8"], "--tuple-size"),
        (&["bench", "baseline-crossbeam", "--ack"], "no acker"),
        (&["bench", "baseline-crossbeam", "--bolts", "2"], "--bolts"),
        (
            &["bench", "wordcount", "--grouping", "shuffle"],
            "--grouping",
        ),
        (
            &["bench", "wordcount", "--checkpoint-ms", "100"],
            "for stateful-wordcount only",
        ),
        (
            &["bench", "stateful-wordcount", "--checkpoint-ms", "0"],
            "--checkpoint-ms",
        ),
    ];
    for (args, says) in cases {
        let run = gale(args);
        assert_eq!(run.code, Some(2), "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains(says),
            "{args:?} should mention {says}: {}",
            run.stderr
        );
        assert!(run.stdout.is_empty(), "{args:?}: {}", run.stdout);
    }
}

#[test]
fn stateful_wordcount_checkpoints_into_the_given_directory() {
    let dir = std::env::temp_dir().join(format!("gale-bench-state-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.to_str().unwrap();
    let (_, json) = bench(
        "stateful-wordcount",
        &["--state-dir", path, "--checkpoint-ms", "50"],
    );
    assert!(
        count(&json["components"]["count"], "executed") > 0,
        "{json}"
    );
    let current = std::fs::read(dir.join("CURRENT"))
        .unwrap_or_else(|e| panic!("no current checkpoint in {path}: {e}"));
    assert!(!current.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A topology file of built-in components only: reliable sentences (no
/// count: they never run out), split, count, one acker.
const FILE_TOPOLOGY: &str = "\
name: file-bench
config:
  ackers: 1
  max_spout_pending: 1000
spouts:
  - id: sentences
    builtin: sentences
bolts:
  - id: split
    builtin: split
    parallelism: 2
  - id: count
    builtin: count
    parallelism: 2
streams:
  - {from: sentences, to: split, grouping: shuffle}
  - {from: split, to: count, grouping: {type: fields, fields: [word]}}
";

#[test]
fn a_topology_file_is_measured_like_a_builtin_with_its_acking() {
    let path = temp_file("bench.yaml", FILE_TOPOLOGY.as_bytes());
    let path = path.to_str().unwrap();
    let (_, json) = bench(path, &[]);
    assert_eq!(json["name"], path);
    assert_eq!(json["ended_early"], false);
    let components = &json["components"];
    for c in ["sentences", "split", "count"] {
        assert!(components[c].is_object(), "no `{c}` in {json}");
    }
    assert!(components["count"]["executed"].as_u64().unwrap() > 0);
    assert!(number(&json, "throughput_tuples_per_s") > 0.0);
    // Its spout emits with message ids: the acking figures are there
    // without --ack.
    assert!(count(&json, "acked") > 0, "{json}");
    assert!(json["complete_latency_ns"].is_object(), "{json}");

    // What only the built-in benchmarks take is refused, by name.
    for flag in [&["--rate", "100"][..], &["--ack"], &["--tuple-size", "8"]] {
        let mut args = vec!["bench", path];
        args.extend_from_slice(flag);
        let run = gale(&args);
        assert_eq!(run.code, Some(2), "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(flag[0]), "{args:?}: {}", run.stderr);
    }
}
