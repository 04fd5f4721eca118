//! `gale rebalance` on a cluster of 3 real `gale node` processes running
//! a finite, acked word count: the `split` and `count` bolts go from 2 to
//! 5 tasks and back while the spouts emit; bad requests are refused before
//! anything changes. The nodes require a metrics bearer token, which `gale list`,
//! `gale rebalance` and `gale kill` send with `--token-file`, and which a
//! node sends to its peers for the cluster-wide view.

#[allow(dead_code)] // shared with nodes.rs, which uses all of it
#[path = "util/nodes.rs"]
mod nodes_util;
mod util;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use gale::builtin::wordcount::expected_counts;
use nodes_util::{
    after_nth, cluster_file, eventually, free_port_on_all, start_nodes, topology_statuses, Node,
    Scratch, REBALANCED, RUNNING,
};
use serde_json::Value as Json;
use util::gale;

const SECRET: &str = "3c9e1a7f5b2d4e6081a3c5e7f9b1d3a5c7e9f1b3d5a7c9e1f3b5d7a9c1e3f5b7";
const SPOUTS_DONE: &str = "all spouts of this node finished";
/// Enough that the spouts (one per node, 2 trees in flight each) are still emitting
/// at both rebalances: checked before each, the test says so if not.
const SENTENCES: u64 = 40_000;
const TOKEN: &str = "b7e2c9a41f6d3e8b";

/// Nodes of the cluster.
const NODES: usize = 3;

/// `gale ARGS --cluster FILE --token-file TOKEN_FILE`.
fn cli(args: &[&str], cluster: &Path) -> util::Run {
    let mut all = args.to_vec();
    let token = cluster.with_file_name("token");
    all.extend(["--cluster", cluster.to_str().unwrap()]);
    all.extend(["--token-file", token.to_str().unwrap()]);
    gale(&all)
}

/// Node 0's `/api/v1/cluster/topology/<name>` and `/metrics?scope=cluster`
/// show every node up.
fn cluster_view_sees_every_node(net: u8, port: u16) {
    let name = topology_statuses(net, port, NODES, Some(TOKEN))[0]["name"]
        .as_str()
        .expect("a name")
        .to_owned();
    let get = |path: &str| {
        let url = format!("http://127.{net}.0.1:{port}{path}");
        let (code, body) =
            gale::monitor::get_with_token(&url, Duration::from_secs(10), Some(TOKEN)).expect("GET");
        assert_eq!(code, 200, "{url}");
        String::from_utf8(body).expect("UTF-8")
    };
    let doc: Json =
        serde_json::from_str(&get(&format!("/api/v1/cluster/topology/{name}"))).expect("JSON");
    assert_eq!(doc["nodesUp"], 3, "{doc}");
    let nodes = doc["nodes"].as_array().expect("nodes");
    assert!(nodes.iter().all(|n| n["state"] == "up"), "{doc}");
    let metrics = get("/metrics?scope=cluster");
    for n in 0..NODES {
        let up = format!("gale_node_up{{node=\"node-{n}\"}} 1");
        assert!(metrics.contains(&up), "{up} not in:\n{metrics}");
    }
}

/// The `word<TAB>count` lines of a node's stdout.
fn counts(stdout: &str) -> BTreeMap<String, u64> {
    stdout
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(w, n)| (w.to_owned(), n.parse().expect("a count")))
        .collect()
}

/// Rebalances with `changes` (`COMPONENT=N` each); its stdout. Asserts
/// every node switched to one new fingerprint, and returns the trees
/// failed for replay.
fn rebalance(cluster: &Path, changes: &[&str], nodes: &[Node], n: usize) -> (String, u64) {
    let mut args = vec!["rebalance"];
    for change in changes {
        args.extend(["-e", change]);
    }
    args.extend(["--wait", "60"]);
    let run = cli(&args, cluster);
    assert!(run.ok(), "{}\n{}", run.stdout, run.stderr);
    let lines: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("node "))
        .collect();
    assert_eq!(lines.len(), NODES, "{}", run.stdout);
    let fingerprint = |l: &str| l.rsplit(' ').next().unwrap_or_default().to_owned();
    for line in &lines[1..] {
        assert_eq!(fingerprint(lines[0]), fingerprint(line), "{}", run.stdout);
    }
    assert_eq!(fingerprint(lines[0]).len(), 64, "{}", run.stdout);
    let replayed = lines
        .iter()
        .map(|l| {
            let n = l.split(", ").nth(1).and_then(|p| p.split(' ').next());
            n.and_then(|n| n.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("{l}"))
        })
        .sum();
    for node in nodes {
        let text = after_nth(node, REBALANCED, n);
        assert!(
            !text.is_empty(),
            "node {} did not rebalance:\n{}",
            node.id,
            node.stderr.text()
        );
    }
    (run.stdout, replayed)
}

#[test]
fn rebalance_changes_bolts_tasks_mid_run_and_back_without_losing_a_word() {
    let dir = Scratch::new("rebalance");
    let net = 62;
    let port = free_port_on_all(net, NODES);
    let settings = format!("link_backend = \"mio\"\nmetrics_port = {port}");
    let cluster = dir.file(
        "cluster.toml",
        &cluster_file(net, SECRET, &[1; NODES], &[], &settings),
    );
    let token = dir.file("token", TOKEN);
    std::fs::set_permissions(&token, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod 600");
    let n = SENTENCES.to_string();
    let args = [
        "--metrics-token-file",
        token.to_str().unwrap(),
        "wordcount",
        "--ack",
        "--count",
        &n,
        "--spouts",
        "3",
        "--bolts",
        "2",
        "--max-pending",
        "2",
    ];
    let nodes = start_nodes(&cluster, NODES, &args, RUNNING);
    eventually("emission on both nodes", || {
        topology_statuses(net, port, NODES, Some(TOKEN))
            .iter()
            .all(|t| t["spouts_emitted"].as_u64() > Some(0))
    });
    let list = cli(&["list"], &cluster);
    assert!(list.ok(), "{}", list.stderr);
    let tasks = |split: u32, count: u32| format!("count={count} split={split}");
    assert_eq!(
        list.stdout.matches(&tasks(2, 2)).count(),
        NODES,
        "{}",
        list.stdout
    );
    assert!(list.stdout.contains("nodes up: 3/3"), "{}", list.stdout);
    // Without the token the nodes refuse the status request.
    let anonymous = gale(&["list", "--cluster", cluster.to_str().unwrap()]);
    assert!(
        anonymous.stdout.contains("nodes up: 0/3"),
        "{}",
        anonymous.stdout
    );
    assert!(anonymous.stdout.contains("401"), "{}", anonymous.stdout);
    // A node's cluster-wide view asks its peers with its own token: all
    // three are up in it (a peer asked without would answer 401).
    cluster_view_sees_every_node(net, port);

    // Refused before anything changes: an unknown component (named, with
    // the ones there are), a task count of 0 (a usage error).
    let bad = cli(&["rebalance", "-e", "cuont=4"], &cluster);
    assert_eq!(bad.code, Some(1), "{}\n{}", bad.stdout, bad.stderr);
    assert!(
        bad.stderr.contains("no component `cuont`") && bad.stderr.contains("spout, split, count"),
        "{}",
        bad.stderr
    );
    let zero = cli(&["rebalance", "-e", "count=0"], &cluster);
    assert_eq!(zero.code, Some(2), "{}", zero.stderr);
    assert!(zero.stderr.contains("at least 1 task"), "{}", zero.stderr);
    let list = cli(&["list"], &cluster);
    assert_eq!(
        list.stdout.matches("ACTIVE").count(),
        NODES,
        "{}",
        list.stdout
    );
    assert!(!list.stdout.contains("REBALANCING"), "{}", list.stdout);

    // split and count: 2 -> 5 while the spouts emit.
    for node in &nodes {
        assert!(
            !node.stderr.text().contains(SPOUTS_DONE),
            "the run finished before the rebalance; raise SENTENCES"
        );
    }
    let (_, replayed_1) = rebalance(&cluster, &["split=5", "count=5"], &nodes, 1);
    let list = cli(&["list"], &cluster);
    assert!(list.ok(), "{}", list.stderr);
    assert_eq!(
        list.stdout.matches(&tasks(5, 5)).count(),
        NODES,
        "{}",
        list.stdout
    );
    assert_eq!(
        list.stdout.matches("ACTIVE").count(),
        NODES,
        "{}",
        list.stdout
    );
    // The new run emits (its spouts carried their position over).
    eventually("emission after the first rebalance", || {
        topology_statuses(net, port, NODES, Some(TOKEN))
            .iter()
            .all(|t| t["spouts_emitted"].as_u64() > Some(0))
    });

    // And back: 5 -> 2.
    for node in &nodes {
        assert!(
            !after_nth(node, REBALANCED, 1).contains(SPOUTS_DONE),
            "the run finished before the second rebalance; raise SENTENCES"
        );
    }
    // Deactivated first: the new run starts deactivated too.
    let run = cli(&["deactivate"], &cluster);
    assert!(run.ok(), "{}\n{}", run.stdout, run.stderr);
    let (_, replayed_2) = rebalance(&cluster, &["split=2", "count=2"], &nodes, 2);
    let list = cli(&["list"], &cluster);
    assert_eq!(
        list.stdout.matches(&tasks(2, 2)).count(),
        NODES,
        "{}",
        list.stdout
    );
    assert_eq!(
        list.stdout.matches("INACTIVE").count(),
        NODES,
        "{}",
        list.stdout
    );
    assert!(
        topology_statuses(net, port, NODES, Some(TOKEN))
            .iter()
            .all(|t| t["spouts_emitted"].as_u64() == Some(0)),
        "a spout of the deactivated topology emits"
    );
    let run = cli(&["activate"], &cluster);
    assert!(run.ok(), "{}\n{}", run.stdout, run.stderr);

    // Every tree of the last run completes, then the nodes are killed and
    // print their counts.
    eventually("the spouts finished after the second rebalance", || {
        nodes
            .iter()
            .all(|node| after_nth(node, REBALANCED, 2).contains(SPOUTS_DONE))
    });
    let kill = cli(&["kill", "--wait", "1"], &cluster);
    assert!(kill.ok(), "{}\n{}", kill.stdout, kill.stderr);
    let mut total: BTreeMap<String, u64> = BTreeMap::new();
    let mut logs = String::new();
    for node in nodes {
        let id = node.id;
        let (code, out, err) = node.finish();
        assert_eq!(code, Some(0), "node {id}:\n{err}");
        logs += &format!("node {id}:\n{err}\n");
        for (word, c) in counts(&out) {
            *total.entry(word).or_insert(0) += c;
        }
    }
    let expected = expected_counts(SENTENCES);
    if replayed_1 + replayed_2 == 0 {
        // Every tree completed within the wait: nothing was replayed, so
        // every sentence was counted exactly once.
        assert_eq!(total, expected, "{logs}");
    } else {
        // At-least-once: replayed trees may have been counted in part
        // before; no word is lost.
        assert_eq!(
            total.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>()
        );
        for (word, n) in &expected {
            assert!(total[word] >= *n, "{word}: {} < {n}", total[word]);
        }
    }
}
