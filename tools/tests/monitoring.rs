//! The `gale` binary's monitoring: `--metrics-addr` with `gale stats`
//! against it, the live progress line (on a real pseudo-terminal, and
//! quiet without one), `--log-format json` with component and task spans,
//! and live metrics in the final JSON report.

mod util;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use serde_json::Value as Json;
use util::gale;

/// Waits for the run to print its metrics URL on stderr; the rest of
/// stderr is drained in the background.
fn metrics_url(child: &mut Child) -> String {
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(url) = line.strip_prefix("gale: metrics on ") {
                let _ = tx.send(url.trim().to_owned());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(120))
        .expect("watchdog: no `gale: metrics on URL` line within 120 s")
}

/// Kills the child when dropped (the test may fail half-way).
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The table row of the component of type `kind` (second column).
fn row<'a>(table: &'a str, kind: &str) -> Option<&'a str> {
    table
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(kind))
}

#[test]
fn gale_stats_prints_a_running_node_as_a_table() {
    let child = Command::new(env!("CARGO_BIN_EXE_gale"))
        .args([
            "run",
            "const-spout-null-bolt",
            "--duration",
            "120",
            "--threads",
            "2",
            "--no-pin",
            "--metrics-addr",
            "127.0.0.1:0",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn gale");
    let mut child = Killed(child);
    let url = metrics_url(&mut child.0);
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    // Until the spout's emits and the bolt's executes are both published
    // (each thread publishes its own; the machine may be loaded).
    let mut table = String::new();
    let positive = |table: &str, kind: &str, column: usize| {
        row(table, kind)
            .and_then(|l| l.split_whitespace().nth(column).map(str::to_owned))
            .is_some_and(|n| n.parse::<u64>().is_ok_and(|n| n > 0))
    };
    for _ in 0..600 {
        let run = gale(&["stats", &url]);
        assert!(run.ok(), "gale stats failed: {}", run.stderr);
        table = run.stdout;
        if positive(&table, "bolt", 6) && positive(&table, "spout", 4) {
            break;
        }
        thread::sleep(Duration::from_millis(100));
    }
    assert!(
        table.contains("topology `const-spout-null-bolt`"),
        "{table}"
    );
    assert!(table.contains("ACTIVE"), "{table}");
    for header in [
        "component",
        "rate/s",
        "emitted",
        "executed",
        "capacity",
        "latency µs",
    ] {
        assert!(table.contains(header), "`{header}` missing:\n{table}");
    }
    let spout = row(&table, "spout").unwrap_or_else(|| panic!("no spout row:\n{table}"));
    let emitted: u64 = spout.split_whitespace().nth(4).unwrap().parse().unwrap();
    assert!(emitted > 0, "{spout}");

    let taken = gale(&[
        "run",
        "wordcount",
        "--count",
        "10",
        "--metrics-addr",
        &url[7..url.len() - 1],
    ]);
    assert_eq!(taken.code, Some(1), "{}", taken.stderr);
    assert!(
        taken.stderr.contains("cannot listen on"),
        "{}",
        taken.stderr
    );
    let nonsense = gale(&[
        "run",
        "wordcount",
        "--count",
        "10",
        "--metrics-addr",
        "nonsense",
    ]);
    assert_eq!(nonsense.code, Some(1), "{}", nonsense.stderr);
    assert!(
        nonsense.stderr.contains("cannot listen on \"nonsense\""),
        "{}",
        nonsense.stderr
    );

    let bad = gale(&["stats", "http://127.0.0.1:1"]);
    assert!(!bad.ok());
    assert!(bad.stderr.contains("127.0.0.1:1"), "{}", bad.stderr);
    let bad = gale(&["stats", "not-a-url"]);
    assert_eq!(bad.code, Some(1));
    assert!(bad.stderr.contains("not an http://"), "{}", bad.stderr);
}

#[test]
fn no_progress_line_without_a_terminal_and_live_metrics_in_the_report() {
    let run = gale(&[
        "run",
        "wordcount",
        "--sentences",
        "2000",
        "--threads",
        "2",
        "--no-pin",
        "--sample-rate",
        "1",
        "--min-sample-interval-us",
        "0",
        "--json",
    ]);
    assert!(run.ok(), "{}", run.stderr);
    assert!(
        !run.stderr.contains('\r'),
        "progress drawn off a terminal:\n{}",
        run.stderr
    );
    assert!(!run.stderr.contains("tuples/s  acked"), "{}", run.stderr);
    let json: Json = serde_json::from_str(run.stdout.lines().last().unwrap()).unwrap();
    let split = &json["components"]["split"];
    assert_eq!(split["execute_latency_ns"]["count"], 2000, "{json}");
    assert!(split["capacity"].as_f64().is_some(), "{json}");
    assert!(
        run.stderr.contains("execute latency of `split`"),
        "{}",
        run.stderr
    );
}

#[test]
fn progress_line_on_a_terminal() {
    // `script` runs gale on a real pseudo-terminal (util-linux).
    let gale = env!("CARGO_BIN_EXE_gale");
    let cmd = format!("{gale} run const-spout-null-bolt --duration 3 --threads 2 --no-pin");
    let out = Command::new("script")
        .args(["-qefc", &cmd, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("run `script` (util-linux)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("\r\x1b[2Kgale: const-spout-null-bolt "),
        "no progress line:\n{text:?}"
    );
    assert!(text.contains("M tuples/s  acked 0  failed 0"), "{text:?}");
    // The final report follows the erased line.
    assert!(
        text.contains("gale: topology `const-spout-null-bolt` ran"),
        "{text:?}"
    );
}

#[test]
fn json_logs_carry_component_and_task_spans() {
    let child = Command::new(env!("CARGO_BIN_EXE_gale"))
        .args([
            "--log-format",
            "json",
            "run",
            "wordcount",
            "--count",
            "50",
            "--threads",
            "2",
            "--no-pin",
        ])
        .env("RUST_LOG", "gale_engine=debug")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn gale");
    let out = child.wait_with_output().expect("gale output");
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let logs: Vec<Json> = stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        logs.iter()
            .any(|l| l["fields"]["message"] == "starting topology"),
        "{stderr}"
    );
    let task = logs
        .iter()
        .find(|l| l["span"]["name"] == "task" && l["span"]["component"] == "split")
        .unwrap_or_else(|| panic!("no event in a split task's span:\n{stderr}"));
    assert!(task["span"]["task"].is_u64(), "{task}");
    assert!(
        task["timestamp"].is_string() && task["level"] == "DEBUG",
        "{task}"
    );
    // Filtered by RUST_LOG: nothing below debug, nothing from elsewhere.
    assert!(logs.iter().all(|l| l["level"] != "TRACE"));

    // Without RUST_LOG only warnings and errors are logged.
    let quiet = Command::new(env!("CARGO_BIN_EXE_gale"))
        .args([
            "run",
            "wordcount",
            "--count",
            "50",
            "--threads",
            "2",
            "--no-pin",
        ])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("run gale");
    let stderr = String::from_utf8_lossy(&quiet.stderr);
    assert!(quiet.status.success(), "{stderr}");
    assert!(
        !stderr.contains("opening") && !stderr.contains("starting topology"),
        "{stderr}"
    );
}
