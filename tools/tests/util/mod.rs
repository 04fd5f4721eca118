//! Helpers for the CLI tests: run the real `gale` binary under a watchdog.

#[path = "../../../tests/util/python_env.rs"]
mod python_env;
#[path = "../../../tests/util/scratch.rs"]
#[allow(dead_code)] // not every test file makes scratch directories
mod scratch;
#[allow(unused_imports)] // not every test file makes scratch directories
pub use scratch::scratch;
/// Real redis-server and PostgreSQL for the connector tests.
#[allow(dead_code)] // only tests/connectors.rs starts servers
pub mod servers;

use std::io::Read;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long a `gale` invocation may take before the test fails (a hang,
/// not a slow run: nothing here asserts on speed).
const WATCHDOG: Duration = Duration::from_secs(120);

/// What a finished `gale` invocation printed.
pub struct Run {
    /// Exit code (`None` if killed by a signal).
    pub code: Option<i32>,
    /// Everything on stdout.
    pub stdout: String,
    /// Everything on stderr.
    pub stderr: String,
}

impl Run {
    /// Whether it exited with 0.
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }
}

/// Runs `gale args...`, killing it and failing the test if it is still
/// running after the watchdog's limit.
#[allow(dead_code)] // tests/streamparse_project.rs uses only gale_with_env
pub fn gale(args: &[&str]) -> Run {
    gale_with_env(args, &[])
}

/// [`gale`] with extra environment variables.
pub fn gale_with_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gale"))
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the gale binary");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut text = String::new();
            pipe.read_to_string(&mut text).expect("read gale's output");
            text
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("piped stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped stderr")));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll the gale process") {
            break status;
        }
        if start.elapsed() > WATCHDOG {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "watchdog: `gale {}` still running after {WATCHDOG:?}; killed it",
                args.join(" ")
            );
        }
        thread::sleep(Duration::from_millis(10));
    };
    Run {
        code: status.code(),
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

/// The repository root.
#[allow(dead_code)] // not every test file needs it
pub fn repo() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The Python with pystorm and streamparse (`$GALE_PYTHON`, else made by
/// scripts/python-env).
#[allow(dead_code)] // not every test file needs it
pub fn python() -> String {
    python_env::python_at(&repo())
}
