//! [`TaskId`]: how a topology numbers its tasks.

/// A task's id, unique in a topology; tasks are numbered from 1 as in
/// Storm.
pub type TaskId = u32;

/// The most tasks a topology (ackers included) may have: a tree's root id
/// carries its spout's task id in 24 bits (the acker finds the spout task
/// it reports to there), so task ids stay below 2^24.
pub const MAX_TASKS: usize = (1 << 24) - 1;
