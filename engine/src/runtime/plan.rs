//! The execution plan: tasks, their threads, stream ids and routes,
//! computed once when a topology starts and shared read-only by workers.

use std::collections::BTreeMap;

use gale_codec::Fields;

use crate::cluster::NodeId;
use crate::component::{TopologyContext, SYSTEM_COMPONENT, TICK_STREAM};
use crate::topology::{Component, Topology};
use crate::{Grouping, TaskId};

/// Stream id carried in headers of tick tuples.
pub(crate) const TICK_STREAM_ID: u32 = u32::MAX;

/// One task.
pub(crate) struct TaskInfo {
    pub(crate) component: usize,
    /// Index among its component's tasks.
    pub(crate) index: usize,
    /// The node that runs it (0 in a local cluster).
    pub(crate) node: NodeId,
    /// Its worker thread on that node.
    pub(crate) thread: usize,
}

/// One declared stream, by global id.
pub(crate) struct StreamInfo {
    pub(crate) component: usize,
    pub(crate) name: String,
    pub(crate) fields: Fields,
    /// The Rust type of a typed stream.
    pub(crate) typed: Option<&'static str>,
}

/// What an input's stream says about it: the emitting component, the
/// stream's name, fields and (typed stream) Rust type.
#[derive(Clone, Copy)]
pub(crate) struct StreamMeta<'a> {
    pub(crate) component: &'a str,
    pub(crate) stream: &'a str,
    pub(crate) fields: &'a Fields,
    pub(crate) typed: Option<&'static str>,
}

/// One subscription of a bolt to a stream, resolved.
pub(crate) struct Route {
    pub(crate) grouping: Grouping,
    pub(crate) targets: Vec<TaskId>,
    pub(crate) key: Vec<usize>,
}

/// Everything workers need to know about the running topology.
pub(crate) struct Plan {
    pub(crate) topology: Topology,
    /// Indexed by `TaskId - 1` (task ids start at 1, as in Storm).
    pub(crate) tasks: Vec<TaskInfo>,
    /// Task ids of each component, ascending.
    pub(crate) component_tasks: Vec<Vec<TaskId>>,
    /// Indexed by stream id.
    pub(crate) streams: Vec<StreamInfo>,
    /// `stream_ids[component]`: (name, id) of each declared stream.
    pub(crate) stream_ids: Vec<Vec<(String, u32)>>,
    /// `routes[stream id]`: the subscriptions to that stream.
    pub(crate) routes: Vec<Vec<Route>>,
    pub(crate) tick_fields: Fields,
    /// The node this process runs.
    pub(crate) node: NodeId,
    /// Worker threads of this node.
    pub(crate) threads: usize,
    /// The other nodes, ascending: a task on `peers[i]` is reached through
    /// outbound ring `threads + i` of each worker.
    pub(crate) peers: Vec<NodeId>,
}

impl Plan {
    /// A plan for one process: tasks on `threads` worker threads round
    /// robin in declaration order.
    pub(crate) fn new(topology: Topology, threads: usize) -> Self {
        let threads = threads.max(1);
        let slots: Vec<(NodeId, usize)> = (0..threads).map(|t| (0, t)).collect();
        Self::place(topology, &slots, 0)
    }

    /// Assigns the tasks (acker tasks last) to `slots` (node, thread)
    /// round robin in declaration order, numbers streams and resolves every
    /// subscription; `node` is the node this process runs.
    ///
    /// `slots` must not be empty.
    pub(crate) fn place(mut topology: Topology, slots: &[(NodeId, usize)], node: NodeId) -> Self {
        let threads = slots.iter().filter(|s| s.0 == node).count().max(1);
        let mut peers: Vec<NodeId> = slots.iter().map(|s| s.0).filter(|n| *n != node).collect();
        peers.sort_unstable();
        peers.dedup();
        // The acker tasks are a system component, placed like any other.
        if topology.config.ackers > 0 {
            topology.components.push(Component {
                name: crate::ACKER_COMPONENT.to_owned(),
                kind: crate::topology::Kind::Acker,
                parallelism: topology.config.ackers,
                streams: Vec::new(),
                inputs: Vec::new(),
                config: crate::ComponentConfig {
                    tick_interval: Some(
                        topology.config.message_timeout / (crate::acker::BUCKETS as u32 - 1),
                    ),
                    max_spout_pending: None,
                },
            });
        }
        let mut tasks = Vec::new();
        let mut component_tasks = Vec::new();
        for (ci, c) in topology.components.iter().enumerate() {
            let mut ids = Vec::with_capacity(c.parallelism);
            for index in 0..c.parallelism {
                let (node, thread) = slots[tasks.len() % slots.len()];
                tasks.push(TaskInfo {
                    component: ci,
                    index,
                    node,
                    thread,
                });
                ids.push(tasks.len() as TaskId);
            }
            component_tasks.push(ids);
        }
        let mut streams = Vec::new();
        let mut stream_ids = Vec::new();
        for (ci, c) in topology.components.iter().enumerate() {
            let mut ids = Vec::new();
            for s in &c.streams {
                ids.push((s.name.clone(), streams.len() as u32));
                streams.push(StreamInfo {
                    component: ci,
                    name: s.name.clone(),
                    fields: s.fields.clone(),
                    typed: s.typed,
                });
            }
            stream_ids.push(ids);
        }
        let mut routes: Vec<Vec<Route>> = streams.iter().map(|_| Vec::new()).collect();
        for (ci, bolt) in topology.components.iter().enumerate() {
            for sub in &bolt.inputs {
                // Validated by the builder: the component and stream exist.
                let Some(src) = topology
                    .components
                    .iter()
                    .position(|c| c.name == sub.component)
                else {
                    continue;
                };
                let Some(&(_, sid)) = stream_ids[src].iter().find(|(n, _)| *n == sub.stream) else {
                    continue;
                };
                let fields = &streams[sid as usize].fields;
                let key = sub
                    .grouping
                    .fields()
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|f| fields.index_of(f))
                    .collect();
                routes[sid as usize].push(Route {
                    grouping: sub.grouping.clone(),
                    targets: component_tasks[ci].clone(),
                    key,
                });
            }
        }
        Self {
            topology,
            tasks,
            component_tasks,
            streams,
            stream_ids,
            routes,
            tick_fields: Fields::empty(),
            node,
            threads,
            peers,
        }
    }

    /// Where a worker of this node sends records for `task`: the index of
    /// a local thread, or `threads + i` for a task on `peers[i]`.
    pub(crate) fn destination(&self, task: &TaskInfo) -> usize {
        if task.node == self.node {
            return task.thread;
        }
        let peer = self.peers.binary_search(&task.node).unwrap_or_default();
        self.threads + peer
    }

    /// Whether this node runs `task`.
    pub(crate) fn is_local(&self, task: &TaskInfo) -> bool {
        task.node == self.node
    }

    pub(crate) fn task(&self, id: TaskId) -> Option<&TaskInfo> {
        self.tasks.get((id as usize).wrapping_sub(1))
    }

    /// Task ids of the acker component (empty with acking off).
    pub(crate) fn acker_tasks(&self) -> Vec<TaskId> {
        self.topology
            .components
            .iter()
            .position(|c| matches!(c.kind, crate::topology::Kind::Acker))
            .map(|i| self.component_tasks[i].clone())
            .unwrap_or_default()
    }

    /// Task ids of the spout components, in the whole cluster.
    pub(crate) fn spout_tasks(&self) -> impl Iterator<Item = TaskId> + '_ {
        self.topology
            .components
            .iter()
            .zip(&self.component_tasks)
            .filter(|(c, _)| c.is_spout())
            .flat_map(|(_, tasks)| tasks.iter().copied())
    }

    pub(crate) fn component_of(&self, id: TaskId) -> Option<&Component> {
        self.task(id)
            .map(|t| &self.topology.components[t.component])
    }

    /// Global id of the stream a subscription reads (`None` if its
    /// component or stream does not exist, which validation rules out).
    pub(crate) fn subscribed_stream(&self, sub: &crate::topology::Subscription) -> Option<u32> {
        let src = self
            .topology
            .components
            .iter()
            .position(|c| c.name == sub.component)?;
        self.stream_ids[src]
            .iter()
            .find(|(n, _)| *n == sub.stream)
            .map(|&(_, id)| id)
    }

    /// Tasks run by `thread` of this node, ascending.
    pub(crate) fn thread_tasks(&self, thread: usize) -> impl Iterator<Item = TaskId> + '_ {
        self.tasks
            .iter()
            .enumerate()
            .filter(move |(_, t)| t.node == self.node && t.thread == thread)
            .map(|(i, _)| i as TaskId + 1)
    }

    /// Source component name, stream name, fields and type of a stream id.
    pub(crate) fn stream_meta(&self, id: u32) -> StreamMeta<'_> {
        let system = |component, stream| StreamMeta {
            component,
            stream,
            fields: &self.tick_fields,
            typed: None,
        };
        match self.streams.get(id as usize) {
            Some(s) => StreamMeta {
                component: self.topology.components[s.component].name.as_str(),
                stream: s.name.as_str(),
                fields: &s.fields,
                typed: s.typed,
            },
            None if id == TICK_STREAM_ID => system(SYSTEM_COMPONENT, TICK_STREAM),
            None if id == crate::acker::ACK_STREAM_ID => {
                system(SYSTEM_COMPONENT, crate::ACK_STREAM)
            }
            None if id == crate::acker::ACK_DONE_STREAM_ID => {
                system(crate::ACKER_COMPONENT, crate::ACK_DONE_STREAM)
            }
            None => system("", ""),
        }
    }

    pub(crate) fn context(&self, id: TaskId) -> TopologyContext {
        let info = &self.tasks[id as usize - 1];
        let component = &self.topology.components[info.component];
        TopologyContext {
            topology: self.topology.name.clone(),
            component: component.name.clone(),
            task: id,
            task_index: info.index,
            component_tasks: self.component_tasks[info.component].clone(),
            task_to_component: self
                .tasks
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    (
                        i as TaskId + 1,
                        self.topology.components[t.component].name.clone(),
                    )
                })
                .collect::<BTreeMap<_, _>>(),
            thread: info.thread,
            message_timeout: self.topology.config.message_timeout,
            max_spout_pending: component.max_spout_pending(self.topology.config.max_spout_pending),
            sources: component.inputs.iter().fold(BTreeMap::new(), |mut m, s| {
                m.entry(s.component.clone())
                    .or_insert_with(BTreeMap::new)
                    .insert(s.stream.clone(), s.grouping.clone());
                m
            }),
            targets: self
                .topology
                .components
                .iter()
                .flat_map(|c| c.inputs.iter().map(move |s| (c, s)))
                .filter(|(_, s)| s.component == component.name)
                .fold(BTreeMap::new(), |mut m, (c, s)| {
                    m.entry(s.stream.clone())
                        .or_insert_with(BTreeMap::new)
                        .insert(c.name.clone(), s.grouping.clone());
                    m
                }),
            metric_sources: None,
        }
    }
}
