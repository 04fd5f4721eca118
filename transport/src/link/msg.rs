//! The link's handshake messages on the wire (frames after the handshake are
//! `gale_codec` frames).
//!
//! Every handshake message is a 16-byte header and a body padded to a
//! multiple of 8 bytes. The header layout is the same in every wire version,
//! so a node can always read a peer's version and refuse it clearly:
//!
//! ```text
//! offset  size  field
//! 0       8     magic b"GALELINK"
//! 8       2     wire version (little endian), currently 4
//! 10      2     message kind: 1 hello, 2 auth, 3 ok, 4 refuse, 5 ring
//! 12      4     body length in bytes (little endian), a multiple of 8, at most 256
//! 16      ...   body
//! ```
//!
//! Bodies: hello = `from: u32, to: u32, nonce: [u8; 32]`; auth = `proof:
//! [u8; 32], fingerprint: [u8; 32]` (HMAC-SHA256 over both nonces, see
//! `handshake.rs`); ok = empty; refuse = `code: u32, text length: u32, text`
//! (UTF-8, zero padded); ring (same-host peers, after ok) = `name length:
//! u32, 0: u32, file name`.
//!
//! After the handshake, each side sends `gale_codec` frames, each followed
//! by a 16-byte AEGIS-256X2 tag under the session's keys (see
//! `seal::Session`); a frame whose tag does not verify drops the
//! connection.

use super::config::NodeId;

/// The eight bytes every handshake message starts with.
pub const WIRE_MAGIC: [u8; 8] = *b"GALELINK";
/// The link wire version this build speaks (handshake and frames).
pub const WIRE_VERSION: u16 = 5;
/// Size of a handshake message header.
pub const MSG_HEADER: usize = 16;
/// Largest handshake message body.
pub const MAX_MSG_BODY: usize = 256;
/// Size of a hello body.
pub const HELLO_BODY: usize = 40;
/// Size of an auth body.
pub const AUTH_BODY: usize = 64;

/// Handshake message kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum MsgKind {
    /// Node ids and a fresh nonce.
    Hello = 1,
    /// The HMACs over both nonces: the proof of the secret, and the
    /// fingerprint's.
    Auth = 2,
    /// The peer's auth was verified; frames follow.
    Ok = 3,
    /// The handshake is refused; the connection closes.
    Refuse = 4,
    /// Same-host peers only, after the handshake: the name of the sender's
    /// outbound ring file under the shared-memory directory.
    Ring = 5,
}

impl MsgKind {
    fn from_u16(v: u16) -> Option<MsgKind> {
        Some(match v {
            1 => MsgKind::Hello,
            2 => MsgKind::Auth,
            3 => MsgKind::Ok,
            4 => MsgKind::Refuse,
            5 => MsgKind::Ring,
            _ => return None,
        })
    }
}

/// Why a handshake was refused, as sent in a refuse message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum RefuseCode {
    /// The peer speaks another wire version.
    WireVersion = 1,
    /// The peer's topology/cluster fingerprint differs.
    Fingerprint = 2,
    /// The peer's HMAC did not verify: a different cluster secret.
    Auth = 3,
    /// The peer is not the node expected (unknown id, or it should dial us).
    NodeId = 4,
    /// The peer broke the handshake protocol.
    Protocol = 5,
}

impl RefuseCode {
    /// Decodes a code from the wire; unknown codes read as `Protocol`.
    pub fn from_u32(v: u32) -> RefuseCode {
        match v {
            1 => RefuseCode::WireVersion,
            2 => RefuseCode::Fingerprint,
            3 => RefuseCode::Auth,
            4 => RefuseCode::NodeId,
            _ => RefuseCode::Protocol,
        }
    }
}

/// A malformed handshake message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The bytes do not start with [`WIRE_MAGIC`].
    #[error("not a Gale link peer: bad magic {found:02x?}")]
    BadMagic {
        /// The first eight bytes.
        found: [u8; 8],
    },
    /// An unknown message kind.
    #[error("unknown handshake message kind {0}")]
    BadKind(u16),
    /// A body length over [`MAX_MSG_BODY`], not a multiple of 8, or wrong
    /// for the kind.
    #[error("bad handshake message length {len} for kind {kind}")]
    BadLength {
        /// The kind.
        kind: u16,
        /// The length found.
        len: u32,
    },
}

/// A parsed handshake message header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MsgHeader {
    /// The sender's wire version.
    pub version: u16,
    /// The message kind.
    pub kind: MsgKind,
    /// The body length.
    pub len: usize,
}

impl MsgHeader {
    /// Parses a header from the first [`MSG_HEADER`] bytes; `Ok(None)` when
    /// fewer bytes are available.
    pub fn parse(bytes: &[u8]) -> Result<Option<MsgHeader>, WireError> {
        let Some(h) = bytes.get(..MSG_HEADER) else {
            // Refuse garbage as early as possible: a prefix that already
            // differs from the magic will never become a header.
            let n = bytes.len().min(WIRE_MAGIC.len());
            if bytes[..n] != WIRE_MAGIC[..n] {
                let mut found = [0u8; 8];
                found[..n].copy_from_slice(&bytes[..n]);
                return Err(WireError::BadMagic { found });
            }
            return Ok(None);
        };
        let mut found = [0u8; 8];
        found.copy_from_slice(&h[..8]);
        if found != WIRE_MAGIC {
            return Err(WireError::BadMagic { found });
        }
        let version = u16::from_le_bytes([h[8], h[9]]);
        let raw_kind = u16::from_le_bytes([h[10], h[11]]);
        let len = u32::from_le_bytes([h[12], h[13], h[14], h[15]]);
        let kind = MsgKind::from_u16(raw_kind).ok_or(WireError::BadKind(raw_kind))?;
        let bad = WireError::BadLength {
            kind: raw_kind,
            len,
        };
        let len_ok = match kind {
            // Only the layout of the header is stable across versions; a
            // hello of another version is refused by version, not length.
            MsgKind::Hello if version == WIRE_VERSION => len as usize == HELLO_BODY,
            MsgKind::Auth if version == WIRE_VERSION => len as usize == AUTH_BODY,
            MsgKind::Ok if version == WIRE_VERSION => len == 0,
            _ => true,
        };
        if !len_ok || len as usize > MAX_MSG_BODY || len % 8 != 0 {
            return Err(bad);
        }
        Ok(Some(MsgHeader {
            version,
            kind,
            len: len as usize,
        }))
    }
}

/// Appends a handshake message to `out`.
pub fn encode_msg(version: u16, kind: MsgKind, body: &[u8], out: &mut Vec<u8>) {
    let padded = body.len().next_multiple_of(8);
    out.extend_from_slice(&WIRE_MAGIC);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&(kind as u16).to_le_bytes());
    out.extend_from_slice(&(padded as u32).to_le_bytes());
    out.extend_from_slice(body);
    out.resize(out.len() + padded - body.len(), 0);
}

/// The first message of each side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hello {
    /// The sender's node id.
    pub from: NodeId,
    /// The node id the sender expects to talk to.
    pub to: NodeId,
    /// A fresh random challenge for the receiver's HMAC.
    pub nonce: [u8; 32],
}

impl Hello {
    /// Appends this hello, as wire `version`, to `out`.
    pub fn encode(&self, version: u16, out: &mut Vec<u8>) {
        let mut body = [0u8; HELLO_BODY];
        body[..4].copy_from_slice(&self.from.to_le_bytes());
        body[4..8].copy_from_slice(&self.to.to_le_bytes());
        body[8..40].copy_from_slice(&self.nonce);
        encode_msg(version, MsgKind::Hello, &body, out);
    }

    /// Decodes a hello body (of [`HELLO_BODY`] bytes, checked by
    /// [`MsgHeader::parse`]).
    pub fn decode(body: &[u8]) -> Option<Hello> {
        let body: &[u8; HELLO_BODY] = body.try_into().ok()?;
        let mut nonce = [0u8; 32];
        nonce.copy_from_slice(&body[8..40]);
        Some(Hello {
            from: u32::from_le_bytes([body[0], body[1], body[2], body[3]]),
            to: u32::from_le_bytes([body[4], body[5], body[6], body[7]]),
            nonce,
        })
    }
}

/// The second message of each side: what proves the secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Auth {
    /// HMAC-SHA256 of the handshake's transcript under the secret.
    pub proof: [u8; 32],
    /// The same with the sender's fingerprint appended.
    pub fingerprint: [u8; 32],
}

impl Auth {
    /// The body.
    pub fn encode(&self) -> [u8; AUTH_BODY] {
        let mut body = [0u8; AUTH_BODY];
        body[..32].copy_from_slice(&self.proof);
        body[32..].copy_from_slice(&self.fingerprint);
        body
    }

    /// Decodes an auth body (of [`AUTH_BODY`] bytes).
    pub fn decode(body: &[u8]) -> Option<Auth> {
        let body: &[u8; AUTH_BODY] = body.try_into().ok()?;
        let (mut proof, mut fingerprint) = ([0u8; 32], [0u8; 32]);
        proof.copy_from_slice(&body[..32]);
        fingerprint.copy_from_slice(&body[32..]);
        Some(Auth { proof, fingerprint })
    }
}

/// Appends a refuse message to `out`; the text is cut to fit the body.
pub fn encode_refuse(code: RefuseCode, text: &str, out: &mut Vec<u8>) {
    let mut text = &text.as_bytes()[..text.len().min(MAX_MSG_BODY - 8)];
    while std::str::from_utf8(text).is_err() {
        text = &text[..text.len() - 1];
    }
    let mut body = Vec::with_capacity(8 + text.len());
    body.extend_from_slice(&(code as u32).to_le_bytes());
    body.extend_from_slice(&(text.len() as u32).to_le_bytes());
    body.extend_from_slice(text);
    encode_msg(WIRE_VERSION, MsgKind::Refuse, &body, out);
}

/// Decodes a refuse body into its code and text (lossy UTF-8, bounded).
pub fn decode_refuse(body: &[u8]) -> (RefuseCode, String) {
    let Some(h) = body.get(..8) else {
        return (RefuseCode::Protocol, String::from("(malformed refusal)"));
    };
    let code = RefuseCode::from_u32(u32::from_le_bytes([h[0], h[1], h[2], h[3]]));
    let len = u32::from_le_bytes([h[4], h[5], h[6], h[7]]) as usize;
    let text = body.get(8..8 + len).unwrap_or(&body[8..]);
    (code, String::from_utf8_lossy(text).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_round_trips() {
        let h = Hello {
            from: 3,
            to: 7,
            nonce: [1; 32],
        };
        let mut out = Vec::new();
        h.encode(WIRE_VERSION, &mut out);
        let hdr = MsgHeader::parse(&out).unwrap().unwrap();
        assert_eq!(hdr.kind, MsgKind::Hello);
        assert_eq!(Hello::decode(&out[MSG_HEADER..]), Some(h));
    }

    #[test]
    fn garbage_is_refused_early() {
        assert!(matches!(
            MsgHeader::parse(b"GET"),
            Err(WireError::BadMagic { .. })
        ));
        assert_eq!(MsgHeader::parse(b"GALEL"), Ok(None));
    }

    #[test]
    fn refuse_round_trips_and_cuts_long_text() {
        let mut out = Vec::new();
        let long = "é".repeat(300);
        encode_refuse(RefuseCode::Fingerprint, &long, &mut out);
        let hdr = MsgHeader::parse(&out).unwrap().unwrap();
        assert!(hdr.len <= MAX_MSG_BODY);
        let (code, text) = decode_refuse(&out[MSG_HEADER..MSG_HEADER + hdr.len]);
        assert_eq!(code, RefuseCode::Fingerprint);
        assert!(long.starts_with(&text) && !text.is_empty());
    }
}
