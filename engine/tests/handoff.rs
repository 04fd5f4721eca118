//! [`SpoutHandoff`]: a node's run stopped for a rebalance parks its spouts
//! (failing their pending trees, for replay) and the next run, with other
//! task counts, takes them without opening them again.

mod util;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gale_codec::Value;
use gale_engine::cluster::{ClusterFile, ClusterPlan};
use gale_engine::{
    Bolt, BoltOutput, Input, NodeCluster, OutputFieldsDeclarer, RunningTopology, Spout,
    SpoutHandoff, SpoutOutput, Topology, TopologyBuilder, TopologyContext,
};
use util::{config, wait, wait_until};

/// Trees the spout starts.
const TREES: u64 = 5;

/// What the spout and bolt saw, over both runs.
#[derive(Default)]
struct Seen {
    opens: AtomicU64,
    activates: AtomicU64,
    fails: AtomicU64,
    executed: AtomicU64,
}

/// Emits ids `0..TREES` once each with message ids; replays failed ones.
struct Ids {
    seen: Arc<Seen>,
    next: u64,
    replay: Vec<u64>,
}

impl Spout for Ids {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare(["id"]);
    }

    fn open(&mut self, _: &TopologyContext) {
        self.seen.opens.fetch_add(1, Ordering::Relaxed);
    }

    fn activate(&mut self) {
        self.seen.activates.fetch_add(1, Ordering::Relaxed);
    }

    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        let id = match self.replay.pop() {
            Some(id) => id,
            None if self.next < TREES => {
                self.next += 1;
                self.next - 1
            }
            None => return,
        };
        out.emit_with_id(&[Value::I64(id as i64)], id);
    }

    fn fail(&mut self, id: u64) {
        self.seen.fails.fetch_add(1, Ordering::Relaxed);
        self.replay.push(id);
    }
}

/// Executes and never acks: every tree stays pending.
struct Hold(Arc<Seen>);

impl Bolt for Hold {
    fn declare_output_fields(&self, _: &mut OutputFieldsDeclarer) {}

    fn execute(&mut self, _: &Input<'_>, _: &mut BoltOutput<'_>) {
        self.0.executed.fetch_add(1, Ordering::Relaxed);
    }
}

/// One node on `127.0.0.1` (no peers).
fn one_node() -> ClusterFile {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    ClusterFile::parse(&format!(
        "secret = \"8f0a6c2e51d94b7a3c0e9f12d6a84b5e7c1f03a9e2b64d8c5a7f10e3b9c2d461\"\n\
         [settings]\nlink_backend = \"mio\"\n\
         [[node]]\nid = 0\nlisten = \"127.0.0.1:{port}\"\nthreads = 1\n"
    ))
    .expect("valid cluster file")
}

fn start(topology: Topology, cluster: &ClusterFile, handoff: &SpoutHandoff) -> RunningTopology {
    let plan = ClusterPlan::new(topology, cluster, 0, b"").expect("plan");
    let mut config = config(0, 1 << 16);
    config.handoff = Some(handoff.clone());
    NodeCluster::new(plan, config)
        .with_connect_timeout(Duration::from_secs(60))
        .submit()
        .expect("node starts")
}

#[test]
fn a_parked_spout_fails_its_pending_trees_and_is_not_opened_again() {
    let seen = Arc::new(Seen::default());
    let mut b = TopologyBuilder::new("handoff");
    let s = Arc::clone(&seen);
    b.set_spout(
        "ids",
        move || Ids {
            seen: Arc::clone(&s),
            next: 0,
            replay: Vec::new(),
        },
        1,
    );
    let s = Arc::clone(&seen);
    b.set_bolt("hold", move || Hold(Arc::clone(&s)), 1)
        .shuffle_grouping("ids");
    let topology = b.build().unwrap();
    let cluster = one_node();
    let handoff = SpoutHandoff::new();

    let first = start(topology.clone(), &cluster, &handoff);
    wait_until("every tree executed", || {
        seen.executed.load(Ordering::Relaxed) == TREES
    });
    handoff.arm();
    first.stop();
    wait(first, "the first run").expect("clean stop");
    // Every tree was pending (never acked): failed at the spout, to replay.
    assert_eq!(handoff.take_failed(), TREES);
    assert_eq!(seen.fails.load(Ordering::Relaxed), TREES);
    assert_eq!(handoff.parked(), 1);

    // The next run, with another bolt task count, takes the spout as it
    // was: activated, not opened, and it replays the failed trees.
    let rebalanced = topology.rebalanced(&[("hold".into(), 2)]).unwrap();
    let second = start(rebalanced, &cluster, &handoff);
    wait_until("the replays executed", || {
        seen.executed.load(Ordering::Relaxed) == 2 * TREES
    });
    assert_eq!(handoff.parked(), 0);
    assert_eq!(handoff.take_closed(), 0, "the spout was closed, not taken");
    assert_eq!(seen.opens.load(Ordering::Relaxed), 1, "opened again");
    assert_eq!(seen.activates.load(Ordering::Relaxed), 2);
    second.stop();
    wait(second, "the second run").expect("clean stop");
    // Not armed: the second run closed its spout instead of parking it.
    assert_eq!(handoff.parked(), 0);
}
