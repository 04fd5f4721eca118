//! gale-engine: topologies, executors, the acker and metrics.
//!
//! The engine lands in a later issue; today this crate only fixes its place
//! in the dependency chain `codec <- transport <- engine <- tools`.
#![forbid(unsafe_code)]
