//! Storm's connector classes in Flux files (storm-redis, storm-jdbc,
//! storm-hdfs) and Gale's Redis Streams spout class, read into the `args`
//! of the connector built-ins they stand for: `RedisStoreBolt` →
//! `redis-bolt`, `JdbcInsertBolt` → `postgres-bolt`, `HdfsBolt` →
//! `file-sink`, ... Storm's configuration idiom is followed as far as it
//! goes (a `JedisPoolConfig` or `HikariCPConnectionProvider` under
//! `components:` passed by `ref`, `configMethods` such as
//! `withTableName`, `withFileNameFormat`, `withRotationPolicy`); what Gale
//! cannot do is an error naming the class and method.

mod hdfs;
mod jdbc;
mod out;
mod redis;

pub(crate) use out::Out;

use super::args::ClassArgs;

/// The connector classes, by full name, and the built-in each becomes.
pub(crate) const CONNECTORS: [(&str, &str); 7] = [
    (redis::STORE_BOLT, "redis-bolt"),
    (redis::LOOKUP_BOLT, "redis-lookup"),
    (redis::STREAM_SPOUT, "redis-stream-spout"),
    (jdbc::INSERT_BOLT, "postgres-bolt"),
    (jdbc::LOOKUP_BOLT, "postgres-lookup"),
    (hdfs::HDFS_BOLT, "file-sink"),
    (hdfs::HDFS_SPOUT, "file-spout"),
];

/// The classes of `components:` these read through `ref`.
pub(crate) const OBJECTS: [&str; 13] = [
    redis::JEDIS_POOL,
    redis::JEDIS_CLUSTER,
    redis::FIELD_MAPPER,
    jdbc::HIKARI,
    jdbc::COLUMN,
    jdbc::SIMPLE_MAPPER,
    jdbc::LOOKUP_MAPPER,
    hdfs::NAME_FORMAT,
    hdfs::RECORD_FORMAT,
    hdfs::SIZE_ROTATION,
    hdfs::TIMED_ROTATION,
    hdfs::NO_ROTATION,
    hdfs::COUNT_SYNC,
];

/// Reads what the file says of connector class `class` (one of
/// [`CONNECTORS`]) for component `component` into its built-in's `args`.
pub(crate) fn translate(class: &str, component: &str, args: &ClassArgs) -> Out {
    let mut out = Out::default();
    match class {
        redis::STORE_BOLT => redis::bolt(&mut out, class, args, false),
        redis::LOOKUP_BOLT => redis::bolt(&mut out, class, args, true),
        redis::STREAM_SPOUT => redis::stream_spout(&mut out, args),
        jdbc::INSERT_BOLT => jdbc::insert(&mut out, args),
        jdbc::LOOKUP_BOLT => jdbc::lookup(&mut out, args),
        hdfs::HDFS_BOLT => hdfs::bolt(&mut out, component, args),
        hdfs::HDFS_SPOUT => hdfs::spout(&mut out, args),
        _ => out.error(
            "className",
            class,
            format!("`{class}` is no connector class"),
        ),
    }
    out
}
