//! Logging: `tracing` events of the engine and the tool go to stderr,
//! filtered by `RUST_LOG` (`warn` by default, `info` for `gale node`: `RUST_LOG=info`,
//! `RUST_LOG=gale_engine=debug`...), as text or as one JSON object per
//! line for log shippers (`--log-format json`).

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line (`timestamp`, `level`, `fields`,
    /// `target`, `spans` with `component` and `task`).
    Json,
}

/// Installs the global subscriber (once; later calls do nothing), with
/// `default` as the filter when `RUST_LOG` is not set.
pub fn init(format: LogFormat, default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        // A closed stderr (`gale run ... 2>&1 | head`) must not turn every
        // log line into a panic of the thread that logs it: lines that
        // cannot be written are dropped.
        .log_internal_errors(false);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .try_init(),
    };
}
