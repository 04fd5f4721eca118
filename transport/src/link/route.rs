//! What the engine plugs into a link: its rings ([`LinkRings`]) and the
//! [`InboundRoute`] that validates each inbound record and picks its worker.

use std::fmt;

use super::config::NodeId;
use crate::{Consumer, Producer};

/// Decides where an inbound record goes. Implemented by the engine.
pub trait InboundRoute: Send + 'static {
    /// `record` and its `tag` (see [`InboundRecords`]) are untrusted
    /// bytes from `peer`. Validate them completely (e.g.
    /// `gale_codec::view_checked` for tuples) and return the index of the
    /// local worker thread whose inbound ring gets the record, or a reason
    /// to refuse it (the link then drops the connection and logs the
    /// reason).
    fn route(&self, peer: NodeId, tag: u32, record: &[u8]) -> Result<usize, String>;
}

/// The rings the engine hands to the link when it starts.
pub struct LinkRings {
    /// For each peer: one ring per local worker thread that the worker fills
    /// with records for that peer's tasks; the link's I/O thread drains them.
    /// Each ring record is a batch of records ([`InboundRecords`]), which
    /// goes into a frame whole, with one copy.
    pub outbound: Vec<(NodeId, Vec<Consumer>)>,
    /// One ring per local worker thread that the I/O thread fills with
    /// validated inbound records; the worker drains it like its other rings.
    /// Each ring record is a batch of records ([`InboundRecords`]), a run
    /// of one frame's records. These rings' record limit must be at least
    /// the outbound rings' (of every node), so that any record fits.
    pub inbound: Vec<Producer>,
}

/// The records of one ring record of a link's ring ([`LinkRings`]), in
/// order, each with its tag: a ring record is a batch of records in the
/// layout of a frame's body (per record: its length and its tag as
/// little-endian `u32`s, the record, padding to a multiple of 8), so that
/// the link moves a worker's batch into a frame, and a run of a frame's
/// records for one worker out of it, with one copy. The tag is the
/// engine's (it names the task the record is for). Stops at the end, or at
/// a malformed record header.
pub type InboundRecords<'a> = gale_codec::BodyRecords<'a>;

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
