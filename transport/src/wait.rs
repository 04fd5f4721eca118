//! How a thread waits when it has nothing to do.
//!
//! The ring itself never blocks: [`Producer::try_reserve`] returns
//! [`ReserveError::Full`] and [`Consumer::read`] returns an empty batch.
//! Callers that want to wait use a [`Waiter`]: call [`Waiter::idle`] after
//! every poll that made no progress and [`Waiter::reset`] after every poll
//! that did. The default strategy spins briefly, then yields, then parks with
//! a timeout, so an idle consumer does not burn a core.
//!
//! [`Producer::try_reserve`]: crate::Producer::try_reserve
//! [`ReserveError::Full`]: crate::ReserveError::Full
//! [`Consumer::read`]: crate::Consumer::read

use std::time::Duration;

/// What a [`Waiter`] does on an idle poll.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitStrategy {
    /// Always spin (`std::hint::spin_loop`). Lowest latency, burns a core.
    BusySpin,
    /// Spin `spins` times, then `std::thread::yield_now` on every idle poll.
    SpinYield {
        /// Idle polls answered by spinning before switching to yielding.
        spins: u32,
    },
    /// Spin `spins` times, yield `yields` times, then park the thread for
    /// `park` on every further idle poll (`std::thread::park_timeout`, so an
    /// `unpark` from the peer wakes it early).
    SpinPark {
        /// Idle polls answered by spinning.
        spins: u32,
        /// Idle polls answered by yielding, after the spins.
        yields: u32,
        /// How long each park lasts at most.
        park: Duration,
    },
}

impl Default for WaitStrategy {
    /// `SpinPark { spins: 100, yields: 10, park: 100 µs }`.
    fn default() -> Self {
        WaitStrategy::SpinPark {
            spins: 100,
            yields: 10,
            park: Duration::from_micros(100),
        }
    }
}

/// The action a [`Waiter`] takes on one idle poll.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitAction {
    /// A CPU spin-loop hint.
    Spin,
    /// `std::thread::yield_now()`.
    Yield,
    /// `std::thread::park_timeout(duration)`.
    Park(Duration),
}

/// A small state machine that escalates from spinning to yielding to parking
/// while a poll loop finds nothing to do.
///
/// ```
/// use gale_transport::{WaitAction, WaitStrategy, Waiter};
/// let mut w = Waiter::new(WaitStrategy::SpinYield { spins: 1 });
/// assert_eq!(w.idle(), WaitAction::Spin);
/// assert_eq!(w.idle(), WaitAction::Yield);
/// w.reset(); // progress was made
/// assert_eq!(w.next_action(), WaitAction::Spin);
/// ```
#[derive(Clone, Debug)]
pub struct Waiter {
    strategy: WaitStrategy,
    /// Idle polls since the last `reset` (saturating).
    step: u32,
}

impl Waiter {
    /// A waiter at the start of its progression.
    pub fn new(strategy: WaitStrategy) -> Self {
        Waiter { strategy, step: 0 }
    }

    /// The strategy this waiter follows.
    pub fn strategy(&self) -> WaitStrategy {
        self.strategy
    }

    /// The action the next call to [`idle`](Self::idle) will take.
    pub fn next_action(&self) -> WaitAction {
        match self.strategy {
            WaitStrategy::BusySpin => WaitAction::Spin,
            WaitStrategy::SpinYield { spins } => {
                if self.step < spins {
                    WaitAction::Spin
                } else {
                    WaitAction::Yield
                }
            }
            WaitStrategy::SpinPark {
                spins,
                yields,
                park,
            } => {
                if self.step < spins {
                    WaitAction::Spin
                } else if self.step < spins.saturating_add(yields) {
                    WaitAction::Yield
                } else {
                    WaitAction::Park(park)
                }
            }
        }
    }

    /// Called after a poll that found nothing: waits a little (according to
    /// the progression) and returns what it did.
    pub fn idle(&mut self) -> WaitAction {
        self.idle_with(std::thread::park_timeout)
    }

    /// [`idle`](Self::idle), where a park is `park`'s to do (given how long
    /// it may last): for instance a sleep on a
    /// [`Doorbell`](crate::Doorbell), which the first producer to publish
    /// cuts short.
    pub fn idle_with(&mut self, park: impl FnOnce(Duration)) -> WaitAction {
        let action = self.next_action();
        match action {
            WaitAction::Spin => std::hint::spin_loop(),
            WaitAction::Yield => std::thread::yield_now(),
            WaitAction::Park(d) => park(d),
        }
        self.step = self.step.saturating_add(1);
        action
    }

    /// Called after a poll that made progress: the next idle poll starts the
    /// progression again with a spin.
    pub fn reset(&mut self) {
        self.step = 0;
    }
}

impl Default for Waiter {
    fn default() -> Self {
        Waiter::new(WaitStrategy::default())
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn busy_spin_always_spins() {
        let mut w = Waiter::new(WaitStrategy::BusySpin);
        for _ in 0..1000 {
            assert_eq!(w.idle(), WaitAction::Spin);
        }
    }

    #[test]
    fn spin_yield_progression() {
        let mut w = Waiter::new(WaitStrategy::SpinYield { spins: 3 });
        let seen: Vec<_> = (0..5).map(|_| w.idle()).collect();
        use WaitAction::*;
        assert_eq!(seen, [Spin, Spin, Spin, Yield, Yield]);
        w.reset();
        assert_eq!(w.idle(), Spin);
    }

    #[test]
    fn spin_park_progression_and_reset() {
        let park = Duration::from_micros(1);
        let mut w = Waiter::new(WaitStrategy::SpinPark {
            spins: 2,
            yields: 2,
            park,
        });
        use WaitAction::*;
        let seen: Vec<_> = (0..7).map(|_| w.idle()).collect();
        assert_eq!(
            seen,
            [Spin, Spin, Yield, Yield, Park(park), Park(park), Park(park)]
        );
        w.reset();
        assert_eq!(w.next_action(), Spin);
        assert_eq!(w.idle(), Spin);
    }

    #[test]
    fn step_saturates_instead_of_wrapping() {
        let park = Duration::from_nanos(1);
        let mut w = Waiter::new(WaitStrategy::SpinPark {
            spins: 1,
            yields: 1,
            park,
        });
        w.step = u32::MAX - 1;
        assert_eq!(w.idle(), WaitAction::Park(park));
        assert_eq!(w.idle(), WaitAction::Park(park));
        assert_eq!(w.step, u32::MAX);
    }

    #[test]
    fn default_strategy_eventually_parks() {
        let w = Waiter::default();
        match w.strategy() {
            WaitStrategy::SpinPark { .. } => {}
            other => panic!("default should park eventually, got {other:?}"),
        }
    }
}
