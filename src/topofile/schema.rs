//! The YAML schema of a topology file, as serde types.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_yaml_ng::Value as Yaml;

/// The top-level keys (checked one by one, so each mistake is reported);
/// `components` and `includes` are Flux's.
pub(super) const TOP_KEYS: [&str; 7] = [
    "name",
    "config",
    "spouts",
    "bolts",
    "streams",
    "components",
    "includes",
];

/// Flux's top-level keys that Gale does not support, and why.
pub(super) const FLUX_UNSUPPORTED: [(&str, &str); 2] = [
    (
        "topologySource",
        "Flux's `topologySource` (a JVM class that builds the topology) is not supported: \
         describe the topology with spouts, bolts and streams, or build it in Rust",
    ),
    (
        "workerHooks",
        "Flux's `workerHooks` are not supported (Gale runs no JVM worker hooks)",
    ),
];

/// `config:` — topology-wide settings (read key by key: Gale's keys and
/// Storm's `topology.*` keys, see `config.rs`).
#[derive(Debug, Default)]
pub(super) struct ConfigDef {
    /// Acker tasks (0: no tracking).
    pub(super) ackers: Option<usize>,
    /// Tuple-tree timeout in seconds.
    pub(super) message_timeout_secs: Option<f64>,
    /// Trees in flight per spout task.
    pub(super) max_spout_pending: Option<usize>,
    /// Load-aware shuffles (Storm's `topology.disable.loadaware.messaging`,
    /// negated).
    pub(super) load_aware: Option<bool>,
    /// A tick tuple every this many seconds to every shell bolt and
    /// registered bolt class without its own `tick_secs` (Storm's
    /// `topology.tick.tuple.freq.secs`).
    pub(super) tick_secs: Option<f64>,
    /// Storm configuration given to every shell component's handshake.
    pub(super) conf: BTreeMap<String, Yaml>,
    /// `state:`: where state is checkpointed.
    pub(super) state: Option<super::state::StateDef>,
    /// Storm's `topology.state.checkpoint.interval.ms`.
    pub(super) checkpoint_interval_ms: Option<u64>,
}

/// One spout or bolt.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ComponentDef {
    pub(super) id: String,
    #[serde(default = "one")]
    pub(super) parallelism: usize,
    /// A subprocess speaking the multi-lang protocol.
    pub(super) shell: Option<ShellDef>,
    /// A Python component class run by `python -m gale.run` under the
    /// batched protocol (a shorthand for `shell`).
    pub(super) python: Option<PythonDef>,
    /// A built-in Rust component by name.
    pub(super) builtin: Option<String>,
    /// Arguments of a built-in component.
    #[serde(default)]
    pub(super) args: BTreeMap<String, Yaml>,
    /// Output streams of a shell component: name → fields, or
    /// name → `{fields: [...], direct: true}`.
    #[serde(default)]
    pub(super) streams: BTreeMap<String, StreamFields>,
    /// Spouts: trees in flight per task (overrides the topology's).
    pub(super) max_spout_pending: Option<usize>,
    /// Bolts: a tick tuple every this many seconds.
    pub(super) tick_secs: Option<f64>,
    /// Shell and Python bolts: run on windows of tuples.
    pub(super) window: Option<WindowDef>,
    /// Flux: the class, resolved through the registry.
    #[serde(rename = "className")]
    pub(super) class_name: Option<String>,
    /// Flux: the class's constructor arguments.
    #[serde(rename = "constructorArgs", default)]
    pub(super) constructor_args: Vec<Yaml>,
    /// Flux: methods called after construction.
    #[serde(rename = "configMethods", default)]
    pub(super) config_methods: Vec<ConfigMethodDef>,
    /// Flux: properties set after construction.
    #[serde(default)]
    pub(super) properties: Vec<PropertyDef>,
    /// Flux: tasks (Gale runs one task per executor: must equal
    /// `parallelism`).
    #[serde(rename = "numTasks")]
    pub(super) num_tasks: Option<usize>,
    // Flux keys Gale does not support or ignores: said so, by name.
    pub(super) factory: Option<Yaml>,
    #[serde(rename = "factoryArgs")]
    pub(super) factory_args: Option<Yaml>,
    #[serde(rename = "onHeapMemoryLoad")]
    pub(super) on_heap: Option<Yaml>,
    #[serde(rename = "offHeapMemoryLoad")]
    pub(super) off_heap: Option<Yaml>,
    #[serde(rename = "cpuLoad")]
    pub(super) cpu_load: Option<Yaml>,
}

/// Flux's `configMethods` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ConfigMethodDef {
    pub(super) name: String,
    #[serde(default)]
    pub(super) args: Vec<Yaml>,
}

/// Flux's `properties` entry: a `value` or a `ref`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PropertyDef {
    pub(super) name: String,
    pub(super) value: Option<Yaml>,
    #[serde(rename = "ref")]
    pub(super) reference: Option<String>,
}

/// Flux's `components:` entry (and a grouping's `customClass`, without
/// `id`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ObjectDef {
    #[serde(default)]
    pub(super) id: String,
    #[serde(rename = "className")]
    pub(super) class_name: String,
    #[serde(rename = "constructorArgs", default)]
    pub(super) constructor_args: Vec<Yaml>,
    #[serde(rename = "configMethods", default)]
    pub(super) config_methods: Vec<ConfigMethodDef>,
    #[serde(default)]
    pub(super) properties: Vec<PropertyDef>,
    pub(super) factory: Option<Yaml>,
    #[serde(rename = "factoryArgs")]
    pub(super) factory_args: Option<Yaml>,
}

/// Flux's `includes:` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct IncludeDef {
    pub(super) file: String,
    #[serde(default)]
    pub(super) resource: bool,
    #[serde(default)]
    pub(super) r#override: bool,
}

/// `window:` — a shell or Python bolt gets windows of tuples, each as one
/// tuple with the fields `tuples`, `new`, `expired`, `start`, `end`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WindowDef {
    /// `{count: N}` or `{secs: S}`.
    pub(super) length: LengthDef,
    /// The same; omitted: a tumbling window (slide = length).
    pub(super) slide: Option<LengthDef>,
    /// Event time: the integer field (ms) the timestamps come from.
    pub(super) timestamp_field: Option<String>,
    /// Event time: how far behind the latest timestamp the watermark stays.
    pub(super) lag_secs: Option<f64>,
    /// Event time: move the watermark at this interval, not per tuple.
    pub(super) watermark_interval_secs: Option<f64>,
    /// Event time: where late tuples go (a stream of this bolt with the
    /// one field `late_tuple`).
    pub(super) late_stream: Option<String>,
}

/// A window length or slide: exactly one of `count` and `secs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LengthDef {
    pub(super) count: Option<usize>,
    pub(super) secs: Option<f64>,
}

fn one() -> usize {
    1
}

impl ComponentDef {
    /// A built-in's `args` as (key, value) pairs, in key order.
    pub(super) fn args_list(&self) -> Vec<(String, Yaml)> {
        self.args
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// The fields of one output stream.
#[derive(Debug)]
pub(super) enum StreamFields {
    /// `[a, b]`
    Plain(Vec<String>),
    /// `{fields: [a, b], direct: true}`
    Full { fields: Vec<String>, direct: bool },
}

/// `{fields: [a, b], direct: true}`, strictly.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FullStreamFields {
    fields: Vec<String>,
    #[serde(default)]
    direct: bool,
}

impl<'de> Deserialize<'de> for StreamFields {
    /// A list of fields, or a mapping with exactly the keys `fields` and
    /// (optionally) `direct`: a misspelt key is an error, not ignored.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match Yaml::deserialize(d)? {
            list @ Yaml::Sequence(_) => serde_yaml_ng::from_value(list)
                .map(StreamFields::Plain)
                .map_err(D::Error::custom),
            map @ Yaml::Mapping(_) => serde_yaml_ng::from_value::<FullStreamFields>(map)
                .map(|f| StreamFields::Full {
                    fields: f.fields,
                    direct: f.direct,
                })
                .map_err(D::Error::custom),
            _ => Err(D::Error::custom(
                "a stream is a list of fields or {fields: [...], direct: true}",
            )),
        }
    }
}

impl StreamFields {
    pub(super) fn fields(&self) -> &[String] {
        match self {
            StreamFields::Plain(f) | StreamFields::Full { fields: f, .. } => f,
        }
    }
    pub(super) fn direct(&self) -> bool {
        matches!(self, StreamFields::Full { direct: true, .. })
    }
}

/// `shell:` — the subprocess of a shell component.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ShellDef {
    /// Program; `${VAR}` and `${VAR:-default}` are expanded.
    pub(super) command: String,
    #[serde(default)]
    pub(super) args: Vec<String>,
    /// Working directory, relative to the topology file's directory
    /// (default: that directory).
    #[serde(alias = "working_dir")]
    pub(super) cwd: Option<String>,
    #[serde(default)]
    pub(super) env: BTreeMap<String, String>,
    /// `json` (default) or `msgpack`.
    pub(super) serializer: Option<String>,
    /// `storm` (default) or `batched` (offered in the handshake).
    pub(super) protocol: Option<String>,
    /// Storm configuration of this component's handshake (over the
    /// topology's `config.conf`).
    #[serde(default)]
    pub(super) conf: BTreeMap<String, Yaml>,
    pub(super) timeout_secs: Option<f64>,
    pub(super) heartbeat_secs: Option<f64>,
    /// Bolts: inputs outstanding per child.
    pub(super) max_pending: Option<usize>,
    /// Failed starts of a task's first child before the topology stops
    /// (0: no limit).
    pub(super) start_attempts: Option<u32>,
}

/// `python:` — `{class: module:Class}`, the same as `shell: {command:
/// ${GALE_PYTHON:-python3}, args: [-m, gale.run, module:Class], protocol:
/// batched}`, with `shell`'s other keys.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PythonDef {
    /// `module:Class` or `module.Class`: a gale, pystorm or streamparse class.
    pub(super) class: String,
    /// The interpreter (default `${GALE_PYTHON:-python3}`).
    #[serde(default = "default_python")]
    pub(super) interpreter: String,
    #[serde(alias = "working_dir")]
    pub(super) cwd: Option<String>,
    #[serde(default)]
    pub(super) env: BTreeMap<String, String>,
    /// `batched` (default) or `storm`.
    pub(super) protocol: Option<String>,
    /// Storm configuration of this component's handshake.
    #[serde(default)]
    pub(super) conf: BTreeMap<String, Yaml>,
    pub(super) timeout_secs: Option<f64>,
    pub(super) heartbeat_secs: Option<f64>,
    pub(super) max_pending: Option<usize>,
    pub(super) start_attempts: Option<u32>,
}

fn default_python() -> String {
    "${GALE_PYTHON:-python3}".to_owned()
}

impl PythonDef {
    /// The `shell:` this stands for.
    pub(super) fn to_shell(&self) -> ShellDef {
        ShellDef {
            command: self.interpreter.clone(),
            args: vec!["-m".to_owned(), "gale.run".to_owned(), self.class.clone()],
            cwd: self.cwd.clone(),
            env: self.env.clone(),
            serializer: None,
            protocol: Some(
                self.protocol
                    .clone()
                    .unwrap_or_else(|| "batched".to_owned()),
            ),
            conf: self.conf.clone(),
            timeout_secs: self.timeout_secs,
            heartbeat_secs: self.heartbeat_secs,
            max_pending: self.max_pending,
            start_attempts: self.start_attempts,
        }
    }
}

/// One subscription: `from` → `to` with a grouping.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StreamDef {
    pub(super) from: String,
    pub(super) to: String,
    /// The stream of `from` (default: `default`).
    #[serde(alias = "streamId")]
    pub(super) stream: Option<String>,
    /// `shuffle`, or a [`GroupingDef`] (read strictly in `check_stream`).
    pub(super) grouping: Yaml,
    /// Flux: a label for the connection (not used).
    pub(super) name: Option<String>,
}

/// A grouping: `{type: fields, fields: [word]}`, or Flux's `{type:
/// FIELDS, args: [word], streamId: s}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct GroupingDef {
    #[serde(rename = "type")]
    pub(super) kind: String,
    /// Field names (fields and partial-key groupings); Flux calls them
    /// `args`.
    #[serde(default, alias = "args")]
    pub(super) fields: Vec<String>,
    /// Flux's place for the stream.
    #[serde(default, alias = "streamId")]
    pub(super) stream: Option<String>,
    /// Flux: the class of a `CUSTOM` grouping.
    #[serde(rename = "customClass")]
    pub(super) custom_class: Option<ObjectDef>,
}
