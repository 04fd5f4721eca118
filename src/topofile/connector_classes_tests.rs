//! Storm's connector classes read into the built-ins' `args`: what each
//! Flux idiom becomes, and each mistake on its line.

use std::collections::BTreeMap;

use serde_yaml_ng::Value as Yaml;

use super::class::{read_objects, resolve};
use super::located::Located;
use super::mistakes::Errors;
use super::registry::{Registry, Role};
use super::schema::ComponentDef;
use super::yaml::typed;

/// The `builtin`, `args`, errors and warnings of the first spout (or
/// bolt) of `text`.
struct Resolved {
    builtin: Option<String>,
    args: BTreeMap<String, Yaml>,
    errors: Vec<Located>,
    warnings: Vec<Located>,
}

fn resolved(text: &str, role: Role) -> Resolved {
    let doc: Yaml = serde_yaml_ng::from_str(text).expect("YAML");
    let registry = Registry::new();
    let mut errors = Errors::new(text);
    let items = doc
        .get("components")
        .and_then(Yaml::as_sequence)
        .cloned()
        .unwrap_or_default();
    let objects = read_objects(&items, &registry, &mut errors);
    let key = if role == Role::Spout {
        "spouts"
    } else {
        "bolts"
    };
    let mut def: ComponentDef = typed(doc[key][0].clone()).expect("a component");
    let line = errors.id_line(&def.id);
    resolve(&mut def, role, &registry, &objects, line, "c", &mut errors);
    Resolved {
        builtin: def.builtin,
        args: def.args,
        errors: errors.list,
        warnings: errors.warnings,
    }
}

fn args(r: &Resolved) -> BTreeMap<String, String> {
    assert!(r.errors.is_empty(), "errors: {:#?}", r.errors);
    r.args
        .iter()
        .map(|(k, v)| {
            let v = serde_yaml_ng::to_string(v).unwrap_or_default();
            (k.clone(), v.trim().replace('\n', " "))
        })
        .collect()
}

fn expect(r: &Resolved, pairs: &[(&str, &str)]) {
    let got = args(r);
    let want: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    assert_eq!(got, want);
}

/// Asserts an error on `line` whose path has `at` and message `message`.
fn error_on(r: &Resolved, line: usize, at: &str, message: &str) {
    assert!(
        r.errors
            .iter()
            .any(|e| e.line == Some(line) && e.at.contains(at) && e.message.contains(message)),
        "no error on line {line} at `{at}` saying `{message}` in {:#?}",
        r.errors
    );
}

const POOL: &str = r#"components:
  - id: pool
    className: org.apache.storm.redis.common.config.JedisPoolConfig
    constructorArgs: ["10.0.0.5", 6380, 1500, null, 2]
    properties:
      - {name: password_env, value: REDIS_PASSWORD}
  - id: mapper
    className: gale.connectors.RedisFieldMapper
    properties:
      - {name: dataType, value: HASH}
      - {name: additionalKey, value: wordCount}
      - {name: keyField, value: word}
      - {name: valueField, value: count}
"#;

#[test]
fn redis_store_and_lookup_bolts_take_a_pool_config_and_a_mapper() {
    let store = format!(
        "{POOL}bolts:\n  - id: store\n    className: org.apache.storm.redis.bolt.RedisStoreBolt\n    \
         constructorArgs: [ref: pool, ref: mapper]\n"
    );
    let r = resolved(&store, Role::Bolt);
    assert_eq!(r.builtin.as_deref(), Some("redis-bolt"));
    expect(
        &r,
        &[
            ("url", "redis://10.0.0.5:6380/2"),
            ("timeout_ms", "1500"),
            ("password_env", "REDIS_PASSWORD"),
            ("command", "hset"),
            ("key", "wordCount"),
            ("key_field", "word"),
            ("value_field", "count"),
        ],
    );
    let lookup = store.replace("RedisStoreBolt", "RedisLookupBolt");
    let r = resolved(&lookup, Role::Bolt);
    assert_eq!(r.builtin.as_deref(), Some("redis-lookup"));
    assert_eq!(args(&r)["command"], "hget");
    assert_eq!(args(&r)["output_field"], "count");
}

#[test]
fn a_password_in_a_pool_config_and_a_missing_mapper_are_errors_on_their_lines() {
    let text = r#"components:
  - id: pool
    className: org.apache.storm.redis.common.config.JedisPoolConfig
    constructorArgs: ["127.0.0.1", 6379, 2000, "hunter2", 0]
bolts:
  - id: store
    className: org.apache.storm.redis.bolt.RedisStoreBolt
    constructorArgs:
      - ref: pool
      - 42
    configMethods:
      - {name: withBatchSize, args: [10]}
"#;
    let r = resolved(text, Role::Bolt);
    error_on(
        &r,
        3,
        "constructorArgs[0]",
        "password in the topology file is refused",
    );
    error_on(&r, 7, "constructorArgs[1]", "RedisFieldMapper");
    error_on(
        &r,
        12,
        "configMethods.withBatchSize",
        "`org.apache.storm.redis.bolt.RedisStoreBolt` has no config method `withBatchSize`",
    );
    assert!(r.builtin.is_none());
}

const HIKARI: &str = r#"components:
  - id: cp
    className: org.apache.storm.jdbc.common.HikariCPConnectionProvider
    constructorArgs:
      - dataSourceClassName: org.postgresql.ds.PGSimpleDataSource
        dataSource.url: "jdbc:postgresql://db.local:5433/app"
        dataSource.user: gale
        password_file: /run/secrets/pg
        maximumPoolSize: 4
  - {id: c1, className: org.apache.storm.jdbc.common.Column, constructorArgs: [word, 12]}
  - {id: c2, className: org.apache.storm.jdbc.common.Column, constructorArgs: [count, 4]}
  - id: mapper
    className: org.apache.storm.jdbc.mapper.SimpleJdbcMapper
    constructorArgs: [reflist: [c1, c2]]
"#;

#[test]
fn jdbc_insert_bolt_reads_the_provider_mapper_and_config_methods() {
    let by_table = format!(
        "{HIKARI}bolts:\n  - id: sink\n    className: org.apache.storm.jdbc.bolt.JdbcInsertBolt\n    \
         constructorArgs: [ref: cp, ref: mapper]\n    configMethods:\n      \
         - {{name: withTableName, args: [counts]}}\n      \
         - {{name: withQueryTimeoutSecs, args: [30]}}\n"
    );
    let r = resolved(&by_table, Role::Bolt);
    assert_eq!(r.builtin.as_deref(), Some("postgres-bolt"));
    expect(
        &r,
        &[
            ("url", "postgres://gale@db.local:5433/app"),
            ("password_file", "/run/secrets/pg"),
            ("table", "counts"),
            ("columns", "- word - count"),
            ("fields", "- word - count"),
            ("timeout_ms", "30000"),
        ],
    );
    // HikariCP's pool settings are named in warnings, not refused.
    assert!(
        r.warnings
            .iter()
            .any(|w| w.message.contains("maximumPoolSize")),
        "{:?}",
        r.warnings
    );
    let by_query = by_table.replace(
        "withTableName, args: [counts]",
        "withInsertQuery, args: [\"insert into totals (w, n) values (?, ?)\"]",
    );
    let a = args(&resolved(&by_query, Role::Bolt));
    assert_eq!(
        (a["table"].as_str(), a["columns"].as_str()),
        ("totals", "- w - n")
    );
    assert_eq!(a["fields"], "- word - count");
    let bad = by_table.replace(
        "withTableName, args: [counts]",
        "withInsertQuery, args: [\"insert into t values (?, now())\"]",
    );
    error_on(
        &resolved(&bad, Role::Bolt),
        20,
        "withInsertQuery",
        "VALUES must be one list of `?`",
    );
}

#[test]
fn jdbc_lookup_bolt_numbers_the_parameters_and_names_the_columns() {
    let text = format!(
        "{HIKARI}  - {{id: out, className: org.apache.storm.tuple.Fields, constructorArgs: [word, total]}}\n\
         bolts:\n  - id: look\n    className: org.apache.storm.jdbc.bolt.JdbcLookupBolt\n    \
         constructorArgs:\n      - ref: cp\n      - \"SELECT n AS total FROM counts WHERE word = ?\"\n      \
         - ref: lm\n"
    )
    .replace(
        "bolts:",
        "  - id: lm\n    className: org.apache.storm.jdbc.mapper.SimpleJdbcLookupMapper\n    \
         constructorArgs: [ref: out, reflist: [c1]]\nbolts:",
    );
    let r = resolved(&text, Role::Bolt);
    assert_eq!(r.builtin.as_deref(), Some("postgres-lookup"));
    let a = args(&r);
    assert_eq!(a["query"], "SELECT n AS total FROM counts WHERE word = $1");
    assert_eq!(a["params"], "- word");
    assert_eq!(a["columns"], "- total");
    assert_eq!(a["fields"], "- word");
}

#[test]
fn hdfs_bolt_maps_its_formats_and_policies_onto_the_file_sink() {
    let text = r#"components:
  - id: names
    className: org.apache.storm.hdfs.bolt.format.DefaultFileNameFormat
    configMethods:
      - {name: withPath, args: [/out/]}
      - {name: withPrefix, args: [wc-]}
  - id: records
    className: org.apache.storm.hdfs.bolt.format.DelimitedRecordFormat
    configMethods:
      - {name: withFieldDelimiter, args: ["|"]}
  - {id: size, className: org.apache.storm.hdfs.bolt.rotation.FileSizeRotationPolicy, constructorArgs: [5.0, MB]}
  - {id: sync, className: org.apache.storm.hdfs.bolt.sync.CountSyncPolicy, constructorArgs: [500]}
bolts:
  - id: files
    className: org.apache.storm.hdfs.bolt.HdfsBolt
    configMethods:
      - {name: withFsUrl, args: ["file:///data"]}
      - {name: withFileNameFormat, args: [ref: names]}
      - {name: withRecordFormat, args: [ref: records]}
      - {name: withRotationPolicy, args: [ref: size]}
      - {name: withSyncPolicy, args: [ref: sync]}
"#;
    let r = resolved(text, Role::Bolt);
    assert_eq!(r.builtin.as_deref(), Some("file-sink"));
    expect(
        &r,
        &[
            ("dir", "/data/out/"),
            ("prefix", "wc-files"),
            ("suffix", ".txt"),
            ("separator", "'|'"),
            ("rotate_bytes", "5242880"),
            ("fsync", "batch"),
            ("batch", "500"),
        ],
    );
    let hdfs = text
        .replace("file:///data", "hdfs://namenode:8020")
        .replace("withSyncPolicy", "withPartitioner");
    let r = resolved(&hdfs, Role::Bolt);
    error_on(
        &r,
        17,
        "configMethods.withFsUrl",
        "`file:///` URL (HDFS is not supported)",
    );
    error_on(
        &r,
        21,
        "configMethods.withPartitioner",
        "`org.apache.storm.hdfs.bolt.HdfsBolt` has no config method `withPartitioner`",
    );
}

#[test]
fn hdfs_spout_reads_a_local_source_dir_and_warns_of_what_it_ignores() {
    let text = r#"spouts:
  - id: lines
    className: org.apache.storm.hdfs.spout.HdfsSpout
    configMethods:
      - {name: setReaderType, args: [text]}
      - {name: withOutputFields, args: [[line]]}
      - {name: setHdfsUri, args: ["file:///var"]}
      - {name: setSourceDir, args: [/in]}
      - {name: setArchiveDir, args: [/done]}
      - {name: setCommitFrequencySec, args: [2]}
"#;
    let r = resolved(text, Role::Spout);
    assert_eq!(r.builtin.as_deref(), Some("file-spout"));
    expect(
        &r,
        &[("dir", "/var/in"), ("field", "line"), ("commit_ms", "2000")],
    );
    assert!(
        r.warnings
            .iter()
            .any(|w| w.line == Some(9) && w.message.contains("setArchiveDir")),
        "{:?}",
        r.warnings
    );
    let seq = text.replace("args: [text]", "args: [seq]");
    error_on(
        &resolved(&seq, Role::Spout),
        5,
        "setReaderType",
        "text files only",
    );
}

#[test]
fn gales_stream_spout_class_takes_the_builtins_args_as_properties() {
    let text = format!(
        "{POOL}  - {{id: f, className: org.apache.storm.tuple.Fields, constructorArgs: [line]}}\n\
         spouts:\n  - id: events\n    className: gale.connectors.RedisStreamSpout\n    \
         constructorArgs: [ref: pool]\n    properties:\n      - {{name: stream, value: events}}\n      \
         - {{name: group, value: g}}\n      - {{name: fields, ref: f}}\n      \
         - {{name: delivery, value: offset}}\n"
    );
    let r = resolved(&text, Role::Spout);
    assert_eq!(r.builtin.as_deref(), Some("redis-stream-spout"));
    let a = args(&r);
    assert_eq!(a["url"], "redis://10.0.0.5:6380/2");
    assert_eq!(a["fields"], "- line");
    assert_eq!(a["delivery"], "offset");
    let typo = text.replace("name: group", "name: grup");
    error_on(
        &resolved(&typo, Role::Spout),
        21,
        "properties.grup",
        "has no property `grup`",
    );
}
