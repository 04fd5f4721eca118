//! [`Loaded`]: a loaded topology file.

use gale_engine::Topology;

use crate::builtin::CountSink;

/// A loaded topology file.
#[derive(Debug)]
pub struct Loaded {
    /// The topology, validated.
    pub topology: Topology,
    /// Where the `count` built-ins publish their final counts (if the file
    /// has any); read it after the run.
    pub counts: Option<CountSink>,
    /// Every spout is a built-in with a `count`, so the run ends by itself.
    pub finite: bool,
    /// What is not wrong but not used either (a Storm `config` key Gale
    /// ignores, a resource hint), each with its place: print them.
    pub warnings: Vec<super::Located>,
    /// The file as resolved: `${...}` properties substituted and
    /// `includes:` merged, as YAML (what `gale node` puts into the
    /// cluster's fingerprint, so nodes whose included files or properties
    /// differ refuse to link).
    pub resolved: String,
}

impl From<Loaded> for crate::builtin::Built {
    fn from(loaded: Loaded) -> Self {
        Self {
            topology: loaded.topology,
            finite: loaded.finite,
            counts: loaded.counts,
            rankings: None,
        }
    }
}
