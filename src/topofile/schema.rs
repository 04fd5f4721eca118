//! The YAML schema of a topology file, as serde types.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_yaml_ng::Value as Yaml;

/// The top-level keys (checked one by one, so each mistake is reported).
pub(super) const TOP_KEYS: [&str; 5] = ["name", "config", "spouts", "bolts", "streams"];

/// `config:` — topology-wide settings.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ConfigDef {
    /// Acker tasks (0: no tracking).
    pub(super) ackers: Option<usize>,
    /// Tuple-tree timeout in seconds.
    pub(super) message_timeout_secs: Option<f64>,
    /// Trees in flight per spout task.
    pub(super) max_spout_pending: Option<usize>,
    /// Storm configuration given to every shell component's handshake.
    #[serde(default)]
    pub(super) conf: BTreeMap<String, Yaml>,
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
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum StreamFields {
    /// `[a, b]`
    Plain(Vec<String>),
    /// `{fields: [a, b], direct: true}`
    Full {
        fields: Vec<String>,
        #[serde(default)]
        direct: bool,
    },
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
    pub(super) grouping: GroupingDef,
}

/// A grouping: `shuffle`, or `{type: fields, fields: [word]}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum GroupingDef {
    Name(String),
    Full {
        #[serde(rename = "type")]
        kind: String,
        /// Field names (fields and partial-key groupings); Flux calls
        /// them `args`.
        #[serde(default, alias = "args")]
        fields: Vec<String>,
        /// Flux's place for the stream.
        #[serde(default, alias = "streamId")]
        stream: Option<String>,
    },
}
