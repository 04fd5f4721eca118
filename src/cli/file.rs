//! `gale run topology.yaml` and `gale validate topology.yaml`: topology
//! files on the command line.

use std::io::{self, Write};
use std::path::PathBuf;

use clap::Args;

use super::{run_built, CliError, RunArgs, TopologyArgs};
use crate::builtin;
use crate::topofile::{self, is_topology_file};

/// Options of `gale validate`.
#[derive(Args, Debug)]
pub struct ValidateArgs {
    /// The topology file to check.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// Accepts a built-in topology's name or a topology file's path.
pub(super) fn parse_topology(arg: &str) -> Result<String, String> {
    if builtin::names().contains(&arg) || is_topology_file(arg) {
        return Ok(arg.to_owned());
    }
    Err(format!(
        "`{arg}` is neither a built-in topology ({}) nor a topology file (.yaml or .yml, or a streamparse topology .py)",
        builtin::names().join(", ")
    ))
}

/// Refuses the options of built-in topologies (a topology file sets them
/// in the file).
pub(super) fn reject_builtin_flags(args: &TopologyArgs) -> Result<(), CliError> {
    let builtin_only = [
        ("--count", args.count.is_some()),
        ("--spouts", args.spouts.is_some()),
        ("--bolts", args.bolts.is_some()),
        ("--tuple-size", args.tuple_size.is_some()),
        ("--ack", args.ack),
        ("--max-pending", args.max_pending.is_some()),
        ("--state-dir", args.state_dir.is_some()),
        ("--checkpoint-ms", args.checkpoint_ms.is_some()),
    ];
    match builtin_only.iter().find(|(_, given)| *given) {
        Some((flag, _)) => Err(CliError::BuiltinFlag(flag)),
        None => Ok(()),
    }
}

/// Runs a topology file: until --duration, or, if its spouts are all
/// finite built-ins, until it finishes (printing the counts of its `count`
/// bolts).
pub(super) fn run(args: &RunArgs) -> Result<(), CliError> {
    reject_builtin_flags(&args.topology)?;
    let loaded = topofile::load_full(&args.name)?;
    run_built(
        args,
        loaded.into(),
        "runs until stopped, so it runs",
        "set --duration",
    )
}

/// Loads the file and says what it holds, or lists every error.
pub(super) fn validate(args: &ValidateArgs) -> Result<(), CliError> {
    let loaded = topofile::load_full(&args.file)?;
    let t = &loaded.topology;
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "{}: topology `{}` is valid",
        args.file.display(),
        t.name()
    )?;
    for name in t.component_names() {
        let kind = if t.is_spout(name) == Some(true) {
            "spout"
        } else {
            "bolt"
        };
        let tasks = t.parallelism(name).unwrap_or(0);
        writeln!(out, "  {kind} {name} x{tasks}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topology_argument_is_a_builtin_or_a_yaml_file() {
        assert!(parse_topology("wordcount").is_ok());
        assert!(parse_topology("examples/python/wordcount.yaml").is_ok());
        assert!(parse_topology("t.yml").is_ok());
        let err = parse_topology("nope").unwrap_err();
        assert!(err.contains("wordcount") && err.contains(".yaml"), "{err}");
    }
}
