//! The `gale` binary end to end: exact word counts, the JSON report, and
//! clear errors for bad input.

mod util;

use std::collections::BTreeMap;

use gale::builtin::{self, wordcount::SENTENCES};
use serde_json::Value as Json;
use util::gale;

/// The counts of the first `n` sentences of the cycle, computed here from
/// the sentence list rather than by the library.
fn expected_counts(n: usize) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for i in 0..n {
        for word in SENTENCES[i % SENTENCES.len()].split_whitespace() {
            *counts.entry(word.to_owned()).or_insert(0) += 1;
        }
    }
    counts
}

/// Splits stdout into the `word<TAB>count` lines and the closing JSON.
fn counts_and_json(stdout: &str) -> (BTreeMap<String, u64>, Json) {
    let (counts, json) = stdout
        .trim_end()
        .rsplit_once('\n')
        .unwrap_or_else(|| panic!("expected counts then JSON, got:\n{stdout}"));
    let json: Json = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
    let mut map = BTreeMap::new();
    let mut previous: Option<&str> = None;
    for line in counts.lines() {
        let (word, n) = line.split_once('\t').unwrap_or_else(|| panic!("{line:?}"));
        assert!(previous < Some(word), "not sorted by word at {line:?}");
        previous = Some(word);
        map.insert(word.to_owned(), n.parse().unwrap_or_else(|e| panic!("{e}")));
    }
    (map, json)
}

fn component<'a>(json: &'a Json, name: &str) -> &'a Json {
    json["components"]
        .get(name)
        .unwrap_or_else(|| panic!("no component `{name}` in {json}"))
}

fn counter(json: &Json, component_name: &str, key: &str) -> u64 {
    component(json, component_name)[key]
        .as_u64()
        .unwrap_or_else(|| panic!("`{component_name}.{key}` missing in {json}"))
}

#[test]
fn wordcount_prints_exact_counts_and_a_json_report() {
    let run = gale(&[
        "run",
        "wordcount",
        "--sentences",
        "10000",
        "--threads",
        "2",
        "--no-pin",
        "--json",
    ]);
    assert!(run.ok(), "exit {:?}\n{}", run.code, run.stderr);
    let (counts, json) = counts_and_json(&run.stdout);
    let expected = expected_counts(10_000);
    assert_eq!(counts, expected);

    let words: u64 = expected.values().sum();
    assert!(
        json["elapsed_s"].as_f64().is_some_and(|s| s >= 0.0),
        "{json}"
    );
    for name in ["spout", "split", "count"] {
        for key in [
            "tasks",
            "emitted",
            "transferred",
            "executed",
            "acked",
            "failed",
        ] {
            counter(&json, name, key);
        }
        assert_eq!(counter(&json, name, "failed"), 0);
    }
    assert_eq!(counter(&json, "spout", "emitted"), 10_000);
    assert_eq!(counter(&json, "split", "executed"), 10_000);
    assert_eq!(counter(&json, "split", "emitted"), words);
    assert_eq!(counter(&json, "count", "executed"), words);
    assert_eq!(counter(&json, "count", "tasks"), 2);
    assert!(
        run.stderr.contains("count"),
        "no summary on stderr:\n{}",
        run.stderr
    );
}

#[test]
fn wordcount_is_exact_with_several_spout_tasks() {
    let run = gale(&[
        "run",
        "wordcount",
        "--count",
        "10003",
        "--spouts",
        "3",
        "--bolts",
        "3",
        "--threads",
        "2",
        "--no-pin",
        "--json",
    ]);
    assert!(run.ok(), "exit {:?}\n{}", run.code, run.stderr);
    let (counts, json) = counts_and_json(&run.stdout);
    assert_eq!(counts, expected_counts(10_003));
    assert_eq!(counter(&json, "spout", "tasks"), 3);
    assert_eq!(counter(&json, "spout", "emitted"), 10_003);
}

#[test]
fn every_builtin_runs_a_finite_count_to_the_end() {
    let last = [
        ("wordcount", "count"),
        ("file-read-wordcount", "count"),
        ("exclamation", "exclaim2"),
        ("const-spout-only", "constSpout"),
        ("const-spout-null-bolt", "nullBolt"),
        ("const-spout-id-bolt-null-bolt", "nullBolt"),
        ("stateful-wordcount", "count"),
        // Here the counter: the rankers get one tuple per window.
        ("rolling-top-words", "counter"),
        ("rolling-top-words-slots", "counter"),
    ];
    assert_eq!(last.len(), builtin::names().len(), "a built-in is untested");
    for (name, last) in last {
        let run = gale(&[
            "run",
            name,
            "--count",
            "1000",
            "--threads",
            "2",
            "--no-pin",
            "--json",
        ]);
        assert!(run.ok(), "{name}: exit {:?}\n{}", run.code, run.stderr);
        let json: Json = serde_json::from_str(run.stdout.lines().last().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{name}: {e}\n{}", run.stdout));
        assert_eq!(json["topology"], name);
        let tuples = if name == "const-spout-only" {
            counter(&json, last, "emitted")
        } else {
            counter(&json, last, "executed")
        };
        // Each sentence of wordcount is several words; the rolling top
        // words' counters get clock tuples besides the words; the others
        // pass every tuple through unchanged.
        if name.ends_with("wordcount") || name.starts_with("rolling-top-words") {
            assert!(tuples > 1000, "{json}");
        } else {
            assert_eq!(tuples, 1000, "{name}: {json}");
        }
    }
}

#[test]
fn a_duration_ends_an_endless_topology() {
    let run = gale(&[
        "run",
        "const-spout-id-bolt-null-bolt",
        "--duration",
        "0.2",
        "--threads",
        "2",
        "--no-pin",
        "--json",
    ]);
    assert!(run.ok(), "exit {:?}\n{}", run.code, run.stderr);
    let json: Json = serde_json::from_str(run.stdout.trim()).expect("one JSON object");
    assert!(counter(&json, "constSpout", "emitted") > 0, "{json}");
    assert!(json["rate_per_s"].as_f64().is_some(), "{json}");
}

#[test]
fn unknown_topology_names_the_known_ones() {
    let run = gale(&["run", "wordcnt"]);
    assert!(!run.ok(), "unknown name accepted");
    assert!(run.stderr.contains("wordcnt"), "{}", run.stderr);
    for name in builtin::names() {
        assert!(
            run.stderr.contains(name),
            "`{name}` not named:\n{}",
            run.stderr
        );
    }
}

#[test]
fn bad_flags_are_refused() {
    for args in [
        &["run", "wordcount", "--bogus"][..],
        &["run", "wordcount", "--threads", "many"],
        &["run", "wordcount", "--duration", "-1"],
        &["run", "wordcount", "--count", "1.5"],
        &["run", "exclamation", "--grouping", "random"],
        &["run"],
        &["frobnicate"],
    ] {
        let run = gale(args);
        assert!(!run.ok(), "`gale {}` succeeded", args.join(" "));
        assert!(
            !run.stderr.is_empty(),
            "`gale {}`: no message",
            args.join(" ")
        );
    }
}

#[test]
fn zero_parallelism_is_a_clear_error() {
    let run = gale(&["run", "wordcount", "--bolts", "0", "--count", "10"]);
    assert!(!run.ok());
    assert!(run.stderr.contains("parallelism 0"), "{}", run.stderr);
}

#[test]
fn help_and_list_work() {
    let run = gale(&["run", "--help"]);
    assert!(run.ok(), "{}", run.stderr);
    for flag in [
        "--threads",
        "--duration",
        "--count",
        "--json",
        "--no-pin",
        "10 s",
    ] {
        assert!(
            run.stdout.contains(flag),
            "`{flag}` not in help:\n{}",
            run.stdout
        );
    }
    assert!(gale(&["--help"]).ok());
    assert!(gale(&["list", "--help"]).ok());

    let run = gale(&["list"]);
    assert!(run.ok(), "{}", run.stderr);
    for name in builtin::names() {
        assert!(run.stdout.contains(name), "`{name}` not listed");
    }
}

#[test]
fn wordcount_with_acking_acks_every_sentence_once() {
    let run = gale(&[
        "run",
        "wordcount",
        "--sentences",
        "10000",
        "--threads",
        "2",
        "--no-pin",
        "--ack",
        "--json",
    ]);
    assert!(run.ok(), "exit {:?}\n{}", run.code, run.stderr);
    let (counts, json) = counts_and_json(&run.stdout);
    // Nothing fails here, so nothing is replayed and the counts are exact.
    assert_eq!(counts, expected_counts(10_000));
    assert_eq!(counter(&json, "spout", "acked"), 10_000, "{json}");
    assert_eq!(counter(&json, "spout", "failed"), 0, "{json}");
    let latency = &component(&json, "spout")["complete_latency_ns"];
    assert_eq!(latency["count"].as_u64(), Some(10_000), "{json}");
    let (p50, p99) = (latency["p50"].as_u64(), latency["p99"].as_u64());
    assert!(p50.is_some_and(|p| p > 0) && p50 <= p99, "{json}");
    assert!(
        run.stderr.contains("complete latency of `spout`"),
        "{}",
        run.stderr
    );
}

#[test]
fn acking_the_storm_acker_benchmark_topology() {
    let run = gale(&[
        "run",
        "const-spout-id-bolt-null-bolt",
        "--count",
        "20000",
        "--threads",
        "2",
        "--no-pin",
        "--ack",
        "--json",
    ]);
    assert!(run.ok(), "exit {:?}\n{}", run.code, run.stderr);
    let json: Json =
        serde_json::from_str(run.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", run.stdout));
    assert_eq!(counter(&json, "constSpout", "acked"), 20_000, "{json}");
    assert_eq!(counter(&json, "nullBolt", "executed"), 20_000, "{json}");
}

/// `gale run` stopped by a real signal: it drains, prints its report and
/// exits with 128 + the signal.
fn run_until_signal(signal: &str) -> (Option<i32>, String, String) {
    use std::io::{BufRead, BufReader, Read};
    use std::process::{Command, Stdio};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    let mut child = Command::new(env!("CARGO_BIN_EXE_gale"))
        .args([
            "run",
            "wordcount",
            "--ack",
            "--duration",
            "600",
            "--threads",
            "2",
            "--no-pin",
            "--json",
            "--metrics-addr",
            "127.0.0.1:0",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn gale");
    let stderr = Arc::new(Mutex::new(String::new()));
    let kept = Arc::clone(&stderr);
    let pipe = child.stderr.take().expect("piped stderr");
    let reader = std::thread::spawn(move || {
        for l in BufReader::new(pipe).lines().map_while(Result::ok) {
            let mut s = kept.lock().unwrap();
            s.push_str(&l);
            s.push('\n');
        }
    });
    let mut stdout = child.stdout.take().expect("piped stdout");
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let watchdog = Instant::now();
    // The metrics line comes after the signal handlers are in place.
    while !stderr.lock().unwrap().contains("gale: metrics on ") {
        assert!(
            watchdog.elapsed() < Duration::from_secs(60),
            "gale run did not start: {}",
            stderr.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Let it process something first (not a timing assertion).
    std::thread::sleep(Duration::from_millis(500));
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .expect("run kill");
    assert!(status.success());
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll gale") {
            break status;
        }
        if watchdog.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!(
                "gale run did not stop on SIG{signal}: {}",
                stderr.lock().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = reader.join();
    let stdout = out.join().unwrap();
    let stderr = stderr.lock().unwrap().clone();
    (status.code(), stdout, stderr)
}

#[test]
fn ctrl_c_drains_a_run_reports_it_and_exits_130() {
    let (code, stdout, stderr) = run_until_signal("INT");
    assert_eq!(code, Some(130), "{stderr}");
    assert!(
        stderr.contains("gale: SIGINT: draining and stopping"),
        "{stderr}"
    );
    assert!(stderr.contains("gale: stopped by SIGINT"), "{stderr}");
    // The report: the JSON on stdout (no partial counts before it), the
    // table on stderr; with --ack every tree emitted completed or failed.
    let json: Json =
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(json["stopped_by"], "SIGINT");
    let emitted = counter(&json, "spout", "emitted");
    assert!(emitted > 0, "{json}");
    assert_eq!(
        counter(&json, "spout", "acked") + counter(&json, "spout", "failed"),
        emitted,
        "{json}"
    );
    assert!(stderr.contains("component"), "{stderr}");
}

#[test]
fn sigterm_drains_a_run_reports_it_and_exits_143() {
    let (code, stdout, stderr) = run_until_signal("TERM");
    assert_eq!(code, Some(143), "{stderr}");
    assert!(stderr.contains("gale: stopped by SIGTERM"), "{stderr}");
    let json: Json =
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(json["stopped_by"], "SIGTERM");
    assert!(counter(&json, "count", "executed") > 0, "{json}");
}
