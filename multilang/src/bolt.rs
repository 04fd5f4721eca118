//! [`ShellBolt`]: a bolt run by a child process (Storm's `ShellBolt`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gale_codec::Value;
use gale_engine::{
    Anchor, Bolt, BoltOutput, Emission, Input, OutputFieldsDeclarer, TaskId, TopologyContext,
    DEFAULT_STREAM, SYSTEM_COMPONENT,
};

use crate::process::ShellProcess;
use crate::protocol::{self, Command};
use crate::serializer::Read;
use crate::shell::Shell;
use crate::wire::{map, TupleMessage};
use crate::ShellConfig;

/// Messages handled per `poll` at most (then the worker gets its turn).
const POLL_BATCH: usize = 4096;
/// Under the batched protocol, inputs per frame at most (a frame also
/// goes out at every `poll`, and before `execute` waits for the window).
const FRAME_TUPLES: usize = 512;

/// A bolt whose work is done by a child process speaking Storm's
/// multi-lang protocol (pystorm's or streamparse's `Bolt`, or any other).
///
/// Each input is written to the child with an id; the child acks, fails
/// and emits (anchored to ids) whenever it likes, and Gale maps that onto
/// the input's tuple trees. Heartbeat tuples go to the child every
/// [`ShellConfig::heartbeat_interval`]; a child that says nothing for
/// [`ShellConfig::subprocess_timeout`] is killed, like one that exits or
/// writes what cannot be read: its pending inputs fail, the error is
/// reported (with its stderr tail), and a new child starts.
pub struct ShellBolt {
    config: Arc<ShellConfig>,
    shell: Option<Shell>,
    /// Inputs written to the child and not yet acked or failed, by id,
    /// with when they were written.
    pending: HashMap<u64, (Anchor, Instant)>,
    /// Pending inputs older than this are forgotten (their trees have
    /// timed out already): the topology's message timeout.
    forget_after: Duration,
    last_expiry: Instant,
    next_id: u64,
    last_heard: Instant,
    last_heartbeat: Instant,
    heartbeat_outstanding: bool,
    targets: Vec<TaskId>,
    /// Batched protocol: inputs not yet written (already in `pending`).
    inbox: Vec<Value>,
    /// The anchors of the last emit, and the ids they were found by
    /// (empty: nothing cached).
    anchors: Vec<Anchor>,
    anchor_ids: Vec<Value>,
}

impl ShellBolt {
    /// A shell bolt running `config`'s command (one child per task).
    pub fn new(config: ShellConfig) -> Self {
        Self::shared(Arc::new(config))
    }

    /// Like [`new`](Self::new), sharing the configuration.
    pub fn shared(config: Arc<ShellConfig>) -> Self {
        let now = Instant::now();
        Self {
            config,
            shell: None,
            pending: HashMap::new(),
            forget_after: Duration::from_secs(30),
            last_expiry: now,
            next_id: 1,
            last_heard: now,
            last_heartbeat: now,
            heartbeat_outstanding: false,
            targets: Vec::new(),
            inbox: Vec::new(),
            anchors: Vec::new(),
            anchor_ids: Vec::new(),
        }
    }

    /// Whether the running child speaks the batched protocol.
    fn batched(&self) -> bool {
        self.process().is_some_and(ShellProcess::batched)
    }

    fn process(&self) -> Option<&ShellProcess> {
        self.shell.as_ref().and_then(|s| s.process.as_ref())
    }

    fn process_mut(&mut self) -> Option<&mut ShellProcess> {
        self.shell.as_mut().and_then(|s| s.process.as_mut())
    }

    /// Writes the inputs gathered so far: under the batched protocol as
    /// one frame, under Storm's the messages queued.
    fn flush_inbox(&mut self) {
        if !self.inbox.is_empty() {
            let tuples = Value::List(std::mem::take(&mut self.inbox));
            self.send(&map([("t", tuples)]));
        } else if let Some(p) = self.process_mut() {
            p.flush();
        }
    }

    /// Starts a child if none runs (and the back-off allows).
    fn ensure_started(&mut self) -> bool {
        let Some(shell) = self.shell.as_mut() else {
            return false;
        };
        let fresh = shell.process.is_none();
        let up = shell.ensure_started();
        if up && fresh {
            self.last_heard = Instant::now();
            self.last_heartbeat = self.last_heard;
            self.heartbeat_outstanding = false;
        }
        up
    }

    fn report_errors(&mut self, out: &mut BoltOutput<'_>) {
        if let Some(shell) = self.shell.as_mut() {
            for e in shell.errors.drain(..) {
                out.report_error(e);
            }
            if let Some(e) = shell.take_gave_up() {
                out.fail_topology(e);
            }
        }
    }

    /// Shows the number of tuples the child holds in the metrics.
    fn publish_pending(&self) {
        if let Some(shell) = &self.shell {
            shell.stats.set_pending(self.pending.len());
        }
    }

    /// Fails every pending input after the child was lost, reports why,
    /// and leaves the restart to the next call.
    fn lost(&mut self, out: &mut BoltOutput<'_>, why: String) {
        let n = self.pending.len();
        self.inbox.clear();
        self.anchor_ids.clear();
        for (_, (anchor, _)) in self.pending.drain() {
            out.fail_anchor(&anchor);
        }
        out.report_error(format!("{why}; {n} pending tuple(s) failed; restarting it"));
    }

    /// Handles one read from the child.
    fn handle(&mut self, read: Read, out: &mut BoltOutput<'_>) {
        let Some(shell) = self.shell.as_mut() else {
            return;
        };
        match read {
            Read::Message(msg) => {
                self.last_heard = Instant::now();
                match protocol::parse(msg) {
                    Ok(command) => self.command(command, out),
                    Err(e) => out.report_error(format!("bad message from the subprocess: {e}")),
                }
            }
            Read::Batch(commands) => {
                self.last_heard = Instant::now();
                for command in commands {
                    match command {
                        Ok(command) => self.command(command, out),
                        Err(e) => out.report_error(format!("bad frame from the subprocess: {e}")),
                    }
                }
            }
            Read::Malformed(e) => {
                self.last_heard = Instant::now();
                out.report_error(format!("bad message from the subprocess: {e}"));
            }
            Read::Broken(e) => {
                let tail = shell.kill();
                self.lost(
                    out,
                    format!("unreadable output from the subprocess: {e}{tail}"),
                );
            }
            Read::Eof => {
                let why = shell.exited();
                self.lost(out, why);
            }
        }
    }

    fn command(&mut self, command: Command, out: &mut BoltOutput<'_>) {
        match command {
            Command::Sync => self.heartbeat_outstanding = false,
            Command::Ack(id) | Command::Fail(id) if protocol::tuple_key(&id).is_none() => {
                out.report_error(format!("ack/fail of a tuple id Gale never sent: {id:?}"));
            }
            Command::Ack(id) => match self.complete(&id, out) {
                Some(anchor) => out.ack_anchor(&anchor),
                None => out.report_error(format!("ack of an unknown tuple id {id:?}")),
            },
            Command::Fail(id) => match self.complete(&id, out) {
                Some(anchor) => out.fail_anchor(&anchor),
                None => out.report_error(format!("fail of an unknown tuple id {id:?}")),
            },
            Command::Log { msg, level } => {
                if let Some(shell) = &self.shell {
                    protocol::log(&shell.who.component, shell.who.task, level, &msg);
                }
            }
            Command::Error(msg) => out.report_error(format!("the subprocess reported: {msg}")),
            Command::Metrics { name, params } => {
                if let Some(shell) = &self.shell {
                    if let Err(e) = shell.stats.report(&name, &params) {
                        out.report_error(format!("bad metrics message from the subprocess: {e}"));
                    }
                }
            }
            Command::Emit(emit) => {
                // A child emits several tuples anchored to one input in a
                // row: look its anchors up once (the cache is dropped
                // whenever a pending input goes).
                if !emit.same_anchors
                    && (self.anchor_ids != emit.anchors || self.anchor_ids.is_empty())
                {
                    self.anchors.clear();
                    for id in &emit.anchors {
                        match protocol::tuple_key(id).and_then(|k| self.pending.get(&k)) {
                            Some((a, _)) => self.anchors.push(a.clone()),
                            None => out.report_error(format!(
                                "emit anchored to an unknown tuple id {id:?} (anchor ignored)"
                            )),
                        }
                    }
                    self.anchor_ids = emit.anchors;
                }
                let reply = emit.need_task_ids && emit.task.is_none();
                let emission = Emission {
                    stream: emit.stream.as_deref().unwrap_or(DEFAULT_STREAM),
                    direct: emit.task,
                    values: &emit.tuple,
                    targets: reply.then_some(&mut self.targets),
                };
                out.emit_with(emission, &self.anchors);
                if reply {
                    if let Some(p) = self.shell.as_mut().and_then(|s| s.process.as_mut()) {
                        p.send_task_ids(&self.targets);
                    }
                }
            }
        }
    }

    /// Takes the pending input `id` the child acked or failed; how long
    /// the child had it is the task's execute latency.
    fn complete(&mut self, id: &Value, out: &mut BoltOutput<'_>) -> Option<Anchor> {
        self.anchor_ids.clear();
        let (anchor, sent) = self.pending.remove(&protocol::tuple_key(id)?)?;
        out.record_execute_latency(sent.elapsed());
        Some(anchor)
    }

    fn send(&mut self, msg: &Value) {
        if let Some(p) = self.process_mut() {
            p.send(msg);
        }
    }

    /// Heartbeats and the hung-child check.
    fn housekeeping(&mut self, out: &mut BoltOutput<'_>) {
        let Some(shell) = self.shell.as_mut() else {
            return;
        };
        if shell.process.is_none() {
            return;
        }
        let now = Instant::now();
        let timeout = self.config.subprocess_timeout;
        if now.duration_since(self.last_heard) > timeout
            && (self.heartbeat_outstanding || !self.pending.is_empty())
        {
            let tail = shell.kill();
            let why =
                format!("the subprocess sent nothing for {timeout:?} (hung); killed it{tail}");
            return self.lost(out, why);
        }
        if now.duration_since(self.last_expiry) >= self.config.heartbeat_interval {
            self.last_expiry = now;
            self.forget_expired(now, out);
        }
        if !self.heartbeat_outstanding
            && now.duration_since(self.last_heartbeat) >= self.config.heartbeat_interval
        {
            self.last_heartbeat = now;
            self.heartbeat_outstanding = true;
            if self.batched() {
                self.flush_inbox();
                return self.send(&map([("hb", Value::Bool(true))]));
            }
            self.send(&map([
                ("id", Value::from("-1")),
                ("comp", Value::from(SYSTEM_COMPONENT)),
                ("stream", Value::from("__heartbeat")),
                ("task", Value::I64(-1)),
                ("tuple", Value::List(Vec::new())),
            ]));
        }
    }

    /// Forgets inputs the child has held past the message timeout: their
    /// trees have failed by timeout already, and a finite topology must
    /// not wait for them forever.
    fn forget_expired(&mut self, now: Instant, out: &mut BoltOutput<'_>) {
        self.anchor_ids.clear();
        let before = self.pending.len();
        let limit = self.forget_after;
        self.pending
            .retain(|_, (_, sent)| now.duration_since(*sent) < limit);
        let forgotten = before - self.pending.len();
        if forgotten > 0 {
            out.report_error(format!(
                "the subprocess neither acked nor failed {forgotten} tuple(s) within the \
                 message timeout ({limit:?}); forgotten (their trees timed out)"
            ));
        }
    }

    /// Handles what the child sent, waiting up to `wait` for the first
    /// message; returns whether anything was handled.
    fn pump(&mut self, out: &mut BoltOutput<'_>, wait: Duration) -> bool {
        let mut handled = 0;
        while handled < POLL_BATCH {
            let Some(p) = self.process_mut() else {
                break;
            };
            let read = if handled == 0 && !wait.is_zero() {
                p.recv(wait)
            } else {
                p.try_recv()
            };
            let Some(read) = read else { break };
            self.handle(read, out);
            handled += 1;
        }
        self.housekeeping(out);
        handled > 0
    }
}

impl Bolt for ShellBolt {
    fn declare_output_fields(&self, declarer: &mut OutputFieldsDeclarer) {
        self.config.declare(declarer);
    }

    fn prepare(&mut self, context: &TopologyContext) {
        self.shell = Some(Shell::new(Arc::clone(&self.config), context, true));
        self.forget_after = context.message_timeout();
        self.ensure_started();
    }

    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        // The execute latency is the child's (`complete`), not this call's.
        out.times_execute_itself();
        self.report_errors(out);
        if !self.ensure_started() {
            // No child (it failed to start and waits out its back-off):
            // fail the input so its spout replays it.
            out.fail(input);
            return;
        }
        // At the limit, wait here (backpressure, as Storm's blocking
        // queue) handling the child's acks, up to the hung timeout. The
        // inputs queued meanwhile go to the child first.
        if self.pending.len() >= self.config.max_pending {
            self.flush_inbox();
        }
        while self.pending.len() >= self.config.max_pending {
            self.pump(
                out,
                self.config
                    .heartbeat_interval
                    .min(Duration::from_millis(100)),
            );
            if !self.ensure_started() {
                out.fail(input);
                return;
            }
        }
        let id = self.next_id;
        self.next_id += 1;
        let (comp, task) = if input.is_tick() {
            (SYSTEM_COMPONENT, -1)
        } else {
            (input.source_component(), i64::from(input.source_task()))
        };
        let values = input.to_tuple().values;
        self.pending.insert(id, (input.anchor(), Instant::now()));
        if self.batched() {
            self.inbox.push(Value::List(vec![
                Value::I64(id as i64),
                Value::from(comp),
                Value::from(input.source_stream()),
                Value::I64(task),
                Value::List(values),
            ]));
            if self.inbox.len() >= FRAME_TUPLES.min(self.config.max_pending / 2).max(1) {
                self.flush_inbox();
            }
            return self.publish_pending();
        }
        let msg = TupleMessage {
            id,
            comp,
            stream: input.source_stream(),
            task,
            tuple: &values,
        };
        // Written at the next poll (after the worker's pass), or when the
        // window is full.
        if let Some(p) = self.process_mut() {
            p.queue_tuple(&msg);
        }
        self.publish_pending();
    }

    fn wants_poll(&self) -> bool {
        true
    }

    fn poll(&mut self, out: &mut BoltOutput<'_>) -> bool {
        self.report_errors(out);
        let was_down = self.shell.as_ref().is_some_and(|s| s.process.is_none());
        if !self.ensure_started() {
            return false;
        }
        self.flush_inbox();
        let progressed = self.pump(out, Duration::ZERO) || was_down;
        self.publish_pending();
        progressed
    }

    fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    fn cleanup(&mut self) {
        if let Some(shell) = self.shell.as_mut() {
            shell.shutdown();
        }
    }
}
