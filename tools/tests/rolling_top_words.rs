//! `gale run rolling-top-words`: the rankings it prints are exactly a
//! brute-force count of the same input, window by window, with several
//! counter and ranker tasks, with and without acking.

mod util;

use std::collections::{BTreeMap, HashMap};

use gale::builtin::rolling_top_words::{words, SLIDE, TOP_N, WINDOW};
use util::gale;

/// Every window ending at a multiple of the slide that holds a word, and
/// its top words by count then word, counted here from the input.
fn brute_force(n: u64) -> BTreeMap<i64, String> {
    let input = words(n);
    let (length, slide) = (WINDOW.as_millis() as i64, SLIDE.as_millis() as i64);
    let last = input.last().map_or(0, |w| w.1);
    let mut expected = BTreeMap::new();
    let mut end = slide;
    while end - length <= last {
        let mut counts: HashMap<&str, u64> = HashMap::new();
        for (word, ts) in &input {
            if end - length <= *ts && *ts < end {
                *counts.entry(word).or_default() += 1;
            }
        }
        if !counts.is_empty() {
            let mut ranked: Vec<(&str, u64)> = counts.into_iter().collect();
            ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
            let line: Vec<String> = ranked
                .iter()
                .take(TOP_N)
                .map(|(w, c)| format!("{w}={c}"))
                .collect();
            expected.insert(end, line.join(" "));
        }
        end += slide;
    }
    expected
}

fn printed(stdout: &str) -> BTreeMap<i64, String> {
    stdout
        .lines()
        .map(|line| {
            let (end, ranking) = line
                .split_once('\t')
                .unwrap_or_else(|| panic!("not `END<TAB>ranking`: {line:?}"));
            (
                end.parse().unwrap_or_else(|e| panic!("{e}: {line:?}")),
                ranking.to_owned(),
            )
        })
        .collect()
}

#[test]
fn rolling_top_words_prints_the_rankings_of_a_brute_force_count() {
    let n = 20_000;
    let expected = brute_force(n);
    assert!(expected.len() > 60, "{}", expected.len());
    let runs = [
        ("rolling-top-words", &["--bolts", "3"][..]),
        ("rolling-top-words", &["--bolts", "2", "--ack"][..]),
        // storm-starter's slot counting, the benchmark's reference.
        ("rolling-top-words-slots", &["--bolts", "2"][..]),
    ];
    for (name, extra) in runs {
        let mut args = vec![
            "run",
            name,
            "--count",
            "20000",
            "--threads",
            "2",
            "--no-pin",
        ];
        args.extend_from_slice(extra);
        let run = gale(&args);
        assert!(
            run.ok(),
            "{name} {extra:?}: exit {:?}\n{}",
            run.code,
            run.stderr
        );
        assert_eq!(printed(&run.stdout), expected, "{name} {extra:?}");
    }
}
