//! [`EngineRoute`]: the engine's check of every record that arrives from
//! another node, before it enters a worker's inbound ring.
//!
//! Bytes from the network are untrusted: the record (its tag names the
//! task it is for) must be addressed to a task this node runs, hold a
//! valid archived tuple (`view_checked`), and be
//! of a kind that task can receive: a tuple of a stream its bolt subscribes
//! to with the declared arity, acker updates (whole records) for an acker
//! task, or completions (whole records) for a spout task.

use std::cell::Cell;
use std::sync::Arc;

use gale_codec::{view_checked, FrameError};
use gale_transport::link::{route_records, InboundRoute, NodeId, Refusal, WorkerRuns};

use super::plan::Plan;
use crate::acker::{table, RootIds, ACK_DONE_STREAM_ID, ACK_STREAM_ID, DONE_RECORD};
use crate::topology::Kind;
use crate::TaskId;

/// Why an inbound record was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum InboundError {
    #[error("record for task {task}, which the topology does not have")]
    UnknownTask { task: TaskId },
    #[error("record for task {task}, which runs on node {node}, not this one")]
    NotOurs { task: TaskId, node: NodeId },
    #[error("record for task {task} is not a valid tuple: {source}")]
    Tuple { task: TaskId, source: FrameError },
    #[error(
        "record for task {task} (`{component}`) on stream id {stream}, which it does not receive"
    )]
    Stream {
        task: TaskId,
        component: String,
        stream: u32,
    },
    #[error(
        "record for task {task} (`{component}`) has {found} values; its stream declares {want}"
    )]
    Arity {
        task: TaskId,
        component: String,
        found: usize,
        want: usize,
    },
    #[error("system record for task {task} (`{component}`) is malformed: {problem}")]
    System {
        task: TaskId,
        component: String,
        problem: &'static str,
    },
}

/// Validates inbound records for one node's plan and names the worker
/// thread that runs the destination task.
pub(crate) struct EngineRoute {
    plan: Arc<Plan>,
    /// The last bolt input accepted: records of a frame mostly go to one
    /// task on one stream, whose plan lookups need not be repeated.
    last: Cell<Option<Accepted>>,
}

/// A destination task and stream whose records a bolt takes.
#[derive(Clone, Copy)]
struct Accepted {
    task: TaskId,
    stream: u32,
    /// The stream's declared fields.
    arity: usize,
    /// The task's worker thread.
    thread: usize,
}

impl EngineRoute {
    pub(crate) fn new(plan: Arc<Plan>) -> Self {
        Self {
            plan,
            last: Cell::new(None),
        }
    }

    /// The worker thread of `task`, the destination of the archived
    /// `tuple`, once the whole record is checked.
    #[inline(always)]
    pub(crate) fn check(&self, task: TaskId, tuple: &[u8]) -> Result<usize, InboundError> {
        if let Some(last) = self.last.get().filter(|last| last.task == task) {
            let view =
                view_checked(tuple).map_err(|source| InboundError::Tuple { task, source })?;
            if view.stream() == last.stream && view.len() == last.arity {
                return Ok(last.thread);
            }
        }
        self.check_any(task, tuple)
    }

    /// [`check`](Self::check) of a record for another task or stream than
    /// the last one accepted.
    #[inline(never)]
    fn check_any(&self, task: TaskId, tuple: &[u8]) -> Result<usize, InboundError> {
        let plan = &self.plan;
        let info = plan.task(task).ok_or(InboundError::UnknownTask { task })?;
        if !plan.is_local(info) {
            return Err(InboundError::NotOurs {
                task,
                node: info.node,
            });
        }
        let view = view_checked(tuple).map_err(|source| InboundError::Tuple { task, source })?;
        let component = &plan.topology.components[info.component];
        let stream = view.stream();
        let refuse = || InboundError::Stream {
            task,
            component: component.name.clone(),
            stream,
        };
        let system = |problem| InboundError::System {
            task,
            component: component.name.clone(),
            problem,
        };
        // One bytes value of whole records of `size` bytes each.
        let records = |size: usize| -> Result<&[u8], InboundError> {
            match (view.len(), view.get(0).and_then(|v| v.as_bytes())) {
                (1, Some(b)) if b.len() % size == 0 => Ok(b),
                (1, Some(_)) => Err(system("not a whole number of records")),
                _ => Err(system("not one bytes value")),
            }
        };
        match &component.kind {
            Kind::Acker if stream == ACK_STREAM_ID => {
                let bytes = records(table::RECORD)?;
                // A tree's root names its spout task, which the acker
                // sends completions to (it drops a root that names no
                // spout; refused here, a peer that sends one is reported).
                let spouts_ok = table::read(bytes).all(|r| {
                    plan.component_of(RootIds::spout_of(r.root))
                        .is_some_and(crate::topology::Component::is_spout)
                });
                if !spouts_ok {
                    return Err(system("an update's root names no spout task"));
                }
            }
            Kind::Spout(_) if stream == ACK_DONE_STREAM_ID => {
                records(DONE_RECORD)?;
            }
            Kind::Bolt(_) => {
                let subscribed = plan.routes.get(stream as usize).is_some_and(|routes| {
                    routes
                        .iter()
                        .any(|r| r.targets.binary_search(&task).is_ok())
                });
                if !subscribed {
                    return Err(refuse());
                }
                // Untrusted id: looked up, never indexed (routes and
                // streams are both by stream id, so this is found).
                let Some(declared) = plan.streams.get(stream as usize) else {
                    return Err(refuse());
                };
                let want = declared.fields.len();
                if view.len() != want {
                    return Err(InboundError::Arity {
                        task,
                        component: component.name.clone(),
                        found: view.len(),
                        want,
                    });
                }
                self.last.set(Some(Accepted {
                    task,
                    stream,
                    arity: want,
                    thread: info.thread,
                }));
            }
            _ => return Err(refuse()),
        }
        Ok(info.thread)
    }
}

impl InboundRoute for EngineRoute {
    fn route(&self, peer: NodeId, tag: u32, record: &[u8]) -> Result<usize, String> {
        self.check(tag, record)
            .map_err(|e| format!("from node {peer}: {e}"))
    }

    /// The frame's records checked in its parse's loop, each without a
    /// call through the trait object.
    fn route_frame(
        &self,
        peer: NodeId,
        frame: &[u8],
        workers: &mut WorkerRuns,
    ) -> Result<(), Refusal> {
        route_records(frame, workers, |task, tuple| {
            self.check(task, tuple)
                .map_err(|e| format!("from node {peer}: {e}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use gale_codec::{AlignedVec, Encoder, Header, TupleRef, Value};

    use super::*;
    use crate::{Bolt, BoltOutput, Input, OutputFieldsDeclarer, Spout, SpoutOutput};

    struct Words;
    impl Spout for Words {
        fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
            d.declare(["word"]);
        }
        fn next_tuple(&mut self, _out: &mut SpoutOutput<'_>) {}
    }
    struct Sink;
    impl Bolt for Sink {
        fn declare_output_fields(&self, _d: &mut OutputFieldsDeclarer) {}
        fn execute(&mut self, _input: &Input<'_>, _out: &mut BoltOutput<'_>) {}
    }

    /// words#1 (node 0), sink#2 (node 1), sink#3 (node 0), acker#4
    /// (node 1), seen from node 1.
    fn route() -> EngineRoute {
        let mut b = crate::TopologyBuilder::new("t");
        b.set_spout("words", || Words, 1);
        b.set_bolt("sink", || Sink, 2).shuffle_grouping("words");
        let plan = Plan::place(b.build().unwrap(), &[(0, 0), (1, 0)], 1);
        EngineRoute::new(Arc::new(plan))
    }

    /// A record's task and archived tuple.
    fn record(dest: u32, stream: u32, values: &[Value]) -> (u32, AlignedVec<16>) {
        let header = Header {
            stream,
            source_task: 1,
            ..Header::default()
        };
        let mut buf = AlignedVec::<16>::new();
        buf.resize(4096, 0);
        let used = Encoder::new()
            .encode_into(
                TupleRef {
                    header: &header,
                    values,
                },
                &mut buf,
            )
            .unwrap();
        buf.resize(used, 0);
        (dest, buf)
    }

    /// `n` acker update records of trees of `spout`'s.
    fn updates(spout: u32, n: u64) -> Vec<u8> {
        let ids = RootIds::new(spout);
        let mut bytes = vec![0u8; table::RECORD * n as usize];
        for (seq, r) in bytes.chunks_exact_mut(table::RECORD).enumerate() {
            r[..8].copy_from_slice(&ids.root(seq as u64).to_le_bytes());
        }
        bytes
    }

    /// The route's verdict on `record`.
    fn check(r: &EngineRoute, (task, tuple): (u32, AlignedVec<16>)) -> Result<usize, InboundError> {
        r.check(task, &tuple)
    }

    #[test]
    fn accepts_what_this_node_receives() {
        let r = route();
        assert_eq!(check(&r, record(2, 0, &[Value::from("w")])), Ok(0));
        let acks = updates(1, 2);
        assert_eq!(
            check(&r, record(4, ACK_STREAM_ID, &[Value::Bytes(acks)])),
            Ok(0)
        );
    }

    #[test]
    fn refuses_everything_else() {
        // Fresh, and right after a record for task 2 was accepted (the
        // route remembers it): the same refusals.
        for warm in [false, true] {
            let r = route();
            let word = [Value::from("w")];
            if warm {
                assert_eq!(check(&r, record(2, 0, &word)), Ok(0));
            }
            let err = |record| check(&r, record).unwrap_err();
            assert!(matches!(
                r.check(2, &[1, 2, 3]).unwrap_err(),
                InboundError::Tuple { task: 2, .. }
            ));
            assert_eq!(
                err(record(9, 0, &word)),
                InboundError::UnknownTask { task: 9 }
            );
            assert_eq!(
                err(record(0, 0, &word)),
                InboundError::UnknownTask { task: 0 }
            );
            assert_eq!(
                err(record(3, 0, &word)),
                InboundError::NotOurs { task: 3, node: 0 }
            );
            assert!(matches!(
                err(record(2, 7, &word)),
                InboundError::Stream { stream: 7, .. }
            ));
            assert!(matches!(
                err(record(2, 0, &[Value::from("a"), Value::I64(1)])),
                InboundError::Arity {
                    found: 2,
                    want: 1,
                    ..
                }
            ));
            // Acker traffic of the wrong shape, or of a tree whose root
            // names a bolt (task 2), no task (9) or is 0, after a good one.
            let short = Value::Bytes(vec![0; table::RECORD - 1]);
            assert!(matches!(
                err(record(4, ACK_STREAM_ID, &[short])),
                InboundError::System { .. }
            ));
            for bad in [updates(2, 1), updates(9, 1), vec![0u8; table::RECORD]] {
                let mut two = updates(1, 1);
                two.extend_from_slice(&bad);
                assert!(matches!(
                    err(record(4, ACK_STREAM_ID, &[Value::Bytes(two)])),
                    InboundError::System { .. }
                ));
            }
            assert!(matches!(
                err(record(4, 0, &word)),
                InboundError::Stream { .. }
            ));
            // Garbage for a good task, and a tuple cut short.
            let (task, mut garbage) = record(2, 0, &word);
            garbage.fill(0xa5);
            assert!(matches!(
                err((task, garbage)),
                InboundError::Tuple { task: 2, .. }
            ));
            let (task, cut) = record(2, 0, &word);
            assert!(matches!(
                r.check(task, &cut[..cut.len() - 8]),
                Err(InboundError::Tuple { .. })
            ));
        }
    }

    /// A frame of `records` (task, archived tuple), as a peer's link
    /// sends it.
    fn frame_of(records: &[(u32, AlignedVec<16>)]) -> AlignedVec<16> {
        let mut w = gale_codec::FrameWriter::new();
        for (task, tuple) in records {
            let mut one = vec![0; gale_codec::BodyRecords::one_len(tuple)];
            gale_codec::BodyRecords::write_one(*task, tuple, &mut one);
            w.push_body(&one).unwrap();
        }
        let mut frame = AlignedVec::<16>::new();
        frame.extend_from_slice(w.finish());
        frame
    }

    #[test]
    fn a_frame_is_routed_whole_or_refused_at_its_first_bad_record() {
        let r = route();
        let word = [Value::from("w")];
        let acks = [Value::Bytes(updates(1, 1))];
        let good = frame_of(&[record(2, 0, &word), record(4, ACK_STREAM_ID, &acks)]);
        let mut workers = WorkerRuns::new();
        r.route_frame(1, &good, &mut workers).unwrap();
        let workers: Vec<u32> = workers.workers().collect();
        assert_eq!(workers, [0, 0]);
        // The same answers as the record-by-record route.
        let mut one_by_one = Vec::new();
        gale_codec::RawFrame::parse_with(&good, |_, task, tuple| {
            one_by_one.push(r.route(1, task, tuple).unwrap() as u32);
            Ok::<_, FrameError>(())
        })
        .unwrap();
        assert_eq!(one_by_one, workers);
        let bad = frame_of(&[record(2, 0, &word), record(3, 0, &word)]);
        match r.route_frame(1, &bad, &mut WorkerRuns::new()) {
            Err(Refusal::Record { index: 1, reason }) => {
                assert!(reason.contains("runs on node 0"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        let mut cut = AlignedVec::<16>::new();
        cut.extend_from_slice(&good[..good.len() - 8]);
        assert!(matches!(
            r.route_frame(1, &cut, &mut WorkerRuns::new()),
            Err(Refusal::Frame(_))
        ));
    }
}
