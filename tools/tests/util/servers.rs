//! Real servers for the connector tests: a `redis-server` and a
//! PostgreSQL cluster (`initdb` + `pg_ctl`), each on a free loopback port
//! in its own temporary directory, stopped when dropped. `scripts/test`
//! installs Debian's `redis-server` and `postgresql` when missing; a test
//! that finds them missing fails saying so (it never skips).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long a server may take to start.
const START: Duration = Duration::from_secs(60);

/// Starts of a server that exits at once (its port taken) before a test
/// fails.
const ATTEMPTS: usize = 5;

/// Ports a test server is started on: below Linux's default ephemeral
/// range (32768..=60999), so that no outgoing connection of another test
/// (whose local port the kernel picks from that range) can take the port
/// between [`free_port`] and the server's bind.
const SERVER_PORTS: std::ops::Range<u16> = 20_000..32_000;

/// A port on 127.0.0.1 that was free just now (bound and released), from
/// [`SERVER_PORTS`], starting at a point that differs per process and per
/// call so that concurrent tests rarely try the same one. A server that
/// still finds it taken is started again on another ([`Redis::start`]).
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static CALLS: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let seed = std::process::id()
        .wrapping_mul(2_654_435_761)
        .wrapping_add(nanos)
        .wrapping_add(CALLS.fetch_add(1, Ordering::Relaxed).wrapping_mul(7919));
    let span = u32::from(SERVER_PORTS.end - SERVER_PORTS.start);
    (0..span)
        .map(|i| SERVER_PORTS.start + ((seed.wrapping_add(i) % span) as u16))
        .find(|&port| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok())
        .expect("a free port on 127.0.0.1 in 20000..32000")
}

/// A fresh temporary directory.
pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "gale-{tag}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    std::fs::create_dir_all(&dir).expect("create a temp dir");
    dir
}

fn need(program: &str, package: &str) -> String {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    found.unwrap_or_else(|| {
        panic!("`{program}` not found: install Debian's `{package}` (scripts/test does)")
    })
}

/// A `redis-server` with an append-only file (so a restart keeps the
/// stream and the groups).
pub struct Redis {
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: PathBuf,
    password: Option<String>,
    child: Option<Child>,
}

impl Redis {
    /// Starts one.
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// Starts one that requires `password`. If the server exits before it
    /// answers (its port was taken after [`free_port`] found it free), it
    /// is started again on another port.
    pub fn start_with(password: Option<&str>) -> Self {
        let mut r = Redis {
            port: free_port(),
            dir: temp_dir("redis"),
            password: password.map(str::to_owned),
            child: None,
        };
        let mut last = String::new();
        for _ in 0..ATTEMPTS {
            match r.try_spawn() {
                Ok(()) => return r,
                Err(e) => last = e,
            }
            r.port = free_port();
        }
        panic!("{last}");
    }

    /// Starts the server on `self.port`, trying again a few times if it
    /// exits before it answers (the port not yet released).
    fn spawn(&mut self) {
        let mut last = String::new();
        for _ in 0..ATTEMPTS {
            match self.try_spawn() {
                Ok(()) => return,
                Err(e) => last = e,
            }
            thread::sleep(Duration::from_millis(200));
        }
        panic!("{last}");
    }

    /// Starts the server and waits for its PONG; `Err` (with its log) if
    /// it exits first.
    fn try_spawn(&mut self) -> Result<(), String> {
        let server = need("redis-server", "redis-server");
        let mut cmd = Command::new(server);
        cmd.args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(&self.dir)
            .args(["--appendonly", "yes", "--save", "", "--daemonize", "no"])
            .args(["--protected-mode", "no", "--logfile", "redis.log"]);
        if let Some(pw) = &self.password {
            cmd.args(["--requirepass", pw]);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        self.child = Some(child);
        let start = Instant::now();
        while self.cli(&["PING"]).map(|o| o.trim().to_owned()).as_deref() != Some("PONG") {
            let child = self.child.as_mut().expect("spawned above");
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Err(format!(
                    "redis-server on port {} exited ({status}) before it answered PING: {}",
                    self.port,
                    std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default()
                ));
            }
            assert!(
                start.elapsed() < START,
                "redis-server on port {} did not answer PING",
                self.port
            );
            thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Its URL (no password).
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Runs `redis-cli` with `args`; its stdout, or `None` if it failed.
    pub fn cli(&self, args: &[&str]) -> Option<String> {
        let mut cmd = Command::new("redis-cli");
        cmd.args(["-p", &self.port.to_string(), "--no-auth-warning"]);
        if let Some(pw) = &self.password {
            cmd.args(["-a", pw]);
        }
        let out = cmd.args(args).stderr(Stdio::null()).output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Sends raw commands (RESP) through `redis-cli --pipe`.
    pub fn pipe(&self, commands: &[u8]) {
        use std::io::Write;
        let mut child = Command::new("redis-cli")
            .args(["-p", &self.port.to_string(), "--pipe"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn redis-cli --pipe");
        child
            .stdin
            .take()
            .expect("piped stdin")
            .write_all(commands)
            .expect("write to redis-cli --pipe");
        let out = child.wait_with_output().expect("redis-cli --pipe");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("errors: 0"),
            "redis-cli --pipe: {text}"
        );
    }

    /// Shuts it down cleanly (the append-only file flushed) and starts it
    /// again on the same port and directory.
    pub fn restart(&mut self) {
        let _ = self.cli(&["SHUTDOWN"]);
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        }
        self.spawn();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One RESP command.
pub fn resp(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// A PostgreSQL cluster with superuser `gale` (password
/// [`Postgres::PASSWORD`] over TCP), run as the `postgres` user when the
/// tests run as root (PostgreSQL refuses to run as root).
pub struct Postgres {
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
}

impl Postgres {
    /// The superuser's password.
    pub const PASSWORD: &'static str = "gale-test-pw";

    /// Initialises and starts one.
    pub fn start() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|d| {
                let mut v: Vec<PathBuf> = d.flatten().map(|e| e.path().join("bin")).collect();
                v.sort();
                v.pop()
            })
            .filter(|b| b.join("initdb").exists())
            .unwrap_or_else(|| {
                panic!("no /usr/lib/postgresql/*/bin/initdb: install Debian's `postgresql` (scripts/test does)")
            });
        let dir = temp_dir("postgres");
        let mut pg = Postgres {
            port: free_port(),
            dir,
            bin,
        };
        let pwfile = pg.dir.join("pw");
        std::fs::write(&pwfile, Postgres::PASSWORD).expect("write the password file");
        pg.own(&pg.dir);
        pg.own(&pwfile);
        let data = pg.dir.join("data");
        let out = pg
            .as_owner(&pg.bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "gale",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // A port taken between `free_port` and the server's bind makes
        // `pg_ctl start` fail; then it is tried again on another port.
        for attempt in 1..=ATTEMPTS {
            let _ = std::fs::remove_file(pg.dir.join("log"));
            let out = pg
                .as_owner(&pg.bin.join("pg_ctl"))
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(pg.dir.join("log"))
                .arg("-o")
                .arg(format!(
                    "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off \
                     -c synchronous_commit=off -c full_page_writes=off",
                    pg.port,
                    pg.dir.display()
                ))
                .args(["-w", "-t", "60", "start"])
                .stdout(Stdio::null())
                .output()
                .expect("run pg_ctl start");
            if out.status.success() {
                break;
            }
            let log = std::fs::read_to_string(pg.dir.join("log")).unwrap_or_default();
            assert!(
                attempt < ATTEMPTS && log.contains("could not bind"),
                "pg_ctl start: {}{log}",
                String::from_utf8_lossy(&out.stderr),
            );
            pg.port = free_port();
        }
        pg
    }

    /// Gives `path` to the `postgres` user when running as root.
    fn own(&self, path: &Path) {
        if is_root() {
            let st = Command::new("chown")
                .arg("postgres:postgres")
                .arg(path)
                .status()
                .expect("chown");
            assert!(st.success(), "chown postgres {}", path.display());
        }
    }

    fn as_owner(&self, program: &Path) -> Command {
        if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        }
    }

    /// Its URL, without the password.
    pub fn url(&self) -> String {
        format!("postgres://gale@127.0.0.1:{}/postgres", self.port)
    }

    /// Runs `sql` with psql; its unaligned, tuples-only output.
    pub fn sql(&self, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args([
                "-U",
                "gale",
                "-d",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-Atc",
                sql,
            ])
            .env("PGPASSWORD", Postgres::PASSWORD)
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql `{sql}`: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self
            .as_owner(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}
