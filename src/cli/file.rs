//! `gale run topology.yaml` and `gale validate topology.yaml`: topology
//! files on the command line.

use std::io::{self, Write};
use std::path::PathBuf;

use clap::Args;

use super::error::CliError;
use super::execute::run_built;
use super::run_args::RunArgs;
use super::topology_args::TopologyArgs;
use crate::topofile;

/// Options of `gale validate`.
#[derive(Args, Debug)]
pub struct ValidateArgs {
    /// The topology file to check.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
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
