//! Stream groupings: which task(s) of a subscribing bolt get each tuple.
//!
//! [`Grouping`] is what a user declares; at start the engine turns each
//! (emitting task, subscription) pair into a [`Router`] that holds the
//! grouping's state (a shuffle's position, partial-key load counts) and
//! picks target tasks per tuple without allocating.

mod balance;
mod custom;
mod declared;
mod hash;
mod router;

pub use custom::CustomGrouping;
pub use declared::Grouping;
pub(crate) use hash::KeyValue;
pub(crate) use router::Router;

/// The index, among `tasks` tasks, that a fields grouping on one field
/// routes a tuple whose field holds `key` to (what a rescaled stateful
/// bolt's entries follow: see `state/rescale.rs`).
pub(crate) fn fields_owner(key: &gale_codec::Value, tasks: usize) -> usize {
    hash::bucket(hash::key_hash(std::slice::from_ref(key), &[0], 0), tasks)
}
