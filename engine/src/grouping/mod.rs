//! Stream groupings: which task(s) of a subscribing bolt get each tuple.
//!
//! [`Grouping`] is what a user declares; at start the engine turns each
//! (emitting task, subscription) pair into a [`Router`] that holds the
//! grouping's state (a shuffle's position, partial-key load counts) and
//! picks target tasks per tuple without allocating.

mod custom;
mod declared;
mod hash;
mod router;

pub use custom::CustomGrouping;
pub use declared::Grouping;
pub(crate) use router::Router;
