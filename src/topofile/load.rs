//! Loading a topology file: [`load`] and its variants.

use std::io::Read;
use std::path::{Path, PathBuf};

use gale_engine::Topology;

use super::build;
use super::error::LoadError;
use super::loaded::Loaded;
use super::located::Located;
use super::registry::Registry;
use super::substitute::{substitute, Properties};

/// How to load a topology file: the classes its `className`s may name,
/// and the properties file of Flux's `--filter`.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The classes (default: Storm's, [`Registry::new`]).
    pub registry: Registry,
    /// `${key}` in the file becomes `key`'s value in this properties file.
    pub filter: Option<PathBuf>,
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
    load_with(path, &Options::default())
}

/// [`load_full`] with a registry of your classes (for Flux's
/// `className`) and a `--filter` properties file.
pub fn load_with(path: impl AsRef<Path>, options: &Options) -> Result<Loaded, LoadError> {
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
    load_str_with(&text, path, base, options)
}

/// Loads a topology from YAML `text`, naming it `path` in errors and
/// resolving working directories against `base`.
pub fn load_str(text: &str, path: &Path, base: &Path) -> Result<Loaded, LoadError> {
    load_str_with(text, path, base, &Options::default())
}

/// [`load_str`] with [`Options`].
pub fn load_str_with(
    text: &str,
    path: &Path,
    base: &Path,
    options: &Options,
) -> Result<Loaded, LoadError> {
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
    let props = match &options.filter {
        Some(file) => Properties::read(file)?,
        None => Properties::default(),
    };
    let mut errors = Vec::new();
    let text = substitute(text, &props, None, &mut errors);
    let built = if errors.is_empty() {
        build::load(&text, &stem, base, &options.registry, &props)
    } else {
        Err(errors)
    };
    built.map_err(|mut errors| {
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
