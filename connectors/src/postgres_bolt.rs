//! The PostgreSQL bolt (storm-jdbc's `JdbcInsertBolt`, batched): it keeps
//! inputs until `batch` of them are held or the oldest has waited
//! `linger_ms` (or a tick arrives), writes them in **one transaction**
//! with a binary `COPY`, and acks them only after the commit; a failed
//! batch is rolled back and every input in it failed (so replayed).
//!
//! Modes:
//! - `insert`: rows appended (`COPY` straight into the table).
//! - `upsert`: rows inserted or, on a conflict on `key`, updated (the
//!   other columns overwritten).
//! - `count`: per `key`, `count_column` grows by the number of inputs
//!   with that key (a word count's totals, summed per batch).
//!
//! With `dedup_field`, the value of that input field (unique per tuple,
//! e.g. a stream entry id plus the word's position) is recorded in
//! `dedup_table` in the same transaction, and an input whose id is already
//! there is skipped: a replay after a crash then changes nothing, so
//! at-least-once delivery gives exactly-once effects in the table.
//!
//! The bolt blocks its worker thread for one transaction per batch,
//! bounded by `timeout_ms` (connect and `statement_timeout`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use gale_engine::{Anchor, Bolt, BoltOutput, Input, OutputFieldsDeclarer, TopologyContext};
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::Type;
use serde::Deserialize;

use crate::cell::{Cell, ColumnKind};
use crate::retry::Backoff;
use crate::secret::{Endpoint, EndpointConfig};
use crate::sink::{BatchWriter, Batching};
use crate::task::start;
use crate::{ConnectorError, ConnectorMetrics};

/// This connector's name in messages and metrics.
pub const POSTGRES_BOLT: &str = "postgres-bolt";

/// How rows are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PostgresMode {
    /// Append rows.
    #[default]
    Insert,
    /// Insert, or update the non-key columns on a key conflict.
    Upsert,
    /// Add the number of inputs per key to `count_column`.
    Count,
}

/// What the PostgreSQL bolt writes and how (the `args` of `builtin:
/// postgres-bolt`, besides the [`EndpointConfig`] keys).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresConfig {
    /// The table (`name` or `schema.name`).
    pub table: String,
    /// The columns written (in `count` mode: the key columns).
    pub columns: Vec<String>,
    /// The input field for each column (default: the column's name).
    #[serde(default)]
    pub fields: Option<Vec<String>>,
    /// `insert` (default), `upsert` or `count`.
    #[serde(default)]
    pub mode: PostgresMode,
    /// The conflict columns of `upsert` (a unique index must cover
    /// them); `count` uses all of `columns`.
    #[serde(default)]
    pub key: Vec<String>,
    /// `count` mode: the column that holds each key's total (bigint).
    #[serde(default = "count_col")]
    pub count_column: String,
    /// An input field unique per tuple: replays are skipped.
    #[serde(default)]
    pub dedup_field: Option<String>,
    /// Where seen ids are kept (default `{table}_seen`; created if
    /// missing).
    #[serde(default)]
    pub dedup_table: Option<String>,
    /// Prune ids older than this many seconds from the dedup table (at
    /// most once a minute; a replay older than that is written again).
    /// Default: never.
    #[serde(default)]
    pub dedup_keep_secs: Option<u64>,
    /// A table for inputs that can never be written (a value that does
    /// not fit its column): they are inserted there (with the time, the
    /// component, the error and the tuple as text) in the batch's
    /// transaction and acked, instead of failed and replayed. Created if
    /// missing. Default: none (such inputs are failed).
    #[serde(default)]
    pub dead_letter: Option<String>,
    /// Inputs per transaction. Default 1000.
    #[serde(default = "thousand")]
    pub batch: usize,
    /// Longest wait of an input before its batch is written. Default 20.
    #[serde(default = "twenty")]
    pub linger_ms: u64,
    /// Connect timeout and statement timeout. Default 5000.
    #[serde(default = "five_s")]
    pub timeout_ms: u64,
}

fn count_col() -> String {
    "count".to_owned()
}
fn thousand() -> usize {
    1000
}
fn twenty() -> u64 {
    20
}
fn five_s() -> u64 {
    5_000
}

impl PostgresConfig {
    /// A config appending `columns` of `table`, with the defaults for
    /// the rest.
    pub fn new<S: Into<String>>(table: &str, columns: impl IntoIterator<Item = S>) -> Self {
        Self {
            table: table.to_owned(),
            columns: columns.into_iter().map(Into::into).collect(),
            fields: None,
            mode: PostgresMode::Insert,
            key: Vec::new(),
            count_column: count_col(),
            dedup_field: None,
            dedup_table: None,
            dedup_keep_secs: None,
            dead_letter: None,
            batch: thousand(),
            linger_ms: twenty(),
            timeout_ms: five_s(),
        }
    }

    fn input_fields(&self) -> Vec<String> {
        self.fields.clone().unwrap_or_else(|| self.columns.clone())
    }

    /// Checks the values that need no server.
    pub fn check(&self, component: &str) -> Result<(), ConnectorError> {
        let err = |key: &str, message: &str| {
            Err(ConnectorError::Config {
                connector: POSTGRES_BOLT,
                component: component.to_owned(),
                key: key.to_owned(),
                message: message.to_owned(),
            })
        };
        if self.table.is_empty() {
            return err("table", "must not be empty");
        }
        if self.columns.is_empty() {
            return err("columns", "name at least one column");
        }
        if self.input_fields().len() != self.columns.len() {
            return err("fields", "give one input field per column");
        }
        if self.mode == PostgresMode::Upsert
            && (self.key.is_empty() || self.key.iter().any(|k| !self.columns.contains(k)))
        {
            return err("key", "upsert needs key columns, each one of `columns`");
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

/// `name` or `schema.name` as a quoted SQL identifier.
fn ident(name: &str) -> String {
    name.split('.')
        .map(|p| format!("\"{}\"", p.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(".")
}

fn list(cols: &[String], prefix: &str) -> String {
    cols.iter()
        .map(|c| format!("{prefix}{}", ident(c)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An open connection and what it learnt of the table.
struct Session {
    client: postgres::Client,
    kinds: Vec<ColumnKind>,
    types: Vec<Type>,
    /// Staging table's types (columns, then the dedup id).
    stage_types: Vec<Type>,
    /// `COPY` into the table (insert without dedup) or the staging table.
    copy_sql: String,
    /// Moves the staged rows into the table (`None`: copied directly).
    merge_sql: Option<String>,
    /// Inserts one dead letter (`component`, `error`, `tuple`).
    dead_sql: Option<String>,
    /// Prunes the dedup table.
    prune_sql: Option<String>,
}

/// One staged input.
struct Staged {
    values: Vec<gale_codec::Value>,
    id: Option<String>,
}

/// The connection and the inputs staged for it.
struct Pg {
    cfg: PostgresConfig,
    component: String,
    target: Option<Endpoint>,
    session: Option<Session>,
    metrics: Arc<ConnectorMetrics>,
    backoff: Backoff,
    fields: Vec<String>,
    staged: Vec<Staged>,
    /// Indexes of the latest batch's inputs failed alone.
    rejected: Vec<usize>,
    last_prune: Option<Instant>,
}

/// The PostgreSQL bolt (see the [module docs](self)).
pub struct PostgresBolt {
    endpoint: EndpointConfig,
    p: Pg,
    b: Batching,
}

impl PostgresBolt {
    /// A bolt writing as `cfg` says to the server `endpoint` names.
    pub fn new(endpoint: EndpointConfig, cfg: PostgresConfig) -> Self {
        let b = Batching::new(POSTGRES_BOLT, cfg.batch, cfg.linger_ms);
        let fields = cfg.input_fields();
        Self {
            endpoint,
            p: Pg {
                cfg,
                component: String::new(),
                target: None,
                session: None,
                metrics: b.metrics.clone(),
                backoff: Backoff::new(),
                fields,
                staged: Vec::new(),
                rejected: Vec::new(),
                last_prune: None,
            },
            b,
        }
    }

    /// This task's metrics.
    pub fn metrics(&self) -> &Arc<ConnectorMetrics> {
        &self.b.metrics
    }
}

impl Pg {
    fn shown(&self) -> String {
        self.target
            .as_ref()
            .map_or_else(|| "(no URL)".to_owned(), Endpoint::shown)
    }

    fn command_error(&self, what: &str, e: impl std::fmt::Display) -> ConnectorError {
        ConnectorError::Command {
            connector: POSTGRES_BOLT,
            component: self.component.clone(),
            target: self.shown(),
            what: format!("{what} table `{}`", self.cfg.table),
            message: e.to_string(),
        }
    }

    fn connect(&self) -> Result<Session, ConnectorError> {
        let target = self.target.as_ref().ok_or_else(|| ConnectorError::Config {
            connector: POSTGRES_BOLT,
            component: self.component.clone(),
            key: "url".to_owned(),
            message: "no URL".to_owned(),
        })?;
        let mut client =
            client(target, self.cfg.timeout_ms).map_err(|message| ConnectorError::Connect {
                connector: POSTGRES_BOLT,
                component: self.component.clone(),
                target: target.shown(),
                message,
            })?;
        let cfg = &self.cfg;
        let table = ident(&cfg.table);
        let stmt = client
            .prepare(&format!(
                "SELECT {} FROM {table} LIMIT 0",
                list(&cfg.columns, "")
            ))
            .map_err(|e| self.command_error("describe", full(&e)))?;
        let types: Vec<Type> = stmt.columns().iter().map(|c| c.type_().clone()).collect();
        let mut kinds = Vec::with_capacity(types.len());
        for (t, col) in types.iter().zip(&cfg.columns) {
            kinds.push(ColumnKind::of(t).map_err(|m| ConnectorError::Value {
                connector: POSTGRES_BOLT,
                component: self.component.clone(),
                field: col.clone(),
                target_key: format!("column `{col}` of table `{}`", cfg.table),
                message: m,
            })?);
        }
        let dead_sql = match &cfg.dead_letter {
            None => None,
            Some(dead) => {
                let dead = ident(dead);
                client
                    .batch_execute(&format!(
                        "CREATE TABLE IF NOT EXISTS {dead} (at timestamptz NOT NULL DEFAULT \
                         now(), component text NOT NULL, error text NOT NULL, tuple text NOT \
                         NULL)"
                    ))
                    .map_err(|e| self.command_error("create dead-letter table for", full(&e)))?;
                Some(format!(
                    "INSERT INTO {dead} (component, error, tuple) VALUES ($1, $2, $3)"
                ))
            }
        };
        let seen = ident(
            &cfg.dedup_table
                .clone()
                .unwrap_or_else(|| format!("{}_seen", cfg.table)),
        );
        let prune_sql = cfg
            .dedup_keep_secs
            .filter(|_| cfg.dedup_field.is_some())
            .map(|secs| format!("DELETE FROM {seen} WHERE at < now() - interval '{secs} seconds'"));
        let direct = cfg.mode == PostgresMode::Insert && cfg.dedup_field.is_none();
        let cols = list(&cfg.columns, "");
        if direct {
            return Ok(Session {
                client,
                kinds,
                stage_types: types.clone(),
                types,
                copy_sql: format!("COPY {table} ({cols}) FROM STDIN BINARY"),
                merge_sql: None,
                dead_sql,
                prune_sql,
            });
        }
        // A staging table per connection; rows go away at commit.
        let stage = "gale_stage";
        let mut setup = format!(
            "CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS \
             SELECT {cols}, NULL::text AS gale_id, 0::bigint AS gale_seq FROM {table} \
             WITH NO DATA;"
        );
        if cfg.dedup_field.is_some() {
            setup.push_str(&format!(
                "CREATE TABLE IF NOT EXISTS {seen} (id text PRIMARY KEY, \
                 at timestamptz NOT NULL DEFAULT now());"
            ));
        }
        client
            .batch_execute(&setup)
            .map_err(|e| self.command_error("create staging table for", full(&e)))?;
        let (with, source) = if cfg.dedup_field.is_some() {
            (
                format!(
                    "WITH fresh AS (INSERT INTO {seen} (id) SELECT DISTINCT gale_id FROM {stage} \
                     ON CONFLICT DO NOTHING RETURNING id) "
                ),
                format!(
                    "(SELECT DISTINCT ON (gale_id) * FROM {stage}) s JOIN fresh f ON f.id = s.gale_id"
                ),
            )
        } else {
            (String::new(), format!("{stage} s"))
        };
        let s_cols = list(&cfg.columns, "s.");
        let merge = match cfg.mode {
            PostgresMode::Insert => {
                format!("{with}INSERT INTO {table} ({cols}) SELECT {s_cols} FROM {source}")
            }
            PostgresMode::Upsert => {
                let key = list(&cfg.key, "");
                let s_key = list(&cfg.key, "s.");
                let rest: Vec<String> = cfg
                    .columns
                    .iter()
                    .filter(|c| !cfg.key.contains(c))
                    .map(|c| format!("{0} = excluded.{0}", ident(c)))
                    .collect();
                let action = if rest.is_empty() {
                    "NOTHING".to_owned()
                } else {
                    format!("UPDATE SET {}", rest.join(", "))
                };
                // The batch's last row of a key wins (`gale_seq` is its
                // place in the batch).
                format!(
                    "{with}INSERT INTO {table} ({cols}) SELECT DISTINCT ON ({s_key}) {s_cols} \
                     FROM {source} ORDER BY {s_key}, s.gale_seq DESC ON CONFLICT ({key}) DO \
                     {action}"
                )
            }
            PostgresMode::Count => {
                let n = ident(&cfg.count_column);
                format!(
                    "{with}INSERT INTO {table} AS t ({cols}, {n}) SELECT {s_cols}, count(*) \
                     FROM {source} GROUP BY {s_cols} ON CONFLICT ({cols}) DO UPDATE SET \
                     {n} = t.{n} + excluded.{n}"
                )
            }
        };
        let mut stage_types = types.clone();
        stage_types.push(Type::TEXT);
        stage_types.push(Type::INT8);
        Ok(Session {
            client,
            kinds,
            types,
            stage_types,
            copy_sql: format!("COPY {stage} ({cols}, gale_id, gale_seq) FROM STDIN BINARY"),
            merge_sql: Some(merge),
            dead_sql,
            prune_sql,
        })
    }

    /// `input`'s values for the next batch, or why it lacks a field.
    fn stage_input(&mut self, input: &Input<'_>) -> Result<(), ConnectorError> {
        let mut values = Vec::with_capacity(self.fields.len());
        let wanted = self.fields.iter().chain(self.cfg.dedup_field.iter());
        for field in wanted {
            match input.field(field) {
                Ok(v) => values.push(v.to_value()),
                Err(e) => {
                    return Err(ConnectorError::Value {
                        connector: POSTGRES_BOLT,
                        component: self.component.clone(),
                        field: field.clone(),
                        target_key: format!("table `{}`", self.cfg.table),
                        message: e.to_string(),
                    })
                }
            }
        }
        let id = match self.cfg.dedup_field {
            None => None,
            Some(_) => match values.pop() {
                Some(gale_codec::Value::Str(id)) => Some(id),
                Some(gale_codec::Value::I64(i)) => Some(i.to_string()),
                _ => {
                    return Err(ConnectorError::Value {
                        connector: POSTGRES_BOLT,
                        component: self.component.clone(),
                        field: self.cfg.dedup_field.clone().unwrap_or_default(),
                        target_key: format!("dedup id of table `{}`", self.cfg.table),
                        message: "not a string or integer".to_owned(),
                    })
                }
            },
        };
        self.staged.push(Staged { values, id });
        Ok(())
    }

    /// The staged inputs as rows for their columns (with their index); an
    /// input with a value that does not fit is reported here and becomes
    /// a dead letter (`dead_letter` set) or is failed alone.
    #[allow(clippy::type_complexity)]
    fn rows(
        &mut self,
        out: &mut BoltOutput<'_>,
    ) -> (Vec<(Vec<Cell>, Option<String>)>, Vec<(String, String)>) {
        let kinds = self
            .session
            .as_ref()
            .map(|s| s.kinds.clone())
            .unwrap_or_default();
        let mut rows = Vec::with_capacity(self.staged.len());
        let mut dead = Vec::new();
        'staged: for (i, st) in std::mem::take(&mut self.staged).into_iter().enumerate() {
            let mut cells = Vec::with_capacity(kinds.len());
            let shown = format!("{:?}", st.values);
            for ((v, kind), (field, col)) in st
                .values
                .into_iter()
                .zip(&kinds)
                .zip(self.fields.iter().zip(&self.cfg.columns))
            {
                match kind.cell(v) {
                    Ok(c) => cells.push(c),
                    Err(message) => {
                        let e = ConnectorError::Value {
                            connector: POSTGRES_BOLT,
                            component: self.component.clone(),
                            field: field.clone(),
                            target_key: format!("column `{col}` of table `{}`", self.cfg.table),
                            message,
                        };
                        self.metrics.error();
                        out.report_error(&e);
                        if self.cfg.dead_letter.is_some() {
                            dead.push((e.to_string(), shown));
                        } else {
                            self.rejected.push(i);
                        }
                        continue 'staged;
                    }
                }
            }
            rows.push((cells, st.id));
        }
        (rows, dead)
    }

    /// One transaction: the rows, the dead letters; then, now and then,
    /// the dedup table pruned.
    fn transact(
        &mut self,
        rows: &[(Vec<Cell>, Option<String>)],
        dead: &[(String, String)],
    ) -> Result<(), ConnectorError> {
        let Some(s) = self.session.as_mut() else {
            return Ok(());
        };
        let component = &self.component;
        let res = (|| {
            let mut tx = s.client.transaction()?;
            let sink = tx.copy_in(&s.copy_sql)?;
            let types = if s.merge_sql.is_some() {
                &s.stage_types
            } else {
                &s.types
            };
            let mut w = BinaryCopyInWriter::new(sink, types);
            let mut row: Vec<&(dyn postgres::types::ToSql + Sync)> = Vec::new();
            let seqs: Vec<i64> = (0..rows.len() as i64).collect();
            for ((cells, id), seq) in rows.iter().zip(&seqs) {
                row.clear();
                row.extend(cells.iter().map(Cell::as_sql));
                if s.merge_sql.is_some() {
                    row.push(id);
                    row.push(seq);
                }
                w.write(&row)?;
            }
            w.finish()?;
            if let Some(merge) = &s.merge_sql {
                tx.batch_execute(merge)?;
            }
            if let Some(sql) = &s.dead_sql {
                for (error, tuple) in dead {
                    tx.execute(sql.as_str(), &[component, error, tuple])?;
                }
            }
            tx.commit()
        })();
        res.map_err(|e| self.command_error("write batch to", full(&e)))?;
        let due = self
            .last_prune
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(60));
        if let (true, Some(s)) = (due, self.session.as_mut()) {
            if let Some(prune) = &s.prune_sql {
                self.last_prune = Some(Instant::now());
                let pruned = s.client.batch_execute(prune);
                pruned.map_err(|e| self.command_error("prune the dedup table of", full(&e)))?;
            }
        }
        Ok(())
    }
}

impl BatchWriter for Pg {
    fn stage(&mut self, input: &Input<'_>) -> Result<(), ConnectorError> {
        self.stage_input(input)
    }

    /// Writes what is staged in one transaction (the batch is acked after
    /// the commit, or failed whole).
    fn write(
        &mut self,
        _held: &[Anchor],
        out: &mut BoltOutput<'_>,
    ) -> Result<(), Option<ConnectorError>> {
        if self.session.is_none() {
            let now = Instant::now();
            if !self.backoff.due(now) {
                return Err(None); // keep holding until the next try
            }
            match self.connect() {
                Ok(s) => {
                    if self.backoff.succeeded() {
                        self.metrics.reconnect();
                        tracing::warn!(
                            "{POSTGRES_BOLT} `{}`: reconnected to {}",
                            self.component,
                            self.shown()
                        );
                    }
                    self.session = Some(s);
                }
                Err(e) => {
                    self.backoff.failed(now);
                    return Err(Some(e));
                }
            }
        }
        let (rows, dead) = self.rows(out);
        match self.transact(&rows, &dead) {
            Ok(()) => Ok(()),
            Err(e) => {
                if self.session.as_mut().is_none_or(|s| s.client.is_closed()) {
                    self.session = None;
                    self.backoff.failed(Instant::now());
                }
                self.rejected.clear(); // the whole batch fails
                Err(Some(e))
            }
        }
    }

    fn discard(&mut self) {
        self.staged.clear();
    }

    fn take_rejected(&mut self) -> Vec<usize> {
        std::mem::take(&mut self.rejected)
    }
}

/// A client for `target` with `timeout_ms` as connect and statement
/// timeout, or why not.
pub(crate) fn client(target: &Endpoint, timeout_ms: u64) -> Result<postgres::Client, String> {
    let mut config: postgres::Config = target
        .url
        .parse()
        .map_err(|e: postgres::Error| format!("bad URL: {e}"))?;
    if let Some(pw) = &target.password {
        config.password(pw);
    }
    config.connect_timeout(Duration::from_millis(timeout_ms));
    config.options(&format!("-c statement_timeout={timeout_ms}"));
    config.connect(postgres::NoTls).map_err(|e| full(&e))
}

/// A client error with its database detail (`postgres::Error`'s display
/// alone says only "db error").
pub(crate) fn full(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => {
            let mut s = e.to_string();
            let mut src = std::error::Error::source(e);
            while let Some(inner) = src {
                s.push_str(": ");
                s.push_str(&inner.to_string());
                src = inner.source();
            }
            s
        }
    }
}

impl Bolt for PostgresBolt {
    fn declare_output_fields(&self, _declarer: &mut OutputFieldsDeclarer) {}

    fn prepare(&mut self, context: &TopologyContext) {
        let p = &mut self.p;
        p.component = context.component_id().to_owned();
        let checked = p.cfg.check(&p.component);
        let (metrics, target) = start(POSTGRES_BOLT, context, checked, &self.endpoint);
        self.b.metrics = metrics.clone();
        p.metrics = metrics;
        match target {
            Ok(t) => {
                p.target = Some(t);
                match p.connect() {
                    Ok(s) => {
                        p.backoff.succeeded();
                        p.session = Some(s);
                    }
                    Err(e) => {
                        tracing::error!("{e}");
                        p.metrics.error();
                        p.backoff.failed(Instant::now());
                    }
                }
            }
            Err(e) => self.b.fatal.set(e),
        }
    }

    crate::sink::batching_bolt_methods!(p);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_part_by_part() {
        assert_eq!(ident("public.counts"), "\"public\".\"counts\"");
        assert_eq!(ident("we\"ird"), "\"we\"\"ird\"");
    }

    #[test]
    fn a_bad_config_names_the_key() {
        let mut cfg = PostgresConfig::new("t", ["a"]);
        cfg.mode = PostgresMode::Upsert;
        let e = cfg.check("sink").unwrap_err().to_string();
        assert!(
            e.contains("postgres-bolt `sink`") && e.contains("`key`"),
            "{e}"
        );
        cfg.key = vec!["a".into()];
        cfg.fields = Some(vec![]);
        assert!(cfg
            .check("sink")
            .unwrap_err()
            .to_string()
            .contains("`fields`"));
    }
}
