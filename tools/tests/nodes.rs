//! Several `gale node` processes on loopback addresses: exact word counts
//! across three nodes (io_uring, mio, two nodes sharing a host), node loss
//! with acking, refused peers, a record for a task the node does not own,
//! and `gale plan`.

#[path = "util/nodes.rs"]
mod nodes_util;
mod util;

use std::collections::BTreeMap;

use gale::builtin::wordcount::expected_counts;
use nodes_util::{cluster_file, listen_addr, Node, Scratch, RUNNING};
use serde_json::Value as Json;
use util::gale;

const SECRET: &str = "8f0a6c2e51d94b7a3c0e9f12d6a84b5e7c1f03a9e2b64d8c5a7f10e3b9c2d461";
/// Logged by a node once its spouts are finished and (with acking) every
/// tree they started is complete.
const SPOUTS_DONE: &str = "all spouts of this node finished";

/// The `word<TAB>count` lines a node printed, and its JSON report.
fn counts_and_json(stdout: &str) -> (BTreeMap<String, u64>, Json) {
    let mut counts = BTreeMap::new();
    let mut json = Json::Null;
    for line in stdout.lines() {
        if line.starts_with('{') {
            json = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        } else if let Some((word, n)) = line.split_once('\t') {
            let n: u64 = n.parse().unwrap_or_else(|e| panic!("{e}: {line:?}"));
            counts.insert(word.to_owned(), n);
        } else {
            panic!("unexpected line on stdout: {line:?}");
        }
    }
    (counts, json)
}

fn counter(json: &Json, component: &str, key: &str) -> u64 {
    json["components"][component][key]
        .as_u64()
        .unwrap_or_else(|| panic!("`{component}.{key}` missing in {json}"))
}

/// Whether `json`'s link to `peer` runs through shared memory.
fn shm_to(json: &Json, peer: u64) -> bool {
    let peers = json["link"]["peers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let link = peers.iter().find(|p| p["id"] == peer);
    link.is_some_and(|p| p["shm"] == true)
}

/// The 3-node cluster file of a test on `127.<net>.0.x`: 2, 2 and 1
/// threads, with `hosts`, and `settings` plus the test's own `shm_dir`.
fn three_nodes(dir: &Scratch, net: u8, hosts: &[Option<&str>], settings: &str) -> String {
    let settings = format!("{settings}\n{}", dir.shm_setting());
    cluster_file(net, SECRET, &[2, 2, 1], hosts, &settings)
}

/// Runs a finite, acked word count of `sentences` over three nodes and
/// checks that the counts the nodes print add up exactly (and, if nodes 1
/// and 2 share a host, that they talked through shared memory).
fn wordcount_over_three_nodes(
    name: &str,
    net: u8,
    hosts: &[Option<&str>],
    settings: &str,
    sentences: u64,
) {
    let dir = Scratch::new(name);
    let shm = hosts.len() == 3 && hosts[1].is_some() && hosts[1] == hosts[2];
    let file = dir.file("cluster.toml", &three_nodes(&dir, net, hosts, settings));
    let n = sentences.to_string();
    let args = ["wordcount", "--count", &n, "--ack", "--json"];
    let mut nodes: Vec<Node> = (0..3).map(|id| Node::start(&file, id, &args)).collect();
    // The spout is task 1, on node 0; with acking, its finishing means
    // every word was counted.
    nodes[0].wait_for(SPOUTS_DONE);
    let mut total = BTreeMap::new();
    let mut links = Vec::new();
    for node in nodes {
        let id = node.id;
        let (out, err) = node.stop();
        let (counts, json) = counts_and_json(&out);
        if shm && id > 0 {
            assert!(
                shm_to(&json, 3 - u64::from(id)),
                "node {id}: no shm link: {json}"
            );
        }
        assert!(json.is_object(), "no JSON report:\n{out}\n{err}");
        assert_eq!(json["node"], id, "{json}");
        assert_eq!(
            json["fingerprint"].as_str().map(str::len),
            Some(64),
            "{json}"
        );
        for (word, c) in counts {
            *total.entry(word).or_insert(0) += c;
        }
        links.push(json["link"].clone());
    }
    assert_eq!(total, expected_counts(sentences), "links: {links:?}");
}

#[test]
fn wordcount_over_three_nodes_with_mio() {
    let settings = "link_backend = \"mio\"
message_timeout_ms = 120000";
    wordcount_over_three_nodes("wc-mio", 21, &[], settings, 3000);
}

#[test]
fn wordcount_over_three_nodes_with_io_uring() {
    let settings = "link_backend = \"io_uring\"
message_timeout_ms = 120000";
    wordcount_over_three_nodes("wc-uring", 22, &[], settings, 3000);
}

#[test]
fn wordcount_over_three_nodes_two_sharing_a_host() {
    let hosts = [None, Some("box"), Some("box")];
    wordcount_over_three_nodes("wc-shm", 23, &hosts, "message_timeout_ms = 120000", 3000);
}

/// Runs an acked word count over three nodes, kills node 2 with SIGKILL
/// in the middle and restarts it: the spout (node 0) must see every
/// sentence acked exactly once, some after a replay.
fn kill_and_restart(name: &str, net: u8, hosts: &[Option<&str>]) {
    const SENTENCES: u64 = 200_000;
    let dir = Scratch::new(name);
    let sharing = hosts.len() == 3 && hosts[1].is_some() && hosts[1] == hosts[2];
    let settings = format!(
        "message_timeout_ms = 2000\nmax_spout_pending = 200\n{}",
        dir.shm_setting()
    );
    let cluster = cluster_file(net, SECRET, &[1, 1, 1], hosts, &settings);
    let file = dir.file("cluster.toml", &cluster);
    let n = SENTENCES.to_string();
    let args = ["wordcount", "--count", &n, "--ack", "--json"];
    let mut nodes: Vec<Node> = (0..3).map(|id| Node::start(&file, id, &args)).collect();
    for node in &mut nodes {
        node.wait_for(RUNNING);
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(
        !nodes[0].stderr.text().contains(SPOUTS_DONE),
        "the run finished before the kill; raise SENTENCES"
    );
    let victim = nodes.pop().expect("three nodes");
    victim.signal("KILL");
    let (code, _, _) = victim.finish();
    assert_eq!(code, None, "kill -9 leaves no exit code");
    let mut restarted = Node::start(&file, 2, &args);
    restarted.wait_for(RUNNING);
    nodes.push(restarted);
    nodes[0].wait_for(SPOUTS_DONE);
    let mut reports = Vec::new();
    for (i, node) in nodes.into_iter().enumerate() {
        // Nodes 0 and 1 lost node 2 (over TCP, or node 1 over the rings of
        // a shared host): their reports and exit codes say so (what node
        // 2 held in memory, and the tuples in flight, are gone). The
        // restarted node lost nothing.
        let (out, err) = match i {
            2 => node.stop(),
            _ => node.stop_with(3),
        };
        let (_, json) = counts_and_json(&out);
        assert!(json.is_object(), "no JSON report:\n{out}\n{err}");
        if i < 2 {
            assert!(err.contains("lost node 2 while running"), "{err}");
            assert!(err.contains("lost peer(s) [2] during the run"), "{err}");
            let to_2 = json["link"]["peers"]
                .as_array()
                .and_then(|p| p.iter().find(|p| p["id"] == 2))
                .unwrap_or_else(|| panic!("node {i}'s link to node 2"));
            assert!(to_2["lost"].as_u64() >= Some(1), "{json}");
        }
        if i == 1 && sharing {
            // Lost on the shared-memory rings, not over TCP.
            assert!(
                err.lines()
                    .any(|l| l.contains("lost node 2 while running") && l.contains("shm=true")),
                "{err}"
            );
        }
        reports.push(json);
    }
    if sharing {
        // The restarted node is back on fresh shared-memory rings.
        assert!(shm_to(&reports[2], 1), "no shm link: {}", reports[2]);
    }
    let spout = &reports[0];
    // Every sentence position was acked exactly once at the spout; the
    // ones lost with the killed node failed (timed out) and were replayed.
    assert_eq!(counter(spout, "spout", "acked"), SENTENCES, "{spout}");
    assert!(
        counter(spout, "spout", "failed") > 0,
        "nothing was lost: {spout}"
    );
}

#[test]
fn a_killed_and_restarted_node_loses_no_spout_message() {
    kill_and_restart("kill", 24, &[]);
}

#[test]
fn a_killed_and_restarted_node_sharing_a_host_loses_no_spout_message() {
    kill_and_restart("kill-shm", 28, &[None, Some("box"), Some("box")]);
}

/// Starts node 0 of `good` and node 1 of `bad` (a 2-node cluster) and
/// checks both give up, with a log line matching one of `reasons` on both
/// sides.
fn refused(name: &str, good: &str, bad: &str, args0: &[&str], args1: &[&str], reasons: &[&str]) {
    let dir = Scratch::new(name);
    let good = dir.file("good.toml", good);
    let bad = dir.file("bad.toml", bad);
    let mut args0 = args0.to_vec();
    args0.extend(["--connect-timeout", "8"]);
    let mut args1 = args1.to_vec();
    args1.extend(["--connect-timeout", "8"]);
    let n0 = Node::start(&good, 0, &args0);
    let n1 = Node::start(&bad, 1, &args1);
    for node in [n0, n1] {
        let id = node.id;
        let (code, _, err) = node.finish();
        assert_eq!(code, Some(1), "node {id} should give up:\n{err}");
        assert!(err.contains("did not connect"), "node {id}:\n{err}");
        let lower = err.to_lowercase();
        assert!(
            reasons.iter().any(|r| lower.contains(r)),
            "node {id} logged none of {reasons:?}:\n{err}"
        );
    }
}

#[test]
fn a_peer_with_the_wrong_secret_is_refused() {
    let good = cluster_file(25, SECRET, &[1, 1], &[], "link_backend = \"mio\"");
    // The same nodes at the same addresses, with another secret.
    let bad = good.replace(
        SECRET,
        "3b7e19c4a05d82f6e1c94a7b20d5f83e6a19c07b4d2e85f3a6c1097e4b28d5f0",
    );
    let args = ["const-spout-null-bolt"];
    refused(
        "secret",
        &good,
        &bad,
        &args,
        &args,
        &["does not hold the same cluster secret"],
    );
}

#[test]
fn a_peer_with_another_topology_is_refused() {
    let cluster = cluster_file(26, SECRET, &[1, 1], &[], "link_backend = \"mio\"");
    refused(
        "topology",
        &cluster,
        &cluster,
        &["const-spout-null-bolt"],
        &["const-spout-null-bolt", "--tuple-size", "100"],
        &["fingerprint mismatch"],
    );
}

#[test]
fn plan_is_deterministic_and_printed_by_every_node() {
    let dir = Scratch::new("plan");
    let cluster = cluster_file(27, SECRET, &[2, 1, 3], &[None, Some("a"), Some("a")], "");
    let file = dir.file("cluster.toml", &cluster);
    let path = file.to_str().expect("utf-8 path");
    let plan = |extra: &[&str]| {
        let mut args = vec!["plan", "--cluster", path, "wordcount", "--ack"];
        args.extend(extra);
        let run = gale(&args);
        assert!(run.ok(), "{}", run.stderr);
        run.stdout
    };
    let first = plan(&[]);
    assert_eq!(first, plan(&[]), "two plans differ");
    assert!(first.contains("fingerprint "), "{first}");
    for node in [
        format!("node 0 ({}, 2 threads)", listen_addr(&cluster, 0)),
        format!("node 2 ({}, 3 threads, host a)", listen_addr(&cluster, 2)),
    ] {
        assert!(first.contains(&node), "{first}");
    }
    // Six threads over three nodes: six split and six count tasks, spread.
    for thread in ["node 0", "node 1", "node 2"] {
        let section = first.split(thread).nth(1).expect("node section");
        assert!(
            section.contains("split#") && section.contains("count#"),
            "{first}"
        );
    }
    // Other options, another fingerprint.
    let fingerprint = |p: &str| p.split("fingerprint ").nth(1).map(|f| f[..64].to_owned());
    assert_ne!(fingerprint(&first), fingerprint(&plan(&["--count", "5"])));
    // A node prints the same plan first thing.
    let mut node = Node::start(&file, 1, &["wordcount", "--ack", "--connect-timeout", "1"]);
    node.wait_for("starting node");
    let (_, _, err) = node.finish();
    assert!(
        err.starts_with(&first),
        "node's plan:\n{err}\nvs gale plan:\n{first}"
    );
    // A node id the file does not have.
    let run = gale(&["node", "--cluster", path, "--node", "9", "wordcount"]);
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr.contains("node 9 is not in the cluster file"),
        "{}",
        run.stderr
    );
    // Mistakes in the file name the node and field.
    let bad = dir.file("bad.toml", &cluster.replace("threads = 3", "threads = 0"));
    let run = gale(&[
        "plan",
        "--cluster",
        bad.to_str().expect("utf-8"),
        "wordcount",
    ]);
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains("node 2: `threads`"), "{}", run.stderr);
}

/// Accepts every record into inbound ring 0 (the test's own node).
struct AcceptAll;

impl gale::transport::link::InboundRoute for AcceptAll {
    fn route(&self, _peer: u32, _task: u32, _record: &[u8]) -> Result<usize, String> {
        Ok(0)
    }
}

/// A ring record for the link: a record batch of one record for `task`,
/// an archived tuple with one string on stream `stream`.
fn write_record(ring: &mut gale::Producer, task: u32, stream: u32) {
    let header = gale::Header {
        stream,
        source_task: 1,
        ..gale::Header::default()
    };
    let values = [gale::Value::from("x")];
    let tuple = gale::TupleRef {
        header: &header,
        values: &values,
    };
    let mut slot = ring.try_reserve(8 + 256).expect("room in the ring");
    let used = gale::Encoder::new()
        .encode_into(tuple, &mut slot[8..])
        .expect("encode");
    // The record's header: its length, then its tag (the task).
    slot[..4].copy_from_slice(&(used as u32).to_le_bytes());
    slot[4..8].copy_from_slice(&task.to_le_bytes());
    slot.commit_len(8 + used.next_multiple_of(8));
    ring.flush();
}

#[test]
fn a_record_for_a_task_the_node_does_not_own_drops_the_connection() {
    use gale::transport::link::{Backend, Link, LinkConfig, LinkRings, PeerSpec};

    let dir = Scratch::new("foreign");
    let cluster = cluster_file(
        29,
        SECRET,
        &[1, 1],
        &[],
        "link_backend = \"mio\"\nackers = 0",
    );
    let file = dir.file("cluster.toml", &cluster);
    let plan = gale(&[
        "plan",
        "--cluster",
        file.to_str().expect("utf-8"),
        "const-spout-null-bolt",
    ]);
    assert!(plan.ok(), "{}", plan.stderr);
    // constSpout#1 on node 0 (this test), nullBolt#2 on node 1 (a real node).
    assert!(
        plan.stdout.contains("thread 0: nullBolt#2"),
        "{}",
        plan.stdout
    );
    let hex = &plan
        .stdout
        .split("fingerprint ")
        .nth(1)
        .expect("fingerprint")[..64];
    let fingerprint: [u8; 32] = hex_bytes(hex).try_into().expect("32 bytes");
    let mut victim = Node::start(&file, 1, &["const-spout-null-bolt", "--json"]);

    // This test is node 0: a real link with the cluster's secret and
    // fingerprint, whose outbound ring we fill by hand.
    let rings = gale::RingConfig::new(1 << 16);
    let (mut out, out_rx) = gale::ring(rings).expect("ring");
    let (in_tx, _in_rx) = gale::ring(rings).expect("ring");
    let peer = PeerSpec::new(1, listen_addr(&cluster, 1).parse().expect("addr"));
    let config = LinkConfig::new(
        0,
        listen_addr(&cluster, 0).parse().expect("addr"),
        vec![peer],
        hex_bytes(SECRET),
        fingerprint,
    )
    .with_backend(Backend::Mio);
    let link = Link::start(
        config,
        LinkRings {
            outbound: vec![(1, vec![out_rx])],
            inbound: vec![in_tx],
        },
        Box::new(AcceptAll),
    )
    .expect("start the test's link");
    assert!(
        link.wait_connected(nodes_util::PATIENCE),
        "node 1 never connected"
    );
    victim.wait_for(RUNNING);

    // A good tuple for nullBolt#2, then one for constSpout#1, which runs on
    // node 0: node 1 must refuse it and drop the connection, and go on.
    // (In two frames: a frame with a bad record is refused whole.)
    write_record(&mut out, 2, 0);
    nodes_util::eventually("the good record sent", || {
        link.stats().peers[0].records_out >= 1
    });
    write_record(&mut out, 1, 0);
    victim.wait_for("record for task 1, which runs on node 0, not this one");
    let (out_text, err) = victim.stop();
    link.stop();
    let (_, json) = counts_and_json(&out_text);
    assert_eq!(counter(&json, "nullBolt", "executed"), 1, "{json}\n{err}");
    assert!(
        json["link"]["peers"][0]["refused"].as_u64() >= Some(1),
        "{json}"
    );
}

/// A scratch directory with a 2-node cluster file on `127.<net>.0.x`, the
/// file's path, and the text of the Python word count's topology file.
fn python_wordcount_plan(name: &str, net: u8) -> (Scratch, String, String) {
    let dir = Scratch::new(name);
    let cluster = cluster_file(net, SECRET, &[1, 1], &[None, None], "");
    let cluster = dir.file("cluster.toml", &cluster);
    let cluster = cluster.to_str().expect("utf-8 path").to_owned();
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/python/wordcount.yaml"
    );
    let text = std::fs::read_to_string(example).expect("the example topology file");
    (dir, cluster, text)
}

#[test]
fn a_topology_file_is_planned_and_its_text_is_in_the_fingerprint() {
    let (dir, cluster, text) = python_wordcount_plan("plan-file", 28);
    let cluster = cluster.as_str();
    let plan = |file: &std::path::Path, extra: &[&str]| {
        let mut args = vec!["plan", "--cluster", cluster, file.to_str().expect("utf-8")];
        args.extend(extra);
        gale(&args)
    };
    let original = dir.file("wordcount.yaml", &text);
    let first = plan(&original, &[]);
    assert!(first.ok(), "{}", first.stderr);
    assert!(
        first.stdout.contains("topology `wordcount-python`"),
        "{}",
        first.stdout
    );
    for task in ["sentences#", "split#", "count#", "__acker#"] {
        assert!(first.stdout.contains(task), "{}", first.stdout);
    }
    assert_eq!(
        first.stdout,
        plan(&original, &[]).stdout,
        "two plans differ"
    );
    // A change the plan does not show (a shell argument) still changes the
    // fingerprint: the nodes would run different programs.
    let changed = dir.file(
        "changed.yaml",
        &text.replace("split_bolt.py, json", "split_bolt.py, msgpack"),
    );
    assert_ne!(text, std::fs::read_to_string(&changed).expect("written"));
    let second = plan(&changed, &[]);
    assert!(second.ok(), "{}", second.stderr);
    let fingerprint = |p: &str| p.split("fingerprint ").nth(1).map(|f| f[..64].to_owned());
    assert_ne!(fingerprint(&first.stdout), fingerprint(&second.stdout));
    // Options of built-in topologies are refused with a file.
    let refused = plan(&original, &["--count", "5"]);
    assert_eq!(refused.code, Some(1), "{}", refused.stderr);
    assert!(refused.stderr.contains("--count"), "{}", refused.stderr);
}

#[test]
fn included_files_are_in_the_fingerprint() {
    let (dir, cluster, text) = python_wordcount_plan("plan-includes", 27);
    let cluster = cluster.as_str();
    // The bolts move to an included file; the including file stays the same.
    let (head, rest) = text.split_once("\nbolts:\n").expect("a bolts section");
    let (bolts, streams) = rest.split_once("\nstreams:\n").expect("a streams section");
    let main =
        format!("{head}\nincludes:\n  - file: bolts.yaml\n    override: true\nstreams:\n{streams}");
    let main = dir.file("main.yaml", &main);
    let fingerprint = |bolts_text: &str| {
        dir.file("bolts.yaml", &format!("bolts:\n{bolts_text}\n"));
        let run = gale(&["plan", "--cluster", cluster, main.to_str().expect("utf-8")]);
        assert!(run.ok(), "{}", run.stderr);
        assert!(run.stdout.contains("split#"), "{}", run.stdout);
        run.stdout
            .split("fingerprint ")
            .nth(1)
            .map(|f| f[..64].to_owned())
            .expect("a fingerprint")
    };
    let first = fingerprint(bolts);
    assert_eq!(first, fingerprint(bolts), "two plans differ");
    // A change in the included file only (a shell argument, which the plan
    // does not show) changes the fingerprint: the nodes would not link.
    let changed = bolts.replace("split_bolt.py, json", "split_bolt.py, msgpack");
    assert_ne!(changed, bolts);
    assert_ne!(first, fingerprint(&changed));
}

#[test]
fn sigterm_while_waiting_for_peers_stops_the_node_cleanly() {
    let dir = Scratch::new("sigterm-connect");
    let cluster = cluster_file(30, SECRET, &[1, 1], &[None, None], "");
    let file = dir.file("cluster.toml", &cluster);
    // Node 1 never starts: node 0 waits for it (far longer than the test).
    let mut node = Node::start(&file, 0, &["wordcount", "--connect-timeout", "600"]);
    node.wait_for("link started");
    node.signal("TERM");
    let (code, _, err) = node.finish();
    assert_eq!(
        code,
        Some(1),
        "killed by the signal instead of stopping:\n{err}"
    );
    assert!(err.contains("stopped while waiting for peers [1]"), "{err}");
}

/// The bytes of a hex string (the secret as a cluster file holds it, a
/// fingerprint as `gale plan` prints it).
fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}
