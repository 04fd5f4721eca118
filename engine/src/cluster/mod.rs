//! Running one topology on several nodes: the [`ClusterFile`], the
//! deterministic assignment of tasks to (node, thread) ([`ClusterPlan`]) and
//! the fingerprint that peers compare before any tuple flows.
//!
//! There is no coordinator: every node computes the same plan from the same
//! topology and cluster file, and the link handshake refuses a peer whose
//! fingerprint differs.

mod file;
mod shape;

use std::fmt::{self, Write};
use std::sync::Arc;

use sha2::{Digest, Sha256};

pub use file::{
    generate_secret, read_private_file, ClusterError, ClusterFile, ClusterSettings, LinkBackend,
    NodeId, NodeSpec, MAX_TIMEOUT_MS, MIN_SECRET_LEN,
};
pub use shape::{check_shape, ShapeError, MAX_FILE_BYTES, MAX_NESTING};

use crate::runtime::Plan;
use crate::topology::Kind;
use crate::Topology;

/// The (node, thread) slots of a cluster in the order tasks fill them:
/// thread 0 of every node (by ascending id), then thread 1 of every node
/// that has one, and so on. Consecutive tasks thus land on different nodes
/// first and different threads second.
pub(crate) fn slots(cluster: &ClusterFile) -> Vec<(NodeId, usize)> {
    let most = cluster.nodes().iter().map(|n| n.threads).max().unwrap_or(1);
    (0..most)
        .flat_map(|t| {
            cluster
                .nodes()
                .iter()
                .filter(move |n| t < n.threads)
                .map(move |n| (n.id, t))
        })
        .collect()
}

/// Applies the cluster file's settings that override the topology's
/// (acker count, message timeout, max spout pending).
pub(crate) fn apply_settings(topology: &mut Topology, settings: &ClusterSettings) {
    if let Some(a) = settings.ackers {
        topology.config.ackers = a;
    }
    if let Some(t) = settings.message_timeout() {
        topology.config.message_timeout = t;
    }
    if let Some(p) = settings.max_spout_pending {
        topology.config.max_spout_pending = Some(p);
    }
}

/// Where every task of a topology runs in a cluster, and the fingerprint
/// of (topology, cluster file) that nodes compare.
///
/// A pure function of its inputs: every node, and `gale plan`, computes
/// the same plan.
pub struct ClusterPlan {
    pub(crate) plan: Arc<Plan>,
    fingerprint: [u8; 32],
    cluster: ClusterFile,
    /// The node's epoch in checkpoints across nodes, once joined.
    epoch: Option<u64>,
}

impl ClusterPlan {
    /// Plans `topology` (with the cluster's settings applied) on the
    /// cluster's nodes, as seen from node `node`. `extra` is hashed into the
    /// fingerprint too: anything else the nodes must agree on (a built-in
    /// topology's options, say).
    pub fn new(
        mut topology: Topology,
        cluster: &ClusterFile,
        node: NodeId,
        extra: &[u8],
    ) -> Result<Self, ClusterError> {
        cluster.node(node)?;
        apply_settings(&mut topology, cluster.settings());
        let plan = Plan::place(topology, &slots(cluster), node);
        let mut hasher = Sha256::new();
        hasher.update(canonical(&plan, cluster).as_bytes());
        hasher.update((extra.len() as u64).to_le_bytes());
        hasher.update(extra);
        let fingerprint = hasher.finalize().into();
        Ok(Self {
            plan: Arc::new(plan),
            fingerprint,
            cluster: cluster.clone(),
            epoch: None,
        })
    }

    /// If the topology checkpoints its state, joins the checkpoints as
    /// this node ([`Checkpointing::join_cluster`](crate::state::Checkpointing::join_cluster):
    /// the greatest checkpoint every node saved is the one restored) and
    /// folds the node's epoch into the fingerprint, so that a node
    /// restarted after a crash connects only to peers restarted too.
    /// Call it before the node starts (`NodeCluster::submit` does, if it
    /// was not done); it writes to the state backend, so `gale plan` does
    /// not, and its fingerprint is the one before the epoch.
    pub fn join_checkpoints(&mut self) -> Result<(), crate::state::StateError> {
        let Some(checkpointing) = self.plan.topology.checkpointing.clone() else {
            return Ok(());
        };
        if self.epoch.is_some() {
            return Ok(());
        }
        let node = self.plan.node;
        let nodes: Vec<NodeId> = self.cluster.nodes().iter().map(|n| n.id).collect();
        let components = &self.plan.topology.components;
        let tasks = self
            .plan
            .tasks
            .iter()
            .filter(|t| t.node == node && !matches!(components[t.component].kind, Kind::Acker))
            .count();
        checkpointing.set_layout(components.iter().map(|c| (c.name.as_str(), c.parallelism)));
        let epoch = checkpointing.join_cluster(node, &nodes, tasks)?;
        let mut hasher = Sha256::new();
        hasher.update(self.fingerprint);
        hasher.update(b"checkpoint epoch");
        hasher.update(epoch.to_le_bytes());
        self.fingerprint = hasher.finalize().into();
        self.epoch = Some(epoch);
        Ok(())
    }

    /// SHA-256 over a canonical description of the topology (components,
    /// parallelism, streams, fields, groupings, settings), the assignment,
    /// the cluster file's nodes and settings (not its secret) and `extra`.
    pub fn fingerprint(&self) -> [u8; 32] {
        self.fingerprint
    }

    /// The fingerprint in hex.
    pub fn fingerprint_hex(&self) -> String {
        self.fingerprint.iter().fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }

    /// The cluster file the plan was made from.
    pub fn cluster(&self) -> &ClusterFile {
        &self.cluster
    }

    /// The node this plan is for.
    pub fn node(&self) -> NodeId {
        self.plan.node
    }

    /// `(task id, component, node, thread)` of every task, by task id.
    pub fn tasks(&self) -> impl Iterator<Item = (crate::TaskId, &str, NodeId, usize)> + '_ {
        self.plan.tasks.iter().enumerate().map(|(i, t)| {
            let c = &self.plan.topology.components[t.component];
            (i as crate::TaskId + 1, c.name.as_str(), t.node, t.thread)
        })
    }
}

impl fmt::Display for ClusterPlan {
    /// The plan as `gale plan` and every node at start print it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = &self.plan;
        writeln!(
            f,
            "topology `{}`: {} tasks on {} nodes; fingerprint {}",
            p.topology.name,
            p.tasks.len(),
            self.cluster.nodes().len(),
            self.fingerprint_hex()
        )?;
        for n in self.cluster.nodes() {
            let host = n.host.as_deref().map(|h| format!(", host {h}"));
            writeln!(
                f,
                "node {} ({}, {} thread{}{}):",
                n.id,
                n.listen,
                n.threads,
                if n.threads == 1 { "" } else { "s" },
                host.unwrap_or_default()
            )?;
            for thread in 0..n.threads {
                let tasks: Vec<String> = self
                    .tasks()
                    .filter(|t| t.2 == n.id && t.3 == thread)
                    .map(|(id, c, _, _)| format!("{c}#{id}"))
                    .collect();
                let tasks = if tasks.is_empty() {
                    "(idle)".to_owned()
                } else {
                    tasks.join(" ")
                };
                writeln!(f, "  thread {thread}: {tasks}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for ClusterPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterPlan")
            .field("node", &self.plan.node)
            .field("fingerprint", &self.fingerprint_hex())
            .finish()
    }
}

/// The canonical text the fingerprint hashes: a version line, the
/// topology, the assignment and the cluster file's nodes and settings.
fn canonical(plan: &Plan, cluster: &ClusterFile) -> String {
    // Version 2: fields groupings hash keys word by word (a node of
    // version 1 would send a key to another task, so it must not join).
    let mut s = String::from("gale-plan 2\n");
    let t = &plan.topology;
    let _ = writeln!(
        s,
        "topology {:?} ackers {} timeout_ns {} pending {:?}",
        t.name,
        t.config.ackers,
        t.config.message_timeout.as_nanos(),
        t.config.max_spout_pending
    );
    for c in &t.components {
        let kind = match c.kind {
            Kind::Spout(_) => "spout",
            Kind::Bolt(_) => "bolt",
            Kind::Acker => "acker",
        };
        let _ = writeln!(
            s,
            "component {:?} {kind} x{} tick_ns {:?} pending {:?}",
            c.name,
            c.parallelism,
            c.config.tick_interval.map(|d| d.as_nanos()),
            c.config.max_spout_pending
        );
        for st in &c.streams {
            let fields: Vec<&str> = st.fields.iter().collect();
            let _ = writeln!(
                s,
                "  stream {:?} fields {fields:?} direct {}",
                st.name, st.direct
            );
        }
        for i in &c.inputs {
            let _ = writeln!(
                s,
                "  input {:?} {:?} {} {:?}",
                i.component,
                i.stream,
                i.grouping.name(),
                i.grouping.fields()
            );
        }
    }
    for (i, task) in plan.tasks.iter().enumerate() {
        let _ = writeln!(
            s,
            "task {} node {} thread {}",
            i + 1,
            task.node,
            task.thread
        );
    }
    s.push_str(&cluster.canonical());
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(threads: &[usize]) -> ClusterFile {
        let mut text = String::from(
            "secret = \"8f0a6c2e51d94b7a3c0e9f12d6a84b5e7c1f03a9e2b64d8c5a7f10e3b9c2d461\"\n",
        );
        for (id, t) in threads.iter().enumerate() {
            text += &format!(
                "[[node]]\nid = {id}\nlisten = \"127.0.0.{}:7000\"\nthreads = {t}\n",
                id + 1
            );
        }
        ClusterFile::parse(&text).unwrap()
    }

    struct S;
    impl crate::Spout for S {
        fn declare_output_fields(&self, d: &mut crate::OutputFieldsDeclarer) {
            d.declare(["a", "b"]);
        }
        fn next_tuple(&mut self, _out: &mut crate::SpoutOutput<'_>) {}
    }
    struct B;
    impl crate::Bolt for B {
        fn declare_output_fields(&self, _d: &mut crate::OutputFieldsDeclarer) {}
        fn execute(&mut self, _i: &crate::Input<'_>, _o: &mut crate::BoltOutput<'_>) {}
    }

    fn topology(bolts: usize, key: &str) -> Topology {
        let mut b = crate::TopologyBuilder::new("t");
        b.set_spout("s", || S, 1);
        b.set_bolt("b", || B, bolts).fields_grouping("s", [key]);
        b.build().unwrap()
    }

    fn fingerprint(t: Topology, c: &ClusterFile, node: NodeId) -> String {
        ClusterPlan::new(t, c, node, b"").unwrap().fingerprint_hex()
    }

    #[test]
    fn fingerprint_covers_topology_and_cluster_but_not_secret_or_node() {
        let c = cluster(&[2, 1]);
        let base = fingerprint(topology(3, "a"), &c, 0);
        assert_eq!(
            base,
            fingerprint(topology(3, "a"), &c, 1),
            "node-independent"
        );
        assert_ne!(base, fingerprint(topology(4, "a"), &c, 0), "parallelism");
        assert_ne!(
            base,
            fingerprint(topology(3, "b"), &c, 0),
            "grouping fields"
        );
        assert_ne!(
            base,
            fingerprint(topology(3, "a"), &cluster(&[2, 2]), 0),
            "threads"
        );
        let other = |text: &str| ClusterFile::parse(text).unwrap();
        let nodes = "[[node]]\nid = 0\nlisten = \"127.0.0.1:7000\"\nthreads = 2\n\
                     [[node]]\nid = 1\nlisten = \"127.0.0.2:7000\"\nthreads = 1\n";
        let secret = other(&format!("secret = \"3b7e19c4a05d82f6e1c94a7b20d5f83e6a19c07b4d2e85f3a6c1097e4b28d5f0\"\n{nodes}"));
        assert_eq!(base, fingerprint(topology(3, "a"), &secret, 0), "secret");
        let acked = other(&format!(
            "secret = \"8f0a6c2e51d94b7a3c0e9f12d6a84b5e7c1f03a9e2b64d8c5a7f10e3b9c2d461\"\n[settings]\nackers = 2\n{nodes}"
        ));
        assert_ne!(base, fingerprint(topology(3, "a"), &acked, 0), "settings");
        let p = ClusterPlan::new(topology(3, "a"), &acked, 0, b"").unwrap();
        let ackers: Vec<_> = p
            .tasks()
            .filter(|t| t.1 == crate::ACKER_COMPONENT)
            .collect();
        assert_eq!(ackers.len(), 2, "the settings' acker count applies");
        let extra = ClusterPlan::new(topology(3, "a"), &c, 0, b"x").unwrap();
        assert_ne!(base, extra.fingerprint_hex(), "extra");
        assert!(ClusterPlan::new(topology(3, "a"), &c, 5, b"").is_err());
    }

    #[test]
    fn slots_alternate_nodes_first() {
        let s = slots(&cluster(&[2, 1, 3]));
        assert_eq!(s, [(0, 0), (1, 0), (2, 0), (0, 1), (2, 1), (2, 2)]);
    }
}
