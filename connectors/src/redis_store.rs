//! The Redis store bolt (storm-redis's `RedisStoreBolt`): each input
//! becomes one command (`SET`, `HSET`, `XADD` or `INCRBY`) built from its
//! fields; commands are held until `batch` of them or `linger_ms`, sent
//! in one pipeline, and the inputs acked only once every reply came back
//! without error. A lost connection fails the batch (replayed by the
//! spout) and is restored with backoff; nothing acked was lost.
//!
//! `SET`, `HSET` and `XADD` of a replayed input write the same value
//! again (idempotent for `SET`/`HSET`; `XADD` appends a second entry);
//! `INCRBY` of a replayed input adds again: at-least-once, so a key's
//! total may count an input twice after a failure.

use std::sync::Arc;
use std::time::Instant;

use gale_codec::Value;
use gale_engine::{Anchor, Bolt, BoltOutput, Input, OutputFieldsDeclarer, TopologyContext};
use serde::Deserialize;

use crate::redis_stream::{open, value_bytes};
use crate::resp;
use crate::retry::{self, Backoff};
use crate::secret::{Endpoint, EndpointConfig};
use crate::sink::{BatchWriter, Batching};
use crate::task::start;
use crate::{ConnectorError, ConnectorMetrics};

/// This connector's name in messages and metrics.
pub const REDIS_BOLT: &str = "redis-bolt";

/// The command each input becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RedisCommand {
    /// `SET {key_prefix}{key_field} {value_field} [EX ttl_secs]`.
    Set,
    /// `HSET {key} {key_field} {value_field}`.
    Hset,
    /// `XADD {key} * f1 v1 ...` with the input's `fields`.
    Xadd,
    /// `INCRBY {key_prefix}{key_field} {value_field or 1}`.
    Incrby,
}

/// What the Redis store bolt writes (the `args` of `builtin: redis-bolt`,
/// besides the [`EndpointConfig`] keys).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisStoreConfig {
    /// `set`, `hset`, `xadd` or `incrby`.
    pub command: RedisCommand,
    /// The fixed key: the hash of `hset`, the stream of `xadd`.
    #[serde(default)]
    pub key: Option<String>,
    /// The input field giving the key (`set`, `incrby`) or the hash
    /// field (`hset`).
    #[serde(default)]
    pub key_field: Option<String>,
    /// Put before the key of `set` and `incrby`.
    #[serde(default)]
    pub key_prefix: String,
    /// The input field giving the value (`set`, `hset`) or increment
    /// (`incrby`; default 1).
    #[serde(default)]
    pub value_field: Option<String>,
    /// `xadd`: the input fields written (default: all).
    #[serde(default)]
    pub fields: Option<Vec<String>>,
    /// `set`: expire keys after this many seconds.
    #[serde(default)]
    pub ttl_secs: Option<u64>,
    /// Commands per pipeline. Default 1000.
    #[serde(default = "thousand")]
    pub batch: usize,
    /// Longest wait of an input before its pipeline is sent. Default 20.
    #[serde(default = "twenty")]
    pub linger_ms: u64,
    /// Connect, read and write timeout. Default 2000.
    #[serde(default = "two_s")]
    pub timeout_ms: u64,
}

fn thousand() -> usize {
    1000
}
fn twenty() -> u64 {
    20
}
fn two_s() -> u64 {
    2_000
}

impl RedisStoreConfig {
    /// A config for `command` with no keys set and the defaults.
    pub fn new(command: RedisCommand) -> Self {
        Self {
            command,
            key: None,
            key_field: None,
            key_prefix: String::new(),
            value_field: None,
            fields: None,
            ttl_secs: None,
            batch: thousand(),
            linger_ms: twenty(),
            timeout_ms: two_s(),
        }
    }

    /// Checks that the command has the keys it needs.
    pub fn check(&self, component: &str) -> Result<(), ConnectorError> {
        let need = |key: &str, present: bool| {
            if present {
                Ok(())
            } else {
                Err(ConnectorError::Config {
                    connector: REDIS_BOLT,
                    component: component.to_owned(),
                    key: key.to_owned(),
                    message: format!("`{:?}` needs it", self.command).to_lowercase(),
                })
            }
        };
        match self.command {
            RedisCommand::Set => {
                need("key_field", self.key_field.is_some())?;
                need("value_field", self.value_field.is_some())
            }
            RedisCommand::Hset => {
                need("key", self.key.is_some())?;
                need("key_field", self.key_field.is_some())?;
                need("value_field", self.value_field.is_some())
            }
            RedisCommand::Xadd => need("key", self.key.is_some()),
            RedisCommand::Incrby => need("key_field", self.key_field.is_some()),
        }?;
        need("batch", self.batch > 0)?;
        need("timeout_ms", self.timeout_ms > 0)
    }
}

/// The connection and the commands staged for it.
struct Store {
    cfg: RedisStoreConfig,
    component: String,
    target: Option<Endpoint>,
    conn: Option<redis::Connection>,
    metrics: Arc<ConnectorMetrics>,
    backoff: Backoff,
    pipe: redis::Pipeline,
}

/// The Redis store bolt (see the [module docs](self)).
pub struct RedisStoreBolt {
    endpoint: EndpointConfig,
    s: Store,
    b: Batching,
}

impl RedisStoreBolt {
    /// A bolt writing as `cfg` says to the server `endpoint` names.
    pub fn new(endpoint: EndpointConfig, cfg: RedisStoreConfig) -> Self {
        let b = Batching::new(REDIS_BOLT, cfg.batch, cfg.linger_ms);
        Self {
            endpoint,
            s: Store {
                cfg,
                component: String::new(),
                target: None,
                conn: None,
                metrics: b.metrics.clone(),
                backoff: Backoff::new(),
                pipe: redis::pipe(),
            },
            b,
        }
    }
}

impl Store {
    fn shown(&self) -> String {
        self.target
            .as_ref()
            .map_or_else(|| "(no URL)".to_owned(), Endpoint::shown)
    }

    /// Adds `input`'s command to the pipeline.
    fn queue(&mut self, input: &Input<'_>) -> Result<(), ConnectorError> {
        let field = |name: &str| -> Result<Value, ConnectorError> {
            input
                .field(name)
                .map(|v| v.to_value())
                .map_err(|e| ConnectorError::Value {
                    connector: REDIS_BOLT,
                    component: self.component.clone(),
                    field: name.to_owned(),
                    target_key: format!("{:?}", self.cfg.command).to_uppercase(),
                    message: e.to_string(),
                })
        };
        let cfg = &self.cfg;
        let key_of = |v: Value| {
            let mut k = cfg.key_prefix.as_bytes().to_vec();
            k.extend(value_bytes(&v));
            k
        };
        let key_field = cfg.key_field.as_deref().unwrap_or_default();
        let value_field = cfg.value_field.as_deref().unwrap_or_default();
        let fixed = cfg.key.as_deref().unwrap_or_default();
        match cfg.command {
            RedisCommand::Set => {
                let (k, v) = (field(key_field)?, field(value_field)?);
                let c = self.pipe.cmd("SET").arg(key_of(k)).arg(value_bytes(&v));
                if let Some(ttl) = cfg.ttl_secs {
                    c.arg("EX").arg(ttl);
                }
            }
            RedisCommand::Hset => {
                let (k, v) = (field(key_field)?, field(value_field)?);
                self.pipe
                    .cmd("HSET")
                    .arg(fixed)
                    .arg(value_bytes(&k))
                    .arg(value_bytes(&v));
            }
            RedisCommand::Incrby => {
                let k = field(key_field)?;
                let by = match cfg.value_field.as_deref() {
                    None => 1,
                    Some(f) => match field(f)? {
                        Value::I64(i) => i,
                        other => {
                            return Err(ConnectorError::Value {
                                connector: REDIS_BOLT,
                                component: self.component.clone(),
                                field: f.to_owned(),
                                target_key: "INCRBY".to_owned(),
                                message: format!("a {} value, not an integer", other.kind()),
                            })
                        }
                    },
                };
                self.pipe.cmd("INCRBY").arg(key_of(k)).arg(by);
            }
            RedisCommand::Xadd => {
                let names: Vec<String> = match &cfg.fields {
                    Some(f) => f.clone(),
                    None => input
                        .fields()
                        .map(|f| f.iter().map(str::to_owned).collect())
                        .unwrap_or_default(),
                };
                let mut pairs = Vec::with_capacity(names.len() * 2);
                for n in &names {
                    let v = field(n)?;
                    pairs.push(n.as_bytes().to_vec());
                    pairs.push(value_bytes(&v));
                }
                self.pipe.cmd("XADD").arg(fixed).arg("*").arg(pairs);
            }
        }
        Ok(())
    }
}

impl BatchWriter for Store {
    fn stage(&mut self, input: &Input<'_>) -> Result<(), ConnectorError> {
        self.queue(input)
    }

    fn write(
        &mut self,
        _held: &[Anchor],
        _out: &mut BoltOutput<'_>,
    ) -> Result<(), Option<ConnectorError>> {
        let timeout_ms = self.cfg.timeout_ms;
        let conn = retry::connected(
            &mut self.conn,
            &mut self.backoff,
            &self.metrics,
            self.target.as_ref(),
            REDIS_BOLT,
            &self.component,
            |target| open(target, timeout_ms),
        )?;
        let sent: redis::RedisResult<Vec<redis::Value>> = self.pipe.query(conn);
        self.pipe.clear();
        let failed = match sent {
            Ok(replies) => replies.iter().find_map(resp::server_error),
            Err(e) => {
                if e.is_io_error() || e.is_connection_dropped() || e.is_timeout() {
                    self.conn = None;
                    self.backoff.failed(Instant::now());
                }
                Some(e.to_string())
            }
        };
        match failed {
            None => Ok(()),
            Some(message) => Err(Some(ConnectorError::Command {
                connector: REDIS_BOLT,
                component: self.component.clone(),
                target: self.shown(),
                what: format!("{:?} pipeline", self.cfg.command).to_uppercase(),
                message,
            })),
        }
    }

    fn discard(&mut self) {
        self.pipe.clear();
    }
}

impl Bolt for RedisStoreBolt {
    fn declare_output_fields(&self, _declarer: &mut OutputFieldsDeclarer) {}

    fn prepare(&mut self, context: &TopologyContext) {
        self.s.component = context.component_id().to_owned();
        let checked = self.s.cfg.check(&self.s.component);
        let (metrics, target) = start(REDIS_BOLT, context, checked, &self.endpoint);
        self.b.metrics = metrics.clone();
        self.s.metrics = metrics;
        match target {
            Ok(t) => self.s.target = Some(t),
            Err(e) => self.b.fatal.set(e),
        }
    }

    crate::sink::batching_bolt_methods!(s);
}
