//! The link handshake: wire version, node ids, fingerprint, and mutual
//! HMAC-SHA256 challenge-response on the cluster secret.
//!
//! ```text
//! dialer D                                 acceptor A
//!   hello(D -> A, nonce_D, fp)       ->
//!                                    <-    hello(A -> D, nonce_A, fp), auth(mac_A)
//!   auth(mac_D)                      ->
//!                                    <-    ok            (A is up)
//!   (D is up)
//! ```
//!
//! `mac_X = HMAC-SHA256(secret, "gale-link-auth" || version || X || Y ||
//! nonce_Y || nonce_X || fingerprint)` where Y is the other side: each side
//! answers the other's fresh challenge, so the secret never travels and a
//! recorded answer is worthless later. Tags are compared in constant time
//! (`Mac::verify_slice`). Any check that fails is answered with a refuse
//! message naming the reason, then the connection closes; both sides log it.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::wire::{
    decode_refuse, encode_msg, encode_refuse, Hello, MsgHeader, MsgKind, RefuseCode, WIRE_VERSION,
};
use super::NodeId;

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
    /// The peer refused us.
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

/// One side of one connection's handshake.
pub(crate) struct Handshake {
    /// `Some(peer)` on the dialing side.
    dial_to: Option<NodeId>,
    state: State,
    nonce: [u8; 32],
    peer: Option<(NodeId, [u8; 32])>,
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
                fingerprint: id.fingerprint,
            }
            .encode(WIRE_VERSION, out);
        }
        Ok(Handshake {
            dial_to,
            state: State::AwaitHello,
            nonce,
            peer: None,
        })
    }

    /// Whether the handshake completed.
    pub fn is_up(&self) -> bool {
        self.state == State::Up
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
            return Err(HandshakeError::PeerRefused { code, reason });
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
                if hello.fingerprint != id.fingerprint {
                    return refuse(
                        RefuseCode::Fingerprint,
                        format!(
                            "fingerprint mismatch (topology or cluster file differ): \
                             node {} has {}, node {} has {}",
                            hello.from,
                            short_hex(&hello.fingerprint),
                            id.node,
                            short_hex(&id.fingerprint)
                        ),
                        out,
                    );
                }
                self.peer = Some((hello.from, hello.nonce));
                self.state = State::AwaitAuth;
                if self.dial_to.is_none() {
                    Hello {
                        from: id.node,
                        to: hello.from,
                        nonce: self.nonce,
                        fingerprint: id.fingerprint,
                    }
                    .encode(WIRE_VERSION, out);
                    let mac = self.mac(id, id.node, hello.from, &hello.nonce, &self.nonce);
                    encode_msg(WIRE_VERSION, MsgKind::Auth, &mac, out);
                    return Ok(Step::Identified(hello.from));
                }
                Ok(Step::Continue)
            }
            (State::AwaitAuth, MsgKind::Auth) => {
                let (peer, peer_nonce) = self.peer.expect("set with AwaitAuth");
                let mut mac = self.hmac(id);
                feed(
                    &mut mac,
                    peer,
                    id.node,
                    &self.nonce,
                    &peer_nonce,
                    &id.fingerprint,
                );
                if mac.verify_slice(body).is_err() {
                    return refuse(
                        RefuseCode::Auth,
                        format!(
                            "authentication failed: node {peer} does not hold the same cluster secret"
                        ),
                        out,
                    );
                }
                if self.dial_to.is_some() {
                    let mac = self.mac(id, id.node, peer, &peer_nonce, &self.nonce);
                    encode_msg(WIRE_VERSION, MsgKind::Auth, &mac, out);
                    self.state = State::AwaitOk;
                    Ok(Step::Continue)
                } else {
                    encode_msg(WIRE_VERSION, MsgKind::Ok, &[], out);
                    self.state = State::Up;
                    Ok(Step::Up)
                }
            }
            (State::AwaitOk, MsgKind::Ok) => {
                self.state = State::Up;
                Ok(Step::Up)
            }
            (state, kind) => Err(HandshakeError::Protocol(format!(
                "unexpected handshake message {kind:?} while waiting in state {state:?}"
            ))),
        }
    }

    fn hmac(&self, id: &Identity) -> HmacSha256 {
        // HMAC takes keys of any length; an empty secret is refused when the
        // link starts.
        HmacSha256::new_from_slice(&id.secret).expect("HMAC accepts any key length")
    }

    fn mac(
        &self,
        id: &Identity,
        from: NodeId,
        to: NodeId,
        challenge: &[u8; 32],
        own: &[u8; 32],
    ) -> [u8; 32] {
        let mut mac = self.hmac(id);
        feed(&mut mac, from, to, challenge, own, &id.fingerprint);
        mac.finalize().into_bytes().into()
    }
}

/// The MAC input: domain, version, sender, receiver, the receiver's
/// challenge, the sender's own nonce, the fingerprint.
fn feed(
    mac: &mut HmacSha256,
    from: NodeId,
    to: NodeId,
    challenge: &[u8; 32],
    own: &[u8; 32],
    fingerprint: &[u8; 32],
) {
    mac.update(b"gale-link-auth");
    mac.update(&WIRE_VERSION.to_le_bytes());
    mac.update(&from.to_le_bytes());
    mac.update(&to.to_le_bytes());
    mac.update(challenge);
    mac.update(own);
    mac.update(fingerprint);
}

/// Runs the dialing side of a handshake over a blocking stream: the link's
/// own state machine, for tools and tests that speak to a link directly.
/// On success the stream is ready for frames. A refusal (either way) is an
/// error of kind `PermissionDenied` naming the reason.
pub fn dial_handshake(
    stream: &mut std::net::TcpStream,
    node: NodeId,
    to: NodeId,
    secret: &[u8],
    fingerprint: [u8; 32],
) -> std::io::Result<()> {
    use std::io::{Error, ErrorKind, Read, Write};
    let id = Identity {
        node,
        secret: secret.to_vec(),
        fingerprint,
    };
    let mut out = Vec::new();
    let mut hs = Handshake::new(&id, Some(to), &mut out)?;
    let mut header = [0u8; super::wire::MSG_HEADER];
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
    stream.write_all(&out)
}

fn short_hex(bytes: &[u8; 32]) -> String {
    bytes[..6].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::super::wire::MSG_HEADER;
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

    #[test]
    fn same_secret_and_fingerprint_come_up() {
        let (a, d) = run(&identity(2, b"s", 1), &identity(1, b"s", 1));
        assert_eq!(a.unwrap(), Step::Up);
        assert_eq!(d.unwrap(), Step::Up);
    }

    #[test]
    fn wrong_secret_is_refused() {
        let (_, d) = run(&identity(2, b"s", 1), &identity(1, b"t", 1));
        assert!(matches!(
            d,
            Err(HandshakeError::Refused {
                code: RefuseCode::Auth,
                ..
            })
        ));
    }

    #[test]
    fn fingerprint_mismatch_is_refused() {
        let (a, _) = run(&identity(2, b"s", 1), &identity(1, b"s", 9));
        assert!(matches!(
            a,
            Err(HandshakeError::Refused {
                code: RefuseCode::Fingerprint,
                ..
            })
        ));
    }
}
