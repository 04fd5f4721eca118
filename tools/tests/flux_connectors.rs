//! Storm's connector classes in Flux files, with the real `gale` binary
//! and real servers: `examples/flux/redis-wordcount.yaml` (Gale's
//! `RedisStreamSpout` → `TestWordCounter` → storm-redis's
//! `RedisStoreBolt`) against a `redis-server`, and
//! `examples/flux/files-to-postgres.yaml` (storm-hdfs's `HdfsSpout` →
//! `TestWordCounter` → storm-jdbc's `JdbcInsertBolt` and storm-hdfs's
//! `HdfsBolt`) against PostgreSQL and a directory. What is written is
//! read back and compared with the test's own count of what it fed in.

mod util;

use std::collections::BTreeMap;

use util::servers::{resp, temp_dir, Postgres, Redis};
use util::{gale_with_env, repo};

/// Line `i`: two to four words of a small vocabulary.
fn line(i: usize) -> String {
    const WORDS: [&str; 7] = ["storm", "gale", "redis", "flux", "bolt", "spout", "jdbc"];
    (0..2 + i % 3)
        .map(|k| WORDS[(i * 7 + k * 3) % WORDS.len()])
        .collect::<Vec<_>>()
        .join(" ")
}

fn count(lines: &[String]) -> BTreeMap<String, i64> {
    let mut counts = BTreeMap::new();
    for w in lines.iter().flat_map(|l| l.split_whitespace()) {
        *counts.entry(w.to_owned()).or_insert(0) += 1;
    }
    counts
}

fn example(name: &str) -> String {
    repo()
        .join("examples/flux")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn the_flux_connector_examples_validate_and_name_what_gale_ignores() {
    let env = [
        ("REDIS_PORT", "6379"),
        ("PG_PORT", "5432"),
        ("DATA_DIR", "/tmp"),
    ];
    let run = gale_with_env(&["validate", &example("redis-wordcount.yaml")], &env);
    assert!(run.ok(), "{}{}", run.stdout, run.stderr);
    let run = gale_with_env(&["validate", &example("files-to-postgres.yaml")], &env);
    assert!(run.ok(), "{}{}", run.stdout, run.stderr);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.contains("setArchiveDir") && all.contains("ignored"),
        "no warning about setArchiveDir: {all}"
    );
    // Without the environment the port's line is named.
    let run = gale_with_env(&["validate", &example("redis-wordcount.yaml")], &[]);
    assert!(!run.ok());
    assert!(
        run.stderr.contains("redis-wordcount.yaml:22") && run.stderr.contains("REDIS_PORT"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_flux_redis_word_count_writes_counts_that_read_back_from_redis() {
    let redis = Redis::start();
    let lines: Vec<String> = (0..3000).map(line).collect();
    let mut cmds = Vec::new();
    for l in &lines {
        resp(&mut cmds, &[b"XADD", b"lines", b"*", b"line", l.as_bytes()]);
    }
    redis.pipe(&cmds);
    let port = redis.port.to_string();
    let run = gale_with_env(
        &["run", &example("redis-wordcount.yaml")],
        &[("REDIS_PORT", &port)],
    );
    assert!(run.ok(), "gale failed: {}{}", run.stdout, run.stderr);
    for (word, n) in count(&lines) {
        let got = redis.cli(&["GET", &format!("count:{word}")]);
        assert_eq!(
            got.map(|s| s.trim().to_owned()),
            Some(n.to_string()),
            "count:{word}"
        );
    }
    let pending = redis
        .cli(&["XPENDING", "lines", "wordcount"])
        .unwrap_or_default();
    assert!(
        pending.starts_with("0\n"),
        "entries left pending: {pending}"
    );
}

#[test]
fn a_flux_hdfs_and_jdbc_topology_writes_counts_to_postgres_and_files() {
    let pg = Postgres::start();
    pg.sql("CREATE TABLE counts (word text PRIMARY KEY, n bigint NOT NULL)");
    let data = temp_dir("flux-files");
    std::fs::create_dir_all(data.join("in")).unwrap();
    let lines: Vec<String> = (0..2000).map(line).collect();
    for (f, part) in lines.chunks(500).enumerate() {
        let mut text = part.join("\n");
        text.push('\n');
        std::fs::write(data.join(format!("in/part-{f}.txt")), text).unwrap();
    }
    let port = pg.port.to_string();
    let dir = data.display().to_string();
    let run = gale_with_env(
        &["run", &example("files-to-postgres.yaml")],
        &[
            ("PG_PORT", &port),
            ("PG_PASSWORD", Postgres::PASSWORD),
            ("DATA_DIR", &dir),
        ],
    );
    assert!(run.ok(), "gale failed: {}{}", run.stdout, run.stderr);
    let expected = count(&lines);
    let in_table: BTreeMap<String, i64> = pg
        .sql("SELECT word, n FROM counts ORDER BY word")
        .lines()
        .filter_map(|l| l.split_once('|'))
        .map(|(w, n)| (w.to_owned(), n.parse().unwrap_or(-1)))
        .collect();
    assert_eq!(in_table, expected);
    // HdfsBolt: `word,count` lines, one per count emitted, in
    // `files-{task}-{sequence}.csv` under out/; the highest per word is
    // its total.
    let mut in_files: BTreeMap<String, i64> = BTreeMap::new();
    let mut names = Vec::new();
    for e in std::fs::read_dir(data.join("out")).unwrap().flatten() {
        names.push(e.file_name().to_string_lossy().into_owned());
        for l in std::fs::read_to_string(e.path()).unwrap().lines() {
            let (w, n) = l.split_once(',').expect("a `word,count` line");
            let best = in_files.entry(w.to_owned()).or_insert(0);
            *best = (*best).max(n.parse().unwrap_or(-1));
        }
    }
    assert_eq!(in_files, expected);
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("files-") && n.ends_with(".csv")),
        "{names:?}"
    );
    let _ = std::fs::remove_dir_all(data);
}
