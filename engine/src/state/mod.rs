//! Bolt state and its durable checkpoints (the start of issue 14's
//! second half).
//!
//! - [`KeyValueState`]: a bolt's key-value state (Storm's `KeyValueState`:
//!   `get`, `put`, `delete`, iteration), kept in memory between
//!   checkpoints; [`KeyValueState::snapshot`] and
//!   [`KeyValueState::restore`] turn it into bytes and back, validating
//!   every byte read back.
//! - [`DirBackend`]: checkpoints in a local directory, crash-safe: each
//!   task's snapshot is written to a temporary file, fsynced and renamed
//!   into the checkpoint's directory, and the checkpoint becomes current
//!   only when its id is written (the same way) to `CURRENT`. A crash at
//!   any moment leaves the previous checkpoint current and whole. Every
//!   file carries its length and a SHA-256 of its contents, so a truncated
//!   or corrupt file is an error naming its path, never a silent start
//!   from empty state.
//!
//! - Checkpoints by aligned barriers ([`Checkpointing`],
//!   [`RewindableSpout`], [`StatefulBolt`]; see `checkpoint.rs`'s docs),
//!   wired by [`TopologyBuilder::set_checkpointing`](crate::TopologyBuilder::set_checkpointing),
//!   [`set_rewindable_spout`](crate::TopologyBuilder::set_rewindable_spout) and
//!   [`set_stateful_bolt`](crate::TopologyBuilder::set_stateful_bolt).
//!
//! - [`StateBackend`]: where checkpoints are kept; [`DirBackend`] here,
//!   a Redis backend in `gale-connectors`. Every backend stores snapshots
//!   [sealed](seal) (length and SHA-256) and [unseals](unseal) what it
//!   reads back.
//!
//! - Over several nodes (`gale node`), a checkpoint is complete once every
//!   node has saved it: each node writes a marker to the shared backend
//!   (see `cluster.rs` and [`Checkpointing::join_cluster`]).
//!
//! - Keyed state follows its keys when a component's task count changes
//!   (a rebalance, or a restart with other parallelism): every
//!   checkpoint records each component's task count, and a task of a
//!   resized stateful bolt restores the entries a fields grouping routes
//!   to it now (see `rescale.rs`). At a rebalance every spout emits
//!   barriers up to one target and pauses, so that the nodes switch on
//!   one complete checkpoint (see `switch.rs` and
//!   [`Checkpointing::ask_switch`]).

mod backend;
pub(crate) mod checkpoint;
mod cluster;
mod dir;
mod file;
mod key_value;
mod rescale;
mod switch;

pub use backend::StateBackend;
pub use checkpoint::{
    CheckpointBolt, CheckpointSpout, Checkpointing, RewindableSpout, StatefulBolt,
    CHECKPOINT_FIELD, CHECKPOINT_STREAM,
};
pub(crate) use cluster::LinkHealth;
pub use dir::DirBackend;
pub use file::{seal, unseal, StateError};
pub use key_value::KeyValueState;
pub use switch::SwitchStatus;

#[cfg(test)]
mod tests;
