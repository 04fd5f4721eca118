//! How a command ends: its exit code, and lines on stderr.

use std::io::{self, Write};
use std::process::ExitCode;

use super::error::CliError;

pub(super) fn finish(result: Result<(), CliError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ CliError::Stopped(signal)) => {
            note(format_args!("gale: {e}"));
            ExitCode::from(u8::try_from(128 + signal).unwrap_or(1))
        }
        Err(e @ CliError::PeerLost { .. }) => {
            note(format_args!("gale: error: {e}"));
            ExitCode::from(3)
        }
        Err(e) => {
            note(format_args!("gale: error: {e}"));
            ExitCode::FAILURE
        }
    }
}

/// Writes a line to stderr; a closed stderr (`gale ... 2>&1 | head`) is
/// not an error: the line is dropped, where `eprintln!` would panic.
pub(crate) fn note(line: std::fmt::Arguments<'_>) {
    let _ = writeln!(io::stderr().lock(), "{line}");
}

/// Prints a clap error or help text and turns it into the exit code clap
/// would use.
pub(super) fn clap_exit(e: &clap::Error) -> ExitCode {
    let _ = e.print();
    ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2))
}
