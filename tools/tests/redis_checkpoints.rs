//! The Redis Streams spout as a rewindable spout under checkpoints, from
//! the Rust API, against a real `redis-server`: a stream of lines →
//! `RedisStreamSpout` (`delivery: offset`) → split → a stateful count
//! bolt whose counts are checkpointed into a directory. The process is
//! killed with SIGKILL twice mid-run and started again on the same
//! directory; each restart rewinds the spout to the position of the last
//! complete checkpoint, so the final counts equal the test's own count of
//! the stream exactly: nothing lost, nothing counted twice.
//!
//! The topology runs in a child process (this test binary started again
//! with `GALE_REDIS_CHECKPOINT_CHILD` set), so that it can be killed.

#[allow(dead_code)] // Postgres is not used here
#[path = "util/servers.rs"]
mod servers;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use gale::builtin::stateful_wordcount::StatefulCountBolt;
use gale::builtin::wordcount::{CountSink, SplitBolt};
use gale::connectors::{Delivery, EndpointConfig, RedisStreamConfig, RedisStreamSpout};
use gale::engine::state::{Checkpointing, DirBackend, StateBackend};
use gale::engine::{LocalCluster, RunConfig, TopologyBuilder};
use servers::{resp, temp_dir, Redis};

const CHILD: &str = "GALE_REDIS_CHECKPOINT_CHILD";
const TEST: &str = "a_redis_stream_counted_in_checkpointed_state_is_exact_after_two_kill_9s";
const ENTRIES: usize = 200_000;
const WATCHDOG: Duration = Duration::from_secs(180);

/// Line `i`: one to five words.
fn line(i: usize) -> String {
    const WORDS: [&str; 9] = [
        "alpha", "beta", "gamma", "delta", "kappa", "lambda", "sigma", "tau", "omega",
    ];
    (0..1 + i % 5)
        .map(|k| WORDS[(i * 31 + k * 7) % WORDS.len()])
        .collect::<Vec<_>>()
        .join(" ")
}

/// The child: runs the topology to its end and writes the final counts
/// (`word<TAB>count` lines) to the file named in `spec`.
fn child(spec: &str) {
    let mut parts = spec.split('\n');
    let (url, state, out) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let endpoint = EndpointConfig {
        url: Some(url.to_owned()),
        ..EndpointConfig::default()
    };
    let cfg = RedisStreamConfig {
        start: "0".to_owned(),
        until_idle: true,
        delivery: Delivery::Offset,
        batch: 200,
        ..RedisStreamConfig::new("lines", "wc", ["line"])
    };
    let counts = CountSink::new();
    let mut b = TopologyBuilder::new("redis-checkpoints");
    b.set_num_ackers(1).set_max_spout_pending(1000);
    b.set_checkpointing(Checkpointing::new(
        DirBackend::open(Path::new(state)).expect("the state directory"),
        Duration::from_millis(50),
    ));
    b.set_rewindable_spout(
        "lines",
        move || RedisStreamSpout::new(endpoint.clone(), cfg.clone()),
        1,
    );
    b.set_bolt("split", SplitBolt::default, 1)
        .shuffle_grouping("lines");
    let sink = counts.clone();
    b.set_stateful_bolt("count", move || StatefulCountBolt::new(sink.clone()), 1)
        .fields_grouping("split", ["word"]);
    let config = RunConfig {
        threads: 2,
        pin: false,
        ..RunConfig::default()
    };
    let stats = LocalCluster::new(config)
        .submit(b.build().expect("a valid topology"))
        .expect("started")
        .wait()
        .expect("ran to its end");
    assert!(stats.errors.is_empty(), "errors: {:?}", stats.errors);
    let text: String = counts
        .snapshot()
        .iter()
        .map(|(w, n)| format!("{w}\t{n}\n"))
        .collect();
    std::fs::write(out, text).expect("write the counts");
}

fn spawn(spec: &str) -> Child {
    Command::new(std::env::current_exe().expect("this test binary"))
        .args(["--exact", TEST, "--nocapture", "--test-threads", "1"])
        .env(CHILD, spec)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the child")
}

/// The last complete checkpoint in `state`.
fn current(state: &Path) -> u64 {
    DirBackend::open(state)
        .ok()
        .and_then(|b| b.current().ok().flatten())
        .unwrap_or(0)
}

/// Waits for checkpoint `n` to be complete, then kills `child` (SIGKILL);
/// fails if it ended first.
fn kill_after_checkpoint(mut child: Child, state: &Path, n: u64) {
    let start = Instant::now();
    while current(state) < n {
        if let Some(status) = child.try_wait().expect("poll the child") {
            panic!("the run ended ({status}) before checkpoint {n}: raise ENTRIES");
        }
        assert!(start.elapsed() < WATCHDOG, "watchdog: no checkpoint {n}");
        thread::sleep(Duration::from_millis(5));
    }
    child.kill().expect("kill -9 the child"); // SIGKILL
    let status = child.wait().expect("reap the child");
    assert!(!status.success(), "killed, not finished: {status}");
}

/// The group's `last-delivered-id` (`XINFO GROUPS`).
fn group_id(redis: &Redis) -> String {
    let info = redis.cli(&["XINFO", "GROUPS", "lines"]).unwrap_or_default();
    let mut lines = info.lines();
    while let Some(l) = lines.next() {
        if l.trim() == "last-delivered-id" {
            return lines.next().unwrap_or_default().trim().to_owned();
        }
    }
    String::new()
}

#[test]
fn a_redis_stream_counted_in_checkpointed_state_is_exact_after_two_kill_9s() {
    if let Ok(spec) = std::env::var(CHILD) {
        return child(&spec);
    }
    let redis = Redis::start();
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    let mut cmds = Vec::new();
    for i in 0..ENTRIES {
        let l = line(i);
        for w in l.split_whitespace() {
            *expected.entry(w.to_owned()).or_insert(0) += 1;
        }
        resp(&mut cmds, &[b"XADD", b"lines", b"*", b"line", l.as_bytes()]);
    }
    redis.pipe(&cmds);
    let last = redis
        .cli(&["XREVRANGE", "lines", "+", "-", "COUNT", "1"])
        .and_then(|s| s.lines().next().map(|l| l.trim().to_owned()))
        .expect("the last entry id");
    let dir = temp_dir("redis-checkpoints");
    let state = dir.join("state");
    std::fs::create_dir_all(&state).unwrap();
    let out = dir.join("counts");
    let spec = format!("{}\n{}\n{}", redis.url(), state.display(), out.display());

    kill_after_checkpoint(spawn(&spec), &state, 3);
    // Acks do not move the group under checkpoints: it is where it began.
    assert_eq!(group_id(&redis), "0-0");
    let at_first = current(&state);
    kill_after_checkpoint(spawn(&spec), &state, at_first + 3);
    // The restart set the group back to the rewound position: mid-stream.
    let rewound = group_id(&redis);
    assert!(
        rewound != "0-0" && rewound != last,
        "the group's id after a rewind: {rewound} (last entry {last})"
    );

    let mut third = spawn(&spec);
    let start = Instant::now();
    let status = loop {
        if let Some(s) = third.try_wait().expect("poll the child") {
            break s;
        }
        assert!(
            start.elapsed() < WATCHDOG,
            "watchdog: the last run did not end"
        );
        thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "the last run failed: {status}");
    let counts: BTreeMap<String, u64> = std::fs::read_to_string(&out)
        .expect("the counts file")
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(w, n)| (w.to_owned(), n.parse().expect("a count")))
        .collect();
    assert_eq!(counts, expected, "exactly-once counts after two kill -9s");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn group_delivery_asked_to_rewind_stops_with_an_error_naming_the_key() {
    let redis = Redis::start();
    redis.pipe(&{
        let mut cmds = Vec::new();
        resp(&mut cmds, &[b"XADD", b"lines", b"*", b"line", b"a b c"]);
        cmds
    });
    let dir = temp_dir("redis-group-rewind");
    let endpoint = EndpointConfig {
        url: Some(redis.url()),
        ..EndpointConfig::default()
    };
    let cfg = RedisStreamConfig {
        start: "0".to_owned(),
        ..RedisStreamConfig::new("lines", "wc", ["line"])
    };
    let mut b = TopologyBuilder::new("group-rewind");
    b.set_num_ackers(1);
    b.set_checkpointing(Checkpointing::new(
        DirBackend::open(&dir).expect("the state directory"),
        Duration::from_millis(20),
    ));
    b.set_rewindable_spout(
        "events",
        move || RedisStreamSpout::new(endpoint.clone(), cfg.clone()),
        1,
    );
    b.set_bolt("split", SplitBolt::default, 1)
        .shuffle_grouping("events");
    let config = RunConfig {
        threads: 2,
        pin: false,
        ..RunConfig::default()
    };
    let running = LocalCluster::new(config)
        .submit(b.build().expect("a valid topology"))
        .expect("started");
    let start = Instant::now();
    let error = loop {
        let errors = running.stats().errors;
        if let Some(e) = errors.into_iter().find(|e| e.component == "events") {
            break e.message;
        }
        assert!(start.elapsed() < WATCHDOG, "watchdog: no error reported");
        thread::sleep(Duration::from_millis(20));
    };
    running.stop();
    let _ = running.wait();
    assert!(
        error.contains("redis-stream-spout")
            && error.contains("`events`")
            && error.contains("`delivery`")
            && error.contains("`group` cannot rewind"),
        "{error}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
