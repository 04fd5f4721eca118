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
    /// Each ring record is a batch of records ([`InboundRecords`]), so a
    /// record takes 8 bytes more here than in an outbound ring: these
    /// rings' record limit must be 8 bytes above the outbound rings' (of
    /// every node).
    pub inbound: Vec<Producer>,
}

/// Bytes before each record of an inbound batch: its length (`u32`, little
/// endian) and four reserved zero bytes, as in a frame's body.
const RECORD_HEADER: usize = 8;

/// The records of one ring record of an inbound ring
/// ([`LinkRings::inbound`]), in order. A ring record is a batch of records
/// in the layout of a frame's body (per record: its length as a
/// little-endian `u32`, four zero bytes, the record, zero padding to a
/// multiple of 8), so that the link moves a run of a frame's records for
/// one worker with one reservation and one copy. Stops at the end, or at
/// a record whose header or bytes would run past it.
#[derive(Clone, Debug)]
pub struct InboundRecords<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> InboundRecords<'a> {
    /// The records of the batch `bytes` (one ring record).
    #[inline]
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    /// Bytes a batch of the one record `record` takes.
    pub(crate) fn one_len(record: &[u8]) -> usize {
        RECORD_HEADER + record.len().next_multiple_of(8)
    }

    /// Writes `record` as a batch of one into `into`, of
    /// [`one_len`](Self::one_len) bytes.
    pub(crate) fn write_one(record: &[u8], into: &mut [u8]) {
        let len = u32::try_from(record.len()).expect("a ring record is shorter than 4 GiB");
        let (header, rest) = into.split_at_mut(RECORD_HEADER);
        header[..4].copy_from_slice(&len.to_le_bytes());
        header[4..].fill(0);
        let (body, padding) = rest.split_at_mut(record.len());
        body.copy_from_slice(record);
        padding.fill(0);
    }
}

impl<'a> Iterator for InboundRecords<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        let start = self.pos.checked_add(RECORD_HEADER)?;
        let h = self.bytes.get(self.pos..start)?;
        let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
        let record = self.bytes.get(start..start.checked_add(len)?)?;
        // Past the end, the next `get` finds nothing.
        self.pos = start.saturating_add(len.next_multiple_of(8));
        Some(record)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_of_one_reads_back_and_a_cut_batch_stops() {
        let mut batch = Vec::new();
        for record in [&b"abc"[..], &[], &[7; 8], &[1; 13]] {
            let at = batch.len();
            batch.resize(at + InboundRecords::one_len(record), 0xff);
            InboundRecords::write_one(record, &mut batch[at..]);
            assert_eq!(batch.len() % 8, 0);
        }
        let read: Vec<&[u8]> = InboundRecords::new(&batch).collect();
        assert_eq!(read, [&b"abc"[..], &[], &[7; 8], &[1; 13]]);
        assert_eq!(&batch[8..16], b"abc\0\0\0\0\0", "zero padding");
        // Cut inside the last record, or inside a header: what is whole.
        assert_eq!(InboundRecords::new(&batch[..batch.len() - 8]).count(), 3);
        assert_eq!(InboundRecords::new(&batch[..20]).count(), 1);
        // A length past the end (or past usize) stops, never panics.
        let mut bad = batch.clone();
        bad[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(InboundRecords::new(&bad).count(), 0);
    }
}
