//! Storm's own classes that Flux files name, and what each is in Gale.

use super::builtin::Role;

/// What a Storm class stands for in Gale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stand {
    /// A Gale built-in component (by its `builtin:` name).
    Builtin(&'static str),
    /// Storm's shell wrappers: a multi-lang subprocess. `constructorArgs:
    /// [[command, args...], [output fields]]`; `configMethods`
    /// `setDefaultStream [fields]`, `setNamedStream [name, fields]`,
    /// `addComponentConfig [key, value]`.
    Shell(Role),
    /// `org.apache.storm.tuple.Fields`: a list of field names, for `ref`s.
    Fields,
    /// A connector built-in (by its `builtin:` name), its `args` read from
    /// the class's `constructorArgs`, `configMethods` and `properties`
    /// (see `flux/`).
    Connector(&'static str),
}

/// Storm's classes, by their full name.
pub(crate) const STORM_CLASSES: [(&str, Stand); 9] = [
    (
        "org.apache.storm.testing.TestWordSpout",
        Stand::Builtin("words"),
    ),
    (
        "org.apache.storm.testing.TestWordCounter",
        Stand::Builtin("count"),
    ),
    (
        "org.apache.storm.flux.wrappers.bolts.LogInfoBolt",
        Stand::Builtin("log"),
    ),
    (
        "org.apache.storm.perf.bolt.DevNullBolt",
        Stand::Builtin("null"),
    ),
    (
        "org.apache.storm.flux.wrappers.spouts.FluxShellSpout",
        Stand::Shell(Role::Spout),
    ),
    (
        "org.apache.storm.spout.ShellSpout",
        Stand::Shell(Role::Spout),
    ),
    (
        "org.apache.storm.flux.wrappers.bolts.FluxShellBolt",
        Stand::Shell(Role::Bolt),
    ),
    ("org.apache.storm.task.ShellBolt", Stand::Shell(Role::Bolt)),
    ("org.apache.storm.tuple.Fields", Stand::Fields),
];
