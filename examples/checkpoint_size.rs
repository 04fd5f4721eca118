//! How long a checkpoint of N keys takes with the directory backend:
//! snapshot (rkyv), save (write, fsync, rename, fsync the directory),
//! commit (`CURRENT`, the same way), and reading it back (load, checksum,
//! validated restore). `scripts/bench-state` runs it.
//!
//! ```sh
//! cargo run --release --example checkpoint_size -- DIR [KEYS]
//! ```

use std::time::Instant;

use gale::codec::Value;
use gale::engine::state::{DirBackend, KeyValueState, StateBackend};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().ok_or("usage: checkpoint_size DIR [KEYS]")?;
    let keys: usize = args.next().map_or(Ok(1_000_000), |k| k.parse())?;
    let backend = DirBackend::open(&dir)?;
    let mut state = KeyValueState::default();
    for k in 0..keys {
        state.put(format!("word-{k:08}"), Value::I64(k as i64));
    }
    let start = Instant::now();
    let bytes = state.snapshot()?;
    let snapshot = start.elapsed();
    backend.save(1, "count-0", &bytes)?;
    let saved = start.elapsed();
    backend.commit(1)?;
    let committed = start.elapsed();
    let read = Instant::now();
    let (_, back) = backend.load("count-0")?.ok_or("no checkpoint")?;
    let restored = KeyValueState::restore(&back)?;
    let read = read.elapsed();
    assert_eq!(restored.len(), keys);
    println!(
        "{{\"keys\": {keys}, \"bytes\": {}, \"snapshot_s\": {:.4}, \"save_s\": {:.4}, \"checkpoint_s\": {:.4}, \"restore_s\": {:.4}}}",
        bytes.len(),
        snapshot.as_secs_f64(),
        (saved - snapshot).as_secs_f64(),
        committed.as_secs_f64(),
        read.as_secs_f64()
    );
    Ok(())
}
