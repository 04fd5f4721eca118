//! The Python interpreter of the multi-lang tests and benches, in one
//! place for every crate that needs it (included with `#[path]` by
//! `tools/tests/util` and `benches/multilang.rs`).

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

/// The Python with pystorm, streamparse, msgpack and this repository's
/// `gale` package: `$GALE_PYTHON`, else the one `scripts/python-env`
/// under the repository `root` makes (once per process). Panics, saying
/// what to run, if it cannot import `gale` without `PYTHONPATH`.
pub fn python_at(root: &Path) -> String {
    static PYTHON: OnceLock<String> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let python = std::env::var("GALE_PYTHON").unwrap_or_else(|_| {
                let out = Command::new(root.join("scripts/python-env"))
                    .output()
                    .expect("run scripts/python-env");
                assert!(
                    out.status.success(),
                    "scripts/python-env failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                String::from_utf8(out.stdout).unwrap().trim().to_owned()
            });
            let imports = Command::new(&python)
                .args(["-c", "import gale"])
                .env_remove("PYTHONPATH")
                .output()
                .is_ok_and(|o| o.status.success());
            assert!(
                imports,
                "{python} cannot import the `gale` package: run \
                 `eval \"$(scripts/python-env --export)\"`, which installs ./python"
            );
            python
        })
        .clone()
}
