//! Built-in Rust components a topology file can name (`builtin: count`).

use gale_engine::{BoltDeclarer, SpoutDeclarer, TopologyBuilder};
use serde_yaml_ng::Value as Yaml;

use crate::builtin::wordcount::{CountBolt, CountSink, SentenceSpout, SplitBolt};

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
pub const COMPONENTS: [Named; 3] = [
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
];

/// The built-in component called `name`.
pub fn find(name: &str) -> Option<&'static Named> {
    COMPONENTS.iter().find(|c| c.name == name)
}

/// Names of the built-in components of `role`.
pub(super) fn names(role: Role) -> Vec<&'static str> {
    COMPONENTS
        .iter()
        .filter(|c| c.role == role)
        .map(|c| c.name)
        .collect()
}

/// Checks a built-in's `args`; returns one message per mistake.
pub(super) fn check_args(named: &Named, args: &[(String, Yaml)]) -> Vec<String> {
    let mut errors = Vec::new();
    for (key, value) in args {
        let ok = match key.as_str() {
            "count" if named.name == "sentences" => value.as_u64().is_some(),
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
pub(super) struct Outputs {
    /// The sink of the `count` bolts.
    pub(super) counts: Option<CountSink>,
    /// Every spout is a finite built-in.
    pub(super) spouts_finite: bool,
}

fn arg<'a>(args: &'a [(String, Yaml)], key: &str) -> Option<&'a Yaml> {
    args.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// Adds built-in spout `name` (checked already).
pub(super) fn add_spout<'b>(
    builder: &'b mut TopologyBuilder,
    id: &str,
    name: &str,
    args: &[(String, Yaml)],
    parallelism: usize,
    outputs: &mut Outputs,
) -> Option<SpoutDeclarer<'b>> {
    match name {
        "sentences" => {
            let count = arg(args, "count").and_then(Yaml::as_u64);
            let reliable = arg(args, "reliable")
                .and_then(Yaml::as_bool)
                .unwrap_or(true);
            outputs.spouts_finite &= count.is_some();
            Some(builder.set_spout(
                id,
                move || SentenceSpout::new(count).reliable(reliable),
                parallelism,
            ))
        }
        _ => None,
    }
}

/// Adds built-in bolt `name` (checked already).
pub(super) fn add_bolt<'b>(
    builder: &'b mut TopologyBuilder,
    id: &str,
    name: &str,
    parallelism: usize,
    outputs: &mut Outputs,
) -> Option<BoltDeclarer<'b>> {
    match name {
        "split" => Some(builder.set_bolt(id, SplitBolt::default, parallelism)),
        "count" => {
            let sink = outputs.counts.get_or_insert_with(CountSink::new).clone();
            Some(builder.set_bolt(id, move || CountBolt::new(sink.clone()), parallelism))
        }
        _ => None,
    }
}
