//! `const-spout-only`: storm-perf's ConstSpoutOnlyTopo, a lone
//! [`ConstSpout`] (measures the spout side of the engine alone).

use gale_engine::{Topology, TopologyBuilder, TopologyError};

use super::perf::{ConstSpout, SPOUT_ID};
use super::BuiltinOptions;

/// Builds `constSpout` ([`ConstSpout`]) alone.
pub fn const_spout_only(opts: &BuiltinOptions) -> Result<Topology, TopologyError> {
    let spout = ConstSpout::from_options(opts);
    let mut builder = TopologyBuilder::new("const-spout-only");
    builder.set_num_ackers(opts.ackers());
    if let Some(n) = opts.max_pending {
        builder.set_max_spout_pending(n);
    }
    builder.set_spout(SPOUT_ID, move || spout.clone(), opts.spout_tasks());
    builder.build()
}
