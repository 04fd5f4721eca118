//! One child process: spawn, handshake (conf, context, pidDir → pid), and
//! three helper threads so the worker thread never blocks on a pipe: one
//! writes stdin from a buffer ([`StdinWriter`]), one reads and parses
//! stdout (handing the worker every whole message it has read at once),
//! one keeps the tail of stderr.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read as _};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use gale_codec::Value;
use gale_engine::TaskId;

use crate::frame::{self, FrameReader};
use crate::serializer::{MessageReader, Read};
use crate::snippet::snippet;
use crate::stdin::StdinWriter;
use crate::wire::map;
use crate::{Protocol, ShellConfig, ShellError, MAX_MESSAGE};

/// A bolt child under Storm's protocol (JSON) writes each message (each emit,
/// each ack) by itself: after a read that found few, the reader waits
/// this long for more before it reads again, so that it (and the worker
/// it hands them to) wakes once per several messages rather than once per
/// message. Its acks come late by as much at most; the bolt's window of
/// pending inputs keeps the child busy meanwhile. Not for spouts, whose
/// every `next` waits for the child's answer, nor for msgpack, whose
/// reader cannot tell whether a whole message is buffered (so it would
/// wait after every message).
const COALESCE: Duration = Duration::from_micros(100);
/// Messages in a read below which the reader waits [`COALESCE`].
const FEW: usize = 8;

/// Lines of stderr kept for error messages.
const STDERR_LINES: usize = 20;
/// Longest stderr line kept (longer ones are cut).
const STDERR_LINE: u64 = 2048;

/// Which task a child belongs to, for logs and errors.
#[derive(Debug, Clone)]
pub(crate) struct Who {
    pub(crate) component: String,
    pub(crate) task: TaskId,
}

/// A running child and its pipes.
pub(crate) struct ShellProcess {
    child: Child,
    input: Option<StdinWriter>,
    /// Messages queued for stdin, not yet handed to the writer thread
    /// ([`flush`](Self::flush)).
    queued: Vec<u8>,
    /// What the reader thread parsed, a batch per read of stdout.
    events: Receiver<Vec<Read>>,
    /// The rest of the batch received last.
    ready: VecDeque<Read>,
    stderr: Arc<Mutex<VecDeque<String>>>,
    /// The pid the child reported in the handshake.
    pub(crate) pid: u32,
    serializer: crate::Serializer,
    /// Whether the child asked for the batched protocol (Gale offered it).
    batched: bool,
    pid_dir: PidDir,
}

impl ShellProcess {
    /// Starts the child and runs the handshake (waiting at most the
    /// subprocess timeout for its pid).
    /// A `bolt`'s reader gathers the child's messages a little
    /// ([`COALESCE`]).
    pub(crate) fn spawn(
        config: &ShellConfig,
        who: &Who,
        conf: Value,
        context: Value,
        bolt: bool,
    ) -> Result<Self, ShellError> {
        let pid_dir = make_pid_dir(&std::env::temp_dir(), who)?;
        let mut command = Command::new(&config.command);
        command
            .args(&config.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(dir) = &config.working_dir {
            command.current_dir(dir);
        }
        command.envs(config.env.iter().map(|(k, v)| (k, v)));
        let mut child = command.spawn().map_err(|source| ShellError::Spawn {
            command: config.command_line(),
            source,
        })?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(ShellError::Handshake {
                reason: "the child's pipes are missing".to_owned(),
                stderr: String::new(),
            });
        };
        widen_pipe(&stdin);
        widen_pipe(&stdout);
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        spawn_stderr(stderr, Arc::clone(&tail), who.clone());
        let name = format!("gale-ml-write-{}-{}", sanitize(&who.component), who.task);
        let input = match StdinWriter::spawn(stdin, name) {
            Ok(input) => input,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(ShellError::Handshake {
                    reason: format!("cannot start a writer thread: {e}"),
                    stderr: String::new(),
                });
            }
        };
        let (tx, events) = crossbeam_channel::unbounded();
        let serializer = config.serializer;
        let name = format!("gale-ml-read-{}-{}", sanitize(&who.component), who.task);
        let reader = MessageReader::new(BufReader::with_capacity(64 << 10, stdout), serializer);
        let offer = config.protocol == Protocol::Batched;
        let coalesce = bolt && serializer == crate::Serializer::Json;
        let spawned = thread::Builder::new()
            .name(name)
            .spawn(move || read_loop(reader, offer, coalesce, &tx));
        let mut process = Self {
            child,
            input: Some(input),
            queued: Vec::new(),
            events,
            ready: VecDeque::new(),
            stderr: tail,
            pid: 0,
            serializer,
            batched: false,
            pid_dir,
        };
        if let Err(e) = spawned {
            return Err(process.handshake_error(format!("cannot start a reader thread: {e}")));
        }
        let mut handshake = map([
            ("conf", conf),
            ("context", context),
            (
                "pidDir",
                Value::Str(process.pid_dir.to_string_lossy().into_owned()),
            ),
        ]);
        if offer {
            // Storm's children ignore a key they do not know; Gale's
            // runner answers with `"protocol": BATCHED` and switches.
            if let Value::Map(entries) = &mut handshake {
                entries.push((
                    "gale".to_owned(),
                    map([
                        ("protocols", Value::List(vec![Value::from(frame::BATCHED)])),
                        ("max_frame", Value::I64(MAX_MESSAGE as i64)),
                    ]),
                ));
            }
        }
        process.send(&handshake);
        let mut answer = Value::Null;
        let pid = match process
            .recv(config.subprocess_timeout)
            .ok_or(RecvTimeoutError::Timeout)
        {
            Ok(Read::Message(msg)) => match msg.get("pid") {
                Some(&Value::I64(pid)) => {
                    answer = msg;
                    u32::try_from(pid).map_err(|_| format!("a bad pid {pid}"))
                }
                _ => Err(format!(
                    "expected {{\"pid\": N}}, got {}",
                    snippet(&format!("{msg:?}"))
                )),
            },
            Ok(Read::Malformed(m) | Read::Broken(m)) => Err(m),
            Ok(Read::Batch(_)) => Err("a frame before the handshake's answer".to_owned()),
            Ok(Read::Eof) => Err(format!("the child exited ({})", process.exit_status())),
            Err(_) => Err(format!(
                "no pid within the subprocess timeout ({:?})",
                config.subprocess_timeout
            )),
        };
        let pid = pid.map_err(|reason| process.handshake_error(reason))?;
        if !process.pid_dir.join(pid.to_string()).exists() {
            tracing::warn!(
                component = who.component,
                task = who.task,
                pid,
                "the child did not write its pid file in pidDir"
            );
        }
        process.pid = pid;
        process.batched = offer && asks_for_batched(&answer);
        tracing::debug!(
            component = who.component,
            task = who.task,
            pid,
            "subprocess started"
        );
        Ok(process)
    }

    fn handshake_error(&mut self, reason: String) -> ShellError {
        self.kill();
        ShellError::Handshake {
            reason,
            stderr: self.stderr_tail(),
        }
    }

    /// Sends a message (a frame under the batched protocol) to the
    /// child's stdin, after those [`queue`](Self::queue)d (never blocks).
    pub(crate) fn send(&mut self, msg: &Value) {
        self.queue(msg);
        self.flush();
    }

    /// Queues a message for the next [`flush`](Self::flush): inputs
    /// written in a row reach the writer thread, and the pipe, together.
    pub(crate) fn queue(&mut self, msg: &Value) {
        if self.batched {
            self.queued.extend_from_slice(&frame::encode(msg));
        } else {
            self.serializer.encode_into(msg, &mut self.queued);
        }
    }

    /// Queues a Storm tuple message for a bolt child (Storm's protocol
    /// only), written straight from its parts.
    pub(crate) fn queue_tuple(&mut self, msg: &crate::wire::TupleMessage<'_>) {
        self.serializer.encode_any(msg, &mut self.queued);
    }

    /// Hands the queued messages to the writer thread.
    pub(crate) fn flush(&mut self) {
        if self.queued.is_empty() {
            return;
        }
        match &self.input {
            Some(input) => input.write(&mut self.queued),
            None => self.queued.clear(),
        }
    }

    /// The OS process id of the child Gale started.
    pub(crate) fn os_pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the child speaks the batched protocol.
    pub(crate) fn batched(&self) -> bool {
        self.batched
    }

    /// Answers an emit that asked for its target tasks.
    pub(crate) fn send_task_ids(&mut self, tasks: &[TaskId]) {
        let ids = Value::List(tasks.iter().map(|&t| Value::I64(i64::from(t))).collect());
        if self.batched {
            self.send(&map([("task_ids", ids)]));
        } else {
            self.send(&ids);
        }
    }

    /// The next event from stdout, waiting at most `timeout`.
    pub(crate) fn recv(&mut self, timeout: Duration) -> Option<Read> {
        if let Some(r) = self.ready.pop_front() {
            return Some(r);
        }
        match self.events.recv_timeout(timeout) {
            Ok(batch) => {
                self.ready = batch.into();
                self.ready.pop_front()
            }
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => Some(Read::Eof),
        }
    }

    /// The next event from stdout, if one is ready.
    pub(crate) fn try_recv(&mut self) -> Option<Read> {
        if self.ready.is_empty() {
            self.ready = self.events.try_recv().ok()?.into();
        }
        self.ready.pop_front()
    }

    /// The last lines the child wrote to stderr, or "" if none.
    pub(crate) fn stderr_tail(&self) -> String {
        // Give the stderr thread a moment to catch what a dying child
        // wrote last.
        thread::sleep(Duration::from_millis(20));
        let tail = self.stderr.lock().unwrap_or_else(PoisonError::into_inner);
        if tail.is_empty() {
            return String::new();
        }
        let lines: Vec<&str> = tail.iter().map(String::as_str).collect();
        format!("; stderr tail:\n{}", lines.join("\n"))
    }

    /// How the child ended (waits up to a second for it, then kills it).
    pub(crate) fn exit_status(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(1);
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return describe(status),
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(5)),
                _ => {
                    return self
                        .kill()
                        .map_or("still running; killed".to_owned(), describe)
                }
            }
        }
    }

    /// Kills the child (if it still runs) and reaps it.
    pub(crate) fn kill(&mut self) -> Option<ExitStatus> {
        self.input = None;
        let _ = self.child.kill();
        self.child.wait().ok()
    }
}

impl Drop for ShellProcess {
    fn drop(&mut self) {
        // The child first, then its pid directory (`pid_dir`'s own drop).
        self.kill();
    }
}

/// A child's pid directory ([`make_pid_dir`]), removed when it drops: also
/// when the child cannot be started or fails its handshake.
struct PidDir(PathBuf);

impl std::ops::Deref for PidDir {
    type Target = std::path::Path;

    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for PidDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        _ => status.to_string(),
    }
}

/// A new private directory under `parent` for a child's pid file: a name
/// others cannot guess, made with mode 0700 and never reused (`mkdir`
/// fails on anything already there, a planted symlink included), removed
/// when the returned guard drops.
fn make_pid_dir(parent: &std::path::Path, who: &Who) -> Result<PidDir, ShellError> {
    use std::hash::{BuildHasher, Hasher};
    use std::os::unix::fs::DirBuilderExt;
    static SPAWNED: AtomicU64 = AtomicU64::new(0);
    // SYNC: Relaxed: a counter for unique names, nothing else.
    let n = SPAWNED.fetch_add(1, Ordering::Relaxed);
    // RandomState's keys come from the OS's random source.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(n);
    let pid_dir = parent.join(format!(
        "gale-pids-{}-{}-{}-{n}-{:016x}",
        std::process::id(),
        sanitize(&who.component),
        who.task,
        h.finish()
    ));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&pid_dir)
        .map_err(|source| ShellError::PidDir {
            path: pid_dir.clone(),
            source,
        })?;
    Ok(PidDir(pid_dir))
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// Whether a handshake answer asks for the batched protocol.
fn asks_for_batched(answer: &Value) -> bool {
    matches!(answer.get("protocol"), Some(Value::Str(p)) if p == frame::BATCHED)
}

/// Reads the child's stdout until it ends: messages, then (after a
/// handshake answer that asks for the offered batched protocol) frames.
///
/// Messages already whole in the read buffer go to the worker together
/// (one wake-up of the worker per read of the pipe, not per message); with
/// `coalesce` the reader then waits [`COALESCE`] if it found few.
fn read_loop<R: crate::serializer::Buffered>(
    mut reader: MessageReader<R>,
    offer: bool,
    coalesce: bool,
    tx: &Sender<Vec<Read>>,
) {
    let mut batch = Vec::new();
    loop {
        let read = reader.read();
        let last = matches!(read, Read::Eof | Read::Broken(_));
        let switch = offer && matches!(&read, Read::Message(m) if asks_for_batched(m));
        batch.push(read);
        if last || switch || !reader.whole_message_buffered() {
            let few = batch.len() < FEW;
            if tx.send(std::mem::take(&mut batch)).is_err() || last {
                return;
            }
            if coalesce && few && !switch {
                thread::sleep(COALESCE);
            }
        }
        if switch {
            break;
        }
    }
    let mut frames = FrameReader::new(reader.into_inner(), MAX_MESSAGE);
    loop {
        let read = frames.read();
        let last = matches!(read, Read::Eof | Read::Broken(_));
        if tx.send(vec![read]).is_err() || last {
            return;
        }
    }
}

fn spawn_stderr(stderr: std::process::ChildStderr, tail: Arc<Mutex<VecDeque<String>>>, who: Who) {
    let name = format!("gale-ml-stderr-{}-{}", sanitize(&who.component), who.task);
    let _ = thread::Builder::new().name(name).spawn(move || {
        let mut input = BufReader::new(stderr);
        let mut line = Vec::new();
        loop {
            line.clear();
            match (&mut input).take(STDERR_LINE).read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let text = String::from_utf8_lossy(&line).trim_end().to_owned();
            if text.is_empty() {
                continue;
            }
            tracing::info!(
                component = who.component,
                task = who.task,
                "subprocess stderr: {text}"
            );
            let mut tail = tail.lock().unwrap_or_else(PoisonError::into_inner);
            if tail.len() == STDERR_LINES {
                tail.pop_front();
            }
            tail.push_back(text);
        }
    });
}

/// Capacity asked for the child's stdin and stdout pipes.
const PIPE_BYTES: usize = 1 << 20;

/// Widens a pipe to [`PIPE_BYTES`] (Linux's default is 64 KiB): a batched
/// frame of a few hundred KiB then goes through in one write, not one per
/// 64 KiB with a wake-up of the other side each time. Best effort: a
/// system whose `fs.pipe-max-size` is lower keeps the default.
fn widen_pipe(pipe: &impl std::os::fd::AsFd) {
    let _ = rustix::pipe::fcntl_setpipe_size(pipe, PIPE_BYTES);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn pid_dirs_are_private_unguessable_and_never_reused() {
        let parent = std::env::temp_dir().join(format!("gale-piddir-test-{}", std::process::id()));
        std::fs::create_dir_all(&parent).unwrap();
        let who = Who {
            component: "split".into(),
            task: 3,
        };
        let (a, b) = (
            make_pid_dir(&parent, &who).unwrap(),
            make_pid_dir(&parent, &who).unwrap(),
        );
        assert_ne!(*a, *b);
        let mode = std::fs::metadata(&*a).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        // The random part differs even between two processes' first dirs:
        // it is 16 hex digits after the counter.
        let name = a.file_name().unwrap().to_string_lossy().into_owned();
        let random = name.rsplit('-').next().unwrap();
        assert_eq!(random.len(), 16, "{name}");
        // The guard removes its directory (with the pid file in it).
        let path = a.to_path_buf();
        std::fs::write(path.join("123"), "").unwrap();
        drop(a);
        assert!(!path.exists());
        // A path that exists already (a planted directory or symlink) is
        // never taken over.
        std::os::unix::fs::symlink(&parent, &path).unwrap();
        assert!(std::fs::DirBuilder::new().create(&path).is_err());
        std::fs::remove_dir_all(&parent).unwrap();
    }
}
