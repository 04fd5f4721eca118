//! [`ShellSpout`]: a spout run by a child process (Storm's `ShellSpout`).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gale_codec::Value;
use gale_engine::{
    Emission, OutputFieldsDeclarer, Spout, SpoutOutput, TaskId, TopologyContext, DEFAULT_STREAM,
};

use crate::protocol::{self, Command};
use crate::serializer::Read;
use crate::shell::Shell;
use crate::wire::map;
use crate::ShellConfig;

/// After a `next` that emitted nothing, the child is not asked again for
/// this long (Storm's sleeping spout wait strategy).
const IDLE_WAIT: Duration = Duration::from_millis(1);

/// A spout driven by a child process speaking Storm's multi-lang protocol
/// (pystorm's or streamparse's `Spout`, or any other).
///
/// Synchronous, as in Storm: each `next_tuple` sends `next` and handles
/// the child's emits until its `sync`. Acks and fails reach the child as
/// `ack`/`fail` commands (with the child's own message ids) before the
/// next `next`, and at deactivation and shutdown. A child that does not
/// answer within [`ShellConfig::subprocess_timeout`] is hung: it is killed
/// and restarted, so a worker thread is never blocked for longer.
pub struct ShellSpout {
    config: Arc<ShellConfig>,
    shell: Option<Shell>,
    /// The child's message ids, by the id Gale tracks them with.
    ids: HashMap<u64, Value>,
    next_msg: u64,
    /// Commands (ack, fail, activate, deactivate) not yet sent.
    queued: VecDeque<Queued>,
    idle_until: Option<Instant>,
    targets: Vec<TaskId>,
    /// The spout's `max_spout_pending` (`None`: no bound).
    max_spout_pending: Option<usize>,
}

impl ShellSpout {
    /// A shell spout running `config`'s command (one child per task).
    pub fn new(config: ShellConfig) -> Self {
        Self::shared(Arc::new(config))
    }

    /// Like [`new`](Self::new), sharing the configuration.
    pub fn shared(config: Arc<ShellConfig>) -> Self {
        Self {
            config,
            shell: None,
            ids: HashMap::new(),
            next_msg: 0,
            queued: VecDeque::new(),
            idle_until: None,
            targets: Vec::new(),
            max_spout_pending: None,
        }
    }

    fn error(&mut self, out: &mut Option<&mut SpoutOutput<'_>>, message: String) {
        match out {
            Some(out) => out.report_error(message),
            None => {
                if let Some(shell) = self.shell.as_mut() {
                    shell.errors.push(message);
                }
            }
        }
    }

    /// Sends `command` and handles the child's messages up to its `sync`.
    /// Emits go through `out` (without one, at deactivation or shutdown,
    /// they are dropped with an error). Returns the number of emits, or
    /// `None` if the child was lost.
    fn query(&mut self, command: &Value, mut out: Option<&mut SpoutOutput<'_>>) -> Option<usize> {
        let timeout = self.config.subprocess_timeout;
        let p = self.shell.as_mut()?.process.as_mut()?;
        p.send(command);
        let deadline = Instant::now() + timeout;
        let mut emits = 0;
        loop {
            let p = self.shell.as_mut()?.process.as_mut()?;
            let wait = deadline.saturating_duration_since(Instant::now());
            let Some(read) = p.recv(wait) else {
                let shell = self.shell.as_mut()?;
                let tail = shell.kill();
                let why = format!(
                    "the subprocess did not answer {} within {timeout:?} (hung); killed it{tail}",
                    describe(command)
                );
                self.error(&mut out, format!("{why}; restarting it"));
                return None;
            };
            let commands = match read {
                Read::Message(msg) => vec![protocol::parse(msg)],
                Read::Batch(commands) => commands,
                Read::Malformed(e) => vec![Err(e)],
                Read::Broken(e) => {
                    let tail = self.shell.as_mut()?.kill();
                    let why = format!("unreadable output from the subprocess: {e}{tail}");
                    self.error(&mut out, format!("{why}; restarting it"));
                    return None;
                }
                Read::Eof => {
                    let why = self.shell.as_mut()?.exited();
                    self.error(&mut out, format!("{why}; restarting it"));
                    return None;
                }
            };
            let mut synced = false;
            for command in commands {
                match command {
                    Ok(Command::Sync) => synced = true,
                    Ok(command) => {
                        emits += usize::from(matches!(command, Command::Emit(_)));
                        self.handle(command, &mut out)?;
                    }
                    Err(e) => self.error(&mut out, format!("bad message from the subprocess: {e}")),
                }
            }
            if synced {
                return Some(emits);
            }
        }
    }

    /// Handles one command of the child other than `sync`; `None` if the
    /// child is gone.
    fn handle(&mut self, command: Command, out: &mut Option<&mut SpoutOutput<'_>>) -> Option<()> {
        match command {
            Command::Sync => {}
            Command::Emit(emit) => {
                let reply = emit.need_task_ids && emit.task.is_none();
                self.targets.clear();
                match out.as_deref_mut() {
                    Some(o) => {
                        let msg_id = emit.id.map(|id| {
                            let n = self.next_msg;
                            self.next_msg += 1;
                            self.ids.insert(n, id);
                            n
                        });
                        let emission = Emission {
                            stream: emit.stream.as_deref().unwrap_or(DEFAULT_STREAM),
                            direct: emit.task,
                            values: &emit.tuple,
                            targets: reply.then_some(&mut self.targets),
                        };
                        o.emit_with(emission, msg_id);
                    }
                    None => self.error(
                        out,
                        "an emit while deactivated or closing was dropped".to_owned(),
                    ),
                }
                if reply {
                    self.shell
                        .as_mut()?
                        .process
                        .as_mut()?
                        .send_task_ids(&self.targets);
                }
            }
            Command::Log { msg, level } => {
                let shell = self.shell.as_ref()?;
                protocol::log(&shell.who.component, shell.who.task, level, &msg);
            }
            Command::Error(msg) => {
                self.error(out, format!("the subprocess reported: {msg}"));
            }
            Command::Metrics { name, params } => {
                if let Err(e) = self.shell.as_ref()?.stats.report(&name, &params) {
                    self.error(out, format!("bad metrics message from the subprocess: {e}"));
                }
            }
            Command::Ack(_) | Command::Fail(_) => self.error(
                out,
                "bad message from the subprocess: a spout cannot ack or fail".to_owned(),
            ),
        }
        Some(())
    }

    /// Whether the running child speaks the batched protocol.
    fn batched(&self) -> bool {
        self.shell
            .as_ref()
            .and_then(|s| s.process.as_ref())
            .is_some_and(|p| p.batched())
    }

    /// Sends the queued commands; false if the child was lost on the way.
    /// Under the batched protocol, acks and fails go in one frame (with
    /// `next` when `next` is given).
    fn flush(
        &mut self,
        mut out: Option<&mut SpoutOutput<'_>>,
        next: Option<usize>,
    ) -> Option<usize> {
        if !self.batched() {
            while let Some(command) = self.queued.pop_front() {
                let msg = match command {
                    Queued::Ack(id) => map([("command", Value::from("ack")), ("id", id)]),
                    Queued::Fail(id) => map([("command", Value::from("fail")), ("id", id)]),
                    Queued::Activate => Self::command("activate"),
                    Queued::Deactivate => Self::command("deactivate"),
                };
                self.query(&msg, out.as_deref_mut())?;
            }
            return match next {
                Some(_) => self.query(&Self::command("next"), out),
                None => Some(0),
            };
        }
        let mut emits = 0;
        let (mut acks, mut fails) = (Vec::new(), Vec::new());
        while let Some(command) = self.queued.pop_front() {
            let flag = match command {
                Queued::Ack(id) => {
                    acks.push(id);
                    continue;
                }
                Queued::Fail(id) => {
                    fails.push(id);
                    continue;
                }
                Queued::Activate => "activate",
                Queued::Deactivate => "deactivate",
            };
            let frame = Self::frame(&mut acks, &mut fails, Some((flag, Value::Bool(true))));
            emits += self.query(&frame, out.as_deref_mut())?;
        }
        let next = next.map(|n| ("next", Value::I64(n as i64)));
        if next.is_some() || !acks.is_empty() || !fails.is_empty() {
            let frame = Self::frame(&mut acks, &mut fails, next);
            emits += self.query(&frame, out)?;
        }
        Some(emits)
    }

    /// A spout frame: acks, fails and one request.
    fn frame(
        acks: &mut Vec<Value>,
        fails: &mut Vec<Value>,
        request: Option<(&str, Value)>,
    ) -> Value {
        let mut entries = Vec::with_capacity(3);
        if !acks.is_empty() {
            entries.push(("a".to_owned(), Value::List(std::mem::take(acks))));
        }
        if !fails.is_empty() {
            entries.push(("f".to_owned(), Value::List(std::mem::take(fails))));
        }
        // Without a request, the child still answers a frame with `sync`.
        let (key, value) = request.unwrap_or(("sync", Value::Bool(true)));
        entries.push((key.to_owned(), value));
        Value::Map(entries)
    }

    fn command(name: &str) -> Value {
        map([("command", Value::from(name))])
    }

    fn completed(&mut self, msg_id: u64, ack: bool) {
        if let Some(id) = self.ids.remove(&msg_id) {
            self.queued.push_back(if ack {
                Queued::Ack(id)
            } else {
                Queued::Fail(id)
            });
        }
    }
}

/// What the spout still has to tell its child.
enum Queued {
    Ack(Value),
    Fail(Value),
    Activate,
    Deactivate,
}

/// What a request was, for the hung-child message.
fn describe(request: &Value) -> String {
    match request.get("command") {
        Some(Value::Str(c)) => c.clone(),
        _ => match request {
            Value::Map(entries) => {
                let keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
                format!("a frame ({})", keys.join(", "))
            }
            _ => "a request".to_owned(),
        },
    }
}

impl Spout for ShellSpout {
    fn declare_output_fields(&self, declarer: &mut OutputFieldsDeclarer) {
        self.config.declare(declarer);
    }

    fn open(&mut self, context: &TopologyContext) {
        self.max_spout_pending = context.max_spout_pending();
        let mut shell = Shell::new(Arc::clone(&self.config), context, false);
        shell.ensure_started();
        self.shell = Some(shell);
    }

    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        let Some(shell) = self.shell.as_mut() else {
            return;
        };
        for e in shell.errors.drain(..) {
            out.report_error(e);
        }
        if let Some(e) = shell.take_gave_up() {
            return out.fail_topology(e);
        }
        if !shell.ensure_started() {
            return;
        }
        let now = Instant::now();
        if self.idle_until.is_some_and(|t| now < t) {
            self.flush(Some(out), None);
            return;
        }
        // Under the batched protocol, as many `next_tuple` calls as the
        // window and `max_spout_pending` allow (the engine calls this only
        // below the latter: at least one).
        let next = if self.batched() {
            let room = self
                .max_spout_pending
                .map_or(usize::MAX, |m| m.saturating_sub(self.ids.len()));
            self.config.max_pending.min(room).max(1)
        } else {
            1
        };
        match self.flush(Some(out), Some(next)) {
            Some(0) => self.idle_until = Some(now + IDLE_WAIT),
            _ => self.idle_until = None,
        }
    }

    fn ack(&mut self, msg_id: u64) {
        self.completed(msg_id, true);
    }

    fn fail(&mut self, msg_id: u64) {
        self.completed(msg_id, false);
    }

    fn activate(&mut self) {
        self.queued.push_back(Queued::Activate);
    }

    fn deactivate(&mut self) {
        self.queued.push_back(Queued::Deactivate);
        self.flush(None, None);
    }

    fn close(&mut self) {
        self.flush(None, None);
        if let Some(shell) = self.shell.as_mut() {
            shell.shutdown();
        }
    }
}
