//! [`StopSignals`]: SIGINT and SIGTERM stop a run (`gale run`, `gale
//! node`) cleanly: the first drains what is in flight (the run's report
//! is printed as usual; the command then exits 130 or 143), a second ends
//! the process at once (exit code 1).

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::SigId;

/// SIGINT and SIGTERM caught while it lives (the handlers are removed
/// when it is dropped).
pub(super) struct StopSignals {
    /// Set by either signal: arms the immediate exit of a second one.
    any: Arc<AtomicBool>,
    /// Set by its own signal.
    each: [(i32, Arc<AtomicBool>); 2],
    ids: Vec<SigId>,
}

impl StopSignals {
    /// Catches SIGINT and SIGTERM from now on.
    pub(super) fn register() -> io::Result<Self> {
        let any = Arc::new(AtomicBool::new(false));
        let each = [SIGINT, SIGTERM].map(|s| (s, Arc::new(AtomicBool::new(false))));
        let mut ids = Vec::new();
        for (signal, flag) in &each {
            // The shutdown action first: it looks at `any` before this
            // signal sets it, so only a second signal exits at once.
            ids.push(signal_hook::flag::register_conditional_shutdown(
                *signal,
                1,
                Arc::clone(&any),
            )?);
            ids.push(signal_hook::flag::register(*signal, Arc::clone(&any))?);
            ids.push(signal_hook::flag::register(*signal, Arc::clone(flag))?);
        }
        Ok(Self { any, each, ids })
    }

    /// A flag set by either signal (for a stop flag such as
    /// [`NodeCluster::with_stop_flag`](gale_engine::NodeCluster::with_stop_flag)).
    pub(super) fn flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.any)
    }

    /// The first signal caught, if any.
    pub(super) fn caught(&self) -> Option<i32> {
        // SYNC: Relaxed: the flags carry no data; the run's own stop()
        // publishes what matters.
        if !self.any.load(Ordering::Relaxed) {
            return None;
        }
        self.each
            .iter()
            .find(|(_, f)| f.load(Ordering::Relaxed))
            .map(|(s, _)| *s)
    }
}

impl Drop for StopSignals {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

/// A signal's name, for messages.
pub(super) fn name(signal: i32) -> &'static str {
    match signal {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}
