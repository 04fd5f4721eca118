//! Two nodes of one topology in this process, each with its own link on a
//! loopback address: tuples cross nodes exactly once, local-or-shuffle
//! prefers the emitter's thread, then its node, and a slow node holds back
//! a spout on another node (bounded in flight).

mod util;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use gale_engine::cluster::{ClusterFile, ClusterPlan};
use gale_engine::{NodeCluster, RunningTopology, Topology, TopologyBuilder};
use util::{all_ids, config, wait, wait_until, Numbers, Recorder, Sink};

/// A cluster of two nodes with `threads` threads each on `127.<net>.0.x`,
/// mio links (the io_uring link is tested by the `gale` node tests).
fn cluster(net: u8, threads: usize) -> ClusterFile {
    let mut text =
        String::from("secret = \"8f0a6c2e51d94b7a3c0e9f12d6a84b5e7c1f03a9e2b64d8c5a7f10e3b9c2d461\"\n[settings]\nlink_backend = \"mio\"\n");
    for id in 0..2 {
        // A port free now on the node's own address (the listener closes
        // at once), so that test runs side by side do not collide.
        let ip = format!("127.{net}.0.{}", id + 1);
        let port = std::net::TcpListener::bind((ip.as_str(), 0))
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        text += &format!("[[node]]\nid = {id}\nlisten = \"{ip}:{port}\"\nthreads = {threads}\n");
    }
    ClusterFile::parse(&text).expect("valid cluster file")
}

/// Starts both nodes (each waits for the other, so from two threads).
fn start(topology: &Topology, cluster: &ClusterFile) -> Vec<RunningTopology> {
    let starts: Vec<_> = (0..2)
        .map(|node| {
            let plan = ClusterPlan::new(topology.clone(), cluster, node, b"").expect("plan");
            let node = NodeCluster::new(plan, config(0, 1 << 16))
                .with_connect_timeout(Duration::from_secs(60));
            thread::spawn(move || node.submit().expect("node starts"))
        })
        .collect();
    starts
        .into_iter()
        .map(|h| h.join().expect("start"))
        .collect()
}

fn stop(nodes: Vec<RunningTopology>) {
    for n in &nodes {
        n.stop();
    }
    for n in nodes {
        wait(n, "node").expect("clean stop");
    }
}

#[test]
fn fields_grouping_across_two_nodes_delivers_each_tuple_once() {
    const N: u64 = 20_000;
    let sink = Sink::new();
    let mut b = TopologyBuilder::new("cross");
    b.set_num_ackers(0);
    b.set_spout("numbers", || Numbers::new(N), 2);
    let s = Arc::clone(&sink);
    b.set_bolt("record", move || Recorder::new(&s), 4)
        .fields_grouping("numbers", ["key"]);
    let topology = b.build().unwrap();
    let cluster = cluster(31, 2);
    let nodes = start(&topology, &cluster);
    wait_until("every tuple recorded", || {
        sink.tuples.lock().unwrap().len() as u64 >= 2 * N
    });
    stop(nodes);
    let recs = sink.tuples();
    let ids: Vec<i64> = recs.iter().map(|r| r.id()).collect();
    let unique: BTreeSet<i64> = ids.iter().copied().collect();
    assert_eq!(ids.len(), unique.len(), "a tuple arrived twice");
    assert_eq!(unique, all_ids(&[1, 2], N));
    // Tasks 1, 2 are the spouts (node 0 and node 1); record tasks 3..6
    // alternate nodes too, so tuples crossed in both directions.
    let plan = ClusterPlan::new(topology, &cluster, 0, b"").unwrap();
    let node_of = |task| plan.tasks().find(|t| t.0 == task).unwrap().2;
    let crossed = recs
        .iter()
        .filter(|r| node_of(r.task) != node_of(r.source_task))
        .count();
    assert!(crossed > 0 && crossed < recs.len(), "{crossed} crossed");
}

/// Nodes named by hostname (as in a Kubernetes StatefulSet): each
/// resolves its own name to bind, and the link resolves its peer's.
#[test]
fn nodes_named_by_hostname_connect_and_deliver() {
    const N: u64 = 5_000;
    let mut text =
        String::from("secret = \"8f0a6c2e51d94b7a3c0e9f12d6a84b5e7c1f03a9e2b64d8c5a7f10e3b9c2d461\"\n[settings]\nlink_backend = \"mio\"\n");
    for id in 0..2 {
        // A port free now (the listener closes at once).
        let port = std::net::TcpListener::bind("localhost:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        text += &format!("[[node]]\nid = {id}\nlisten = \"localhost:{port}\"\nthreads = 1\n");
    }
    let cluster = ClusterFile::parse(&text).expect("valid cluster file");
    let sink = Sink::new();
    let mut b = TopologyBuilder::new("named");
    b.set_num_ackers(0);
    b.set_spout("numbers", || Numbers::new(N), 2);
    let s = Arc::clone(&sink);
    b.set_bolt("record", move || Recorder::new(&s), 2)
        .fields_grouping("numbers", ["key"]);
    let nodes = start(&b.build().unwrap(), &cluster);
    wait_until("every tuple recorded", || {
        sink.tuples.lock().unwrap().len() as u64 >= 2 * N
    });
    // Each node's metrics carry its link: the peer up, records sent, and
    // the doorbell's wake-up count.
    for (me, node) in nodes.iter().enumerate() {
        let samples = node.metrics_handle().metrics().samples;
        let value = |name: &str| {
            samples
                .iter()
                .find(|s| s.name == name)
                .unwrap_or_else(|| panic!("node {me}: no {name} in {samples:#?}"))
                .value
        };
        assert_eq!(value("gale_link_up"), 1.0, "node {me}");
        assert!(value("gale_link_records_out_total") > 0.0, "node {me}");
        assert!(
            samples.iter().any(|s| s.name == "gale_link_wakeups_total"),
            "node {me}: the doorbell's wake-ups are exported"
        );
    }
    stop(nodes);
    let ids: BTreeSet<i64> = sink.tuples().iter().map(|r| r.id()).collect();
    assert_eq!(ids, all_ids(&[1, 2], N));
}

#[test]
fn local_or_shuffle_prefers_the_thread_then_the_node() {
    const N: u64 = 2_000;
    for (net, threads, bolts, expect) in [(32, 1, 4, vec![3, 5]), (33, 2, 3, vec![3])] {
        let sink = Sink::new();
        let mut b = TopologyBuilder::new("local");
        b.set_num_ackers(0);
        b.set_spout("numbers", || Numbers::new(N), 1);
        let s = Arc::clone(&sink);
        b.set_bolt("record", move || Recorder::new(&s), bolts)
            .local_or_shuffle_grouping("numbers");
        let topology = b.build().unwrap();
        let cluster = cluster(net, threads);
        // Slots: (n0,t0) (n1,t0) [(n0,t1) (n1,t1)]: the spout is task 1 on
        // node 0 thread 0; with one thread per node, record tasks 3 and 5
        // share its thread; with two (and tasks 2..=4), only task 3 shares
        // its node, on the other thread.
        let plan = ClusterPlan::new(topology.clone(), &cluster, 0, b"").unwrap();
        for &t in &expect {
            let (_, _, node, thread) = plan.tasks().find(|x| x.0 == t).unwrap();
            assert_eq!(node, 0, "task {t}");
            assert!(threads == 2 || thread == 0, "task {t}");
        }
        let nodes = start(&topology, &cluster);
        wait_until("every tuple recorded", || {
            sink.tuples.lock().unwrap().len() as u64 >= N
        });
        stop(nodes);
        let tasks: BTreeSet<u32> = sink.tuples().iter().map(|r| r.task).collect();
        assert_eq!(tasks, expect.into_iter().collect(), "{threads} thread(s)");
    }
}

/// Emits a 1 KiB string forever.
struct Blobs([gale_codec::Value; 1]);

impl gale_engine::Spout for Blobs {
    fn declare_output_fields(&self, d: &mut gale_engine::OutputFieldsDeclarer) {
        d.declare(["blob"]);
    }
    fn next_tuple(&mut self, out: &mut gale_engine::SpoutOutput<'_>) {
        out.emit(&self.0);
    }
}

/// Takes its time over every tuple.
struct Slow;

impl gale_engine::Bolt for Slow {
    fn declare_output_fields(&self, _d: &mut gale_engine::OutputFieldsDeclarer) {}
    fn execute(&mut self, _input: &gale_engine::Input<'_>, _out: &mut gale_engine::BoltOutput<'_>) {
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn a_slow_node_holds_back_the_spout_on_another_node() {
    // What can be in flight between a spout on node 0 and a bolt on node 1:
    // two 64 KiB rings, the link's frames and the sockets' buffers; far
    // fewer than a spout that is never held back emits meanwhile.
    const IN_FLIGHT_BOUND: u64 = 32_768;
    let mut b = TopologyBuilder::new("slow");
    b.set_num_ackers(0);
    b.set_spout(
        "blobs",
        || Blobs([gale_codec::Value::from("x".repeat(1024))]),
        1,
    );
    b.set_bolt("slow", || Slow, 1).shuffle_grouping("blobs");
    let topology = b.build().unwrap();
    let nodes = start(&topology, &cluster(34, 1));
    // Long enough for an unbounded spout to get far past the bound.
    thread::sleep(Duration::from_secs(3));
    let executed = nodes[1].stats().components["slow"].executed;
    let emitted = nodes[0].stats().components["blobs"].emitted;
    stop(nodes);
    assert!(executed > 0, "nothing reached the slow bolt");
    assert!(
        emitted - executed.min(emitted) < IN_FLIGHT_BOUND,
        "{emitted} emitted, {executed} executed: the spout was not held back"
    );
}
