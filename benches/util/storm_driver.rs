//! A minimal, independent stand-in for Storm's side of the multi-lang
//! protocol (its `ShellBolt`), to measure a bolt child alone: it spawns the
//! child, sends the handshake, writes one JSON tuple per sentence with at
//! most `window` unacked (Storm's `topology.shellbolt.max.pending`), reads
//! every message the child writes (emits are counted as words, acks free
//! the window; an emit that asks for its task ids gets them, as Storm
//! answers) and returns once every sentence is acked.
//!
//! It shares no code with Gale (only `serde_json` and the standard
//! library), so it is an independent yardstick for Gale's shell bolt. It
//! runs on one thread and never spins: it writes while the window has
//! room, flushes only before it would block, and then blocks reading the
//! child's stdout.

use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

/// What one driven run did.
pub struct Driven {
    /// Sentences acked (all of them).
    pub sentences: u64,
    /// Words the child emitted.
    pub words: u64,
}

/// Feeds `total` sentences (cycling through `sentences`) to the child
/// `command args` (a Storm multi-lang bolt speaking JSON) in `cwd`.
pub fn drive(
    command: &str,
    args: &[String],
    cwd: &Path,
    sentences: &[&str],
    total: u64,
    window: u64,
) -> io::Result<Driven> {
    static RUNS: AtomicU64 = AtomicU64::new(0);
    // SYNC: Relaxed: a counter for unique names only.
    let n = RUNS.fetch_add(1, Ordering::Relaxed);
    let pid_dir = std::env::temp_dir().join(format!("storm-driver-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&pid_dir)?;
    let mut child = Command::new(command)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(io::Error::other("the child's pipes are missing"));
    };
    let mut input = BufWriter::with_capacity(64 << 10, stdin);
    let mut output = BufReader::with_capacity(64 << 10, stdout);
    let handshake = serde_json::json!({
        "conf": {"topology.name": "driver"},
        "context": {
            "taskid": 2,
            "componentid": "split",
            "task->component": {"1": "sentences", "2": "split", "3": "count"},
        },
        "pidDir": pid_dir.to_string_lossy(),
    });
    writeln!(input, "{handshake}\nend")?;
    input.flush()?;
    let mut message = String::new();
    let pid = read_message(&mut output, &mut message)?;
    if pid.get("pid").and_then(serde_json::Value::as_u64).is_none() {
        return Err(io::Error::other(format!("expected the pid, got {pid}")));
    }
    let (mut sent, mut acked, mut words) = (0u64, 0u64, 0u64);
    while acked < total {
        while sent < total && sent - acked < window {
            let sentence = sentences[(sent % sentences.len() as u64) as usize];
            // Storm's ShellBolt writes each tuple as one JSON object.
            let tuple = serde_json::json!({
                "id": sent.to_string(),
                "comp": "sentences",
                "stream": "default",
                "task": 1,
                "tuple": [sentence],
            });
            writeln!(input, "{tuple}\nend")?;
            sent += 1;
        }
        if output.buffer().is_empty() {
            // About to block on the child: let it have what is written.
            input.flush()?;
        }
        let msg = read_message(&mut output, &mut message)?;
        match msg.get("command").and_then(serde_json::Value::as_str) {
            Some("emit") => {
                words += 1;
                let asks = msg
                    .get("need_task_ids")
                    .and_then(serde_json::Value::as_bool)
                    .unwrap_or(true);
                if asks {
                    writeln!(input, "[3]\nend")?;
                }
            }
            Some("ack") => acked += 1,
            Some("sync" | "log" | "metrics") => {}
            _ => return Err(io::Error::other(format!("unexpected message {msg}"))),
        }
    }
    drop(input);
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&pid_dir);
    Ok(Driven {
        sentences: acked,
        words,
    })
}

/// Reads one message (lines up to a line `end`) and parses it.
fn read_message(output: &mut impl BufRead, message: &mut String) -> io::Result<serde_json::Value> {
    message.clear();
    loop {
        let start = message.len();
        if output.read_line(message)? == 0 {
            return Err(io::Error::other("the child closed its stdout"));
        }
        if message[start..].trim_end() == "end" {
            message.truncate(start);
            return serde_json::from_str(message).map_err(io::Error::other);
        }
    }
}
