//! The cost of live metrics, measured A/B: storm-perf's
//! const-spout-null-bolt (and the acked const-spout-id-bolt-null-bolt,
//! which adds complete latency) on two pinned worker threads with metrics
//! off, on at Storm's default latency sample rate (0.05, with the default
//! 10 µs between samples at least), and on with every execute timed (rate
//! 1, no interval). The issue's target: at most 5 % slower than
//! "off" at the default rate.
//!
//! Not a criterion bench: criterion measures one setting after another,
//! and on a shared machine the load drifts over the tens of seconds that
//! takes, by more than the few percent measured here. So the settings run
//! interleaved instead: each round runs every setting once (in an order
//! that rotates from round to round), each run a fixed number of tuples,
//! and the figure is the median over rounds of the ratio between a setting
//! and "off" in the same round.
//!
//! ```text
//! cargo bench --bench metrics                                  # 9 rounds
//! cargo bench --bench metrics -- --rounds 15 --tuples 40000000 --json out.json
//! cargo bench --bench metrics -- --rounds 91 const-spout-null-bolt/1   # one case
//! ```
//!
//! Under `cargo test --all-targets` (no `--bench` argument) it runs one
//! small round, to check that it works.

use std::time::{Duration, Instant};

use gale::builtin::{self, BuiltinOptions};
use gale::engine::MetricsConfig;
use gale::{LocalCluster, RunConfig};

/// Seconds per tuple of one run of `name` with `count` tuples on
/// `threads` worker threads.
fn run(name: &str, threads: usize, count: u64, ack: bool, metrics: &MetricsConfig) -> f64 {
    let opts = BuiltinOptions {
        threads,
        count: Some(count),
        ack,
        ..BuiltinOptions::default()
    };
    let built = builtin::build(name, &opts).expect("built-in topology");
    let config = RunConfig {
        threads,
        metrics: metrics.clone(),
        ..RunConfig::default()
    };
    let start = Instant::now();
    let running = LocalCluster::new(config)
        .submit(built.topology)
        .expect("topology starts");
    let handle = running.metrics_handle();
    running.wait().expect("topology runs");
    let elapsed = start.elapsed().as_secs_f64();
    // Check behaviour, not just time: every tuple reached the last bolt,
    // and the per-stream counts exist exactly when metrics are on.
    let m = handle.metrics();
    let last = m
        .components
        .iter()
        .map(|c| c.counters.executed)
        .max()
        .unwrap_or(0);
    assert!(last >= count, "{name}: {last} executed of {count}");
    let per_stream: u64 = m
        .components
        .iter()
        .flat_map(|c| &c.inputs)
        .map(|i| i.executed)
        .sum();
    assert_eq!(
        per_stream >= count,
        metrics.enabled,
        "{name}: per-stream counts"
    );
    elapsed / count as f64
}

fn settings() -> [(&'static str, MetricsConfig); 3] {
    let off = MetricsConfig {
        enabled: false,
        ..MetricsConfig::default()
    };
    let every = MetricsConfig {
        sample_rate: 1.0,
        min_sample_interval: Duration::ZERO,
        ..MetricsConfig::default()
    };
    [
        ("off", off),
        ("on-sample-0.05", MetricsConfig::default()),
        ("on-sample-1", every),
    ]
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

/// A distribution-free confidence interval of at least 95 % for the
/// median of `xs`: the k-th smallest and k-th largest, for the largest k
/// with P(Binomial(n, 1/2) < k) <= 2.5 %. `None` below 6 values, where no
/// such k exists.
fn median_ci(xs: &[f64]) -> Option<(f64, f64)> {
    let n = xs.len();
    let mut sorted = xs.to_vec();
    sorted.sort_by(f64::total_cmp);
    // P(B <= j) for j = 0, 1, ...: coefficients of (1/2)^n.
    let mut below = 0.0; // P(B < k)
    let mut term = 0.5f64.powi(n as i32); // P(B = k - 1), starting at k = 1
    let mut k = 0;
    for j in 0..n / 2 {
        below += term;
        if below > 0.025 {
            break;
        }
        k = j + 1;
        term *= (n - j) as f64 / (j + 1) as f64;
    }
    (k >= 1).then(|| (sorted[k - 1], sorted[n - k]))
}

struct Options {
    timing: bool,
    rounds: usize,
    tuples: u64,
    json: Option<String>,
    /// Runs only the cases whose `topology/threads` name contains this.
    filter: Option<String>,
}

fn options() -> Options {
    let mut o = Options {
        timing: false,
        rounds: 9,
        tuples: 20_000_000,
        json: None,
        filter: None,
    };
    let mut args = std::env::args().skip(1);
    fn value(flag: &str, args: &mut impl Iterator<Item = String>) -> String {
        args.next()
            .unwrap_or_else(|| panic!("{flag} needs a value"))
    }
    while let Some(a) = args.next() {
        match a.as_str() {
            // `cargo bench` passes `--bench`; `cargo test --all-targets`
            // runs this binary without it.
            "--bench" => o.timing = true,
            "--rounds" => o.rounds = value("--rounds", &mut args).parse().expect("--rounds N"),
            "--tuples" => o.tuples = value("--tuples", &mut args).parse().expect("--tuples N"),
            "--json" => o.json = Some(value("--json", &mut args)),
            // Other flags come from cargo's harness conventions.
            _ if !a.starts_with('-') => o.filter = Some(a),
            _ => {}
        }
    }
    if !o.timing {
        o.rounds = 1;
        o.tuples = 20_000;
    }
    o.rounds = o.rounds.max(1);
    o
}

fn main() {
    let o = options();
    // The interval's order statistics, against binomial tables: k = 10
    // of 31 values, k = 5 of 17, k = 1 of 6, none of 5.
    let values = |n: u32| (1..=n).map(f64::from).collect::<Vec<_>>();
    assert_eq!(median_ci(&values(31)), Some((10.0, 22.0)));
    assert_eq!(median_ci(&values(17)), Some((5.0, 13.0)));
    assert_eq!(median_ci(&values(6)), Some((1.0, 6.0)));
    assert_eq!(median_ci(&values(5)), None);
    let settings = settings();
    let mut report = Vec::new();
    for (name, threads, ack, divisor) in [
        // The issue's case: spout and bolt on a worker thread each. The
        // bolt's thread has slack, so what metrics add to it is hidden.
        ("const-spout-null-bolt", 2, false, 1),
        // Both on one thread: every instruction metrics add shows in time.
        ("const-spout-null-bolt", 1, false, 1),
        // Acking costs about 4x per tuple: fewer tuples keep rounds short.
        ("const-spout-id-bolt-null-bolt", 2, true, 4),
    ] {
        if o.filter
            .as_ref()
            .is_some_and(|f| !format!("{name}/{threads}").contains(f.as_str()))
        {
            continue;
        }
        let count = (o.tuples / divisor).max(1);
        // One untimed round first: page faults, thread start-up, CPU
        // frequency.
        if o.timing {
            for (_, m) in &settings {
                run(name, threads, count, ack, m);
            }
        }
        let mut per: Vec<Vec<f64>> = vec![Vec::new(); settings.len()];
        for round in 0..o.rounds {
            for k in 0..settings.len() {
                let i = (k + round) % settings.len();
                per[i].push(run(name, threads, count, ack, &settings[i].1));
            }
        }
        println!(
            "metrics/{name} on {threads} worker thread(s): {} rounds of {count} tuples, \
             each setting once per round",
            o.rounds
        );
        println!(
            "  {:<16} {:>9} {:>10} {:>12} {:>14} {:>14}",
            "setting", "ns/tuple", "M tuples/s", "time vs off", "95% CI", "range"
        );
        let mut rows = Vec::new();
        for (i, (label, _)) in settings.iter().enumerate() {
            let ns = median(per[i].clone()) * 1e9;
            // Per round: this setting's time over "off"'s in that round.
            let ratios: Vec<f64> = per[i].iter().zip(&per[0]).map(|(a, b)| a / b).collect();
            let (lo, hi) = ratios
                .iter()
                .fold((f64::MAX, f64::MIN), |(lo, hi), r| (lo.min(*r), hi.max(*r)));
            let ratio = median(ratios.clone());
            // "off" against itself has no interval to speak of.
            let ci = if i == 0 { None } else { median_ci(&ratios) };
            let ci_text = ci.map_or("-".to_string(), |(a, b)| format!("{a:.3}..{b:.3}"));
            println!(
                "  {label:<16} {ns:>9.2} {:>10.2} {:>11.3}x {ci_text:>14} {:>6.3}..{:<6.3}",
                1e3 / ns,
                ratio,
                lo,
                hi
            );
            rows.push(serde_json::json!({
                "setting": label,
                "ns_per_tuple": ns,
                "time_vs_off": ratio,
                "time_vs_off_ci95": ci.map(|(a, b)| [a, b]),
                "ratio_min": lo,
                "ratio_max": hi,
                "runs_ns_per_tuple": per[i].iter().map(|s| s * 1e9).collect::<Vec<_>>(),
            }));
        }
        report.push(serde_json::json!({
            "topology": name,
            "threads": threads,
            "ack": ack,
            "tuples": count,
            "rounds": o.rounds,
            "settings": rows,
        }));
    }
    if let Some(path) = o.json {
        std::fs::write(&path, serde_json::Value::from(report).to_string())
            .unwrap_or_else(|e| panic!("write {path}: {e}"));
    }
    if !o.timing {
        println!("metrics: checked (run `cargo bench --bench metrics` for figures)");
    }
}
