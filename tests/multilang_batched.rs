//! Gale's batched multi-lang protocol with real Python: unmodified pystorm
//! and streamparse classes (and `gale` classes) run by `python -m
//! gale.run`, word counts identical to Storm's protocol, a reliable spout
//! acked exactly once, and the offer declined or never made.

mod util;

use gale::builtin::wordcount::expected_counts;
use gale::multilang::{Protocol, Serializer};
use util::*;

fn examples() -> std::path::PathBuf {
    root().join("examples/python")
}

/// The `gale_multilang_batched` gauges of `split`'s tasks.
fn batched_gauges(metrics: &gale::engine::TopologyMetrics) -> Vec<f64> {
    metrics
        .samples
        .iter()
        .filter(|s| s.name == "gale_multilang_batched")
        .filter(|s| s.labels.iter().any(|(k, v)| k == "component" && v == "split"))
        .map(|s| s.value)
        .collect()
}

#[test]
fn a_pystorm_split_bolt_under_the_batched_protocol_counts_exactly() {
    let split = gale_run("split_bolt:SplitBolt", &examples());
    let (topology, counts) = wordcount(split, 2000, 2);
    let (stats, metrics) = run_finite_with_metrics(topology);
    assert!(stats.errors.is_empty(), "{:#?}", stats.errors);
    assert_eq!(counts.snapshot(), expected_counts(2000));
    assert_eq!(batched_gauges(&metrics), [1.0, 1.0], "both children batched");
}

#[test]
fn a_streamparse_split_bolt_under_the_batched_protocol_counts_exactly() {
    let split = gale_run("streamparse_split.SplitBolt", &examples());
    let (topology, counts) = wordcount(split, 2000, 2);
    let stats = run_finite(topology);
    assert!(stats.errors.is_empty(), "{:#?}", stats.errors);
    assert_eq!(counts.snapshot(), expected_counts(2000));
}

#[test]
fn the_runner_speaks_storms_protocol_when_batching_is_not_offered() {
    for serializer in [Serializer::Json, Serializer::Msgpack] {
        let split = gale_run("split_bolt:SplitBolt", &examples())
            .protocol(Protocol::Storm)
            .serializer(serializer);
        let (topology, counts) = wordcount(split, 300, 2);
        let stats = run_finite(topology);
        assert!(stats.errors.is_empty(), "{:#?}", stats.errors);
        assert_eq!(counts.snapshot(), expected_counts(300), "{serializer:?}");
    }
}

#[test]
fn a_plain_pystorm_child_offered_batching_keeps_storms_protocol() {
    let split = python_split(&[&example("split_bolt.py"), "json"]).protocol(Protocol::Batched);
    let (topology, counts) = wordcount(split, 300, 2);
    let (stats, metrics) = run_finite_with_metrics(topology);
    assert!(stats.errors.is_empty(), "{:#?}", stats.errors);
    assert_eq!(counts.snapshot(), expected_counts(300));
    assert_eq!(batched_gauges(&metrics), [0.0, 0.0], "pystorm did not ask");
}
