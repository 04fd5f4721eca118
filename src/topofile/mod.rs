//! Topology files: a topology described in YAML (in the spirit of Storm's
//! Flux) — shell spouts and bolts run as subprocesses (Python with
//! pystorm/streamparse), built-in Rust components by name, the streams and
//! groupings between them, and the topology's configuration — loaded into
//! a [`Topology`] that `gale run topology.yaml` runs.
//!
//! ```yaml
//! name: wordcount-python
//! config:
//!   ackers: 1
//!   max_spout_pending: 500
//! spouts:
//!   - id: sentences
//!     shell:
//!       command: ${GALE_PYTHON:-python3}
//!       args: [sentence_spout.py, json]
//!     streams:
//!       default: [sentence]
//! bolts:
//!   - id: split
//!     parallelism: 2
//!     shell: {command: "${GALE_PYTHON:-python3}", args: [split_bolt.py, json]}
//!     streams:
//!       default: [word]
//!   - id: count
//!     builtin: count
//! streams:
//!   - {from: sentences, to: split, grouping: shuffle}
//!   - {from: split, to: count, grouping: {type: fields, fields: [word]}}
//! ```
//!
//! [`load`] reports every mistake it finds, each with its place in the
//! file (`file:line` where it can tell, and the YAML path), rather than
//! stopping at the first.

mod build;
mod connectors;
pub mod registry;
mod schema;

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use gale_engine::Topology;

use crate::builtin::CountSink;

/// A loaded topology file.
#[derive(Debug)]
pub struct Loaded {
    /// The topology, validated.
    pub topology: Topology,
    /// Where the `count` built-ins publish their final counts (if the file
    /// has any); read it after the run.
    pub counts: Option<CountSink>,
    /// Every spout is a built-in with a `count`, so the run ends by itself.
    pub finite: bool,
}

impl From<Loaded> for crate::builtin::Built {
    fn from(loaded: Loaded) -> Self {
        Self {
            topology: loaded.topology,
            finite: loaded.finite,
            counts: loaded.counts,
            rankings: None,
        }
    }
}

/// One mistake in a topology file and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// 1-based line, where known.
    pub line: Option<usize>,
    /// The YAML path of the offending item (`bolts[1].shell.serializer`),
    /// or empty for the whole file.
    pub at: String,
    /// What is wrong.
    pub message: String,
}

/// Why a topology file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Python could not describe a streamparse topology file.
    #[error("cannot read the streamparse topology {}: {reason}", path.display())]
    Describe {
        /// The file.
        path: PathBuf,
        /// What went wrong (with Python's stderr).
        reason: String,
    },
    /// The file has mistakes: all of them, in file order where known.
    #[error("{}", Listing { path, errors })]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Every mistake found.
        errors: Vec<Located>,
    },
}

impl LoadError {
    /// The mistakes found (empty for an I/O error).
    pub fn errors(&self) -> &[Located] {
        match self {
            LoadError::Io { .. } | LoadError::Describe { .. } => &[],
            LoadError::Invalid { errors, .. } => errors,
        }
    }
}

struct Listing<'a> {
    path: &'a Path,
    errors: &'a [Located],
}

impl fmt::Display for Listing<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        write!(
            f,
            "{} has {n} error{}:",
            self.path.display(),
            if n == 1 { "" } else { "s" }
        )?;
        for e in self.errors {
            write!(f, "\n  {}", self.path.display())?;
            if let Some(line) = e.line {
                write!(f, ":{line}")?;
            }
            if !e.at.is_empty() {
                write!(f, ": {}", e.at)?;
            }
            write!(f, ": {}", e.message)?;
        }
        Ok(())
    }
}

/// Loads the topology file at `path` (shell components' working
/// directories are relative to the file's directory). A `.py` file is a
/// streamparse topology (`PROJECT/topologies/NAME.py`): Python describes
/// it (see [`describe_streamparse`]).
pub fn load(path: impl AsRef<Path>) -> Result<Topology, LoadError> {
    load_full(path).map(|l| l.topology)
}

/// [`load`], with the count sink and whether the run ends by itself.
pub fn load_full(path: impl AsRef<Path>) -> Result<Loaded, LoadError> {
    let path = path.as_ref();
    let text = if is_streamparse_file(path) {
        describe_streamparse(path)?
    } else {
        let io = |source| LoadError::Io {
            path: path.to_owned(),
            source,
        };
        // Bounded before anything is read in full (a topology file is a
        // few kilobytes; `check_shape` in `load_str` says so if it is not).
        let mut text = String::new();
        std::fs::File::open(path)
            .map_err(io)?
            .take(gale_engine::cluster::MAX_FILE_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(io)?;
        text
    };
    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    load_str(&text, path, base)
}

/// Loads a topology from YAML `text`, naming it `path` in errors and
/// resolving working directories against `base`.
pub fn load_str(text: &str, path: &Path, base: &Path) -> Result<Loaded, LoadError> {
    let stem = path
        .file_stem()
        .map_or("topology".into(), |s| s.to_string_lossy());
    if let Err(e) = gale_engine::cluster::check_shape(text) {
        return Err(LoadError::Invalid {
            path: path.to_owned(),
            errors: vec![Located {
                line: None,
                at: String::new(),
                message: e.to_string(),
            }],
        });
    }
    build::load(text, &stem, base).map_err(|mut errors| {
        errors.sort_by_key(|e| e.line.unwrap_or(usize::MAX));
        LoadError::Invalid {
            path: path.to_owned(),
            errors,
        }
    })
}

/// Whether a `gale run` argument names a topology file (YAML, or a
/// streamparse topology `.py`) rather than a built-in topology.
pub fn is_topology_file(arg: &str) -> bool {
    arg.ends_with(".yaml") || arg.ends_with(".yml") || arg.ends_with(".py")
}

fn is_streamparse_file(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "py")
}

/// The topology file (JSON, read as YAML) of the streamparse topology
/// class in `path`, as `python -m gale.describe` prints it: each
/// component a `python:` class run from the project's directory by the
/// same interpreter, `$GALE_PYTHON` (else `python3`), under the batched
/// protocol (Storm's with `GALE_PROTOCOL=storm`). The interpreter needs
/// the `gale` package (`pip install ./python`) and streamparse.
pub fn describe_streamparse(path: &Path) -> Result<String, LoadError> {
    let python = std::env::var("GALE_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let fail = |reason: String| LoadError::Describe {
        path: path.to_owned(),
        reason,
    };
    let out = std::process::Command::new(&python)
        .args(["-m", "gale.describe"])
        .arg(path)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| fail(format!("cannot run `{python} -m gale.describe`: {e}")))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(15).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(fail(format!(
            "`{python} -m gale.describe` failed ({}):\n{}",
            out.status,
            tail.join("\n")
        )));
    }
    String::from_utf8(out.stdout).map_err(|_| fail("the description is not UTF-8".to_owned()))
}
