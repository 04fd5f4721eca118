//! Helpers for the multi-node tests: cluster files on loopback addresses
//! and real `gale node` processes whose output is read as it comes.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// What a node logs once its topology runs.
pub const RUNNING: &str = "node running";
/// What a node logs once a rebalance has restarted its topology.
#[allow(dead_code)] // the rebalance tests only
pub const REBALANCED: &str = "rebalanced: topology running again";

/// How long a test waits for anything a node should do (a hang, not a slow
/// run: nothing here asserts on speed).
pub const PATIENCE: Duration = Duration::from_secs(180);

/// A scratch directory for one test, and one under `/dev/shm` for the
/// ring files of its same-host nodes (so that tests running at once never
/// see each other's), both removed when dropped.
pub struct Scratch(pub PathBuf, pub PathBuf);

impl Scratch {
    /// Fresh directories named after the test.
    pub fn new(name: &str) -> Self {
        let tag = format!("gale-{name}-{}", std::process::id());
        let dirs = [
            std::env::temp_dir().join(&tag),
            Path::new("/dev/shm").join(&tag),
        ];
        for dir in &dirs {
            let _ = std::fs::remove_dir_all(dir);
            std::fs::create_dir_all(dir).expect("create scratch dir");
        }
        let [dir, shm] = dirs;
        Self(dir, shm)
    }

    /// A `shm_dir` setting for the cluster file.
    pub fn shm_setting(&self) -> String {
        format!("shm_dir = \"{}\"", self.1.display())
    }

    /// Writes `text` to `name` in the directory and returns its path.
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write scratch file");
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

/// Waits until `f` holds (failing the test after [`PATIENCE`]).
pub fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < PATIENCE, "{what} did not happen");
        thread::sleep(Duration::from_millis(50));
    }
}

/// The text of a cluster file: node `i` listens on `127.<net>.0.<i+1>`
/// (on a port free when the file is made, so that test runs side by side
/// do not collide) with `threads[i]` threads; `hosts[i]` names its host
/// if given; `extra` goes in `[settings]`.
pub fn cluster_file(
    net: u8,
    secret: &str,
    threads: &[usize],
    hosts: &[Option<&str>],
    settings: &str,
) -> String {
    let mut text = format!("secret = \"{secret}\"\n\n[settings]\n{settings}\n");
    for (i, t) in threads.iter().enumerate() {
        let ip = format!("127.{net}.0.{}", i + 1);
        // Free now on the node's own address (the listener closes at once).
        let port = std::net::TcpListener::bind((ip.as_str(), 0))
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        text += &format!("\n[[node]]\nid = {i}\nlisten = \"{ip}:{port}\"\nthreads = {t}\n");
        if let Some(Some(host)) = hosts.get(i) {
            text += &format!("host = \"{host}\"\n");
        }
    }
    text
}

/// The `listen` address of node `id` in a cluster file made by
/// [`cluster_file`].
pub fn listen_addr(cluster: &str, id: usize) -> String {
    let line = cluster
        .lines()
        .filter_map(|l| l.strip_prefix("listen = \""))
        .nth(id)
        .unwrap_or_else(|| panic!("no node {id} in {cluster}"));
    line.trim_end_matches('"').to_owned()
}

/// Output of a process, read as it comes.
#[derive(Clone, Default)]
pub struct Output(Arc<Mutex<String>>);

impl Output {
    fn follow(&self, pipe: impl Read + Send + 'static) -> thread::JoinHandle<()> {
        let text = Arc::clone(&self.0);
        thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                let mut t = text.lock().unwrap_or_else(|e| e.into_inner());
                t.push_str(&line);
                t.push('\n');
            }
        })
    }

    /// Everything so far.
    pub fn text(&self) -> String {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// A running `gale node` process.
pub struct Node {
    /// Its node id.
    pub id: u32,
    child: Child,
    readers: Vec<thread::JoinHandle<()>>,
    /// Its stdout.
    pub stdout: Output,
    /// Its stderr (logs, plan, report).
    pub stderr: Output,
}

impl Node {
    /// Starts `gale node --cluster <cluster> --node <id> <args...>`.
    pub fn start(cluster: &Path, id: u32, args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_gale"))
            .arg("node")
            .arg("--cluster")
            .arg(cluster)
            .arg("--node")
            .arg(id.to_string())
            .arg("--no-pin")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn gale node");
        let (stdout, stderr) = (Output::default(), Output::default());
        let readers = vec![
            stdout.follow(child.stdout.take().expect("piped stdout")),
            stderr.follow(child.stderr.take().expect("piped stderr")),
        ];
        Self {
            id,
            child,
            readers,
            stdout,
            stderr,
        }
    }

    /// Waits until stderr contains `needle`; fails the test (with the log)
    /// if it does not within [`PATIENCE`] or the process exits first.
    pub fn wait_for(&mut self, needle: &str) {
        let start = Instant::now();
        loop {
            if self.stderr.text().contains(needle) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                thread::sleep(Duration::from_millis(100));
                if self.stderr.text().contains(needle) {
                    return;
                }
                panic!(
                    "node {} exited ({status}) before logging {needle:?}:\n{}",
                    self.id,
                    self.stderr.text()
                );
            }
            assert!(
                start.elapsed() < PATIENCE,
                "node {} did not log {needle:?} within {PATIENCE:?}:\n{}",
                self.id,
                self.stderr.text()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// The process id.
    #[allow(dead_code)] // tests/stateful_nodes.rs only
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (`TERM`, `KILL`) to the process.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} node {}", self.id);
    }

    /// Waits for the process to exit (failing the test after
    /// [`PATIENCE`]) and returns its exit code, stdout and stderr.
    pub fn finish(mut self) -> (Option<i32>, String, String) {
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("poll gale node") {
                break status;
            }
            if start.elapsed() > PATIENCE {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "node {} still running after {PATIENCE:?}; killed it:\n{}",
                    self.id,
                    self.stderr.text()
                );
            }
            thread::sleep(Duration::from_millis(20));
        };
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        (status.code(), self.stdout.text(), self.stderr.text())
    }

    /// Sends SIGTERM and waits for a clean exit (drained and reported:
    /// code 143, as `gale run`); returns stdout and stderr.
    pub fn stop(self) -> (String, String) {
        self.stop_with(143)
    }

    /// Like [`stop`](Self::stop), expecting exit code `code` (3: the node
    /// lost a peer during the run).
    pub fn stop_with(self, code: i32) -> (String, String) {
        self.signal("TERM");
        let id = self.id;
        let (got, out, err) = self.finish();
        assert_eq!(
            got,
            Some(code),
            "node {id} did not exit with {code}:\n{err}"
        );
        (out, err)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // A failed test must not leave processes behind.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A port free on `127.<net>.0.1` to `.<nodes>` (for a cluster file's
/// `metrics_port`, the same on every node).
#[allow(dead_code)] // the rebalance tests only
pub fn free_port_on_all(net: u8, nodes: usize) -> u16 {
    loop {
        let l = std::net::TcpListener::bind(format!("127.{net}.0.1:0")).expect("bind");
        let port = l.local_addr().expect("addr").port();
        let others: Vec<_> = (2..=nodes)
            .filter_map(|i| std::net::TcpListener::bind(format!("127.{net}.0.{i}:{port}")).ok())
            .collect();
        if others.len() == nodes - 1 {
            return port;
        }
    }
}

/// Each of `nodes` nodes' first topology in `/api/v1/node/status` (their
/// endpoints on `127.<net>.0.<i>:<port>`), asked with `token` if given.
#[allow(dead_code)] // the rebalance tests only
pub fn topology_statuses(
    net: u8,
    port: u16,
    nodes: usize,
    token: Option<&str>,
) -> Vec<serde_json::Value> {
    (1..=nodes)
        .map(|i| {
            let url = format!("http://127.{net}.0.{i}:{port}/api/v1/node/status");
            let (code, body) =
                gale::monitor::get_with_token(&url, Duration::from_secs(2), token).expect("status");
            assert_eq!(code, 200);
            let doc: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
            doc["topologies"][0].clone()
        })
        .collect()
}

/// The stderr of `node` from the `n`-th time it logged `needle` on
/// (empty if it has not yet).
#[allow(dead_code)] // the rebalance tests only
pub fn after_nth(node: &Node, needle: &str, n: usize) -> String {
    let text = node.stderr.text();
    text.match_indices(needle)
        .nth(n - 1)
        .map_or_else(String::new, |(i, _)| text[i..].to_owned())
}

/// Starts nodes `0..count` of `cluster` with `args` and waits until each
/// has logged `ready`.
#[allow(dead_code)] // the rebalance tests only
pub fn start_nodes(cluster: &Path, count: usize, args: &[&str], ready: &str) -> Vec<Node> {
    let mut nodes: Vec<Node> = (0..count)
        .map(|id| Node::start(cluster, id as u32, args))
        .collect();
    for node in &mut nodes {
        node.wait_for(ready);
    }
    nodes
}
