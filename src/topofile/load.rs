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
    /// The command line's `--state-dir`, `--state-url`, `--checkpoint-ms`
    /// (they override `config.state`).
    pub state: super::StateFlags,
    /// Only check the file: do not open its state backend (`gale
    /// validate`).
    pub check_only: bool,
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
        let state = (!options.check_only).then_some(&options.state);
        build::load(&text, &stem, base, &options.registry, state, &props)
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
/// same interpreter ([`project_python`]), under the batched protocol
/// (Storm's with `GALE_PROTOCOL=storm`). The interpreter needs the `gale`
/// package (`pip install ./python`) and streamparse.
pub fn describe_streamparse(path: &Path) -> Result<String, LoadError> {
    let python = project_python(path);
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

/// The Python that describes and runs the streamparse topology at
/// `PROJECT/topologies/NAME.py`, the first of:
///
/// 1. `$GALE_PYTHON` (if set and not empty);
/// 2. the project's own virtualenv: `PROJECT/.venv/bin/python`, then
///    `PROJECT/venv/bin/python`;
/// 3. streamparse's virtualenv for the topology, where `sparse submit`
///    puts it: `VIRTUALENV_ROOT/NAME/bin/python` for each environment of
///    the project's `config.json` (in file order) that sets
///    `virtualenv_root` and does not turn `use_virtualenv` off
///    (`virtualenv_name` replaces `NAME`), if it exists on this machine;
/// 4. `python3` (found on `PATH`: an activated virtualenv's).
pub fn project_python(path: &Path) -> String {
    if let Some(python) = std::env::var("GALE_PYTHON").ok().filter(|p| !p.is_empty()) {
        return python;
    }
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let name = path.file_stem().map(|s| s.to_string_lossy().into_owned());
    let Some((project, name)) = path.parent().and_then(Path::parent).zip(name) else {
        return "python3".to_owned();
    };
    let local = [".venv", "venv"].map(|v| project.join(v).join("bin/python"));
    let streamparse = streamparse_virtualenvs(project, &name);
    local
        .into_iter()
        .chain(streamparse)
        .find(|p| p.is_file())
        .map_or_else(|| "python3".to_owned(), |p| p.display().to_string())
}

/// The virtualenv interpreters `PROJECT/config.json` names for topology
/// `name` (see [`project_python`]); none if it cannot be read.
fn streamparse_virtualenvs(project: &Path, name: &str) -> Vec<std::path::PathBuf> {
    // A few kilobytes; JSON is YAML, and maps keep their order.
    let Ok(text) = std::fs::read_to_string(project.join("config.json")) else {
        return Vec::new();
    };
    let Ok(config) = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&text) else {
        return Vec::new();
    };
    let Some(envs) = config.get("envs").and_then(|e| e.as_mapping()) else {
        return Vec::new();
    };
    envs.values()
        .filter(|env| env.get("use_virtualenv").and_then(|u| u.as_bool()) != Some(false))
        .filter_map(|env| {
            let root = env.get("virtualenv_root")?.as_str()?;
            let venv = env
                .get("virtualenv_name")
                .and_then(|n| n.as_str())
                .unwrap_or(name);
            (!root.is_empty()).then(|| Path::new(root).join(venv).join("bin/python"))
        })
        .collect()
}

#[cfg(test)]
mod project_python_tests {
    use super::*;

    #[test]
    fn the_projects_virtualenv_is_found_in_order() {
        if let Some(python) = std::env::var("GALE_PYTHON").ok().filter(|p| !p.is_empty()) {
            // It wins over any lookup; the order below is checked
            // where it is unset (CI's unit tests).
            assert_eq!(project_python(Path::new("p/topologies/t.py")), python);
            return;
        }
        let dir = std::env::temp_dir().join(format!("gale-project-python-{}", std::process::id()));
        let project = dir.join("wordcount");
        let topology = project.join("topologies/wordcount.py");
        std::fs::create_dir_all(topology.parent().unwrap()).unwrap();
        let python_at = |venv: &Path| {
            let python = venv.join("bin/python");
            std::fs::create_dir_all(python.parent().unwrap()).unwrap();
            std::fs::write(&python, "").unwrap();
            python.display().to_string()
        };
        assert_eq!(project_python(&topology), "python3");
        // streamparse's: config.json's virtualenv_root / topology name.
        let root = dir.join("virtualenvs");
        let config = format!(
            r#"{{"envs": {{"off": {{"virtualenv_root": "{0}", "use_virtualenv": false}},
                          "named": {{"virtualenv_root": "{0}", "virtualenv_name": "other"}},
                          "prod": {{"virtualenv_root": "{0}"}}}}}}"#,
            root.display()
        );
        std::fs::write(project.join("config.json"), config).unwrap();
        let by_name = python_at(&root.join("wordcount"));
        assert_eq!(project_python(&topology), by_name);
        let named = python_at(&root.join("other"));
        assert_eq!(project_python(&topology), named, "in file order");
        // A virtualenv in the project wins; `.venv` before `venv`.
        let venv = python_at(&project.join("venv"));
        assert_eq!(project_python(&topology), venv);
        let dot = python_at(&project.join(".venv"));
        assert_eq!(project_python(&topology), dot);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
