//! [`MAX_DURATION`]: the longest duration Gale accepts.

use std::time::Duration;

/// The longest message timeout, tick interval or run duration accepted
/// anywhere (topology, topology file, cluster file, flags): one year. Longer
/// values are refused when they are validated, so no deadline computed from
/// them can overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);
