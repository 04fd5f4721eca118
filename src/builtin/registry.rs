//! The registry of built-in topologies: each one's name, one-line
//! description and constructor; [`build`] builds one by name.

use super::built::Built;
use super::error::{BuiltinError, Failure};
use super::options::BuiltinOptions;
use super::{
    const_spout_id_bolt_null_bolt, const_spout_null_bolt, const_spout_only, exclamation,
    file_read_wordcount, rolling_top_words, stateful_wordcount, wordcount,
};

type BuildFn = fn(&BuiltinOptions) -> Result<Built, Failure>;

/// A word count, ready to submit.
fn counted(wc: wordcount::WordCount, opts: &BuiltinOptions) -> Built {
    Built {
        topology: wc.topology,
        finite: opts.count.is_some(),
        counts: Some(wc.counts),
        rankings: None,
    }
}

/// The registry: name, one-line description, constructor.
const BUILTINS: [(&str, &str, BuildFn); 9] = [
    (
        "wordcount",
        "sentences -> split (shuffle) -> count (fields on \"word\"); prints the counts when finite",
        |o| Ok(counted(wordcount::wordcount(o)?, o)),
    ),
    (
        "stateful-wordcount",
        "the word count with its counts as checkpointed state (--state-dir: exactly-once across crashes)",
        |o| Ok(counted(stateful_wordcount::stateful_wordcount(o)?, o)),
    ),
    (
        "file-read-wordcount",
        "storm-perf: the word count over the lines of a text file (a generated one by default)",
        |o| Ok(counted(file_read_wordcount::file_read_wordcount(o)?, o)),
    ),
    (
        "exclamation",
        "Storm's ExclamationTopology: words -> exclaim1 -> exclaim2 (shuffle)",
        |o| Ok(Built::plain(exclamation::exclamation(o)?, o)),
    ),
    (
        "const-spout-only",
        "storm-perf: a spout emitting a constant tuple, nothing else",
        |o| Ok(Built::plain(const_spout_only::const_spout_only(o)?, o)),
    ),
    (
        "const-spout-null-bolt",
        "storm-perf: constant spout -> null bolt (local-or-shuffle by default)",
        |o| {
            Ok(Built::plain(
                const_spout_null_bolt::const_spout_null_bolt(o)?,
                o,
            ))
        },
    ),
    (
        "const-spout-id-bolt-null-bolt",
        "storm-perf: constant spout -> identity bolt -> null bolt (local-or-shuffle by default)",
        |o| {
            let t = const_spout_id_bolt_null_bolt::const_spout_id_bolt_null_bolt(o)?;
            Ok(Built::plain(t, o))
        },
    ),
    (
        "rolling-top-words",
        "storm-starter's RollingTopWords: 9 s windows every 3 s (event time) -> intermediate and total top 5; prints the rankings when finite",
        |o| {
            let r = rolling_top_words::rolling_top_words(o)?;
            Ok(Built {
                rankings: Some(r.rankings),
                ..Built::plain(r.topology, o)
            })
        },
    ),
    (
        "rolling-top-words-slots",
        "rolling-top-words counted as storm-starter does (per-word slot counts in a plain bolt), the reference for the windowed bolt",
        |o| {
            let r = rolling_top_words::rolling_top_words_slots(o)?;
            Ok(Built {
                rankings: Some(r.rankings),
                ..Built::plain(r.topology, o)
            })
        },
    ),
];

const NAMES: [&str; BUILTINS.len()] = {
    let mut names = [""; BUILTINS.len()];
    let mut i = 0;
    while i < BUILTINS.len() {
        names[i] = BUILTINS[i].0;
        i += 1;
    }
    names
};

/// Names of the built-in topologies, in the order `gale list` shows them.
pub fn names() -> &'static [&'static str] {
    &NAMES
}

/// One-line description of the built-in topology `name`.
pub fn describe(name: &str) -> Option<&'static str> {
    BUILTINS.iter().find(|b| b.0 == name).map(|b| b.1)
}

/// Builds the built-in topology `name` with `opts`.
pub fn build(name: &str, opts: &BuiltinOptions) -> Result<Built, BuiltinError> {
    let (name, _, build) =
        BUILTINS
            .iter()
            .find(|b| b.0 == name)
            .ok_or_else(|| BuiltinError::Unknown {
                name: name.to_owned(),
                known: NAMES.to_vec(),
            })?;
    let mut built = build(opts).map_err(|e| match e {
        Failure::Topology(e) => BuiltinError::Topology {
            name,
            source: Box::new(e),
        },
        Failure::Text(e) => BuiltinError::Text(e),
        Failure::State(e) => BuiltinError::State {
            name,
            message: e.to_string(),
        },
    })?;
    if opts.even_shuffle {
        built.topology.set_load_aware(false);
    }
    Ok(built)
}

#[cfg(test)]
mod tests {
    use gale_engine::TopologyError;

    use super::*;

    #[test]
    fn every_builtin_builds_with_default_and_finite_options() {
        for name in names() {
            let built = build(name, &BuiltinOptions::default()).unwrap();
            assert!(!built.finite, "{name}");
            let opts = BuiltinOptions {
                count: Some(10),
                threads: 3,
                ..BuiltinOptions::default()
            };
            let built = build(name, &opts).unwrap();
            assert!(built.finite, "{name}");
            let counted = name.ends_with("wordcount");
            assert_eq!(built.counts.is_some(), counted, "{name}");
            assert!(describe(name).is_some());
            assert!(built.topology.config().load_aware, "{name}");
            let even = BuiltinOptions {
                even_shuffle: true,
                ..BuiltinOptions::default()
            };
            assert!(!build(name, &even).unwrap().topology.config().load_aware);
        }
    }

    #[test]
    fn unknown_name_lists_the_known_ones() {
        let err = build("wordcnt", &BuiltinOptions::default()).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, BuiltinError::Unknown { .. }));
        for name in names() {
            assert!(msg.contains(name), "{msg}");
        }
    }

    #[test]
    fn zero_parallelism_is_a_typed_error() {
        let opts = BuiltinOptions {
            bolt_parallelism: Some(0),
            ..BuiltinOptions::default()
        };
        let err = build("exclamation", &opts).unwrap_err();
        let BuiltinError::Topology { source, .. } = &err else {
            panic!("{err}");
        };
        assert!(
            matches!(**source, TopologyError::ZeroParallelism { .. }),
            "{err}"
        );
    }
}
