//! Fuzzing the multi-lang wire: everything a child writes to its stdout is
//! untrusted, so Storm's JSON messages (`end`-line framed), its msgpack
//! messages, the batched protocol's frames and the msgpack decoder under
//! them, fed well-formed messages garbled on the way, arbitrary bytes and
//! streams cut anywhere, must give messages, errors or the end of the
//! stream, never a panic or a reader that stops consuming; every message
//! read goes through the command parser too.
//!
//! The case count is `GALE_FUZZ_CASES` (256 by default, part of the normal
//! tests); `GALE_FUZZ_CASES=100000 cargo test -p gale-multilang --lib
//! fuzz_tests` is a long run (docs/security.md).

use gale_codec::Value;
use proptest::prelude::*;

use crate::frame::{self, FrameReader};
use crate::msgpack;
use crate::protocol;
use crate::serializer::{MessageReader, Read, Serializer};
use crate::wire::map;

fn cases() -> u32 {
    std::env::var("GALE_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(256)
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::I64),
        any::<f64>()
            .prop_filter("NaN is not equal to itself", |f| !f.is_nan())
            .prop_map(Value::F64),
        ".{0,12}".prop_map(Value::Str),
        proptest::collection::vec(any::<u8>(), 0..12).prop_map(Value::Bytes),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::List),
            proptest::collection::vec(("[a-z]{0,6}", inner), 0..4).prop_map(Value::Map),
        ]
    })
}

/// One of `words` mostly, else any short word.
fn word(words: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(words).prop_map(String::from),
        1 => "[a-z_]{0,8}",
    ]
}

/// Storm protocol messages, well-formed or close to it: the commands a
/// child sends, with the fields they take and arbitrary values in them.
fn storm_message() -> impl Strategy<Value = Value> {
    let command = word(&[
        "emit", "ack", "fail", "log", "error", "sync", "metrics", "next",
    ]);
    let field = word(&[
        "id",
        "stream",
        "task",
        "tuple",
        "anchors",
        "need_task_ids",
        "msg",
        "level",
        "name",
        "params",
    ]);
    (
        command,
        proptest::collection::vec((field, value()), 0..5),
        any::<bool>(),
    )
        .prop_map(|(command, fields, with_command)| {
            let mut entries: Vec<(String, Value)> = fields.into_iter().collect();
            if with_command {
                entries.push(("command".into(), Value::from(command)));
            }
            Value::Map(entries)
        })
}

/// A batched-protocol frame's map: emits, acks, fails, logs, errors,
/// metrics and sync, with entries of the right shape or not.
fn batched_message() -> impl Strategy<Value = Value> {
    let entry = prop_oneof![
        // An emit entry: [stream, values, anchors|msg_id, task, need_task_ids].
        (
            prop_oneof![Just(Value::Null), "[a-z]{0,6}".prop_map(Value::Str)],
            proptest::collection::vec(value(), 0..3).prop_map(Value::List),
            value(),
            prop_oneof![Just(Value::Null), any::<i64>().prop_map(Value::I64)],
            any::<bool>().prop_map(Value::Bool),
            0usize..=5,
        )
            .prop_map(|(s, v, a, t, n, keep)| {
                let mut e = vec![s, v, a, t, n];
                e.truncate(keep);
                Value::List(e)
            }),
        value(),
    ];
    let part = word(&["e", "s", "a", "f", "log", "err", "m", "sync"]);
    proptest::collection::vec(
        (
            part,
            prop_oneof![
                4 => proptest::collection::vec(entry, 0..4).prop_map(Value::List),
                1 => value(),
            ],
        ),
        0..6,
    )
    .prop_map(Value::Map)
}

/// What happens to the bytes on the way: bit flips, a cut, bytes
/// inserted.
#[derive(Debug, Clone)]
enum Garble {
    Flips(Vec<(usize, u8)>),
    Cut(usize),
    Insert(usize, Vec<u8>),
}

fn garble() -> impl Strategy<Value = Option<Garble>> {
    proptest::option::weighted(
        0.7,
        prop_oneof![
            proptest::collection::vec((any::<usize>(), 0u8..8), 1..4).prop_map(Garble::Flips),
            any::<usize>().prop_map(Garble::Cut),
            (
                any::<usize>(),
                proptest::collection::vec(any::<u8>(), 1..16)
            )
                .prop_map(|(at, b)| Garble::Insert(at, b)),
        ],
    )
}

fn apply(bytes: &mut Vec<u8>, garble: &Option<Garble>) {
    if bytes.is_empty() {
        return;
    }
    match garble {
        None => {}
        Some(Garble::Flips(flips)) => {
            for &(at, bit) in flips {
                let at = at % bytes.len();
                bytes[at] ^= 1 << bit;
            }
        }
        Some(Garble::Cut(at)) => bytes.truncate(at % bytes.len()),
        Some(Garble::Insert(at, b)) => {
            let at = at % bytes.len();
            bytes.splice(at..at, b.iter().copied());
        }
    }
}

/// Reads `bytes` with `next` until the end of the stream or a break, and
/// parses every message; fails if the reader keeps answering without
/// reaching either (each message takes at least one byte). Returns the
/// messages read.
fn drain(bytes: &[u8], mut next: impl FnMut() -> Read) -> Result<Vec<Value>, TestCaseError> {
    let mut messages = Vec::new();
    for _ in 0..bytes.len() + 2 {
        match next() {
            Read::Message(v) => {
                let _ = protocol::parse(v.clone());
                messages.push(v);
            }
            Read::Batch(_) | Read::Malformed(_) => {}
            Read::Broken(_) | Read::Eof => return Ok(messages),
        }
    }
    Err(TestCaseError::fail(
        "the reader never reached the end of its input",
    ))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// Storm's JSON and msgpack messages, several in a row, garbled.
    #[test]
    fn storm_messages_garbled_on_the_way_never_panic(
        messages in proptest::collection::vec(storm_message(), 1..4),
        msgpack in any::<bool>(),
        garble in garble(),
    ) {
        let serializer = if msgpack { Serializer::Msgpack } else { Serializer::Json };
        let mut bytes: Vec<u8> = messages.iter().flat_map(|m| serializer.encode(m)).collect();
        let intact = garble.is_none();
        apply(&mut bytes, &garble);
        let mut reader = MessageReader::new(bytes.as_slice(), serializer);
        let read = drain(&bytes, || reader.read())?;
        if intact && msgpack {
            // Intact msgpack comes back as it was sent.
            prop_assert_eq!(read, messages);
        } else if intact {
            // JSON has no byte strings or integral floats: as many
            // messages come back.
            prop_assert_eq!(read.len(), messages.len());
        }
    }

    /// Arbitrary bytes as a child's stdout, for every reader.
    #[test]
    fn arbitrary_stdout_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
        with_end_lines in any::<bool>(),
    ) {
        let mut bytes = bytes;
        if with_end_lines {
            // JSON framing lines among the noise.
            bytes.extend_from_slice(b"\nend\n{\"command\": \"sync\"}\nend\n");
        }
        for serializer in [Serializer::Json, Serializer::Msgpack] {
            let mut reader = MessageReader::new(bytes.as_slice(), serializer);
            drain(&bytes, || reader.read())?;
        }
        let mut frames = FrameReader::new(bytes.as_slice(), 1 << 10);
        drain(&bytes, || frames.read())?;
        let _ = msgpack::decode(&bytes);
    }

    /// Batched-protocol frames, several in a row, garbled.
    #[test]
    fn batched_frames_garbled_on_the_way_never_panic(
        messages in proptest::collection::vec(batched_message(), 1..4),
        garble in garble(),
    ) {
        let mut bytes: Vec<u8> = messages.iter().flat_map(frame::encode).collect();
        let intact = garble.is_none();
        apply(&mut bytes, &garble);
        let mut reader = FrameReader::new(bytes.as_slice(), 1 << 20);
        let mut batches = 0;
        for _ in 0..bytes.len() + 2 {
            match reader.read() {
                Read::Batch(_) => batches += 1,
                Read::Eof => break,
                Read::Broken(reason) => {
                    prop_assert!(!intact, "an intact frame broke the stream: {}", reason);
                    break;
                }
                other => prop_assert!(false, "a frame reader gave {:?}", other),
            }
        }
        if intact {
            prop_assert_eq!(batches, messages.len());
        }
    }

    /// The msgpack decoder reads back what serde's encoder wrote, and
    /// refuses (never panics on) the same bytes garbled.
    #[test]
    fn msgpack_decodes_what_was_encoded_and_survives_garbling(
        v in value(),
        garble in garble(),
    ) {
        let framed = frame::encode(&map([("v", v.clone())]));
        let mut body = framed[4..].to_vec();
        prop_assert_eq!(msgpack::decode(&body), Ok(map([("v", v)])));
        apply(&mut body, &garble);
        let _ = msgpack::decode(&body);
    }
}
