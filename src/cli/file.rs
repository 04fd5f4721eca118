//! `gale run topology.yaml` and `gale validate topology.yaml`: topology
//! files on the command line.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use clap::Args;

use super::error::CliError;
use super::execute::run_built;
use super::exit::note;
use super::run_args::RunArgs;
use super::topology_args::TopologyArgs;
use crate::topofile;

/// Options of `gale validate`.
#[derive(Args, Debug)]
pub struct ValidateArgs {
    /// The topology file to check.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// `${key}` in the file becomes `key`'s value in this properties file
    /// (Flux's `--filter`).
    #[arg(long, value_name = "FILE")]
    pub filter: Option<PathBuf>,
}

/// How `args` ask for a topology file to be loaded: Storm's classes, the
/// properties of `--filter`, and `--state-dir`, `--state-url` and
/// `--checkpoint-ms` over the file's `config.state`.
pub(super) fn options(args: &TopologyArgs) -> topofile::Options {
    topofile::Options {
        filter: args.filter.clone(),
        state: topofile::StateFlags {
            dir: args.state_dir.clone(),
            url: args.state_url.clone(),
            checkpoint_ms: args.checkpoint_ms,
        },
        ..topofile::Options::default()
    }
}

/// Loads topology file `path` as `options` say, and prints its warnings
/// on stderr.
pub(super) fn load(path: &Path, options: &topofile::Options) -> Result<topofile::Loaded, CliError> {
    let loaded = topofile::load_with(path, options)?;
    for w in &loaded.warnings {
        let line = w.line.map_or(String::new(), |l| format!(":{l}"));
        note(format_args!(
            "gale: warning: {}{line}: {}: {}",
            path.display(),
            w.at,
            w.message
        ));
    }
    Ok(loaded)
}

/// Refuses the options of topology files with a built-in topology.
pub(super) fn reject_file_flags(args: &TopologyArgs) -> Result<(), CliError> {
    match args.filter {
        Some(_) => Err(CliError::FileFlag("--filter")),
        None => Ok(()),
    }
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
    let mut loaded = load(Path::new(&args.name), &options(&args.topology))?;
    if args.topology.even_shuffle {
        loaded.topology.set_load_aware(false);
    }
    run_built(
        args,
        loaded.into(),
        "runs until stopped, so it runs",
        "set --duration",
    )
}

/// Loads the file and says what it holds, or lists every error.
pub(super) fn validate(args: &ValidateArgs) -> Result<(), CliError> {
    let options = topofile::Options {
        filter: args.filter.clone(),
        check_only: true,
        ..topofile::Options::default()
    };
    let loaded = load(&args.file, &options)?;
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
