//! The link handshake: wire version, node ids, mutual HMAC-SHA256
//! challenge-response on the cluster secret, then the fingerprint, then
//! the session keys of the frames that follow (`seal.rs`).
//!
//! ```text
//! dialer D                                 acceptor A
//!   hello(D -> A, nonce_D)           ->
//!                                    <-    hello(A -> D, nonce_A)
//!   auth(proof_D, fp_D)              ->    (A checks proof_D, then fp_D)
//!                                    <-    auth(proof_A, fp_A), ok   (A is up)
//!   (D checks both; D is up)
//! ```
//!
//! `proof_X = HMAC-SHA256(secret, "gale-link-v2 proof" || version || role_X
//! || D || A || nonce_D || nonce_A)` and `fp_X` the same with
//! "gale-link-v2 fingerprint" and the sender's fingerprint appended. Each
//! side answers a challenge (the other's nonce) that is fresh per
//! connection, so the secret never travels and a recorded answer is
//! worthless later.
//!
//! The acceptor sends nothing derived from the secret or the fingerprint
//! until the dialer has proved that it holds the secret: a stranger that
//! dials a node learns its wire version and node id, nothing it could test
//! guesses of the secret or of the topology against. The dialer only
//! dials the addresses in its cluster file. The fingerprint travels only
//! as a MAC (a mismatch is still named as such, once the secret is proven).
//! Tags are compared in constant time (`Mac::verify_slice`). A check that
//! fails is answered with a refuse message naming the reason, then the
//! connection closes; both sides log it (a peer's refusal text escaped).

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::config::NodeId;
use super::msg::{
    decode_refuse, encode_msg, encode_refuse, Auth, Hello, MsgHeader, MsgKind, RefuseCode,
    WIRE_VERSION,
};
use super::seal::Session;

type HmacSha256 = Hmac<Sha256>;

/// What a node knows for handshakes.
pub(crate) struct Identity {
    pub node: NodeId,
    pub secret: Vec<u8>,
    pub fingerprint: [u8; 32],
}

/// Where a handshake is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    AwaitHello,
    AwaitAuth,
    AwaitOk,
    Up,
}

/// Why a handshake failed.
#[derive(Debug)]
pub(crate) enum HandshakeError {
    /// We refuse the peer; a refuse message is in the output.
    Refused { code: RefuseCode, reason: String },
    /// The peer refused us (its text, escaped).
    PeerRefused { code: RefuseCode, reason: String },
    /// Not the handshake protocol at all (garbage, wrong order); nothing sent.
    Protocol(String),
}

/// What a handshake step produced.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Waiting for the next message.
    Continue,
    /// The peer said who it is (acceptor side, after a valid hello).
    Identified(NodeId),
    /// The handshake is complete; frames follow.
    Up,
}

/// The roles in the MACs.
const DIALER: u8 = b'D';
const ACCEPTOR: u8 = b'A';

/// One side of one connection's handshake.
pub(crate) struct Handshake {
    /// `Some(peer)` on the dialing side.
    dial_to: Option<NodeId>,
    state: State,
    nonce: [u8; 32],
    peer: Option<(NodeId, [u8; 32])>,
    /// The frame keys, once up (taken by the connection).
    session: Option<Session>,
}

impl Handshake {
    /// Starts a handshake; a dialer writes its hello to `out`.
    pub fn new(
        id: &Identity,
        dial_to: Option<NodeId>,
        out: &mut Vec<u8>,
    ) -> Result<Self, std::io::Error> {
        let mut nonce = [0u8; 32];
        getrandom::fill(&mut nonce).map_err(std::io::Error::other)?;
        if let Some(to) = dial_to {
            Hello {
                from: id.node,
                to,
                nonce,
            }
            .encode(WIRE_VERSION, out);
        }
        Ok(Handshake {
            dial_to,
            state: State::AwaitHello,
            nonce,
            peer: None,
            session: None,
        })
    }

    /// Whether the handshake completed.
    pub fn is_up(&self) -> bool {
        self.state == State::Up
    }

    /// Whether the peer's hello arrived.
    pub fn got_hello(&self) -> bool {
        self.state != State::AwaitHello
    }

    /// The frame keys of the session, once up (once).
    pub fn take_session(&mut self) -> Option<Session> {
        self.session.take()
    }

    /// Handles one message; replies go to `out`. `acceptable` says whether
    /// an acceptor takes a hello from that node id.
    pub fn on_message(
        &mut self,
        id: &Identity,
        header: MsgHeader,
        body: &[u8],
        acceptable: impl Fn(NodeId) -> Result<(), String>,
        out: &mut Vec<u8>,
    ) -> Result<Step, HandshakeError> {
        let refuse = |code, reason: String, out: &mut Vec<u8>| {
            encode_refuse(code, &reason, out);
            Err(HandshakeError::Refused { code, reason })
        };
        if header.kind == MsgKind::Refuse {
            let (code, reason) = decode_refuse(body);
            return Err(HandshakeError::PeerRefused {
                code,
                reason: escape(&reason),
            });
        }
        if header.version != WIRE_VERSION {
            return refuse(
                RefuseCode::WireVersion,
                format!(
                    "wire version mismatch: peer speaks {}, node {} speaks {WIRE_VERSION}",
                    header.version, id.node
                ),
                out,
            );
        }
        match (self.state, header.kind) {
            (State::AwaitHello, MsgKind::Hello) => {
                let hello = Hello::decode(body)
                    .ok_or_else(|| HandshakeError::Protocol(String::from("malformed hello")))?;
                if hello.to != id.node {
                    return refuse(
                        RefuseCode::NodeId,
                        format!(
                            "node id mismatch: peer {} wants node {}, this is node {}",
                            hello.from, hello.to, id.node
                        ),
                        out,
                    );
                }
                match self.dial_to {
                    Some(expected) if hello.from != expected => {
                        return refuse(
                            RefuseCode::NodeId,
                            format!(
                                "node id mismatch: dialed node {expected}, node {} answered",
                                hello.from
                            ),
                            out,
                        );
                    }
                    Some(_) => {}
                    None => {
                        if let Err(reason) = acceptable(hello.from) {
                            return refuse(RefuseCode::NodeId, reason, out);
                        }
                    }
                }
                self.peer = Some((hello.from, hello.nonce));
                if self.dial_to.is_none() {
                    // Nothing secret-derived yet: the dialer proves first.
                    Hello {
                        from: id.node,
                        to: hello.from,
                        nonce: self.nonce,
                    }
                    .encode(WIRE_VERSION, out);
                    self.state = State::AwaitAuth;
                    return Ok(Step::Identified(hello.from));
                }
                encode_msg(
                    WIRE_VERSION,
                    MsgKind::Auth,
                    &self.auth(id, DIALER).encode(),
                    out,
                );
                self.state = State::AwaitAuth;
                Ok(Step::Continue)
            }
            (State::AwaitAuth, MsgKind::Auth) => {
                let (peer, _) = self.peer.expect("set with AwaitAuth");
                let auth = Auth::decode(body)
                    .ok_or_else(|| HandshakeError::Protocol(String::from("malformed auth")))?;
                let role = if self.dial_to.is_some() {
                    ACCEPTOR
                } else {
                    DIALER
                };
                if self
                    .mac(id, b"gale-link-v2 proof", role, None)
                    .verify_slice(&auth.proof)
                    .is_err()
                {
                    return refuse(
                        RefuseCode::Auth,
                        format!(
                            "authentication failed: node {peer} does not hold the same cluster \
                             secret"
                        ),
                        out,
                    );
                }
                if self
                    .mac(id, b"gale-link-v2 fingerprint", role, Some(&id.fingerprint))
                    .verify_slice(&auth.fingerprint)
                    .is_err()
                {
                    return refuse(
                        RefuseCode::Fingerprint,
                        format!(
                            "fingerprint mismatch (topology or cluster file differ): node {} \
                             has {}, node {peer} has another",
                            id.node,
                            short_hex(&id.fingerprint)
                        ),
                        out,
                    );
                }
                if self.dial_to.is_some() {
                    self.state = State::AwaitOk;
                    return Ok(Step::Continue);
                }
                encode_msg(
                    WIRE_VERSION,
                    MsgKind::Auth,
                    &self.auth(id, ACCEPTOR).encode(),
                    out,
                );
                encode_msg(WIRE_VERSION, MsgKind::Ok, &[], out);
                self.up(id);
                Ok(Step::Up)
            }
            (State::AwaitOk, MsgKind::Ok) => {
                self.up(id);
                Ok(Step::Up)
            }
            (state, kind) => Err(HandshakeError::Protocol(format!(
                "unexpected handshake message {kind:?} while waiting in state {state:?}"
            ))),
        }
    }

    fn up(&mut self, id: &Identity) {
        let (peer, peer_nonce) = self.peer.expect("identified before up");
        let dialer = self.dial_to.is_some();
        let (ids, nonces) = if dialer {
            ((id.node, peer), (&self.nonce, &peer_nonce))
        } else {
            ((peer, id.node), (&peer_nonce, &self.nonce))
        };
        self.session = Some(Session::derive(&id.secret, dialer, ids, nonces));
        self.state = State::Up;
    }

    /// This side's auth message.
    fn auth(&self, id: &Identity, role: u8) -> Auth {
        Auth {
            proof: self
                .mac(id, b"gale-link-v2 proof", role, None)
                .finalize()
                .into_bytes()
                .into(),
            fingerprint: self
                .mac(id, b"gale-link-v2 fingerprint", role, Some(&id.fingerprint))
                .finalize()
                .into_bytes()
                .into(),
        }
    }

    /// A MAC of `role` (the sender's) over the session's transcript:
    /// domain, version, role, dialer, acceptor, both nonces,
    /// and the fingerprint if given.
    fn mac(&self, id: &Identity, domain: &[u8], role: u8, fp: Option<&[u8; 32]>) -> HmacSha256 {
        let (peer, peer_nonce) = self.peer.expect("identified before auth");
        let ((d, a), (nonce_d, nonce_a)) = if self.dial_to.is_some() {
            ((id.node, peer), (&self.nonce, &peer_nonce))
        } else {
            ((peer, id.node), (&peer_nonce, &self.nonce))
        };
        // HMAC takes keys of any length; secrets are checked when the link
        // starts.
        let mut mac = HmacSha256::new_from_slice(&id.secret).expect("HMAC accepts any key length");
        mac.update(domain);
        mac.update(&WIRE_VERSION.to_le_bytes());
        mac.update(&[role]);
        mac.update(&d.to_le_bytes());
        mac.update(&a.to_le_bytes());
        mac.update(nonce_d);
        mac.update(nonce_a);
        if let Some(fp) = fp {
            mac.update(fp);
        }
        mac
    }
}

/// A fresh challenge for a control request (32 random bytes).
pub fn control_nonce() -> std::io::Result<[u8; 32]> {
    let mut nonce = [0u8; 32];
    getrandom::fill(&mut nonce).map_err(std::io::Error::other)?;
    Ok(nonce)
}

/// The proof of a control request, the link's HMAC-SHA256 challenge
/// applied to a request: `HMAC-SHA256(secret, "gale-control-v1" ||
/// WIRE_VERSION || method || 0 || path || 0 || nonce)`, where `nonce` is
/// a challenge the node handed out (fresh, single-use), so the secret
/// never travels and a recorded proof is worthless later.
pub fn control_proof(secret: &[u8], method: &str, path: &str, nonce: &[u8]) -> [u8; 32] {
    control_mac(secret, method, path, nonce)
        .finalize()
        .into_bytes()
        .into()
}

/// Whether `proof` is [`control_proof`]'s for these (in constant time).
pub fn verify_control_proof(
    secret: &[u8],
    method: &str,
    path: &str,
    nonce: &[u8],
    proof: &[u8],
) -> bool {
    control_mac(secret, method, path, nonce)
        .verify_slice(proof)
        .is_ok()
}

fn control_mac(secret: &[u8], method: &str, path: &str, nonce: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(b"gale-control-v1");
    mac.update(&WIRE_VERSION.to_le_bytes());
    mac.update(method.as_bytes());
    mac.update(&[0]);
    mac.update(path.as_bytes());
    mac.update(&[0]);
    mac.update(nonce);
    mac
}

/// `text` as it may go into a log line: control characters (newlines
/// included), quotes and backslashes escaped, so bytes from a stranger can
/// never forge a line.
pub(crate) fn escape(text: &str) -> String {
    text.escape_debug().to_string()
}

/// Runs the dialing side of a handshake over a blocking stream: the link's
/// own state machine, for tools and tests that speak to a link directly.
/// On success the stream is ready for frames, each sealed with the returned
/// [`Session`]. A refusal (either way) is an error of kind
/// `PermissionDenied` naming the reason.
pub fn dial_handshake(
    stream: &mut std::net::TcpStream,
    node: NodeId,
    to: NodeId,
    secret: &[u8],
    fingerprint: [u8; 32],
) -> std::io::Result<Session> {
    use std::io::{Error, ErrorKind, Read, Write};
    let id = Identity {
        node,
        secret: secret.to_vec(),
        fingerprint,
    };
    let mut out = Vec::new();
    let mut hs = Handshake::new(&id, Some(to), &mut out)?;
    let mut header = [0u8; super::msg::MSG_HEADER];
    let mut body = Vec::new();
    while !hs.is_up() {
        stream.write_all(&out)?;
        out.clear();
        stream.read_exact(&mut header)?;
        let h = MsgHeader::parse(&header)
            .map_err(|e| Error::new(ErrorKind::InvalidData, e))?
            .ok_or_else(|| Error::from(ErrorKind::UnexpectedEof))?;
        body.resize(h.len, 0);
        stream.read_exact(&mut body)?;
        match hs.on_message(&id, h, &body, |_| Ok(()), &mut out) {
            Ok(_) => {}
            Err(HandshakeError::Protocol(r)) => return Err(Error::new(ErrorKind::InvalidData, r)),
            Err(HandshakeError::Refused { reason, .. }) => {
                let _ = stream.write_all(&out);
                return Err(Error::new(ErrorKind::PermissionDenied, reason));
            }
            Err(HandshakeError::PeerRefused { reason, .. }) => {
                return Err(Error::new(ErrorKind::PermissionDenied, reason))
            }
        }
    }
    stream.write_all(&out)?;
    Ok(hs.take_session().expect("a session once up"))
}

fn short_hex(bytes: &[u8; 32]) -> String {
    bytes[..6].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::super::msg::MSG_HEADER;
    use super::*;

    fn identity(node: NodeId, secret: &[u8], fp: u8) -> Identity {
        Identity {
            node,
            secret: secret.to_vec(),
            fingerprint: [fp; 32],
        }
    }

    /// Feeds every message of `bytes` to `hs`; returns the last step.
    fn deliver(
        hs: &mut Handshake,
        id: &Identity,
        bytes: &mut Vec<u8>,
        out: &mut Vec<u8>,
    ) -> Result<Step, HandshakeError> {
        let mut step = Step::Continue;
        let input = std::mem::take(bytes);
        let mut pos = 0;
        while pos < input.len() {
            let h = MsgHeader::parse(&input[pos..]).unwrap().unwrap();
            let body = &input[pos + MSG_HEADER..pos + MSG_HEADER + h.len];
            step = hs.on_message(id, h, body, |_| Ok(()), out)?;
            pos += MSG_HEADER + h.len;
        }
        Ok(step)
    }

    fn run(
        a: &Identity,
        d: &Identity,
    ) -> (Result<Step, HandshakeError>, Result<Step, HandshakeError>) {
        let (mut to_a, mut to_d) = (Vec::new(), Vec::new());
        let mut hd = Handshake::new(d, Some(a.node), &mut to_a).unwrap();
        let mut ha = Handshake::new(a, None, &mut to_d).unwrap();
        let mut last_a = Ok(Step::Continue);
        let mut last_d = Ok(Step::Continue);
        for _ in 0..4 {
            if !to_a.is_empty() {
                last_a = deliver(&mut ha, a, &mut to_a, &mut to_d);
            }
            if !to_d.is_empty() {
                last_d = deliver(&mut hd, d, &mut to_d, &mut to_a);
            }
            if last_a.is_err() || last_d.is_err() {
                break;
            }
        }
        (last_a, last_d)
    }

    const S: &[u8] = b"0123456789abcdef0123456789abcdef";
    const T: &[u8] = b"0123456789abcdef0123456789abcdeX";

    #[test]
    fn same_secret_and_fingerprint_come_up_with_matching_keys() {
        let (a_id, d_id) = (identity(2, S, 1), identity(1, S, 1));
        let (mut to_a, mut to_d) = (Vec::new(), Vec::new());
        let mut hd = Handshake::new(&d_id, Some(2), &mut to_a).unwrap();
        let mut ha = Handshake::new(&a_id, None, &mut to_d).unwrap();
        for _ in 0..3 {
            if !to_a.is_empty() {
                deliver(&mut ha, &a_id, &mut to_a, &mut to_d).unwrap();
            }
            if !to_d.is_empty() {
                deliver(&mut hd, &d_id, &mut to_d, &mut to_a).unwrap();
            }
        }
        assert!(ha.is_up() && hd.is_up());
        let (mut sd, mut sa) = (hd.take_session().unwrap(), ha.take_session().unwrap());
        let mut f = vec![7u8; 32];
        sd.seal_frame(&mut f);
        assert!(sa.open_frame(&mut f));
    }

    #[test]
    fn wrong_secret_is_refused_by_the_acceptor() {
        let (a, _) = run(&identity(2, S, 1), &identity(1, T, 1));
        assert!(matches!(
            a,
            Err(HandshakeError::Refused {
                code: RefuseCode::Auth,
                ..
            })
        ));
    }

    #[test]
    fn fingerprint_mismatch_is_refused() {
        let (a, _) = run(&identity(2, S, 1), &identity(1, S, 9));
        assert!(matches!(
            a,
            Err(HandshakeError::Refused {
                code: RefuseCode::Fingerprint,
                ..
            })
        ));
    }

    #[test]
    fn the_acceptor_answers_a_hello_with_a_nonce_only() {
        let a = identity(2, S, 1);
        let mut out = Vec::new();
        let mut ha = Handshake::new(&a, None, &mut out).unwrap();
        let mut hello = Vec::new();
        Hello {
            from: 1,
            to: 2,
            nonce: [0; 32],
        }
        .encode(WIRE_VERSION, &mut hello);
        deliver(&mut ha, &a, &mut hello, &mut out).unwrap();
        let h = MsgHeader::parse(&out).unwrap().unwrap();
        assert_eq!((h.kind, MSG_HEADER + h.len), (MsgKind::Hello, out.len()));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(
            std::env::var("GALE_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256)
        ))]

        /// Any bytes fed to either side of a handshake, whole or mutated
        /// from real messages, end in an error or a step, never a panic,
        /// and never in `Up` without the secret. (`GALE_FUZZ_CASES=100000`
        /// for a long run.)
        #[test]
        fn arbitrary_handshake_input_never_panics_or_authenticates(
            dialer in proptest::bool::ANY,
            kind in 1u16..=6,
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..=256),
            flips in proptest::collection::vec((0usize..400, 0u8..8), 0..4),
        ) {
            let me = identity(2, S, 1);
            let mut out = Vec::new();
            let mut hs = Handshake::new(&me, dialer.then_some(1), &mut out).unwrap();
            // A well-formed hello first (so later states are reached), then
            // the arbitrary message.
            let mut input = Vec::new();
            Hello { from: 1, to: 2, nonce: [3; 32] }.encode(WIRE_VERSION, &mut input);
            let mut msg = Vec::new();
            encode_msg(WIRE_VERSION, MsgKind::Hello, &[], &mut msg);
            msg[10..12].copy_from_slice(&kind.to_le_bytes());
            let len = body.len().next_multiple_of(8);
            msg[12..16].copy_from_slice(&(len as u32).to_le_bytes());
            msg.extend_from_slice(&body);
            msg.resize(MSG_HEADER + len, 0);
            input.extend_from_slice(&msg);
            for (at, bit) in flips {
                if let Some(b) = input.get_mut(at) {
                    *b ^= 1 << bit;
                }
            }
            let mut pos = 0;
            while let Ok(Some(h)) = MsgHeader::parse(&input[pos..]) {
                let Some(body) = input.get(pos + MSG_HEADER..pos + MSG_HEADER + h.len) else {
                    break;
                };
                match hs.on_message(&me, h, body, |_| Ok(()), &mut out) {
                    Ok(step) => proptest::prop_assert_ne!(step, Step::Up),
                    Err(_) => break,
                }
                pos += MSG_HEADER + h.len;
            }
            proptest::prop_assert!(!hs.is_up());
        }
    }

    #[test]
    fn a_refusal_from_a_peer_is_escaped() {
        let d = identity(1, S, 1);
        let mut out = Vec::new();
        let mut hd = Handshake::new(&d, Some(2), &mut out).unwrap();
        let mut refuse = Vec::new();
        encode_refuse(RefuseCode::Auth, "no\nWARN forged line\r", &mut refuse);
        let err = deliver(&mut hd, &d, &mut refuse, &mut out).unwrap_err();
        let HandshakeError::PeerRefused { reason, .. } = err else {
            panic!("{err:?}")
        };
        assert_eq!(reason, "no\\nWARN forged line\\r");
    }
}
