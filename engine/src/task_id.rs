//! [`TaskId`]: how a topology numbers its tasks.

/// A task's id, unique in a topology; tasks are numbered from 1 as in
/// Storm.
pub type TaskId = u32;
