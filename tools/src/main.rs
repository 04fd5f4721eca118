//! `gale`: the command-line tool.
//!
//! Until the engine lands, `gale demo` runs Gale's data path end to end:
//! a pinned producer thread archives sentence tuples straight into a
//! shared-memory ring and a pinned consumer thread counts their words in
//! place.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod demo;

/// Gale: a Storm-style stream-processing engine on shared-memory rings.
#[derive(Parser, Debug)]
#[command(name = "gale", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the ring + codec demo: sentence tuples through a ring, words
    /// counted in place on the other side.
    Demo(demo::DemoArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => demo::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gale: error: {e}");
            ExitCode::FAILURE
        }
    }
}
