//! Misbehaving shell children (tests/python/faulty_split.py): each fault
//! is a clear error naming the component, Gale does not panic, the other
//! tasks keep running, and the reliable word count still comes out exact
//! (pending inputs of a lost child are failed and replayed).

mod util;

use std::time::Duration;

use gale::builtin::wordcount::expected_counts;
use gale::engine::{LocalCluster, RunError, TopologyBuilder, TopologyStats};
use gale::multilang::{ShellBolt, ShellConfig, ShellSpout};
use util::*;

const SENTENCES: u64 = 200;

/// Runs the word count with a faulty split bolt (2 tasks; the first child
/// to get a tuple misbehaves once) and checks the counts are exact.
fn faulty(mode: &str, tune: impl FnOnce(ShellConfig) -> ShellConfig) -> TopologyStats {
    faulty_with(mode, tune, Duration::from_secs(30))
}

fn faulty_with(
    mode: &str,
    tune: impl FnOnce(ShellConfig) -> ShellConfig,
    message_timeout: Duration,
) -> TopologyStats {
    faulty_with_metrics(mode, tune, message_timeout).0
}

/// [`faulty_with`], with the live metrics at the end.
fn faulty_with_metrics(
    mode: &str,
    tune: impl FnOnce(ShellConfig) -> ShellConfig,
    message_timeout: Duration,
) -> (TopologyStats, gale::engine::TopologyMetrics) {
    let tmp = scratch(&format!("fault-{mode}"));
    let dir = tmp.path();
    let marker = dir.join("marker").display().to_string();
    let split = tune(python_split(&[&script("faulty_split.py"), mode, &marker]));
    let (topology, counts) = wordcount_with(split, SENTENCES, 2, message_timeout);
    let (stats, metrics) = run_finite_with_metrics(topology);
    assert!(dir.join("marker").exists(), "no child misbehaved");
    assert_eq!(counts.snapshot(), expected_counts(SENTENCES), "{mode}");
    (stats, metrics)
}

fn assert_error(stats: &TopologyStats, text: &str) {
    let found = errors_with(stats, "split", text);
    assert!(
        !found.is_empty(),
        "no error of `split` contains {text:?}; errors: {:#?}",
        stats.errors
    );
}

#[test]
fn a_crashed_child_is_restarted_and_its_pending_tuples_replayed() {
    let (stats, metrics) = faulty_with_metrics("crash", |c| c, Duration::from_secs(30));
    // The restart shows in the metrics of the split task whose child crashed.
    let restarts = sum_labelled(
        &metrics,
        "gale_multilang_restarts_total",
        ("component", "split"),
    );
    assert!(restarts >= 1.0, "{:#?}", metrics.samples);
    let pending = metrics
        .samples
        .iter()
        .filter(|s| s.name == "gale_multilang_pending");
    assert_eq!(pending.count(), 2, "one pending gauge per split task");
    assert_error(&stats, "the subprocess exited (exit status 3)");
    assert_error(&stats, "crashing on purpose");
    assert_error(&stats, "pending tuple(s) failed; restarting it");
    assert!(stats.components["split"].failed > 0);
}

#[test]
fn a_hung_child_is_killed_and_restarted_after_the_timeout() {
    let stats = faulty("hang", |c| {
        // Long enough that a healthy child starved by a loaded machine is
        // not taken for hung mid-sentence (its words would count twice).
        c.subprocess_timeout(Duration::from_secs(5))
            .heartbeat_interval(Duration::from_millis(200))
    });
    assert_error(&stats, "sent nothing for 5s (hung); killed it");
}

#[test]
fn an_idle_child_that_ignores_heartbeats_is_hung_and_restarted() {
    let tmp = scratch("silent-heartbeat");
    let dir = tmp.path();
    let marker = dir.join("marker").display().to_string();
    let split = python_split(&[&script("faulty_split.py"), "silent-heartbeat", &marker])
        .subprocess_timeout(Duration::from_millis(500))
        .heartbeat_interval(Duration::from_millis(50));
    let mut b = TopologyBuilder::new("silent");
    b.set_spout("spout", || Idle, 1);
    b.set_bolt("split", move || ShellBolt::new(split.clone()), 1)
        .shuffle_grouping("spout");
    let running = LocalCluster::new(config(WATCHDOG))
        .submit(b.build().unwrap())
        .unwrap();
    // Wait for two kills (so a restarted child was found hung too).
    let start = std::time::Instant::now();
    while running.stats().components["split"].errors < 2 && start.elapsed() < WATCHDOG {
        std::thread::sleep(Duration::from_millis(50));
    }
    running.stop();
    let stats = running.wait().unwrap();
    let hung = errors_with(&stats, "split", "(hung); killed it");
    assert!(hung.len() >= 2, "{:#?}", stats.errors);
}

#[test]
fn malformed_json_is_an_error_naming_the_component() {
    let stats = faulty("malformed", |c| c);
    assert_error(&stats, "malformed JSON");
}

#[test]
fn an_unknown_command_is_an_error() {
    let stats = faulty("unknown", |c| c);
    assert_error(&stats, "unknown command `dance`");
}

#[test]
fn an_emit_to_an_undeclared_stream_is_an_error() {
    let stats = faulty("undeclared", |c| c);
    assert_error(&stats, "undeclared stream `nope`");
}

#[test]
fn an_emit_with_the_wrong_field_count_is_an_error() {
    let stats = faulty("arity", |c| c);
    assert_error(&stats, "emitted 2 values on stream `default`");
}

#[test]
fn an_ack_of_an_unknown_id_is_an_error() {
    let stats = faulty("unknown-ack", |c| c);
    assert_error(&stats, "ack of an unknown tuple id");
}

#[test]
fn an_error_command_is_reported_with_the_component() {
    let stats = faulty("error", |c| c);
    assert_error(
        &stats,
        "the subprocess reported: something went wrong in Python",
    );
}

#[test]
fn a_tuple_the_child_never_acks_is_forgotten_after_the_message_timeout() {
    // The spout replays the sentence when its tree times out; the bolt
    // forgets its copy so the finite run can end.
    let stats = faulty_with(
        "drop",
        |c| c.heartbeat_interval(Duration::from_millis(100)),
        Duration::from_secs(2),
    );
    assert_error(
        &stats,
        "neither acked nor failed 1 tuple(s) within the message timeout",
    );
}

/// The peak resident memory of this process so far (`VmHWM`), in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

#[test]
fn a_16_mb_message_of_numbers_is_an_error_and_its_child_restarts_in_bounded_memory() {
    const CHILD: &str = "GALE_TEST_HUGE_MESSAGE_CHILD";
    const NAME: &str =
        "a_16_mb_message_of_numbers_is_an_error_and_its_child_restarts_in_bounded_memory";
    if std::env::var_os(CHILD).is_none() {
        // Run again in a process of its own, so that the peak memory
        // measured is this test's alone.
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([NAME, "--exact", "--nocapture", "--test-threads", "1"])
            .env(CHILD, "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{text}");
        assert!(text.contains("1 passed"), "the test did not run: {text}");
        if let Some(at) = text.find("peak resident") {
            println!("{}", text[at..].lines().next().unwrap_or(""));
        }
        return;
    }
    let before = peak_rss_kib();
    let stats = faulty("huge", |c| c);
    let grown = peak_rss_kib().saturating_sub(before);
    println!("peak resident memory grew by {grown} KiB");
    // Every sentence counted exactly (checked by `faulty`): the child's
    // pending inputs were failed and replayed, nothing acked was lost.
    let found = errors_with(&stats, "split", "more than 262144 values in one message");
    assert!(!found.is_empty(), "{:#?}", stats.errors);
    assert!(
        found[0].message.contains("restarting it") && found[0].task > 0,
        "{found:#?}"
    );
    // 16 MB of JSON built into values would take some 500 MB.
    assert!(grown < 64 << 10, "peak memory grew by {grown} KiB");
}

/// The error a task stopped `topology` with (it would run for 2 minutes
/// otherwise).
fn stopped_by(topology: gale::engine::Topology) -> gale::engine::TaskError {
    let err = LocalCluster::new(config(Duration::from_secs(120)))
        .submit(topology)
        .unwrap()
        .wait()
        .unwrap_err();
    match err {
        RunError::TaskFailed(e) => e,
        other => panic!("expected TaskFailed, got {other:?}"),
    }
}

#[test]
fn a_command_that_cannot_start_stops_the_topology_naming_it() {
    let split =
        ShellConfig::new("/nonexistent/gale-no-such-program", ["x"]).stream("default", ["word"]);
    let (topology, counts) = wordcount(split, SENTENCES, 1);
    // An endless run (the spout replays what fails) unless the bolt stops it.
    let e = stopped_by(topology);
    assert_eq!(e.component, "split", "{e:?}");
    assert!(
        e.message
            .contains("cannot start `/nonexistent/gale-no-such-program x` (5 attempts in a row"),
        "{e:?}"
    );
    assert!(
        counts.snapshot().is_empty(),
        "nothing went through the split bolt"
    );
}

#[test]
fn a_child_that_fails_its_handshake_stops_the_topology_with_its_stderr() {
    // Python starts, then dies on an import before it answers: the
    // handshake fails each time, with the traceback on stderr.
    let split = ShellConfig::new(python(), ["-c", "import gale_no_such_module"])
        .stream("default", ["word"])
        .start_attempts(2);
    let (topology, _) = wordcount(split, SENTENCES, 2);
    let e = stopped_by(topology);
    assert_eq!(e.component, "split", "{e:?}");
    assert!(
        e.message.contains("handshake failed")
            && e.message.contains("No module named 'gale_no_such_module'")
            && e.message
                .contains("(2 attempts in a row; it never started)"),
        "{e:?}"
    );
}

#[test]
fn a_spout_whose_command_cannot_start_stops_the_topology() {
    let spout = ShellConfig::new("/nonexistent/gale-no-such-spout", Vec::<String>::new())
        .stream("default", ["sentence"])
        .start_attempts(3);
    let mut b = TopologyBuilder::new("dead-spout");
    b.set_spout("sentences", move || ShellSpout::new(spout.clone()), 1);
    b.set_bolt("split", gale::builtin::wordcount::SplitBolt::default, 1)
        .shuffle_grouping("sentences");
    let e = stopped_by(b.build().unwrap());
    assert_eq!(e.component, "sentences", "{e:?}");
    assert!(
        e.message
            .contains("cannot start `/nonexistent/gale-no-such-spout` (3 attempts in a row"),
        "{e:?}"
    );
}

#[test]
fn with_no_start_limit_a_command_that_cannot_start_is_retried_and_its_inputs_fail() {
    let split = ShellConfig::new("/nonexistent/gale-no-such-program", ["x"])
        .stream("default", ["word"])
        .start_attempts(0);
    let (topology, _) = wordcount(split, SENTENCES, 1);
    let stats = LocalCluster::new(config(Duration::from_secs(3)))
        .submit(topology)
        .unwrap()
        .wait()
        .unwrap();
    assert_error(&stats, "cannot start `/nonexistent/gale-no-such-program x`");
    assert!(stats.components["split"].failed > 0);
    let attempts = errors_with(&stats, "split", "cannot start").len();
    // 100 + 200 + 400 + 800 + 1600 ms of back-off fit in 3 s: more than 5.
    assert!(attempts > 5, "{attempts} attempts in 3 s");
}

/// A faulty shell spout → Gale's split and count bolts, run until the
/// count bolt has seen words from a restarted child.
fn faulty_spout(mode: &str) -> TopologyStats {
    let tmp = scratch(&format!("spout-{mode}"));
    let dir = tmp.path();
    let marker = dir.join("marker").display().to_string();
    let spout = ShellConfig::new(
        python(),
        [script("faulty_spout.py"), mode.to_owned(), marker],
    )
    .stream("default", ["sentence"])
    .subprocess_timeout(Duration::from_secs(2));
    let mut b = TopologyBuilder::new("faulty-spout");
    b.set_spout("sentences", move || ShellSpout::new(spout.clone()), 1);
    b.set_bolt("split", gale::builtin::wordcount::SplitBolt::default, 1)
        .shuffle_grouping("sentences");
    let running = LocalCluster::new(config(WATCHDOG))
        .submit(b.build().unwrap())
        .unwrap();
    let start = std::time::Instant::now();
    let restarted = |s: &TopologyStats| {
        s.components["sentences"].errors > 0 && s.components["split"].executed > 10
    };
    while !restarted(&running.stats()) && start.elapsed() < WATCHDOG {
        std::thread::sleep(Duration::from_millis(50));
    }
    running.stop();
    let stats = running.wait().unwrap();
    assert!(restarted(&stats), "{stats:#?}");
    stats
}

#[test]
fn a_crashed_spout_child_is_restarted() {
    let stats = faulty_spout("crash");
    let found = errors_with(&stats, "sentences", "the subprocess exited (exit status 4)");
    assert!(!found.is_empty(), "{:#?}", stats.errors);
    assert!(
        found[0].message.contains("crashing on purpose"),
        "{:#?}",
        found
    );
}

#[test]
fn a_hung_spout_child_is_killed_and_the_worker_goes_on() {
    let stats = faulty_spout("hang");
    let found = errors_with(&stats, "sentences", "did not answer next within 2s (hung)");
    assert!(!found.is_empty(), "{:#?}", stats.errors);
}

#[test]
fn a_pystorm_bolt_that_raises_is_reported_restarted_and_replayed() {
    let tmp = scratch("raising");
    let dir = tmp.path();
    let marker = dir.join("marker").display().to_string();
    let split = python_split(&[&script("raising_bolt.py"), "json", &marker]);
    let (topology, counts) = wordcount(split, SENTENCES, 2);
    let stats = run_finite(topology);
    assert_eq!(counts.snapshot(), expected_counts(SENTENCES));
    assert_error(&stats, "the subprocess reported: Python ValueError raised");
    assert_error(&stats, "this sentence is cursed");
    assert_error(&stats, "the subprocess exited (exit status 1)");
}
