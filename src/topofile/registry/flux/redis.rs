//! storm-redis's bolts (`RedisStoreBolt`, `RedisLookupBolt`) with a
//! `JedisPoolConfig`, and Gale's Redis Streams spout and field mapper.

use serde_yaml_ng::Value as Yaml;

use super::out::{constant, count, object, text, what, Out};
use crate::topofile::registry::{Arg, ClassArgs};
use crate::topofile::yaml::value_to_yaml;

/// storm-redis's single-server configuration.
pub(crate) const JEDIS_POOL: &str = "org.apache.storm.redis.common.config.JedisPoolConfig";
/// storm-redis's Redis Cluster configuration (refused: no cluster).
pub(crate) const JEDIS_CLUSTER: &str = "org.apache.storm.redis.common.config.JedisClusterConfig";
/// storm-redis's store bolt.
pub(crate) const STORE_BOLT: &str = "org.apache.storm.redis.bolt.RedisStoreBolt";
/// storm-redis's lookup bolt.
pub(crate) const LOOKUP_BOLT: &str = "org.apache.storm.redis.bolt.RedisLookupBolt";
/// Gale's Redis Streams spout (Storm has none).
pub(crate) const STREAM_SPOUT: &str = "gale.connectors.RedisStreamSpout";
/// Gale's mapper for the Redis bolts: which fields make the key and
/// value (storm-redis's mappers are Java classes of the user's).
pub(crate) const FIELD_MAPPER: &str = "gale.connectors.RedisFieldMapper";

/// The keys of the server a `JedisPoolConfig` may give as properties.
const SECRET_KEYS: [&str; 2] = ["password_env", "password_file"];

/// The mapper's properties.
const MAPPER_KEYS: [&str; 8] = [
    "dataType",
    "additionalKey",
    "command",
    "keyField",
    "keyPrefix",
    "valueField",
    "fields",
    "ttlSecs",
];

/// The redis-stream-spout's `args` (taken as properties by Gale's class).
const STREAM_KEYS: [&str; 18] = [
    "url",
    "url_env",
    "url_file",
    "password_env",
    "password_file",
    "stream",
    "group",
    "fields",
    "start",
    "consumer",
    "id_field",
    "batch",
    "poll_ms",
    "claim_idle_ms",
    "timeout_ms",
    "dead_letter",
    "until_idle",
    "delivery",
];

/// `JedisPoolConfig(host, port[, timeout[, password[, database]]])`, given
/// by `ref` as the constructor argument `at`: the server's `url`,
/// `timeout_ms` and where its password comes from.
fn pool(out: &mut Out, class: &str, at: &str, a: &Arg) {
    if object(a, &[JEDIS_CLUSTER]).is_some() {
        out.error(
            at,
            "JedisClusterConfig",
            format!(
                "`{class}`: Redis Cluster (`JedisClusterConfig`) is not supported; give a \
                 `JedisPoolConfig` of one server"
            ),
        );
        return;
    }
    let Some(p) = object(a, &[JEDIS_POOL]) else {
        out.error(
            at,
            class,
            format!(
                "`{class}` takes a `ref` to a `{JEDIS_POOL}` first, not {}",
                what(a)
            ),
        );
        return;
    };
    let c = &p.constructor_args;
    let host = c.first().and_then(text);
    let port = c.get(1).map_or(Some(6379), count);
    let (Some(host), Some(port)) = (host, port) else {
        out.error(
            at,
            "JedisPoolConfig",
            "`JedisPoolConfig` takes (host, port[, timeout ms[, password[, database]]]): the \
             host a string, the port a number",
        );
        return;
    };
    if c.len() > 5 {
        out.error(
            at,
            "JedisPoolConfig",
            "`JedisPoolConfig` takes at most 5 constructor \
             arguments (host, port, timeout, password, database)",
        );
    }
    if let Some(t) = c.get(2) {
        match count(t).filter(|t| *t > 0) {
            Some(t) => out.set("timeout_ms", t),
            None => out.error(
                at,
                "JedisPoolConfig",
                "`JedisPoolConfig`'s timeout (the third \
                 constructor argument) is a number of milliseconds above 0",
            ),
        }
    }
    if let Some(pw) = c.get(3) {
        let empty = matches!(pw, Arg::Value(gale_codec::Value::Null))
            || text(pw).is_some_and(|s| s.is_empty());
        if !empty {
            out.error(
                at,
                "JedisPoolConfig",
                "`JedisPoolConfig`: a password in the topology file is refused (whoever reads \
                 the file or its history reads it): leave it null and give the pool config the \
                 property `password_env` (an environment variable) or `password_file`",
            );
        }
    }
    let db = match c.get(4) {
        None => 0,
        Some(d) => count(d).unwrap_or_else(|| {
            out.error(
                at,
                "JedisPoolConfig",
                "`JedisPoolConfig`'s database (the fifth constructor argument) is a number",
            );
            0
        }),
    };
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]") // an IPv6 address
    } else {
        host
    };
    out.set("url", format!("redis://{host}:{port}/{db}"));
    out.gale_properties(
        &format!("{at} (JedisPoolConfig)."),
        JEDIS_POOL,
        p,
        &SECRET_KEYS,
    );
}

/// The mapper given as constructor argument `at`, read into the store
/// bolt's (`lookup` false) or lookup bolt's arguments.
fn mapper(out: &mut Out, class: &str, at: &str, a: &Arg, lookup: bool) {
    let Some(m) = object(a, &[FIELD_MAPPER]) else {
        out.error(
            at,
            class,
            format!(
                "`{class}` takes a mapper second: a `ref` to a `{FIELD_MAPPER}` (Gale runs no \
                 Java mapper classes), not {}",
                what(a)
            ),
        );
        return;
    };
    let mat = format!("{at} ({FIELD_MAPPER}).");
    if !m.constructor_args.is_empty() || !m.config_methods.is_empty() {
        out.error(
            &mat,
            FIELD_MAPPER,
            format!("`{FIELD_MAPPER}` takes only properties ({MAPPER_KEYS:?})"),
        );
    }
    let prop = |name: &str| m.property(name);
    let command =
        match (
            prop("command").and_then(text),
            prop("dataType").and_then(constant),
        ) {
            (Some(c), None) => Some(c.to_lowercase()),
            (None, Some(t)) => match (t.as_str(), lookup) {
                ("STRING", false) => Some("set".to_owned()),
                ("HASH", false) => Some("hset".to_owned()),
                ("STRING", true) => Some("get".to_owned()),
                ("HASH", true) => Some("hget".to_owned()),
                _ => {
                    out.error(
                        &format!("{mat}properties.dataType"),
                        "dataType",
                        format!(
                        "`{class}` with data type `{t}` is not supported in Gale: STRING or HASH \
                         (or the mapper's `command`: {})",
                        if lookup { "get | hget" } else { "set | hset | xadd | incrby" }
                    ),
                    );
                    None
                }
            },
            (Some(_), Some(_)) => {
                out.error(
                    &mat,
                    "dataType",
                    "give the mapper one of `dataType` and `command`",
                );
                None
            }
            (None, None) => {
                out.error(
                    &mat,
                    FIELD_MAPPER,
                    "the mapper needs a `dataType` (STRING or HASH) or a `command`",
                );
                None
            }
        };
    if let Some(c) = command {
        out.set("command", c);
    }
    for (name, value) in &m.properties {
        let key = match (name.as_str(), lookup) {
            ("dataType" | "command", _) => continue,
            ("additionalKey", _) => "key",
            ("keyField", _) => "key_field",
            ("keyPrefix", _) => "key_prefix",
            ("valueField", false) => "value_field",
            ("valueField", true) => "output_field",
            ("fields", _) => "fields",
            ("ttlSecs", false) => "ttl_secs",
            _ => {
                out.error(
                    &format!("{mat}properties.{name}"),
                    name,
                    format!(
                        "`{FIELD_MAPPER}` has no property `{name}` for `{class}` (it takes: \
                         {MAPPER_KEYS:?}; ttlSecs for the store bolt only)"
                    ),
                );
                continue;
            }
        };
        match value {
            Arg::Value(v) => out.set(key, value_to_yaml(v)),
            other => match other.strings() {
                Some(list) => out.set(key, list_yaml(&list)),
                None => out.error(
                    &format!("{mat}properties.{name}"),
                    name,
                    format!("the mapper's `{name}` takes a value, not {}", what(other)),
                ),
            },
        }
    }
}

fn list_yaml(items: &[String]) -> Yaml {
    Yaml::Sequence(items.iter().map(|s| Yaml::String(s.clone())).collect())
}

/// `RedisStoreBolt(JedisPoolConfig, mapper)` or `RedisLookupBolt(...)`.
pub(crate) fn bolt(out: &mut Out, class: &str, args: &ClassArgs, lookup: bool) {
    match args.constructor_args.as_slice() {
        [p, m] => {
            pool(out, class, "constructorArgs[0]", p);
            mapper(out, class, "constructorArgs[1]", m, lookup);
        }
        other => out.error(
            "constructorArgs",
            class,
            format!(
                "`{class}` takes (a `ref` to a JedisPoolConfig, a `ref` to a {FIELD_MAPPER}), \
                 {} arguments given",
                other.len()
            ),
        ),
    }
    for (name, _) in &args.config_methods {
        out.error(
            &format!("configMethods.{name}"),
            name,
            format!(
                "`{class}` has no config method `{name}` in Gale (it has none; Gale's \
                 `args:` sets batch, linger_ms, timeout_ms)"
            ),
        );
    }
    out.no_properties(
        class,
        args,
        "Gale's `args:` sets batch, linger_ms, timeout_ms",
    );
}

/// Gale's `RedisStreamSpout`: optionally `constructorArgs: [ref to a
/// JedisPoolConfig]`; properties are the `redis-stream-spout` arguments.
pub(crate) fn stream_spout(out: &mut Out, args: &ClassArgs) {
    match args.constructor_args.as_slice() {
        [] => {}
        [p] => pool(out, STREAM_SPOUT, "constructorArgs[0]", p),
        more => out.error(
            "constructorArgs",
            STREAM_SPOUT,
            format!(
                "`{STREAM_SPOUT}` takes at most one constructor argument (a `ref` to a \
                 JedisPoolConfig), {} given",
                more.len()
            ),
        ),
    }
    for (name, value) in &args.properties {
        let at = format!("properties.{name}");
        if !STREAM_KEYS.contains(&name.as_str()) {
            out.error(
                &at,
                name,
                format!("`{STREAM_SPOUT}` has no property `{name}` (it takes: {STREAM_KEYS:?})"),
            );
            continue;
        }
        match (value, value.strings()) {
            (Arg::Value(v), _) => out.set(name, value_to_yaml(v)),
            // `fields` as a `ref` to a Fields component.
            (_, Some(list)) => out.set(name, list_yaml(&list)),
            (other, None) => out.error(
                &at,
                name,
                format!(
                    "`{STREAM_SPOUT}` property `{name}` takes a value, not {}",
                    what(other)
                ),
            ),
        }
    }
    for (name, _) in &args.config_methods {
        out.error(
            &format!("configMethods.{name}"),
            name,
            format!(
                "`{STREAM_SPOUT}` has no config methods: its settings are properties \
                 ({STREAM_KEYS:?})"
            ),
        );
    }
}
