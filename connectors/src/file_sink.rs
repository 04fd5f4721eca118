//! The file sink (storm-hdfs's `HdfsBolt`, for a local directory): writes
//! each input as one line to rotating files, acking the inputs of a
//! batch once the batch is written (and, by default, on disk).
//!
//! - **Files**: `{prefix}-{task index}-{sequence}{suffix}` in `dir`
//!   (`prefix` defaults to the component id, `suffix` to `.log`,
//!   sequences of six digits continue after the highest already there).
//!   The file being written is named with `.part` after the suffix and
//!   renamed to its final name when it is rotated or the bolt closes, so a
//!   reader of finished files (`*.log`) never sees a half-written one.
//! - **Rotation**: before a batch that would take the file past
//!   `rotate_bytes` (default 128 MiB), and once `rotate_secs` have passed
//!   since the file was opened (0, the default: never by time; checked
//!   even when no input arrives).
//! - **fsync policy** (`fsync`): `batch` (default) — the file's data is
//!   flushed to disk (`fdatasync`) before a batch is acked: an acked line
//!   survives a crash of the machine; `rotate` — only when a file is
//!   finished (acked lines of the open file survive a crash of the
//!   process, not of the machine); `never` — left to the kernel. A
//!   rotation renames the finished file and syncs the directory unless
//!   `never`.
//! - **A line**: the input's `fields` (default all) as text, joined by
//!   `separator` (default a tab); a value's own newlines are written as
//!   `\n` and carriage returns as `\r` (backslashes as `\\`), so one input
//!   is always one line.
//! - **Restart**: a `.part` file left by a killed process is cut after its
//!   last whole line and renamed to its final name. Delivery is
//!   at-least-once: a batch written but not acked before a crash is
//!   written again when the spout replays it.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gale_codec::ArchivedValue;
use gale_engine::{Anchor, Bolt, BoltOutput, Input, OutputFieldsDeclarer, TopologyContext};
use serde::Deserialize;

use crate::sink::{BatchWriter, Batching};
use crate::{ConnectorError, ConnectorMetrics};

/// This connector's name in messages and metrics.
pub const FILE_SINK: &str = "file-sink";

/// When the file sink makes written lines durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FsyncPolicy {
    /// `fdatasync` before each batch is acked (default).
    #[default]
    Batch,
    /// `fdatasync` when a file is finished.
    Rotate,
    /// Never (the kernel writes back in its own time).
    Never,
}

/// What the file sink writes (the `args` of `builtin: file-sink`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSinkConfig {
    /// The directory written to (created if missing).
    pub dir: String,
    /// The files' name before `-{task}-{sequence}` (default the component
    /// id).
    #[serde(default)]
    pub prefix: Option<String>,
    /// The files' name after the sequence. Default `.log`.
    #[serde(default = "dot_log")]
    pub suffix: String,
    /// The input fields written, in order (default all).
    #[serde(default)]
    pub fields: Option<Vec<String>>,
    /// Between the fields of a line. Default a tab.
    #[serde(default = "tab")]
    pub separator: String,
    /// Rotate before a file passes this many bytes. Default 128 MiB.
    #[serde(default = "mib128")]
    pub rotate_bytes: u64,
    /// Rotate a file this long after it was opened (0: never). Default 0.
    #[serde(default)]
    pub rotate_secs: u64,
    /// `batch` (default), `rotate` or `never` (see [`FsyncPolicy`]).
    #[serde(default)]
    pub fsync: FsyncPolicy,
    /// Inputs per write. Default 1000.
    #[serde(default = "thousand")]
    pub batch: usize,
    /// The longest an input waits before its batch is written. Default 20.
    #[serde(default = "twenty")]
    pub linger_ms: u64,
}

fn dot_log() -> String {
    ".log".to_owned()
}
fn tab() -> String {
    "\t".to_owned()
}
fn mib128() -> u64 {
    128 << 20
}
fn thousand() -> usize {
    1000
}
fn twenty() -> u64 {
    20
}

impl FileSinkConfig {
    /// A config writing to `dir`, with the defaults for the rest.
    pub fn new(dir: impl Into<String>) -> Self {
        Self {
            dir: dir.into(),
            prefix: None,
            suffix: dot_log(),
            fields: None,
            separator: tab(),
            rotate_bytes: mib128(),
            rotate_secs: 0,
            fsync: FsyncPolicy::Batch,
            batch: thousand(),
            linger_ms: twenty(),
        }
    }

    /// Checks the values that need no file system.
    pub fn check(&self, component: &str) -> Result<(), ConnectorError> {
        let err = |key: &str, message: &str| {
            Err(ConnectorError::Config {
                connector: FILE_SINK,
                component: component.to_owned(),
                key: key.to_owned(),
                message: message.to_owned(),
            })
        };
        if self.dir.is_empty() {
            return err("dir", "must not be empty");
        }
        let name_ok = |s: &str| !s.contains('/') && !s.contains('\0');
        if !self
            .prefix
            .as_deref()
            .is_none_or(|p| !p.is_empty() && name_ok(p))
        {
            return err("prefix", "must be a non-empty file name part (no `/`)");
        }
        if !name_ok(&self.suffix) {
            return err("suffix", "must be a file name part (no `/`)");
        }
        if self.fields.as_ref().is_some_and(Vec::is_empty) {
            return err(
                "fields",
                "name at least one field (or leave it out for all)",
            );
        }
        if self.batch == 0 {
            return err("batch", "must be at least 1");
        }
        if self.rotate_bytes == 0 {
            return err("rotate_bytes", "must be at least 1");
        }
        Ok(())
    }
}

/// The open file and the lines staged for it.
struct Writer {
    cfg: FileSinkConfig,
    component: String,
    /// `{prefix}-{task}-`.
    stem: String,
    file: Option<File>,
    /// The open file's final path (it is written as `{path}.part`).
    path: PathBuf,
    seq: u64,
    size: u64,
    opened: Instant,
    staged: Vec<u8>,
}

/// The file sink (see the [module docs](self)).
pub struct FileSink {
    w: Writer,
    b: Batching,
}

impl FileSink {
    /// A sink writing as `cfg` says.
    pub fn new(cfg: FileSinkConfig) -> Self {
        let (batch, linger) = (cfg.batch, cfg.linger_ms);
        Self {
            w: Writer {
                cfg,
                component: String::new(),
                stem: String::new(),
                file: None,
                path: PathBuf::new(),
                seq: 0,
                size: 0,
                opened: Instant::now(),
                staged: Vec::new(),
            },
            b: Batching::new(FILE_SINK, batch, linger),
        }
    }
}

/// `v` as text into `line`, newlines and backslashes escaped.
fn put_value(v: &ArchivedValue, line: &mut Vec<u8>) {
    let owned;
    let bytes: &[u8] = match (v.as_str(), v.as_bytes()) {
        (Some(s), _) => s.as_bytes(),
        (None, Some(b)) => b,
        _ => {
            owned = crate::redis_stream::value_bytes(&v.to_value());
            &owned
        }
    };
    for &c in bytes {
        match c {
            b'\n' => line.extend_from_slice(b"\\n"),
            b'\r' => line.extend_from_slice(b"\\r"),
            b'\\' => line.extend_from_slice(b"\\\\"),
            c => line.push(c),
        }
    }
}

impl Writer {
    fn io_error(&self, what: &str, path: &Path, e: &std::io::Error) -> ConnectorError {
        ConnectorError::Command {
            connector: FILE_SINK,
            component: self.component.clone(),
            target: path.display().to_string(),
            what: what.to_owned(),
            message: e.to_string(),
        }
    }

    fn part(path: &Path) -> PathBuf {
        let mut p = path.as_os_str().to_owned();
        p.push(".part");
        PathBuf::from(p)
    }

    /// Finds the next sequence number and finishes `.part` files a killed
    /// process left.
    fn recover(&mut self) -> Result<(), ConnectorError> {
        let dir = PathBuf::from(&self.cfg.dir);
        std::fs::create_dir_all(&dir).map_err(|e| self.io_error("create", &dir, &e))?;
        let entries = std::fs::read_dir(&dir).map_err(|e| self.io_error("list", &dir, &e))?;
        let mut next = 0;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some(rest) = name.strip_prefix(&self.stem) else {
                continue;
            };
            let (rest, part) = match rest.strip_suffix(".part") {
                Some(r) => (r, true),
                None => (rest, false),
            };
            let Some(seq) = rest
                .strip_suffix(&self.cfg.suffix)
                .and_then(|s| s.parse::<u64>().ok())
            else {
                continue;
            };
            next = next.max(seq + 1);
            if part {
                let path = dir.join(name.strip_suffix(".part").unwrap_or(name));
                self.finish_part(&path)?;
                tracing::warn!(
                    "{FILE_SINK} `{}`: finished {} left by an earlier run",
                    self.component,
                    path.display()
                );
            }
        }
        self.seq = next;
        Ok(())
    }

    /// Cuts `{path}.part` after its last whole line and renames it to
    /// `path`.
    fn finish_part(&self, path: &Path) -> Result<(), ConnectorError> {
        let part = Self::part(path);
        let data = std::fs::read(&part).map_err(|e| self.io_error("read", &part, &e))?;
        let keep = data.iter().rposition(|&c| c == b'\n').map_or(0, |i| i + 1);
        if keep < data.len() {
            let f = OpenOptions::new()
                .write(true)
                .open(&part)
                .map_err(|e| self.io_error("open", &part, &e))?;
            f.set_len(keep as u64)
                .and_then(|()| f.sync_all())
                .map_err(|e| self.io_error("truncate", &part, &e))?;
        }
        std::fs::rename(&part, path).map_err(|e| self.io_error("rename", &part, &e))
    }

    fn open_next(&mut self) -> Result<(), ConnectorError> {
        let name = format!("{}{:06}{}", self.stem, self.seq, self.cfg.suffix);
        self.seq += 1;
        self.path = Path::new(&self.cfg.dir).join(name);
        let part = Self::part(&self.path);
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&part)
            .map_err(|e| self.io_error("create", &part, &e))?;
        self.size = f.metadata().map(|m| m.len()).unwrap_or(0);
        self.file = Some(f);
        self.opened = Instant::now();
        Ok(())
    }

    /// Finishes the open file: synced (unless `never`), renamed, the
    /// directory synced.
    fn rotate(&mut self) -> Result<(), ConnectorError> {
        let Some(f) = self.file.take() else {
            return Ok(());
        };
        self.size = 0;
        let part = Self::part(&self.path);
        if self.cfg.fsync != FsyncPolicy::Never {
            f.sync_data()
                .map_err(|e| self.io_error("fsync", &part, &e))?;
        }
        drop(f);
        std::fs::rename(&part, &self.path).map_err(|e| self.io_error("rename", &part, &e))?;
        if self.cfg.fsync != FsyncPolicy::Never {
            let dir = Path::new(&self.cfg.dir);
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| self.io_error("fsync", dir, &e))?;
        }
        Ok(())
    }

    /// Writes whole `lines`, rotating before a line that would take the
    /// file past `rotate_bytes` (a longer line gets a file of its own).
    fn write_lines(&mut self, lines: &[u8]) -> Result<(), ConnectorError> {
        if self.file.is_some() && self.rotation_due() {
            self.rotate()?;
        }
        let mut rest = lines;
        while !rest.is_empty() {
            let room = self.cfg.rotate_bytes.saturating_sub(self.size);
            // The whole lines that fit; at least one in an empty file.
            let mut take = rest.len();
            if take as u64 > room {
                let fit = &rest[..usize::try_from(room).unwrap_or(usize::MAX).min(rest.len())];
                take = match fit.iter().rposition(|&c| c == b'\n') {
                    Some(i) => i + 1,
                    None if self.size == 0 || self.file.is_none() => rest
                        .iter()
                        .position(|&c| c == b'\n')
                        .map_or(rest.len(), |i| i + 1),
                    None => 0,
                };
            }
            if take == 0 {
                self.rotate()?;
                continue;
            }
            if self.file.is_none() {
                self.open_next()?;
            }
            let part = Self::part(&self.path);
            let Some(f) = self.file.as_mut() else {
                return Ok(());
            };
            if let Err(e) = f.write_all(&rest[..take]) {
                // The file may hold part of the batch: finish it after its
                // last whole line; the replay goes to the next.
                self.file = None;
                let _ = self.finish_part(&self.path.clone());
                return Err(self.io_error("write", &part, &e));
            }
            self.size += take as u64;
            rest = &rest[take..];
            if !rest.is_empty() {
                self.rotate()?;
            }
        }
        if self.cfg.fsync == FsyncPolicy::Batch {
            if let Some(f) = &self.file {
                let part = Self::part(&self.path);
                f.sync_data()
                    .map_err(|e| self.io_error("fsync", &part, &e))?;
            }
        }
        Ok(())
    }

    fn rotation_due(&self) -> bool {
        self.cfg.rotate_secs > 0
            && self.opened.elapsed() >= Duration::from_secs(self.cfg.rotate_secs)
    }
}

impl BatchWriter for Writer {
    fn stage(&mut self, input: &Input<'_>) -> Result<(), ConnectorError> {
        let line = &mut self.staged;
        let start = line.len();
        let sep = self.cfg.separator.as_bytes();
        match &self.cfg.fields {
            None => {
                for (i, v) in input.values().iter().enumerate() {
                    if i > 0 {
                        line.extend_from_slice(sep);
                    }
                    put_value(v, line);
                }
            }
            Some(fields) => {
                for (i, f) in fields.iter().enumerate() {
                    let v = match input.field(f) {
                        Ok(v) => v,
                        Err(e) => {
                            line.truncate(start);
                            return Err(ConnectorError::Value {
                                connector: FILE_SINK,
                                component: self.component.clone(),
                                field: f.clone(),
                                target_key: self.cfg.dir.clone(),
                                message: e.to_string(),
                            });
                        }
                    };
                    if i > 0 {
                        line.extend_from_slice(sep);
                    }
                    put_value(v, line);
                }
            }
        }
        line.push(b'\n');
        Ok(())
    }

    fn write(
        &mut self,
        _held: &[Anchor],
        _out: &mut BoltOutput<'_>,
    ) -> Result<(), Option<ConnectorError>> {
        let staged = std::mem::take(&mut self.staged);
        let written = self.write_lines(&staged);
        self.staged = staged;
        self.staged.clear();
        written.map_err(Some)
    }

    fn discard(&mut self) {
        self.staged.clear();
    }

    fn idle_work(&mut self, out: &mut BoltOutput<'_>) -> bool {
        if self.file.is_none() || !self.rotation_due() || self.size == 0 {
            return false;
        }
        if let Err(e) = self.rotate() {
            out.report_error(&e);
        }
        true
    }
}

impl Bolt for FileSink {
    fn declare_output_fields(&self, _declarer: &mut OutputFieldsDeclarer) {}

    fn prepare(&mut self, context: &TopologyContext) {
        let w = &mut self.w;
        w.component = context.component_id().to_owned();
        let prefix = w.cfg.prefix.clone().unwrap_or_else(|| w.component.clone());
        w.stem = format!("{prefix}-{}-", context.task_index());
        self.b.metrics = ConnectorMetrics::registered(FILE_SINK, context);
        if let Err(e) = w.cfg.check(&w.component).and_then(|()| w.recover()) {
            tracing::error!("{e}");
            self.b.metrics.error();
            self.b.fatal.set(e);
        }
    }

    crate::sink::batching_bolt_methods!(w);

    fn cleanup(&mut self) {
        if let Err(e) = self.w.rotate() {
            tracing::error!("{e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_config_names_the_key() {
        let mut cfg = FileSinkConfig::new("");
        let e = cfg.check("out").unwrap_err().to_string();
        assert!(e.contains("`out`") && e.contains("`dir`"), "{e}");
        cfg.dir = "d".into();
        cfg.prefix = Some("a/b".into());
        assert!(cfg
            .check("out")
            .unwrap_err()
            .to_string()
            .contains("`prefix`"));
    }
}
