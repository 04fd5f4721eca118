//! Round trips through the encoder, the trusted and checked readers, and
//! frames.

use gale_codec::{
    encode_forwarded, encoded_len_bound, view_checked, view_trusted, AlignedVec, BodyRecords,
    EncodeError, Encoder, FieldError, Fields, FieldsError, Frame, FrameError, FrameHeader,
    FrameWriter, Header, Tuple, TupleView, Value, MAX_NESTING, MAX_VALUE_LEN,
};
use proptest::prelude::*;

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::I64),
        any::<f64>()
            .prop_filter("NaN != NaN", |f| !f.is_nan())
            .prop_map(Value::F64),
        ".{0,40}".prop_map(Value::Str),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(Value::Bytes),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::List),
            proptest::collection::vec(("[a-z]{0,12}", inner), 0..8).prop_map(Value::Map),
        ]
    })
}

fn header() -> impl Strategy<Value = Header> {
    (
        any::<u32>(),
        any::<u32>(),
        // Untracked (edge id 0, no roots) as often as not.
        prop_oneof![Just(0u64), any::<u64>()],
        proptest::collection::vec(any::<u64>(), 0..6),
    )
        .prop_map(|(stream, source_task, edge_id, roots)| Header {
            stream,
            source_task,
            edge_id,
            roots,
        })
}

fn tuple() -> impl Strategy<Value = Tuple> {
    (header(), proptest::collection::vec(value(), 0..10))
        .prop_map(|(header, values)| Tuple { header, values })
}

/// Encodes into a buffer of exactly the bound, which must suffice.
fn encode(enc: &mut Encoder, t: &Tuple) -> (AlignedVec<16>, usize) {
    let bound = encoded_len_bound(t.as_ref()).expect("bound");
    let mut buf = AlignedVec::<16>::new();
    buf.resize(bound, 0);
    let len = enc
        .encode_into(t.as_ref(), &mut buf)
        .expect("bound is enough");
    assert!(len <= bound);
    (buf, len)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_value_round_trips(t in tuple()) {
        let mut enc = Encoder::new();
        let (buf, len) = encode(&mut enc, &t);
        let checked = view_checked(&buf[..len]).expect("own encoding validates");
        prop_assert_eq!(checked.to_tuple(), t.clone());
        for (a, v) in checked.values().iter().zip(&t.values) {
            prop_assert!(a == v);
            prop_assert_eq!(a.to_value(), v.clone());
        }
        // SAFETY: the bytes were just written by our encoder, unmodified.
        let trusted = unsafe { view_trusted(&buf[..len]) };
        prop_assert_eq!(trusted.to_tuple(), t);
    }

    #[test]
    fn frames_round_trip(ts in proptest::collection::vec(tuple(), 0..12)) {
        let mut enc = Encoder::new();
        let mut w = FrameWriter::new();
        for t in &ts {
            w.push(&mut enc, t.as_ref()).unwrap();
        }
        let bytes = w.finish().to_vec();
        let mut aligned = AlignedVec::<16>::new();
        aligned.extend_from_slice(&bytes);
        let frame = Frame::parse(&aligned).unwrap();
        prop_assert_eq!(frame.len(), ts.len());
        prop_assert_eq!(frame.encoded_len(), bytes.len());
        let got: Vec<Tuple> = frame.tuples().map(|v| v.to_tuple()).collect();
        prop_assert_eq!(got, ts);
    }
}

fn simple(values: Vec<Value>) -> Tuple {
    Tuple {
        header: Header {
            stream: 2,
            source_task: 7,
            edge_id: 0xdead_beef,
            roots: vec![1, 2, 3],
        },
        values,
    }
}

fn with_view<R>(t: &Tuple, f: impl FnOnce(TupleView<'_>) -> R) -> R {
    let (buf, len) = encode(&mut Encoder::new(), t);
    f(view_checked(&buf[..len]).unwrap())
}

#[test]
fn empty_tuple() {
    let t = Tuple::default();
    with_view(&t, |v| {
        assert!(v.is_empty());
        assert_eq!(v.len(), 0);
        assert_eq!(v.get(0).map(|_| ()), None);
        assert_eq!(v.roots().count(), 0);
        assert_eq!(v.to_tuple(), t);
    });
}

#[test]
fn header_fields_read_in_place() {
    let t = simple(vec![Value::Null]);
    with_view(&t, |v| {
        assert_eq!(v.stream(), 2);
        assert_eq!(v.source_task(), 7);
        assert_eq!(v.edge_id(), 0xdead_beef);
        assert_eq!(v.roots().collect::<Vec<_>>(), vec![1, 2, 3]);
        assert!(v.get(0).unwrap().is_null());
    });
}

#[test]
fn huge_string() {
    let s = "x".repeat(4 << 20);
    let t = simple(vec![Value::Str(s.clone()), Value::Bytes(vec![7; 1 << 20])]);
    with_view(&t, |v| {
        assert_eq!(v.get(0).unwrap().as_str(), Some(s.as_str()));
        assert_eq!(v.get(1).unwrap().as_bytes().map(<[u8]>::len), Some(1 << 20));
    });
}

#[test]
fn accessors_on_every_kind() {
    let t = simple(vec![
        Value::Bool(true),
        Value::I64(-5),
        Value::F64(2.5),
        Value::from("s"),
        Value::Bytes(vec![1, 2]),
        Value::List(vec![Value::I64(1), Value::Null]),
        Value::Map(vec![
            ("k".into(), Value::I64(9)),
            ("k".into(), Value::I64(10)),
        ]),
    ]);
    with_view(&t, |v| {
        let vals = v.values();
        assert_eq!(vals[0].as_bool(), Some(true));
        assert_eq!(vals[1].as_i64(), Some(-5));
        assert_eq!(vals[2].as_f64(), Some(2.5));
        assert_eq!(vals[3].as_str(), Some("s"));
        assert_eq!(vals[4].as_bytes(), Some(&[1u8, 2][..]));
        assert_eq!(vals[5].as_list().map(<[_]>::len), Some(2));
        assert_eq!(vals[6].get("k").and_then(|x| x.as_i64()), Some(9));
        assert_eq!(vals[6].map_entries().map(|e| e.len()), Some(2));
        assert_eq!(vals[1].as_str(), None);
        assert_eq!(vals[3].as_i64(), None);
        assert_eq!(vals[0].kind(), "bool");
        assert_eq!(t.values[6].get("k"), Some(&Value::I64(9)));
    });
}

#[test]
fn field_by_name_and_its_errors() {
    let fields = Fields::new(["word", "count", "extra"]).unwrap();
    let t = simple(vec![Value::from("gale"), Value::I64(3)]);
    with_view(&t, |v| {
        assert_eq!(
            v.field("word").err(),
            Some(FieldError::NoSchema {
                field: "word".into()
            })
        );
        let v = v.with_fields(&fields);
        assert_eq!(v.field("word").unwrap().as_str(), Some("gale"));
        assert_eq!(v.field("count").unwrap().as_i64(), Some(3));
        let err = v.field("cnt").unwrap_err();
        assert!(matches!(&err, FieldError::Unknown { field, .. } if field == "cnt"));
        assert!(err.to_string().contains("[word, count, extra]"), "{err}");
        assert_eq!(
            v.field("extra").err(),
            Some(FieldError::Missing {
                field: "extra".into(),
                index: 2,
                len: 2
            })
        );
    });
}

#[test]
fn fields_declaration_errors() {
    assert_eq!(
        Fields::new(["a", "b", "a"]),
        Err(FieldsError::Duplicate {
            name: "a".into(),
            first: 0,
            second: 2
        })
    );
    assert_eq!(
        Fields::new(["a", ""]),
        Err(FieldsError::Empty { position: 1 })
    );
    let f = Fields::new(["x", "y"]).unwrap();
    assert_eq!(f.len(), 2);
    assert_eq!(f.name(1), Some("y"));
    assert!(f.contains("x") && !f.contains("z"));
    assert!(Fields::empty().is_empty());
}

#[test]
fn encode_errors() {
    let t = simple(vec![Value::from("a string longer than the buffer")]);
    let mut enc = Encoder::new();
    let mut small = AlignedVec::<16>::new();
    small.resize(16, 0);
    assert_eq!(
        enc.encode_into(t.as_ref(), &mut small),
        Err(EncodeError::DoesNotFit { capacity: 16 })
    );
    let mut buf = AlignedVec::<16>::new();
    buf.resize(512, 0);
    assert!(matches!(
        enc.encode_into(t.as_ref(), &mut buf[1..]),
        Err(EncodeError::Misaligned { .. })
    ));
    // The encoder is still usable after errors.
    assert!(enc.encode_into(t.as_ref(), &mut buf).is_ok());
}

/// `len` zero bytes that cost no memory until read: a zeroed allocation
/// this large comes as untouched pages, and nothing below reads them.
fn zeros(len: usize) -> Vec<u8> {
    vec![0; len]
}

#[test]
fn strings_and_bytes_over_the_length_limit_are_refused_not_wrapped() {
    let len = MAX_VALUE_LEN + 1;
    // SAFETY: zero bytes are valid UTF-8 (checking would read the pages).
    let long = || unsafe { String::from_utf8_unchecked(zeros(len)) };
    type Shape = fn(Value) -> Vec<Value>;
    let shapes: [(&str, Shape); 4] = [
        ("alone", |v| vec![v]),
        ("among others", |v| vec![Value::I64(1), v]),
        ("in a list", |v| vec![Value::List(vec![Value::Null, v])]),
        ("in a map", |v| vec![Value::Map(vec![("k".into(), v)])]),
    ];
    // A buffer large enough for the whole tuple, so that only the length
    // check can refuse it (8-aligned; untouched unless written).
    let mut words = vec![0u64; (len + 4096) / 8];
    // SAFETY: the u64s are initialised, any bytes are valid u8s, and the
    // slice covers exactly the vector's memory, borrowed mutably.
    let big =
        unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u8>(), words.len() * 8) };
    let mut enc = Encoder::new();
    for (what, shape) in shapes {
        for value in [Value::Str(long()), Value::Bytes(zeros(len))] {
            let kind = value.kind();
            let t = simple(shape(value));
            let refused = Err(EncodeError::TooLong { len });
            assert_eq!(encoded_len_bound(t.as_ref()), refused, "{kind} {what}");
            assert_eq!(enc.encode_into(t.as_ref(), big), refused, "{kind} {what}");
        }
    }
    // A map key too.
    let t = simple(vec![Value::Map(vec![(long(), Value::Null)])]);
    assert_eq!(
        enc.encode_into(t.as_ref(), big),
        Err(EncodeError::TooLong { len })
    );
    // Nothing was written: neither the start (roots, the bytes) nor where
    // the value slots would follow the bytes.
    assert!(big[..4096]
        .iter()
        .chain(&big[len - 64..len + 64])
        .all(|&b| b == 0));
}

/// `depth` lists around a leaf; a map at every other level.
fn nested(depth: usize, leaf: Value) -> Value {
    (0..depth).fold(leaf, |v, i| {
        if i % 2 == 0 {
            Value::List(vec![v])
        } else {
            Value::Map(vec![("k".into(), v)])
        }
    })
}

#[test]
fn nesting_limit_is_enforced_both_ways() {
    // The deepest value the encoder accepts, with an out-of-line leaf.
    let long = Value::from("a string too long to be stored inline");
    let ok = simple(vec![nested(MAX_NESTING - 1, long.clone())]);
    with_view(&ok, |v| assert_eq!(v.to_tuple(), ok));

    let too_deep = simple(vec![nested(MAX_NESTING, Value::Null)]);
    assert_eq!(
        encoded_len_bound(too_deep.as_ref()),
        Err(EncodeError::TooDeep {
            depth: MAX_NESTING + 1
        })
    );

    let deep = simple(vec![nested(MAX_NESTING, long)]);
    assert!(matches!(
        encoded_len_bound(deep.as_ref()),
        Err(EncodeError::TooDeep { .. })
    ));
    // Encoded without the bound check, one level too deep is refused by the
    // checked reader: the two limits agree exactly.
    let mut buf = AlignedVec::<16>::new();
    buf.resize(1 << 16, 0);
    let len = Encoder::new().encode_into(deep.as_ref(), &mut buf).unwrap();
    assert_eq!(
        view_checked(&buf[..len]).err(),
        Some(FrameError::TooDeep { index: 0 })
    );
}

#[test]
fn body_records_read_a_frames_body_and_batches_written_one_by_one() {
    // Records written one by one make the same bytes as a frame's body.
    let records: [&[u8]; 4] = [b"abc", b"", &[7; 8], &[1; 13]];
    let mut batch = Vec::new();
    for record in records {
        let at = batch.len();
        batch.resize(at + BodyRecords::one_len(record), 0xff);
        BodyRecords::write_one(0, record, &mut batch[at..]);
        assert_eq!(batch.len() % 8, 0);
    }
    let mut w = FrameWriter::new();
    for record in records {
        w.push_record(record).unwrap();
    }
    let frame = w.finish().to_vec();
    assert_eq!(&frame[FrameHeader::LEN..], &batch[..]);
    let read: Vec<&[u8]> = BodyRecords::new(&batch).map(|(_, r)| r).collect();
    assert_eq!(read, records);
    // Cut inside the last record, or inside a header: what is whole.
    assert_eq!(BodyRecords::new(&batch[..batch.len() - 8]).count(), 3);
    assert_eq!(BodyRecords::new(&batch[..20]).count(), 1);
    // A length past the end stops it, never panics; a tag is the
    // reader's to interpret.
    let mut bad = batch.clone();
    bad[..4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(BodyRecords::new(&bad).count(), 0);
    let mut tagged = batch.clone();
    tagged[16 + 4] = 1;
    let tags: Vec<u32> = BodyRecords::new(&tagged).map(|(tag, _)| tag).collect();
    assert_eq!(tags, [0, 1, 0, 0]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]
    /// A forwarded input (`encode_forwarded`: a bolt's emit of all its
    /// input's values, anchored to it) is written as the encoding of its
    /// new header and those values, whether its record is copied (the
    /// same roots, any values) or its values encoded (other roots); `None`
    /// only where the values cannot be written straight from their
    /// archived form (other roots, and nested values or none or more than
    /// four), or without room.
    #[test]
    fn a_forwarded_input_is_the_encoding_of_its_new_header(
        input in tuple(),
        (stream, source_task, edge_id) in any::<(u32, u32, u64)>(),
        other in prop_oneof![Just(None), proptest::collection::vec(any::<u64>(), 0..4).prop_map(Some)],
        short in any::<bool>(),
    ) {
        let mut enc = Encoder::new();
        let (bytes, len) = encode(&mut enc, &input);
        let view = view_checked(&bytes[..len]).unwrap();
        let roots = other.unwrap_or_else(|| input.header.roots.clone());
        // As the engine writes headers: an edge id only with roots.
        let edge_id = if roots.is_empty() { 0 } else { edge_id | 1 };
        let header = Header { stream, source_task, edge_id, roots };
        let expected = Tuple { header, values: input.values.clone() };
        let (want, want_len) = encode(&mut enc, &expected);
        let mut out = AlignedVec::<16>::new();
        // Garbage in the buffer must not leak into the output.
        out.resize(if short { want_len - 8 } else { 1 << 16 }, 0xa5);
        let written = encode_forwarded(&expected.header, &view, &mut out);
        let copied = expected.header.is_tracked() == input.header.is_tracked()
            && (!input.header.is_tracked() || expected.header.roots == input.header.roots);
        let flat = (1..=4).contains(&input.values.len())
            && input.values.iter().all(|v| !matches!(v, Value::List(_) | Value::Map(_)));
        prop_assert_eq!(written.is_some(), !short && (copied || flat));
        if let Some(n) = written {
            prop_assert_eq!(&out[..n], &want[..want_len]);
        }
    }
}
