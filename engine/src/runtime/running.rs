//! [`RunningTopology`]: the handle of a started topology (stop, wait,
//! counters, live metrics).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime};

use gale_transport::link::{Link, LinkStats, LinkStatsHandle};

use super::collector::panic_message;
use super::error::{RunError, TaskError};
use super::metrics::{MetricsHandle, TopologyMetrics};
use super::plan::Plan;
use super::shared::Shared;
use super::stats::TopologyStats;
use crate::TaskId;

/// A running topology (Storm's topology handle in a `LocalCluster`).
pub struct RunningTopology {
    plan: Arc<Plan>,
    shared: Arc<Shared>,
    start: Instant,
    started: SystemTime,
    coordinator: Option<JoinHandle<()>>,
    /// The link to the other nodes (multi-node runs only), stopped once the
    /// workers have exited.
    link: Option<Link>,
}

impl RunningTopology {
    /// The handle of a topology [`launch`](super::startup::launch)ed at
    /// `start` (`started` on the wall clock).
    pub(crate) fn new(
        plan: Arc<Plan>,
        shared: Arc<Shared>,
        (start, started): (Instant, SystemTime),
        coordinator: JoinHandle<()>,
        link: Option<Link>,
    ) -> Self {
        Self {
            plan,
            shared,
            start,
            started,
            coordinator: Some(coordinator),
            link,
        }
    }

    /// Asks the topology to stop: spouts are deactivated and no longer
    /// polled, every tuple in flight is processed, then bolts are cleaned up
    /// and the threads exit. Returns at once; [`wait`](Self::wait) for it.
    pub fn stop(&self) {
        // SYNC: Release pairs with the Acquire load in `Shared::draining`.
        self.shared.drain.store(true, Ordering::Release);
    }

    /// Deactivates the topology (Storm's `deactivate`): each spout's
    /// `deactivate` is called and `next_tuple` no longer is, while tuples
    /// in flight are still processed and acked (and spouts still get
    /// their `ack`/`fail`). [`activate`](Self::activate) resumes.
    pub fn deactivate(&self) {
        self.control_handle().set_active(false);
    }

    /// Activates a deactivated topology: `activate`, then `next_tuple`
    /// again.
    pub fn activate(&self) {
        self.control_handle().set_active(true);
    }

    /// A handle that activates, deactivates and stops the topology from
    /// any thread (a control channel).
    pub fn control_handle(&self) -> ControlHandle {
        ControlHandle {
            metrics: self.metrics_handle(),
        }
    }

    /// Counters so far, per component (this node's tasks only): a
    /// [`TopologyStats`] derived from [`metrics`](Self::metrics).
    pub fn stats(&self) -> TopologyStats {
        let plan = &self.plan;
        let local = |id: TaskId| {
            plan.tasks
                .get(id as usize - 1)
                .is_some_and(|t| plan.is_local(t))
        };
        TopologyStats::from_metrics(&self.metrics(), local, self.shared.errors())
    }

    /// The link's counters (multi-node runs only).
    pub fn link_stats(&self) -> Option<LinkStats> {
        self.link.as_ref().map(Link::stats)
    }

    /// A handle on the link's counters (multi-node runs only).
    pub(crate) fn link_stats_handle(&self) -> Option<LinkStatsHandle> {
        self.link.as_ref().map(Link::stats_handle)
    }

    /// Live metrics: per task, component and worker thread (see
    /// [`MetricsConfig`](super::MetricsConfig)).
    pub fn metrics(&self) -> TopologyMetrics {
        self.metrics_handle().metrics()
    }

    /// A handle that takes [`metrics`](Self::metrics) from any thread,
    /// during the run and after it (an HTTP server, a progress line), and
    /// registers other subsystems' [`MetricSource`](super::MetricSource)s.
    pub fn metrics_handle(&self) -> MetricsHandle {
        MetricsHandle {
            plan: Arc::clone(&self.plan),
            shared: Arc::clone(&self.shared),
            start: self.start,
            started: self.started,
        }
    }

    /// Whether the topology has stopped.
    pub fn is_finished(&self) -> bool {
        self.coordinator
            .as_ref()
            .is_none_or(JoinHandle::is_finished)
    }

    /// Waits until the topology stops (its finite spouts finished and
    /// everything was processed, [`stop`](Self::stop) was called, the
    /// configured duration passed, or a task panicked) and returns the final
    /// counters, or the panic.
    pub fn wait(mut self) -> Result<TopologyStats, RunError> {
        if let Some(c) = self.coordinator.take() {
            if let Err(payload) = c.join() {
                self.shared.fail(TaskError {
                    component: "the coordinator thread".to_owned(),
                    task: 0,
                    message: panic_message(&*payload),
                });
            }
        }
        if let Some(link) = self.link.take() {
            link.stop();
        }
        let panic = self
            .shared
            .panic
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        match panic {
            Some(f) if f.asked => Err(RunError::TaskFailed(f.error)),
            Some(f) if f.error.task == 0 => Err(RunError::ThreadPanicked {
                thread: f.error.component,
                message: f.error.message,
            }),
            Some(f) => Err(RunError::TaskPanicked(f.error)),
            None => Ok(self.stats()),
        }
    }
}

impl Drop for RunningTopology {
    /// Dropping a running topology stops it and waits for its threads.
    fn drop(&mut self) {
        if let Some(c) = self.coordinator.take() {
            self.stop();
            let _ = c.join();
        }
        if let Some(link) = self.link.take() {
            link.stop();
        }
    }
}

/// Activates, deactivates and stops a running topology from any thread
/// (see [`RunningTopology::control_handle`]); cheap to clone.
#[derive(Clone, Debug)]
pub struct ControlHandle {
    metrics: MetricsHandle,
}

/// Where a running topology is, as the control channel reports it
/// (Storm's topology status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlStatus {
    /// Spouts are polled.
    Active,
    /// Deactivated: spouts are not polled.
    Inactive,
    /// Stopping (draining what is in flight) or stopped.
    Killed,
}

impl ControlStatus {
    /// Storm's name: `ACTIVE`, `INACTIVE`, `KILLED`.
    pub fn name(self) -> &'static str {
        match self {
            ControlStatus::Active => "ACTIVE",
            ControlStatus::Inactive => "INACTIVE",
            ControlStatus::Killed => "KILLED",
        }
    }
}

impl ControlHandle {
    /// The topology's id (as [`MetricsHandle::id`]).
    pub fn id(&self) -> String {
        self.metrics.id()
    }

    /// Its metrics handle.
    pub fn metrics(&self) -> &MetricsHandle {
        &self.metrics
    }

    /// Activates (`true`) or deactivates (`false`) it; see
    /// [`RunningTopology::deactivate`].
    pub fn set_active(&self, active: bool) {
        // SYNC: Release pairs with the Acquire load in `Shared::inactive`.
        self.metrics
            .shared
            .inactive
            .store(!active, Ordering::Release);
    }

    /// Stops it as [`RunningTopology::stop`] does (draining first).
    pub fn stop(&self) {
        // SYNC: Release pairs with the Acquire load in `Shared::draining`.
        self.metrics.shared.drain.store(true, Ordering::Release);
    }

    /// Where it is.
    pub fn status(&self) -> ControlStatus {
        let shared = &self.metrics.shared;
        if shared.draining() || shared.should_stop() {
            ControlStatus::Killed
        } else if shared.inactive() {
            ControlStatus::Inactive
        } else {
            ControlStatus::Active
        }
    }
}
