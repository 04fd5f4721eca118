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
    queued: VecDeque<Value>,
    idle_until: Option<Instant>,
    targets: Vec<TaskId>,
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
        let p = self.shell.as_ref()?.process.as_ref()?;
        p.send(command);
        let deadline = Instant::now() + timeout;
        let mut emits = 0;
        loop {
            let p = self.shell.as_ref()?.process.as_ref()?;
            let wait = deadline.saturating_duration_since(Instant::now());
            let Some(read) = p.recv(wait) else {
                let shell = self.shell.as_mut()?;
                let tail = shell.kill();
                let why = format!(
                    "the subprocess did not answer {} within {timeout:?} (hung); killed it{tail}",
                    match command.get("command") {
                        Some(Value::Str(c)) => c.as_str(),
                        _ => "?",
                    }
                );
                self.error(&mut out, format!("{why}; restarting it"));
                return None;
            };
            let msg = match read {
                Read::Message(msg) => msg,
                Read::Malformed(e) => {
                    self.error(&mut out, format!("bad message from the subprocess: {e}"));
                    continue;
                }
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
            match protocol::parse(msg) {
                Ok(Command::Sync) => return Some(emits),
                Ok(Command::Emit(emit)) => {
                    emits += 1;
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
                            &mut out,
                            "an emit while deactivated or closing was dropped".to_owned(),
                        ),
                    }
                    if reply {
                        let ids = self
                            .targets
                            .iter()
                            .map(|&t| Value::I64(i64::from(t)))
                            .collect();
                        if let Some(p) = self.shell.as_ref().and_then(|s| s.process.as_ref()) {
                            p.send(&Value::List(ids));
                        }
                    }
                }
                Ok(Command::Log { msg, level }) => {
                    let shell = self.shell.as_ref()?;
                    protocol::log(&shell.who.component, shell.who.task, level, &msg);
                }
                Ok(Command::Error(msg)) => {
                    self.error(&mut out, format!("the subprocess reported: {msg}"));
                }
                Ok(Command::Metrics { name, params }) => {
                    if let Err(e) = self.shell.as_ref()?.stats.report(&name, &params) {
                        self.error(
                            &mut out,
                            format!("bad metrics message from the subprocess: {e}"),
                        );
                    }
                }
                Ok(Command::Ack(_) | Command::Fail(_)) => self.error(
                    &mut out,
                    "bad message from the subprocess: a spout cannot ack or fail".to_owned(),
                ),
                Err(e) => self.error(&mut out, format!("bad message from the subprocess: {e}")),
            }
        }
    }

    /// Sends the queued commands; false if the child was lost on the way.
    fn flush(&mut self, mut out: Option<&mut SpoutOutput<'_>>) -> bool {
        while let Some(command) = self.queued.pop_front() {
            if self.query(&command, out.as_deref_mut()).is_none() {
                return false;
            }
        }
        true
    }

    fn command(name: &str) -> Value {
        map([("command", Value::from(name))])
    }

    fn completed(&mut self, msg_id: u64, command: &str) {
        if let Some(id) = self.ids.remove(&msg_id) {
            self.queued
                .push_back(map([("command", Value::from(command)), ("id", id)]));
        }
    }
}

impl Spout for ShellSpout {
    fn declare_output_fields(&self, declarer: &mut OutputFieldsDeclarer) {
        self.config.declare(declarer);
    }

    fn open(&mut self, context: &TopologyContext) {
        let mut shell = Shell::new(Arc::clone(&self.config), context);
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
        if !shell.ensure_started() {
            return;
        }
        if !self.flush(Some(out)) {
            return;
        }
        let now = Instant::now();
        if self.idle_until.is_some_and(|t| now < t) {
            return;
        }
        match self.query(&Self::command("next"), Some(out)) {
            Some(0) => self.idle_until = Some(now + IDLE_WAIT),
            _ => self.idle_until = None,
        }
    }

    fn ack(&mut self, msg_id: u64) {
        self.completed(msg_id, "ack");
    }

    fn fail(&mut self, msg_id: u64) {
        self.completed(msg_id, "fail");
    }

    fn activate(&mut self) {
        self.queued.push_back(Self::command("activate"));
    }

    fn deactivate(&mut self) {
        self.queued.push_back(Self::command("deactivate"));
        self.flush(None);
    }

    fn close(&mut self) {
        self.flush(None);
        if let Some(shell) = self.shell.as_mut() {
            shell.shutdown();
        }
    }
}
