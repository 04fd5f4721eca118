//! `gale demo`: the foundation's data path, end to end, on two threads.

use std::collections::HashMap;
use std::thread;
use std::time::{Duration, Instant};

use clap::Args;
use gale_codec::{encoded_len_bound, view_trusted, Encoder, Header, TupleRef, Value};
use gale_transport::{ring, Consumer, Producer, ReserveError, RingConfig, WaitStrategy, Waiter};

/// Options of `gale demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Number of sentence tuples to send.
    #[arg(long, default_value_t = 1_000_000)]
    sentences: u64,
    /// Ring data area in bytes (a power of two).
    #[arg(long, default_value_t = 1 << 20)]
    ring_bytes: usize,
    /// Records per published batch.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Pin the two threads to separate cores.
    #[arg(long, overrides_with = "no_pin", default_value_t = true)]
    pin: bool,
    /// Do not pin threads.
    #[arg(long)]
    no_pin: bool,
    /// Busy-spin instead of spin-yield-park while waiting.
    #[arg(long)]
    busy_spin: bool,
    /// Print every word's count (`word<TAB>count`, sorted by word) on stdout.
    #[arg(long)]
    counts: bool,
}

const SENTENCES: [&str; 5] = [
    "the cow jumped over the moon",
    "an apple a day keeps the doctor away",
    "four score and seven years ago",
    "snow white and the seven dwarfs",
    "i am at two with nature",
];

/// Runs the demo and prints a summary on stderr.
pub fn run(args: &DemoArgs) -> Result<(), String> {
    let config = RingConfig::new(args.ring_bytes).with_batch(args.batch);
    let (tx, rx) = ring(config).map_err(|e| format!("cannot create the ring: {e}"))?;
    let strategy = if args.busy_spin {
        WaitStrategy::BusySpin
    } else {
        WaitStrategy::default()
    };
    let cores = if args.pin && !args.no_pin {
        core_affinity::get_core_ids().unwrap_or_default()
    } else {
        Vec::new()
    };
    let pin = move |i: usize| {
        if let Some(core) = cores.get(i % cores.len().max(1)) {
            core_affinity::set_for_current(*core);
        }
    };

    let start = Instant::now();
    let sentences = args.sentences;
    let (pin_a, pin_b) = (pin.clone(), pin);
    let consumer = thread::Builder::new()
        .name("gale-demo-count".into())
        .spawn(move || {
            pin_b(1);
            count(rx, sentences, strategy)
        })
        .map_err(|e| format!("cannot spawn the consumer thread: {e}"))?;
    let producer = thread::Builder::new()
        .name("gale-demo-emit".into())
        .spawn(move || {
            pin_a(0);
            emit(tx, sentences, strategy)
        })
        .map_err(|e| format!("cannot spawn the producer thread: {e}"))?;
    let bytes = producer
        .join()
        .map_err(|_| "the producer thread panicked")??;
    let counts = consumer
        .join()
        .map_err(|_| "the consumer thread panicked")?;
    let elapsed = start.elapsed();

    let words: u64 = counts.values().sum();
    if args.counts {
        let mut sorted: Vec<_> = counts.iter().collect();
        sorted.sort();
        for (word, n) in sorted {
            println!("{word}\t{n}");
        }
    }
    let secs = elapsed.as_secs_f64().max(f64::EPSILON);
    eprintln!(
        "gale demo: {sentences} sentence tuples ({bytes} archived bytes) through one ring, \
         {words} words counted in place, {} distinct",
        counts.len()
    );
    eprintln!(
        "  elapsed {:.3} s, {:.2} M tuples/s, {:.1} ns/tuple",
        secs,
        sentences as f64 / secs / 1e6,
        elapsed.as_nanos() as f64 / sentences.max(1) as f64
    );
    Ok(())
}

/// Archives `n` sentence tuples straight into the ring.
fn emit(mut tx: Producer, n: u64, strategy: WaitStrategy) -> Result<u64, String> {
    let mut encoder = Encoder::new();
    let mut waiter = Waiter::new(strategy);
    let header = Header {
        stream: 0,
        source_task: 1,
        ..Header::default()
    };
    let values: Vec<[Value; 1]> = SENTENCES.iter().map(|s| [Value::from(*s)]).collect();
    let mut bytes = 0u64;
    for i in 0..n {
        let tuple = TupleRef {
            header: &header,
            values: &values[(i % values.len() as u64) as usize],
        };
        let bound = encoded_len_bound(tuple).map_err(|e| e.to_string())?;
        loop {
            match tx.try_reserve(bound) {
                Ok(mut slot) => {
                    let used = encoder
                        .encode_into(tuple, &mut slot)
                        .map_err(|e| e.to_string())?;
                    slot.commit_len(used);
                    bytes += used as u64;
                    waiter.reset();
                    break;
                }
                Err(ReserveError::Full) => {
                    tx.flush();
                    waiter.idle();
                }
                Err(e) => return Err(e.to_string()),
            }
        }
    }
    tx.flush();
    Ok(bytes)
}

/// Reads `n` tuples in place and counts the words of field 0.
fn count(mut rx: Consumer, n: u64, strategy: WaitStrategy) -> HashMap<String, u64> {
    let mut waiter = Waiter::new(strategy);
    let mut counts: HashMap<String, u64> = HashMap::new();
    let mut seen = 0u64;
    let deadline = Duration::from_secs(600);
    let started = Instant::now();
    while seen < n {
        let mut batch = rx.read();
        let mut got = 0;
        for record in &mut batch {
            // SAFETY: the only producer of this in-process ring is `emit`,
            // which commits exactly the bytes `Encoder::encode_into` wrote;
            // ring payloads are 8-aligned.
            let tuple = unsafe { view_trusted(record) };
            if let Some(sentence) = tuple.get(0).and_then(|v| v.as_str()) {
                for word in sentence.split_whitespace() {
                    match counts.get_mut(word) {
                        Some(c) => *c += 1,
                        None => {
                            counts.insert(word.to_owned(), 1);
                        }
                    }
                }
            }
            got += 1;
        }
        drop(batch);
        seen += got;
        if got == 0 {
            if started.elapsed() > deadline {
                break;
            }
            waiter.idle();
        } else {
            waiter.reset();
        }
    }
    counts
}
