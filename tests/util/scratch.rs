//! Scratch directories for tests: each is new and empty, and removed when
//! its guard drops, also when the test fails.

use tempfile::TempDir;

/// A fresh, empty directory for one test, its name starting with
/// `gale-test-NAME-`; removed when the returned guard drops.
pub fn scratch(name: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(&format!("gale-test-{name}-"))
        .tempdir()
        .expect("a scratch directory")
}
