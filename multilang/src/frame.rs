//! Gale's batched multi-lang protocol: after a handshake in which Gale
//! offers it and the child asks for it, both sides exchange frames — a
//! 4-byte big-endian length, then that many bytes of one msgpack map —
//! each carrying many tuples in and all the emits, acks and fails for
//! them out, with no per-tuple sync and no newline framing.
//!
//! Gale → child (keys present only when used):
//! - `t`: bolt inputs, `[[id, component, stream, task, values], ...]`
//!   (ids are integers; tick tuples come from `__system`/`__tick`)
//! - `hb`: a heartbeat (bolts); the child answers with `sync`
//! - `next`: spouts, call `next_tuple` up to this many times (fewer if
//!   a call emits nothing), then answer with `sync`
//! - `a`, `f`: spouts, message ids acked / failed
//! - `activate`, `deactivate`: spouts, answered with `sync`
//! - `task_ids`: the target tasks of the last emit that asked for them
//!
//! Child → Gale:
//! - `e`: bolt emits, `[[stream|nil, values, anchors|nil, task|nil,
//!   need_task_ids|nil], ...]` (trailing entries may be left out)
//! - `s`: spout emits, `[[stream|nil, values, msg_id|nil, task|nil,
//!   need_task_ids|nil], ...]`
//! - `a`, `f`: input ids acked / failed (bolts)
//! - `log`: `[[level, message], ...]`; `err`: `[message, ...]`;
//!   `m`: `[[name, value], ...]` (Storm's `metrics`)
//! - `sync`: the answer to `hb`, `next`, `activate` and `deactivate`
//!
//! Gale applies a frame's parts in that order (emits, acks, fails, logs,
//! errors, metrics, sync), so an emit anchored to an input acked in the
//! same frame keeps its anchor.

use std::io::{self, Read as _};

use gale_codec::Value;
use gale_engine::TaskId;

use crate::msgpack::{self, Decoder};
use crate::protocol::{Command, Emit};
use crate::serializer::Read;
use crate::snippet::snippet;
use crate::wire::Ser;

/// The protocol name a child asks for in its handshake answer
/// (`{"pid": N, "protocol": "gale-batched-1"}`).
pub(crate) const BATCHED: &str = "gale-batched-1";

/// One frame, ready to write to a child's stdin.
pub(crate) fn encode(msg: &Value) -> Vec<u8> {
    let mut out = vec![0; 4];
    // Writing a Value into a Vec cannot fail (no I/O, string keys).
    let _ = rmp_serde::encode::write(&mut out, &Ser(msg));
    let len = u32::try_from(out.len() - 4).unwrap_or(u32::MAX);
    out[..4].copy_from_slice(&len.to_be_bytes());
    out
}

/// Reads frames from a child's stdout, at most `max` bytes each.
pub(crate) struct FrameReader<R> {
    input: R,
    max: usize,
    body: Vec<u8>,
}

impl<R: io::Read> FrameReader<R> {
    pub(crate) fn new(input: R, max: usize) -> Self {
        Self {
            input,
            max,
            body: Vec::new(),
        }
    }

    /// Blocks for the next frame and parses it. A frame whose length is 0
    /// or above the limit, or whose body is not one msgpack map, breaks
    /// the stream (the child misbehaves: it is restarted).
    pub(crate) fn read(&mut self) -> Read {
        let mut len = [0u8; 4];
        let mut got = 0;
        while got < 4 {
            match self.input.read(&mut len[got..]) {
                Ok(0) if got == 0 => return Read::Eof,
                Ok(0) => return Read::Broken("stdout ended inside a frame's length".to_owned()),
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Read::Broken(format!("cannot read stdout: {e}")),
            }
        }
        let len = u32::from_be_bytes(len) as usize;
        if len == 0 || len > self.max {
            return Read::Broken(format!(
                "a frame of {len} bytes (frames hold 1 to {} bytes; is the subprocess writing \
                 something else to stdout?)",
                self.max
            ));
        }
        self.body.clear();
        // Read in steps so a lying length costs no more memory than the
        // bytes actually sent.
        let mut limited = (&mut self.input).take(len as u64);
        match limited.read_to_end(&mut self.body) {
            Ok(n) if n == len => {}
            Ok(n) => {
                return Read::Broken(format!("stdout ended inside a frame ({n} of {len} bytes)"))
            }
            Err(e) => return Read::Broken(format!("cannot read stdout: {e}")),
        }
        match parse_body(&self.body) {
            Ok(commands) => Read::Batch(commands),
            Err(e) => Read::Broken(format!("a malformed frame of {len} bytes ({e})")),
        }
    }
}

/// Reads a frame's body into commands: the emits (`e`, `s`, the bulk of a
/// frame) straight from the bytes, the rest through [`parse`].
fn parse_body(body: &[u8]) -> Result<Vec<Result<Command, String>>, String> {
    let mut d = Decoder::new(body);
    let Some(n) = d.map()? else {
        return parse(msgpack::decode(body)?);
    };
    let mut out = Vec::new();
    let mut spout_emits = Vec::new();
    let mut rest = Vec::new();
    for _ in 0..n {
        let key = match d.value(1)? {
            Value::Str(key) => key,
            other => return Err(format!("a frame key that is a {}", other.kind())),
        };
        let spout = key == "s";
        if key != "e" && !spout {
            rest.push((key, d.value(1)?));
            continue;
        }
        let Some(entries) = d.array()? else {
            let other = d.value(1)?;
            out.push(Err(format!(
                "frame key `{key}` holds a {}, not a list",
                other.kind()
            )));
            continue;
        };
        let list = if spout { &mut spout_emits } else { &mut out };
        list.reserve(entries.min(d.left()));
        let mut last_anchors: &[u8] = &[];
        for _ in 0..entries {
            list.push(emit_entry(&mut d, spout, &mut last_anchors)?);
        }
    }
    if d.left() > 0 {
        return Err(format!("{} bytes after the msgpack value", d.left()));
    }
    out.append(&mut spout_emits);
    out.extend(parse(Value::Map(rest))?);
    Ok(out)
}

/// One emit entry read from the bytes (see [`emit`]); a bolt emit whose
/// anchors are the same bytes as the previous one's is marked
/// `same_anchors` instead of decoding them again.
fn emit_entry<'a>(
    d: &mut Decoder<'a>,
    spout: bool,
    last_anchors: &mut &'a [u8],
) -> Result<Result<Command, String>, String> {
    let Some(len) = d.array()? else {
        return Ok(emit(d.value(1)?, spout));
    };
    let mut fields = Vec::with_capacity(len.min(5));
    let mut same = false;
    let mut anchors: &[u8] = &[];
    for i in 0..len {
        if i == 2 && !spout && d.skip_if(last_anchors) {
            same = true;
            fields.push(Value::Null);
            continue;
        }
        let (value, bytes) = d.value_and_bytes()?;
        if i == 2 && !spout {
            anchors = bytes;
        }
        fields.push(value);
    }
    let mut command = emit(Value::List(fields), spout);
    if let Ok(Command::Emit(e)) = &mut command {
        e.same_anchors = same;
        // Only an emit that will be applied may lend its anchors.
        if !same {
            *last_anchors = anchors;
        }
    } else {
        *last_anchors = &[];
    }
    Ok(command)
}

/// Splits a child's frame into commands, in the order Gale applies them.
/// A frame that is not a map is an error; a bad entry becomes an `Err` in
/// its place (the rest of the frame still counts).
pub(crate) fn parse(frame: Value) -> Result<Vec<Result<Command, String>>, String> {
    let Value::Map(entries) = frame else {
        return Err(format!(
            "a frame that is a {}, not a map: {}",
            frame.kind(),
            snippet(&format!("{frame:?}"))
        ));
    };
    let mut parts: [Option<Value>; 8] = Default::default();
    const KEYS: [&str; 8] = ["e", "s", "a", "f", "log", "err", "m", "sync"];
    let mut out = Vec::new();
    for (key, value) in entries {
        match KEYS.iter().position(|k| *k == key) {
            Some(i) => parts[i] = Some(value),
            None => out.push(Err(format!("unknown frame key `{}`", snippet(&key)))),
        }
    }
    let [e, s, a, f, log, err, m, sync] = parts;
    for (list, spout) in [(e, false), (s, true)] {
        for entry in items(list, if spout { "s" } else { "e" }, &mut out) {
            out.push(emit(entry, spout));
        }
    }
    for entry in items(a, "a", &mut out) {
        out.push(Ok(Command::Ack(entry)));
    }
    for entry in items(f, "f", &mut out) {
        out.push(Ok(Command::Fail(entry)));
    }
    for entry in items(log, "log", &mut out) {
        out.push(match entry {
            Value::List(l) if l.len() == 2 => match (&l[0], &l[1]) {
                (Value::I64(level), Value::Str(msg)) => Ok(Command::Log {
                    msg: msg.clone(),
                    level: *level,
                }),
                _ => Err("a `log` entry must be [level, message]".to_owned()),
            },
            _ => Err("a `log` entry must be [level, message]".to_owned()),
        });
    }
    for entry in items(err, "err", &mut out) {
        out.push(match entry {
            Value::Str(msg) => Ok(Command::Error(msg)),
            other => Err(format!(
                "an `err` entry is a {}, not a string",
                other.kind()
            )),
        });
    }
    for entry in items(m, "m", &mut out) {
        out.push(match entry {
            Value::List(mut l) if l.len() == 2 => match (l.pop(), l.pop()) {
                (Some(params), Some(Value::Str(name))) => Ok(Command::Metrics { name, params }),
                _ => Err("an `m` entry must be [name, value]".to_owned()),
            },
            _ => Err("an `m` entry must be [name, value]".to_owned()),
        });
    }
    match sync {
        None | Some(Value::Null | Value::Bool(false)) => {}
        Some(_) => out.push(Ok(Command::Sync)),
    }
    Ok(out)
}

/// The entries of one list part; a part that is not a list is an error.
fn items(part: Option<Value>, key: &str, out: &mut Vec<Result<Command, String>>) -> Vec<Value> {
    match part {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::List(l)) => l,
        Some(other) => {
            out.push(Err(format!(
                "frame key `{key}` holds a {}, not a list",
                other.kind()
            )));
            Vec::new()
        }
    }
}

/// One emit entry: `[stream, values, anchors-or-msg-id, task,
/// need_task_ids]`, the last three optional.
fn emit(entry: Value, spout: bool) -> Result<Command, String> {
    let Value::List(fields) = entry else {
        return Err(format!("an emit entry is a {}, not a list", entry.kind()));
    };
    if !(2..=5).contains(&fields.len()) {
        return Err(format!(
            "an emit entry has {} elements, not 2 to 5",
            fields.len()
        ));
    }
    let mut fields = fields.into_iter();
    let stream = match fields.next() {
        Some(Value::Str(s)) => Some(s),
        Some(Value::Null) | None => None,
        Some(other) => return Err(format!("an emit's stream is a {}", other.kind())),
    };
    let tuple = match fields.next() {
        Some(Value::List(values)) => values,
        Some(other) => return Err(format!("an emit's values are a {}", other.kind())),
        None => Vec::new(),
    };
    let (anchors, id) = match (fields.next(), spout) {
        (None | Some(Value::Null), _) => (Vec::new(), None),
        (Some(id), true) => (Vec::new(), Some(id)),
        (Some(Value::List(anchors)), false) => (anchors, None),
        (Some(other), false) => return Err(format!("an emit's anchors are a {}", other.kind())),
    };
    let task = match fields.next() {
        None | Some(Value::Null) => None,
        Some(Value::I64(t)) => {
            Some(TaskId::try_from(t).map_err(|_| format!("an emit to task {t}, not a task id"))?)
        }
        Some(other) => return Err(format!("an emit's task is a {}", other.kind())),
    };
    let need_task_ids = match fields.next() {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => b,
        Some(other) => return Err(format!("an emit's need_task_ids is a {}", other.kind())),
    };
    Ok(Command::Emit(Emit {
        stream,
        anchors,
        same_anchors: false,
        id,
        task,
        tuple,
        need_task_ids,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::map;

    fn frame(v: &Value) -> Vec<u8> {
        encode(v)
    }

    #[test]
    fn a_frame_carries_emits_acks_and_sync_in_order() {
        let v = map([
            ("sync", Value::Bool(true)),
            ("a", Value::List(vec![Value::I64(3)])),
            (
                "e",
                Value::List(vec![Value::List(vec![
                    Value::Null,
                    Value::List(vec![Value::from("w")]),
                    Value::List(vec![Value::I64(3)]),
                ])]),
            ),
        ]);
        let bytes = frame(&v);
        let Read::Batch(cmds) = FrameReader::new(bytes.as_slice(), 1 << 20).read() else {
            panic!()
        };
        assert!(
            matches!(&cmds[0], Ok(Command::Emit(e)) if e.anchors == [Value::I64(3)]
            && !e.need_task_ids && e.stream.is_none())
        );
        assert_eq!(cmds[1], Ok(Command::Ack(Value::I64(3))));
        assert_eq!(cmds[2], Ok(Command::Sync));
    }

    #[test]
    fn bad_frames_break_the_stream_with_a_reason() {
        let huge = [0xff, 0xff, 0xff, 0xff, 1, 2];
        let r = FrameReader::new(&huge[..], 1 << 20).read();
        assert!(matches!(r, Read::Broken(m) if m.contains("4294967295 bytes")));
        let zero = [0, 0, 0, 0];
        assert!(matches!(
            FrameReader::new(&zero[..], 16).read(),
            Read::Broken(_)
        ));
        let cut = &frame(&map([("sync", Value::Bool(true))]))[..6];
        assert!(matches!(
            FrameReader::new(cut, 1 << 20).read(),
            Read::Broken(m) if m.contains("ended inside a frame")
        ));
        let list = frame(&Value::List(vec![]));
        assert!(matches!(
            FrameReader::new(list.as_slice(), 1 << 20).read(),
            Read::Broken(m) if m.contains("not a map")
        ));
        let garbage = [0, 0, 0, 2, 0xc1, 0xc1];
        assert!(matches!(
            FrameReader::new(&garbage[..], 1 << 20).read(),
            Read::Broken(m) if m.contains("malformed frame")
        ));
        assert!(matches!(FrameReader::new(&[][..], 16).read(), Read::Eof));
    }

    #[test]
    fn bad_entries_are_errors_in_place() {
        let v = map([
            ("e", Value::List(vec![Value::I64(1)])),
            ("s", Value::I64(2)),
            ("zz", Value::Null),
            ("a", Value::List(vec![Value::I64(9)])),
        ]);
        let cmds = parse(v).unwrap();
        let errors: Vec<&String> = cmds.iter().filter_map(|c| c.as_ref().err()).collect();
        assert_eq!(errors.len(), 3, "{cmds:?}");
        assert!(cmds.contains(&Ok(Command::Ack(Value::I64(9)))));
    }

    #[test]
    fn repeated_anchors_are_marked_and_a_bad_entry_breaks_the_run() {
        let e = |values: Value| {
            Value::List(vec![Value::Null, values, Value::List(vec![Value::I64(7)])])
        };
        let w = || Value::List(vec![Value::from("w")]);
        let v = map([(
            "e",
            Value::List(vec![e(w()), e(w()), e(Value::I64(0)), e(w())]),
        )]);
        let cmds = parse_body(&encode(&v)[4..]).unwrap();
        let same: Vec<Option<bool>> = cmds
            .iter()
            .map(|c| match c {
                Ok(Command::Emit(e)) => Some(e.same_anchors),
                _ => None,
            })
            .collect();
        assert_eq!(same, [Some(false), Some(true), None, Some(false)]);
        let Ok(Command::Emit(last)) = &cmds[3] else {
            panic!()
        };
        assert_eq!(last.anchors, [Value::I64(7)]);
    }

    #[test]
    fn spout_emits_keep_any_message_id() {
        let id = Value::List(vec![Value::from("k"), Value::I64(1)]);
        let entry = Value::List(vec![
            Value::from("words"),
            Value::List(vec![Value::from("a")]),
            id.clone(),
            Value::I64(4),
            Value::Bool(true),
        ]);
        let Ok(Command::Emit(e)) = emit(entry, true) else {
            panic!()
        };
        assert_eq!(e.id, Some(id));
        assert_eq!(e.task, Some(4));
        assert!(e.need_task_ids);
        assert_eq!(e.stream.as_deref(), Some("words"));
    }
}
