//! What goes wrong while a topology runs: [`TaskError`] (one task's
//! error or panic), [`ErrorSummary`] (equal errors grouped) and
//! [`RunError`] (why a run could not start or did not finish cleanly).

use std::time::{Duration, SystemTime};

use gale_transport::link::LinkError;
use gale_transport::RingError;

use crate::TaskId;

/// An error reported by or about a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskError {
    /// Component of the task.
    pub component: String,
    /// Task id.
    pub task: TaskId,
    /// What happened.
    pub message: String,
}

/// Reported errors with equal component, task and message, grouped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorSummary {
    /// Component of the task.
    pub component: String,
    /// Task id.
    pub task: TaskId,
    /// What happened.
    pub message: String,
    /// How many times.
    pub count: u64,
    /// First time.
    pub first: SystemTime,
    /// Last time.
    pub last: SystemTime,
}

/// Why a topology could not start or did not finish cleanly.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A ring between workers could not be created.
    #[error("cannot create the rings between worker threads: {0}")]
    Ring(#[from] RingError),
    /// A worker thread could not be spawned.
    #[error("cannot spawn worker thread {thread}: {source}")]
    Spawn {
        /// Worker index.
        thread: usize,
        /// The OS error.
        source: std::io::Error,
    },
    /// The link to the other nodes could not start.
    #[error("cannot start the link to the other nodes: {0}")]
    Link(#[from] LinkError),
    /// The node was stopped (e.g. by a signal) while it waited for its
    /// peers; nothing ran.
    #[error("stopped while waiting for peers {missing:?}")]
    StoppedWhileConnecting {
        /// The nodes that were not up yet.
        missing: Vec<u32>,
    },
    /// Peers did not connect in time.
    #[error("peers {missing:?} did not connect within {waited:?}")]
    NotConnected {
        /// The nodes that were not up.
        missing: Vec<u32>,
        /// How long the node waited.
        waited: Duration,
    },
    /// Checkpoints across nodes could not be joined (the backend failed,
    /// or it is not shared by every node).
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    /// The cluster file does not fit this node.
    #[error(transparent)]
    Cluster(#[from] crate::cluster::ClusterError),
    /// A task panicked; the topology was stopped.
    #[error("task {} of component `{}` {}", .0.task, .0.component, .0.message)]
    TaskPanicked(TaskError),
    /// A task stopped the topology with an error
    /// ([`BoltOutput::fail_topology`](crate::BoltOutput::fail_topology),
    /// [`SpoutOutput::fail_topology`](crate::SpoutOutput::fail_topology)).
    #[error("task {} of component `{}` stopped the topology: {}", .0.task, .0.component, .0.message)]
    TaskFailed(TaskError),
    /// An engine thread panicked outside any task; the topology was
    /// stopped.
    #[error("{thread} panicked: {message}")]
    ThreadPanicked {
        /// Which thread.
        thread: String,
        /// The panic message.
        message: String,
    },
}
