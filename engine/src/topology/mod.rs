//! Defining a topology: [`TopologyBuilder`] and the validated [`Topology`].

mod builder;
mod component;
mod config;
mod definition;
mod error;
mod max_duration;
mod rebalance;

pub use builder::{BoltDeclarer, SpoutDeclarer, TopologyBuilder};
pub use component::ComponentConfig;
pub(crate) use component::{Component, Kind, Subscription};
pub use config::TopologyConfig;
pub use definition::Topology;
pub use error::TopologyError;
pub use max_duration::MAX_DURATION;
pub use rebalance::RebalanceError;
