//! `const-spout-id-bolt-null-bolt`: storm-perf's
//! ConstSpoutIdBoltNullBoltTopo, [`ConstSpout`] → [`IdBolt`] →
//! [`DevNullBolt`](super::perf::DevNullBolt) (two hops).

use gale_engine::{Topology, TopologyBuilder, TopologyError, DEFAULT_STREAM};

use super::perf::{set_null_bolt, ConstSpout, IdBolt, ID_BOLT_ID, SPOUT_ID};
use super::BuiltinOptions;

/// Builds `constSpout` ([`ConstSpout`]) → `idBolt` ([`IdBolt`]) →
/// `nullBolt` ([`DevNullBolt`](super::perf::DevNullBolt)), each hop with `opts.grouping`
/// (local-or-shuffle by default). With a probe, the spout is paced, the
/// identity bolt passes the stamp on and the sink records it.
pub fn const_spout_id_bolt_null_bolt(opts: &BuiltinOptions) -> Result<Topology, TopologyError> {
    let spout = ConstSpout::from_options(opts);
    let fields = spout.fields();
    let bolts = opts.perf_bolt_tasks();
    let mut builder = TopologyBuilder::new("const-spout-id-bolt-null-bolt");
    builder.set_num_ackers(opts.ackers());
    if let Some(n) = opts.max_pending {
        builder.set_max_spout_pending(n);
    }
    builder.set_spout(SPOUT_ID, move || spout.clone(), opts.spout_tasks());
    builder
        .set_bolt(ID_BOLT_ID, move || IdBolt::new(fields.clone()), bolts)
        .grouping(SPOUT_ID, DEFAULT_STREAM, opts.grouping.into());
    set_null_bolt(&mut builder, ID_BOLT_ID, opts);
    builder.build()
}
