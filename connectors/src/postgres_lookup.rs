//! The PostgreSQL lookup bolt (storm-jdbc's `JdbcLookupBolt`): runs a
//! parameterised query per input (`$1`, `$2`, ... from the input's
//! `params` fields, converted for the parameters' types) and emits one
//! tuple per result row — the input's `fields`, then the row's columns —
//! anchored to the input, then acks it; no row emits nothing. Results are
//! kept in a bounded cache (`cache_size` distinct parameter values, the
//! oldest dropped first; `cache_ttl_secs` bounds their age), so repeated
//! keys do not ask the server again.
//!
//! A query that fails (an error from the server, a lost connection) fails
//! the input (the spout replays it) and is reported with connector,
//! component and query; a lost connection is restored with backoff,
//! failing inputs meanwhile. A value that does not fit its parameter
//! fails the input alone, naming the field.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gale_codec::Value;
use gale_engine::{
    Bolt, BoltOutput, Emission, Input, InputBatch, OutputFieldsDeclarer, TopologyContext,
};
use postgres::types::Type;
use serde::Deserialize;

use crate::cell::ColumnKind;
use crate::postgres_bolt::{client, full};
use crate::retry::Backoff;
use crate::secret::{Endpoint, EndpointConfig};
use crate::task::{start, Fatal};
use crate::{ConnectorError, ConnectorMetrics};

/// This connector's name in messages and metrics.
pub const POSTGRES_LOOKUP: &str = "postgres-lookup";

/// What the PostgreSQL lookup bolt asks (the `args` of `builtin:
/// postgres-lookup`, besides the [`EndpointConfig`] keys).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresLookupConfig {
    /// The query, with `$1`, `$2`, ... for the parameters.
    pub query: String,
    /// The input field of each parameter, in order.
    pub params: Vec<String>,
    /// The output names of the query's columns, in order.
    pub columns: Vec<String>,
    /// The input fields emitted before the columns (default: `params`).
    #[serde(default)]
    pub fields: Option<Vec<String>>,
    /// Distinct parameter values whose rows are kept (0: no cache).
    /// Default 10000.
    #[serde(default = "ten_thousand")]
    pub cache_size: usize,
    /// The longest a cached result is used (0: until dropped for room).
    /// Default 0.
    #[serde(default)]
    pub cache_ttl_secs: u64,
    /// Connect timeout and statement timeout. Default 5000.
    #[serde(default = "five_s")]
    pub timeout_ms: u64,
}

fn ten_thousand() -> usize {
    10_000
}
fn five_s() -> u64 {
    5_000
}

impl PostgresLookupConfig {
    /// A config running `query` with the input's `params`, naming its
    /// columns `columns`, with the defaults for the rest.
    pub fn new<S: Into<String>>(
        query: &str,
        params: impl IntoIterator<Item = S>,
        columns: impl IntoIterator<Item = S>,
    ) -> Self {
        Self {
            query: query.to_owned(),
            params: params.into_iter().map(Into::into).collect(),
            columns: columns.into_iter().map(Into::into).collect(),
            fields: None,
            cache_size: ten_thousand(),
            cache_ttl_secs: 0,
            timeout_ms: five_s(),
        }
    }

    fn passed(&self) -> &[String] {
        self.fields.as_deref().unwrap_or(&self.params)
    }

    /// The fields the bolt declares: the passed fields, then the columns.
    pub fn output_fields(&self) -> Vec<String> {
        self.passed().iter().chain(&self.columns).cloned().collect()
    }

    /// Checks the values that need no server.
    pub fn check(&self, component: &str) -> Result<(), ConnectorError> {
        let err = |key: &str, message: &str| {
            Err(ConnectorError::Config {
                connector: POSTGRES_LOOKUP,
                component: component.to_owned(),
                key: key.to_owned(),
                message: message.to_owned(),
            })
        };
        if self.query.trim().is_empty() {
            return err("query", "must not be empty");
        }
        if self.columns.is_empty() {
            return err("columns", "name the query's columns");
        }
        let mut all = self.output_fields();
        all.sort();
        if all.windows(2).any(|w| w[0] == w[1]) {
            return err("columns", "a field is named twice (with `fields`)");
        }
        if self.timeout_ms == 0 {
            return err("timeout_ms", "must be at least 1");
        }
        Ok(())
    }
}

/// A query's result rows, shared between the cache and an emit.
type Rows = Arc<Vec<Vec<Value>>>;

/// Query results by parameter values, bounded: the oldest entry goes
/// first.
#[derive(Debug)]
struct Cache {
    map: HashMap<Vec<u8>, (Instant, Rows)>,
    order: VecDeque<Vec<u8>>,
    size: usize,
    ttl: Option<Duration>,
}

impl Cache {
    fn new(size: usize, ttl_secs: u64) -> Self {
        Self {
            map: HashMap::new(),
            order: VecDeque::new(),
            size,
            ttl: (ttl_secs > 0).then(|| Duration::from_secs(ttl_secs)),
        }
    }

    fn get(&self, key: &[u8]) -> Option<Rows> {
        let (at, rows) = self.map.get(key)?;
        if self.ttl.is_some_and(|ttl| at.elapsed() >= ttl) {
            return None;
        }
        Some(Arc::clone(rows))
    }

    fn put(&mut self, key: Vec<u8>, rows: Rows) {
        if self.size == 0 {
            return;
        }
        if self
            .map
            .insert(key.clone(), (Instant::now(), rows))
            .is_none()
        {
            self.order.push_back(key);
        }
        while self.map.len() > self.size {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            self.map.remove(&old);
        }
    }

    fn len(&self) -> usize {
        self.map.len()
    }
}

/// An open connection and the prepared query.
struct Session {
    client: postgres::Client,
    stmt: postgres::Statement,
    params: Vec<ColumnKind>,
}

/// The PostgreSQL lookup bolt (see the [module docs](self)).
pub struct PostgresLookupBolt {
    cfg: PostgresLookupConfig,
    endpoint: EndpointConfig,
    component: String,
    target: Option<Endpoint>,
    session: Option<Session>,
    metrics: Arc<ConnectorMetrics>,
    backoff: Backoff,
    fatal: Fatal,
    cache: Cache,
}

impl PostgresLookupBolt {
    /// A bolt querying as `cfg` says the server `endpoint` names.
    pub fn new(endpoint: EndpointConfig, cfg: PostgresLookupConfig) -> Self {
        let cache = Cache::new(cfg.cache_size, cfg.cache_ttl_secs);
        Self {
            cfg,
            endpoint,
            component: String::new(),
            target: None,
            session: None,
            metrics: ConnectorMetrics::new(POSTGRES_LOOKUP, "", 0),
            backoff: Backoff::new(),
            fatal: Fatal::default(),
            cache,
        }
    }

    fn error(&self, e: impl std::fmt::Display) -> ConnectorError {
        ConnectorError::Command {
            connector: POSTGRES_LOOKUP,
            component: self.component.clone(),
            target: self
                .target
                .as_ref()
                .map_or_else(|| "(no URL)".to_owned(), Endpoint::shown),
            what: format!("query `{}`", self.cfg.query),
            message: e.to_string(),
        }
    }

    fn connect(&self) -> Result<Session, ConnectorError> {
        let Some(target) = self.target.as_ref() else {
            return Err(self.error("no URL"));
        };
        let mut client =
            client(target, self.cfg.timeout_ms).map_err(|message| ConnectorError::Connect {
                connector: POSTGRES_LOOKUP,
                component: self.component.clone(),
                target: target.shown(),
                message,
            })?;
        let stmt = client
            .prepare(&self.cfg.query)
            .map_err(|e| self.error(full(&e)))?;
        if stmt.params().len() != self.cfg.params.len() {
            return Err(self.error(format!(
                "it takes {} parameters, `params` names {}",
                stmt.params().len(),
                self.cfg.params.len()
            )));
        }
        if stmt.columns().len() != self.cfg.columns.len() {
            return Err(self.error(format!(
                "it returns {} columns, `columns` names {}",
                stmt.columns().len(),
                self.cfg.columns.len()
            )));
        }
        for c in stmt.columns() {
            ColumnKind::of(c.type_())
                .map_err(|m| self.error(format!("column `{}`: {m}", c.name())))?;
        }
        let params = stmt
            .params()
            .iter()
            .map(|t| ColumnKind::of(t).map_err(|m| self.error(format!("a parameter: {m}"))))
            .collect::<Result<_, _>>()?;
        Ok(Session {
            client,
            stmt,
            params,
        })
    }

    /// The rows for `input`, from the cache or the server.
    fn rows(&mut self, input: &Input<'_>) -> Result<Rows, ConnectorError> {
        let mut values = Vec::with_capacity(self.cfg.params.len());
        for f in &self.cfg.params {
            let v = input.field(f).map_err(|e| ConnectorError::Value {
                connector: POSTGRES_LOOKUP,
                component: self.component.clone(),
                field: f.clone(),
                target_key: format!("a parameter of `{}`", self.cfg.query),
                message: e.to_string(),
            })?;
            values.push(v.to_value());
        }
        let key = format!("{values:?}").into_bytes();
        if let Some(rows) = self.cache.get(&key) {
            return Ok(rows);
        }
        if self.session.is_none() {
            let now = Instant::now();
            if !self.backoff.due(now) {
                return Err(self.error("not connected (waiting to reconnect)"));
            }
            match self.connect() {
                Ok(s) => {
                    if self.backoff.succeeded() {
                        self.metrics.reconnect();
                    }
                    self.session = Some(s);
                }
                Err(e) => {
                    self.backoff.failed(now);
                    return Err(e);
                }
            }
        }
        let Some(s) = self.session.as_mut() else {
            return Err(self.error("not connected"));
        };
        let mut cells = Vec::with_capacity(values.len());
        for ((v, kind), f) in values.into_iter().zip(&s.params).zip(&self.cfg.params) {
            cells.push(kind.cell(v).map_err(|message| ConnectorError::Value {
                connector: POSTGRES_LOOKUP,
                component: self.component.clone(),
                field: f.clone(),
                target_key: format!("a parameter of `{}`", self.cfg.query),
                message,
            })?);
        }
        let params: Vec<_> = cells.iter().map(crate::cell::Cell::as_sql).collect();
        let got = s.client.query(&s.stmt, &params);
        let rows = match got {
            Ok(rows) => rows,
            Err(e) => {
                if s.client.is_closed() {
                    self.session = None;
                    self.backoff.failed(Instant::now());
                }
                return Err(self.error(full(&e)));
            }
        };
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut vals = Vec::with_capacity(row.len());
            for (i, c) in row.columns().iter().enumerate() {
                vals.push(column_value(row, i, c.type_()).map_err(|e| self.error(e))?);
            }
            out.push(vals);
        }
        let rows = Arc::new(out);
        self.cache.put(key, Arc::clone(&rows));
        Ok(rows)
    }
}

/// Column `i` of `row` as a tuple value.
fn column_value(row: &postgres::Row, i: usize, t: &Type) -> Result<Value, String> {
    let kind = ColumnKind::of(t)?;
    let bad = |e: postgres::Error| format!("column {i}: {e}");
    Ok(match kind {
        ColumnKind::Text => row
            .try_get::<_, Option<String>>(i)
            .map_err(bad)?
            .map_or(Value::Null, Value::Str),
        ColumnKind::I64 => row
            .try_get::<_, Option<i64>>(i)
            .map_err(bad)?
            .map_or(Value::Null, Value::I64),
        ColumnKind::I32 => row
            .try_get::<_, Option<i32>>(i)
            .map_err(bad)?
            .map_or(Value::Null, |v| Value::I64(v.into())),
        ColumnKind::I16 => row
            .try_get::<_, Option<i16>>(i)
            .map_err(bad)?
            .map_or(Value::Null, |v| Value::I64(v.into())),
        ColumnKind::F64 => row
            .try_get::<_, Option<f64>>(i)
            .map_err(bad)?
            .map_or(Value::Null, Value::F64),
        ColumnKind::F32 => row
            .try_get::<_, Option<f32>>(i)
            .map_err(bad)?
            .map_or(Value::Null, |v| Value::F64(v.into())),
        ColumnKind::Bool => row
            .try_get::<_, Option<bool>>(i)
            .map_err(bad)?
            .map_or(Value::Null, Value::Bool),
        ColumnKind::Bytes => row
            .try_get::<_, Option<Vec<u8>>>(i)
            .map_err(bad)?
            .map_or(Value::Null, Value::Bytes),
    })
}

impl Bolt for PostgresLookupBolt {
    fn declare_output_fields(&self, declarer: &mut OutputFieldsDeclarer) {
        declarer.declare(self.cfg.output_fields());
    }

    fn prepare(&mut self, context: &TopologyContext) {
        self.component = context.component_id().to_owned();
        let checked = self.cfg.check(&self.component);
        let (metrics, target) = start(POSTGRES_LOOKUP, context, checked, &self.endpoint);
        self.metrics = metrics;
        match target {
            Ok(t) => {
                self.target = Some(t);
                match self.connect() {
                    Ok(s) => {
                        self.backoff.succeeded();
                        self.session = Some(s);
                    }
                    Err(e) => {
                        tracing::error!("{e}");
                        self.metrics.error();
                        self.backoff.failed(Instant::now());
                    }
                }
            }
            Err(e) => self.fatal.set(e),
        }
    }

    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        if input.is_tick() || self.fatal.refuse(input, out) {
            return;
        }
        match self.rows(input) {
            Ok(rows) => {
                let passed: Vec<Value> = self
                    .cfg
                    .passed()
                    .iter()
                    .map(|f| input.field(f).map(|v| v.to_value()).unwrap_or(Value::Null))
                    .collect();
                let anchor = [input.anchor()];
                let mut values = Vec::with_capacity(passed.len() + self.cfg.columns.len());
                for row in rows.iter() {
                    values.clear();
                    values.extend(passed.iter().cloned());
                    values.extend(row.iter().cloned());
                    out.emit_with(
                        Emission {
                            stream: "default",
                            direct: None,
                            values: &values,
                            targets: None,
                        },
                        &anchor,
                    );
                }
                self.metrics.batch(rows.len());
                out.ack(input);
            }
            Err(e) => {
                self.metrics.error();
                out.report_error(&e);
                out.fail(input);
            }
        }
        self.metrics.set_pending(self.cache.len());
    }

    fn execute_batch(&mut self, inputs: &mut InputBatch<'_, '_>, out: &mut BoltOutput<'_>) {
        for input in inputs {
            self.execute(&input, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_is_bounded_oldest_first() {
        let mut c = Cache::new(2, 0);
        let rows = |n: i64| Arc::new(vec![vec![Value::I64(n)]]);
        c.put(b"a".to_vec(), rows(1));
        c.put(b"b".to_vec(), rows(2));
        c.put(b"a".to_vec(), rows(3)); // replaced, not added
        assert_eq!(c.len(), 2);
        c.put(b"c".to_vec(), rows(4));
        assert_eq!(c.len(), 2);
        assert!(c.get(b"a").is_none(), "the oldest went first");
        assert_eq!(c.get(b"c").unwrap()[0][0], Value::I64(4));
        let mut none = Cache::new(0, 0);
        none.put(b"a".to_vec(), rows(1));
        assert!(none.get(b"a").is_none());
    }

    #[test]
    fn a_bad_config_names_the_key() {
        let cfg = PostgresLookupConfig::new("SELECT 1", ["id"], ["id"]);
        let e = cfg.check("enrich").unwrap_err().to_string();
        assert!(e.contains("`enrich`") && e.contains("`columns`"), "{e}");
    }
}
