//! [`RedisStateBackend`]: checkpoints of bolt state in Redis.
//!
//! ```text
//! PREFIX:current          the id of the last complete checkpoint (sealed, no payload)
//! PREFIX:chk:<id>         a hash: task -> that task's snapshot in checkpoint <id> (sealed)
//! PREFIX:done:<id>        over several nodes: a set of the nodes that saved checkpoint <id>
//! PREFIX:epoch            over several nodes: a hash: node -> its run count
//! ```
//!
//! Every value is [sealed](gale_engine::state::seal) (magic, version,
//! checkpoint id, length, SHA-256) and [unsealed](gale_engine::state::unseal)
//! when read back: what a server returns is untrusted, and a damaged,
//! missing or foreign value is an error naming the URL and key, never a
//! start from empty state. A checkpoint's snapshots are all written before
//! `PREFIX:current` names it (one `SET`, atomic in Redis), and older
//! checkpoints are deleted only after; so the current checkpoint is whole
//! whenever it is read. How durable a write is, is the server's
//! persistence setting (`appendonly yes` with `appendfsync always` for
//! every commit on disk).
//!
//! A lost connection is retried with backoff (reconnecting) for up to
//! [`RETRY_FOR`]; the task that saves waits meanwhile, so nothing is lost
//! while the server restarts; past that the checkpoint fails with an error
//! and is not made current.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use gale_engine::state::{seal, unseal, StateBackend, StateError};

use crate::redis_stream::open;
use crate::retry::Backoff;
use crate::secret::Endpoint;

/// How long an operation keeps retrying a lost server.
pub const RETRY_FOR: Duration = Duration::from_secs(30);

/// Timeout of a connect, a read and a write.
const TIMEOUT_MS: u64 = 5_000;

/// Checkpoints in Redis under a key prefix (see the module docs).
pub struct RedisStateBackend {
    endpoint: Endpoint,
    prefix: String,
    conn: Mutex<Option<redis::Connection>>,
}

impl std::fmt::Debug for RedisStateBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStateBackend")
            .field("url", &self.endpoint.shown())
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisStateBackend {
    /// The backend on the server `endpoint`, its keys under `prefix`
    /// (e.g. `gale:state:wordcount`). Connects at once: an unreachable
    /// server or wrong credentials are an error naming the URL.
    pub fn connect(endpoint: Endpoint, prefix: &str) -> Result<Self, StateError> {
        let backend = Self {
            endpoint,
            prefix: prefix.to_owned(),
            conn: Mutex::new(None),
        };
        let conn = open(&backend.endpoint, TIMEOUT_MS).map_err(|e| backend.error(None, e))?;
        *backend.lock() = Some(conn);
        Ok(backend)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<redis::Connection>> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn current_key(&self) -> String {
        format!("{}:current", self.prefix)
    }

    fn checkpoint_key(&self, checkpoint: u64) -> String {
        format!("{}:chk:{checkpoint}", self.prefix)
    }

    fn done_key(&self, checkpoint: u64) -> String {
        format!("{}:done:{checkpoint}", self.prefix)
    }

    fn epoch_key(&self) -> String {
        format!("{}:epoch", self.prefix)
    }

    /// The checkpoints with a `PREFIX:<kind>:<id>` key, and the keys.
    fn ids(&self, kind: &str) -> Result<Vec<(u64, String)>, StateError> {
        let pattern = format!("{}:{kind}:*", self.prefix);
        let keys: Vec<String> = self.with(&pattern, |c| {
            redis::cmd("SCAN")
                .cursor_arg(0)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .clone()
                .iter::<String>(c)
                .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        })?;
        Ok(keys
            .into_iter()
            .filter_map(|k| Some((k.rsplit(':').next()?.parse::<u64>().ok()?, k)))
            .collect())
    }

    fn error(&self, key: Option<&str>, reason: impl Into<String>) -> StateError {
        let location = match key {
            Some(key) => format!("{} key `{key}`", self.endpoint.shown()),
            None => self.endpoint.shown(),
        };
        StateError::Remote {
            location,
            reason: reason.into(),
        }
    }

    /// Runs `op` on a connection, reconnecting and retrying a lost server
    /// for up to [`RETRY_FOR`] (`key`: what it concerns, for messages).
    fn with<T>(
        &self,
        key: &str,
        mut op: impl FnMut(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, StateError> {
        let started = Instant::now();
        let mut backoff = Backoff::new();
        let mut conn = self.lock();
        loop {
            let failure = match conn.as_mut() {
                Some(c) => match op(c) {
                    Ok(v) => return Ok(v),
                    // An answer of the server (a wrong type, a refused
                    // command): retrying gives the same.
                    Err(e) if !retryable(&e) => return Err(self.error(Some(key), e.to_string())),
                    Err(e) => e.to_string(),
                },
                None => match open(&self.endpoint, TIMEOUT_MS) {
                    Ok(c) => {
                        *conn = Some(c);
                        continue;
                    }
                    Err(e) => e,
                },
            };
            *conn = None;
            if started.elapsed() >= RETRY_FOR {
                return Err(self.error(
                    Some(key),
                    format!("{failure} (retried for {} s)", RETRY_FOR.as_secs()),
                ));
            }
            let now = Instant::now();
            if backoff.failed(now) {
                tracing::warn!(
                    url = %self.endpoint.shown(),
                    key,
                    "state backend: {failure}; retrying"
                );
            }
            while !backoff.due(Instant::now()) {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    /// Unseals `bytes` read from `key`, checking that they belong to
    /// `checkpoint` (if given).
    fn unsealed(
        &self,
        key: &str,
        bytes: &[u8],
        checkpoint: Option<u64>,
    ) -> Result<(u64, Vec<u8>), StateError> {
        let (id, payload) =
            unseal(bytes).map_err(|r| self.error(Some(key), format!("damaged: {r}")))?;
        if let Some(expected) = checkpoint.filter(|&c| c != id) {
            return Err(self.error(
                Some(key),
                format!("damaged: it belongs to checkpoint {id}, not the current {expected}"),
            ));
        }
        Ok((id, payload.to_vec()))
    }
}

/// Whether a Redis error is the connection's (worth a reconnect), not an
/// answer.
fn retryable(e: &redis::RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        // A restarted server loading its data set.
        || e.code() == Some("LOADING")
}

impl StateBackend for RedisStateBackend {
    fn save(&self, checkpoint: u64, task: &str, snapshot: &[u8]) -> Result<(), StateError> {
        let key = self.checkpoint_key(checkpoint);
        let sealed = seal(checkpoint, snapshot);
        self.with(&key, |c| {
            redis::cmd("HSET")
                .arg(&key)
                .arg(task)
                .arg(&sealed)
                .query::<()>(c)
        })
    }

    fn commit(&self, checkpoint: u64) -> Result<(), StateError> {
        let key = self.current_key();
        let sealed = seal(checkpoint, &[]);
        self.with(&key, |c| {
            redis::cmd("SET").arg(&key).arg(&sealed).query::<()>(c)
        })?;
        self.prune(checkpoint)
    }

    fn current(&self) -> Result<Option<u64>, StateError> {
        let key = self.current_key();
        let bytes: Option<Vec<u8>> = self.with(&key, |c| redis::cmd("GET").arg(&key).query(c))?;
        bytes
            .map(|b| self.unsealed(&key, &b, None).map(|(id, _)| id))
            .transpose()
    }

    fn load_at(&self, checkpoint: u64, task: &str) -> Result<Vec<u8>, StateError> {
        let key = self.checkpoint_key(checkpoint);
        let bytes: Option<Vec<u8>> =
            self.with(&key, |c| redis::cmd("HGET").arg(&key).arg(task).query(c))?;
        let Some(bytes) = bytes else {
            return Err(self.error(
                Some(&key),
                format!("checkpoint {checkpoint} is current, but it holds no state for `{task}`"),
            ));
        };
        self.unsealed(&format!("{key} {task}"), &bytes, Some(checkpoint))
            .map(|(_, payload)| payload)
    }

    fn location(&self) -> String {
        format!("{} (keys `{}:*`)", self.endpoint.shown(), self.prefix)
    }

    fn mark(&self, checkpoint: u64, node: u32) -> Result<(), StateError> {
        let key = self.done_key(checkpoint);
        self.with(&key, |c| {
            redis::cmd("SADD").arg(&key).arg(node).query::<()>(c)
        })
    }

    fn marks(&self) -> Result<BTreeMap<u64, BTreeSet<u32>>, StateError> {
        let mut marks = BTreeMap::new();
        for (id, key) in self.ids("done")? {
            let nodes: Vec<String> =
                self.with(&key, |c| redis::cmd("SMEMBERS").arg(&key).query(c))?;
            let nodes = nodes
                .iter()
                .map(|n| {
                    n.parse::<u32>().map_err(|_| {
                        self.error(Some(&key), format!("damaged: `{n}` is not a node id"))
                    })
                })
                .collect::<Result<_, _>>()?;
            marks.insert(id, nodes);
        }
        Ok(marks)
    }

    fn unmark_after(&self, node: u32, after: u64) -> Result<(), StateError> {
        for (_, key) in self.ids("done")?.into_iter().filter(|(id, _)| *id > after) {
            self.with(&key, |c| {
                redis::cmd("SREM").arg(&key).arg(node).query::<()>(c)
            })?;
        }
        Ok(())
    }

    fn prune(&self, checkpoint: u64) -> Result<(), StateError> {
        // Found by scanning the prefix (a crash between a commit and here
        // leaves them for the next one).
        let mut old = Vec::new();
        for kind in ["chk", "done"] {
            old.extend(
                self.ids(kind)?
                    .into_iter()
                    .filter(|(id, _)| *id < checkpoint)
                    .map(|(_, key)| key),
            );
        }
        if !old.is_empty() {
            let what = format!("{}:*", self.prefix);
            self.with(&what, |c| redis::cmd("DEL").arg(&old).query::<()>(c))?;
        }
        Ok(())
    }

    fn epochs(&self) -> Result<BTreeMap<u32, u64>, StateError> {
        let key = self.epoch_key();
        let all: Vec<(String, String)> =
            self.with(&key, |c| redis::cmd("HGETALL").arg(&key).query(c))?;
        all.iter()
            .map(|(node, epoch)| match (node.parse(), epoch.parse()) {
                (Ok(n), Ok(e)) => Ok((n, e)),
                _ => Err(self.error(
                    Some(&key),
                    format!("damaged: `{node}` -> `{epoch}` is not a node and its run count"),
                )),
            })
            .collect()
    }

    fn set_epoch(&self, node: u32, epoch: u64) -> Result<(), StateError> {
        let key = self.epoch_key();
        self.with(&key, |c| {
            redis::cmd("HSET")
                .arg(&key)
                .arg(node)
                .arg(epoch)
                .query::<()>(c)
        })
    }
}
