//! [`Built`]: a built-in topology, built and ready to submit.

use gale_engine::Topology;

use super::options::BuiltinOptions;
use super::rolling_top_words::RankingSink;
use super::wordcount::CountSink;

/// A built-in topology, built and ready to submit.
#[derive(Debug)]
pub struct Built {
    /// The topology.
    pub topology: Topology,
    /// `true` if its spouts stop by themselves (a count was given), so the
    /// run ends without a duration.
    pub finite: bool,
    /// Where the word count publishes its final counts (`wordcount` only);
    /// read it after the run has ended.
    pub counts: Option<CountSink>,
    /// Where `rolling-top-words` publishes each window's total ranking;
    /// read it after the run has ended.
    pub rankings: Option<RankingSink>,
}

impl Built {
    pub(super) fn plain(topology: Topology, opts: &BuiltinOptions) -> Self {
        Self {
            topology,
            finite: opts.count.is_some(),
            counts: None,
            rankings: None,
        }
    }
}
