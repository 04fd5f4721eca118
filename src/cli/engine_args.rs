//! [`EngineArgs`]: the engine's options on the command line.

use std::time::Duration;

use clap::Args;
use gale_engine::RunConfig;
use gale_transport::WaitStrategy;

use super::error::CliError;
use super::parse::{parse_micros, parse_rate};

/// Engine options shared by `gale run` and [`run`](super::run); flatten them into
/// your own clap parser to offer the same flags.
#[derive(Args, Debug, Clone, Default)]
pub struct EngineArgs {
    /// Worker threads (0 = one per core).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub threads: usize,
    /// Pin worker threads to cores (the default).
    #[arg(long, overrides_with = "no_pin")]
    pub pin: bool,
    /// Do not pin worker threads.
    #[arg(long, overrides_with = "pin")]
    pub no_pin: bool,
    /// Busy-spin while idle instead of spin-yield-park (lowest latency,
    /// burns every worker's core).
    #[arg(long)]
    pub busy_spin: bool,
    /// Print one JSON object with the run's counters on stdout.
    #[arg(long)]
    pub json: bool,
    /// Serve live metrics over HTTP on ADDR (e.g. 127.0.0.1:9090; port 0
    /// picks one): /metrics (Prometheus), /api/v1/... (JSON), / (a live
    /// page). Off by default.
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<String>,
    /// Require `Authorization: Bearer TOKEN` on every metrics request, the
    /// token read from FILE (private to its owner: mode 600).
    #[arg(long, value_name = "FILE")]
    pub metrics_token_file: Option<std::path::PathBuf>,
    /// Fraction of executes whose latency is measured (Storm's stats
    /// sample rate).
    #[arg(long, value_name = "RATE", default_value_t = 0.05, value_parser = parse_rate)]
    pub sample_rate: f64,
    /// Latency samples of a worker thread fall at least this many
    /// microseconds apart on average: a bolt whose executes take
    /// nanoseconds is sampled less often than the sample rate says, so
    /// that timing stays under about 1 % of its thread's time (0: sample
    /// at the rate whatever it costs).
    #[arg(long = "min-sample-interval-us", value_name = "MICROS", default_value = "10", value_parser = parse_micros)]
    pub min_sample_interval: Duration,
    /// Turn live metrics off (per-stream counts, latencies, ring
    /// occupancy, backpressure time); totals are still reported.
    #[arg(long)]
    pub no_metrics: bool,
    /// Do not chain bolts to the tasks of their own thread that emit to
    /// them: every same-thread tuple goes through the local queue (to
    /// measure what chaining saves; results are the same).
    #[arg(long)]
    pub no_chain: bool,
}

impl EngineArgs {
    /// Starts the metrics endpoint if `--metrics-addr` asks for one (with
    /// the bearer token of `--metrics-token-file`, if given).
    pub(crate) fn start_metrics(&self) -> Result<Option<crate::monitor::MetricsServer>, CliError> {
        let Some(addr) = &self.metrics_addr else {
            return Ok(None);
        };
        let token = match &self.metrics_token_file {
            Some(file) => Some(gale_engine::cluster::read_private_file(file)?),
            None => None,
        };
        Ok(Some(crate::monitor::MetricsServer::start_with_token(
            addr.as_str(),
            token,
        )?))
    }

    /// The engine configuration these options ask for, running for
    /// `duration` (`None`: until the topology finishes by itself).
    pub fn run_config(&self, duration: Option<Duration>) -> RunConfig {
        let default = RunConfig::default();
        RunConfig {
            threads: self.threads,
            pin: self.pin || !self.no_pin,
            wait: if self.busy_spin {
                WaitStrategy::BusySpin
            } else {
                default.wait
            },
            duration,
            metrics: gale_engine::MetricsConfig {
                enabled: !self.no_metrics,
                sample_rate: self.sample_rate,
                min_sample_interval: self.min_sample_interval,
                ..default.metrics
            },
            chain: !self.no_chain,
            ..default
        }
    }
}
