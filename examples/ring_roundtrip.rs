//! A tuple archived straight into a shared-memory ring by one thread and read
//! in place by another: the heart of Gale's data path, by hand.
//!
//! Run: `cargo run --release --example ring_roundtrip`

use gale::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let fields = Fields::new(["word", "count"])?;
    let (mut tx, mut rx) = ring(RingConfig::new(1 << 16).with_batch(8))?;

    let producer = std::thread::spawn(move || {
        let mut encoder = Encoder::new();
        let header = Header::default();
        for (i, word) in ["storm", "heron", "gale"].into_iter().enumerate() {
            let values = [Value::from(word), Value::I64(i as i64 + 1)];
            let tuple = TupleRef {
                header: &header,
                values: &values,
            };
            let bound = encoded_len_bound(tuple).expect("shallow values");
            // A fresh 64 KiB ring has room; a real producer would wait and retry.
            let mut slot = tx.try_reserve(bound).expect("room in the ring");
            let used = encoder
                .encode_into(tuple, &mut slot)
                .expect("bound suffices");
            slot.commit_len(used);
        }
        tx.flush(); // publish the last, partial batch
    });
    producer.join().expect("producer thread");

    let mut batch = rx.read();
    for record in &mut batch {
        // SAFETY: the only producer of this in-process ring committed exactly
        // the bytes its encoder wrote.
        let tuple = unsafe { gale::view_trusted(record) }.with_fields(&fields);
        let word = tuple.field("word")?.as_str().unwrap_or_default();
        let count = tuple.field("count")?.as_i64().unwrap_or_default();
        println!("{word}\t{count}");
    }
    Ok(())
}
