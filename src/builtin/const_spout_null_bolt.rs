//! `const-spout-null-bolt`: storm-perf's ConstSpoutNullBoltTopo,
//! [`ConstSpout`] → [`DevNullBolt`](super::perf::DevNullBolt) (one hop).

use gale_engine::{Topology, TopologyBuilder, TopologyError};

use super::perf::{set_null_bolt, ConstSpout, SPOUT_ID};
use super::BuiltinOptions;

/// Builds `constSpout` ([`ConstSpout`]) → `nullBolt` ([`DevNullBolt`](super::perf::DevNullBolt)),
/// connected with `opts.grouping` (local-or-shuffle by default). With a
/// probe, the spout is paced and the sink a
/// [`StampSinkBolt`](super::perf::StampSinkBolt).
pub fn const_spout_null_bolt(opts: &BuiltinOptions) -> Result<Topology, TopologyError> {
    let spout = ConstSpout::from_options(opts);
    let mut builder = TopologyBuilder::new("const-spout-null-bolt");
    builder.set_num_ackers(opts.ackers());
    if let Some(n) = opts.max_pending {
        builder.set_max_spout_pending(n);
    }
    builder.set_spout(SPOUT_ID, move || spout.clone(), opts.spout_tasks());
    set_null_bolt(&mut builder, SPOUT_ID, opts);
    builder.build()
}
