//! Untrusted bytes: the validating readers must return an error or a valid
//! view for any input, never panic, and never hand on part of a bad frame.

use gale_codec::{
    view_checked, AlignedVec, BodyRecords, Encoder, Frame, FrameError, FrameHeader, FrameWriter,
    Header, RawFrame, Tuple, Value, FRAME_VERSION, MAX_FRAME_BODY,
};

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn sample_tuples() -> Vec<Tuple> {
    let header = Header {
        stream: 1,
        source_task: 4,
        edge_id: 99,
        roots: vec![5, 6],
    };
    vec![
        Tuple::default(),
        Tuple {
            header: header.clone(),
            values: vec![
                Value::from("the quick brown fox"),
                Value::I64(42),
                Value::F64(0.5),
                Value::Bool(true),
                Value::Bytes(vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
            ],
        },
        Tuple {
            header,
            values: vec![Value::List(vec![
                Value::Map(vec![
                    ("key".into(), Value::from("a longer string value")),
                    ("n".into(), Value::Null),
                ]),
                Value::List(vec![Value::I64(-1), Value::from("x")]),
            ])],
        },
    ]
}

fn aligned(bytes: &[u8]) -> AlignedVec<16> {
    let mut v = AlignedVec::new();
    v.extend_from_slice(bytes);
    v
}

/// Reads everything a successful parse exposes, so a validator hole would
/// show up as a panic or a sanitizer report rather than pass silently.
fn touch_record(bytes: &[u8]) {
    if let Ok(view) = view_checked(bytes) {
        let owned = view.to_tuple();
        assert_eq!(owned.values.len(), view.len());
        let _ = format!("{view:?}");
    }
}

fn touch_frame(bytes: &[u8]) {
    if let Ok(raw) = RawFrame::parse_with(bytes, |_, _, _| Ok::<_, FrameError>(())) {
        assert!(raw.encoded_len() <= bytes.len());
        assert_eq!(raw.records().count(), raw.len());
    }
    if let Ok(frame) = Frame::parse(bytes) {
        assert!(frame.encoded_len() <= bytes.len());
        assert_eq!(frame.tuples().count(), frame.len());
        for t in frame.tuples() {
            let _ = t.to_tuple();
        }
    }
}

fn encoded_records() -> Vec<Vec<u8>> {
    let mut enc = Encoder::new();
    sample_tuples()
        .iter()
        .map(|t| {
            let mut buf = AlignedVec::<16>::new();
            buf.resize(4096, 0);
            let len = enc.encode_into(t.as_ref(), &mut buf).unwrap();
            buf[..len].to_vec()
        })
        .collect()
}

fn encoded_frame() -> Vec<u8> {
    let mut enc = Encoder::new();
    let mut w = FrameWriter::new();
    for t in sample_tuples() {
        w.push(&mut enc, t.as_ref()).unwrap();
    }
    w.finish().to_vec()
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..20_000 {
        let len = rng.below(256);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let buf = aligned(&bytes);
        touch_record(&buf);
        touch_frame(&buf);
        // A random body behind a well-formed header reaches record parsing.
        let mut framed = aligned(&bytes);
        if framed.len() >= FrameHeader::LEN {
            let body = ((framed.len() - FrameHeader::LEN) & !7) as u32;
            framed[..4].copy_from_slice(b"GALE");
            framed[4..6].copy_from_slice(&FRAME_VERSION.to_le_bytes());
            framed[6..8].copy_from_slice(&[0, 0]);
            framed[8..12].copy_from_slice(&body.to_le_bytes());
            touch_frame(&framed);
        }
    }
}

#[test]
fn mutated_records_never_panic() {
    let mut rng = Rng(42);
    let records = encoded_records();
    let mut accepted = 0;
    for i in 0..30_000 {
        let mut bytes = records[i % records.len()].clone();
        match rng.below(4) {
            0 => bytes.truncate(rng.below(bytes.len() + 1)),
            1 => {
                for _ in 0..=rng.below(4) {
                    let at = rng.below(bytes.len().max(1));
                    if let Some(b) = bytes.get_mut(at) {
                        *b ^= 1 << rng.below(8);
                    }
                }
            }
            2 => {
                let at = rng.below(bytes.len().max(1));
                if let Some(b) = bytes.get_mut(at) {
                    *b = rng.next() as u8;
                }
            }
            _ => {
                let extra = rng.below(16);
                bytes.extend((0..extra).map(|_| rng.next() as u8));
            }
        }
        let buf = aligned(&bytes);
        if view_checked(&buf).is_ok() {
            accepted += 1;
        }
        touch_record(&buf);
    }
    // Some mutations (e.g. in a string's bytes) stay valid; most do not.
    assert!(accepted < 30_000, "validation accepted every mutation");
}

#[test]
fn mutated_frames_never_panic() {
    let mut rng = Rng(7);
    let frame = encoded_frame();
    for _ in 0..30_000 {
        let mut bytes = frame.clone();
        if rng.below(3) == 0 {
            bytes.truncate(rng.below(bytes.len() + 1));
        } else {
            for _ in 0..=rng.below(3) {
                let at = rng.below(bytes.len());
                bytes[at] ^= 1 << rng.below(8);
            }
        }
        touch_frame(&aligned(&bytes));
    }
}

#[test]
fn valid_records_and_frames_pass() {
    for r in encoded_records() {
        assert!(view_checked(&aligned(&r)).is_ok());
    }
    let frame = encoded_frame();
    let parsed = aligned(&frame);
    let f = Frame::parse(&parsed).unwrap();
    assert_eq!(f.len(), 3);
    let got: Vec<Tuple> = f.tuples().map(|t| t.to_tuple()).collect();
    assert_eq!(got, sample_tuples());
}

#[test]
fn frame_cut_in_half_is_incomplete() {
    let frame = encoded_frame();
    let half = aligned(&frame[..frame.len() / 2]);
    assert_eq!(
        Frame::parse(&half).err(),
        Some(FrameError::Incomplete {
            needed: frame.len(),
            have: frame.len() / 2
        })
    );
    assert_eq!(
        Frame::parse(&aligned(&frame[..10])).err(),
        Some(FrameError::Incomplete {
            needed: FrameHeader::LEN,
            have: 10
        })
    );
    // The header alone tells a reader how much to wait for.
    assert_eq!(FrameHeader::parse(&frame).unwrap().frame_len(), frame.len());
}

#[test]
fn two_frames_back_to_back() {
    let one = encoded_frame();
    let mut two = aligned(&one);
    two.extend_from_slice(&one);
    let first = Frame::parse(&two).unwrap();
    let rest = &two[first.encoded_len()..];
    let second = Frame::parse(rest).unwrap();
    assert_eq!(second.encoded_len(), rest.len());
}

#[test]
fn header_errors_are_typed() {
    let frame = encoded_frame();
    let mut bad = aligned(&frame);
    bad[0] = b'X';
    assert!(matches!(
        Frame::parse(&bad),
        Err(FrameError::BadMagic { found }) if &found == b"XALE"
    ));

    let mut bad = aligned(&frame);
    bad[4..6].copy_from_slice(&(FRAME_VERSION + 1).to_le_bytes());
    assert_eq!(
        Frame::parse(&bad).err(),
        Some(FrameError::UnsupportedVersion {
            found: FRAME_VERSION + 1
        })
    );

    let mut bad = aligned(&frame);
    bad[6] = 1;
    assert_eq!(
        Frame::parse(&bad).err(),
        Some(FrameError::UnknownFlags { flags: 1 })
    );

    let mut bad = aligned(&frame);
    bad[8..12].copy_from_slice(&((MAX_FRAME_BODY + 8) as u32).to_le_bytes());
    assert!(matches!(
        Frame::parse(&bad),
        Err(FrameError::BadLength { .. })
    ));
    bad[8..12].copy_from_slice(&3u32.to_le_bytes());
    assert_eq!(
        Frame::parse(&bad).err(),
        Some(FrameError::BadLength { len: 3 })
    );
}

#[test]
fn count_must_match_body() {
    let frame = encoded_frame();
    let mut bad = aligned(&frame);
    bad[12..16].copy_from_slice(&2u32.to_le_bytes());
    assert!(matches!(
        Frame::parse(&bad),
        Err(FrameError::CountMismatch {
            count: 2,
            found: 2,
            ..
        })
    ));
    bad[12..16].copy_from_slice(&4u32.to_le_bytes());
    assert!(matches!(
        Frame::parse(&bad),
        Err(FrameError::CountMismatch {
            count: 4,
            found: 3,
            ..
        })
    ));
}

#[test]
fn one_bad_record_rejects_the_whole_frame() {
    let frame = encoded_frame();
    let mut bad = aligned(&frame);
    // Point the last record's length past the body.
    let body = &frame[FrameHeader::LEN..];
    let first_len = u32::from_le_bytes(body[..4].try_into().unwrap()) as usize;
    let second_at = FrameHeader::LEN + 8 + first_len.div_ceil(8) * 8;
    bad[second_at..second_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(
        Frame::parse(&bad).err(),
        Some(FrameError::BadRecordHeader { index: 1 })
    );
    // Corrupt a record's archived bytes: the frame is refused as a whole.
    let mut bad = aligned(&frame);
    let last = bad.len() - 1;
    bad[last - 8] ^= 0xff;
    assert!(Frame::parse(&bad).is_err());
}

#[test]
fn misaligned_input_is_refused() {
    let frame = encoded_frame();
    let mut buf = AlignedVec::<16>::new();
    buf.push(0);
    buf.extend_from_slice(&frame);
    assert!(matches!(
        Frame::parse(&buf[1..]),
        Err(FrameError::Misaligned { .. })
    ));
    let rec = &encoded_records()[1];
    let mut buf = AlignedVec::<16>::new();
    buf.push(0);
    buf.extend_from_slice(rec);
    assert!(matches!(
        view_checked(&buf[1..]),
        Err(FrameError::Misaligned { .. })
    ));
}

#[test]
fn raw_frames_carry_opaque_records_and_stop_at_the_first_refusal() {
    let mut w = FrameWriter::new();
    for r in [&b"not a tuple"[..], &[0u8; 0], &[7u8; 40]] {
        w.push_record(r).unwrap();
    }
    let bytes = aligned(w.finish());
    assert!(
        Frame::parse(&bytes).is_err(),
        "opaque records are not tuples"
    );
    let raw = RawFrame::parse_with(&bytes, |_, _, _| Ok::<_, FrameError>(())).unwrap();
    let got: Vec<(u32, &[u8])> = raw.records().collect();
    assert_eq!(
        got,
        [(0, &b"not a tuple"[..]), (0, &[][..]), (0, &[7u8; 40][..])]
    );
    assert!(got.iter().all(|(_, r)| r.as_ptr() as usize % 8 == 0));
    let mut seen = Vec::new();
    let err = RawFrame::parse_with(&bytes, |i, _, _| {
        seen.push(i);
        if i == 1 {
            Err(FrameError::InvalidRecord { index: i })
        } else {
            Ok(())
        }
    })
    .unwrap_err();
    assert_eq!(err, FrameError::InvalidRecord { index: 1 });
    assert_eq!(seen, [0, 1]);
}

/// A record batch: each record's length and tag, then its bytes padded to 8.
fn batch_of(records: &[(u32, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for &(tag, r) in records {
        let mut one = vec![0xa5; BodyRecords::one_len(r)];
        BodyRecords::write_one(tag, r, &mut one);
        body.extend_from_slice(&one);
    }
    body
}

#[test]
fn a_record_batch_goes_into_a_frame_whole_with_its_tags() {
    let records: [(u32, &[u8]); 3] = [(7, b"first"), (u32::MAX, &[]), (0, &[9; 17])];
    let mut w = FrameWriter::new();
    w.push_record(b"untagged").unwrap();
    assert_eq!(w.push_body(&batch_of(&records)).unwrap(), 3);
    assert_eq!(w.push_body(&[]).unwrap(), 0);
    assert_eq!(w.count(), 4);
    let bytes = aligned(w.finish());
    let raw = RawFrame::parse_with(&bytes, |_, _, _| Ok::<_, FrameError>(())).unwrap();
    let got: Vec<(u32, &[u8])> = raw.records().collect();
    assert_eq!(got[0], (0, &b"untagged"[..]));
    assert_eq!(&got[1..], &records[..]);
}

#[test]
fn a_malformed_batch_is_refused_whole() {
    let good = batch_of(&[(1, b"abc"), (2, b"defgh")]);
    let mut w = FrameWriter::new();
    let before = w.len_bytes();
    // Cut short, a length past the end, a trailing partial header.
    let mut past = good.clone();
    past[8 + 8..8 + 12].copy_from_slice(&64u32.to_le_bytes());
    let mut trailing = good.clone();
    trailing.extend_from_slice(&[0; 4]);
    for bad in [&good[..good.len() - 8], &past[..], &trailing[..]] {
        assert!(matches!(
            w.push_body(bad),
            Err(FrameError::BadRecordHeader { .. })
        ));
        assert_eq!((w.len_bytes(), w.count()), (before, 0));
    }
    assert_eq!(BodyRecords::count_checked(&good), Ok(2));
}
