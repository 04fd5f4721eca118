//! At-least-once delivery: Storm's XOR acker, batched.
//!
//! Every spout emit with a message id starts a tuple tree with a random
//! 64-bit root id; every delivery of a tracked tuple gets a random 64-bit
//! edge id. A tree is complete when the XOR of every edge id created (at
//! emit) and acked (at `ack`) reaches zero.
//!
//! Gale batches that traffic: each worker logs its tasks' updates in an
//! [`AckTable`], consecutive updates of one root folded into one record,
//! and sends one message per acker task (chosen by root)
//! when the table is large, when the worker goes idle, or every flush
//! interval ([`table`]). Acker tasks ([`tracker`]) keep the XOR per root and
//! send completions, again batched, to the spout task that owns each root,
//! whose [`SpoutPending`] ([`pending`]) calls `ack`/`fail` exactly once and
//! times out trees with rotating buckets.

mod pending;
pub(crate) mod table;
mod tracker;

pub(crate) use pending::SpoutPending;
pub(crate) use table::AckTable;
pub(crate) use tracker::Acker;

use crate::TaskId;

/// Component id of the acker tasks.
pub const ACKER_COMPONENT: &str = "__acker";
/// System stream carrying batched XOR updates to acker tasks.
pub const ACK_STREAM: &str = "__ack";
/// System stream carrying batched completions to spout tasks.
pub const ACK_DONE_STREAM: &str = "__ack_done";

/// Stream id of [`ACK_STREAM`] in tuple headers.
pub(crate) const ACK_STREAM_ID: u32 = u32::MAX - 1;
/// Stream id of [`ACK_DONE_STREAM`] in tuple headers.
pub(crate) const ACK_DONE_STREAM_ID: u32 = u32::MAX - 2;

/// Rotating buckets for timeouts: trees expire between
/// `timeout` and `timeout * BUCKETS / (BUCKETS - 1)` after they start.
pub(crate) const BUCKETS: usize = 3;

/// The acker task responsible for `root`.
pub(crate) fn acker_for(root: u64, ackers: &[TaskId]) -> Option<TaskId> {
    match ackers.len() {
        0 => None,
        n => Some(ackers[(root % n as u64) as usize]),
    }
}

/// What an acker tells a spout about one of its roots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Done {
    Acked = 1,
    Failed = 2,
    Reset = 3,
}

/// Bytes of one completion record: root, kind.
pub(crate) const DONE_RECORD: usize = 16;

/// Appends a completion record (root, kind) for a spout.
pub(crate) fn push_done(out: &mut Vec<u8>, root: u64, done: Done) {
    out.extend_from_slice(&root.to_le_bytes());
    out.extend_from_slice(&(done as u64).to_le_bytes());
}

/// Reads completion records; malformed trailing bytes are ignored (the
/// bytes come from our own acker tasks).
pub(crate) fn read_done(bytes: &[u8]) -> impl Iterator<Item = (u64, Option<Done>)> + '_ {
    bytes.chunks_exact(16).map(|c| {
        let root = u64::from_le_bytes(c[..8].try_into().unwrap_or_default());
        let kind = match u64::from_le_bytes(c[8..].try_into().unwrap_or_default()) {
            1 => Some(Done::Acked),
            2 => Some(Done::Failed),
            3 => Some(Done::Reset),
            _ => None,
        };
        (root, kind)
    })
}

/// A per-worker xorshift64* generator for root and edge ids (never 0).
#[derive(Clone, Debug)]
pub(crate) struct IdGen(u64);

impl IdGen {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    pub(crate) fn next_id(&mut self) -> u64 {
        loop {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let id = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
            if id != 0 {
                return id;
            }
        }
    }
}
