//! [`BuiltinError`]: why a built-in topology could not be built; inside,
//! [`Failure`]: why its constructor failed.

use gale_engine::TopologyError;

use super::text_error::TextError;

/// Why a built-in topology could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuiltinError {
    /// No built-in topology has this name.
    #[error("unknown topology `{name}`; the built-in topologies are: {}", known.join(", "))]
    Unknown {
        /// The name asked for.
        name: String,
        /// The names that exist.
        known: Vec<&'static str>,
    },
    /// The options make an invalid topology (e.g. a parallelism of 0).
    #[error("cannot build topology `{name}`: {source}")]
    Topology {
        /// The built-in's name.
        name: &'static str,
        /// What is wrong.
        source: Box<TopologyError>,
    },
    /// `file-read-wordcount`'s text file cannot be used.
    #[error("cannot build topology `file-read-wordcount`: {0}")]
    Text(#[from] TextError),
    /// The state directory cannot be used (the message names it).
    #[error("cannot build topology `{name}`: {message}")]
    State {
        /// The built-in's name.
        name: &'static str,
        /// What is wrong, naming the directory.
        message: String,
    },
}

/// Why a constructor in the registry failed (the name is added after).
#[derive(Debug)]
pub(crate) enum Failure {
    Topology(TopologyError),
    Text(TextError),
    State(gale_engine::state::StateError),
}

impl From<TopologyError> for Failure {
    fn from(e: TopologyError) -> Self {
        Self::Topology(e)
    }
}

impl From<TextError> for Failure {
    fn from(e: TextError) -> Self {
        Self::Text(e)
    }
}
