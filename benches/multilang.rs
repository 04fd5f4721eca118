//! Multi-lang overhead: the pystorm split bolt of `examples/python` under
//! Gale, against the same bolt fed by a minimal driver over a pipe, in one
//! run; then how Gale's throughput scales with 1, 2 and 4 subprocesses;
//! then the protocols compared: the same split-bolt class (pystorm's and
//! streamparse's) in one process under Storm's JSON, Storm's msgpack and
//! Gale's batched protocol (`python -m gale.run`), and a Python spout under
//! the batched protocol.
//!
//! ```text
//! cargo bench --bench multilang                       # 50 000 sentences per case
//! cargo bench --bench multilang -- --sentences 2000   # a quick check
//! cargo bench --bench multilang -- --protocols        # the protocol comparison only
//! ```
//!
//! In the comparison each case runs `--runs` times (default 3, median
//! shown); the batched cases get 10× the sentences (msgpack 2×) so every
//! case runs for a similar time, start-up of the child included.
//!
//! Under `cargo test --all-targets` (no `--bench` argument) it runs one
//! small untimed case of each kind, to check that it works.
//!
//! The Python interpreter is `$GALE_PYTHON`, else the one
//! `scripts/python-env` makes. Each case spawns fresh children; times
//! include starting them (a few hundred ms of Python imports, small next
//! to the default run). The driver keeps at most 100 tuples in flight per
//! child, as Gale's shell bolt does by default (`max_pending`), writes
//! Storm's JSON framing and counts the child's acks; under Gale the
//! sentences come from a Rust spout and the words go to the Rust count
//! bolt, with acking off (the child still acks every tuple).

#[path = "../tests/util/python_env.rs"]
mod python_env;

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use gale::builtin::wordcount::{CountBolt, CountSink, SentenceSpout, SENTENCES};
use gale::engine::{LocalCluster, RunConfig, TopologyBuilder, TopologyStats};
use gale::multilang::{Serializer, ShellBolt, ShellConfig, ShellSpout};

const WINDOW: u64 = 100;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_owned()
}

fn python() -> String {
    python_env::python_at(&repo())
}

fn split_bolt() -> String {
    repo()
        .join("examples/python/split_bolt.py")
        .display()
        .to_string()
}

/// Feeds `sentences` sentences to one child over its pipes, at most
/// `WINDOW` unacked; returns once all are acked.
fn drive(python: &str, sentences: u64) {
    static DRIVERS: AtomicU64 = AtomicU64::new(0);
    // SYNC: Relaxed: a counter for unique names only.
    let n = DRIVERS.fetch_add(1, Ordering::Relaxed);
    let pid_dir =
        std::env::temp_dir().join(format!("gale-bench-driver-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&pid_dir).unwrap();
    let mut child = Command::new(python)
        .args([split_bolt(), "json".to_owned()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the split bolt");
    let mut input = BufWriter::new(child.stdin.take().unwrap());
    let output = BufReader::new(child.stdout.take().unwrap());
    let handshake = format!(
        "{{\"conf\": {{}}, \"context\": {{\"taskid\": 1, \"componentid\": \"split\", \
         \"task->component\": {{\"1\": \"split\"}}}}, \"pidDir\": {:?}}}\nend\n",
        pid_dir.display().to_string()
    );
    input.write_all(handshake.as_bytes()).unwrap();
    input.flush().unwrap();
    let acked = Arc::new(AtomicU64::new(0));
    let reader = {
        let acked = Arc::clone(&acked);
        thread::spawn(move || {
            let mut ack = false;
            for line in output.lines() {
                let Ok(line) = line else { return };
                if line == "end" {
                    if ack {
                        // SYNC: Release pairs with the driver's Acquire load.
                        acked.fetch_add(1, Ordering::Release);
                    }
                    ack = false;
                } else if line.contains("\"command\": \"ack\"") {
                    ack = true;
                }
            }
        })
    };
    let mut sent = 0u64;
    while sent < sentences || acked.load(Ordering::Acquire) < sentences {
        let done = acked.load(Ordering::Acquire);
        while sent < sentences && sent - done < WINDOW {
            let s = SENTENCES[(sent % SENTENCES.len() as u64) as usize];
            writeln!(
                input,
                "{{\"id\": \"{sent}\", \"comp\": \"spout\", \"stream\": \"default\", \
                 \"task\": 1, \"tuple\": [\"{s}\"]}}\nend"
            )
            .unwrap();
            sent += 1;
        }
        input.flush().unwrap();
        assert!(!reader.is_finished(), "the driven child exited early");
        thread::yield_now();
    }
    drop(input);
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    let _ = std::fs::remove_dir_all(&pid_dir);
}

/// `procs` drivers in parallel, `sentences` in all; returns sentences/s.
fn driver_rate(python: &str, sentences: u64, procs: u64) -> f64 {
    let start = Instant::now();
    let handles: Vec<_> = (0..procs)
        .map(|_| {
            let python = python.to_owned();
            thread::spawn(move || drive(&python, sentences / procs))
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    (sentences / procs * procs) as f64 / start.elapsed().as_secs_f64()
}

/// The split bolt under Gale with `procs` tasks; returns sentences/s.
fn gale_rate(python: &str, sentences: u64, procs: usize) -> f64 {
    let split =
        ShellConfig::new(python, [split_bolt(), "json".to_owned()]).stream("default", ["word"]);
    split_rate(split, sentences, procs)
}

/// The `gale` package of this repository importable by the child.
fn with_package(mut config: ShellConfig) -> ShellConfig {
    config.env.push((
        "PYTHONPATH".to_owned(),
        repo().join("python").display().to_string(),
    ));
    config.working_dir(repo().join("examples/python"))
}

/// The same split-bolt class in one process under one protocol.
#[derive(Clone, Copy, Debug)]
enum Case {
    StormJson,
    StormMsgpack,
    Batched,
}

fn split_config(python: &str, case: Case, streamparse: bool) -> ShellConfig {
    let class = if streamparse {
        "streamparse_split.SplitBolt"
    } else {
        "split_bolt:SplitBolt"
    };
    let config = match case {
        // pystorm's and streamparse's own launchers speak Storm's protocol.
        Case::StormJson | Case::StormMsgpack => {
            let serializer = match case {
                Case::StormJson => Serializer::Json,
                _ => Serializer::Msgpack,
            };
            let args: Vec<String> = if streamparse {
                vec!["-m".into(), "streamparse.run".into(), class.into()]
            } else {
                vec![split_bolt()]
            };
            let mut args = args;
            if streamparse {
                args.push("--serializer".into());
            }
            args.push(serializer.name().into());
            ShellConfig::new(python, args).serializer(serializer)
        }
        Case::Batched => ShellConfig::python(python, class),
    };
    with_package(config).stream("default", ["word"])
}

/// A Python spout (examples/python/word_spout.py) under the batched
/// protocol for `secs` seconds into Gale's count bolt; returns tuples/s.
fn spout_rate(python: &str, secs: u64) -> f64 {
    let spout = with_package(ShellConfig::python(python, "word_spout:WordSpout"))
        .stream("default", ["word"]);
    let counts = CountSink::new();
    let sink = counts.clone();
    let mut b = TopologyBuilder::new("multilang-spout-bench");
    b.set_num_ackers(0);
    b.set_spout("words", move || ShellSpout::new(spout.clone()), 1);
    b.set_bolt("count", move || CountBolt::new(sink.clone()), 1)
        .shuffle_grouping("words");
    let stats = run(b, 2, Duration::from_secs(secs));
    let words: u64 = counts.snapshot().values().sum();
    words as f64 / stats.elapsed.as_secs_f64()
}

/// Runs the topology on `threads` unpinned threads for at most
/// `duration`; checks it reported no error.
fn run(builder: TopologyBuilder, threads: usize, duration: Duration) -> TopologyStats {
    let config = RunConfig {
        threads,
        pin: false,
        duration: Some(duration),
        ..RunConfig::default()
    };
    let stats = LocalCluster::new(config)
        .submit(builder.build().unwrap())
        .unwrap()
        .wait()
        .unwrap();
    assert!(stats.errors.is_empty(), "{:?}", stats.errors);
    stats
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// The protocol comparison: one process, the same class, one run.
fn protocols(python: &str, sentences: u64, runs: usize) {
    println!(
        "multilang protocols: one split-bolt process, input sentences/s, median of {runs} runs"
    );
    println!(
        "{:>12} {:>12} {:>12} {:>12} {:>10} {:>10}",
        "class", "storm-json", "storm-msgp", "batched", "vs json", "vs msgp"
    );
    for streamparse in [false, true] {
        let mut rates = Vec::new();
        for (case, scale) in [
            (Case::StormJson, 1),
            (Case::StormMsgpack, 2),
            (Case::Batched, 10),
        ] {
            let n = sentences * scale;
            let runs = (0..runs)
                .map(|_| split_rate(split_config(python, case, streamparse), n, 1))
                .collect();
            rates.push(median(runs));
        }
        println!(
            "{:>12} {:>12.0} {:>12.0} {:>12.0} {:>9.1}x {:>9.1}x",
            if streamparse {
                "streamparse"
            } else {
                "pystorm"
            },
            rates[0],
            rates[1],
            rates[2],
            rates[2] / rates[0],
            rates[2] / rates[1]
        );
    }
    let spout = median((0..runs).map(|_| spout_rate(python, 5)).collect());
    println!(
        "python spout, batched, one process: {spout:.0} tuples/s (5 s runs, start-up included)"
    );
}

/// A word count through `split` with `procs` tasks; returns sentences/s.
fn split_rate(split: ShellConfig, sentences: u64, procs: usize) -> f64 {
    let counts = CountSink::new();
    let sink = counts.clone();
    let mut b = TopologyBuilder::new("multilang-bench");
    b.set_num_ackers(0);
    b.set_spout("spout", move || SentenceSpout::new(Some(sentences)), 1);
    b.set_bolt("split", move || ShellBolt::new(split.clone()), procs)
        .shuffle_grouping("spout");
    b.set_bolt("count", move || CountBolt::new(sink.clone()), 1)
        .fields_grouping("split", ["word"]);
    // A worker thread per split task (a shell bolt at its max pending
    // holds its thread), plus the spout's and the count's.
    let stats = run(b, procs + 2, Duration::from_secs(3600));
    // Checked before timing counts: every word arrived.
    let words: u64 = counts.snapshot().values().sum();
    let expected: u64 = gale::builtin::wordcount::expected_counts(sentences)
        .values()
        .sum();
    assert_eq!(words, expected, "words counted");
    sentences as f64 / stats.elapsed.as_secs_f64()
}

fn main() {
    let mut sentences = 50_000u64;
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this
    // binary without it: then one small case checks that it works.
    let mut timing = false;
    let mut only_protocols = false;
    let mut runs = 3;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bench" => timing = true,
            "--protocols" => only_protocols = true,
            "--runs" => runs = args.next().and_then(|n| n.parse().ok()).expect("--runs N"),
            "--sentences" => {
                sentences = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("--sentences N");
            }
            _ => {}
        }
    }
    let python = python();
    if !timing {
        driver_rate(&python, 100, 1);
        gale_rate(&python, 100, 1);
        for case in [Case::StormJson, Case::StormMsgpack, Case::Batched] {
            split_rate(split_config(&python, case, true), 100, 1);
        }
        spout_rate(&python, 1);
        println!("multilang: checked (run `cargo bench --bench multilang` for figures)");
        return;
    }
    if only_protocols {
        return protocols(&python, sentences, runs);
    }
    println!("multilang: pystorm split bolt, {sentences} sentences per case (sentences/s)");
    println!(
        "{:>6} {:>14} {:>14} {:>8}",
        "procs", "driver", "gale", "gale/driver"
    );
    for procs in [1u64, 2, 4] {
        let driver = driver_rate(&python, sentences, procs);
        let gale = gale_rate(&python, sentences, procs as usize);
        println!(
            "{procs:>6} {driver:>14.0} {gale:>14.0} {:>7.1}%",
            100.0 * gale / driver
        );
    }
    protocols(&python, sentences, runs);
}
