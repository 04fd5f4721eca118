//! What the engine plugs into a link: its rings ([`LinkRings`]) and the
//! [`InboundRoute`] that validates each inbound record and picks its worker.

use std::fmt;

use gale_codec::{FrameError, RawFrame};

use super::config::NodeId;
use super::runs::WorkerRuns;
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

    /// Checks a whole frame from `peer` (its header, its record headers,
    /// then each record as [`route`](Self::route) does) and appends each
    /// record's worker to `workers` ([`WorkerRuns::push`]), in one walk. The default calls
    /// `route` per record ([`route_records`]); an implementation may pass
    /// `route_records` a check of its own instead, inlined into the walk
    /// (no call through the trait object per record).
    fn route_frame(
        &self,
        peer: NodeId,
        frame: &[u8],
        workers: &mut WorkerRuns,
    ) -> Result<(), Refusal> {
        route_records(frame, workers, |tag, record| self.route(peer, tag, record))
    }
}

/// Checks `frame` (its header and record headers) and names each record's
/// worker with `route` (from its tag and bytes, or why it is refused),
/// appending them to `workers`, in one walk: the body of
/// [`InboundRoute::route_frame`], for an implementation to call with a
/// check of its own that the compiler can inline into the walk.
#[inline]
pub fn route_records(
    frame: &[u8],
    workers: &mut WorkerRuns,
    mut route: impl FnMut(u32, &[u8]) -> Result<usize, String>,
) -> Result<(), Refusal> {
    RawFrame::parse_with(frame, |index, tag, record| {
        let refused = |reason| Refusal::Record { index, reason };
        let worker = route(tag, record).map_err(refused)?;
        let worker =
            u32::try_from(worker).map_err(|_| refused(format!("routed to worker {worker}")))?;
        workers.push(worker, record);
        Ok::<_, Refusal>(())
    })?;
    Ok(())
}

/// Why a frame was refused: its structure, or one of its records.
#[derive(Debug)]
pub enum Refusal {
    /// The frame's header or record headers.
    Frame(FrameError),
    /// A record the route refused.
    Record {
        /// Its index in the frame.
        index: usize,
        /// Why.
        reason: String,
    },
}

impl From<FrameError> for Refusal {
    fn from(e: FrameError) -> Self {
        Refusal::Frame(e)
    }
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
