//! `gale node stateful-wordcount` over three real `gale node` processes on
//! loopback, with the counts' checkpoints in a real `redis-server`
//! (`--state-url`) or in one directory all nodes see (`--state-dir`):
//! one node killed with SIGKILL mid-run (its peers stop by themselves),
//! then all three, then a run to the end: the counts are exactly those
//! of the input (exactly-once across nodes). And a directory the nodes
//! do not share is refused, naming it; and a topology file's
//! `config.state` checkpoints across nodes without flags.

#[path = "util/nodes.rs"]
#[allow(dead_code)] // shared with tests/nodes.rs
mod nodes_util;
#[allow(dead_code)] // shared with the other CLI tests
mod util;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gale::builtin::wordcount::expected_counts;
use nodes_util::{cluster_file, Node, Scratch, PATIENCE};
use serde_json::Value as Json;
use util::servers::Redis;

const SECRET: &str = "5d1e0a9c73b24f86e0d15c9a27b3f4e8a6c20d97f1b35e4a8c07d2e96b14f3a5";
/// Logged by a node once every one of its tasks has ended (the spouts
/// finished and everything before their last barrier was processed).
const FINISHED: &str = "every task of this process has finished";
const SENTENCES_RUN: u64 = 400_000;
const NODES: u32 = 3;

/// The node arguments: two spout tasks and two of each bolt, spread over
/// the three nodes, so barriers cross the links at every stage.
fn args<'a>(flag: &'a str, state: &'a str, count: &'a str) -> Vec<&'a str> {
    vec![
        "stateful-wordcount",
        "--count",
        count,
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

/// The greatest checkpoint every node has marked in the Redis backend.
fn complete_in_redis(redis: &Redis) -> Option<u64> {
    let keys = redis.cli(&["KEYS", "gale:state:stateful-wordcount:done:*"])?;
    keys.lines()
        .filter(|k| {
            redis
                .cli(&["SCARD", k])
                .and_then(|n| n.trim().parse::<u32>().ok())
                == Some(NODES)
        })
        .filter_map(|k| k.rsplit(':').next()?.parse().ok())
        .max()
}

/// The greatest checkpoint every node has marked in the directory.
fn complete_in_dir(dir: &Path) -> Option<u64> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter_map(|e| {
            let id = e.file_name().to_str()?.strip_prefix("chk-")?.parse().ok()?;
            let path = e.path();
            (0..NODES)
                .all(|n| path.join(format!("node-{n}.done")).exists())
                .then_some(id)
        })
        .max()
}

/// Waits until `complete` names a checkpoint newer than `than`.
fn wait_complete(complete: &dyn Fn() -> Option<u64>, than: Option<u64>, nodes: &mut [Node]) {
    let start = Instant::now();
    while complete() <= than {
        for node in nodes.iter() {
            assert!(
                !node.stderr.text().contains(FINISHED),
                "node {} finished before a kill; raise SENTENCES_RUN",
                node.id
            );
        }
        assert!(
            start.elapsed() < PATIENCE,
            "no checkpoint completed after {than:?}:\n{}",
            nodes[0].stderr.text()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Stops `nodes` (SIGTERM to all, then a drained exit, 143, from each) and adds
/// up the counts they print and their spouts' `emitted`.
fn stop_and_count(nodes: Vec<Node>) -> (BTreeMap<String, u64>, u64) {
    for node in &nodes {
        node.signal("TERM");
    }
    let mut total = BTreeMap::new();
    let mut emitted = 0;
    for node in nodes {
        let id = node.id;
        let (code, out, err) = node.finish();
        // Drained and stopped by SIGTERM: 143, as `gale run` ends.
        assert_eq!(code, Some(143), "node {id}:\n{err}");
        for line in out.lines() {
            if line.starts_with('{') {
                let json: Json = serde_json::from_str(line).unwrap();
                emitted += json["components"]["spout"]["emitted"].as_u64().unwrap_or(0);
            } else if let Some((word, n)) = line.split_once('\t') {
                *total.entry(word.to_owned()).or_insert(0) += n.parse::<u64>().unwrap();
            }
        }
    }
    (total, emitted)
}

/// Kills node 2 mid-run (its peers must stop by themselves, saying why),
/// then all three mid-run, then runs to the end: the counts the nodes
/// print must add up to exactly the input's.
fn kill_restart_and_count(
    name: &str,
    net: u8,
    flag: &str,
    state: &str,
    complete: &dyn Fn() -> Option<u64>,
) {
    let dir = Scratch::new(name);
    let settings = dir.shm_setting();
    let file = dir.file(
        "cluster.toml",
        &cluster_file(net, SECRET, &[1, 1, 1], &[], &settings),
    );
    let count = SENTENCES_RUN.to_string();
    let args = args(flag, state, &count);
    let start = || -> Vec<Node> { (0..NODES).map(|id| Node::start(&file, id, &args)).collect() };

    // Round 1: node 2 killed; nodes 0 and 1 stop on their own.
    let mut nodes = start();
    wait_complete(complete, None, &mut nodes);
    let first = complete();
    std::thread::sleep(Duration::from_millis(30));
    let victim = nodes.pop().expect("three nodes");
    victim.signal("KILL");
    assert_eq!(victim.finish().0, None, "kill -9 leaves no exit code");
    for node in nodes {
        let id = node.id;
        let (code, _, err) = node.finish();
        assert_ne!(code, Some(0), "node {id} ran on without node 2:\n{err}");
        assert!(err.contains("restart every node"), "node {id}:\n{err}");
    }

    // Round 2: all three restarted (from the last complete checkpoint),
    // then all three killed after a checkpoint of their own.
    let mut nodes = start();
    wait_complete(complete, first, &mut nodes);
    std::thread::sleep(Duration::from_millis(77));
    // One `kill` for all three, so that none sees another go first.
    let status = Command::new("kill")
        .arg("-KILL")
        .args(nodes.iter().map(|n| n.pid().to_string()))
        .status()
        .unwrap();
    assert!(status.success());
    for node in nodes {
        assert_eq!(node.finish().0, None);
    }

    // Round 3: to the end.
    let mut nodes = start();
    for node in &mut nodes {
        node.wait_for(FINISHED);
    }
    let (total, emitted) = stop_and_count(nodes);
    assert_eq!(total, expected_counts(SENTENCES_RUN));
    // The last run resumed: its spouts emitted less than the whole input
    // (barriers count as emits too, so compare with room for them).
    assert!(emitted < SENTENCES_RUN, "emitted {emitted}: not resumed");
}

#[test]
fn over_three_nodes_with_redis_killed_and_restarted_it_counts_exactly_once() {
    let redis = Redis::start();
    let url = redis.url();
    kill_restart_and_count("state-redis", 41, "--state-url", &url, &|| {
        complete_in_redis(&redis)
    });
    // Older checkpoints are deleted once a newer one is complete.
    let keys = redis
        .cli(&["KEYS", "gale:state:stateful-wordcount:chk:*"])
        .unwrap();
    assert_eq!(keys.lines().count(), 1, "{keys}");
}

#[test]
fn over_three_nodes_with_a_shared_directory_killed_and_restarted_it_counts_exactly_once() {
    let dir = Scratch::new("state-dir-data");
    let state = dir.0.to_str().unwrap().to_owned();
    kill_restart_and_count("state-dir", 42, "--state-dir", &state, &|| {
        complete_in_dir(&dir.0)
    });
}

/// Two nodes, each in a directory of its own, given the same relative
/// `--state-dir`: each sees only its own files, which would leave every
/// checkpoint incomplete forever; both refuse to run, naming the
/// directory.
#[test]
fn a_state_directory_the_nodes_do_not_share_is_refused() {
    let dir = Scratch::new("state-unshared");
    let file = dir.file(
        "cluster.toml",
        &cluster_file(43, SECRET, &[1, 1], &[], &dir.shm_setting()),
    );
    let children: Vec<_> = (0..2)
        .map(|id| {
            let cwd = dir.0.join(format!("n{id}"));
            std::fs::create_dir_all(cwd.join("state")).unwrap();
            Command::new(env!("CARGO_BIN_EXE_gale"))
                .current_dir(&cwd)
                .args(["node", "--cluster"])
                .arg(&file)
                .args([
                    "--node",
                    &id.to_string(),
                    "--no-pin",
                    "--connect-timeout",
                    "60",
                ])
                .args(args("--state-dir", "state", "1000"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (id, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "node {id}:\n{err}");
        let other = 1 - id;
        assert!(
            err.contains(&format!("does not see node(s) [{other}] in `state`")),
            "node {id}:\n{err}"
        );
    }
}

/// A topology file whose `config.state` names the Redis server, run by
/// two `gale node`s without state flags: to the end, then again, when it
/// resumes from its last checkpoint (its spouts emit nothing more) and
/// still prints exact counts.
#[test]
fn a_topology_file_with_config_state_checkpoints_across_nodes() {
    const N: u64 = 20_000;
    let redis = Redis::start();
    let dir = Scratch::new("state-file-nodes");
    let settings = dir.shm_setting();
    let cluster = dir.file(
        "cluster.toml",
        &cluster_file(44, SECRET, &[1, 1], &[], &settings),
    );
    let topology = dir.file(
        "counted.yaml",
        &format!(
            "\
name: counted
config:
  state: {{backend: redis, url: \"{url}\", checkpoint_interval_ms: 50}}
spouts:
  - {{id: spout, builtin: sentences, parallelism: 2, args: {{count: {N}, reliable: false}}}}
bolts:
  - {{id: split, builtin: split, parallelism: 2}}
  - {{id: count, builtin: stateful-count, parallelism: 2}}
streams:
  - {{from: spout, to: split, grouping: shuffle}}
  - {{from: split, to: count, grouping: {{type: fields, fields: [word]}}}}
",
            url = redis.url()
        ),
    );
    let topology = topology.to_str().unwrap();
    for round in 0..2 {
        let mut nodes: Vec<Node> = (0..2)
            .map(|id| Node::start(&cluster, id, &[topology, "--json"]))
            .collect();
        for node in &mut nodes {
            node.wait_for(FINISHED);
        }
        let (total, emitted) = stop_and_count(nodes);
        assert_eq!(total, expected_counts(N), "round {round}");
        if round == 1 {
            assert!(emitted < 100, "emitted {emitted}: not resumed from the end");
        }
    }
    let keys = redis.cli(&["KEYS", "gale:state:counted:done:*"]).unwrap();
    assert_eq!(keys.lines().count(), 1, "{keys}");
}
