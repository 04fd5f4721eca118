//! [`CustomGrouping`]: a grouping the user writes.

use gale_codec::Value;

use crate::TaskId;

/// A user-defined grouping (Storm's `CustomStreamGrouping`).
pub trait CustomGrouping: Send + 'static {
    /// Called once with the subscribing bolt's task ids, in order.
    fn prepare(&mut self, _target_tasks: &[TaskId]) {}

    /// Pushes the task(s) that get a tuple with these `values` onto `out`
    /// (each must be one of the target tasks; others are dropped and
    /// reported).
    fn choose_tasks(&mut self, values: &[Value], out: &mut Vec<TaskId>);
}
