//! The coordinator: the thread that watches a running topology's workers
//! and decides when it stops. [`launch`](super::startup::launch) is handed
//! a [`Coordinator`] and runs it on its own thread: [`local`] for a
//! topology on this machine (it stops when nothing is in flight), the
//! node's own (`node::coordinator`) for one node of several.

use std::sync::atomic::Ordering;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use gale_transport::link::LinkStatsHandle;

use super::shared::Shared;

/// What the coordinator thread runs: given the run's shared state, the
/// worker threads (to join), the start time and, on a node of several,
/// the link's counters, it returns once every worker has exited.
pub(crate) type Coordinator =
    Box<dyn FnOnce(&Shared, Vec<JoinHandle<()>>, Instant, Option<&LinkStatsHandle>) + Send>;

/// The coordinator of a topology on this machine: see [`coordinate_local`].
pub(crate) fn local(duration: Option<Duration>) -> Coordinator {
    Box::new(move |shared, workers, start, _link| {
        coordinate_local(shared, workers, start, duration);
    })
}

/// A coordinator's sleeps between looks at of the workers: `near` (a stop is
/// close: spouts done, draining) polls every `fast`; otherwise the sleep
/// doubles up to [`Backoff::SLOW`], so that while a topology just runs the
/// coordinator rarely wakes (on a machine with a core per worker each wake
/// preempts a worker). A run with a duration wakes at its end.
pub(crate) struct Backoff {
    fast: Duration,
    current: Duration,
    end: Option<Instant>,
}

impl Backoff {
    /// The longest sleep.
    pub(crate) const SLOW: Duration = Duration::from_millis(20);

    pub(crate) fn new(fast: Duration, start: Instant, duration: Option<Duration>) -> Self {
        Backoff {
            fast,
            current: fast,
            end: duration.map(|d| start + d),
        }
    }

    /// The next sleep (without sleeping).
    pub(crate) fn next(&mut self, near: bool, now: Instant) -> Duration {
        self.current = if near {
            self.fast
        } else {
            (self.current * 2).min(Self::SLOW)
        };
        match self.end {
            Some(end) if end > now => self.current.min(end - now),
            _ => self.current,
        }
    }

    /// Sleeps until the next poll.
    pub(crate) fn sleep(&mut self, near: bool) {
        thread::sleep(self.next(near, Instant::now()));
    }
}

/// Polls the workers' progress: stops the topology when it is drained (all
/// spouts done and nothing in flight), after `duration`, or on a panic.
fn coordinate_local(
    shared: &Shared,
    workers: Vec<JoinHandle<()>>,
    start: Instant,
    duration: Option<Duration>,
) {
    let mut backoff = Backoff::new(Duration::from_micros(200), start, duration);
    // Processed total of the previous wave, taken while all spouts were done.
    let mut previous: Option<u64> = None;
    loop {
        backoff.sleep(previous.is_some() || shared.draining());
        if shared.should_stop() {
            break;
        }
        if duration.is_some_and(|d| start.elapsed() >= d) {
            // SYNC: Release pairs with the Acquire load in `Shared::draining`.
            shared.drain.store(true, Ordering::Release);
        }
        let (mut sent, mut processed) = (0, 0);
        let (mut all_done, mut all_quiet) = (true, true);
        for w in &shared.workers {
            let progress = w.snapshot();
            sent += progress.sent;
            processed += progress.processed;
            all_done &= progress.spouts_done;
            all_quiet &= progress.quiet;
        }
        // Mattern's four-counter test: the tuples processed as seen by one
        // wave equal the tuples sent as seen by the next, so nothing was in
        // flight between them; and since the first of the two waves every
        // worker was quiet (sent only what executing a tuple emitted), so
        // nothing can be created any more.
        if all_done && previous == Some(sent) && sent == processed {
            // SYNC: Release pairs with the Acquire load in `should_stop`.
            shared.stop.store(true, Ordering::Release);
            break;
        }
        if all_done && sent == processed && !all_quiet {
            // Nothing seems in flight: ticks and idle polls, which send on
            // their own, stop, and the next waves confirm it (a tick's
            // tuple sent before a worker went quiet is counted by then).
            // SYNC: Release pairs with the Acquire load in
            // `Shared::quiescing`.
            shared.quiesce.store(true, Ordering::Release);
        }
        previous = (all_done && all_quiet).then_some(processed);
    }
    for w in workers {
        let _ = w.join();
    }
    tracing::info!(elapsed = ?start.elapsed(), "topology stopped");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_backs_off_while_running_and_is_fast_near_a_stop() {
        let start = Instant::now();
        let fast = Duration::from_micros(200);
        let mut backoff = Backoff::new(fast, start, None);
        let sleeps: Vec<Duration> = (0..10).map(|_| backoff.next(false, start)).collect();
        assert_eq!(sleeps[0], 2 * fast);
        assert!(sleeps.windows(2).all(|w| w[0] <= w[1]), "{sleeps:?}");
        assert_eq!(sleeps[9], Backoff::SLOW);
        assert_eq!(backoff.next(true, start), fast);
        assert_eq!(backoff.next(false, start), 2 * fast);
        // A run with a duration wakes at its end, not up to SLOW later.
        let mut backoff = Backoff::new(fast, start, Some(Duration::from_millis(5)));
        for _ in 0..10 {
            backoff.next(false, start);
        }
        let now = start + Duration::from_millis(4);
        assert_eq!(backoff.next(false, now), Duration::from_millis(1));
        let late = start + Duration::from_millis(6);
        assert_eq!(backoff.next(false, late), Backoff::SLOW);
    }
}
