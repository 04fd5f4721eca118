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
//!
//! **Rewinding** (a [`RewindableSpout`], for exactly-once state under
//! checkpoints): with `delivery: offset` the position is the id of the
//! last entry read (and the group's `entries-read` there); restoring it
//! reads on after that id with `XREAD` and sets the group's id back to
//! it. In a topology with checkpoints acks do not move the group's id
//! (the checkpoints are the one record of what is done: a crash before
//! the first complete checkpoint starts again where the group stood).
//! With `delivery: group` there is no such position (the group hands
//! entries to several consumers and keeps their pending lists): a
//! checkpoint stops the spout with an error naming the key.

use std::cell::Cell;
use std::collections::{HashSet, VecDeque};
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gale_codec::Value;
use gale_engine::state::{RewindableSpout, CHECKPOINT_STREAM};
use gale_engine::{OutputFieldsDeclarer, Spout, SpoutOutput, TopologyContext};
use redis::Value as R;
use serde::Deserialize;

use crate::error::FieldMismatch;
use crate::in_flight::InFlightTable;
use crate::resp::{self, StreamId};
use crate::retry::Backoff;
use crate::secret::{with_password, Endpoint, EndpointConfig};
use crate::task::start;
use crate::wire::{Cursor, Malformed, Wire};
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
    /// How entries are handed out and acknowledged: `group` (default)
    /// or `offset` (see [`Delivery`]).
    #[serde(default)]
    pub delivery: Delivery,
}

/// How the spout reads the stream and keeps what is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Delivery {
    /// `XREADGROUP` and `XACK`: Redis keeps every entry handed out in
    /// the group's pending list until it is acked; any number of tasks
    /// share the stream; entries of a consumer that died are claimed.
    /// Redis spends about five times the work per entry of a plain read
    /// on the pending list (the spout's ceiling is the server's).
    #[default]
    Group,
    /// `XREAD` from the group's last-delivered id, with the group's
    /// position moved (`XGROUP SETID`) to just before the oldest entry
    /// not yet acked, as a Kafka consumer commits offsets: one task
    /// only; after a restart everything after the position is delivered
    /// again (entries acked past an older one still in flight too).
    Offset,
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
            delivery: Delivery::Group,
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
    /// Its place in the stream (`entries-read` once it is done), when
    /// the server told where the group started.
    ordinal: Option<u64>,
    values: Vec<Value>,
}

/// An entry whose fields are not the declared ones, on its way to the
/// dead-letter stream.
struct DeadLetter {
    id: StreamId,
    fields: Vec<(Vec<u8>, Vec<u8>)>,
    error: String,
}

/// What a reply in the request in flight answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Asked {
    /// `XADD` (dead letters), `XACK`, `XGROUP SETID`: only checked.
    Write,
    /// `XINFO GROUPS`.
    Info,
    /// `XAUTOCLAIM`.
    Claim,
    /// `XREADGROUP` or `XREAD`.
    Read,
}

/// One entry of a reply, in place: the id and the ranges of its field
/// names and values in the connection's read buffer.
#[derive(Debug, Clone)]
struct Parsed {
    id: StreamId,
    /// Its names and values in `spans` (name, value, name, ...); `None`
    /// for an entry deleted while pending.
    fields: Option<Range<usize>>,
}

/// The Redis Streams spout (see the [module docs](self)).
pub struct RedisStreamSpout {
    cfg: RedisStreamConfig,
    endpoint: EndpointConfig,
    component: String,
    consumer: String,
    target: Option<Endpoint>,
    conn: Option<Wire>,
    metrics: Arc<ConnectorMetrics>,
    backoff: Backoff,
    in_flight: InFlightTable<InFlight>,
    /// `max_spout_pending` of the component (reads ask for no more).
    max_pending: usize,
    /// While re-reading the pending list: the ids already in flight (not
    /// to be emitted twice).
    resumed: HashSet<StreamId>,
    retry: VecDeque<u64>,
    to_ack: Vec<StreamId>,
    dead: Vec<DeadLetter>,
    /// Group delivery: reading this consumer's own pending list after
    /// this id (`None`: reading new entries with `>`).
    history: Option<StreamId>,
    /// Offset delivery: the last id read (the next read starts after
    /// it), `None` until the group's position is known.
    position: Option<StreamId>,
    /// Offset delivery: the group's `entries-read` at `position`.
    ordinal: Option<u64>,
    /// Offset delivery: the last entry done with (emitted, dead-lettered)
    /// and its ordinal.
    last_done: Option<(StreamId, Option<u64>)>,
    /// Offset delivery: the id last written with `XGROUP SETID`.
    committed: Option<StreamId>,
    /// The request sent and not yet answered: what each reply is, and
    /// how many entries its read asked for.
    asked: Vec<Asked>,
    asked_count: usize,
    parsed: Vec<Parsed>,
    spans: Vec<Range<usize>>,
    quiet_until: Option<Instant>,
    last_info: Option<Instant>,
    last_claim: Option<Instant>,
    claim_cursor: StreamId,
    idle: bool,
    fatal: Option<ConnectorError>,
    /// Offset delivery in a topology with checkpoints: acks do not move
    /// the group's id (only a restore does, once: `commit_restored`).
    checkpointed: bool,
    commit_restored: bool,
    /// Group delivery under checkpoints: asked to rewind, which it cannot
    /// (reported at the next `next_tuple`).
    cannot_rewind: Cell<bool>,
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
            max_pending: usize::MAX,
            resumed: HashSet::new(),
            retry: VecDeque::new(),
            to_ack: Vec::new(),
            dead: Vec::new(),
            history: Some(StreamId::ZERO),
            position: None,
            ordinal: None,
            last_done: None,
            committed: None,
            asked: Vec::new(),
            asked_count: 0,
            parsed: Vec::new(),
            spans: Vec::new(),
            quiet_until: None,
            last_info: None,
            last_claim: None,
            claim_cursor: StreamId::ZERO,
            idle: false,
            fatal: None,
            checkpointed: false,
            commit_restored: false,
            cannot_rewind: Cell::new(false),
        }
    }

    /// This task's metrics.
    pub fn metrics(&self) -> &Arc<ConnectorMetrics> {
        &self.metrics
    }

    fn offset(&self) -> bool {
        self.cfg.delivery == Delivery::Offset
    }

    fn config_error(&self, key: &str, message: &str) -> ConnectorError {
        ConnectorError::Config {
            connector: REDIS_STREAM_SPOUT,
            component: self.component.clone(),
            key: key.to_owned(),
            message: message.to_owned(),
        }
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

    /// A round trip of one command, outside the hot path.
    fn call(&self, conn: &mut Wire, what: &str, args: &[&[u8]]) -> Result<R, ConnectorError> {
        conn.command(args);
        conn.send()
            .and_then(|()| conn.recv(1))
            .map_err(|e| self.command_error(what, e))?;
        Cursor::new(conn.reply(0))
            .value()
            .map_err(|e| self.command_error(what, e.message()))
    }

    /// Connects (once due) and makes sure the group exists; with offset
    /// delivery, learns where the group stands the first time.
    fn connect(&mut self) -> Result<(), ConnectorError> {
        let target = self.target.clone().ok_or_else(|| ConnectorError::Config {
            connector: REDIS_STREAM_SPOUT,
            component: self.component.clone(),
            key: "url".to_owned(),
            message: "no URL".to_owned(),
        })?;
        let mut conn =
            Wire::open(&target, Duration::from_millis(self.cfg.timeout_ms)).map_err(|message| {
                ConnectorError::Connect {
                    connector: REDIS_STREAM_SPOUT,
                    component: self.component.clone(),
                    target: target.shown(),
                    message,
                }
            })?;
        let key = self.cfg.stream.as_bytes();
        let group = self.cfg.group.as_bytes();
        match self.call(
            &mut conn,
            "XGROUP CREATE",
            &[
                b"XGROUP",
                b"CREATE",
                key,
                group,
                self.cfg.start.as_bytes(),
                b"MKSTREAM",
            ],
        ) {
            Ok(_) => {}
            Err(ConnectorError::Command { message, .. }) if message.contains("BUSYGROUP") => {}
            Err(e) => return Err(e),
        }
        if self.offset() {
            if self.position.is_none() {
                let r = self.call(&mut conn, "XINFO GROUPS", &[b"XINFO", b"GROUPS", key])?;
                let g = resp::group_info(&r, &self.cfg.group)
                    .map_err(|e| self.reply_error("XINFO GROUPS", e))?
                    .unwrap_or_default();
                self.position = Some(g.last_delivered.unwrap_or(StreamId::ZERO));
                self.ordinal = g.entries_read;
            }
            // Write the position again (a restarted server may have lost
            // it). There is no pending list to read first.
            self.committed = None;
            self.history = None;
        } else {
            // Read this consumer's pending list again: a restart (or a
            // server that lost acks) delivers them anew.
            self.history = Some(StreamId::ZERO);
            self.resumed = self.in_flight.values().map(|f| f.id).collect();
        }
        self.asked.clear();
        self.conn = Some(conn);
        Ok(())
    }

    fn lost(&mut self, e: &ConnectorError, out: &mut SpoutOutput<'_>) {
        self.conn = None;
        self.asked.clear();
        self.metrics.error();
        if self.backoff.failed(Instant::now()) {
            out.report_error(e);
        }
    }

    /// How many entries a read may ask for now: `batch`, less what
    /// `max_spout_pending` leaves no room for.
    fn room(&self, unemitted: usize) -> usize {
        self.max_pending
            .saturating_sub(self.in_flight.len() + unemitted)
            .min(self.cfg.batch)
    }

    /// Writes and sends one request: dead letters, acks (or the offset
    /// commit), the lag now and then, claims now and then, and a read of
    /// `count` entries (none if 0). Returns whether anything was sent.
    fn request(&mut self, count: usize) -> Result<bool, ConnectorError> {
        let now = Instant::now();
        let offset = self.offset();
        let Some(mut conn) = self.conn.take() else {
            return Ok(false);
        };
        let w = &mut conn;
        let key = self.cfg.stream.as_bytes();
        let group = self.cfg.group.as_bytes();
        self.asked.clear();
        if !self.dead.is_empty() {
            let dead_key = self
                .cfg
                .dead_letter
                .clone()
                .unwrap_or_else(|| format!("{}:dead", self.cfg.stream));
            for d in &self.dead {
                w.begin(7 + 2 * d.fields.len());
                w.arg(b"XADD");
                w.arg(dead_key.as_bytes());
                w.arg(b"*");
                w.arg(b"_id");
                let (ms, seq) = d.id.parts();
                w.arg_id(ms, seq);
                w.arg(b"_error");
                w.arg(d.error.as_bytes());
                for (n, v) in &d.fields {
                    w.arg(n);
                    w.arg(v);
                }
                self.asked.push(Asked::Write);
            }
        }
        let may_commit = !self.checkpointed || std::mem::take(&mut self.commit_restored);
        if offset && may_commit {
            // Everything up to just before the oldest entry in flight is
            // done (or everything read, with none in flight).
            let done = match self.in_flight.values().next() {
                Some(f) => Some((f.id.before(), f.ordinal.map(|o| o.saturating_sub(1)))),
                None => self.last_done,
            };
            if let Some((id, ordinal)) = done.filter(|(id, _)| Some(*id) != self.committed) {
                w.begin(if ordinal.is_some() { 7 } else { 5 });
                for a in [&b"XGROUP"[..], b"SETID", key, group] {
                    w.arg(a);
                }
                let (ms, seq) = id.parts();
                w.arg_id(ms, seq);
                if let Some(n) = ordinal {
                    w.arg(b"ENTRIESREAD");
                    w.arg_u64(n);
                }
                self.committed = Some(id);
                self.asked.push(Asked::Write);
            }
        } else if !self.to_ack.is_empty() || !self.dead.is_empty() {
            w.begin(3 + self.to_ack.len() + self.dead.len());
            for a in [&b"XACK"[..], key, group] {
                w.arg(a);
            }
            for id in self.to_ack.iter().chain(self.dead.iter().map(|d| &d.id)) {
                let (ms, seq) = id.parts();
                w.arg_id(ms, seq);
            }
            self.asked.push(Asked::Write);
        }
        // Sent: a lost connection from here re-reads (group) or
        // re-commits (offset) what they stood for.
        self.to_ack.clear();
        self.dead.clear();
        if self
            .last_info
            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1))
        {
            self.last_info = Some(now);
            w.command(&[b"XINFO", b"GROUPS", key]);
            self.asked.push(Asked::Info);
        }
        if !offset
            && self.history.is_none()
            && count > 0
            && self.last_claim.is_none_or(|t| {
                now.duration_since(t)
                    >= Duration::from_millis(self.cfg.claim_idle_ms.clamp(100, 5_000))
            })
        {
            self.last_claim = Some(now);
            w.begin(8);
            for a in [&b"XAUTOCLAIM"[..], key, group, self.consumer.as_bytes()] {
                w.arg(a);
            }
            w.arg_u64(self.cfg.claim_idle_ms);
            let (ms, seq) = self.claim_cursor.parts();
            w.arg_id(ms, seq);
            w.arg(b"COUNT");
            w.arg_u64(count as u64);
            self.asked.push(Asked::Claim);
        }
        self.asked_count = 0;
        if count > 0 {
            if offset {
                w.begin(6);
                for a in [&b"XREAD"[..], b"COUNT"] {
                    w.arg(a);
                }
                w.arg_u64(count as u64);
                w.arg(b"STREAMS");
                w.arg(key);
                let (ms, seq) = self.position.unwrap_or(StreamId::ZERO).parts();
                w.arg_id(ms, seq);
            } else {
                w.begin(9);
                for a in [
                    &b"XREADGROUP"[..],
                    b"GROUP",
                    group,
                    self.consumer.as_bytes(),
                    b"COUNT",
                ] {
                    w.arg(a);
                }
                w.arg_u64(count as u64);
                w.arg(b"STREAMS");
                w.arg(key);
                match self.history {
                    Some(h) => {
                        let (ms, seq) = h.parts();
                        w.arg_id(ms, seq);
                    }
                    None => w.arg(b">"),
                }
            }
            self.asked.push(Asked::Read);
            self.asked_count = count;
        }
        let sent = !self.asked.is_empty();
        let r = if sent { conn.send() } else { Ok(()) };
        self.conn = Some(conn);
        r.map_err(|e| self.command_error(read_name(offset), e))?;
        Ok(sent)
    }

    /// Receives the request in flight and reads its replies: the entries
    /// land in `parsed`. Returns how many the read and the claim gave.
    fn receive(&mut self) -> Result<(usize, usize), ConnectorError> {
        let offset = self.offset();
        let Some(mut conn) = self.conn.take() else {
            return Ok((0, 0));
        };
        let got = self.read_replies(&mut conn);
        self.conn = Some(conn);
        let (claimed, read) = got?;
        if !offset {
            if let Some(h) = &mut self.history {
                match self.parsed.last() {
                    Some(last) if read > 0 => *h = last.id,
                    _ => {
                        self.history = None; // own pending list done
                        self.resumed = HashSet::new();
                    }
                }
            }
        } else if let Some(last) = self.parsed.last() {
            self.position = Some(last.id);
        }
        Ok((claimed, read))
    }

    fn read_replies(&mut self, conn: &mut Wire) -> Result<(usize, usize), ConnectorError> {
        let offset = self.offset();
        let asked = std::mem::take(&mut self.asked);
        conn.recv(asked.len())
            .map_err(|e| self.command_error(read_name(offset), e))?;
        self.parsed.clear();
        self.spans.clear();
        let (mut claimed, mut read) = (0, 0);
        for (i, what) in asked.iter().enumerate() {
            let mut c = Cursor::at(conn.bytes(), conn.reply_start(i));
            match what {
                Asked::Write => {
                    if let Some(e) = c
                        .skip()
                        .map_err(|e| self.command_error("XACK/XADD", e.message()))?
                    {
                        return Err(self.command_error(
                            if offset {
                                "XGROUP SETID/XADD"
                            } else {
                                "XACK/XADD"
                            },
                            e,
                        ));
                    }
                }
                Asked::Info => {
                    let r = c
                        .value()
                        .map_err(|e| self.command_error("XINFO GROUPS", e.message()))?;
                    let g = resp::group_info(&r, &self.cfg.group)
                        .map_err(|e| self.reply_error("XINFO GROUPS", e))?;
                    self.metrics.set_lag(g.map_or(-1, |g| g.lag));
                }
                Asked::Claim => {
                    let before = self.parsed.len();
                    let got = claim_reply(&mut c, &mut self.parsed, &mut self.spans);
                    self.claim_cursor =
                        got.map_err(|e| self.command_error("XAUTOCLAIM", e.message()))?;
                    claimed = self.parsed.len() - before;
                }
                Asked::Read => {
                    let before = self.parsed.len();
                    let got = read_reply(&mut c, &mut self.parsed, &mut self.spans);
                    got.map_err(|e| self.command_error(read_name(offset), e.message()))?;
                    read = self.parsed.len() - before;
                }
            }
        }
        self.asked = asked;
        self.asked.clear();
        Ok((claimed, read))
    }

    /// Emits the entries in `parsed` (their bytes in `bytes`).
    fn emit_parsed(&mut self, bytes: &[u8], out: &mut SpoutOutput<'_>) {
        let parsed = std::mem::take(&mut self.parsed);
        for p in &parsed {
            self.emit_entry(bytes, p, out);
        }
        self.parsed = parsed;
    }

    fn emit_entry(&mut self, bytes: &[u8], entry: &Parsed, out: &mut SpoutOutput<'_>) {
        let ordinal = if self.offset() {
            self.ordinal = self.ordinal.map(|o| o + 1);
            self.ordinal
        } else {
            None
        };
        if self.history.is_some() && self.resumed.contains(&entry.id) {
            return; // already in flight (read again from the pending list)
        }
        let Some(range) = entry.fields.clone() else {
            // Deleted while pending: nothing to emit; stop tracking it.
            self.to_ack.push(entry.id);
            return;
        };
        let spans = &self.spans[range];
        let name = |i: usize| &bytes[spans[2 * i].clone()];
        let value = |i: usize| &bytes[spans[2 * i + 1].clone()];
        let n = spans.len() / 2;
        let mut values = Vec::with_capacity(self.cfg.fields.len() + 1);
        if self.cfg.id_field.is_some() {
            values.push(Value::Str(entry.id.to_string()));
        }
        // The common case: the fields in the declared order.
        let in_order = n == self.cfg.fields.len()
            && self
                .cfg
                .fields
                .iter()
                .enumerate()
                .all(|(i, f)| name(i) == f.as_bytes());
        let matches = in_order
            || (n == self.cfg.fields.len()
                && self
                    .cfg
                    .fields
                    .iter()
                    .all(|f| (0..n).filter(|&i| name(i) == f.as_bytes()).count() == 1));
        if !matches {
            let e = ConnectorError::Fields(Box::new(FieldMismatch {
                connector: REDIS_STREAM_SPOUT,
                component: self.component.clone(),
                key: self.cfg.stream.clone(),
                id: entry.id.to_string(),
                expected: self.cfg.fields.clone(),
                got: (0..n)
                    .map(|i| String::from_utf8_lossy(name(i)).into_owned())
                    .collect(),
            }));
            self.metrics.error();
            out.report_error(&e);
            self.dead.push(DeadLetter {
                id: entry.id,
                fields: (0..n)
                    .map(|i| (name(i).to_vec(), value(i).to_vec()))
                    .collect(),
                error: e.to_string(),
            });
            self.last_done = Some((entry.id, ordinal));
            return;
        }
        for (i, f) in self.cfg.fields.iter().enumerate() {
            let at = if in_order {
                i
            } else {
                (0..n).find(|&j| name(j) == f.as_bytes()).unwrap_or(0)
            };
            values.push(field_value(value(at)));
        }
        let msg = self.in_flight.insert(InFlight {
            id: entry.id,
            ordinal,
            values,
        });
        if let Some(f) = self.in_flight.get(msg) {
            out.emit_with_id(&f.values, msg);
        }
        self.last_done = Some((entry.id, ordinal));
        self.idle = false;
    }

    /// One step: receive the request in flight (sending one first if
    /// none is), send the next before emitting what came, then emit.
    /// Returns the entries read (`None`: nothing could be asked).
    fn step(&mut self, out: &mut SpoutOutput<'_>) -> Result<Option<usize>, ConnectorError> {
        if self.asked.is_empty() && !self.request(self.room(0))? {
            return Ok(None);
        }
        let asked_read = self.asked_count > 0;
        let (claimed, read) = self.receive()?;
        let n = claimed + read;
        self.metrics.batch(n);
        // More is likely where a read came back full: ask for it now, so
        // the server works while this batch is emitted.
        let more = asked_read && read > 0 && (self.history.is_some() || read == self.asked_count);
        if more {
            let room = self.room(self.parsed.len());
            if room > 0 {
                self.request(room)?;
            }
        }
        if n > 0 {
            let conn = self.conn.take();
            if let Some(conn) = &conn {
                self.emit_parsed(conn.bytes(), out);
            }
            self.conn = conn;
        }
        Ok(Some(if asked_read { read } else { usize::MAX }))
    }
}

/// The command a read uses, for messages.
fn read_name(offset: bool) -> &'static str {
    if offset {
        "XREAD"
    } else {
        "XREADGROUP"
    }
}

/// A field value as a tuple value: text when it is UTF-8, else bytes.
fn field_value(b: &[u8]) -> Value {
    match std::str::from_utf8(b) {
        Ok(s) => Value::Str(s.to_owned()),
        Err(_) => Value::Bytes(b.to_vec()),
    }
}

/// The entries of a stream-entry list (`[[id, [f, v, ...]], ...]`), in
/// place: ids parsed, names and values as ranges into `spans`.
fn entries(
    c: &mut Cursor<'_>,
    out: &mut Vec<Parsed>,
    spans: &mut Vec<Range<usize>>,
) -> Result<(), Malformed> {
    let n = c.array()?.unwrap_or(0);
    for _ in 0..n {
        if c.array()? != Some(2) {
            return Err(Malformed::bad("an entry that is not [id, fields]"));
        }
        let id = c.bulk()?.ok_or_else(|| Malformed::bad("a null entry id"))?;
        let id = StreamId::parse(id).map_err(Malformed::Bad)?;
        let fields = match c.array()? {
            None => None,
            Some(k) if k % 2 != 0 => {
                return Err(Malformed::Bad(format!(
                    "entry {id}: an odd number of field items"
                )))
            }
            Some(k) => {
                let start = spans.len();
                for _ in 0..k {
                    let r = c
                        .bulk_range()?
                        .ok_or_else(|| Malformed::Bad(format!("entry {id}: a null field")))?;
                    spans.push(r);
                }
                Some(start..spans.len())
            }
        };
        out.push(Parsed { id, fields });
    }
    Ok(())
}

/// The entries of an `XREAD`/`XREADGROUP` reply for one stream (`[[key,
/// entries]]`, or null).
fn read_reply(
    c: &mut Cursor<'_>,
    out: &mut Vec<Parsed>,
    spans: &mut Vec<Range<usize>>,
) -> Result<(), Malformed> {
    let streams = c.array()?.unwrap_or(0);
    for _ in 0..streams {
        if c.array()? != Some(2) {
            return Err(Malformed::bad("a stream that is not [key, entries]"));
        }
        c.bulk()?;
        entries(c, out, spans)?;
    }
    Ok(())
}

/// The entries of an `XAUTOCLAIM` reply (`[cursor, entries, deleted]`)
/// and its next cursor.
fn claim_reply(
    c: &mut Cursor<'_>,
    out: &mut Vec<Parsed>,
    spans: &mut Vec<Range<usize>>,
) -> Result<StreamId, Malformed> {
    let parts = c.array()?.unwrap_or(0);
    if parts < 2 {
        return Err(Malformed::bad("an XAUTOCLAIM reply of fewer than 2 items"));
    }
    let cursor = c.bulk()?.ok_or_else(|| Malformed::bad("a null cursor"))?;
    let cursor = StreamId::parse(cursor).map_err(Malformed::Bad)?;
    entries(c, out, spans)?;
    for _ in 2..parts {
        c.skip()?;
    }
    Ok(cursor)
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
        self.max_pending = context.max_spout_pending().unwrap_or(usize::MAX).max(1);
        self.checkpointed = context.targets().contains_key(CHECKPOINT_STREAM);
        let mut checked = self.cfg.check(&self.component);
        if checked.is_ok() && self.offset() && context.component_tasks().len() > 1 {
            checked = Err(ConnectorError::Config {
                connector: REDIS_STREAM_SPOUT,
                component: self.component.clone(),
                key: "delivery".to_owned(),
                message: format!(
                    "`offset` reads the stream with one task, not {} (use `group` for several)",
                    context.component_tasks().len()
                ),
            });
        }
        let (metrics, target) = start(REDIS_STREAM_SPOUT, context, checked, &self.endpoint);
        self.metrics = metrics;
        match target {
            Ok(t) => self.target = Some(t),
            Err(e) => self.fatal = Some(e),
        }
    }

    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        if self.cannot_rewind.replace(false) {
            self.target = None; // stays idle
            self.fatal = Some(self.config_error(
                "delivery",
                "`group` cannot rewind to a checkpoint (the group shares entries among \
                 consumers: there is no position to go back to); exactly-once state needs \
                 `delivery: offset`",
            ));
        }
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
        if self.asked.is_empty()
            && self.quiet_until.is_some_and(|t| now < t)
            && self.to_ack.is_empty()
        {
            return;
        }
        let new_entries = self.history.is_none();
        match self.step(out) {
            // An empty pending list is no reason to wait: new entries next.
            Ok(Some(0)) if new_entries => {
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
            if !self.offset() {
                self.to_ack.push(f.id);
            }
        }
    }

    fn fail(&mut self, msg_id: u64) {
        if self.in_flight.get(msg_id).is_some() {
            self.retry.push_back(msg_id);
        }
    }

    fn close(&mut self) {
        // The request in flight first, then what is done: acks, dead
        // letters, the offset.
        let mut sent = self.asked.is_empty() || self.receive().is_ok();
        sent = sent && self.request(0).is_ok() && (self.asked.is_empty() || self.receive().is_ok());
        if !sent {
            tracing::warn!(
                "{REDIS_STREAM_SPOUT} `{}`: what was done at close did not reach {} (those \
                 entries will be delivered again)",
                self.component,
                self.target_shown()
            );
        }
    }

    fn is_finished(&self) -> bool {
        self.cfg.until_idle
            && self.idle
            && self.asked.is_empty()
            && self.history.is_none()
            && self.in_flight.is_empty()
            && self.retry.is_empty()
            && self.dead.is_empty()
    }
}

/// The position: `{id, entries_read}` of the last entry read (offset
/// delivery), or null before the first read (see the module docs).
impl RewindableSpout for RedisStreamSpout {
    fn checkpoint(&self) -> Value {
        if !self.offset() {
            self.cannot_rewind.set(true);
            return Value::Null;
        }
        let Some(id) = self.position else {
            return Value::Null; // nothing read: where the group stands
        };
        let read = self
            .ordinal
            .and_then(|n| i64::try_from(n).ok())
            .map_or(Value::Null, Value::I64);
        Value::Map(vec![
            ("id".to_owned(), Value::Str(id.to_string())),
            ("entries_read".to_owned(), read),
        ])
    }

    fn restore(&mut self, position: &Value) {
        if !self.offset() {
            self.cannot_rewind.set(true);
            return;
        }
        if *position == Value::Null {
            return;
        }
        let id = match position.get("id") {
            Some(Value::Str(s)) => StreamId::parse(s.as_bytes()).ok(),
            _ => None,
        };
        let Some(id) = id else {
            self.target = None;
            self.fatal = Some(self.config_error(
                "checkpoint",
                &format!("a checkpoint's position is not {{id, entries_read}}: {position:?}"),
            ));
            return;
        };
        let ordinal = match position.get("entries_read") {
            Some(Value::I64(n)) => u64::try_from(*n).ok(),
            _ => None,
        };
        self.position = Some(id);
        self.ordinal = ordinal;
        self.last_done = Some((id, ordinal));
        self.committed = None;
        self.commit_restored = true; // the group's id goes back here
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
