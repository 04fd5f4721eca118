//! The two serializers of the multi-lang protocol (Storm's
//! `topology.multilang.serializer`; pystorm's `--serializer`): JSON
//! messages each followed by a line `end`, or msgpack values back to back.

use std::io::{self, BufRead};

use gale_codec::Value;

use crate::snippet::snippet;
use crate::wire::{too_many_values, De, Ser};

/// Largest message accepted from a child, in bytes.
pub const MAX_MESSAGE: usize = 16 << 20;

/// How messages are encoded on the pipes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Serializer {
    /// JSON text, each message followed by `\nend\n` (Storm's default).
    #[default]
    Json,
    /// msgpack values, delimited by msgpack itself (pystorm's
    /// `MsgpackSerializer`).
    Msgpack,
}

impl Serializer {
    /// The name used in topology files and by pystorm (`json`,
    /// `msgpack`).
    pub fn name(self) -> &'static str {
        match self {
            Serializer::Json => "json",
            Serializer::Msgpack => "msgpack",
        }
    }

    /// Parses a name given by [`name`](Self::name).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "json" => Some(Serializer::Json),
            "msgpack" => Some(Serializer::Msgpack),
            _ => None,
        }
    }

    /// One message, framed, ready to write to a child's stdin.
    #[cfg(test)]
    pub(crate) fn encode(self, msg: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(msg, &mut out);
        out
    }

    /// Appends one message, framed, to `out`.
    pub(crate) fn encode_into(self, msg: &Value, out: &mut Vec<u8>) {
        self.encode_any(&Ser(msg), out);
    }

    /// Appends one message of any serializable shape (a struct becomes a
    /// map, as a message must), framed, to `out`.
    pub(crate) fn encode_any(self, msg: &impl serde::Serialize, out: &mut Vec<u8>) {
        let start = out.len();
        // Serializing into memory cannot fail for JSON (no non-string
        // keys) nor msgpack; should it, the message is left out (the
        // child would catch an empty one).
        let written = match self {
            Serializer::Json => serde_json::to_writer(&mut *out, msg)
                .map(|()| out.extend_from_slice(b"\nend\n"))
                .is_ok(),
            Serializer::Msgpack => rmp_serde::encode::write_named(&mut *out, msg).is_ok(),
        };
        if !written {
            out.truncate(start);
        }
    }
}

/// What one read from a child's stdout gave.
#[derive(Debug)]
pub(crate) enum Read {
    /// A whole message.
    Message(Value),
    /// A whole frame of the batched protocol, split into commands (a bad
    /// entry is an `Err` in its place).
    Batch(Vec<Result<crate::protocol::Command, String>>),
    /// A message that does not parse; the framing held, so the next one
    /// can still be read (JSON only).
    Malformed(String),
    /// The stream cannot be read any further (broken msgpack framing, an
    /// oversized message, an I/O error).
    Broken(String),
    /// End of file: the child closed its stdout (it exited).
    Eof,
}

/// A reader whose buffered bytes can be looked at without reading more.
pub(crate) trait Buffered: BufRead {
    /// The bytes read ahead and not yet consumed.
    fn buffered(&self) -> &[u8];
}

impl<R: io::Read> Buffered for io::BufReader<R> {
    fn buffered(&self) -> &[u8] {
        self.buffer()
    }
}

impl Buffered for &[u8] {
    fn buffered(&self) -> &[u8] {
        self
    }
}

impl<T: AsRef<[u8]>> Buffered for io::Cursor<T> {
    fn buffered(&self) -> &[u8] {
        let bytes = self.get_ref().as_ref();
        let at = usize::try_from(self.position()).map_or(bytes.len(), |p| p.min(bytes.len()));
        &bytes[at..]
    }
}

/// Reads framed messages from a child's stdout.
pub(crate) struct MessageReader<R> {
    input: R,
    serializer: Serializer,
    message: Vec<u8>,
}

impl<R: Buffered> MessageReader<R> {
    pub(crate) fn new(input: R, serializer: Serializer) -> Self {
        Self {
            input,
            serializer,
            message: Vec::new(),
        }
    }

    /// The input, with whatever it has buffered (for a switch to frames
    /// after the handshake).
    pub(crate) fn into_inner(self) -> R {
        self.input
    }

    /// Whether a whole message is in the read buffer already, so that
    /// [`read`](Self::read) will not block (JSON: an `end` line is
    /// buffered; msgpack: not known, so no).
    pub(crate) fn whole_message_buffered(&mut self) -> bool {
        match self.serializer {
            Serializer::Json => {
                let buffered = self.input.buffered();
                buffered.starts_with(b"end\n") || buffered.windows(5).any(|w| w == b"\nend\n")
            }
            Serializer::Msgpack => false,
        }
    }

    /// Blocks for the next message.
    pub(crate) fn read(&mut self) -> Read {
        match self.serializer {
            Serializer::Json => self.read_json(),
            Serializer::Msgpack => self.read_msgpack(),
        }
    }

    fn read_json(&mut self) -> Read {
        // A message of up to MAX_MESSAGE bytes is read into one buffer
        // (lines straight into it, not copied); a buffer grown past
        // 1 MiB by a large message is not kept for the next.
        if self.message.capacity() > 1 << 20 {
            self.message = Vec::new();
        }
        self.message.clear();
        loop {
            let start = self.message.len();
            let limit = (MAX_MESSAGE + 1 - start.min(MAX_MESSAGE)) as u64;
            match std::io::Read::take(&mut self.input, limit).read_until(b'\n', &mut self.message) {
                Ok(0) => return Read::Eof,
                Ok(_) => {}
                Err(e) => return Read::Broken(format!("cannot read stdout: {e}")),
            }
            if trim_newline(&self.message[start..]) == b"end" {
                self.message.truncate(start);
                break;
            }
            if self.message.len() > MAX_MESSAGE {
                return Read::Broken(format!(
                    "a message longer than {MAX_MESSAGE} bytes without its `end` line"
                ));
            }
        }
        if self.message.iter().all(u8::is_ascii_whitespace) {
            return Read::Malformed("an empty message (a lone `end` line)".to_owned());
        }
        match serde_json::from_slice::<De>(&self.message) {
            Ok(De(v)) => Read::Message(v),
            // Too big to take in: the child misbehaves (as with a message
            // over MAX_MESSAGE bytes), so it is restarted.
            Err(e) if too_many_values(&e) => Read::Broken(e.to_string()),
            Err(e) => Read::Malformed(format!(
                "malformed JSON ({e}): {}",
                snippet(&String::from_utf8_lossy(&self.message))
            )),
        }
    }

    fn read_msgpack(&mut self) -> Read {
        match self.input.fill_buf() {
            Ok([]) => return Read::Eof,
            Ok(_) => {}
            Err(e) => return Read::Broken(format!("cannot read stdout: {e}")),
        }
        // At most MAX_MESSAGE bytes per message (rmp-serde reads string
        // and binary data incrementally, so a hostile length prefix cannot
        // make it allocate more than it read).
        let mut limited = std::io::Read::take(&mut self.input, MAX_MESSAGE as u64);
        let result = rmp_serde::from_read::<_, De>(&mut limited);
        let exhausted = limited.limit() == 0;
        match result {
            Ok(De(v)) => Read::Message(v),
            Err(_) if exhausted => {
                Read::Broken(format!("a msgpack message longer than {MAX_MESSAGE} bytes"))
            }
            Err(rmp_serde::decode::Error::InvalidMarkerRead(e))
            | Err(rmp_serde::decode::Error::InvalidDataRead(e))
                if e.kind() == io::ErrorKind::UnexpectedEof =>
            {
                Read::Broken("stdout ended in the middle of a msgpack message".to_owned())
            }
            Err(e) => Read::Broken(format!("malformed msgpack ({e}); framing lost")),
        }
    }
}

fn trim_newline(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::map;

    fn reader(bytes: &[u8], s: Serializer) -> MessageReader<&[u8]> {
        MessageReader::new(bytes, s)
    }

    #[test]
    fn json_messages_are_framed_by_end_lines() {
        let msg = map([("command", Value::from("sync"))]);
        let mut bytes = Serializer::Json.encode(&msg);
        bytes.extend_from_slice(b"{\"a\":\n[1,\n2]}\nend\n");
        bytes.extend_from_slice(b"{not json\nend\n");
        bytes.extend_from_slice(b"{\"b\":1}\nend\n");
        let mut r = reader(&bytes, Serializer::Json);
        assert!(matches!(r.read(), Read::Message(v) if v == msg));
        let Read::Message(v) = r.read() else { panic!() };
        assert_eq!(
            v.get("a"),
            Some(&Value::List(vec![Value::I64(1), Value::I64(2)]))
        );
        assert!(matches!(r.read(), Read::Malformed(m) if m.contains("malformed JSON")));
        assert!(matches!(r.read(), Read::Message(_)));
        assert!(matches!(r.read(), Read::Eof));
    }

    #[test]
    fn a_whole_json_message_in_the_buffer_is_seen_without_reading() {
        let msg = map([("command", Value::from("sync"))]);
        let mut bytes = Serializer::Json.encode(&msg);
        bytes.extend(Serializer::Json.encode(&msg));
        // Then half a message: reading it would block on a pipe.
        bytes.extend_from_slice(b"{\"command\": \"ack\",\n");
        let mut r = reader(&bytes, Serializer::Json);
        assert!(r.whole_message_buffered());
        assert!(matches!(r.read(), Read::Message(_)));
        assert!(r.whole_message_buffered());
        assert!(matches!(r.read(), Read::Message(_)));
        assert!(!r.whole_message_buffered(), "half a message is not whole");
        // A lone `end` line right at the start counts (an empty message).
        assert!(reader(b"end\n", Serializer::Json).whole_message_buffered());
        assert!(!reader(b"", Serializer::Msgpack).whole_message_buffered());
        // A cursor (as tests and fuzzers read from) says the same.
        let mut c = MessageReader::new(io::Cursor::new(bytes.clone()), Serializer::Json);
        assert!(c.whole_message_buffered());
        assert!(matches!(c.read(), Read::Message(_)));
        assert!(matches!(c.read(), Read::Message(_)));
        assert!(!c.whole_message_buffered());
    }

    #[test]
    fn a_tuple_message_encodes_as_the_map_storm_sends() {
        let values = [
            Value::from("the cow"),
            Value::I64(-3),
            Value::Bytes(vec![1]),
        ];
        let msg = crate::wire::TupleMessage {
            id: 42,
            comp: "spout",
            stream: "default",
            task: 7,
            tuple: &values,
        };
        let as_map = map([
            ("id", Value::from("42")),
            ("comp", Value::from("spout")),
            ("stream", Value::from("default")),
            ("task", Value::I64(7)),
            ("tuple", Value::List(values.to_vec())),
        ]);
        for s in [Serializer::Json, Serializer::Msgpack] {
            let mut direct = Vec::new();
            s.encode_any(&msg, &mut direct);
            assert_eq!(direct, s.encode(&as_map), "{s:?}");
        }
    }

    #[test]
    fn a_message_of_too_many_values_breaks_the_stream() {
        let mut bytes = format!(
            "{{\"command\": \"emit\", \"tuple\": [{}1]}}\nend\n",
            "1,".repeat(1 << 20)
        )
        .into_bytes();
        bytes.extend(Serializer::Json.encode(&map([("command", Value::from("sync"))])));
        let mut r = reader(&bytes, Serializer::Json);
        assert!(matches!(r.read(), Read::Broken(e) if e.contains("more than 262144 values")));
        let many = map([("tuple", Value::List(vec![Value::I64(1); 1 << 20]))]);
        let bytes = Serializer::Msgpack.encode(&many);
        let mut r = reader(&bytes, Serializer::Msgpack);
        assert!(matches!(r.read(), Read::Broken(e) if e.contains("more than 262144 values")));
    }

    #[test]
    fn msgpack_messages_follow_each_other() {
        let a = map([("pid", Value::I64(42))]);
        let b = map([("command", Value::from("ack")), ("id", Value::from("7"))]);
        let mut bytes = Serializer::Msgpack.encode(&a);
        bytes.extend(Serializer::Msgpack.encode(&b));
        let mut r = reader(&bytes, Serializer::Msgpack);
        assert!(matches!(r.read(), Read::Message(v) if v == a));
        assert!(matches!(r.read(), Read::Message(v) if v == b));
        assert!(matches!(r.read(), Read::Eof));
        let cut = &Serializer::Msgpack.encode(&b)[..5];
        assert!(matches!(
            reader(cut, Serializer::Msgpack).read(),
            Read::Broken(_)
        ));
    }
}
