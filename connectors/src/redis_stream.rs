//! The Redis Streams spout: reads a stream through a consumer group
//! (`XREADGROUP`), one consumer per task, and emits each entry's fields as
//! a tuple whose message id stands for the entry id.
//!
//! - **ack** → the entry id is `XACK`ed, in the same pipeline as the next
//!   read (kept across a lost connection and sent once it is back).
//! - **fail** → the entry is emitted again from memory (the spout keeps
//!   each in-flight entry's values until it is acked).
//! - **restart** → the consumer (named `{component}-{task index}` unless
//!   given) first reads its own pending list (`XREADGROUP ... 0`), so
//!   entries delivered to a process that died unacked are delivered again;
//!   entries pending on *another* consumer for longer than `claim_idle_ms`
//!   are taken over with `XAUTOCLAIM`.
//! - **lost connection** → reconnects with backoff (50 ms doubling to
//!   2 s), re-creates the group if the server lost it, re-reads its
//!   pending list; entries in flight stay in flight.
//! - **bad entry** (fields other than the declared ones) → reported with
//!   connector, component, stream key and entry id, copied to the
//!   dead-letter stream (`{stream}:dead` unless given; with `_id` and
//!   `_error` fields) and acked there, so nothing is dropped silently.
//!
//! The spout never blocks its worker thread on an empty stream: reads are
//! non-blocking and, after an empty one, the next waits `poll_ms`. Each
//! round trip is bounded by `timeout_ms`.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gale_codec::Value;
use gale_engine::{OutputFieldsDeclarer, Spout, SpoutOutput, TopologyContext};
use serde::Deserialize;

use crate::error::FieldMismatch;
use crate::in_flight::InFlightTable;
use crate::resp::{self, Entry, StreamId};
use crate::retry::Backoff;
use crate::secret::{percent_encode, Endpoint, EndpointConfig};
use crate::task::start;
use crate::{ConnectorError, ConnectorMetrics};

/// This connector's name in messages and metrics.
pub const REDIS_STREAM_SPOUT: &str = "redis-stream-spout";

/// What the Redis Streams spout reads and how (the `args` of `builtin:
/// redis-stream-spout`, besides the [`EndpointConfig`] keys).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisStreamConfig {
    /// The stream's key.
    pub stream: String,
    /// The consumer group (created with `MKSTREAM` if missing).
    pub group: String,
    /// The entry fields, in the order they are emitted; each entry must
    /// have exactly these.
    pub fields: Vec<String>,
    /// Where a new group starts: `$` (new entries), `0` (the whole
    /// stream) or an entry id. Default `$`.
    #[serde(default = "dollar")]
    pub start: String,
    /// The consumer name (default `{component}-{task index}`; give it
    /// only with one task).
    #[serde(default)]
    pub consumer: Option<String>,
    /// Emit the entry id first, in a field of this name.
    #[serde(default)]
    pub id_field: Option<String>,
    /// Entries per read (`COUNT`). Default 1000.
    #[serde(default = "thousand")]
    pub batch: usize,
    /// After an empty read, wait this long before the next. Default 5.
    #[serde(default = "five")]
    pub poll_ms: u64,
    /// Take over entries pending this long on another consumer. Default
    /// 30000.
    #[serde(default = "thirty_s")]
    pub claim_idle_ms: u64,
    /// Connect, read and write timeout. Default 2000.
    #[serde(default = "two_s")]
    pub timeout_ms: u64,
    /// The dead-letter stream (default `{stream}:dead`).
    #[serde(default)]
    pub dead_letter: Option<String>,
    /// Finish (end a finite run) once a read finds nothing new and every
    /// entry emitted is acked. Default false.
    #[serde(default)]
    pub until_idle: bool,
}

fn dollar() -> String {
    "$".to_owned()
}
fn thousand() -> usize {
    1000
}
fn five() -> u64 {
    5
}
fn thirty_s() -> u64 {
    30_000
}
fn two_s() -> u64 {
    2_000
}

impl RedisStreamConfig {
    /// A config reading `stream` through `group`, emitting `fields`, with
    /// the defaults for the rest.
    pub fn new<S: Into<String>>(
        stream: &str,
        group: &str,
        fields: impl IntoIterator<Item = S>,
    ) -> Self {
        Self {
            stream: stream.to_owned(),
            group: group.to_owned(),
            fields: fields.into_iter().map(Into::into).collect(),
            start: dollar(),
            consumer: None,
            id_field: None,
            batch: thousand(),
            poll_ms: five(),
            claim_idle_ms: thirty_s(),
            timeout_ms: two_s(),
            dead_letter: None,
            until_idle: false,
        }
    }

    /// The fields the spout declares (the id field first, if any).
    pub fn output_fields(&self) -> Vec<String> {
        self.id_field
            .iter()
            .chain(self.fields.iter())
            .cloned()
            .collect()
    }

    /// Checks the values that need no server; `component` names the
    /// component in the error.
    pub fn check(&self, component: &str) -> Result<(), ConnectorError> {
        let err = |key: &str, message: &str| {
            Err(ConnectorError::Config {
                connector: REDIS_STREAM_SPOUT,
                component: component.to_owned(),
                key: key.to_owned(),
                message: message.to_owned(),
            })
        };
        if self.stream.is_empty() {
            return err("stream", "must not be empty");
        }
        if self.group.is_empty() {
            return err("group", "must not be empty");
        }
        if self.fields.is_empty() {
            return err("fields", "declare at least one field");
        }
        let mut all = self.output_fields();
        all.sort();
        if all.windows(2).any(|w| w[0] == w[1]) {
            return err("fields", "a field is named twice (with `id_field` too)");
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

/// An entry emitted and not yet acked.
struct InFlight {
    id: StreamId,
    values: Vec<Value>,
}

/// The Redis Streams spout (see the [module docs](self)).
pub struct RedisStreamSpout {
    cfg: RedisStreamConfig,
    endpoint: EndpointConfig,
    component: String,
    consumer: String,
    target: Option<Endpoint>,
    conn: Option<redis::Connection>,
    metrics: Arc<ConnectorMetrics>,
    backoff: Backoff,
    in_flight: InFlightTable<InFlight>,
    /// While re-reading the pending list: the ids already in flight (not
    /// to be emitted twice).
    resumed: HashSet<StreamId>,
    retry: VecDeque<u64>,
    to_ack: Vec<StreamId>,
    dead: Vec<(Entry, String)>,
    /// Reading this consumer's own pending list from this id (`None`:
    /// reading new entries with `>`).
    history: Option<String>,
    quiet_until: Option<Instant>,
    last_info: Option<Instant>,
    last_claim: Option<Instant>,
    claim_cursor: String,
    idle: bool,
    fatal: Option<ConnectorError>,
    scratch: Vec<Entry>,
}

impl RedisStreamSpout {
    /// A spout reading as `cfg` says from the server `endpoint` names.
    pub fn new(endpoint: EndpointConfig, cfg: RedisStreamConfig) -> Self {
        Self {
            cfg,
            endpoint,
            component: String::new(),
            consumer: String::new(),
            target: None,
            conn: None,
            metrics: ConnectorMetrics::new(REDIS_STREAM_SPOUT, "", 0),
            backoff: Backoff::new(),
            in_flight: InFlightTable::new(),
            resumed: HashSet::new(),
            retry: VecDeque::new(),
            to_ack: Vec::new(),
            dead: Vec::new(),
            history: Some("0".to_owned()),
            quiet_until: None,
            last_info: None,
            last_claim: None,
            claim_cursor: "0-0".to_owned(),
            idle: false,
            fatal: None,
            scratch: Vec::new(),
        }
    }

    /// This task's metrics.
    pub fn metrics(&self) -> &Arc<ConnectorMetrics> {
        &self.metrics
    }

    fn target_shown(&self) -> String {
        self.target
            .as_ref()
            .map_or_else(|| "(no URL)".to_owned(), Endpoint::shown)
    }

    fn command_error(&self, what: &str, message: impl std::fmt::Display) -> ConnectorError {
        ConnectorError::Command {
            connector: REDIS_STREAM_SPOUT,
            component: self.component.clone(),
            target: self.target_shown(),
            what: format!("{what} stream `{}`", self.cfg.stream),
            message: message.to_string(),
        }
    }

    fn reply_error(&self, what: &str, message: String) -> ConnectorError {
        ConnectorError::Reply {
            connector: REDIS_STREAM_SPOUT,
            component: self.component.clone(),
            target: self.target_shown(),
            what: format!("{what} stream `{}`", self.cfg.stream),
            message,
        }
    }

    /// Connects (once due) and makes sure the group exists.
    fn connect(&mut self) -> Result<(), ConnectorError> {
        let target = self.target.clone().ok_or_else(|| ConnectorError::Config {
            connector: REDIS_STREAM_SPOUT,
            component: self.component.clone(),
            key: "url".to_owned(),
            message: "no URL".to_owned(),
        })?;
        let mut conn =
            open(&target, self.cfg.timeout_ms).map_err(|message| ConnectorError::Connect {
                connector: REDIS_STREAM_SPOUT,
                component: self.component.clone(),
                target: target.shown(),
                message,
            })?;
        let created: redis::RedisResult<redis::Value> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&self.cfg.stream)
            .arg(&self.cfg.group)
            .arg(&self.cfg.start)
            .arg("MKSTREAM")
            .query(&mut conn);
        match created {
            Ok(_) => {}
            Err(e) if e.code() == Some("BUSYGROUP") => {}
            Err(e) => return Err(self.command_error("XGROUP CREATE", e)),
        }
        self.conn = Some(conn);
        // Read this consumer's pending list again: a restart (or a
        // server that lost acks) delivers them anew.
        self.history = Some("0".to_owned());
        self.resumed = self.in_flight.values().map(|f| f.id).collect();
        Ok(())
    }

    fn lost(&mut self, e: &ConnectorError, out: &mut SpoutOutput<'_>) {
        self.conn = None;
        self.metrics.error();
        if self.backoff.failed(Instant::now()) {
            out.report_error(e);
        }
    }

    fn emit_entry(&mut self, entry: Entry, out: &mut SpoutOutput<'_>) {
        if self.history.is_some() && self.resumed.contains(&entry.id) {
            return; // already in flight (read again from the pending list)
        }
        let Some(fields) = entry.fields else {
            // Deleted while pending: nothing to emit; stop tracking it.
            self.to_ack.push(entry.id);
            return;
        };
        let mut values = Vec::with_capacity(self.cfg.fields.len() + 1);
        if self.cfg.id_field.is_some() {
            values.push(Value::Str(entry.id.to_string()));
        }
        let matches = fields.len() == self.cfg.fields.len()
            && self
                .cfg
                .fields
                .iter()
                .all(|f| fields.iter().filter(|(n, _)| n == f).count() == 1);
        if !matches {
            let e = ConnectorError::Fields(Box::new(FieldMismatch {
                connector: REDIS_STREAM_SPOUT,
                component: self.component.clone(),
                key: self.cfg.stream.clone(),
                id: entry.id.to_string(),
                expected: self.cfg.fields.clone(),
                got: fields.iter().map(|(n, _)| n.clone()).collect(),
            }));
            self.metrics.error();
            out.report_error(&e);
            self.dead.push((
                Entry {
                    id: entry.id,
                    fields: Some(fields),
                },
                e.to_string(),
            ));
            return;
        }
        let mut fields = fields;
        for f in &self.cfg.fields {
            let at = fields.iter().position(|(n, _)| n == f).unwrap_or(0);
            values.push(std::mem::replace(&mut fields[at].1, Value::Null));
        }
        let msg = self.in_flight.insert(InFlight {
            id: entry.id,
            values,
        });
        if let Some(f) = self.in_flight.get(msg) {
            out.emit_with_id(&f.values, msg);
        }
        self.idle = false;
    }

    /// One round trip: acks and dead letters out, lag and claims now and
    /// then, and a read.
    fn round_trip(&mut self, out: &mut SpoutOutput<'_>) -> Result<usize, ConnectorError> {
        let now = Instant::now();
        let key = &self.cfg.stream;
        let mut p = redis::pipe();
        let dead_key = self
            .cfg
            .dead_letter
            .clone()
            .unwrap_or_else(|| format!("{key}:dead"));
        for (entry, error) in &self.dead {
            let c = p.cmd("XADD").arg(&dead_key).arg("*");
            c.arg("_id")
                .arg(entry.id.to_string())
                .arg("_error")
                .arg(error);
            for (n, v) in entry.fields.iter().flatten() {
                c.arg(n).arg(value_bytes(v));
            }
            c.ignore();
        }
        if !self.to_ack.is_empty() || !self.dead.is_empty() {
            let c = p.cmd("XACK").arg(key).arg(&self.cfg.group);
            for id in self
                .to_ack
                .iter()
                .chain(self.dead.iter().map(|(e, _)| &e.id))
            {
                c.arg(id.to_string());
            }
            c.ignore();
        }
        let info = self
            .last_info
            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1));
        if info {
            p.cmd("XINFO").arg("GROUPS").arg(key);
        }
        let claim = self.history.is_none()
            && self.last_claim.is_none_or(|t| {
                now.duration_since(t)
                    >= Duration::from_millis(self.cfg.claim_idle_ms.clamp(100, 5_000))
            });
        if claim {
            p.cmd("XAUTOCLAIM")
                .arg(key)
                .arg(&self.cfg.group)
                .arg(&self.consumer)
                .arg(self.cfg.claim_idle_ms)
                .arg(&self.claim_cursor)
                .arg("COUNT")
                .arg(self.cfg.batch);
        }
        let from = self.history.clone().unwrap_or_else(|| ">".to_owned());
        p.cmd("XREADGROUP")
            .arg("GROUP")
            .arg(&self.cfg.group)
            .arg(&self.consumer)
            .arg("COUNT")
            .arg(self.cfg.batch)
            .arg("STREAMS")
            .arg(key)
            .arg(&from);
        let Some(conn) = self.conn.as_mut() else {
            return Ok(0);
        };
        let replies: redis::RedisResult<Vec<redis::Value>> = p.query(conn);
        let replies = replies.map_err(|e| self.command_error("XREADGROUP/XACK", e))?;
        // The acks and dead letters reached the server.
        self.to_ack.clear();
        self.dead.clear();
        let mut replies = replies.into_iter();
        let mut next = |what: &str| {
            let r = replies
                .next()
                .ok_or_else(|| format!("no reply to {what}"))?;
            match resp::server_error(&r) {
                Some(e) => Err(e),
                None => Ok(r),
            }
        };
        if info {
            self.last_info = Some(now);
            let r = next("XINFO").map_err(|e| self.command_error("XINFO GROUPS", e))?;
            let lag = resp::group_lag(&r, &self.cfg.group)
                .map_err(|e| self.reply_error("XINFO GROUPS", e))?;
            self.metrics.set_lag(lag);
        }
        let mut entries = std::mem::take(&mut self.scratch);
        entries.clear();
        if claim {
            self.last_claim = Some(now);
            let r = next("XAUTOCLAIM").map_err(|e| self.command_error("XAUTOCLAIM", e))?;
            self.claim_cursor = resp::claim_reply(r, &mut entries)
                .map_err(|e| self.reply_error("XAUTOCLAIM", e))?;
        }
        let claimed = entries.len();
        let r = next("XREADGROUP").map_err(|e| self.command_error("XREADGROUP", e))?;
        resp::read_reply(r, &mut entries).map_err(|e| self.reply_error("XREADGROUP", e))?;
        let read = entries.len() - claimed;
        if let Some(h) = &mut self.history {
            match entries.last() {
                Some(last) if read > 0 => *h = last.id.to_string(),
                _ => {
                    self.history = None; // own pending list done
                    self.resumed = HashSet::new();
                }
            }
        }
        let n = entries.len();
        self.metrics.batch(n);
        for e in entries.drain(..) {
            self.emit_entry(e, out);
        }
        self.scratch = entries;
        Ok(n)
    }
}

/// Opens a connection to `target` with `timeout_ms` on connect, read and
/// write.
pub(crate) fn open(target: &Endpoint, timeout_ms: u64) -> Result<redis::Connection, String> {
    let url = match &target.password {
        None => target.url.clone(),
        Some(pw) => with_password(&target.url, pw)?,
    };
    let timeout = Duration::from_millis(timeout_ms);
    let client = redis::Client::open(url.as_str()).map_err(|e| e.to_string())?;
    let mut conn = client
        .get_connection_with_timeout(timeout)
        .map_err(|e| e.to_string())?;
    conn.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    conn.set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    // A server that needs a password refuses the first command, not the
    // connect: ask once so wrong credentials show here.
    redis::cmd("PING")
        .query::<redis::Value>(&mut conn)
        .map_err(|e| e.to_string())?;
    Ok(conn)
}

/// `url` with `:password@` put in its authority.
fn with_password(url: &str, password: &str) -> Result<String, String> {
    let Some(at) = url.find("://").map(|i| i + 3) else {
        return Err("not a URL (no `://`)".to_owned());
    };
    let rest = &url[at..];
    let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (user, host) = match rest[..auth_end].rfind('@') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => ("", rest),
    };
    let user = user.split(':').next().unwrap_or("");
    Ok(format!(
        "{}{user}:{}@{host}",
        &url[..at],
        percent_encode(password)
    ))
}

/// A tuple value as the bytes Redis stores.
pub(crate) fn value_bytes(v: &Value) -> Vec<u8> {
    match v {
        Value::Str(s) => s.as_bytes().to_vec(),
        Value::Bytes(b) => b.clone(),
        Value::I64(i) => i.to_string().into_bytes(),
        Value::F64(f) => f.to_string().into_bytes(),
        Value::Bool(b) => (if *b { "1" } else { "0" }).as_bytes().to_vec(),
        Value::Null => Vec::new(),
        other => format!("{other:?}").into_bytes(),
    }
}

impl Spout for RedisStreamSpout {
    fn declare_output_fields(&self, declarer: &mut OutputFieldsDeclarer) {
        declarer.declare(self.cfg.output_fields());
    }

    fn open(&mut self, context: &TopologyContext) {
        self.component = context.component_id().to_owned();
        self.consumer = self
            .cfg
            .consumer
            .clone()
            .unwrap_or_else(|| format!("{}-{}", self.component, context.task_index()));
        let checked = self.cfg.check(&self.component);
        let (metrics, target) = start(REDIS_STREAM_SPOUT, context, checked, &self.endpoint);
        self.metrics = metrics;
        match target {
            Ok(t) => self.target = Some(t),
            Err(e) => self.fatal = Some(e),
        }
    }

    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        if let Some(e) = self.fatal.take() {
            out.report_error(&e); // once; the spout then stays idle
            return;
        }
        if self.target.is_none() {
            return;
        }
        // Replays first, from memory.
        let mut replayed = 0;
        while replayed < self.cfg.batch {
            let Some(msg) = self.retry.pop_front() else {
                break;
            };
            if let Some(f) = self.in_flight.get(msg) {
                out.emit_with_id(&f.values, msg);
                replayed += 1;
            }
        }
        if replayed > 0 {
            return;
        }
        let now = Instant::now();
        if self.conn.is_none() {
            if !self.backoff.due(now) {
                return;
            }
            match self.connect() {
                Ok(()) => {
                    if self.backoff.succeeded() {
                        self.metrics.reconnect();
                        tracing::warn!(
                            "{REDIS_STREAM_SPOUT} `{}`: reconnected to {}",
                            self.component,
                            self.target_shown()
                        );
                    }
                }
                Err(e) => {
                    self.lost(&e, out);
                    return;
                }
            }
        }
        if self.quiet_until.is_some_and(|t| now < t) && self.to_ack.is_empty() {
            return;
        }
        let new_entries = self.history.is_none();
        match self.round_trip(out) {
            // An empty pending list is no reason to wait: new entries next.
            Ok(0) if new_entries => {
                self.quiet_until = Some(now + Duration::from_millis(self.cfg.poll_ms));
                self.idle = true;
            }
            Ok(_) => self.quiet_until = None,
            Err(e) => self.lost(&e, out),
        }
        self.metrics.set_pending(self.in_flight.len());
    }

    fn ack(&mut self, msg_id: u64) {
        if let Some(f) = self.in_flight.remove(msg_id) {
            self.to_ack.push(f.id);
        }
    }

    fn fail(&mut self, msg_id: u64) {
        if self.in_flight.get(msg_id).is_some() {
            self.retry.push_back(msg_id);
        }
    }

    fn close(&mut self) {
        if self.to_ack.is_empty() {
            return;
        }
        if let Some(conn) = self.conn.as_mut() {
            let mut c = redis::cmd("XACK");
            c.arg(&self.cfg.stream).arg(&self.cfg.group);
            for id in &self.to_ack {
                c.arg(id.to_string());
            }
            let sent: redis::RedisResult<redis::Value> = c.query(conn);
            if let Err(e) = sent {
                tracing::warn!(
                    "{REDIS_STREAM_SPOUT} `{}`: {} acked entries not XACKed at close (they will \
                     be delivered again): {e}",
                    self.component,
                    self.to_ack.len()
                );
            }
        }
    }

    fn is_finished(&self) -> bool {
        self.cfg.until_idle
            && self.idle
            && self.history.is_none()
            && self.in_flight.is_empty()
            && self.retry.is_empty()
            && self.dead.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_goes_into_the_url_encoded() {
        assert_eq!(
            with_password("redis://127.0.0.1:7000/0", "p@ss:w").unwrap(),
            "redis://:p%40ss%3Aw@127.0.0.1:7000/0"
        );
        assert_eq!(
            with_password("redis://me@h:1", "x").unwrap(),
            "redis://me:x@h:1"
        );
        assert!(with_password("h:1", "x").is_err());
    }

    #[test]
    fn a_bad_config_names_the_key() {
        let mut cfg = RedisStreamConfig::new("s", "g", ["a", "a"]);
        let e = cfg.check("events").unwrap_err().to_string();
        assert!(e.contains("`events`") && e.contains("`fields`"), "{e}");
        cfg.fields = vec!["a".into()];
        cfg.batch = 0;
        assert!(cfg
            .check("events")
            .unwrap_err()
            .to_string()
            .contains("`batch`"));
    }
}
