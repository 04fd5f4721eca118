//! The Redis lookup bolt (storm-redis's `RedisLookupBolt`): enriches each
//! input with a value read from Redis — `GET {key_prefix}{key_field}` or
//! `HGET {key} {key_field}` — and emits the input's `fields` followed by
//! the value (null when the key or hash field is missing), anchored to
//! the input. Inputs are held until `batch` of them or `linger_ms`, their
//! reads sent in one pipeline, and each input acked once its tuple is
//! emitted; a lost connection or an error reply fails the whole batch
//! (the spout replays it) and the connection is restored with backoff.

use std::time::{Duration, Instant};

use gale_codec::Value;
use gale_engine::{
    Anchor, Bolt, BoltOutput, Emission, Input, OutputFieldsDeclarer, TopologyContext,
};
use serde::Deserialize;

use crate::redis_stream::value_bytes;
use crate::retry::{self, Backoff};
use crate::secret::{Endpoint, EndpointConfig};
use crate::sink::{BatchWriter, Batching};
use crate::task::start;
use crate::wire::{Cursor, Wire};
use crate::ConnectorError;

/// This connector's name in messages and metrics.
pub const REDIS_LOOKUP: &str = "redis-lookup";

/// The read each input becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LookupCommand {
    /// `GET {key_prefix}{key_field}`.
    Get,
    /// `HGET {key} {key_field}`.
    Hget,
}

/// What the Redis lookup bolt reads (the `args` of `builtin:
/// redis-lookup`, besides the [`EndpointConfig`] keys).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisLookupConfig {
    /// `get` or `hget`.
    pub command: LookupCommand,
    /// The input field giving the key (`get`) or the hash field (`hget`).
    pub key_field: String,
    /// `hget`: the hash.
    #[serde(default)]
    pub key: Option<String>,
    /// `get`: put before the key.
    #[serde(default)]
    pub key_prefix: String,
    /// The input fields emitted before the value (default: `key_field`).
    #[serde(default)]
    pub fields: Option<Vec<String>>,
    /// The name of the value's output field. Default `value`.
    #[serde(default = "value_name")]
    pub output_field: String,
    /// Reads per pipeline. Default 1000.
    #[serde(default = "thousand")]
    pub batch: usize,
    /// Longest wait of an input before its pipeline is sent. Default 5.
    #[serde(default = "five")]
    pub linger_ms: u64,
    /// Connect, read and write timeout. Default 2000.
    #[serde(default = "two_s")]
    pub timeout_ms: u64,
}

fn value_name() -> String {
    "value".to_owned()
}
fn thousand() -> usize {
    1000
}
fn five() -> u64 {
    5
}
fn two_s() -> u64 {
    2_000
}

impl RedisLookupConfig {
    /// A config reading `command` keyed by input field `key_field`, with
    /// the defaults for the rest.
    pub fn new(command: LookupCommand, key_field: &str) -> Self {
        Self {
            command,
            key_field: key_field.to_owned(),
            key: None,
            key_prefix: String::new(),
            fields: None,
            output_field: value_name(),
            batch: thousand(),
            linger_ms: five(),
            timeout_ms: two_s(),
        }
    }

    /// The input fields passed through.
    fn passed(&self) -> Vec<String> {
        self.fields
            .clone()
            .unwrap_or_else(|| vec![self.key_field.clone()])
    }

    /// The fields the bolt declares: the passed fields, then the value.
    pub fn output_fields(&self) -> Vec<String> {
        let mut f = self.passed();
        f.push(self.output_field.clone());
        f
    }

    /// Checks the values that need no server.
    pub fn check(&self, component: &str) -> Result<(), ConnectorError> {
        let err = |key: &str, message: &str| {
            Err(ConnectorError::Config {
                connector: REDIS_LOOKUP,
                component: component.to_owned(),
                key: key.to_owned(),
                message: message.to_owned(),
            })
        };
        if self.key_field.is_empty() {
            return err("key_field", "must not be empty");
        }
        if self.command == LookupCommand::Hget && self.key.is_none() {
            return err("key", "`hget` needs the hash");
        }
        let mut all = self.output_fields();
        all.sort();
        if all.windows(2).any(|w| w[0] == w[1]) {
            return err("output_field", "a field is named twice");
        }
        if self.batch == 0 {
            return err("batch", "must be at least 1");
        }
        if self.timeout_ms == 0 {
            return err("timeout_ms", "must be at least 1");
        }
        Ok(())
    }
}

/// The connection and the reads staged for it.
struct Reader {
    cfg: RedisLookupConfig,
    component: String,
    target: Option<Endpoint>,
    conn: Option<Wire>,
    backoff: Backoff,
    /// Per staged input: the key read and the values passed through.
    staged: Vec<(Vec<u8>, Vec<Value>)>,
    metrics: std::sync::Arc<crate::ConnectorMetrics>,
}

/// The Redis lookup bolt (see the [module docs](self)).
pub struct RedisLookupBolt {
    endpoint: EndpointConfig,
    r: Reader,
    b: Batching,
}

impl RedisLookupBolt {
    /// A bolt reading as `cfg` says from the server `endpoint` names.
    pub fn new(endpoint: EndpointConfig, cfg: RedisLookupConfig) -> Self {
        let b = Batching::new(REDIS_LOOKUP, cfg.batch, cfg.linger_ms);
        Self {
            endpoint,
            r: Reader {
                cfg,
                component: String::new(),
                target: None,
                conn: None,
                backoff: Backoff::new(),
                staged: Vec::new(),
                metrics: b.metrics.clone(),
            },
            b,
        }
    }
}

impl Reader {
    fn shown(&self) -> String {
        self.target
            .as_ref()
            .map_or_else(|| "(no URL)".to_owned(), Endpoint::shown)
    }

    fn error(&self, message: impl std::fmt::Display) -> ConnectorError {
        ConnectorError::Command {
            connector: REDIS_LOOKUP,
            component: self.component.clone(),
            target: self.shown(),
            what: match self.cfg.command {
                LookupCommand::Get => format!("GET {}*", self.cfg.key_prefix),
                LookupCommand::Hget => {
                    format!("HGET {}", self.cfg.key.as_deref().unwrap_or_default())
                }
            },
            message: message.to_string(),
        }
    }

    /// The connection, opened if due.
    fn connected(&mut self) -> Result<&mut Wire, Option<ConnectorError>> {
        let timeout = Duration::from_millis(self.cfg.timeout_ms);
        retry::connected(
            &mut self.conn,
            &mut self.backoff,
            &self.metrics,
            self.target.as_ref(),
            REDIS_LOOKUP,
            &self.component,
            |target| Wire::open(target, timeout),
        )
    }
}

impl BatchWriter for Reader {
    fn stage(&mut self, input: &Input<'_>) -> Result<(), ConnectorError> {
        let field = |name: &str| {
            input
                .field(name)
                .map(|v| v.to_value())
                .map_err(|e| ConnectorError::Value {
                    connector: REDIS_LOOKUP,
                    component: self.component.clone(),
                    field: name.to_owned(),
                    target_key: self.cfg.output_field.clone(),
                    message: e.to_string(),
                })
        };
        let key = field(&self.cfg.key_field)?;
        let mut passed = Vec::with_capacity(self.cfg.fields.as_ref().map_or(2, |f| f.len() + 1));
        match &self.cfg.fields {
            None => passed.push(key.clone()),
            Some(fields) => {
                for f in fields {
                    passed.push(field(f)?);
                }
            }
        }
        self.staged.push((value_bytes(&key), passed));
        Ok(())
    }

    fn write(
        &mut self,
        held: &[Anchor],
        out: &mut BoltOutput<'_>,
    ) -> Result<(), Option<ConnectorError>> {
        self.connected()?; // before the staged reads are taken: `later` keeps them
        let staged = std::mem::take(&mut self.staged);
        let (command, prefix, hash) = (
            self.cfg.command,
            self.cfg.key_prefix.clone(),
            self.cfg.key.clone().unwrap_or_default(),
        );
        let conn = self.connected()?;
        let mut k = Vec::new();
        for (key, _) in &staged {
            match command {
                LookupCommand::Get => {
                    k.clear();
                    k.extend_from_slice(prefix.as_bytes());
                    k.extend_from_slice(key);
                    conn.command(&[b"GET", &k]);
                }
                LookupCommand::Hget => conn.command(&[b"HGET", hash.as_bytes(), key]),
            }
        }
        let sent = conn.send().and_then(|()| conn.recv(staged.len()));
        if let Err(e) = sent {
            self.conn = None;
            self.backoff.failed(Instant::now());
            return Err(Some(self.error(e)));
        }
        let Some(conn) = self.conn.as_ref() else {
            return Err(None);
        };
        // Every reply read before anything is emitted: an error fails the
        // batch whole.
        let mut found = Vec::with_capacity(staged.len());
        for i in 0..staged.len() {
            match Cursor::new(conn.reply(i)).bulk() {
                Ok(None) => found.push(Value::Null),
                Ok(Some(b)) => found.push(match std::str::from_utf8(b) {
                    Ok(s) => Value::Str(s.to_owned()),
                    Err(_) => Value::Bytes(b.to_vec()),
                }),
                Err(e) => return Err(Some(self.error(e.message()))),
            }
        }
        for (((_, mut values), v), anchor) in staged.into_iter().zip(found).zip(held) {
            values.push(v);
            out.emit_with(
                Emission {
                    stream: "default",
                    direct: None,
                    values: &values,
                    targets: None,
                },
                std::slice::from_ref(anchor),
            );
        }
        Ok(())
    }

    fn discard(&mut self) {
        self.staged.clear();
    }
}

impl Bolt for RedisLookupBolt {
    fn declare_output_fields(&self, declarer: &mut OutputFieldsDeclarer) {
        declarer.declare(self.r.cfg.output_fields());
    }

    fn prepare(&mut self, context: &TopologyContext) {
        self.r.component = context.component_id().to_owned();
        let checked = self.r.cfg.check(&self.r.component);
        let (metrics, target) = start(REDIS_LOOKUP, context, checked, &self.endpoint);
        self.b.metrics = metrics.clone();
        self.r.metrics = metrics;
        match target {
            Ok(t) => self.r.target = Some(t),
            Err(e) => self.b.fatal.set(e),
        }
    }

    crate::sink::batching_bolt_methods!(r);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_config_names_the_key() {
        let cfg = RedisLookupConfig::new(LookupCommand::Hget, "word");
        let e = cfg.check("enrich").unwrap_err().to_string();
        assert!(e.contains("`enrich`") && e.contains("`key`"), "{e}");
        let mut cfg = RedisLookupConfig::new(LookupCommand::Get, "word");
        cfg.output_field = "word".into();
        assert!(cfg
            .check("enrich")
            .unwrap_err()
            .to_string()
            .contains("`output_field`"));
    }
}
