//! [`Tracking`]: a worker's side of the acker protocol. Updates of its
//! tasks (edges created and acked, trees failed, reset) are logged,
//! consecutive updates of one root folded into one record, and flushed to
//! the acker tasks in batches. A tree's start is no update: its first
//! delivery's edge id is its root id, which the acker opens it with (see
//! the [acker](crate::acker)); a spout's emit calls
//! [`new_edge`](Tracking::new_edge) only for a tuple's later deliveries.

use gale_codec::Header;

use super::outbox::Outbox;
use crate::acker::{table, AckTable, IdGen, ACK_STREAM_ID};
use crate::TaskId;

/// The acker updates of one worker's tasks, logged for the ackers.
pub(crate) struct Tracking {
    acks: AckTable,
    /// The acker tasks (empty with acking off).
    ackers: Vec<TaskId>,
    ids: IdGen,
}

impl Tracking {
    /// Tracking towards `ackers` (none: acking is off), ids from `seed`.
    pub(crate) fn new(ackers: Vec<TaskId>, seed: u64) -> Self {
        Self {
            acks: AckTable::default(),
            ackers,
            ids: IdGen::new(seed),
        }
    }

    /// Whether the topology runs ackers.
    #[inline]
    pub(crate) fn enabled(&self) -> bool {
        !self.ackers.is_empty()
    }

    /// Gives the next delivery of the tuple `header` describes its edge id
    /// and XORs it into each of the tuple's trees (the edge is created).
    #[inline]
    pub(crate) fn new_edge(&mut self, header: &mut Header) {
        if header.roots.is_empty() {
            header.edge_id = 0;
            return;
        }
        let edge = self.ids.next_id();
        header.edge_id = edge;
        for &root in &header.roots {
            self.acks.xor(root, edge);
        }
    }

    /// Edge `edge` of tree `root` was acked.
    #[inline]
    pub(crate) fn ack(&mut self, root: u64, edge: u64) {
        self.acks.xor(root, edge);
    }

    /// Tree `root` failed.
    pub(crate) fn fail(&mut self, root: u64) {
        self.acks.fail(root);
    }

    /// Tree `root`'s timeout restarts.
    pub(crate) fn reset(&mut self, root: u64) {
        self.acks.reset(root);
    }

    /// Whether no update waits to be flushed.
    pub(crate) fn is_empty(&self) -> bool {
        self.acks.is_empty()
    }

    /// Update records waiting.
    pub(crate) fn len(&self) -> usize {
        self.acks.len()
    }

    /// Sends the folded updates to the acker tasks through `outbox`.
    pub(crate) fn flush(&mut self, outbox: &mut Outbox) {
        if self.acks.is_empty() {
            return;
        }
        self.acks.drain(&self.ackers, |acker, bytes| {
            outbox.deliver_system(acker, ACK_STREAM_ID, bytes, table::RECORD);
        });
    }
}
