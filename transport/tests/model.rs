//! Model-based test: random operation sequences on a ring, checked against a
//! `VecDeque` model that also tracks byte positions, so `Full` is expected
//! exactly when the ring lacks space.

#![cfg(not(loom))]

use std::collections::VecDeque;

use gale_transport::{ring, Consumer, Producer, ReserveError, RingConfig, RECORD_HEADER};
use proptest::prelude::*;
use proptest::sample::Index;

#[derive(Clone, Debug)]
enum End {
    Commit,
    CommitLen(Index),
    Abandon,
}

#[derive(Clone, Debug)]
enum Op {
    Reserve { len: usize, fill: u8, end: End },
    Flush,
    Read { max: usize },
    Drain,
}

fn op(max_record: usize) -> impl Strategy<Value = Op> {
    let len = prop_oneof![Just(0), Just(max_record), 0..=max_record];
    let end = prop_oneof![
        4 => Just(End::Commit),
        2 => any::<Index>().prop_map(End::CommitLen),
        1 => Just(End::Abandon),
    ];
    prop_oneof![
        8 => (len, any::<u8>(), end).prop_map(|(len, fill, end)| Op::Reserve { len, fill, end }),
        1 => Just(Op::Flush),
        3 => (0usize..4).prop_map(|max| Op::Read { max }),
        1 => Just(Op::Drain),
    ]
}

fn footprint(len: usize) -> u64 {
    (RECORD_HEADER + len.next_multiple_of(8)) as u64
}

fn pattern(fill: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| fill ^ (i as u8)).collect()
}

/// A record in the model, with the position just after it.
type Rec = (Vec<u8>, u64);

struct Model {
    cap: u64,
    batch: usize,
    write_pos: u64,
    head: u64,
    tail: u64,
    pending: Vec<Rec>,
    published: VecDeque<Rec>,
}

impl Model {
    fn publish(&mut self) {
        if !self.pending.is_empty() {
            self.tail = self.write_pos;
            self.published.extend(self.pending.drain(..));
        }
    }

    /// Where a `len`-byte record would start and how many bytes it needs.
    fn placement(&self, len: usize) -> (u64, u64) {
        let foot = footprint(len);
        let to_end = self.cap - self.write_pos % self.cap;
        if foot <= to_end {
            (self.write_pos, foot)
        } else {
            (self.write_pos + to_end, to_end + foot)
        }
    }
}

fn read(rx: &mut Consumer, m: &mut Model, max: usize) -> usize {
    let available = m.published.len();
    let mut batch = rx.try_read_batch(max);
    let mut n = 0;
    for rec in &mut batch {
        assert_eq!(rec.as_ptr() as usize % 8, 0);
        let (want, end) = m
            .published
            .pop_front()
            .expect("consumer saw an unpublished record");
        assert_eq!(rec, want.as_slice(), "record contents differ");
        m.head = end;
        n += 1;
    }
    drop(batch);
    assert!(n <= max);
    if max > 0 && available > 0 {
        assert!(
            n > 0,
            "{available} published records but the read returned none"
        );
    }
    n
}

fn apply(tx: &mut Producer, rx: &mut Consumer, m: &mut Model, op: &Op) {
    match op {
        Op::Reserve { len, fill, end } => {
            let (start, needed) = m.placement(*len);
            let free = m.cap - (m.write_pos - m.head);
            match tx.try_reserve(*len) {
                Err(ReserveError::Full) => {
                    assert!(
                        needed > free,
                        "Full with {free} free bytes, {needed} needed"
                    );
                    m.publish(); // Full publishes pending commits
                }
                Err(e) => panic!("unexpected {e}"),
                Ok(mut slot) => {
                    assert!(
                        needed <= free,
                        "reserved {needed} bytes with only {free} free"
                    );
                    assert_eq!(slot.len(), *len);
                    assert_eq!(slot.as_ptr() as usize % 8, 0);
                    slot.copy_from_slice(&pattern(*fill, *len));
                    let used = match end {
                        End::Abandon => {
                            drop(slot);
                            return;
                        }
                        End::Commit => {
                            slot.commit();
                            *len
                        }
                        End::CommitLen(i) => {
                            let used = i.index(*len + 1);
                            slot.commit_len(used);
                            used
                        }
                    };
                    m.write_pos = start + footprint(used);
                    m.pending.push((pattern(*fill, used), m.write_pos));
                    if m.pending.len() >= m.batch {
                        m.publish();
                    }
                }
            }
        }
        Op::Flush => {
            tx.flush();
            m.publish();
            assert_eq!(tx.free_space() as u64, m.cap - (m.write_pos - m.head));
        }
        Op::Read { max } => {
            read(rx, m, *max);
        }
        Op::Drain => {
            while read(rx, m, usize::MAX) > 0 {}
            assert!(m.published.is_empty(), "drain left published records");
            assert!(rx.is_empty());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn ring_matches_model(
        (cap, batch, ops) in (6u32..9).prop_flat_map(|cap_log| {
            let cap = 1usize << cap_log;
            let max_record = cap / 2 - RECORD_HEADER; // the largest allowed
            (Just(cap), 1usize..4, prop::collection::vec(op(max_record), 1..200))
        }),
    ) {
        let cfg = RingConfig::new(cap).with_max_record(cap / 2 - RECORD_HEADER).with_batch(batch);
        let (mut tx, mut rx) = ring(cfg).unwrap();
        let mut m = Model {
            cap: cap as u64,
            batch,
            write_pos: 0,
            head: 0,
            tail: 0,
            pending: Vec::new(),
            published: VecDeque::new(),
        };
        for op in &ops {
            apply(&mut tx, &mut rx, &mut m, op);
            prop_assert_eq!(tx.pending(), m.pending.len());
            prop_assert_eq!(rx.len_bytes() as u64, m.tail - m.head);
        }
        // Everything committed arrives after a final flush.
        tx.flush();
        m.publish();
        apply(&mut tx, &mut rx, &mut m, &Op::Drain);
    }
}
