//! A project made by `sparse quickstart wordcount` (the real streamparse)
//! runs unedited with `gale run PROJECT/topologies/wordcount.py`, under
//! the batched protocol and under Storm's, and `gale validate` reads it.

mod util;

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;
use util::{gale_with_env, python, scratch, Run};

/// `sparse quickstart wordcount` in a fresh directory of test `name`;
/// returns the scratch directory (removed when it drops) and the project.
fn quickstart(name: &str) -> (TempDir, PathBuf) {
    let tmp = scratch(&format!("sparse-{name}"));
    let dir = tmp.path();
    let sparse = Path::new(&python()).with_file_name("sparse");
    let out = Command::new(&sparse)
        .args(["quickstart", "wordcount"])
        .current_dir(dir)
        // streamparse refuses to run as root without it (Leiningen's prompt).
        .env("LEIN_ROOT", "1")
        .output()
        .expect("run sparse");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let project = dir.join("wordcount");
    (tmp, project)
}

/// `gale ARGS` with the test Python (which has the repository's `gale`
/// package: `scripts/python-env` installs it).
fn gale(args: &[&str], protocol: &str) -> Run {
    let python = python();
    gale_with_env(
        args,
        &[("GALE_PYTHON", &python), ("GALE_PROTOCOL", protocol)],
    )
}

/// The numbers of a component's row of `gale run`'s table.
fn row(stdout: &str, component: &str) -> Vec<u64> {
    let line = stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(component))
        .unwrap_or_else(|| panic!("no row for {component}:\n{stdout}"));
    line.split_whitespace()
        .skip(1)
        .map(|n| n.parse().unwrap())
        .collect()
}

#[test]
fn a_projects_own_virtualenv_runs_it_when_gale_python_is_unset() {
    let (_tmp, project) = quickstart("venv");
    // A `.venv` whose python notes that it ran, then is the test Python.
    let python = project.join(".venv/bin/python");
    std::fs::create_dir_all(python.parent().unwrap()).unwrap();
    let used = project.join(".venv/used");
    std::fs::write(
        &python,
        format!(
            "#!/bin/sh\ntouch '{}'\nexec '{}' \"$@\"\n",
            used.display(),
            self::python()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&python, std::fs::Permissions::from_mode(0o755)).unwrap();
    let topology = project.join("topologies/wordcount.py");
    // An empty GALE_PYTHON counts as unset (as `${GALE_PYTHON:-python3}`).
    let valid = gale_with_env(
        &["validate", topology.to_str().unwrap()],
        &[("GALE_PYTHON", "")],
    );
    assert!(valid.ok(), "{}", valid.stderr);
    assert!(used.exists(), "the project's .venv was not used");
}

#[test]
fn a_sparse_quickstart_project_runs_unedited_under_both_protocols() {
    let (_tmp, project) = quickstart("run");
    let topology = project.join("topologies/wordcount.py");
    let topology = topology.to_str().unwrap();
    let valid = gale(&["validate", topology], "batched");
    assert!(valid.ok(), "{}", valid.stderr);
    assert!(
        valid.stdout.contains("spout word_spout x1"),
        "{}",
        valid.stdout
    );
    assert!(
        valid.stdout.contains("bolt count_bolt x2"),
        "{}",
        valid.stdout
    );
    for protocol in ["batched", "storm"] {
        let run = gale(&["run", topology, "--duration", "5"], protocol);
        assert!(run.ok(), "{protocol}: {}\n{}", run.stdout, run.stderr);
        let table = format!("{}{}", run.stdout, run.stderr);
        // tasks emitted transferred executed acked failed errors
        let spout = row(&table, "word_spout");
        let count = row(&table, "count_bolt");
        assert!(spout[1] > 0, "{protocol}: the spout emitted: {}", table);
        assert_eq!(
            spout[1], count[3],
            "{protocol}: every word counted: {}",
            table
        );
        assert_eq!(count[3], count[1], "{protocol}: one (word, count) per word");
        assert_eq!(count[3], count[4], "{protocol}: every word acked");
        assert_eq!(spout[6] + count[6], 0, "{protocol}: no errors: {table}");
    }
}
