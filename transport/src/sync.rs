//! The one place where the ring's synchronisation primitives are chosen.
//!
//! Normal builds use `std`; under `--cfg loom` the same names come from
//! `loom`, so the ring's protocol can be model-checked without code changes
//! (the approach crossbeam takes).

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering};
