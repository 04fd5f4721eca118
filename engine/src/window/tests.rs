//! The window manager against an independent model: for random streams
//! (processing time with clock steps; event time out of order, with late
//! tuples) and every combination of count and duration length and slide,
//! the windows fired (contents, new, expired, start, end) must be exactly
//! those the model computes by brute force from the whole input, no entry
//! may be acked while a later window still holds it or twice, and after
//! time has run far ahead only what a future window could still hold may
//! stay unacked.

use std::collections::BTreeSet;
use std::time::Duration;

use super::length::Length;
use super::manager::{Entry, Manager};

/// A test entry: its id is its arrival index.
#[derive(Debug, Clone)]
struct E {
    id: usize,
    ts: i64,
    seen: bool,
}

impl Entry for E {
    fn ts(&self) -> i64 {
        self.ts
    }
    fn seen(&self) -> bool {
        self.seen
    }
    fn set_seen(&mut self) {
        self.seen = true;
    }
}

/// A fired window as both sides describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fired {
    ids: Vec<usize>,
    new: Vec<usize>,
    expired: Vec<usize>,
    start: Option<i64>,
    end: i64,
}

/// xorshift64*, so every run checks the same cases.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// What happened in one run of the manager.
struct Run {
    fired: Vec<Fired>,
    /// (id, number of windows fired before its ack).
    acks: Vec<(usize, usize)>,
    /// Accepted entries (id, ts).
    accepted: Vec<(usize, i64)>,
    /// The time (clock or watermark) reached before the final flush.
    limit: i64,
}

/// Drives a manager as the executor does.
struct Driver {
    m: Manager<E>,
    run: Run,
}

impl Driver {
    fn advance(&mut self, limit: i64) {
        self.run.limit = limit;
        while let Some(fire) = self.m.next_fire(limit) {
            let (window, expired) = self.m.view(fire);
            self.run.fired.push(Fired {
                ids: window.iter().map(|e| e.id).collect(),
                new: window.iter().filter(|e| !e.seen).map(|e| e.id).collect(),
                expired: expired.iter().map(|e| e.id).collect(),
                start: fire.start,
                end: fire.end,
            });
            let n = self.run.fired.len();
            let acks = &mut self.run.acks;
            self.m.fired(fire, &mut |e| acks.push((e.id, n)));
        }
        let n = self.run.fired.len();
        let acks = &mut self.run.acks;
        self.m.settle(&mut |e| acks.push((e.id, n)));
    }
}

fn ms(l: Length) -> i64 {
    match l {
        Length::Duration(d) => d.as_millis() as i64,
        Length::Count(_) => unreachable!(),
    }
}

/// Processing time: each step either a tuple arriving now or the clock
/// moving on.
fn run_processing(length: Length, slide: Length, steps: &[(bool, i64)]) -> (Run, Driver) {
    let mut d = Driver {
        m: Manager::new(length, slide, false),
        run: Run {
            fired: Vec::new(),
            acks: Vec::new(),
            accepted: Vec::new(),
            limit: 0,
        },
    };
    let mut clock = 0;
    for (id, &(tuple, dt)) in steps.iter().enumerate() {
        if tuple {
            d.m.insert(E {
                id,
                ts: clock,
                seen: false,
            });
            d.run.accepted.push((id, clock));
        } else {
            clock += dt;
        }
        d.advance(clock);
    }
    let run = std::mem::replace(
        &mut d.run,
        Run {
            fired: Vec::new(),
            acks: Vec::new(),
            accepted: Vec::new(),
            limit: 0,
        },
    );
    (run, d)
}

/// Event time: each step a tuple with a timestamp; the watermark is the
/// largest timestamp so far minus `lag`, and tuples below it are late.
fn run_event(length: Length, slide: Length, lag: i64, ts: &[i64]) -> (Run, Driver, Vec<usize>) {
    let mut d = Driver {
        m: Manager::new(length, slide, true),
        run: Run {
            fired: Vec::new(),
            acks: Vec::new(),
            accepted: Vec::new(),
            limit: 0,
        },
    };
    let mut late = Vec::new();
    let mut watermark: Option<i64> = None;
    for (id, &t) in ts.iter().enumerate() {
        if watermark.is_some_and(|w| t < w) {
            late.push(id);
            continue;
        }
        d.m.insert(E {
            id,
            ts: t,
            seen: false,
        });
        d.run.accepted.push((id, t));
        let max = d.run.accepted.iter().map(|e| e.1).max().unwrap_or(t);
        watermark = Some(watermark.unwrap_or(i64::MIN).max(max - lag));
        d.advance(watermark.unwrap_or(i64::MIN));
    }
    let run = std::mem::replace(
        &mut d.run,
        Run {
            fired: Vec::new(),
            acks: Vec::new(),
            accepted: Vec::new(),
            limit: 0,
        },
    );
    (run, d, late)
}

/// The model: the windows that must fire, by brute force over the
/// accepted entries (sorted by timestamp, then arrival) up to `limit`.
fn model(
    length: Length,
    slide: Length,
    accepted: &[(usize, i64)],
    limit: i64,
    event: bool,
) -> Vec<Fired> {
    let mut sorted = accepted.to_vec();
    sorted.sort_by_key(|&(id, ts)| (ts, id));
    let mut windows: Vec<(Vec<usize>, Option<i64>, i64)> = Vec::new();
    match slide {
        Length::Duration(_) => {
            let s = ms(slide);
            let Some(min) = sorted.first().map(|e| e.1) else {
                return Vec::new();
            };
            let mut end = (min.div_euclid(s) + 1) * s;
            let mut last: Option<Vec<usize>> = None;
            // Past this, every window is empty or the same as before.
            let max = sorted.iter().map(|e| e.1).max().unwrap_or(min);
            let quiet = max
                + 2 * s
                + if let Length::Duration(_) = length {
                    ms(length)
                } else {
                    0
                };
            while end <= limit.min(quiet) {
                let (ids, start): (Vec<usize>, Option<i64>) = match length {
                    Length::Duration(_) => {
                        let start = end - ms(length);
                        let ids = sorted
                            .iter()
                            .filter(|e| e.1 >= start && e.1 < end)
                            .map(|e| e.0)
                            .collect();
                        (ids, Some(start))
                    }
                    Length::Count(l) => {
                        let before: Vec<usize> =
                            sorted.iter().filter(|e| e.1 < end).map(|e| e.0).collect();
                        (before[before.len().saturating_sub(l)..].to_vec(), None)
                    }
                };
                if !ids.is_empty() && last.as_ref() != Some(&ids) {
                    windows.push((ids.clone(), start, end));
                    last = Some(ids);
                }
                end += s;
            }
        }
        Length::Count(s) => {
            let visible: Vec<(usize, i64)> = sorted
                .iter()
                .copied()
                .filter(|e| !event || e.1 < limit)
                .collect();
            let mut cut = s;
            while cut <= visible.len() {
                let end = visible[cut - 1].1;
                let (ids, start) = match length {
                    Length::Count(l) => (
                        visible[cut.saturating_sub(l)..cut]
                            .iter()
                            .map(|e| e.0)
                            .collect(),
                        None,
                    ),
                    Length::Duration(_) => {
                        let start = end - ms(length);
                        let ids = visible[..cut]
                            .iter()
                            .filter(|e| e.1 > start)
                            .map(|e| e.0)
                            .collect();
                        (ids, Some(start))
                    }
                };
                windows.push((ids, start, end));
                cut += s;
            }
        }
    }
    // new: in no earlier window; expired: in an earlier window, not in
    // this one, not reported before.
    let mut seen = BTreeSet::new();
    let mut reported = BTreeSet::new();
    windows
        .into_iter()
        .map(|(ids, start, end)| {
            let here: BTreeSet<usize> = ids.iter().copied().collect();
            let new = ids
                .iter()
                .copied()
                .filter(|id| !seen.contains(id))
                .collect();
            let mut expired: Vec<usize> = seen
                .iter()
                .copied()
                .filter(|id| !here.contains(id) && !reported.contains(id))
                .collect();
            // The manager lists expired entries by timestamp, then arrival.
            expired.sort_by_key(|id| {
                let ts = accepted.iter().find(|e| e.0 == *id).map(|e| e.1);
                (ts, *id)
            });
            reported.extend(expired.iter().copied());
            seen.extend(ids.iter().copied());
            Fired {
                ids,
                new,
                expired,
                start,
                end,
            }
        })
        .collect()
}

/// The acks must never precede a window holding the entry, nor repeat.
fn check_acks(run: &Run, what: &str) {
    let mut acked = BTreeSet::new();
    for &(id, fired_before) in &run.acks {
        assert!(acked.insert(id), "{what}: entry {id} acked twice");
        if let Some(k) = run.fired[fired_before..]
            .iter()
            .position(|f| f.ids.contains(&id))
        {
            panic!(
                "{what}: entry {id} acked after {fired_before} windows, but window {} still holds it",
                fired_before + k
            );
        }
    }
}

/// After a flush far into the future, the entries left unacked must be
/// exactly those a future window could still hold.
fn check_left(length: Length, slide: Length, run: &Run, flushed: &[Fired], d: &Driver, what: &str) {
    let acked: BTreeSet<usize> = run.acks.iter().map(|a| a.0).collect();
    let mut sorted = run.accepted.clone();
    sorted.sort_by_key(|&(id, ts)| (ts, id));
    let ids: Vec<usize> = sorted.iter().map(|e| e.0).collect();
    let all: Vec<&Fired> = run.fired.iter().chain(flushed).collect();
    let last_cut = all
        .last()
        .and_then(|f| f.ids.last())
        .and_then(|id| ids.iter().position(|x| x == id))
        .map(|p| p + 1);
    let keep_from = match (length, slide, last_cut) {
        // Every tuple leaves every time window once time has run on.
        (Length::Duration(_), Length::Duration(_), _) => ids.len(),
        (_, _, None) => 0,
        (Length::Count(l), Length::Duration(_), Some(cut)) => (cut + 1).saturating_sub(l).min(cut),
        (Length::Count(l), Length::Count(s), Some(cut)) => (cut + s).saturating_sub(l).min(cut),
        (Length::Duration(_), Length::Count(_), Some(cut)) => {
            let len = all.last().map_or(0, |f| f.ids.len());
            cut - len
        }
    };
    let expect_left: BTreeSet<usize> = ids[keep_from.min(ids.len())..].iter().copied().collect();
    let left: BTreeSet<usize> = ids
        .iter()
        .copied()
        .filter(|id| !acked.contains(id))
        .collect();
    assert_eq!(left, expect_left, "{what}: unacked after the flush");
    assert_eq!(d.m.len(), left.len(), "{what}: held after the flush");
}

/// Runs time far ahead (every window that can still fire does), then
/// checks all the windows against the model, the acks, and what is left.
fn flush_and_check(
    length: Length,
    slide: Length,
    mut run: Run,
    mut d: Driver,
    event: bool,
    what: &str,
) {
    let before = run.fired.len();
    std::mem::swap(&mut d.run, &mut run);
    d.advance(1_000_000);
    std::mem::swap(&mut d.run, &mut run);
    let flushed = run.fired.split_off(before);
    let mut all = run.fired.clone();
    all.extend(flushed.iter().cloned());
    assert_eq!(
        all,
        model(length, slide, &run.accepted, 1_000_000, event),
        "{what}"
    );
    let everything = Run {
        fired: all,
        acks: run.acks.clone(),
        accepted: Vec::new(),
        limit: 0,
    };
    check_acks(&everything, what);
    check_left(length, slide, &run, &flushed, &d, what);
}

fn lengths(rng: &mut Rng) -> Length {
    if rng.below(2) == 0 {
        Length::Count(1 + rng.below(5) as usize)
    } else {
        Length::Duration(Duration::from_millis(10 * (1 + rng.below(5))))
    }
}

#[test]
fn processing_time_windows_of_every_kind_match_the_model() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for case in 0..3000 {
        let (length, slide) = (lengths(&mut rng), lengths(&mut rng));
        let n = rng.below(60) as usize;
        let steps: Vec<(bool, i64)> = (0..n)
            .map(|_| (rng.below(3) != 0, rng.below(25) as i64))
            .collect();
        let what = format!("case {case}: length {length}, slide {slide}, steps {steps:?}");
        let (run, d) = run_processing(length, slide, &steps);
        let expected = model(length, slide, &run.accepted, run.limit, false);
        assert_eq!(run.fired, expected, "{what}");
        flush_and_check(length, slide, run, d, false, &what);
    }
}

#[test]
fn event_time_windows_with_out_of_order_and_late_tuples_match_the_model() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut lates = 0;
    for case in 0..3000 {
        let (length, slide) = (lengths(&mut rng), lengths(&mut rng));
        let lag = 10 * rng.below(3) as i64;
        let n = rng.below(60) as usize;
        // A rising clock with jitter: some tuples arrive out of order,
        // some later than the lag allows.
        let ts: Vec<i64> = (0..n as i64)
            .map(|i| i * 4 - rng.below(30) as i64 + 100)
            .collect();
        let what = format!("case {case}: length {length}, slide {slide}, lag {lag}, ts {ts:?}");
        let (run, d, late) = run_event(length, slide, lag, &ts);
        lates += late.len();
        // The model's own late tuples: below the watermark when they come.
        let mut w: Option<i64> = None;
        let mut max = i64::MIN;
        let mut model_late = Vec::new();
        for (id, &t) in ts.iter().enumerate() {
            if w.is_some_and(|w| t < w) {
                model_late.push(id);
            } else {
                max = max.max(t);
                w = Some(w.unwrap_or(i64::MIN).max(max - lag));
            }
        }
        assert_eq!(late, model_late, "{what}");
        let expected = model(length, slide, &run.accepted, run.limit, true);
        assert_eq!(run.fired, expected, "{what}");
        flush_and_check(length, slide, run, d, true, &what);
    }
    assert!(lates > 100, "the cases must include late tuples ({lates})");
}

#[test]
fn a_tumbling_count_window_acks_each_window_right_after_it_fires() {
    let (run, d) = run_processing(Length::Count(3), Length::Count(3), &[(true, 0); 8]);
    let windows: Vec<Vec<usize>> = run.fired.iter().map(|f| f.ids.clone()).collect();
    assert_eq!(windows, [vec![0, 1, 2], vec![3, 4, 5]]);
    let acked: Vec<usize> = run.acks.iter().map(|a| a.0).collect();
    assert_eq!(acked, [0, 1, 2, 3, 4, 5]);
    assert_eq!(run.fired[1].expired, [0, 1, 2]);
    assert_eq!(d.m.len(), 2, "6 and 7 wait for the next window");
}

#[test]
fn a_watermark_jump_far_ahead_takes_one_step_per_change() {
    let mut d = Driver {
        m: Manager::new(
            Length::Duration(Duration::from_millis(10)),
            Length::Duration(Duration::from_millis(1)),
            true,
        ),
        run: Run {
            fired: Vec::new(),
            acks: Vec::new(),
            accepted: Vec::new(),
            limit: 0,
        },
    };
    d.m.insert(E {
        id: 0,
        ts: 5,
        seen: false,
    });
    d.advance(i64::MAX);
    let ends: Vec<i64> = d.run.fired.iter().map(|f| f.end).collect();
    assert_eq!(ends, [6], "one window holds it, then it expires");
    assert_eq!(d.run.acks.len(), 1);
    assert_eq!(d.m.len(), 0);
}
