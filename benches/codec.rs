//! Codec cost per tuple: archive and view with gale-codec, against
//! serde_json and bincode encoding and decoding the same values.
//!
//! Run: `cargo bench --bench codec`

// criterion_group! generates a public function without docs.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gale_codec::{encoded_len_bound, view_trusted, AlignedVec, Encoder, Header, Tuple, Value};
use serde::{Deserialize, Serialize};

/// The same shapes as `gale_codec::Value`, for serde-based baselines.
#[derive(Serialize, Deserialize, PartialEq, Debug)]
enum SValue {
    Null,
    Bool(bool),
    I64(i64),
    F64(f64),
    Str(String),
    Bytes(Vec<u8>),
}

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct STuple {
    stream: u32,
    source_task: u32,
    edge_id: u64,
    roots: Vec<u64>,
    values: Vec<SValue>,
}

fn header() -> Header {
    Header {
        stream: 1,
        source_task: 3,
        edge_id: 0x1234_5678_9abc_def0,
        roots: vec![0x0fed_cba9_8765_4321],
    }
}

fn one_field() -> Vec<Value> {
    vec![Value::from("hello")]
}

fn eight_fields() -> Vec<Value> {
    vec![
        Value::from("a sentence of some length"),
        Value::I64(42),
        Value::F64(3.25),
        Value::Bool(true),
        Value::from("word"),
        Value::I64(-7),
        Value::Bytes(vec![1, 2, 3, 4, 5, 6, 7, 8]),
        Value::Null,
    ]
}

fn to_serde(h: &Header, values: &[Value]) -> STuple {
    STuple {
        stream: h.stream,
        source_task: h.source_task,
        edge_id: h.edge_id,
        roots: h.roots.clone(),
        values: values
            .iter()
            .map(|v| match v {
                Value::Null => SValue::Null,
                Value::Bool(b) => SValue::Bool(*b),
                Value::I64(i) => SValue::I64(*i),
                Value::F64(f) => SValue::F64(*f),
                Value::Str(s) => SValue::Str(s.clone()),
                Value::Bytes(b) => SValue::Bytes(b.clone()),
                Value::List(_) | Value::Map(_) => unreachable!("flat values only"),
            })
            .collect(),
    }
}

/// Reads every field the way a bolt would, so "view" is not just a cast.
fn touch_view(values: &[gale_codec::ArchivedValue]) -> u64 {
    values
        .iter()
        .map(|v| match v {
            gale_codec::ArchivedValue::Str(s) => s.len() as u64,
            gale_codec::ArchivedValue::I64(i) => i.to_native() as u64,
            gale_codec::ArchivedValue::Bytes(b) => b.len() as u64,
            _ => 1,
        })
        .fold(0u64, u64::wrapping_add)
}

fn touch_serde(values: &[SValue]) -> u64 {
    values
        .iter()
        .map(|v| match v {
            SValue::Str(s) => s.len() as u64,
            SValue::I64(i) => *i as u64,
            SValue::Bytes(b) => b.len() as u64,
            _ => 1,
        })
        .fold(0u64, u64::wrapping_add)
}

fn bench_codec(c: &mut Criterion) {
    for (name, values) in [("1-field", one_field()), ("8-field", eight_fields())] {
        let header = header();
        let tuple = Tuple {
            header: header.clone(),
            values,
        };
        let stuple = to_serde(&tuple.header, &tuple.values);

        // Check behaviour before timing anything.
        let mut enc = Encoder::new();
        let mut buf = AlignedVec::<16>::new();
        buf.resize(encoded_len_bound(tuple.as_ref()).unwrap(), 0);
        let len = enc.encode_into(tuple.as_ref(), &mut buf).unwrap();
        // SAFETY: just written by our encoder and not modified.
        assert_eq!(unsafe { view_trusted(&buf[..len]) }.to_tuple(), tuple);
        let json = serde_json::to_vec(&stuple).unwrap();
        assert_eq!(serde_json::from_slice::<STuple>(&json).unwrap(), stuple);
        let bin = bincode::serialize(&stuple).unwrap();
        assert_eq!(bincode::deserialize::<STuple>(&bin).unwrap(), stuple);

        let mut g = c.benchmark_group(format!("codec/encode/{name}"));
        g.throughput(Throughput::Elements(1));
        g.bench_function(BenchmarkId::new("gale", len), |b| {
            b.iter(|| {
                enc.encode_into(black_box(tuple.as_ref()), &mut buf)
                    .unwrap()
            })
        });
        let mut out = Vec::with_capacity(1024);
        g.bench_function(BenchmarkId::new("serde_json", json.len()), |b| {
            b.iter(|| {
                out.clear();
                serde_json::to_writer(&mut out, black_box(&stuple)).unwrap();
                out.len()
            })
        });
        g.bench_function(BenchmarkId::new("bincode", bin.len()), |b| {
            b.iter(|| {
                out.clear();
                bincode::serialize_into(&mut out, black_box(&stuple)).unwrap();
                out.len()
            })
        });
        g.finish();

        let mut g = c.benchmark_group(format!("codec/read/{name}"));
        g.throughput(Throughput::Elements(1));
        g.bench_function("gale-view", |b| {
            b.iter(|| {
                // SAFETY: `buf[..len]` holds our encoder's unmodified output.
                let view = unsafe { view_trusted(black_box(&buf[..len])) };
                touch_view(view.values())
            })
        });
        g.bench_function("gale-view-checked", |b| {
            b.iter(|| {
                touch_view(
                    gale_codec::view_checked(black_box(&buf[..len]))
                        .unwrap()
                        .values(),
                )
            })
        });
        g.bench_function("serde_json", |b| {
            b.iter(|| {
                touch_serde(
                    &serde_json::from_slice::<STuple>(black_box(&json))
                        .unwrap()
                        .values,
                )
            })
        });
        g.bench_function("bincode", |b| {
            b.iter(|| {
                touch_serde(
                    &bincode::deserialize::<STuple>(black_box(&bin))
                        .unwrap()
                        .values,
                )
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench_codec);
criterion_main!(benches);
