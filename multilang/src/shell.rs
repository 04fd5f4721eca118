//! What shell spouts and bolts share: starting the child (and restarting
//! it with a back-off), and errors kept until a collector can report them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gale_codec::Value;
use gale_engine::{MetricSource, Sample, SampleKind, TopologyContext};

use crate::process::{ShellProcess, Who};
use crate::ShellConfig;

/// First wait before restarting a child that died young; doubles per
/// restart up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// A child that lived this long resets the back-off.
const HEALTHY: Duration = Duration::from_secs(10);

pub(crate) struct Shell {
    pub(crate) config: Arc<ShellConfig>,
    pub(crate) who: Who,
    conf: Value,
    context: Value,
    pub(crate) process: Option<ShellProcess>,
    started: Instant,
    backoff: Duration,
    next_start: Instant,
    /// Errors found where no collector was at hand (open, prepare,
    /// ack/fail): reported at the next chance.
    pub(crate) errors: Vec<String>,
    /// Children started so far (the first one included).
    pub(crate) starts: u64,
    /// Starts that failed since the last one that did not.
    failed_starts: u32,
    /// Why the first child could not be started, once it failed
    /// [`ShellConfig::start_attempts`] times in a row (until the task
    /// takes it to stop the topology with it).
    gave_up: Option<String>,
    /// What the metrics endpoint shows of this child.
    pub(crate) stats: Arc<ChildStats>,
    /// A bolt's (else a spout's).
    bolt: bool,
}

/// A shell task's child, as metrics: written by the task's own thread,
/// read by snapshots. The values publish nothing else, so every access is
/// `Relaxed` (no pairing).
#[derive(Debug)]
pub(crate) struct ChildStats {
    component: String,
    task: u32,
    restarts: AtomicU64,
    pending: AtomicU64,
    running: AtomicU64,
    batched: AtomicU64,
    /// The running child's pid (0: none), for its CPU and memory.
    pid: AtomicU64,
    /// The latest value of each metric the child reported with a
    /// `metrics` message (at most [`MAX_CHILD_METRICS`] names).
    reported: Mutex<BTreeMap<String, f64>>,
}

/// Names of reported metrics kept per task: a child inventing names
/// without end must not grow memory (or the metrics page) without bound.
const MAX_CHILD_METRICS: usize = 64;
/// Longest name of a reported metric, in bytes.
const MAX_METRIC_NAME: usize = 128;

impl ChildStats {
    fn new(component: &str, task: u32) -> Self {
        Self {
            component: component.to_owned(),
            task,
            restarts: AtomicU64::new(0),
            pending: AtomicU64::new(0),
            running: AtomicU64::new(0),
            batched: AtomicU64::new(0),
            pid: AtomicU64::new(0),
            reported: Mutex::default(),
        }
    }

    /// Sets the number of tuples the child holds (bolts).
    pub(crate) fn set_pending(&self, n: usize) {
        self.pending.store(n as u64, Ordering::Relaxed);
    }

    /// Keeps the value of a child's `metrics` message (Storm's
    /// `report_metric`): a number becomes the latest value of the gauge
    /// `gale_multilang_metric{name}`. A value that is not a number, an
    /// empty or overlong name, or a name beyond the first
    /// [`MAX_CHILD_METRICS`] is refused with the reason.
    pub(crate) fn report(&self, name: &str, params: &Value) -> Result<(), String> {
        // The name first: the errors below quote it.
        if name.is_empty() || name.len() > MAX_METRIC_NAME {
            return Err(format!(
                "a metric name must have 1 to {MAX_METRIC_NAME} bytes, not {}",
                name.len()
            ));
        }
        let value = match params {
            Value::I64(n) => *n as f64,
            Value::F64(x) if x.is_finite() => *x,
            other => {
                // Quoted in part: the value came from the child and may be huge.
                let text = other.to_string();
                let shown: String = text.chars().take(64).collect();
                let more = if shown.len() < text.len() { "…" } else { "" };
                return Err(format!(
                    "metric `{name}`: the value {shown}{more} is not a finite number"
                ));
            }
        };
        let mut reported = self.reported.lock().unwrap_or_else(|e| e.into_inner());
        if reported.len() >= MAX_CHILD_METRICS && !reported.contains_key(name) {
            return Err(format!(
                "metric `{name}`: the subprocess already reported {MAX_CHILD_METRICS} metrics; \
                 more names are ignored"
            ));
        }
        reported.insert(name.to_owned(), value);
        Ok(())
    }
}

impl MetricSource for ChildStats {
    fn collect(&self, out: &mut Vec<Sample>) {
        let labels = vec![
            ("component".to_owned(), self.component.clone()),
            ("task".to_owned(), self.task.to_string()),
        ];
        for (name, help, kind, value) in [
            (
                "gale_multilang_restarts_total",
                "Times the task's subprocess was restarted",
                SampleKind::Counter,
                &self.restarts,
            ),
            (
                "gale_multilang_pending",
                "Tuples the task's subprocess holds, not yet acked or failed",
                SampleKind::Gauge,
                &self.pending,
            ),
            (
                "gale_multilang_running",
                "Whether the task's subprocess runs",
                SampleKind::Gauge,
                &self.running,
            ),
            (
                "gale_multilang_batched",
                "Whether the task's subprocess speaks Gale's batched protocol (1) or Storm's (0)",
                SampleKind::Gauge,
                &self.batched,
            ),
        ] {
            out.push(Sample {
                name: name.to_owned(),
                help: help.to_owned(),
                kind,
                labels: labels.clone(),
                value: value.load(Ordering::Relaxed) as f64,
            });
        }
        let sample = |name: &str, help: &str, kind, value| Sample {
            name: name.to_owned(),
            help: help.to_owned(),
            kind,
            labels: labels.clone(),
            value,
        };
        let pid = self.pid.load(Ordering::Relaxed);
        if let Some((cpu, rss)) = proc_usage(pid) {
            out.push(sample(
                "gale_multilang_cpu_seconds",
                "CPU time (user + system) of the task's current subprocess",
                SampleKind::Gauge,
                cpu,
            ));
            out.push(sample(
                "gale_multilang_resident_bytes",
                "Resident memory of the task's current subprocess",
                SampleKind::Gauge,
                rss,
            ));
        }
        let reported = self.reported.lock().unwrap_or_else(|e| e.into_inner());
        for (name, value) in reported.iter() {
            let mut labels = labels.clone();
            labels.push(("name".to_owned(), name.clone()));
            out.push(Sample {
                name: "gale_multilang_metric".to_owned(),
                help: "Latest value of a metric the task's subprocess reported (Storm's `metrics` \
                       message)"
                    .to_owned(),
                kind: SampleKind::Gauge,
                labels,
                value: *value,
            });
        }
    }
}

/// CPU seconds and resident bytes of process `pid`, from `/proc` (Linux;
/// `None` elsewhere, for pid 0, or when the process is gone).
fn proc_usage(pid: u64) -> Option<(f64, f64)> {
    if pid == 0 || !cfg!(target_os = "linux") {
        return None;
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: fields after its `)`.
    let fields: Vec<&str> = stat
        .get(stat.rfind(')')? + 1..)?
        .split_whitespace()
        .collect();
    // utime and stime are fields 14 and 15 (1-based), in clock ticks of
    // USER_HZ, which Linux fixes at 100 for userspace.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some((ticks as f64 / 100.0, rss_kib as f64 * 1024.0))
}

impl Shell {
    /// The shell of task `ctx`, a bolt's if `bolt` (else a spout's).
    pub(crate) fn new(config: Arc<ShellConfig>, ctx: &TopologyContext, bolt: bool) -> Self {
        let now = Instant::now();
        let stats = Arc::new(ChildStats::new(ctx.component_id(), ctx.task_id()));
        ctx.register_metric(Arc::clone(&stats) as Arc<dyn MetricSource>);
        Self {
            stats,
            who: Who {
                component: ctx.component_id().to_owned(),
                task: ctx.task_id(),
            },
            conf: config.handshake_conf(ctx),
            context: config.handshake_context(ctx),
            config,
            process: None,
            started: now,
            backoff: Duration::ZERO,
            next_start: now,
            errors: Vec::new(),
            starts: 0,
            failed_starts: 0,
            gave_up: None,
            bolt,
        }
    }

    /// Starts a child if none runs and the back-off allows; returns whether
    /// one runs. A failed start is kept in `errors`.
    pub(crate) fn ensure_started(&mut self) -> bool {
        if self.process.is_some() {
            return true;
        }
        if self.giving_up() {
            return false;
        }
        let now = Instant::now();
        if now < self.next_start {
            return false;
        }
        match ShellProcess::spawn(
            &self.config,
            &self.who,
            self.conf.clone(),
            self.context.clone(),
            self.bolt,
        ) {
            Ok(p) => {
                self.stats
                    .batched
                    .store(u64::from(p.batched()), Ordering::Relaxed);
                self.stats
                    .pid
                    .store(u64::from(p.os_pid()), Ordering::Relaxed);
                self.process = Some(p);
                self.started = Instant::now();
                self.starts += 1;
                self.failed_starts = 0;
                self.stats.running.store(1, Ordering::Relaxed);
                if self.starts > 1 {
                    self.stats.restarts.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        component = self.who.component,
                        task = self.who.task,
                        "subprocess restarted"
                    );
                }
                true
            }
            Err(e) => {
                let command = self.config.command_line();
                self.failed_starts += 1;
                if self.giving_up() {
                    // The count first: the error may end in lines of stderr.
                    self.gave_up = Some(format!(
                        "cannot start `{command}` ({} attempts in a row; it never started): \
                         {e}",
                        self.failed_starts
                    ));
                } else {
                    self.errors.push(format!("cannot start `{command}`: {e}"));
                }
                self.schedule_restart();
                false
            }
        }
    }

    /// The first child failed to start `start_attempts` times in a row: no
    /// more starts are tried.
    fn giving_up(&self) -> bool {
        let attempts = self.config.start_attempts;
        self.starts == 0 && attempts > 0 && self.failed_starts >= attempts
    }

    /// Why the first child could not be started after
    /// [`ShellConfig::start_attempts`] tries, once: the task then stops
    /// the topology with it.
    pub(crate) fn take_gave_up(&mut self) -> Option<String> {
        self.gave_up.take()
    }

    /// Kills the child after a fault and schedules the next start;
    /// returns the tail of its stderr for the error message.
    pub(crate) fn kill(&mut self) -> String {
        let Some(mut p) = self.process.take() else {
            return String::new();
        };
        p.kill();
        self.stats.running.store(0, Ordering::Relaxed);
        self.stats.pid.store(0, Ordering::Relaxed);
        let tail = p.stderr_tail();
        if self.started.elapsed() >= HEALTHY {
            self.backoff = Duration::ZERO;
        }
        self.schedule_restart();
        tail
    }

    /// How the child exited, and the tail of its stderr (after an EOF).
    pub(crate) fn exited(&mut self) -> String {
        let status = self
            .process
            .as_mut()
            .map_or_else(String::new, ShellProcess::exit_status);
        format!("the subprocess exited ({status}){}", self.kill())
    }

    fn schedule_restart(&mut self) {
        self.next_start = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).clamp(FIRST_BACKOFF, MAX_BACKOFF);
    }

    /// Ends the child for good (topology shutdown).
    pub(crate) fn shutdown(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.kill();
            self.stats.running.store(0, Ordering::Relaxed);
        }
        for e in self.errors.drain(..) {
            tracing::error!(component = self.who.component, task = self.who.task, "{e}");
        }
    }
}

#[cfg(test)]
mod report_tests {
    use super::*;

    fn stats() -> ChildStats {
        ChildStats::new("split", 1)
    }

    #[test]
    fn this_process_has_cpu_time_and_memory_in_proc() {
        let (cpu, rss) = proc_usage(u64::from(std::process::id())).expect("/proc");
        assert!(cpu >= 0.0 && rss > 0.0, "{cpu} {rss}");
        assert_eq!(proc_usage(0), None);
    }

    #[test]
    fn bad_reports_get_bounded_errors_and_keep_nothing() {
        let s = stats();
        let long = "n".repeat(MAX_METRIC_NAME + 1);
        let e = s.report(&long, &Value::I64(1)).unwrap_err();
        assert!(e.contains("1 to 128 bytes") && !e.contains(&long), "{e}");
        let huge = Value::Str("x".repeat(1 << 20));
        let e = s.report("m", &huge).unwrap_err();
        assert!(e.len() < 200 && e.contains("not a finite number"), "{e}");
        let e = s.report(&long, &huge).unwrap_err();
        assert!(
            e.len() < 200,
            "neither the name nor the value quoted whole: {e}"
        );
        let e = s.report("m", &Value::F64(f64::NAN)).unwrap_err();
        assert!(e.contains("metric `m`"), "{e}");
        assert!(s.reported.lock().unwrap().is_empty());
    }

    #[test]
    fn keeps_the_latest_value_of_at_most_the_first_names() {
        let s = stats();
        for i in 0..MAX_CHILD_METRICS {
            s.report(&format!("m{i}"), &Value::I64(1)).unwrap();
        }
        s.report("m0", &Value::F64(2.5)).unwrap();
        assert!(s.report("one-more", &Value::I64(1)).is_err());
        let reported = s.reported.lock().unwrap();
        assert_eq!(reported.len(), MAX_CHILD_METRICS);
        assert_eq!(reported["m0"], 2.5);
    }
}
