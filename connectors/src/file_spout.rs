//! The file spout: emits the lines of the files in a directory as they
//! appear and grow (a `tail -F` of a directory), at least once, with the
//! offset of each file kept durably so a restart continues where the
//! acknowledged lines end.
//!
//! - **Which files**: those in `dir` whose name matches `pattern` (`*`
//!   matches any run of characters; names starting with `.` never match),
//!   in name order; the directory is listed again every `poll_ms` while
//!   nothing new is read. A file is known by its name: a file renamed
//!   into the directory is a new file; one truncated below its offset is
//!   read again from its start (reported).
//! - **A line** ends with `\n` (a `\r` before it is dropped); the bytes
//!   after the last `\n` of a file wait until the line is complete. A line
//!   longer than `max_line_bytes` is emitted in pieces of that size
//!   (reported with the file and offset). The line is text when it is
//!   UTF-8, else bytes.
//! - **Acking and offsets**: each line's message id stands for its file
//!   and byte range; a file's *done offset* is the start of its oldest
//!   line not yet acked (or the end of what was read). The done offsets
//!   are written to the `offsets` file (default `{dir}/.gale-offsets-
//!   {component}`) every `commit_ms` and at close, atomically (a
//!   temporary file synced, renamed, the directory synced). A failed or
//!   timed-out line is emitted again from memory.
//! - **Restart**: every file continues at its done offset, so the lines
//!   after it are emitted again: nothing acked is lost, and lines acked
//!   after the last offsets were written (or past an older line still in
//!   flight) are delivered twice. `rewind: true` ignores the saved offsets
//!   and reads every file from its start.
//! - `max_spout_pending` bounds the lines in flight (a call emits at most
//!   that many, and `batch`).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gale_codec::Value;
use gale_engine::{OutputFieldsDeclarer, Spout, SpoutOutput, TopologyContext};
use serde::Deserialize;

use crate::in_flight::InFlightTable;
use crate::{ConnectorError, ConnectorMetrics};

/// This connector's name in messages and metrics.
pub const FILE_SPOUT: &str = "file-spout";

/// What the file spout reads (the `args` of `builtin: file-spout`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpoutConfig {
    /// The directory read.
    pub dir: String,
    /// The file names read (`*` for any run of characters). Default `*`.
    #[serde(default = "star")]
    pub pattern: String,
    /// The output field of the line. Default `line`.
    #[serde(default = "line")]
    pub field: String,
    /// Emit the file's name first, in a field of this name.
    #[serde(default)]
    pub file_field: Option<String>,
    /// Where the offsets are kept (default `{dir}/.gale-offsets-{component}`).
    #[serde(default)]
    pub offsets: Option<String>,
    /// Read every file from its start, ignoring the saved offsets.
    #[serde(default)]
    pub rewind: bool,
    /// Lines per `next_tuple` at most. Default 1000.
    #[serde(default = "thousand")]
    pub batch: usize,
    /// After a pass that found nothing new, wait this long. Default 100.
    #[serde(default = "hundred")]
    pub poll_ms: u64,
    /// Write the offsets this often when they moved. Default 200.
    #[serde(default = "two_hundred")]
    pub commit_ms: u64,
    /// The longest line; longer ones are emitted in pieces. Default 1 MiB.
    #[serde(default = "mib")]
    pub max_line_bytes: usize,
    /// Finish once nothing new is found and every line is acked.
    #[serde(default)]
    pub until_idle: bool,
}

fn star() -> String {
    "*".to_owned()
}
fn line() -> String {
    "line".to_owned()
}
fn thousand() -> usize {
    1000
}
fn hundred() -> u64 {
    100
}
fn two_hundred() -> u64 {
    200
}
fn mib() -> usize {
    1 << 20
}

impl FileSpoutConfig {
    /// A config reading every file of `dir`, with the defaults for the
    /// rest.
    pub fn new(dir: impl Into<String>) -> Self {
        Self {
            dir: dir.into(),
            pattern: star(),
            field: line(),
            file_field: None,
            offsets: None,
            rewind: false,
            batch: thousand(),
            poll_ms: hundred(),
            commit_ms: two_hundred(),
            max_line_bytes: mib(),
            until_idle: false,
        }
    }

    /// The fields the spout declares.
    pub fn output_fields(&self) -> Vec<String> {
        self.file_field
            .iter()
            .chain(std::iter::once(&self.field))
            .cloned()
            .collect()
    }

    /// Checks the values that need no file system.
    pub fn check(&self, component: &str) -> Result<(), ConnectorError> {
        let err = |key: &str, message: &str| {
            Err(ConnectorError::Config {
                connector: FILE_SPOUT,
                component: component.to_owned(),
                key: key.to_owned(),
                message: message.to_owned(),
            })
        };
        if self.dir.is_empty() {
            return err("dir", "must not be empty");
        }
        if self.pattern.is_empty() || self.pattern.contains('/') {
            return err("pattern", "must be a file name pattern (no `/`)");
        }
        if self.field.is_empty() || self.file_field.as_deref() == Some(self.field.as_str()) {
            return err("field", "must be a name of its own");
        }
        if self.batch == 0 {
            return err("batch", "must be at least 1");
        }
        if self.max_line_bytes == 0 {
            return err("max_line_bytes", "must be at least 1");
        }
        Ok(())
    }
}

/// Whether `name` matches `pattern` (`*`: any run of characters).
fn matches(pattern: &str, name: &str) -> bool {
    if name.starts_with('.') {
        return false;
    }
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty(); // no `*`: the whole name
    };
    for p in middle {
        match rest.find(p) {
            Some(i) => rest = &rest[i + p.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// A file being read.
struct Tracked {
    name: String,
    file: Option<File>,
    /// Where the next line starts.
    read: u64,
    /// Bytes read after `read` (no `\n` yet).
    carry: Vec<u8>,
    /// Lines in flight: start -> end.
    pending: BTreeMap<u64, u64>,
    /// Gone from the directory: dropped once nothing of it is in flight.
    gone: bool,
}

impl Tracked {
    fn new(name: String, read: u64) -> Self {
        Self {
            name,
            file: None,
            read,
            carry: Vec::new(),
            pending: BTreeMap::new(),
            gone: false,
        }
    }

    /// The offset before which every line is acked.
    fn done(&self) -> u64 {
        self.pending
            .first_key_value()
            .map_or(self.read, |(start, _)| *start)
    }
}

/// A line emitted and not yet acked.
struct Line {
    file: usize,
    start: u64,
    values: Vec<Value>,
}

/// The file spout (see the [module docs](self)).
pub struct FileSpout {
    cfg: FileSpoutConfig,
    component: String,
    offsets_path: PathBuf,
    metrics: Arc<ConnectorMetrics>,
    files: Vec<Tracked>,
    by_name: HashMap<String, usize>,
    /// Offsets read from the offsets file, for files not seen yet.
    saved: HashMap<String, u64>,
    in_flight: InFlightTable<Line>,
    retry: VecDeque<u64>,
    max_pending: usize,
    quiet_until: Option<Instant>,
    last_commit: Instant,
    /// The offsets moved since they were last written.
    dirty: bool,
    idle: bool,
    fatal: Option<ConnectorError>,
    /// The last error listing the directory (reported once while it
    /// lasts).
    scan_error: Option<String>,
    chunk: Vec<u8>,
}

impl FileSpout {
    /// A spout reading as `cfg` says.
    pub fn new(cfg: FileSpoutConfig) -> Self {
        Self {
            cfg,
            component: String::new(),
            offsets_path: PathBuf::new(),
            metrics: ConnectorMetrics::new(FILE_SPOUT, "", 0),
            files: Vec::new(),
            by_name: HashMap::new(),
            saved: HashMap::new(),
            in_flight: InFlightTable::new(),
            retry: VecDeque::new(),
            max_pending: usize::MAX,
            quiet_until: None,
            last_commit: Instant::now(),
            dirty: false,
            idle: false,
            fatal: None,
            scan_error: None,
            chunk: vec![0; 64 << 10],
        }
    }

    /// This task's metrics.
    pub fn metrics(&self) -> &Arc<ConnectorMetrics> {
        &self.metrics
    }

    /// The done offset of every file known (what the offsets file gets).
    pub fn offsets(&self) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = self
            .saved
            .iter()
            .map(|(n, o)| (n.clone(), *o))
            .chain(self.files.iter().map(|f| (f.name.clone(), f.done())))
            .collect();
        v.sort();
        v
    }

    fn io_error(&self, what: &str, path: &Path, e: impl std::fmt::Display) -> ConnectorError {
        ConnectorError::Command {
            connector: FILE_SPOUT,
            component: self.component.clone(),
            target: path.display().to_string(),
            what: what.to_owned(),
            message: e.to_string(),
        }
    }

    /// Reads the offsets file: one `offset name` a line.
    fn load_offsets(&mut self) -> Result<(), ConnectorError> {
        let text = match std::fs::read(&self.offsets_path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(self.io_error("read", &self.offsets_path, e)),
        };
        for (i, l) in text.split(|&c| c == b'\n').enumerate() {
            if l.is_empty() {
                continue;
            }
            let parsed = std::str::from_utf8(l).ok().and_then(|l| {
                let (offset, name) = l.split_once(' ')?;
                Some((offset.parse::<u64>().ok()?, name.to_owned()))
            });
            let Some((offset, name)) = parsed else {
                return Err(self.io_error(
                    "read",
                    &self.offsets_path,
                    format!("line {}: not `offset name`", i + 1),
                ));
            };
            self.saved.insert(name, offset);
        }
        Ok(())
    }

    /// Writes the done offsets atomically.
    fn commit(&mut self) -> Result<(), ConnectorError> {
        let mut text = String::new();
        for (name, offset) in self.offsets() {
            text.push_str(&format!("{offset} {name}\n"));
        }
        let path = &self.offsets_path;
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let written = File::create(&tmp)
            .and_then(|mut f| {
                f.write_all(text.as_bytes())?;
                f.sync_data()
            })
            .and_then(|()| std::fs::rename(&tmp, path))
            .and_then(|()| match path.parent() {
                Some(d) if !d.as_os_str().is_empty() => File::open(d)?.sync_all(),
                _ => Ok(()),
            });
        written.map_err(|e| self.io_error("write", path, e))?;
        self.dirty = false;
        self.last_commit = Instant::now();
        Ok(())
    }

    /// Lists the directory: new files tracked, vanished ones marked.
    fn scan(&mut self) -> Result<(), ConnectorError> {
        let dir = PathBuf::from(&self.cfg.dir);
        let entries = std::fs::read_dir(&dir).map_err(|e| self.io_error("list", &dir, e))?;
        let mut names: Vec<String> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| matches(&self.cfg.pattern, n) && !n.contains('\n'))
            .collect();
        names.sort();
        for f in &mut self.files {
            f.gone = names.binary_search(&f.name).is_err();
        }
        for name in names {
            if self.by_name.contains_key(&name) {
                continue;
            }
            let read = if self.cfg.rewind {
                0
            } else {
                self.saved.remove(&name).unwrap_or(0)
            };
            self.by_name.insert(name.clone(), self.files.len());
            self.files.push(Tracked::new(name, read));
        }
        Ok(())
    }

    /// Reads new lines of file `i` and emits up to `room` of them; the
    /// number emitted.
    fn read_file(&mut self, i: usize, room: usize, out: &mut SpoutOutput<'_>) -> usize {
        let path = Path::new(&self.cfg.dir).join(&self.files[i].name);
        let mut emitted = 0;
        while emitted < room {
            // Whole lines in the carry first.
            if let Some(nl) = self.files[i].carry.iter().position(|&c| c == b'\n') {
                self.emit_line(i, nl, nl + 1, out);
                emitted += 1;
                continue;
            }
            if self.files[i].carry.len() >= self.cfg.max_line_bytes {
                let (n, at) = (self.cfg.max_line_bytes, self.files[i].read);
                let e = self.io_error(
                    "read",
                    &path,
                    format!("a line at offset {at} is longer than max_line_bytes ({n}): emitted in pieces"),
                );
                self.metrics.error();
                out.report_error(&e);
                self.emit_line(i, n, n, out);
                emitted += 1;
                continue;
            }
            let f = &mut self.files[i];
            if f.file.is_none() {
                let opened = File::open(&path).and_then(|file| Ok((file.metadata()?.len(), file)));
                let (len, mut file) = match opened {
                    Ok(o) => o,
                    Err(e) => {
                        if !self.files[i].gone {
                            let e = self.io_error("open", &path, e);
                            self.metrics.error();
                            out.report_error(&e);
                        }
                        break;
                    }
                };
                let at = self.files[i].read;
                if len < at {
                    let e = self.io_error(
                        "read",
                        &path,
                        format!(
                            "the file is shorter ({len} bytes) than its offset ({at}): read again \
                             from its start"
                        ),
                    );
                    self.metrics.error();
                    out.report_error(&e);
                    self.files[i].read = 0;
                }
                let f = &mut self.files[i];
                if file.seek(SeekFrom::Start(f.read)).is_err() {
                    break;
                }
                f.carry.clear();
                f.file = Some(file);
            }
            let f = &mut self.files[i];
            let Some(file) = f.file.as_mut() else { break };
            match file.read(&mut self.chunk) {
                Ok(0) => break,
                Ok(n) => f.carry.extend_from_slice(&self.chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let e = self.io_error("read", &path, e);
                    self.metrics.error();
                    out.report_error(&e);
                    self.files[i].file = None;
                    break;
                }
            }
        }
        emitted
    }

    /// Emits the first `len` bytes of file `i`'s carry as a line and
    /// drops `used` bytes of it.
    fn emit_line(&mut self, i: usize, len: usize, used: usize, out: &mut SpoutOutput<'_>) {
        let f = &mut self.files[i];
        let mut text = &f.carry[..len];
        if used > len {
            text = text.strip_suffix(b"\r").unwrap_or(text); // CRLF
        }
        let line = match std::str::from_utf8(text) {
            Ok(s) => Value::Str(s.to_owned()),
            Err(_) => Value::Bytes(text.to_vec()),
        };
        let start = f.read;
        f.read += used as u64;
        f.pending.insert(start, f.read);
        f.carry.drain(..used);
        let mut values = Vec::with_capacity(2);
        if self.cfg.file_field.is_some() {
            values.push(Value::Str(f.name.clone()));
        }
        values.push(line);
        let msg = self.in_flight.insert(Line {
            file: i,
            start,
            values,
        });
        if let Some(l) = self.in_flight.get(msg) {
            out.emit_with_id(&l.values, msg);
        }
    }

    /// Forgets files that are gone with nothing in flight.
    fn forget_gone(&mut self) {
        if !self.files.iter().any(|f| f.gone && f.pending.is_empty()) || !self.in_flight.is_empty()
        {
            return; // indexes stay valid while lines are in flight
        }
        self.files.retain(|f| !(f.gone && f.pending.is_empty()));
        self.by_name = self
            .files
            .iter()
            .enumerate()
            .map(|(i, f)| (f.name.clone(), i))
            .collect();
        self.dirty = true;
    }
}

impl Spout for FileSpout {
    fn declare_output_fields(&self, declarer: &mut OutputFieldsDeclarer) {
        declarer.declare(self.cfg.output_fields());
    }

    fn open(&mut self, context: &TopologyContext) {
        self.component = context.component_id().to_owned();
        self.metrics = ConnectorMetrics::registered(FILE_SPOUT, context);
        self.max_pending = context.max_spout_pending().unwrap_or(usize::MAX).max(1);
        self.offsets_path = match &self.cfg.offsets {
            Some(p) => PathBuf::from(p),
            None => Path::new(&self.cfg.dir).join(format!(".gale-offsets-{}", self.component)),
        };
        let mut started = self.cfg.check(&self.component);
        if started.is_ok() && context.component_tasks().len() > 1 {
            started = Err(ConnectorError::Config {
                connector: FILE_SPOUT,
                component: self.component.clone(),
                key: "parallelism".to_owned(),
                message: "a directory is read by one task".to_owned(),
            });
        }
        if started.is_ok() && !self.cfg.rewind {
            started = self.load_offsets();
        }
        if let Err(e) = started {
            tracing::error!("{e}");
            self.metrics.error();
            self.fatal = Some(e);
        }
    }

    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        if let Some(e) = self.fatal.take() {
            out.report_error(&e);
            self.cfg.until_idle = false; // never finishes: the error stays visible
            self.quiet_until = Some(Instant::now() + Duration::from_secs(3600 * 24 * 365));
            return;
        }
        let now = Instant::now();
        if self.dirty
            && (self.in_flight.is_empty()
                || now.duration_since(self.last_commit)
                    >= Duration::from_millis(self.cfg.commit_ms))
        {
            if let Err(e) = self.commit() {
                self.metrics.error();
                out.report_error(&e);
                self.last_commit = now;
            }
        }
        let mut replayed = 0;
        while replayed < self.cfg.batch {
            let Some(msg) = self.retry.pop_front() else {
                break;
            };
            if let Some(l) = self.in_flight.get(msg) {
                out.emit_with_id(&l.values, msg);
                replayed += 1;
            }
        }
        if replayed > 0 || self.quiet_until.is_some_and(|t| now < t) {
            return;
        }
        if self.idle || self.files.is_empty() {
            if let Err(e) = self.scan() {
                self.metrics.error();
                let shown = e.to_string();
                if self.scan_error.as_ref() != Some(&shown) {
                    out.report_error(&e); // once while it lasts
                    self.scan_error = Some(shown);
                }
                self.quiet_until = Some(now + Duration::from_millis(self.cfg.poll_ms));
                return;
            }
            self.scan_error = None;
            self.forget_gone();
        }
        let mut room = self
            .max_pending
            .saturating_sub(self.in_flight.len())
            .min(self.cfg.batch);
        let mut emitted = 0;
        for i in 0..self.files.len() {
            if room == 0 {
                break;
            }
            let n = self.read_file(i, room, out);
            room -= n;
            emitted += n;
        }
        if emitted > 0 {
            self.metrics.batch(emitted);
            self.quiet_until = None;
        }
        let was_idle = self.idle;
        self.idle = emitted == 0 && room > 0;
        if self.idle && was_idle {
            self.quiet_until = Some(now + Duration::from_millis(self.cfg.poll_ms));
        }
        self.metrics.set_pending(self.in_flight.len());
    }

    fn ack(&mut self, msg_id: u64) {
        if let Some(l) = self.in_flight.remove(msg_id) {
            if let Some(f) = self.files.get_mut(l.file) {
                f.pending.remove(&l.start);
            }
            self.dirty = true;
        }
    }

    fn fail(&mut self, msg_id: u64) {
        if self.in_flight.get(msg_id).is_some() {
            self.retry.push_back(msg_id);
        }
    }

    fn close(&mut self) {
        if self.dirty {
            if let Err(e) = self.commit() {
                tracing::error!("{e} (the lines after the last offsets written are read again)");
            }
        }
    }

    fn is_finished(&self) -> bool {
        self.cfg.until_idle
            && self.idle
            && self.quiet_until.is_some()
            && self.in_flight.is_empty()
            && self.retry.is_empty()
            && !self.dirty
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_with_stars_and_never_hidden_files() {
        assert!(matches("*", "a.log"));
        assert!(!matches("*", ".gale-offsets-x"));
        assert!(matches("*.log", "a.log"));
        assert!(!matches("*.log", "a.log.part"));
        assert!(matches("app-*-*.log", "app-1-2.log"));
        assert!(!matches("app-*.log", "web-1.log"));
        assert!(matches("exact", "exact"));
        assert!(!matches("exact", "exactly"));
        assert!(matches("a*a", "aa"));
        assert!(!matches("ab*ba", "aba"));
    }

    #[test]
    fn a_bad_config_names_the_key() {
        let mut cfg = FileSpoutConfig::new("d");
        cfg.pattern = "x/y".into();
        let e = cfg.check("files").unwrap_err().to_string();
        assert!(e.contains("`files`") && e.contains("`pattern`"), "{e}");
    }
}
