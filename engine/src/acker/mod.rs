//! At-least-once delivery: Storm's XOR acker, batched.
//!
//! Every spout emit with a message id starts a tuple tree with a 64-bit
//! root id (random-looking: a bijective mix of the spout task and the
//! tree's sequence number); every delivery of a tracked tuple gets a random 64-bit
//! edge id. A tree is complete when the XOR of every edge id created (at
//! emit) and acked (at `ack`) reaches zero.
//!
//! Unlike Storm, a spout tells the ackers nothing when a tree starts: an
//! acker opens each tree with its root id as the XOR, and the spout's
//! first delivery of the tree takes the root id as its edge id (later
//! deliveries, if the tuple goes to several tasks, take random ones and
//! are logged as usual). The acker finds the spout task to report to in
//! the root itself ([`RootIds::spout_of`]). So a tree whose spout tuple
//! goes to one task costs the spout's worker no update at all, and the
//! acker one record fewer: Storm's init message carried the spout task
//! and the first edges' XOR, which the root id now stands for. Updates
//! may reach an acker in any order; whichever comes first opens the tree.
//!
//! Gale batches that traffic: each worker logs its tasks' updates in an
//! [`AckTable`], consecutive updates of one root folded into one record,
//! and sends one message per acker task (chosen by root)
//! when the table is large, when the worker goes idle, or every flush
//! interval ([`table`]). Acker tasks ([`tracker`]) keep the XOR per root (in
//! a table of their own, [`trees`]) and
//! send completions, again batched, to the spout task that owns each root,
//! whose [`SpoutPending`] ([`pending`]) calls `ack`/`fail` exactly once and
//! times out trees: a window indexed by sequence number, oldest first
//! (no hashing per tree), while the ackers forget trees with rotating
//! buckets.

mod done;
mod id_gen;
mod pending;
mod streams;
pub(crate) mod table;
mod tracker;
mod trees;

pub(crate) use done::{read_done, Done, DONE_RECORD};
pub(crate) use id_gen::IdGen;
pub(crate) use pending::{RootIds, SpoutPending, BUCKETS};
pub use streams::{ACKER_COMPONENT, ACK_DONE_STREAM, ACK_STREAM};
pub(crate) use streams::{ACK_DONE_STREAM_ID, ACK_STREAM_ID};
pub(crate) use table::AckTable;
pub(crate) use tracker::Acker;
