//! Built-in Rust components a topology file can name (`builtin: count`).

use gale_engine::{BoltDeclarer, SpoutDeclarer, TopologyBuilder};
use serde_yaml_ng::Value as Yaml;

use crate::builtin::perf::DevNullBolt;
use crate::builtin::stateful_wordcount::StatefulCountBolt;
use crate::builtin::storm_testing::{LogInfoBolt, TestWordSpout};
use crate::builtin::wordcount::{CountBolt, CountSink, SentenceSpout, SplitBolt, SplitKeyedBolt};
use crate::topofile::connectors;

/// Spout or bolt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A spout.
    Spout,
    /// A bolt.
    Bolt,
}

/// One named built-in component.
#[derive(Debug)]
pub struct Named {
    /// The name used after `builtin:`.
    pub name: &'static str,
    /// Spout or bolt.
    pub role: Role,
    /// What it does and its `args`.
    pub about: &'static str,
    /// Its output streams and their fields.
    pub streams: &'static [(&'static str, &'static [&'static str])],
    /// The `args` it accepts.
    pub args: &'static [&'static str],
}

/// The built-in components, by name.
pub const COMPONENTS: [Named; 15] = [
    Named {
        name: "sentences",
        role: Role::Spout,
        about: "cycles through the word-count sentences; args: count (total \
                sentences, then finished; default: forever), reliable (emit \
                with message ids and replay failures; default: true)",
        streams: &[("default", &["sentence"])],
        args: &["count", "reliable"],
    },
    Named {
        name: "words",
        role: Role::Spout,
        about: "Storm's TestWordSpout: a random word of nathan, mike, jackson, golda, \
                bertels every interval_ms (default 100, as Storm's; 0: as often as asked), \
                without message ids; args: interval_ms, count (total words, then finished; \
                default: forever)",
        streams: &[("default", &["word"])],
        args: &["interval_ms", "count"],
    },
    Named {
        name: "log",
        role: Role::Bolt,
        about: "Flux's LogInfoBolt: logs every input at info level, acks it, emits nothing",
        streams: &[],
        args: &[],
    },
    Named {
        name: "split",
        role: Role::Bolt,
        about: "splits field 0 on whitespace, one [word] per word (anchored)",
        streams: &[("default", &["word"])],
        args: &[],
    },
    Named {
        name: "count",
        role: Role::Bolt,
        about: "counts field 0 (a word), emits [word, count]; a finite run \
                prints the final counts",
        streams: &[("default", &["word", "count"])],
        args: &[],
    },
    Named {
        name: "stateful-count",
        role: Role::Bolt,
        about: "counts field 0 (a word) in its key-value state, emits nothing; with \
                `config.state` the counts are checkpointed and restored (exactly-once with \
                `sentences` spouts); a finite run prints the final counts",
        streams: &[],
        args: &[],
    },
    Named {
        name: "null",
        role: Role::Bolt,
        about: "acks every input and emits nothing (storm-perf's DevNullBolt)",
        streams: &[],
        args: &[],
    },
    Named {
        name: "split-keyed",
        role: Role::Bolt,
        about: "splits field `line` on whitespace, one [id, word] per word (anchored), \
                id = the input's `id` field, `/` and the word's position: a key unique \
                per word that a replay repeats (for postgres-bolt's dedup_field)",
        streams: &[("default", &["id", "word"])],
        args: &[],
    },
    Named {
        name: "redis-stream-spout",
        role: Role::Spout,
        about: "reads a Redis stream through a consumer group (XREADGROUP), ack -> XACK, \
                replays unacked entries; args: url|url_env|url_file, password_env|\
                password_file, stream, group, fields, start, consumer, id_field, batch, \
                poll_ms, claim_idle_ms, timeout_ms, dead_letter, until_idle, delivery \
                (group|offset) (docs/connectors.md)",
        streams: &[],
        args: &[],
    },
    Named {
        name: "redis-bolt",
        role: Role::Bolt,
        about: "writes each tuple to Redis (SET, HSET, XADD or INCRBY), pipelined per batch, \
                acked after the replies; args: url..., command, key, key_field, key_prefix, \
                value_field, fields, ttl_secs, batch, linger_ms, timeout_ms",
        streams: &[],
        args: &[],
    },
    Named {
        name: "postgres-bolt",
        role: Role::Bolt,
        about: "writes tuples to a PostgreSQL table, one transaction (binary COPY) per batch, \
                acked after commit; args: url..., table, columns, fields, mode \
                (insert|upsert|count), key, count_column, dedup_field, dedup_table, batch, \
                linger_ms, timeout_ms",
        streams: &[],
        args: &[],
    },
    Named {
        name: "redis-lookup",
        role: Role::Bolt,
        about: "enriches each tuple with a value read from Redis (GET or HGET), pipelined per \
                batch, emitted anchored; args: url..., command (get|hget), key_field, key, \
                key_prefix, fields, output_field, batch, linger_ms, timeout_ms",
        streams: &[],
        args: &[],
    },
    Named {
        name: "postgres-lookup",
        role: Role::Bolt,
        about: "runs a parameterised query per tuple and emits the tuple's fields with each \
                result row, anchored, with a bounded cache; args: url..., query, params, \
                columns, fields, cache_size, cache_ttl_secs, timeout_ms",
        streams: &[],
        args: &[],
    },
    Named {
        name: "file-spout",
        role: Role::Spout,
        about: "emits the lines of the files in a directory as they appear and grow, offsets \
                kept durably (a restart continues after the acked lines); args: dir, pattern, \
                field, file_field, offsets, rewind, batch, poll_ms, commit_ms, \
                max_line_bytes, until_idle (docs/connectors.md)",
        streams: &[],
        args: &[],
    },
    Named {
        name: "file-sink",
        role: Role::Bolt,
        about: "writes each tuple as a line to rotating files, acked after the write (and \
                fsync); args: dir, prefix, suffix, fields, separator, rotate_bytes, \
                rotate_secs, fsync (batch|rotate|never), batch, linger_ms",
        streams: &[],
        args: &[],
    },
];

/// The built-in component called `name`.
pub fn find(name: &str) -> Option<&'static Named> {
    COMPONENTS.iter().find(|c| c.name == name)
}

/// Names of the built-in components of `role`.
pub(crate) fn names(role: Role) -> Vec<&'static str> {
    COMPONENTS
        .iter()
        .filter(|c| c.role == role)
        .map(|c| c.name)
        .collect()
}

/// The output streams of built-in `named` with these `args` (checked
/// already): a connector's depend on its `args`.
pub(crate) fn streams(named: &Named, args: &[(String, Yaml)]) -> Vec<(String, Vec<String>)> {
    if connectors::is_connector(named.name) {
        return connectors::parse(named.name, args)
            .map(|c| c.streams())
            .unwrap_or_default();
    }
    named
        .streams
        .iter()
        .map(|(s, f)| ((*s).to_owned(), f.iter().map(|f| (*f).to_owned()).collect()))
        .collect()
}

/// Checks a built-in's `args` for component `id`; returns one message
/// per mistake.
pub(crate) fn check_args(named: &Named, id: &str, args: &[(String, Yaml)]) -> Vec<String> {
    if connectors::is_connector(named.name) {
        return match connectors::parse(named.name, args).and_then(|c| c.check(id)) {
            Ok(()) => Vec::new(),
            Err(e) => vec![e],
        };
    }
    let mut errors = Vec::new();
    for (key, value) in args {
        let ok = match key.as_str() {
            "count" if ["sentences", "words"].contains(&named.name) => value.as_u64().is_some(),
            "interval_ms" if named.name == "words" => value.as_u64().is_some(),
            "reliable" if named.name == "sentences" => value.as_bool().is_some(),
            _ => {
                errors.push(format!(
                    "`{}` takes no argument `{key}` (it takes: {:?})",
                    named.name, named.args
                ));
                continue;
            }
        };
        if !ok {
            errors.push(format!("argument `{key}` of `{}`: a bad value", named.name));
        }
    }
    errors
}

/// What adding built-ins leaves behind.
#[derive(Debug, Default)]
pub(crate) struct Outputs {
    /// The sink of the `count` bolts.
    pub(crate) counts: Option<CountSink>,
    /// Every spout is a finite built-in.
    pub(crate) spouts_finite: bool,
    /// State is checkpointed: the spouts that can rewind are added as
    /// such.
    pub(crate) rewind: bool,
}

fn arg<'a>(args: &'a [(String, Yaml)], key: &str) -> Option<&'a Yaml> {
    args.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// Adds built-in spout `name` (checked already).
pub(crate) fn add_spout<'b>(
    builder: &'b mut TopologyBuilder,
    id: &str,
    name: &str,
    args: &[(String, Yaml)],
    parallelism: usize,
    outputs: &mut Outputs,
) -> Option<SpoutDeclarer<'b>> {
    if connectors::is_connector(name) {
        let c = connectors::parse(name, args).ok()?;
        return c.add_spout(
            builder,
            id,
            parallelism,
            &mut outputs.spouts_finite,
            outputs.rewind,
        );
    }
    match name {
        "sentences" => {
            let count = arg(args, "count").and_then(Yaml::as_u64);
            let reliable = arg(args, "reliable")
                .and_then(Yaml::as_bool)
                .unwrap_or(true);
            outputs.spouts_finite &= count.is_some();
            let spout = move || SentenceSpout::new(count).reliable(reliable);
            Some(if outputs.rewind {
                builder.set_rewindable_spout(id, spout, parallelism)
            } else {
                builder.set_spout(id, spout, parallelism)
            })
        }
        "words" => {
            let count = arg(args, "count").and_then(Yaml::as_u64);
            let interval = arg(args, "interval_ms")
                .and_then(Yaml::as_u64)
                .unwrap_or(100);
            outputs.spouts_finite &= count.is_some();
            let interval = std::time::Duration::from_millis(interval);
            Some(builder.set_spout(id, move || TestWordSpout::new(interval, count), parallelism))
        }
        _ => None,
    }
}

/// Adds built-in bolt `name` (checked already).
pub(crate) fn add_bolt<'b>(
    builder: &'b mut TopologyBuilder,
    id: &str,
    name: &str,
    args: &[(String, Yaml)],
    parallelism: usize,
    outputs: &mut Outputs,
) -> Option<BoltDeclarer<'b>> {
    if connectors::is_connector(name) {
        return connectors::parse(name, args)
            .ok()?
            .add_bolt(builder, id, parallelism);
    }
    match name {
        "split-keyed" => Some(builder.set_bolt(id, SplitKeyedBolt::default, parallelism)),
        "null" => Some(builder.set_bolt(id, || DevNullBolt, parallelism)),
        "log" => Some(builder.set_bolt(id, LogInfoBolt::default, parallelism)),
        "split" => Some(builder.set_bolt(id, SplitBolt::default, parallelism)),
        "count" => {
            let sink = outputs.counts.get_or_insert_with(CountSink::new).clone();
            Some(builder.set_bolt(id, move || CountBolt::new(sink.clone()), parallelism))
        }
        "stateful-count" => {
            let sink = outputs.counts.get_or_insert_with(CountSink::new).clone();
            let bolt = move || StatefulCountBolt::new(sink.clone());
            Some(builder.set_stateful_bolt(id, bolt, parallelism))
        }
        _ => None,
    }
}
