//! Frames after the handshake: every frame's body is encrypted and the
//! whole frame authenticated with AEGIS-256X2, under keys derived per
//! session and per direction, with an implicit sequence number per
//! direction as the nonce; the 16-byte tag follows the frame.
//!
//! ```text
//! prk      = HMAC-SHA256(salt = "gale-link-v3 session" || nonce_D || nonce_A, secret)
//! key(dir) = HMAC-SHA256(prk, "gale-link-v3 frames" || dir || D || A || 0x01)
//! ```
//!
//! (HKDF-SHA256 extract and one block of expand, RFC 5869), `dir` being
//! `b"D>A"` or `b"A>D"`, D the dialer and A the acceptor. Both nonces are
//! fresh per connection, so every session has its own pair of keys, and a
//! frame recorded on one connection means nothing on another.
//!
//! The nonce of a frame is its sequence number in its direction (the
//! first frame is 0, little endian in the nonce's first 8 bytes, the rest
//! zero), never sent: each side counts the frames it sealed and opened.
//! A frame that was modified, injected, dropped, replayed or reordered
//! fails its tag, and the receiver drops the connection.
//!
//! The frame's 16-byte header travels in the clear (authenticated as
//! associated data: the receiver needs the length), the body is encrypted
//! in place. The tag is computed once per frame, not per record.
//!
//! **Why AEGIS-256X2** (draft-irtf-cfrg-aegis-aead; the `aegis` crate, the
//! C reference implementation with run-time selection of AES-NI, VAES and
//! AVX-512 code): it is an AEAD of the same strength as AES-256-GCM
//! (256-bit keys, 128-bit tags; nonces of 256 bits, so a sequence number
//! is a fine one) that runs the AES round function alone, without GHASH's
//! carry-less multiplications. On the data path, where a two-node link
//! moves some 850 MB/s of 9-byte tuples (80 bytes each on the wire), the
//! frame cipher is the whole cost of security: AES-256-GCM (`ring`, VAES)
//! sealed and opened at about 9 GB/s a core here, AEGIS-256X2 at about
//! 21 GB/s (`cargo bench --bench frame_cipher`, best of runs on a loaded
//! machine), which takes the cipher from some 10 % of each link thread to
//! some 4 %. There is no authenticate-only mode: a MAC over the clear
//! frame costs as much as encrypting it.

use aegis::aegis256x2::Aegis256X2;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::config::NodeId;
use gale_codec::FrameHeader;

/// Bytes of the tag after every frame.
pub const TAG_LEN: usize = 16;

/// A frame whose tag did not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Forged {
    /// The frame's sequence number in its direction.
    pub seq: u64,
}

/// One direction's key and sequence number.
struct Direction {
    key: [u8; 32],
    seq: u64,
}

impl Direction {
    fn new(key: [u8; 32]) -> Direction {
        Direction { key, seq: 0 }
    }

    /// The cipher of the next frame, and its sequence number; sequence
    /// numbers never repeat within a session (2^64 frames are beyond any
    /// connection's life).
    fn next(&mut self) -> (u64, Aegis256X2<TAG_LEN>) {
        let seq = self.seq;
        self.seq = seq.wrapping_add(1);
        let mut nonce = [0u8; 32];
        nonce[..8].copy_from_slice(&seq.to_le_bytes());
        (seq, Aegis256X2::new(&self.key, &nonce))
    }
}

/// The sealing and opening keys of one connection, after its handshake
/// (see [`dial_handshake`](super::wire::dial_handshake) for tools that speak
/// to a link directly).
pub struct Session {
    send: Direction,
    recv: Direction,
}

impl Session {
    /// Derives the session's keys. `dialer` says which side this is.
    pub(crate) fn derive(
        secret: &[u8],
        dialer: bool,
        (d, a): (NodeId, NodeId),
        (nonce_d, nonce_a): (&[u8; 32], &[u8; 32]),
    ) -> Session {
        let mut extract = <Hmac<Sha256> as KeyInit>::new_from_slice(
            &[b"gale-link-v3 session".as_slice(), nonce_d, nonce_a].concat(),
        )
        .expect("HMAC accepts any key length");
        extract.update(secret);
        let prk = extract.finalize().into_bytes();
        let key = |dir: &[u8; 3]| -> [u8; 32] {
            let mut expand =
                <Hmac<Sha256> as KeyInit>::new_from_slice(&prk).expect("any key length");
            expand.update(b"gale-link-v3 frames");
            expand.update(dir);
            expand.update(&d.to_le_bytes());
            expand.update(&a.to_le_bytes());
            expand.update(&[1]);
            expand.finalize().into_bytes().into()
        };
        let (d_to_a, a_to_d) = (key(b"D>A"), key(b"A>D"));
        let (send, recv) = if dialer {
            (d_to_a, a_to_d)
        } else {
            (a_to_d, d_to_a)
        };
        Session {
            send: Direction::new(send),
            recv: Direction::new(recv),
        }
    }

    /// Seals a finished frame (header and body, `frame`) in place and
    /// writes its tag into `tag`.
    pub(crate) fn seal(&mut self, frame: &mut [u8], tag: &mut [u8]) {
        let (_, cipher) = self.send.next();
        let (header, body) = frame.split_at_mut(FrameHeader::LEN);
        tag.copy_from_slice(&cipher.encrypt_in_place(body, header));
    }

    /// Checks the next received frame (`frame`, header and body) against
    /// its tag and decrypts its body in place. The frame
    /// must not be used when this fails (its body is then erased).
    pub(crate) fn open(&mut self, frame: &mut [u8], tag: &[u8]) -> Result<(), Forged> {
        let (seq, cipher) = self.recv.next();
        let forged = Forged { seq };
        let tag: &[u8; TAG_LEN] = tag.try_into().map_err(|_| forged)?;
        let (header, body) = frame.split_at_mut(FrameHeader::LEN);
        cipher
            .decrypt_in_place(body, tag, header)
            .map_err(|_| forged)
    }

    /// Seals the finished frame in `frame` (a `gale_codec` frame, header
    /// and body) as the next one of this side, appending its tag.
    pub fn seal_frame(&mut self, frame: &mut Vec<u8>) {
        let n = frame.len();
        frame.resize(n + TAG_LEN, 0);
        let (f, tag) = frame.split_at_mut(n);
        self.seal(f, tag);
    }

    /// Opens the next frame received from the peer: `bytes` is the frame
    /// followed by its tag. Returns whether the tag verified (the body is
    /// then decrypted in place).
    pub fn open_frame(&mut self, bytes: &mut [u8]) -> bool {
        let Some(n) = bytes.len().checked_sub(TAG_LEN) else {
            return false;
        };
        let (f, tag) = bytes.split_at_mut(n);
        self.open(f, tag).is_ok()
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("sent", &self.send.seq)
            .field("received", &self.recv.seq)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (Session, Session) {
        let (nd, na) = ([1u8; 32], [2u8; 32]);
        let s = b"0123456789abcdef0123456789abcdef";
        (
            Session::derive(s, true, (1, 2), (&nd, &na)),
            Session::derive(s, false, (1, 2), (&nd, &na)),
        )
    }

    fn frame(fill: u8) -> Vec<u8> {
        let mut f = vec![fill; 64];
        f[..4].copy_from_slice(b"GALE");
        f
    }

    #[test]
    fn sealed_frames_are_encrypted_and_open_in_order() {
        let (mut d, mut a) = pair();
        for i in 0..3u8 {
            let mut f = frame(i);
            let mut tag = [0u8; TAG_LEN];
            d.seal(&mut f, &mut tag);
            assert_eq!(f[..FrameHeader::LEN], frame(i)[..FrameHeader::LEN]);
            assert_ne!(f[FrameHeader::LEN..], frame(i)[FrameHeader::LEN..]);
            a.open(&mut f, &tag).unwrap();
            assert_eq!(f, frame(i));
        }
    }

    #[test]
    fn modified_replayed_reordered_and_reflected_frames_fail() {
        let (mut d, mut a) = pair();
        let mut tags = [[0u8; TAG_LEN]; 3];
        let mut frames = [frame(0), frame(1), frame(2)];
        for (f, t) in frames.iter_mut().zip(&mut tags) {
            d.seal(f, t);
        }
        // Modified.
        let mut m = frames[0].clone();
        m[40] ^= 1;
        assert_eq!(a.open(&mut m, &tags[0]), Err(Forged { seq: 0 }));
        // Reordered: frame 1 first.
        let (_, mut a) = pair();
        assert!(a.open(&mut frames[1].clone(), &tags[1]).is_err());
        // Replayed: frame 0 twice.
        let (_, mut a) = pair();
        a.open(&mut frames[0].clone(), &tags[0]).unwrap();
        assert!(a.open(&mut frames[0].clone(), &tags[0]).is_err());
        // Reflected: the dialer's own frame sent back to it.
        let (mut d2, _) = pair();
        assert!(d2.open(&mut frames[0].clone(), &tags[0]).is_err());
    }
}
