//! What the engine plugs into a link: its rings ([`LinkRings`]) and the
//! [`InboundRoute`] that validates each inbound record and picks its worker.

use std::fmt;

use super::config::NodeId;
use crate::{Consumer, Producer};

/// Decides where an inbound record goes. Implemented by the engine.
pub trait InboundRoute: Send + 'static {
    /// `record` is untrusted bytes from `peer` (prefix + payload). Validate it
    /// completely (e.g. `gale_codec::view_checked` for tuples) and return the
    /// index of the local worker thread whose inbound ring gets it, or a
    /// reason to refuse it (the link then drops the connection and logs the
    /// reason).
    fn route(&self, peer: NodeId, record: &[u8]) -> Result<usize, String>;
}

/// The rings the engine hands to the link when it starts.
pub struct LinkRings {
    /// For each peer: one ring per local worker thread that the worker fills
    /// with records for that peer's tasks; the link's I/O thread drains them.
    pub outbound: Vec<(NodeId, Vec<Consumer>)>,
    /// One ring per local worker thread that the I/O thread fills with
    /// validated inbound records; the worker drains it like its other rings.
    pub inbound: Vec<Producer>,
}

impl fmt::Debug for LinkRings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkRings")
            .field(
                "outbound",
                &self
                    .outbound
                    .iter()
                    .map(|(id, rings)| (*id, rings.len()))
                    .collect::<Vec<_>>(),
            )
            .field("inbound", &self.inbound.len())
            .finish()
    }
}
