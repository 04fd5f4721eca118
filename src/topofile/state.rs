//! `config.state`: where a topology file's state is checkpointed, and how
//! often, so that its stateful bolts (`builtin: stateful-count`) and
//! rewindable spouts (`builtin: sentences`) checkpoint without flags.
//!
//! ```yaml
//! config:
//!   state:
//!     backend: dir              # or redis
//!     path: state               # dir: relative to the file's directory
//!     # url: redis://host:6379  # redis: no password here (password_env,
//!     #                         # password_file, url_env, url_file)
//!     checkpoint_interval_ms: 1000
//! ```
//!
//! Storm's `topology.state.checkpoint.interval.ms` sets the interval too.
//! `--state-dir`, `--state-url` and `--checkpoint-ms` on the command line
//! override the file ([`StateFlags`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use gale_connectors::EndpointConfig;
use gale_engine::state::{Checkpointing, DirBackend, StateBackend};
use serde_yaml_ng::Value as Yaml;

use super::located::Located;
use super::mistakes::Errors;

/// The default checkpoint interval (Storm's and Flink's usual 1 s).
const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

/// The keys of `config.state`, for messages.
const KEYS: &str = "backend, path, url, url_env, url_file, password_env, password_file, \
                    checkpoint_interval_ms";

/// `config.state`, checked.
#[derive(Debug, Clone)]
pub(super) struct StateDef {
    backend: BackendDef,
    /// `checkpoint_interval_ms`.
    interval_ms: Option<u64>,
    /// The line of `state:`.
    line: Option<usize>,
}

#[derive(Debug, Clone)]
enum BackendDef {
    /// `backend: dir`, `path` (as written) and its line.
    Dir(String, Option<usize>),
    /// `backend: redis`.
    Redis(EndpointConfig),
}

/// The command line's say over `config.state` (`--state-dir`,
/// `--state-url`, `--checkpoint-ms`): each given one overrides the file;
/// a file without `config.state` checkpoints if a place is given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateFlags {
    /// `--state-dir`: a directory (relative to the working directory).
    pub dir: Option<PathBuf>,
    /// `--state-url`: a Redis URL without a password.
    pub url: Option<String>,
    /// `--checkpoint-ms`.
    pub checkpoint_ms: Option<u64>,
}

impl StateFlags {
    /// Whether no flag is given.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// A positive count of milliseconds in `v` (key `at` on `line`).
pub(super) fn interval_ms(
    v: &Yaml,
    line: Option<usize>,
    at: &str,
    errors: &mut Errors<'_>,
) -> Option<u64> {
    match v.as_u64() {
        Some(ms) if ms > 0 => Some(ms),
        _ => {
            let shown = serde_yaml_ng::to_string(v).unwrap_or_default();
            errors.push(
                line,
                at,
                format!(
                    "must be a number of milliseconds above 0, not {}",
                    shown.trim()
                ),
            );
            None
        }
    }
}

/// Reads `config.state` (its line is `line`).
pub(super) fn read(value: &Yaml, line: Option<usize>, errors: &mut Errors<'_>) -> Option<StateDef> {
    let Yaml::Mapping(map) = value else {
        errors.push(line, "config.state", format!("must be a mapping ({KEYS})"));
        return None;
    };
    let mut backend = None;
    let mut path = None;
    let mut endpoint = EndpointConfig::default();
    let mut interval = None;
    let mut ok = true;
    for (key, v) in map {
        let key = key.as_str().unwrap_or("?");
        let at = format!("config.state.{key}");
        let kline = errors.key_line(line, key).or(line);
        let text = || v.as_str().map(str::to_owned);
        let mut string = |slot: &mut Option<String>, errors: &mut Errors<'_>| match text() {
            Some(s) => *slot = Some(s),
            None => {
                errors.push(kline, &at, "must be a string");
                ok = false;
            }
        };
        match key {
            "backend" => string(&mut backend, errors),
            "path" => {
                let mut p = None;
                string(&mut p, errors);
                path = p.map(|p| (p, kline));
            }
            "url" => string(&mut endpoint.url, errors),
            "url_env" => string(&mut endpoint.url_env, errors),
            "url_file" => string(&mut endpoint.url_file, errors),
            "password_env" => string(&mut endpoint.password_env, errors),
            "password_file" => string(&mut endpoint.password_file, errors),
            "checkpoint_interval_ms" => interval = interval_ms(v, kline, &at, errors),
            _ => {
                errors.push(kline, &at, format!("unknown key (the keys are {KEYS})"));
                ok = false;
            }
        }
    }
    let bline = errors.key_line(line, "backend").or(line);
    let redis_keys = endpoint != EndpointConfig::default();
    let backend = match backend.as_deref() {
        None => {
            errors.push(line, "config.state.backend", "missing: `dir` or `redis`");
            return None;
        }
        Some("dir") => {
            if redis_keys {
                errors.push(
                    line,
                    "config.state",
                    "url, url_env, url_file, password_env and password_file are for `backend: redis`",
                );
            }
            match path {
                Some((p, _)) if p.trim().is_empty() => {
                    errors.push(line, "config.state.path", "must not be empty");
                    return None;
                }
                Some((p, pline)) => BackendDef::Dir(p, pline),
                None => {
                    errors.push(
                        line,
                        "config.state.path",
                        "missing: `backend: dir` needs the directory",
                    );
                    return None;
                }
            }
        }
        Some("redis") => {
            if path.is_some() {
                errors.push(line, "config.state.path", "is for `backend: dir`");
            }
            if !redis_keys {
                errors.push(
                    line,
                    "config.state.url",
                    "missing: `backend: redis` needs `url` (or `url_env`, `url_file`)",
                );
                return None;
            }
            if let Err(e) = endpoint.check("state backend", "config.state") {
                let key = if endpoint.url.is_some() {
                    "url"
                } else {
                    "password_env"
                };
                let kline = errors.key_line(line, key).or(line);
                errors.push(kline, format!("config.state.{key}"), e.to_string());
                return None;
            }
            BackendDef::Redis(endpoint)
        }
        Some(other) => {
            errors.push(
                bline,
                "config.state.backend",
                format!("unknown backend `{other}` (dir or redis)"),
            );
            return None;
        }
    };
    ok.then_some(StateDef {
        backend,
        interval_ms: interval,
        line,
    })
}

/// The checkpointing of topology `name` that `def` (`config.state`, with
/// Storm's interval key as `storm_ms`) and `flags` ask for, its backend
/// opened (a missing directory, an unreachable server: an error naming
/// it); `None` if neither asks for any. A relative `path` is relative to
/// `base`, the file's directory.
pub(super) fn open(
    def: Option<&StateDef>,
    storm_ms: Option<u64>,
    flags: &StateFlags,
    base: &Path,
    name: &str,
) -> Result<Option<Arc<Checkpointing>>, Located> {
    let ms = flags
        .checkpoint_ms
        .or(def.and_then(|d| d.interval_ms))
        .or(storm_ms);
    let interval = ms.map_or(DEFAULT_INTERVAL, Duration::from_millis);
    let line = def.and_then(|d| d.line);
    let located = |at: &str, line: Option<usize>, message: String| Located {
        line,
        at: at.to_owned(),
        message,
    };
    let prefix = format!("gale:state:{name}");
    let backend: Box<dyn StateBackend> = if let Some(dir) = &flags.dir {
        Box::new(DirBackend::open(dir).map_err(|e| located("--state-dir", None, e.to_string()))?)
    } else if let Some(url) = &flags.url {
        let endpoint = EndpointConfig {
            url: Some(url.clone()),
            ..EndpointConfig::default()
        };
        Box::new(redis(&endpoint, &prefix).map_err(|m| located("--state-url", None, m))?)
    } else {
        match def.map(|d| &d.backend) {
            None => return Ok(None),
            Some(BackendDef::Dir(path, pline)) => {
                let dir = base.join(path);
                Box::new(
                    DirBackend::open(&dir)
                        .map_err(|e| located("config.state.path", *pline, e.to_string()))?,
                )
            }
            Some(BackendDef::Redis(endpoint)) => Box::new(
                redis(endpoint, &prefix).map_err(|m| located("config.state.url", line, m))?,
            ),
        }
    };
    Ok(Some(Checkpointing::boxed(backend, interval)))
}

/// The Redis backend at `endpoint`, keys under `prefix`.
fn redis(
    endpoint: &EndpointConfig,
    prefix: &str,
) -> Result<gale_connectors::RedisStateBackend, String> {
    let resolved = endpoint
        .resolve("state backend", "config.state")
        .map_err(|e| e.to_string())?;
    gale_connectors::RedisStateBackend::connect(resolved, prefix).map_err(|e| e.to_string())
}
