//! The connectors against real servers: a `redis-server` and a PostgreSQL
//! cluster started for each test on free loopback ports, and the real
//! `gale` binary running topology files.
//!
//! The word count: entries `{line: ...}` in a Redis stream → the
//! `redis-stream-spout` (consumer group, entry id as `id`) →
//! `split-keyed` (one `[id/position, word]` per word) → `postgres-bolt`
//! in `count` mode with `dedup_field: id` (two tasks, fields grouping on
//! the word). The counts in PostgreSQL must equal the test's own count of
//! the lines it wrote, also after `kill -9` of gale mid-run and a restart
//! (entries pending in the group are delivered again; words already
//! committed are skipped by their id, so nothing is lost or counted
//! twice), and after `redis-server` is restarted mid-run.
//!
//! The count into PostgreSQL reads a million entries, as the issue asks;
//! the kill and restart variants 50 000 (enough to be killed mid-run).
//! `GALE_CONNECTOR_ENTRIES` sets the stream's length of all of them.

mod util;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use util::gale_with_env;
use util::servers::{resp, temp_dir, Postgres, Redis};

/// How long one wait may take before the test fails.
const WATCHDOG: Duration = Duration::from_secs(120);

/// How long a whole run of the stream may take before the test fails: the
/// watchdog, and more for a longer stream (a million entries on a loaded
/// machine, with a debug build, takes longer than the watchdog alone).
fn run_watchdog(entries: u64) -> Duration {
    WATCHDOG + Duration::from_secs(entries / 4_000)
}

const WORDS: [&str; 16] = [
    "storm", "gale", "redis", "stream", "tuple", "bolt", "spout", "ack", "wind", "rain", "cloud",
    "sky", "sun", "moon", "star", "sea",
];

/// Line `i` of the stream: 1 to 6 words, pseudo-random but fixed.
fn line(i: u64) -> String {
    let mut x = i
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let n = 1 + (x >> 60) % 6;
    let mut words = Vec::new();
    for _ in 0..n {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        words.push(WORDS[((x >> 33) % WORDS.len() as u64) as usize]);
    }
    words.join(" ")
}

/// The stream's length: `GALE_CONNECTOR_ENTRIES`, or `default`.
fn entries_or(default: u64) -> u64 {
    std::env::var("GALE_CONNECTOR_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The length of the kill and restart variants' streams.
fn entries() -> u64 {
    entries_or(50_000)
}

/// Writes `n` lines to `stream` and returns the words' counts, counted
/// here (independently of gale).
fn fill(redis: &Redis, stream: &str, n: u64) -> BTreeMap<String, i64> {
    let mut counts = BTreeMap::new();
    let mut cmds = Vec::new();
    for i in 0..n {
        let l = line(i);
        for w in l.split_whitespace() {
            *counts.entry(w.to_owned()).or_insert(0) += 1;
        }
        resp(
            &mut cmds,
            &[b"XADD", stream.as_bytes(), b"*", b"line", l.as_bytes()],
        );
    }
    redis.pipe(&cmds);
    assert_eq!(
        redis.cli(&["XLEN", stream]).map(|s| s.trim().to_owned()),
        Some(n.to_string())
    );
    counts
}

fn counts_in(pg: &Postgres) -> BTreeMap<String, i64> {
    pg.sql("SELECT word, n FROM counts ORDER BY word")
        .lines()
        .filter_map(|l| {
            let (w, n) = l.split_once('|')?;
            Some((w.to_owned(), n.parse().ok()?))
        })
        .collect()
}

fn total_in(pg: &Postgres) -> i64 {
    pg.sql("SELECT coalesce(sum(n), 0) FROM counts")
        .trim()
        .parse()
        .unwrap_or(0)
}

/// The word-count topology file for these servers, the spout with
/// `delivery` (`group` or `offset`).
fn topology(
    redis: &Redis,
    pg: &Postgres,
    stream: &str,
    dir: &std::path::Path,
    delivery: &str,
) -> String {
    let yaml = format!(
        "name: stream-wordcount
config:
  ackers: 1
  max_spout_pending: 4000
  message_timeout_secs: 30
spouts:
  - id: events
    builtin: redis-stream-spout
    args:
      url: {redis}
      stream: {stream}
      group: wc
      start: \"0\"
      fields: [line]
      id_field: id
      until_idle: true
      delivery: {delivery}
bolts:
  - id: split
    builtin: split-keyed
  - id: sink
    builtin: postgres-bolt
    parallelism: 2
    args:
      url: {pg}
      password_env: GALE_TEST_PG_PASSWORD
      table: counts
      columns: [word]
      mode: count
      count_column: n
      dedup_field: id
streams:
  - {{from: events, to: split, grouping: shuffle}}
  - {{from: split, to: sink, grouping: {{type: fields, fields: [word]}}}}
",
        redis = redis.url(),
        pg = pg.url(),
    );
    let path = dir.join("topology.yaml");
    std::fs::write(&path, yaml).expect("write the topology file");
    path.display().to_string()
}

const PG_ENV: (&str, &str) = ("GALE_TEST_PG_PASSWORD", Postgres::PASSWORD);

fn servers() -> (Redis, Postgres) {
    let (redis, pg) = (Redis::start(), Postgres::start());
    pg.sql("CREATE TABLE counts (word text PRIMARY KEY, n bigint NOT NULL)");
    (redis, pg)
}

/// A gale process whose stderr is kept (and whose metrics URL is read
/// from it); killed when dropped.
struct Gale {
    child: Child,
    stderr: Arc<Mutex<String>>,
}

impl Gale {
    fn spawn(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_gale"))
            .args(args)
            .env(PG_ENV.0, PG_ENV.1)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn gale");
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().expect("piped stderr");
        let kept = Arc::clone(&stderr);
        thread::spawn(move || {
            for l in BufReader::new(pipe).lines() {
                let Ok(l) = l else { break };
                let mut s = kept.lock().unwrap();
                s.push_str(&l);
                s.push('\n');
            }
        });
        Gale { child, stderr }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn metrics_url(&self) -> String {
        let url = wait_for("the metrics URL", || {
            self.stderr()
                .lines()
                .find_map(|l| l.strip_prefix("gale: metrics on ").map(str::to_owned))
        });
        format!("{}/metrics", url.trim().trim_end_matches('/'))
    }

    /// Waits for it to exit by itself; its exit code.
    fn wait(&mut self) -> Option<i32> {
        self.wait_up_to(WATCHDOG)
    }

    /// [`wait`](Self::wait), failing the test after `limit`.
    fn wait_up_to(&mut self, limit: Duration) -> Option<i32> {
        let start = Instant::now();
        let status = loop {
            if let Some(s) = self.child.try_wait().ok().flatten() {
                break s;
            }
            assert!(
                start.elapsed() < limit,
                "watchdog: gale still running after {limit:?}; it said:\n{}",
                self.stderr()
            );
            thread::sleep(Duration::from_millis(20));
        };
        thread::sleep(Duration::from_millis(100)); // the stderr reader's last lines
        status.code()
    }
}

impl Drop for Gale {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `f` until it gives a value, failing the test after the watchdog.
fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < WATCHDOG,
            "watchdog: no {what} after {WATCHDOG:?}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_redis_stream_counted_into_postgres_equals_an_independent_count() {
    let (redis, pg) = servers();
    let n = entries_or(1_000_000);
    let expected = fill(&redis, "lines", n);
    let dir = temp_dir("conn-wc");
    let topo = topology(&redis, &pg, "lines", &dir, "group");
    let mut run = Gale::spawn(&["run", &topo]);
    assert_eq!(
        run.wait_up_to(run_watchdog(n)),
        Some(0),
        "gale failed: {}",
        run.stderr()
    );
    assert_eq!(counts_in(&pg), expected);
    // Every word recorded once; nothing left pending in the group.
    let words: i64 = expected.values().sum();
    assert_eq!(
        pg.sql("SELECT count(*) FROM counts_seen").trim(),
        words.to_string()
    );
    let pending = redis.cli(&["XPENDING", "lines", "wc"]).unwrap_or_default();
    assert!(
        pending.starts_with("0\n"),
        "entries left pending: {pending}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn kill_9_mid_run_and_a_restart_lose_nothing_and_count_nothing_twice() {
    kill_9_and_restart("group");
}

#[test]
fn kill_9_with_offset_delivery_and_a_restart_lose_nothing_and_count_nothing_twice() {
    kill_9_and_restart("offset");
}

/// Runs the word count with the spout's `delivery`, kills gale with
/// SIGKILL once a quarter of the words are in PostgreSQL, runs it again:
/// the counts must be exact.
fn kill_9_and_restart(delivery: &str) {
    let (redis, pg) = servers();
    let n = entries();
    let expected = fill(&redis, "lines", n);
    let words: i64 = expected.values().sum();
    let dir = temp_dir("conn-kill");
    let topo = topology(&redis, &pg, "lines", &dir, delivery);
    let mut first = Gale::spawn(&["run", &topo]);
    wait_for("a quarter of the words in PostgreSQL", || {
        (total_in(&pg) >= words / 4).then_some(())
    });
    first.child.kill().expect("kill -9 gale"); // SIGKILL
    let _ = first.child.wait();
    let at_kill = total_in(&pg);
    assert!(
        at_kill < words,
        "the run ended before the kill ({at_kill} of {words} words): raise GALE_CONNECTOR_ENTRIES"
    );
    // Group delivery: entries delivered to the dead process and not
    // acked wait in the group's pending list. Offset delivery: the
    // group's last-delivered id is just before the oldest entry the dead
    // process had not seen acked.
    let pending: u64 = redis
        .cli(&["XPENDING", "lines", "wc"])
        .and_then(|s| s.lines().next().and_then(|l| l.trim().parse().ok()))
        .unwrap_or(0);
    eprintln!("killed at {at_kill} of {words} words; {pending} entries pending");
    let mut run = Gale::spawn(&["run", &topo]);
    let code = run.wait_up_to(run_watchdog(n));
    assert_eq!(code, Some(0), "the restarted gale failed: {}", run.stderr());
    assert_eq!(counts_in(&pg), expected, "counts after kill -9 and restart");
    assert_eq!(
        pg.sql("SELECT count(*) FROM counts_seen").trim(),
        words.to_string()
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_redis_restart_mid_run_is_survived_and_shows_in_the_metrics() {
    let (mut redis, pg) = servers();
    let n = entries();
    let expected = fill(&redis, "lines", n);
    let words: i64 = expected.values().sum();
    let dir = temp_dir("conn-restart");
    let topo = topology(&redis, &pg, "lines", &dir, "group");
    let mut gale = Gale::spawn(&["run", &topo, "--metrics-addr", "127.0.0.1:0"]);
    let metrics = gale.metrics_url();
    wait_for("a quarter of the words in PostgreSQL", || {
        (total_in(&pg) >= words / 4).then_some(())
    });
    redis.restart();
    let at_restart = total_in(&pg);
    // The spout reconnects; the metrics say so.
    let reconnected = |text: &str| {
        text.lines().any(|l| {
            l.starts_with("gale_connector_reconnects_total{")
                && l.contains("component=\"events\"")
                && !l.ends_with(" 0")
        })
    };
    let start = Instant::now();
    let text = loop {
        let text = gale::monitor::get(&metrics, Duration::from_secs(5))
            .map(|(_, body)| String::from_utf8_lossy(&body).into_owned())
            .unwrap_or_default();
        if reconnected(&text) {
            break text;
        }
        assert!(
            start.elapsed() < WATCHDOG,
            "watchdog: no reconnect in /metrics; gale said:\n{}\nmetrics:\n{text}",
            gale.stderr()
        );
        thread::sleep(Duration::from_millis(50));
    };
    for name in [
        "gale_connector_lag{",
        "gale_connector_batch_items_total{",
        "gale_connector_errors_total{",
        "gale_connector_pending{",
    ] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(name) && l.contains("connector=\"redis-stream-spout\"")),
            "{name} missing from /metrics:\n{text}"
        );
    }
    assert!(
        text.lines()
            .any(|l| l.starts_with("gale_connector_batch_items_total{")
                && l.contains("connector=\"postgres-bolt\"")),
        "the postgres bolt's batches missing from /metrics:\n{text}"
    );
    assert_eq!(gale.wait(), Some(0), "gale failed: {}", gale.stderr());
    assert!(at_restart < words, "the run ended before the restart");
    assert!(
        gale.stderr().contains("reconnected to redis://127.0.0.1:"),
        "{}",
        gale.stderr()
    );
    assert_eq!(counts_in(&pg), expected, "counts after a redis restart");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn an_entry_with_other_fields_is_reported_by_connector_component_and_key_and_kept() {
    let (redis, pg) = servers();
    let dir = temp_dir("conn-bad");
    for (round, delivery) in [(1, "group"), (2, "offset")] {
        let key = format!("odd-{delivery}");
        let k = key.as_bytes();
        // Other ids each round: `dedup_field` keeps the ids of the words
        // written.
        let id = |i: u32| format!("{round}-{i}").into_bytes();
        let mut cmds = Vec::new();
        resp(&mut cmds, &[b"XADD", k, &id(1), b"line", b"storm gale"]);
        resp(&mut cmds, &[b"XADD", k, &id(2), b"text", b"not a line"]);
        resp(&mut cmds, &[b"XADD", k, &id(3), b"line", b"storm"]);
        redis.pipe(&cmds);
        let topo = topology(&redis, &pg, &key, &dir, delivery);
        let run = gale_with_env(&["run", &topo], &[PG_ENV]);
        assert!(
            run.ok(),
            "gale failed ({delivery}): {}{}",
            run.stdout,
            run.stderr
        );
        let want = format!(
            "redis-stream-spout `events`: stream `{key}` entry {round}-2: fields [\"text\"] do not \
             match the declared fields [\"line\"]"
        );
        assert!(run.stderr.contains(&want), "{delivery}: {}", run.stderr);
        let counts = counts_in(&pg);
        assert_eq!(counts.get("storm"), Some(&(2 * round)), "{delivery}");
        assert_eq!(counts.get("gale"), Some(&round), "{delivery}");
        // Kept, not lost: copied to the dead-letter stream with the
        // reason.
        let dead = redis
            .cli(&["XRANGE", &format!("{key}:dead"), "-", "+"])
            .unwrap_or_default();
        assert!(
            dead.contains(&format!("{round}-2")) && dead.contains("not a line"),
            "{delivery}: {dead}"
        );
        assert!(dead.contains("do not match"), "{delivery}: {dead}");
        // Everything is done: nothing pending (group), the position past
        // the last entry (offset).
        let groups = redis.cli(&["XINFO", "GROUPS", &key]).unwrap_or_default();
        let lines: Vec<&str> = groups.lines().collect();
        let after = |name: &str| {
            lines
                .iter()
                .position(|l| *l == name)
                .and_then(|i| lines.get(i + 1))
                .copied()
        };
        assert_eq!(after("pending"), Some("0"), "{delivery}: {groups}");
        let last = format!("{round}-3");
        assert_eq!(
            after("last-delivered-id"),
            Some(last.as_str()),
            "{delivery}: {groups}"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn unreachable_servers_and_wrong_credentials_are_named_in_errors() {
    let pg = Postgres::start();
    pg.sql("CREATE TABLE counts (word text PRIMARY KEY, n bigint NOT NULL)");
    let locked = Redis::start_with(Some("right-pw"));
    let nowhere = util::servers::free_port();
    let dir = temp_dir("conn-creds");
    let yaml = |redis_url: &str, redis_pw: &str, pg_pw: &str| {
        format!(
            "name: creds
spouts:
  - id: events
    builtin: redis-stream-spout
    args: {{url: \"{redis_url}\", {redis_pw} stream: s, group: g, fields: [line], id_field: id}}
bolts:
  - id: split
    builtin: split-keyed
  - id: sink
    builtin: postgres-bolt
    args: {{url: \"{pg}\", password_env: {pg_pw}, table: counts, columns: [word], mode: count, count_column: n}}
streams:
  - {{from: events, to: split, grouping: shuffle}}
  - {{from: split, to: sink, grouping: shuffle}}
",
            pg = pg.url()
        )
    };
    // Nothing listens on the Redis port; PostgreSQL gets a wrong password.
    let path = dir.join("unreachable.yaml");
    std::fs::write(
        &path,
        yaml(&format!("redis://127.0.0.1:{nowhere}"), "", "WRONG_PG_PW"),
    )
    .unwrap();
    let run = gale_with_env(
        &["run", path.to_str().unwrap(), "--duration", "2"],
        &[("WRONG_PG_PW", "not-the-password")],
    );
    let want =
        format!("redis-stream-spout `events`: cannot connect to redis://127.0.0.1:{nowhere}");
    assert!(run.stderr.contains(&want), "{want} not in:\n{}", run.stderr);
    let want = format!("postgres-bolt `sink`: cannot connect to {}", pg.url());
    assert!(run.stderr.contains(&want), "{want} not in:\n{}", run.stderr);
    assert!(
        run.stderr.contains("password authentication failed"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("not-the-password"), "{}", run.stderr);
    // A Redis that wants a password gets a wrong one.
    let path = dir.join("wrongpass.yaml");
    std::fs::write(
        &path,
        yaml(
            &locked.url(),
            "password_env: WRONG_REDIS_PW,",
            "GALE_TEST_PG_PASSWORD",
        ),
    )
    .unwrap();
    let run = gale_with_env(
        &["run", path.to_str().unwrap(), "--duration", "2"],
        &[("WRONG_REDIS_PW", "nope-nope"), PG_ENV],
    );
    let want = format!(
        "redis-stream-spout `events`: cannot connect to {}",
        locked.url()
    );
    assert!(run.stderr.contains(&want), "{want} not in:\n{}", run.stderr);
    assert!(
        run.stderr.to_lowercase().contains("authentication failed"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("nope-nope"), "{}", run.stderr);
    // A literal URL with a password is refused before anything runs.
    let path = dir.join("literal.yaml");
    std::fs::write(&path, yaml("redis://:secret@127.0.0.1:1", "", "X")).unwrap();
    let run = gale_with_env(&["validate", path.to_str().unwrap()], &[]);
    assert!(!run.ok());
    assert!(
        run.stderr
            .contains("redis-stream-spout `events`: configuration key `url`: holds a password"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("secret"), "{}", run.stderr);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_lookup_bolts_name_an_unreachable_server_and_wrong_credentials() {
    let pg = Postgres::start();
    let nowhere = util::servers::free_port();
    let dir = temp_dir("conn-lookup-bad");
    let input = dir.join("in");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::write(input.join("ids.txt"), "1\n2\n").unwrap();
    let path = dir.join("lookups.yaml");
    std::fs::write(
        &path,
        format!(
            "name: lookups
config: {{ackers: 1}}
spouts:
  - {{id: ids, builtin: file-spout, args: {{dir: \"{input}\", field: id}}}}
bolts:
  - id: price
    builtin: redis-lookup
    args: {{url: \"redis://127.0.0.1:{nowhere}\", command: get, key_field: id}}
  - id: product
    builtin: postgres-lookup
    args: {{url: \"{pg}\", password_env: WRONG_PG_PW, query: \"SELECT 1\", params: [],
           columns: [one], fields: [id]}}
streams:
  - {{from: ids, to: price, grouping: shuffle}}
  - {{from: ids, to: product, grouping: shuffle}}
",
            input = input.display(),
            pg = pg.url()
        ),
    )
    .unwrap();
    let run = gale_with_env(
        &["run", path.to_str().unwrap(), "--duration", "2"],
        &[("WRONG_PG_PW", "not-the-password")],
    );
    let want = format!("redis-lookup `price`: cannot connect to redis://127.0.0.1:{nowhere}");
    assert!(run.stderr.contains(&want), "{want} not in:\n{}", run.stderr);
    let want = format!("postgres-lookup `product`: cannot connect to {}", pg.url());
    assert!(run.stderr.contains(&want), "{want} not in:\n{}", run.stderr);
    assert!(
        run.stderr.contains("password authentication failed"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("not-the-password"), "{}", run.stderr);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_redis_bolt_writes_hashes_and_counters_and_acks_after_the_replies() {
    let redis = Redis::start();
    let mut cmds = Vec::new();
    for l in ["storm gale", "gale", "sea"] {
        resp(&mut cmds, &[b"XADD", b"in", b"*", b"line", l.as_bytes()]);
    }
    redis.pipe(&cmds);
    let dir = temp_dir("conn-store");
    let path = dir.join("store.yaml");
    let url = redis.url();
    std::fs::write(
        &path,
        format!(
            "name: store
spouts:
  - id: events
    builtin: redis-stream-spout
    args: {{url: \"{url}\", stream: in, group: g, start: \"0\", fields: [line], id_field: id, until_idle: true}}
bolts:
  - id: split
    builtin: split-keyed
  - id: counters
    builtin: redis-bolt
    args: {{url: \"{url}\", command: incrby, key_field: word, key_prefix: \"wc:\"}}
  - id: last
    builtin: redis-bolt
    args: {{url: \"{url}\", command: hset, key: last, key_field: word, value_field: id}}
streams:
  - {{from: events, to: split, grouping: shuffle}}
  - {{from: split, to: counters, grouping: shuffle}}
  - {{from: split, to: last, grouping: shuffle}}
"
        ),
    )
    .unwrap();
    let run = gale_with_env(&["run", path.to_str().unwrap()], &[]);
    assert!(run.ok(), "gale failed: {}", run.stderr);
    let get = |k: &str| redis.cli(&["GET", k]).map(|s| s.trim().to_owned());
    assert_eq!(get("wc:gale").as_deref(), Some("2"));
    assert_eq!(get("wc:storm").as_deref(), Some("1"));
    assert_eq!(get("wc:sea").as_deref(), Some("1"));
    let last = redis.cli(&["HGETALL", "last"]).unwrap_or_default();
    assert!(last.contains("storm") && last.contains("sea"), "{last}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_redis_lookup_bolt_enriches_tuples_with_get_and_hget() {
    let redis = Redis::start();
    let mut cmds = Vec::new();
    for w in ["storm", "gale", "sea", "storm"] {
        resp(&mut cmds, &[b"XADD", b"words", b"*", b"word", w.as_bytes()]);
    }
    resp(&mut cmds, &[b"SET", b"price:storm", b"3"]);
    resp(&mut cmds, &[b"SET", b"price:gale", b"5"]);
    resp(
        &mut cmds,
        &[b"HSET", b"colour", b"storm", b"grey", b"sea", b"blue"],
    );
    redis.pipe(&cmds);
    let dir = temp_dir("conn-lookup");
    let out = dir.join("out");
    let path = dir.join("lookup.yaml");
    let url = redis.url();
    std::fs::write(
        &path,
        format!(
            "name: lookup
config: {{ackers: 1}}
spouts:
  - id: events
    builtin: redis-stream-spout
    args: {{url: \"{url}\", stream: words, group: g, start: \"0\", fields: [word], until_idle: true}}
bolts:
  - id: price
    builtin: redis-lookup
    args: {{url: \"{url}\", command: get, key_prefix: \"price:\", key_field: word, output_field: price}}
  - id: colour
    builtin: redis-lookup
    args: {{url: \"{url}\", command: hget, key: colour, key_field: word, fields: [word, price],
           output_field: colour}}
  - id: out
    builtin: file-sink
    args: {{dir: \"{out}\", separator: \" \"}}
streams:
  - {{from: events, to: price, grouping: shuffle}}
  - {{from: price, to: colour, grouping: shuffle}}
  - {{from: colour, to: out, grouping: shuffle}}
",
            out = out.display()
        ),
    )
    .unwrap();
    let run = gale_with_env(&["run", path.to_str().unwrap()], &[]);
    assert!(run.ok(), "gale failed: {}", run.stderr);
    let mut lines: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .flat_map(|e| {
            std::fs::read_to_string(e.path())
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    lines.sort();
    // A missing key or hash field is a null (written as nothing).
    assert_eq!(
        lines,
        ["gale 5 ", "sea  blue", "storm 3 grey", "storm 3 grey"],
        "{}",
        run.stderr
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_postgres_lookup_bolt_emits_the_rows_of_a_query_per_tuple() {
    let (redis, pg) = servers();
    pg.sql(
        "CREATE TABLE products (id int PRIMARY KEY, name text, price float8);
         INSERT INTO products VALUES (1, 'apple', 1.5), (2, 'pear', 2), (3, NULL, NULL)",
    );
    let mut cmds = Vec::new();
    for id in ["1", "2", "1", "9", "3"] {
        resp(&mut cmds, &[b"XADD", b"ids", b"*", b"id", id.as_bytes()]);
    }
    redis.pipe(&cmds);
    let dir = temp_dir("conn-pglookup");
    let out = dir.join("out");
    let path = dir.join("pglookup.yaml");
    let (r, p) = (redis.url(), pg.url());
    std::fs::write(
        &path,
        format!(
            "name: pglookup
config: {{ackers: 1}}
spouts:
  - id: events
    builtin: redis-stream-spout
    args: {{url: \"{r}\", stream: ids, group: g, start: \"0\", fields: [id], until_idle: true}}
bolts:
  - id: product
    builtin: postgres-lookup
    args: {{url: \"{p}\", password_env: GALE_TEST_PG_PASSWORD,
           query: \"SELECT name, price FROM products WHERE id = $1\", params: [id],
           columns: [name, price], cache_size: 2}}
  - id: out
    builtin: file-sink
    args: {{dir: \"{out}\", separator: \" \"}}
streams:
  - {{from: events, to: product, grouping: shuffle}}
  - {{from: product, to: out, grouping: shuffle}}
",
            out = out.display()
        ),
    )
    .unwrap();
    let run = gale_with_env(&["run", path.to_str().unwrap()], &[PG_ENV]);
    assert!(run.ok(), "gale failed: {}", run.stderr);
    let mut lines: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .flat_map(|e| {
            std::fs::read_to_string(e.path())
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    lines.sort();
    // No row for 9: nothing emitted; NULLs as nothing.
    assert_eq!(
        lines,
        ["1 apple 1.5", "1 apple 1.5", "2 pear 2", "3  "],
        "{}",
        run.stderr
    );
    // A query that does not fit its declared columns is named.
    std::fs::write(
        &path,
        format!(
            "name: badlookup
spouts:
  - {{id: events, builtin: redis-stream-spout, args: {{url: \"{r}\", stream: ids, group: g2, start: \"0\", fields: [id]}}}}
bolts:
  - id: product
    builtin: postgres-lookup
    args: {{url: \"{p}\", password_env: GALE_TEST_PG_PASSWORD,
           query: \"SELECT name FROM products WHERE id = $1\", params: [id], columns: [name, price]}}
streams:
  - {{from: events, to: product, grouping: shuffle}}
"
        ),
    )
    .unwrap();
    let run = gale_with_env(
        &["run", path.to_str().unwrap(), "--duration", "2"],
        &[PG_ENV],
    );
    assert!(
        run.stderr.contains(
            "postgres-lookup `product`: query `SELECT name FROM products WHERE id = $1` on"
        ) && run
            .stderr
            .contains("it returns 1 columns, `columns` names 2"),
        "{}",
        run.stderr
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_postgres_bolt_converts_values_for_typed_columns_and_names_one_that_does_not_fit() {
    let (redis, pg) = servers();
    pg.sql(
        "CREATE TABLE readings (sensor text, value bigint, ratio float8, ok bool);
         CREATE TABLE kept (sensor text, value bigint);
         CREATE TABLE latest (sensor text PRIMARY KEY, value bigint)",
    );
    let mut cmds = Vec::new();
    for (sensor, value) in [("a", "1"), ("b", "2"), ("a", "3"), ("c", "abc")] {
        resp(
            &mut cmds,
            &[
                b"XADD",
                b"r",
                b"*",
                b"sensor",
                sensor.as_bytes(),
                b"value",
                value.as_bytes(),
            ],
        );
    }
    redis.pipe(&cmds);
    let dir = temp_dir("conn-typed");
    let path = dir.join("typed.yaml");
    let (r, p) = (redis.url(), pg.url());
    std::fs::write(
        &path,
        format!(
            "name: typed
spouts:
  - id: events
    builtin: redis-stream-spout
    args: {{url: \"{r}\", stream: r, group: g, start: \"0\", fields: [sensor, value]}}
  - id: events2
    builtin: redis-stream-spout
    args: {{url: \"{r}\", stream: r, group: g2, start: \"0\", fields: [sensor, value]}}
bolts:
  - id: all
    builtin: postgres-bolt
    args: {{url: \"{p}\", password_env: GALE_TEST_PG_PASSWORD, table: readings,
            columns: [sensor, value, ratio], fields: [sensor, value, value], batch: 2}}
  - id: last
    builtin: postgres-bolt
    args: {{url: \"{p}\", password_env: GALE_TEST_PG_PASSWORD, table: latest,
            columns: [sensor, value], mode: upsert, key: [sensor]}}
  - id: kept
    builtin: postgres-bolt
    args: {{url: \"{p}\", password_env: GALE_TEST_PG_PASSWORD, table: kept,
            columns: [sensor, value], dead_letter: kept_dead}}
streams:
  - {{from: events, to: all, grouping: shuffle}}
  - {{from: events2, to: kept, grouping: shuffle}}
  - {{from: events, to: last, grouping: {{type: fields, fields: [sensor]}}}}
"
        ),
    )
    .unwrap();
    let run = gale_with_env(
        &["run", path.to_str().unwrap(), "--duration", "3"],
        &[PG_ENV],
    );
    assert!(run.ok(), "gale failed: {}", run.stderr);
    // Good rows written once each (the bad one is failed, so replayed,
    // and never written); text converted for bigint and float8.
    assert_eq!(
        pg.sql("SELECT sensor, value, ratio FROM readings ORDER BY value"),
        "a|1|1\nb|2|2\na|3|3\n"
    );
    assert_eq!(
        pg.sql("SELECT sensor, value FROM latest ORDER BY sensor"),
        "a|3\nb|2\n"
    );
    assert!(
        run.stderr.contains(
            "postgres-bolt `all`: field `value` for column `value` of table `readings`: \
             `abc` is not an integer"
        ),
        "{}",
        run.stderr
    );
    // With a dead-letter table (and a spout of its own: `all` fails the
    // bad tuple, replaying its whole tree) the bad input is kept there
    // once (acked, not replayed) and the good ones written.
    assert_eq!(
        pg.sql("SELECT sensor, value FROM kept ORDER BY value"),
        "a|1\nb|2\na|3\n"
    );
    let dead = pg.sql("SELECT component, error, tuple FROM kept_dead");
    assert_eq!(dead.lines().count(), 1, "{dead}");
    assert!(
        dead.starts_with(
            "kept|postgres-bolt `kept`: field `value` for column `value` of table \
                          `kept`: `abc` is not an integer|"
        ) && dead.contains("abc"),
        "{dead}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
