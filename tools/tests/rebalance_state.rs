//! `gale rebalance` of a topology that takes checkpoints, on 3 real
//! `gale node` processes running `stateful-wordcount` with its counts in
//! a directory all nodes share or in a real `redis-server`: the stateful
//! `count` bolt goes from 2 to 5 tasks and back while the spouts emit;
//! every switch is on a checkpoint, each new task restores the words its
//! fields grouping routes to it, and the final counts are exactly those
//! of the input. A rewindable spout's task count is refused.

#[allow(dead_code)] // shared with nodes.rs, which uses all of it
#[path = "util/nodes.rs"]
mod nodes_util;
#[allow(dead_code)] // shared with the other CLI tests
mod util;

use std::collections::BTreeMap;
use std::path::Path;

use gale::builtin::wordcount::expected_counts;
use nodes_util::{
    after_nth, cluster_file, eventually, free_port_on_all, start_nodes, topology_statuses, Node,
    Scratch, REBALANCED, RUNNING,
};
use util::gale;
use util::servers::Redis;

const SECRET: &str = "8f2d6b1e4a9c3075d1e8b2f6a4c9e3d7b5a1f8c2e6d4b9a7c3f1e5d8b2a6c4e9";
/// Logged once every task of a node has ended (its spouts finished and
/// everything before their last barrier was processed).
const FINISHED: &str = "every task of this process has finished";
/// Logged by a task of a resized stateful bolt as it restores.
const SPLIT: &str = "restoring the entries this task owns under the new task count";
/// Enough that the spouts are still emitting at both rebalances (checked
/// before each: the test says so if not).
const SENTENCES: u64 = 600_000;
const NODES: usize = 3;

/// `gale rebalance -e count=N`: asserts it switched every node on one
/// checkpoint and one fingerprint, after the spouts emitted.
fn rebalance_count(cluster: &Path, tasks: usize, nodes: &[Node], n: usize, net: u8, port: u16) {
    eventually("emission before the rebalance", || {
        topology_statuses(net, port, NODES, None)
            .iter()
            .all(|t| t["spouts_emitted"].as_u64() > Some(0))
    });
    for node in nodes {
        let text = match n {
            1 => node.stderr.text(),
            _ => after_nth(node, REBALANCED, n - 1),
        };
        assert!(
            !text.contains(FINISHED),
            "node {} finished before rebalance {n}; raise SENTENCES",
            node.id
        );
    }
    let change = format!("count={tasks}");
    let run = gale(&[
        "rebalance",
        "--cluster",
        cluster.to_str().unwrap(),
        "-e",
        &change,
        "--wait",
        "120",
    ]);
    assert!(run.ok(), "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("every node restored checkpoint"),
        "{}",
        run.stdout
    );
    let lines: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("node "))
        .collect();
    assert_eq!(lines.len(), NODES, "{}", run.stdout);
    let fingerprint = |l: &str| l.rsplit(' ').next().unwrap_or_default().to_owned();
    assert!(
        lines
            .iter()
            .all(|l| fingerprint(l) == fingerprint(lines[0])),
        "{}",
        run.stdout
    );
    for node in nodes {
        eventually("the node's switch", || {
            !after_nth(node, REBALANCED, n).is_empty()
        });
    }
}

/// Runs the word count on 3 nodes with `flag state`, rebalances `count`
/// 2 -> 5 -> 2 mid-run, lets it finish and checks the counts.
fn rebalance_keeps_every_count(name: &str, net: u8, flag: &str, state: &str) {
    let dir = Scratch::new(name);
    let port = free_port_on_all(net, NODES);
    let settings = format!("{}\nmetrics_port = {port}", dir.shm_setting());
    let cluster = dir.file(
        "cluster.toml",
        &cluster_file(net, SECRET, &[1; NODES], &[], &settings),
    );
    let n = SENTENCES.to_string();
    let args = [
        "stateful-wordcount",
        "--count",
        &n,
        "--spouts",
        "3",
        "--bolts",
        "2",
        flag,
        state,
        "--checkpoint-ms",
        "200",
    ];
    let nodes = start_nodes(&cluster, NODES, &args, RUNNING);

    // A rewindable spout keeps its task count: refused before anything
    // changes, naming it.
    let bad = gale(&[
        "rebalance",
        "--cluster",
        cluster.to_str().unwrap(),
        "-e",
        "spout=2",
    ]);
    assert_eq!(bad.code, Some(1), "{}\n{}", bad.stdout, bad.stderr);
    assert!(
        bad.stderr.contains("`spout` is a rewindable spout"),
        "{}",
        bad.stderr
    );

    rebalance_count(&cluster, 5, &nodes, 1, net, port);
    // The tasks of the 5 restored their share of the 2 old tasks' words
    // (as they started: before the node logs that it runs again).
    let splits: usize = nodes
        .iter()
        .map(|n| n.stderr.text().matches(SPLIT).count())
        .sum();
    assert_eq!(splits, 5, "the 5 new tasks did not each split the counts");
    rebalance_count(&cluster, 2, &nodes, 2, net, port);

    eventually("every node finished", || {
        for node in &nodes {
            let text = node.stderr.text();
            assert!(
                !text.contains("gale: error:"),
                "node {} failed:\n{}",
                node.id,
                nodes
                    .iter()
                    .map(|n| format!("node {}:\n{}", n.id, n.stderr.text()))
                    .collect::<String>()
            );
        }
        nodes.iter().all(|n| n.stderr.text().contains(FINISHED))
    });
    let mut total: BTreeMap<String, u64> = BTreeMap::new();
    // The node that printed each word: with each entry on the task its
    // grouping routes the word to, no word is counted on two nodes.
    let mut printed_by: BTreeMap<String, u32> = BTreeMap::new();
    let mut logs = String::new();
    for node in &nodes {
        node.signal("TERM");
    }
    for node in nodes {
        let id = node.id;
        let (code, out, err) = node.finish();
        assert_eq!(code, Some(143), "node {id}:\n{err}");
        logs += &format!("node {id}:\n{err}\n");
        for (word, c) in out.lines().filter_map(|l| l.split_once('\t')) {
            *total.entry(word.to_owned()).or_insert(0) += c.parse::<u64>().expect("a count");
            if let Some(other) = printed_by.insert(word.to_owned(), id) {
                panic!(
                    "`{word}` is counted on nodes {other} and {id}: its state did not follow it"
                );
            }
        }
    }
    assert_eq!(total, expected_counts(SENTENCES), "{logs}");
}

#[test]
fn rebalancing_a_stateful_count_with_a_shared_directory_moves_each_word_with_its_count() {
    let data = Scratch::new("rebalance-state-dir-data");
    let state = data.0.to_str().unwrap().to_owned();
    rebalance_keeps_every_count("rebalance-state-dir", 63, "--state-dir", &state);
}

#[test]
fn rebalancing_a_stateful_count_with_redis_moves_each_word_with_its_count() {
    let redis = Redis::start();
    rebalance_keeps_every_count("rebalance-state-redis", 64, "--state-url", &redis.url());
}
