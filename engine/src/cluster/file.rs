//! [`ClusterFile`]: the nodes of a cluster, its secret and its settings,
//! read from TOML and validated before anything starts.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::shape::{check_shape, ShapeError, MAX_FILE_BYTES};

pub use gale_transport::link::NodeId;

/// The engine's default ring size (`RunConfig::default().ring_bytes`).
const DEFAULT_RING_BYTES: usize = 1 << 20;

/// Fewest bytes a cluster secret may have (it is written as twice as many
/// hex digits).
pub const MIN_SECRET_LEN: usize = gale_transport::link::MIN_SECRET_LEN;

/// Longest message timeout a file may set, in milliseconds:
/// [`MAX_DURATION`](crate::MAX_DURATION).
pub const MAX_TIMEOUT_MS: u64 = crate::MAX_DURATION.as_secs() * 1000;

/// A cluster file: which nodes run a topology, how they authenticate each
/// other, and optional settings. Every node reads the same file.
///
/// ```
/// use gale_engine::cluster::ClusterFile;
///
/// let cluster = ClusterFile::parse(r#"
///     secret = "8f0a6c2e51d94b7a3c0e9f12d6a84b5e7c1f03a9e2b64d8c5a7f10e3b9c2d461"
///
///     [[node]]
///     id = 0
///     listen = "127.0.0.1:7700"
///     threads = 2
///
///     [[node]]
///     id = 1
///     listen = "127.0.0.2:7700"
///     threads = 2
/// "#)?;
/// assert_eq!(cluster.nodes().len(), 2);
///
/// // Mistakes name the node and the field:
/// let err = ClusterFile::parse(r#"
///     secret = "8f0a6c2e51d94b7a3c0e9f12d6a84b5e7c1f03a9e2b64d8c5a7f10e3b9c2d461"
///     [[node]]
///     id = 0
///     listen = "127.0.0.1:7700"
///     threads = 0
/// "#).unwrap_err();
/// assert!(err.to_string().contains("node 0"), "{err}");
/// # Ok::<(), gale_engine::cluster::ClusterError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterFile {
    nodes: Vec<NodeSpec>,
    secret: Vec<u8>,
    settings: ClusterSettings,
}

impl std::fmt::Debug for ClusterFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterFile")
            .field("nodes", &self.nodes)
            .field("secret", &"<redacted>")
            .field("settings", &self.settings)
            .finish()
    }
}

/// One node of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// The node's id (`gale node --node ID`).
    pub id: NodeId,
    /// The address it listens on for its peers (and that they dial):
    /// `IP:port` (a concrete IP, not `0.0.0.0`) or `hostname:port`, resolved
    /// when the node starts.
    pub listen: String,
    /// Worker threads of this node.
    pub threads: usize,
    /// Nodes with the same `host` run on one machine and exchange tuples
    /// through shared memory instead of TCP.
    #[serde(default)]
    pub host: Option<String>,
}

/// Which I/O backend carries the TCP links between nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkBackend {
    /// io_uring where the kernel allows it, else mio (epoll).
    #[default]
    Auto,
    /// io_uring only.
    IoUring,
    /// mio (epoll) only.
    Mio,
}

impl LinkBackend {
    /// The name used in the cluster file.
    pub fn name(self) -> &'static str {
        match self {
            LinkBackend::Auto => "auto",
            LinkBackend::IoUring => "io_uring",
            LinkBackend::Mio => "mio",
        }
    }
}

/// Optional settings of a cluster file (`[settings]`); each one left out
/// keeps the topology's or the engine's default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSettings {
    /// Acker tasks (overrides the topology's; 0 turns acking off).
    pub ackers: Option<usize>,
    /// Tuple trees not completed within this many milliseconds fail.
    pub message_timeout_ms: Option<u64>,
    /// At most this many trees in flight per spout task.
    pub max_spout_pending: Option<usize>,
    /// Records per published ring batch.
    pub batch: Option<usize>,
    /// Data bytes of each ring (a power of two).
    pub ring_bytes: Option<usize>,
    /// The link backend: `auto` (default), `io_uring` or `mio`.
    #[serde(default)]
    pub link_backend: LinkBackend,
    /// Largest frame a node accepts from a peer, in bytes: at least twice
    /// `ring_bytes` (the default).
    pub max_frame: Option<usize>,
    /// Port of the metrics endpoint (on each node's listen IP).
    pub metrics_port: Option<u16>,
    /// Directory of the shared-memory ring files of nodes on one host (an
    /// existing directory; default `/dev/shm`).
    pub shm_dir: Option<PathBuf>,
}

impl ClusterSettings {
    /// The message timeout, if set.
    pub fn message_timeout(&self) -> Option<Duration> {
        self.message_timeout_ms.map(Duration::from_millis)
    }
}

/// The file as written, before validation.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    secret: Option<String>,
    secret_file: Option<PathBuf>,
    #[serde(default)]
    settings: ClusterSettings,
    #[serde(default)]
    node: Vec<NodeSpec>,
}

/// Why a cluster file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The file (or the secret file) could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Not valid TOML, or a field of the wrong type or name.
    #[error("{where_}: {message}")]
    Syntax {
        /// The file, or `cluster file` for text.
        where_: String,
        /// The parser's message (with line and column).
        message: String,
    },
    /// No `[[node]]` entry.
    #[error("the cluster file names no node (add `[[node]]` entries)")]
    NoNodes,
    /// Two nodes with one id.
    #[error("node id {id} appears twice")]
    DuplicateId {
        /// The id.
        id: NodeId,
    },
    /// Two nodes with one listen address.
    #[error("node {first} and node {second} both listen on {addr}")]
    DuplicateListen {
        /// The address.
        addr: String,
        /// One node.
        first: NodeId,
        /// The other.
        second: NodeId,
    },
    /// A listen address peers cannot dial.
    #[error(
        "node {node}: `listen` = {addr:?} must be IP:port or hostname:port, with a concrete IP \
         (not 0.0.0.0) and a non-zero port"
    )]
    BadListen {
        /// The node.
        node: NodeId,
        /// The address.
        addr: String,
    },
    /// A hostname in `listen` did not resolve.
    #[error("node {node}: cannot resolve `listen` = {addr:?}: {reason}")]
    Resolve {
        /// The node.
        node: NodeId,
        /// The address.
        addr: String,
        /// The resolver's answer.
        reason: String,
    },
    /// A node with no worker thread.
    #[error("node {node}: `threads` must be at least 1")]
    ZeroThreads {
        /// The node.
        node: NodeId,
    },
    /// Neither `secret` nor `secret_file`, or both.
    #[error("set exactly one of `secret` and `secret_file`")]
    Secret,
    /// A secret that is not at least [`MIN_SECRET_LEN`] random bytes
    /// written in hex.
    #[error(
        "the cluster secret {problem}; it must be at least {MIN_SECRET_LEN} random bytes \
         written as {} or more hex digits (make one with `gale secret`)",
        2 * MIN_SECRET_LEN
    )]
    BadSecret {
        /// What is wrong with it.
        problem: String,
    },
    /// A secret file that others than its owner may read or write.
    #[error(
        "the secret file {} may be read or written by group or others (mode {mode:03o}); \
         make it private: chmod 600 {}",
        path.display(),
        path.display()
    )]
    SecretFileMode {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A file larger than [`MAX_FILE_BYTES`].
    #[error("{} has {len} bytes; files over {MAX_FILE_BYTES} bytes are refused", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        len: u64,
    },
    /// A setting out of range.
    #[error("settings: `{field}` {problem}")]
    Setting {
        /// The setting.
        field: &'static str,
        /// What is wrong.
        problem: &'static str,
    },
    /// `--node` names a node the file does not have.
    #[error("node {id} is not in the cluster file (its nodes are {known:?})")]
    UnknownNode {
        /// The id asked for.
        id: NodeId,
        /// The ids in the file.
        known: Vec<NodeId>,
    },
}

impl ClusterFile {
    /// Reads and validates the cluster file at `path`; a relative
    /// `secret_file` is read relative to the file's directory.
    pub fn load(path: &Path) -> Result<Self, ClusterError> {
        let text = String::from_utf8(read_bounded(path)?).map_err(|e| ClusterError::Read {
            path: path.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        Self::parse_in(&text, &path.display().to_string(), dir)
    }

    /// Parses and validates cluster-file text (a relative `secret_file` is
    /// read relative to the current directory).
    pub fn parse(text: &str) -> Result<Self, ClusterError> {
        Self::parse_in(text, "cluster file", Path::new("."))
    }

    fn parse_in(text: &str, where_: &str, dir: &Path) -> Result<Self, ClusterError> {
        check_shape(text).map_err(|e| match e {
            ShapeError::TooLarge { len } => ClusterError::TooLarge {
                path: PathBuf::from(where_),
                len,
            },
            e => ClusterError::Syntax {
                where_: where_.to_owned(),
                message: e.to_string(),
            },
        })?;
        let raw: RawFile = toml::from_str(text).map_err(|e| ClusterError::Syntax {
            where_: where_.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        let secret = match (raw.secret, raw.secret_file) {
            (Some(s), None) => parse_secret(s.as_bytes())?,
            (None, Some(file)) => parse_secret(read_private_file(&dir.join(file))?.as_bytes())?,
            _ => return Err(ClusterError::Secret),
        };
        let mut nodes = raw.node;
        nodes.sort_by_key(|n| n.id);
        validate_nodes(&nodes)?;
        validate_settings(&raw.settings)?;
        Ok(Self {
            nodes,
            secret,
            settings: raw.settings,
        })
    }

    /// The nodes, by ascending id.
    pub fn nodes(&self) -> &[NodeSpec] {
        &self.nodes
    }

    /// The node with `id`, or an error listing the ids there are.
    pub fn node(&self, id: NodeId) -> Result<&NodeSpec, ClusterError> {
        self.nodes
            .iter()
            .find(|n| n.id == id)
            .ok_or_else(|| ClusterError::UnknownNode {
                id,
                known: self.nodes.iter().map(|n| n.id).collect(),
            })
    }

    /// The shared secret nodes authenticate each other with.
    pub fn secret(&self) -> &[u8] {
        &self.secret
    }

    /// The optional settings.
    pub fn settings(&self) -> &ClusterSettings {
        &self.settings
    }

    /// The socket address of node `id`'s `listen` (resolving a hostname).
    pub fn addr(&self, id: NodeId) -> Result<SocketAddr, ClusterError> {
        let n = self.node(id)?;
        if let Ok(addr) = n.listen.parse() {
            return Ok(addr);
        }
        let resolve = |reason: String| ClusterError::Resolve {
            node: id,
            addr: n.listen.clone(),
            reason,
        };
        std::net::ToSocketAddrs::to_socket_addrs(n.listen.as_str())
            .map_err(|e| resolve(e.to_string()))?
            .next()
            .ok_or_else(|| resolve("no address".to_owned()))
    }

    /// Whether nodes `a` and `b` run on one host (both name the same
    /// `host`).
    pub fn same_host(&self, a: NodeId, b: NodeId) -> bool {
        let host = |id| self.node(id).ok().and_then(|n| n.host.as_deref());
        host(a).is_some_and(|h| host(b) == Some(h))
    }

    /// A canonical text of the nodes and settings (not the secret), the
    /// part of the file that the fingerprint covers.
    pub(crate) fn canonical(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        for n in &self.nodes {
            let host = n.host.as_deref().unwrap_or("");
            let _ = writeln!(
                s,
                "node {} listen {} threads {} host {host:?}",
                n.id, n.listen, n.threads
            );
        }
        let t = &self.settings;
        let _ = writeln!(
            s,
            "settings ackers {:?} timeout_ms {:?} pending {:?} batch {:?} ring {:?} backend {} \
             max_frame {:?} metrics {:?} shm_dir {:?}",
            t.ackers,
            t.message_timeout_ms,
            t.max_spout_pending,
            t.batch,
            t.ring_bytes,
            t.link_backend.name(),
            t.max_frame,
            t.metrics_port,
            t.shm_dir
        );
        s
    }
}

/// Reads a file of at most [`MAX_FILE_BYTES`].
pub(crate) fn read_bounded(path: &Path) -> Result<Vec<u8>, ClusterError> {
    use std::io::Read;
    let read_err = |source| ClusterError::Read {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        let len = std::fs::metadata(path).map_or(bytes.len() as u64, |m| m.len());
        return Err(ClusterError::TooLarge {
            path: path.to_owned(),
            len,
        });
    }
    Ok(bytes)
}

/// Refuses a secret file that group or others may access.
fn check_private(path: &Path) -> Result<(), ClusterError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|source| ClusterError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(ClusterError::SecretFileMode {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

/// Reads a file that holds a secret (a cluster secret, a bearer token):
/// refused if group or others may access it, bounded in size; surrounding
/// whitespace is trimmed.
pub fn read_private_file(path: &Path) -> Result<String, ClusterError> {
    check_private(path)?;
    let bytes = read_bounded(path)?;
    let text = String::from_utf8(bytes).map_err(|e| ClusterError::Read {
        path: path.to_owned(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
    })?;
    Ok(text.trim().to_owned())
}

/// Decodes a secret: hex digits (surrounding whitespace, such as the
/// newline of `gale secret > file`, ignored) of at least
/// [`MIN_SECRET_LEN`] bytes that look random.
pub(crate) fn parse_secret(text: &[u8]) -> Result<Vec<u8>, ClusterError> {
    let bad = |problem: &str| ClusterError::BadSecret {
        problem: problem.to_owned(),
    };
    let text = text.trim_ascii();
    if !text.iter().all(u8::is_ascii_hexdigit) {
        return Err(bad("is not hex digits"));
    }
    if text.len() % 2 != 0 {
        return Err(bad("has an odd number of hex digits"));
    }
    if text.len() < 2 * MIN_SECRET_LEN {
        return Err(ClusterError::BadSecret {
            problem: format!("has {} bytes", text.len() / 2),
        });
    }
    let digit = |c: u8| (c as char).to_digit(16).expect("checked above") as u8;
    let bytes: Vec<u8> = text
        .chunks(2)
        .map(|p| digit(p[0]) << 4 | digit(p[1]))
        .collect();
    // 32 random bytes have about 30 distinct values; fewer than 16 is a
    // pattern, not a secret.
    let mut seen = [false; 256];
    bytes.iter().for_each(|&b| seen[b as usize] = true);
    if seen.iter().filter(|&&s| s).count() < 16 {
        return Err(bad("is a pattern, not random bytes"));
    }
    Ok(bytes)
}

/// A new random secret, as `gale secret` prints it: [`MIN_SECRET_LEN`]
/// bytes from the OS's generator, in hex.
pub fn generate_secret() -> std::io::Result<String> {
    let mut bytes = [0u8; MIN_SECRET_LEN];
    getrandom::fill(&mut bytes).map_err(std::io::Error::other)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn validate_nodes(nodes: &[NodeSpec]) -> Result<(), ClusterError> {
    if nodes.is_empty() {
        return Err(ClusterError::NoNodes);
    }
    let mut listen: BTreeMap<&str, NodeId> = BTreeMap::new();
    for (i, n) in nodes.iter().enumerate() {
        if i > 0 && nodes[i - 1].id == n.id {
            return Err(ClusterError::DuplicateId { id: n.id });
        }
        if n.threads == 0 {
            return Err(ClusterError::ZeroThreads { node: n.id });
        }
        if !listen_ok(&n.listen) {
            return Err(ClusterError::BadListen {
                node: n.id,
                addr: n.listen.clone(),
            });
        }
        if let Some(first) = listen.insert(&n.listen, n.id) {
            return Err(ClusterError::DuplicateListen {
                addr: n.listen.clone(),
                first,
                second: n.id,
            });
        }
    }
    Ok(())
}

/// `IP:port` with a concrete IP, or `hostname:port`; the port not 0.
fn listen_ok(listen: &str) -> bool {
    if let Ok(addr) = listen.parse::<SocketAddr>() {
        return !addr.ip().is_unspecified() && addr.port() != 0;
    }
    let Some((host, port)) = listen.rsplit_once(':') else {
        return false;
    };
    let host_ok = !host.is_empty()
        && host.parse::<std::net::IpAddr>().is_err()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    host_ok && port.parse::<u16>().is_ok_and(|p| p != 0)
}

fn validate_settings(s: &ClusterSettings) -> Result<(), ClusterError> {
    let bad = |field, problem| Err(ClusterError::Setting { field, problem });
    if s.message_timeout_ms
        .is_some_and(|t| t == 0 || t > MAX_TIMEOUT_MS)
    {
        return bad(
            "message_timeout_ms",
            "must be more than 0 and at most 31536000000 (one year)",
        );
    }
    if s.max_spout_pending.is_some_and(|p| p == 0 || p > 1 << 24) {
        return bad("max_spout_pending", "must be in 1..=16777216");
    }
    if s.batch.is_some_and(|b| b == 0 || b > 1 << 16) {
        return bad("batch", "must be in 1..=65536");
    }
    if s.ackers.is_some_and(|a| a > 1024) {
        return bad("ackers", "must be at most 1024");
    }
    if s.ring_bytes
        .is_some_and(|r| !r.is_power_of_two() || !(4096..=1 << 30).contains(&r))
    {
        return bad(
            "ring_bytes",
            "must be a power of two of at least 4096 and at most 1 GiB",
        );
    }
    if s.max_frame.is_some_and(|f| f > gale_codec::MAX_FRAME_BODY) {
        return bad("max_frame", "must be at most 64 MiB");
    }
    // A frame holds at least two of the largest records (half a ring).
    let ring = s.ring_bytes.unwrap_or(DEFAULT_RING_BYTES);
    if s.max_frame.is_some_and(|f| f < 2 * ring) {
        return bad(
            "max_frame",
            "must be at least twice `ring_bytes` (default 1 MiB)",
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "8f0a6c2e51d94b7a3c0e9f12d6a84b5e7c1f03a9e2b64d8c5a7f10e3b9c2d461";
    const SECRET: &str =
        "secret = \"8f0a6c2e51d94b7a3c0e9f12d6a84b5e7c1f03a9e2b64d8c5a7f10e3b9c2d461\"\n";

    fn node(id: u32, addr: &str, threads: usize) -> String {
        format!("[[node]]\nid = {id}\nlisten = \"{addr}\"\nthreads = {threads}\n")
    }

    fn parse(body: &str) -> Result<ClusterFile, ClusterError> {
        ClusterFile::parse(&format!("{SECRET}{body}"))
    }

    #[test]
    fn nodes_are_sorted_and_hosts_compared() {
        let text = format!(
            "{}host = \"a\"\n{}host = \"a\"\n{}",
            node(2, "127.0.0.3:7000", 1),
            node(0, "127.0.0.1:7000", 2),
            node(1, "127.0.0.2:7000", 1)
        );
        let c = parse(&text).unwrap();
        let ids: Vec<_> = c.nodes().iter().map(|n| n.id).collect();
        assert_eq!(ids, [0, 1, 2]);
        assert!(c.same_host(0, 2) && !c.same_host(0, 1) && !c.same_host(1, 1));
        assert_eq!(
            c.addr(1).unwrap(),
            "127.0.0.2:7000".parse::<SocketAddr>().unwrap()
        );
        let named = parse(&node(3, "localhost:7700", 1)).unwrap();
        assert_eq!(named.addr(3).unwrap().port(), 7700);
        assert!(matches!(
            c.node(7),
            Err(ClusterError::UnknownNode { id: 7, .. })
        ));
    }

    #[test]
    fn mistakes_name_node_and_field() {
        let cases = [
            (String::new(), "no node"),
            (
                format!("{}{}", node(1, "127.0.0.1:1", 1), node(1, "127.0.0.2:1", 1)),
                "node id 1 appears twice",
            ),
            (
                format!("{}{}", node(1, "127.0.0.1:1", 1), node(2, "127.0.0.1:1", 1)),
                "node 1 and node 2 both listen on 127.0.0.1:1",
            ),
            (node(4, "0.0.0.0:80", 1), "node 4: `listen`"),
            (node(4, "127.0.0.1:0", 1), "node 4: `listen`"),
            (node(4, "gale-0.gale", 1), "node 4: `listen`"),
            (node(4, "gale 0:7700", 1), "node 4: `listen`"),
            (node(5, "127.0.0.1:9", 0), "node 5: `threads`"),
            (
                format!("{}thread = 3\n", node(5, "127.0.0.1:9", 1)),
                "unknown field `thread`",
            ),
            (
                format!("[settings]\nbatch = 0\n{}", node(0, "127.0.0.1:9", 1)),
                "`batch`",
            ),
            (
                format!(
                    "[settings]\nlink_backend = \"uring\"\n{}",
                    node(0, "127.0.0.1:9", 1)
                ),
                "uring",
            ),
            (
                format!(
                    "[settings]\nring_bytes = 5000\n{}",
                    node(0, "127.0.0.1:9", 1)
                ),
                "`ring_bytes`",
            ),
        ];
        for (text, want) in cases {
            let err = parse(&text).unwrap_err().to_string();
            assert!(err.contains(want), "{text}\n=> {err}\n(want {want})");
        }
    }

    #[test]
    fn secret_rules() {
        let n = node(0, "127.0.0.1:9", 1);
        let err = ClusterFile::parse(&n).unwrap_err();
        assert!(matches!(err, ClusterError::Secret), "{err}");
        for (secret, problem) in [
            ("0123456789abcdef", "has 8 bytes"),
            ("correct horse battery staple, a passphrase", "not hex"),
            (&"ab".repeat(40), "pattern"),
            (&HEX[1..], "odd number"),
        ] {
            let err = ClusterFile::parse(&format!("secret = \"{secret}\"\n{n}")).unwrap_err();
            assert!(err.to_string().contains(problem), "{secret}: {err}");
            assert!(err.to_string().contains("gale secret"), "{err}");
        }
        let dir = std::env::temp_dir().join(format!("gale-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let secret = dir.join("s");
        std::fs::write(&secret, format!("{HEX}\n")).unwrap();
        let path = dir.join("cluster.toml");
        std::fs::write(&path, format!("secret_file = \"s\"\n{n}")).unwrap();
        // Readable by others: refused.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = ClusterFile::load(&path).unwrap_err();
        assert!(
            matches!(err, ClusterError::SecretFileMode { mode: 0o644, .. }),
            "{err}"
        );
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
        let c = ClusterFile::load(&path).unwrap();
        assert_eq!(c.secret().len(), 32);
        assert_eq!(c.secret()[..2], [0x8f, 0x0a]);
        // The secret never shows in Debug.
        let debug = format!("{c:?}");
        assert!(
            !debug.contains("143, 10") && !debug.contains("8f0a"),
            "{debug}"
        );
        std::fs::write(&path, format!("secret_file = \"missing\"\n{n}")).unwrap();
        let err = ClusterFile::load(&path).unwrap_err().to_string();
        assert!(err.contains("missing"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(
            std::env::var("GALE_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256)
        ))]

        /// Arbitrary text, and a real cluster file with bytes flipped, is
        /// parsed or refused with an error, never a panic.
        /// (`GALE_FUZZ_CASES=100000` for a long run.)
        #[test]
        fn arbitrary_cluster_files_never_panic(
            noise in ".{0,300}",
            flips in proptest::collection::vec((0usize..400, 0u8..7), 0..6),
        ) {
            let _ = ClusterFile::parse(&noise);
            let mut text = format!(
                "{SECRET}[settings]\nackers = 2\nring_bytes = 65536\n{}{}",
                node(0, "127.0.0.1:7000", 2),
                node(1, "127.0.0.2:7000", 1)
            )
            .into_bytes();
            for (at, bit) in flips {
                if let Some(b) = text.get_mut(at) {
                    *b ^= 1 << bit;
                }
            }
            let _ = ClusterFile::parse(&String::from_utf8_lossy(&text));
        }
    }

    #[test]
    fn generated_secrets_are_accepted_and_differ() {
        let (a, b) = (generate_secret().unwrap(), generate_secret().unwrap());
        assert_ne!(a, b);
        assert_eq!(parse_secret(a.as_bytes()).unwrap().len(), MIN_SECRET_LEN);
    }

    #[test]
    fn huge_numbers_in_settings_are_refused() {
        let n = node(0, "127.0.0.1:9", 1);
        for (setting, field) in [
            (
                "message_timeout_ms = 18446744073709551615",
                "message_timeout_ms",
            ),
            ("ring_bytes = 9223372036854775808", "ring_bytes"),
            (
                "max_spout_pending = 18446744073709551615",
                "max_spout_pending",
            ),
            ("max_frame = 18446744073709551615", "max_frame"),
            ("batch = 18446744073709551615", "batch"),
        ] {
            let err = parse(&format!("[settings]\n{setting}\n{n}")).unwrap_err();
            assert!(err.to_string().contains(field), "{setting}: {err}");
        }
    }
}
