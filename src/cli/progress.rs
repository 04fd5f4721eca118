//! `gale run`'s one-line live progress on a terminal: rate, acked,
//! failed and elapsed time, redrawn twice a second on stderr. Nothing is
//! drawn when stderr is not a terminal.

use std::io::{IsTerminal, Write};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use gale_engine::{ComponentKind, MetricsHandle, TopologyMetrics};

const EVERY: Duration = Duration::from_millis(500);

/// The progress line's thread; [`finish`](Progress::finish) erases it.
pub struct Progress {
    stop: Sender<()>,
    thread: JoinHandle<()>,
}

/// The line for `now`, with the rate measured since `before`.
pub fn line(now: &TopologyMetrics, before: Option<&TopologyMetrics>) -> String {
    // Throughput of the topology: what its last declared component does.
    let last = now
        .components
        .iter()
        .rev()
        .find(|c| c.kind != ComponentKind::System);
    let window = match before {
        Some(b) => now.window_since(b),
        None => now.window_since_start(),
    };
    let rate = last
        .and_then(|c| window.iter().find(|w| w.component == c.name))
        .map_or(0.0, |w| w.rate);
    let spouts = now
        .components
        .iter()
        .filter(|c| c.kind == ComponentKind::Spout);
    let (acked, failed) = spouts.fold((0, 0), |a, c| {
        (a.0 + c.counters.acked, a.1 + c.counters.failed)
    });
    format!(
        "gale: {} {:.1} s  {:.3} M tuples/s  acked {acked}  failed {failed}",
        now.name,
        now.uptime.as_secs_f64(),
        rate / 1e6
    )
}

impl Progress {
    /// Starts drawing if stderr is a terminal.
    pub fn start(handle: MetricsHandle) -> Option<Self> {
        if !std::io::stderr().is_terminal() {
            return None;
        }
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = thread::Builder::new()
            .name("gale-progress".into())
            .spawn(move || {
                let mut before: Option<TopologyMetrics> = None;
                // Until `finish` sends (or drops the sender).
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(EVERY) {
                    let now = handle.metrics();
                    let text = line(&now, before.as_ref());
                    let mut err = std::io::stderr().lock();
                    let _ = write!(err, "\r\x1b[2K{text}");
                    let _ = err.flush();
                    before = Some(now);
                }
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "\r\x1b[2K");
                let _ = err.flush();
            })
            .ok()?;
        Some(Self { stop, thread })
    }

    /// Stops and erases the line.
    pub fn finish(self) {
        let _ = self.stop.send(());
        let _ = self.thread.join();
    }
}
