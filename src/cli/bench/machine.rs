//! What `gale bench` reports about the machine, and the process's CPU time.

use std::time::Duration;

use serde_json::{json, Value as Json};

/// Cores this process may use.
pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The CPU model from /proc/cpuinfo (`model name` of the first CPU), if
/// the file exists and names one.
pub(crate) fn cpu_model() -> Option<String> {
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == "model name").then(|| value.trim().to_owned())
    })
}

/// The `machine` object of the JSON report.
pub(crate) fn describe() -> Json {
    json!({
        "cores": cores(),
        "cpu_model": cpu_model(),
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
    })
}

/// User plus system CPU time used so far by every thread of this process
/// (`getrusage(RUSAGE_SELF)`), or `None` if the call fails.
pub(crate) fn cpu_time() -> Option<Duration> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `usage` is a valid, writable `rusage`; getrusage only writes
    // into it.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: zeroed memory is a valid `rusage` (plain integers) and
    // getrusage succeeded, so it is fully initialised.
    let usage = unsafe { usage.assume_init() };
    let time = |t: libc::timeval| {
        Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
    };
    Some(time(usage.ru_utime) + time(usage.ru_stime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_grows_with_work() {
        let before = cpu_time().expect("getrusage works here");
        let mut x = 0u64;
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_millis(50) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let after = cpu_time().expect("getrusage works here");
        assert!(after > before, "{before:?} -> {after:?}");
    }

    #[test]
    fn machine_has_cores() {
        assert!(describe()["cores"].as_u64().is_some_and(|n| n >= 1));
    }
}
