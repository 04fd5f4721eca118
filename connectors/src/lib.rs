//! Gale's connectors: sources and sinks in real systems, as ordinary
//! [`Spout`](gale_engine::Spout)s and [`Bolt`](gale_engine::Bolt)s.
//!
//! | connector | what | module |
//! |-----------|------|--------|
//! | `redis-stream-spout` | reads a Redis stream through a consumer group; ack → `XACK`, replay of unacked entries | [`RedisStreamSpout`] |
//! | `redis-lookup` | enriches tuples with `GET`/`HGET`, pipelined per batch | [`RedisLookupBolt`] |
//! | `redis-bolt` | writes tuples to Redis (`SET`, `HSET`, `XADD`, `INCRBY`), pipelined per batch | [`RedisStoreBolt`] |
//! | `postgres-bolt` | writes tuples to a PostgreSQL table in one transaction per batch (binary `COPY`), acks after commit | [`PostgresBolt`] |
//! | state backend | checkpoints of bolt state in Redis (`--state-url`) | [`RedisStateBackend`] |
//! | `postgres-lookup` | a parameterised query per tuple, one tuple per row, with a bounded cache | [`PostgresLookupBolt`] |
//! | `file-spout` | emits the lines of a directory's files as they appear; offsets kept durably, past acked lines only | [`FileSpout`] |
//! | `file-sink` | writes tuples as lines to rotating files, acked after the write (and fsync) | [`FileSink`] |
//!
//! Every server connector takes its server from an [`EndpointConfig`]: a URL
//! (without a password), or the URL and password from environment
//! variables or files, never from the command line. Each task publishes
//! [`ConnectorMetrics`] (consumer-group lag, batch sizes, errors,
//! reconnects) with the topology's metrics. Errors name the connector,
//! the component and the key, table or URL ([`ConnectorError`]).
//!
//! ```no_run
//! use gale_connectors::{
//!     EndpointConfig, PostgresBolt, PostgresConfig, PostgresMode, RedisStreamConfig,
//!     RedisStreamSpout,
//! };
//! use gale_engine::TopologyBuilder;
//!
//! let redis = EndpointConfig { url: Some("redis://127.0.0.1:6379".into()), ..Default::default() };
//! let pg = EndpointConfig { url_env: Some("PG_URL".into()), ..Default::default() };
//! let mut cfg = PostgresConfig::new("events", ["line"]);
//! cfg.mode = PostgresMode::Insert;
//! let mut b = TopologyBuilder::new("copy");
//! b.set_spout(
//!     "events",
//!     move || RedisStreamSpout::new(redis.clone(), RedisStreamConfig::new("events", "gale", ["line"])),
//!     1,
//! );
//! b.set_bolt("sink", move || PostgresBolt::new(pg.clone(), cfg.clone()), 1)
//!     .shuffle_grouping("events");
//! ```
#![warn(clippy::undocumented_unsafe_blocks)]

mod cell;
mod error;
pub mod file_sink;
pub mod file_spout;
mod in_flight;
pub mod metrics;
pub mod postgres_bolt;
pub mod postgres_lookup;
pub mod redis_lookup;
pub mod redis_state;
pub mod redis_store;
pub mod redis_stream;
mod resp;
mod retry;
pub mod secret;
mod sink;
mod task;
mod wire;

pub use error::{ConnectorError, FieldMismatch};
pub use file_sink::{FileSink, FileSinkConfig, FsyncPolicy, FILE_SINK};
pub use file_spout::{FileSpout, FileSpoutConfig, FILE_SPOUT};
pub use metrics::ConnectorMetrics;
pub use postgres_bolt::{PostgresBolt, PostgresConfig, PostgresMode, POSTGRES_BOLT};
pub use postgres_lookup::{PostgresLookupBolt, PostgresLookupConfig, POSTGRES_LOOKUP};
pub use redis_lookup::{LookupCommand, RedisLookupBolt, RedisLookupConfig, REDIS_LOOKUP};
pub use redis_state::RedisStateBackend;
pub use redis_store::{RedisCommand, RedisStoreBolt, RedisStoreConfig, REDIS_BOLT};
pub use redis_stream::{Delivery, RedisStreamConfig, RedisStreamSpout, REDIS_STREAM_SPOUT};
pub use secret::{Endpoint, EndpointConfig};
