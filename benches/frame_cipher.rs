//! The link's frame cipher, by itself: sealing (encrypt in place and tag)
//! and opening one frame body of 4 KiB, 64 KiB and 1 MiB with AEGIS-256X2
//! as `transport/src/link/seal.rs` does (a fresh cipher state per frame,
//! the nonce a sequence number, the 16-byte header as associated data),
//! against AES-256-GCM from `ring` (VAES where the CPU has it), the
//! cipher the link used before. On a two-node link of small tuples this
//! cost per byte is what security costs (BENCHMARKS.md, "Link
//! encryption").
//!
//! Run: `cargo bench --bench frame_cipher`

// criterion_group! generates a public function without docs.
#![allow(missing_docs)]

use std::hint::black_box;

use aegis::aegis256x2::Aegis256X2;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ring::aead::{Aad, LessSafeKey, Nonce, Tag, UnboundKey, AES_256_GCM};

const KEY: [u8; 32] = [0x42; 32];
const HEADER: [u8; 16] = *b"GALE\x01\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00";

fn aegis_nonce(seq: u64) -> [u8; 32] {
    let mut n = [0u8; 32];
    n[..8].copy_from_slice(&seq.to_le_bytes());
    n
}

fn gcm_nonce(seq: u64) -> Nonce {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&seq.to_le_bytes());
    Nonce::assume_unique_for_key(n)
}

fn frame_cipher(c: &mut Criterion) {
    let gcm = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &KEY).expect("a 32-byte key"));
    let mut g = c.benchmark_group("frame_cipher");
    for size in [4usize << 10, 64 << 10, 1 << 20] {
        g.throughput(Throughput::Bytes(size as u64));
        let mut body = vec![0x5au8; size];

        // Check first: what one seals, the other opens; a flipped bit fails.
        let tag = Aegis256X2::<16>::new(&KEY, &aegis_nonce(7)).encrypt_in_place(&mut body, &HEADER);
        Aegis256X2::<16>::new(&KEY, &aegis_nonce(7))
            .decrypt_in_place(&mut body, &tag, &HEADER)
            .expect("opens");
        assert!(body.iter().all(|&b| b == 0x5a));
        let t = gcm
            .seal_in_place_separate_tag(gcm_nonce(7), Aad::from(HEADER), &mut body)
            .expect("seals");
        body[0] ^= 1;
        assert!(gcm
            .open_in_place_separate_tag(gcm_nonce(7), Aad::from(HEADER), t, &mut body, 0..)
            .is_err());

        let mut seq = 0u64;
        g.bench_function(BenchmarkId::new("seal/aegis-256x2", size), |b| {
            b.iter(|| {
                seq += 1;
                let cipher = Aegis256X2::<16>::new(&KEY, &aegis_nonce(seq));
                black_box(cipher.encrypt_in_place(&mut body, &HEADER))
            })
        });
        g.bench_function(BenchmarkId::new("seal/aes-256-gcm", size), |b| {
            b.iter(|| {
                seq += 1;
                let tag =
                    gcm.seal_in_place_separate_tag(gcm_nonce(seq), Aad::from(HEADER), &mut body);
                black_box(tag.expect("within GCM's limit"))
            })
        });
        // Opening: the same frame each time, so the tag is computed and
        // checked over the whole body (a failed check costs the same).
        let aegis_tag =
            Aegis256X2::<16>::new(&KEY, &aegis_nonce(1)).encrypt_in_place(&mut body, &HEADER);
        let sealed = body.clone();
        g.bench_function(BenchmarkId::new("open/aegis-256x2", size), |b| {
            b.iter(|| {
                body.copy_from_slice(&sealed);
                let cipher = Aegis256X2::<16>::new(&KEY, &aegis_nonce(1));
                black_box(
                    cipher
                        .decrypt_in_place(&mut body, &aegis_tag, &HEADER)
                        .is_ok(),
                )
            })
        });
        let gcm_tag: Tag = gcm
            .seal_in_place_separate_tag(gcm_nonce(1), Aad::from(HEADER), &mut body)
            .expect("seals");
        let sealed = body.clone();
        g.bench_function(BenchmarkId::new("open/aes-256-gcm", size), |b| {
            b.iter(|| {
                body.copy_from_slice(&sealed);
                let opened = gcm.open_in_place_separate_tag(
                    gcm_nonce(1),
                    Aad::from(HEADER),
                    gcm_tag,
                    &mut body,
                    0..,
                );
                black_box(opened.expect("opens").len())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, frame_cipher);
criterion_main!(benches);
