//! [`ShellConfig`]: what a shell component runs and how Gale talks to it.

use std::path::PathBuf;
use std::time::Duration;

use gale_codec::Value;
use gale_engine::{Grouping, OutputFieldsDeclarer, TopologyContext};

use crate::wire::map;
use crate::Serializer;

/// How Gale talks to a shell component's child after the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// Storm's multi-lang protocol: one message per tuple, emit and ack,
    /// JSON or msgpack (the [`Serializer`]). Every pystorm and streamparse
    /// child speaks it.
    #[default]
    Storm,
    /// Gale's batched protocol, offered in the handshake: a child that
    /// asks for it (the `gale` Python package's runner, `python -m
    /// gale.run module:Class`) then exchanges length-prefixed msgpack
    /// frames that carry many tuples at once; a child that does not ask
    /// (plain pystorm) keeps Storm's protocol.
    Batched,
}

impl Protocol {
    /// The name used in topology files (`storm`, `batched`).
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Storm => "storm",
            Protocol::Batched => "batched",
        }
    }

    /// Parses a name given by [`name`](Self::name).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "storm" => Some(Protocol::Storm),
            "batched" => Some(Protocol::Batched),
            _ => None,
        }
    }
}

/// The default [`ShellConfig::max_pending`] under [`Protocol::Batched`]
/// (frames need a wider window than Storm's 100 to stay full).
pub const BATCHED_MAX_PENDING: usize = 2048;

/// One output stream of a shell component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSpec {
    /// Stream name.
    pub name: String,
    /// Its fields.
    pub fields: Vec<String>,
    /// Whether it is a direct stream (emits name their target task).
    pub direct: bool,
}

/// A shell spout's or bolt's subprocess and protocol settings. Cheap to
/// clone; each task starts its own child.
#[derive(Debug, Clone)]
pub struct ShellConfig {
    /// The program to run.
    pub command: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Working directory of the child (default: Gale's).
    pub working_dir: Option<PathBuf>,
    /// Extra environment variables for the child.
    pub env: Vec<(String, String)>,
    /// JSON (default) or msgpack; the child must use the same (pystorm:
    /// `serializer=`, streamparse: `--serializer`).
    pub serializer: Serializer,
    /// Storm's protocol (default) or Gale's batched one, offered in the
    /// handshake (the handshake itself uses [`serializer`](Self::serializer)).
    pub protocol: Protocol,
    /// The component's output streams.
    pub streams: Vec<StreamSpec>,
    /// Storm configuration sent to the child in the handshake (`conf`),
    /// besides `topology.name`, which Gale sets.
    pub conf: Vec<(String, Value)>,
    /// Extra entries of the handshake's `context` (e.g.
    /// `source->stream->fields`, filled by the topology-file loader).
    pub context: Vec<(String, Value)>,
    /// A child that sends nothing for this long while Gale waits for it
    /// (a heartbeat, a `sync`, the pid) is hung: it is killed and
    /// restarted (Storm's `topology.subprocess.timeout.secs`, default 30 s).
    pub subprocess_timeout: Duration,
    /// How often a shell bolt sends a heartbeat tuple (default 1 s, as
    /// Storm).
    pub heartbeat_interval: Duration,
    /// At most this many inputs outstanding per shell bolt child; a bolt
    /// at the limit waits in `execute` for the child to ack or fail one
    /// (Storm's `topology.shellbolt.max.pending`, default 100). Under the
    /// batched protocol it is also the most `next_tuple` calls a spout
    /// child makes per request.
    pub max_pending: usize,
    /// Starts of a task's first child that may fail in a row (it cannot
    /// be run, or it fails the handshake) before the task stops the
    /// topology with the error (default 5, about 1.5 s of back-off): a
    /// misspelt script or a missing module must not keep a topology
    /// replaying its tuples without end. Once a child has started, later
    /// restarts are tried as long as the topology runs (as Storm does). 0:
    /// no limit, the first child too is retried without end.
    pub start_attempts: u32,
}

impl ShellConfig {
    /// Runs `command` with `args`, with Storm's defaults and no streams.
    pub fn new<I, S>(command: impl Into<String>, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            command: command.into(),
            args: args.into_iter().map(Into::into).collect(),
            working_dir: None,
            env: Vec::new(),
            serializer: Serializer::Json,
            protocol: Protocol::Storm,
            streams: Vec::new(),
            conf: Vec::new(),
            context: Vec::new(),
            subprocess_timeout: Duration::from_secs(30),
            heartbeat_interval: Duration::from_secs(1),
            max_pending: 100,
            start_attempts: 5,
        }
    }

    /// Declares an output stream.
    pub fn stream<I, S>(mut self, name: &str, fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.streams.push(StreamSpec {
            name: name.to_owned(),
            fields: fields.into_iter().map(Into::into).collect(),
            direct: false,
        });
        self
    }

    /// Declares a direct output stream.
    pub fn direct_stream<I, S>(mut self, name: &str, fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.streams.push(StreamSpec {
            name: name.to_owned(),
            fields: fields.into_iter().map(Into::into).collect(),
            direct: true,
        });
        self
    }

    /// Sets the working directory.
    pub fn working_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.working_dir = Some(dir.into());
        self
    }

    /// Sets the serializer.
    pub fn serializer(mut self, serializer: Serializer) -> Self {
        self.serializer = serializer;
        self
    }

    /// Sets the protocol. Choosing [`Protocol::Batched`] also raises
    /// [`max_pending`](Self::max_pending) to [`BATCHED_MAX_PENDING`] if it
    /// is lower (call `max_pending` afterwards to choose another window).
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = protocol;
        if protocol == Protocol::Batched {
            self.max_pending = self.max_pending.max(BATCHED_MAX_PENDING);
        }
        self
    }

    /// Runs the Python component class `class` (`module:Class` or
    /// `module.Class`, a `gale`, pystorm or streamparse class) with
    /// `python -m gale.run` under the batched protocol: the `python:`
    /// shorthand of topology files.
    pub fn python(python: impl Into<String>, class: &str) -> Self {
        Self::new(python, ["-m", "gale.run", class]).protocol(Protocol::Batched)
    }

    /// Sets the subprocess timeout.
    pub fn subprocess_timeout(mut self, timeout: Duration) -> Self {
        self.subprocess_timeout = timeout;
        self
    }

    /// Sets the heartbeat interval.
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.heartbeat_interval = interval;
        self
    }

    /// Sets how many starts of a task's first child may fail in a row
    /// before the task stops the topology (0: no limit); see
    /// [`start_attempts`](Self::start_attempts).
    pub fn start_attempts(mut self, n: u32) -> Self {
        self.start_attempts = n;
        self
    }

    /// Sets the shell bolt max pending (at least 1).
    pub fn max_pending(mut self, n: usize) -> Self {
        self.max_pending = n.max(1);
        self
    }

    /// Adds an entry to the `conf` sent in the handshake.
    pub fn conf(mut self, key: &str, value: Value) -> Self {
        self.conf.push((key.to_owned(), value));
        self
    }

    /// The command line, for messages.
    pub fn command_line(&self) -> String {
        std::iter::once(self.command.as_str())
            .chain(self.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub(crate) fn declare(&self, declarer: &mut OutputFieldsDeclarer) {
        for s in &self.streams {
            if s.direct {
                declarer.declare_direct_stream(&s.name, s.fields.iter().cloned());
            } else {
                declarer.declare_stream(&s.name, s.fields.iter().cloned());
            }
        }
    }

    /// The handshake's `conf`.
    pub(crate) fn handshake_conf(&self, ctx: &TopologyContext) -> Value {
        let mut entries = vec![
            ("topology.name".to_owned(), Value::from(ctx.topology_name())),
            ("topology.debug".to_owned(), Value::Bool(false)),
        ];
        if let Some(n) = ctx.max_spout_pending() {
            let key = "topology.max.spout.pending";
            if !self.conf.iter().any(|(k, _)| k == key) {
                entries.push((key.to_owned(), Value::I64(n as i64)));
            }
        }
        entries.extend(self.conf.iter().cloned());
        Value::Map(entries)
    }

    /// The handshake's `context` (Storm's keys).
    pub(crate) fn handshake_context(&self, ctx: &TopologyContext) -> Value {
        let strs = |v: &[String]| Value::List(v.iter().map(|s| Value::from(s.as_str())).collect());
        let task_to_component = ctx
            .task_to_component()
            .iter()
            .map(|(t, c)| (t.to_string(), Value::from(c.as_str())))
            .collect();
        let Value::Map(mut entries) = map([
            ("taskid", Value::I64(i64::from(ctx.task_id()))),
            ("componentid", Value::from(ctx.component_id())),
            ("task->component", Value::Map(task_to_component)),
            (
                "streams",
                Value::List(
                    self.streams
                        .iter()
                        .map(|s| Value::from(s.name.as_str()))
                        .collect(),
                ),
            ),
            ("source->stream->grouping", nested_groupings(ctx.sources())),
            ("stream->target->grouping", nested_groupings(ctx.targets())),
            (
                "stream->outputfields",
                Value::Map(
                    self.streams
                        .iter()
                        .map(|s| (s.name.clone(), strs(&s.fields)))
                        .collect(),
                ),
            ),
        ]) else {
            unreachable!("map builds a map")
        };
        entries.extend(self.context.iter().cloned());
        Value::Map(entries)
    }
}

/// A two-level map of groupings as Storm's multi-lang context writes it
/// (`TopologyContext.toJSONString`).
fn nested_groupings(
    m: &std::collections::BTreeMap<String, std::collections::BTreeMap<String, Grouping>>,
) -> Value {
    Value::Map(
        m.iter()
            .map(|(outer, inner)| {
                let inner = inner
                    .iter()
                    .map(|(k, g)| (k.clone(), storm_grouping(g)))
                    .collect();
                (outer.clone(), Value::Map(inner))
            })
            .collect(),
    )
}

/// A grouping as Storm describes it to multi-lang components: `type` is
/// the name of the Thrift `Grouping` field (`SHUFFLE`, `FIELDS`, ...), with
/// `fields` for a fields grouping. Storm's global grouping is a fields
/// grouping on no fields, and its partial-key grouping a serialized custom
/// grouping.
fn storm_grouping(g: &Grouping) -> Value {
    let (kind, fields): (&str, Option<&[String]>) = match g {
        Grouping::Shuffle => ("SHUFFLE", None),
        Grouping::Fields(f) => ("FIELDS", Some(f)),
        Grouping::Global => ("FIELDS", Some(&[])),
        Grouping::PartialKey(_) => ("CUSTOM_SERIALIZED", None),
        Grouping::All => ("ALL", None),
        Grouping::None => ("NONE", None),
        Grouping::Direct => ("DIRECT", None),
        Grouping::LocalOrShuffle => ("LOCAL_OR_SHUFFLE", None),
        Grouping::Custom(_) => ("CUSTOM_OBJECT", None),
    };
    let mut entries = vec![("type".to_owned(), Value::from(kind))];
    if let Some(fields) = fields {
        entries.push((
            "fields".to_owned(),
            Value::List(fields.iter().map(|f| Value::from(f.as_str())).collect()),
        ));
    }
    Value::Map(entries)
}
