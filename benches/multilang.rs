//! Multi-lang overhead. First Storm's own protocol: the pystorm split
//! bolt of `examples/python` as Gale's child, against the same bolt fed by
//! an independent driver that plays Storm's side over a pipe
//! (`benches/util/storm_driver.rs`: no code shared with Gale), with 1, 2
//! and 4 processes. Then the protocols compared: the same split-bolt class
//! (pystorm's and streamparse's) in one process under Storm's JSON,
//! Storm's msgpack and Gale's batched protocol (`python -m gale.run`), and
//! a Python spout under the batched protocol.
//!
//! ```text
//! cargo bench --bench multilang                       # 50 000 sentences per case
//! cargo bench --bench multilang -- --sentences 2000   # a quick check
//! cargo bench --bench multilang -- --efficiency       # Gale vs the driver, one process
//! cargo bench --bench multilang -- --efficiency --side gale   # one side only (to profile)
//! cargo bench --bench multilang -- --protocols        # the protocol comparison only
//! ```
//!
//! Each case runs `--runs` times (default 3, median shown; driver and Gale
//! interleaved); in the comparison the batched cases get 10× the sentences
//! (msgpack 2×) so every case runs for a similar time, start-up of the
//! child included.
//!
//! Under `cargo test --all-targets` (no `--bench` argument) it runs one
//! small untimed case of each kind, to check that it works.
//!
//! The Python interpreter is `$GALE_PYTHON`, else the one
//! `scripts/python-env` makes. Each case spawns fresh children; times
//! include starting them (a few hundred ms of Python imports, small next
//! to the default run). In the efficiency table both sides ack every
//! sentence and take every word: the driver keeps at most 100 tuples in
//! flight per child (Storm's and Gale's default `max_pending`) and counts
//! the child's emits and acks; under Gale a reliable Rust spout feeds the
//! child and the words go to the Rust count bolt, with one acker.

#[path = "../tests/util/python_env.rs"]
mod python_env;
#[path = "util/storm_driver.rs"]
mod storm_driver;

use std::path::{Path, PathBuf};
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

/// The split bolt's command line under Storm's JSON protocol.
fn split_args() -> Vec<String> {
    vec![split_bolt(), "json".to_owned()]
}

/// `procs` independent drivers in parallel (`storm_driver`), `sentences`
/// in all; returns sentences/s. Checks every word came back.
fn driver_rate(python: &str, sentences: u64, procs: u64) -> f64 {
    let each = sentences / procs;
    let start = Instant::now();
    let handles: Vec<_> = (0..procs)
        .map(|_| {
            let python = python.to_owned();
            thread::spawn(move || {
                let cwd = repo();
                storm_driver::drive(&python, &split_args(), &cwd, &SENTENCES, each, WINDOW)
                    .expect("the driven split bolt")
            })
        })
        .collect();
    let mut words = 0;
    for h in handles {
        let run = h.join().unwrap();
        assert_eq!(run.sentences, each);
        words += run.words;
    }
    let expected: u64 = gale::builtin::wordcount::expected_counts(each)
        .values()
        .sum();
    assert_eq!(words, expected * procs, "words emitted to the driver");
    (each * procs) as f64 / start.elapsed().as_secs_f64()
}

/// The split bolt under Gale with `procs` tasks, Storm's JSON protocol,
/// acking on (a reliable sentence spout); returns sentences/s.
fn gale_rate(python: &str, sentences: u64, procs: usize) -> f64 {
    let split = ShellConfig::new(python, split_args()).stream("default", ["word"]);
    split_rate(split, sentences, procs, true)
}

/// CPU seconds (user and system) this process has used so far, its
/// children not included (Linux; 0 elsewhere).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // utime and stime: fields 14 and 15, after the `)` of the name, in
    // USER_HZ (100) ticks.
    let after = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<u64> = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    fields.iter().sum::<u64>() as f64 / 100.0
}

/// Runs `case` and returns its rate and this process's CPU microseconds
/// per sentence (the child's excluded).
fn with_cpu(sentences: u64, case: impl FnOnce() -> f64) -> (f64, f64) {
    let before = cpu_seconds();
    let rate = case();
    (rate, (cpu_seconds() - before) * 1e6 / sentences as f64)
}

/// Storm's protocol under Gale against the same bolt fed by the
/// independent driver, both acking every sentence, `runs` times each
/// (interleaved); medians. `side` limits it to one of the two (for
/// profiling).
fn efficiency(python: &str, sentences: u64, runs: usize, procs: &[u64], side: Option<&str>) {
    println!(
        "multilang storm-protocol efficiency: pystorm split bolt, JSON, acking on, \
         {sentences} sentences per case, sentences/s, median of {runs} runs; \
         host-side CPU µs per sentence (the child's not counted)"
    );
    println!(
        "{:>6} {:>10} {:>10} {:>10} {:>10} {:>12}",
        "procs", "driver", "cpu µs", "gale", "cpu µs", "gale/driver"
    );
    for &n in procs {
        // (rate, CPU) per run, per side.
        let mut runs_of: [Vec<(f64, f64)>; 2] = [Vec::new(), Vec::new()];
        for _ in 0..runs {
            for (k, name) in ["driver", "gale"].into_iter().enumerate() {
                if side.is_some_and(|s| s != name) {
                    continue;
                }
                runs_of[k].push(with_cpu(sentences, || match name {
                    "driver" => driver_rate(python, sentences, n),
                    _ => gale_rate(python, sentences, n as usize),
                }));
            }
        }
        let med = |k: usize, f: fn(&(f64, f64)) -> f64| {
            let xs: Vec<f64> = runs_of[k].iter().map(f).collect();
            if xs.is_empty() {
                f64::NAN
            } else {
                median(xs)
            }
        };
        let (dr, dc, gr, gc) = (
            med(0, |x| x.0),
            med(0, |x| x.1),
            med(1, |x| x.0),
            med(1, |x| x.1),
        );
        println!(
            "{n:>6} {dr:>10.0} {dc:>10.1} {gr:>10.0} {gc:>10.1} {:>11.1}%",
            100.0 * gr / dr
        );
    }
}

/// The child runs from `examples/python` (the `gale` package is in the
/// virtualenv: `scripts/python-env` installs it).
fn with_package(config: ShellConfig) -> ShellConfig {
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
                .map(|_| split_rate(split_config(python, case, streamparse), n, 1, false))
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

/// A word count through `split` with `procs` tasks, acking every
/// sentence if `acking`; returns sentences/s.
fn split_rate(split: ShellConfig, sentences: u64, procs: usize, acking: bool) -> f64 {
    let counts = CountSink::new();
    let sink = counts.clone();
    let mut b = TopologyBuilder::new("multilang-bench");
    b.set_num_ackers(usize::from(acking));
    b.set_spout(
        "spout",
        move || SentenceSpout::new(Some(sentences)).reliable(acking),
        1,
    );
    b.set_bolt("split", move || ShellBolt::new(split.clone()), procs)
        .shuffle_grouping("spout");
    b.set_bolt("count", move || CountBolt::new(sink.clone()), 1)
        .fields_grouping("split", ["word"]);
    // A worker thread per split task (a shell bolt at its max pending
    // holds its thread), plus the spout's and the count's. Timed from
    // submitting to the end, as the driver is timed from spawning its
    // child to the last ack.
    let start = Instant::now();
    run(b, procs + 2, Duration::from_secs(3600));
    let elapsed = start.elapsed();
    // Checked before timing counts: every word arrived.
    let words: u64 = counts.snapshot().values().sum();
    let expected: u64 = gale::builtin::wordcount::expected_counts(sentences)
        .values()
        .sum();
    assert_eq!(words, expected, "words counted");
    sentences as f64 / elapsed.as_secs_f64()
}

fn main() {
    let mut sentences = 50_000u64;
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this
    // binary without it: then one small case checks that it works.
    let mut timing = false;
    let mut only_protocols = false;
    let mut only_efficiency = false;
    let mut side = None;
    let mut runs = 3;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bench" => timing = true,
            "--protocols" => only_protocols = true,
            "--efficiency" => only_efficiency = true,
            "--side" => side = Some(args.next().expect("--side driver|gale")),
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
            split_rate(split_config(&python, case, true), 100, 1, false);
        }
        spout_rate(&python, 1);
        println!("multilang: checked (run `cargo bench --bench multilang` for figures)");
        return;
    }
    if only_protocols {
        return protocols(&python, sentences, runs);
    }
    if only_efficiency {
        return efficiency(&python, sentences, runs, &[1], side.as_deref());
    }
    efficiency(&python, sentences, runs, &[1, 2, 4], None);
    protocols(&python, sentences, runs);
}
