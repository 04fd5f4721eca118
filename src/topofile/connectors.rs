//! The connectors as topology-file built-ins: `builtin:
//! redis-stream-spout`, `redis-bolt`, `redis-lookup`, `postgres-bolt`,
//! `postgres-lookup`, `file-spout` and
//! `file-sink`, their `args` read into [`gale_connectors`]' configs. The
//! server keys (`url`, `url_env`, `url_file`, `password_env`,
//! `password_file`) go to the [`EndpointConfig`]; the rest to the
//! connector's own config, which refuses keys it does not know (the file
//! connectors have no server: every key goes to their config).

use gale_connectors::{
    Delivery, EndpointConfig, FileSink, FileSinkConfig, FileSpout, FileSpoutConfig, PostgresBolt,
    PostgresConfig, PostgresLookupBolt, PostgresLookupConfig, RedisLookupBolt, RedisLookupConfig,
    RedisStoreBolt, RedisStoreConfig, RedisStreamConfig, RedisStreamSpout, FILE_SINK, FILE_SPOUT,
    POSTGRES_BOLT, POSTGRES_LOOKUP, REDIS_BOLT, REDIS_LOOKUP, REDIS_STREAM_SPOUT,
};
use gale_engine::{BoltDeclarer, SpoutDeclarer, TopologyBuilder};
use serde_yaml_ng::{Mapping, Value as Yaml};

/// The keys that belong to the [`EndpointConfig`].
const ENDPOINT_KEYS: [&str; 5] = [
    "url",
    "url_env",
    "url_file",
    "password_env",
    "password_file",
];

/// A connector built-in with its configuration read.
#[derive(Debug, Clone)]
pub(super) enum Connector {
    /// `redis-stream-spout`.
    Stream(EndpointConfig, RedisStreamConfig),
    /// `redis-bolt`.
    Store(EndpointConfig, RedisStoreConfig),
    /// `postgres-bolt`.
    Postgres(EndpointConfig, PostgresConfig),
    /// `redis-lookup`.
    Lookup(EndpointConfig, RedisLookupConfig),
    /// `postgres-lookup`.
    PgLookup(EndpointConfig, PostgresLookupConfig),
    /// `file-spout`.
    FileSpout(FileSpoutConfig),
    /// `file-sink`.
    FileSink(FileSinkConfig),
}

/// Whether `name` is a connector.
pub(super) fn is_connector(name: &str) -> bool {
    [
        REDIS_STREAM_SPOUT,
        REDIS_BOLT,
        REDIS_LOOKUP,
        POSTGRES_BOLT,
        POSTGRES_LOOKUP,
        FILE_SPOUT,
        FILE_SINK,
    ]
    .contains(&name)
}

/// Reads connector `name`'s `args`; the error is one message.
pub(super) fn parse(name: &str, args: &[(String, Yaml)]) -> Result<Connector, String> {
    let read = |e: serde_yaml_ng::Error| format!("`{name}`: {e}");
    if name == FILE_SPOUT || name == FILE_SINK {
        let all = Yaml::Mapping(
            args.iter()
                .map(|(k, v)| (Yaml::String(k.clone()), v.clone()))
                .collect(),
        );
        return Ok(if name == FILE_SPOUT {
            Connector::FileSpout(serde_yaml_ng::from_value(all).map_err(read)?)
        } else {
            Connector::FileSink(serde_yaml_ng::from_value(all).map_err(read)?)
        });
    }
    let (mut endpoint, mut rest) = (Mapping::new(), Mapping::new());
    for (k, v) in args {
        let map = if ENDPOINT_KEYS.contains(&k.as_str()) {
            &mut endpoint
        } else {
            &mut rest
        };
        map.insert(Yaml::String(k.clone()), v.clone());
    }
    let endpoint: EndpointConfig =
        serde_yaml_ng::from_value(Yaml::Mapping(endpoint)).map_err(|e| e.to_string())?;
    let rest = Yaml::Mapping(rest);
    Ok(match name {
        REDIS_STREAM_SPOUT => {
            Connector::Stream(endpoint, serde_yaml_ng::from_value(rest).map_err(read)?)
        }
        REDIS_BOLT => Connector::Store(endpoint, serde_yaml_ng::from_value(rest).map_err(read)?),
        REDIS_LOOKUP => Connector::Lookup(endpoint, serde_yaml_ng::from_value(rest).map_err(read)?),
        POSTGRES_LOOKUP => {
            Connector::PgLookup(endpoint, serde_yaml_ng::from_value(rest).map_err(read)?)
        }
        _ => Connector::Postgres(endpoint, serde_yaml_ng::from_value(rest).map_err(read)?),
    })
}

impl Connector {
    /// Checks what needs no server; one message or none.
    pub(super) fn check(&self, component: &str) -> Result<(), String> {
        let checked = match self {
            Connector::Stream(ep, c) => ep
                .check(REDIS_STREAM_SPOUT, component)
                .and_then(|()| c.check(component)),
            Connector::Store(ep, c) => ep
                .check(REDIS_BOLT, component)
                .and_then(|()| c.check(component)),
            Connector::Postgres(ep, c) => ep
                .check(POSTGRES_BOLT, component)
                .and_then(|()| c.check(component)),
            Connector::Lookup(ep, c) => ep
                .check(REDIS_LOOKUP, component)
                .and_then(|()| c.check(component)),
            Connector::PgLookup(ep, c) => ep
                .check(POSTGRES_LOOKUP, component)
                .and_then(|()| c.check(component)),
            Connector::FileSpout(c) => c.check(component),
            Connector::FileSink(c) => c.check(component),
        };
        checked.map_err(|e| e.to_string())
    }

    /// Its output streams and their fields.
    pub(super) fn streams(&self) -> Vec<(String, Vec<String>)> {
        match self {
            Connector::Stream(_, c) => vec![("default".to_owned(), c.output_fields())],
            Connector::FileSpout(c) => vec![("default".to_owned(), c.output_fields())],
            Connector::Lookup(_, c) => vec![("default".to_owned(), c.output_fields())],
            Connector::PgLookup(_, c) => vec![("default".to_owned(), c.output_fields())],
            Connector::Store(..) | Connector::Postgres(..) | Connector::FileSink(..) => Vec::new(),
        }
    }

    /// Adds it as spout `id`; `finite` is cleared unless it stops by itself.
    /// With `rewind` (state is checkpointed), a Redis stream read with
    /// `delivery: offset` is added as a rewindable spout (exactly-once
    /// state); with `delivery: group` it cannot rewind and gives Storm's
    /// at-least-once state.
    pub(super) fn add_spout<'b>(
        self,
        b: &'b mut TopologyBuilder,
        id: &str,
        parallelism: usize,
        finite: &mut bool,
        rewind: bool,
    ) -> Option<SpoutDeclarer<'b>> {
        match self {
            Connector::Stream(ep, cfg) => {
                *finite &= cfg.until_idle;
                let rewindable = rewind && cfg.delivery == Delivery::Offset;
                let spout = move || RedisStreamSpout::new(ep.clone(), cfg.clone());
                Some(if rewindable {
                    b.set_rewindable_spout(id, spout, parallelism)
                } else {
                    b.set_spout(id, spout, parallelism)
                })
            }
            Connector::FileSpout(cfg) => {
                *finite &= cfg.until_idle;
                Some(b.set_spout(id, move || FileSpout::new(cfg.clone()), parallelism))
            }
            _ => None,
        }
    }

    /// Adds it as bolt `id`.
    pub(super) fn add_bolt<'b>(
        self,
        b: &'b mut TopologyBuilder,
        id: &str,
        parallelism: usize,
    ) -> Option<BoltDeclarer<'b>> {
        match self {
            Connector::Store(ep, cfg) => Some(b.set_bolt(
                id,
                move || RedisStoreBolt::new(ep.clone(), cfg.clone()),
                parallelism,
            )),
            Connector::Postgres(ep, cfg) => Some(b.set_bolt(
                id,
                move || PostgresBolt::new(ep.clone(), cfg.clone()),
                parallelism,
            )),
            Connector::Lookup(ep, cfg) => Some(b.set_bolt(
                id,
                move || RedisLookupBolt::new(ep.clone(), cfg.clone()),
                parallelism,
            )),
            Connector::PgLookup(ep, cfg) => Some(b.set_bolt(
                id,
                move || PostgresLookupBolt::new(ep.clone(), cfg.clone()),
                parallelism,
            )),
            Connector::FileSink(cfg) => {
                Some(b.set_bolt(id, move || FileSink::new(cfg.clone()), parallelism))
            }
            Connector::Stream(..) | Connector::FileSpout(..) => None,
        }
    }
}
