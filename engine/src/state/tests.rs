//! Key-value state and the directory backend: round trips, every damaged
//! file reported with its path, a crash between any two steps leaving the
//! last committed checkpoint whole, and a writer process killed with
//! SIGKILL at random moments never leaving a damaged current checkpoint.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use gale_codec::Value;

use super::{DirBackend, KeyValueState, StateBackend, StateError};

/// A fresh, empty directory for one test, removed when the guard drops.
fn scratch(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("gale-state-{name}-"))
        .tempdir()
        .expect("a scratch directory")
}

fn state_of(checkpoint: u64, keys: usize) -> KeyValueState {
    let mut s = KeyValueState::default();
    for k in 0..keys {
        s.put(format!("k{k}"), Value::I64(checkpoint as i64));
    }
    s.put(
        "nested",
        Value::List(vec![
            Value::from("x"),
            Value::Map(vec![("y".into(), Value::Null)]),
        ]),
    );
    s
}

#[test]
fn key_value_state_round_trips_and_garbage_is_an_error() {
    let s = state_of(7, 100);
    let bytes = s.snapshot().unwrap();
    assert_eq!(KeyValueState::restore(&bytes).unwrap(), s);
    assert_eq!(
        KeyValueState::restore(&KeyValueState::default().snapshot().unwrap())
            .unwrap()
            .len(),
        0
    );
    // Truncated at any length: never a panic, never the whole state (the
    // file layer's length and checksum report truncation by name).
    for cut in 0..bytes.len() {
        let back = KeyValueState::restore(&bytes[..cut]);
        assert!(back.as_ref().map_or(true, |b| *b != s), "cut at {cut}");
    }
    let mut flipped = bytes.clone();
    let at = flipped.len() - 3;
    flipped[at] ^= 0xff;
    let _ = KeyValueState::restore(&flipped); // may or may not be valid; must not panic
}

#[test]
fn checkpoints_commit_load_and_replace_older_ones() {
    let tmp = scratch("commit");
    let dir = tmp.path();
    let b = DirBackend::open(dir).unwrap();
    assert_eq!(
        b.load("count-1").unwrap(),
        None,
        "nothing committed: a fresh start"
    );
    for id in 1..=3 {
        b.save(id, "count-1", &state_of(id, 10).snapshot().unwrap())
            .unwrap();
        b.save(id, "count-2", &state_of(id, 20).snapshot().unwrap())
            .unwrap();
        b.commit(id).unwrap();
    }
    let (id, bytes) = b.load("count-2").unwrap().unwrap();
    assert_eq!(id, 3);
    assert_eq!(KeyValueState::restore(&bytes).unwrap(), state_of(3, 20));
    assert!(!dir.join("chk-1").exists() && !dir.join("chk-2").exists());
}

#[test]
fn a_crash_before_commit_leaves_the_previous_checkpoint_current() {
    let tmp = scratch("precommit");
    let dir = tmp.path();
    let b = DirBackend::open(dir).unwrap();
    b.save(1, "t", &state_of(1, 5).snapshot().unwrap()).unwrap();
    b.commit(1).unwrap();
    // Checkpoint 2: one task saved, a half-written temporary file of
    // another (a crash mid-write), no commit.
    b.save(2, "t", &state_of(2, 5).snapshot().unwrap()).unwrap();
    std::fs::write(dir.join("chk-2/.u.state.tmp"), b"GALESTAT\x01").unwrap();
    // And a half-written CURRENT replacement.
    std::fs::write(dir.join(".CURRENT.tmp"), b"GALE").unwrap();
    let (id, bytes) = b.load("t").unwrap().unwrap();
    assert_eq!(id, 1);
    assert_eq!(KeyValueState::restore(&bytes).unwrap(), state_of(1, 5));
}

fn damaged(path: &Path, what: &str, change: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut bytes = std::fs::read(path).unwrap();
    change(&mut bytes);
    std::fs::write(path, &bytes).unwrap();
    let _ = what;
    path.display().to_string()
}

#[test]
fn damaged_or_missing_files_are_errors_naming_them() {
    let tmp = scratch("damaged");
    let dir = tmp.path();
    let b = DirBackend::open(dir).unwrap();
    b.save(4, "t", &state_of(4, 50).snapshot().unwrap())
        .unwrap();
    b.save(4, "u", &state_of(4, 50).snapshot().unwrap())
        .unwrap();
    b.commit(4).unwrap();
    let file = dir.join("chk-4/t.state");
    let original = std::fs::read(&file).unwrap();
    type Damage = fn(&mut Vec<u8>);
    let cases: [(&str, Damage); 4] = [
        ("truncated", |b| b.truncate(b.len() / 2)),
        ("header cut", |b| b.truncate(20)),
        ("flipped", |b| {
            let at = b.len() - 1;
            b[at] ^= 1;
        }),
        ("not ours", |b| b[0] = b'X'),
    ];
    for (what, change) in cases {
        std::fs::write(&file, &original).unwrap();
        let path = damaged(&file, what, change);
        let err = b.load("t").unwrap_err();
        assert!(matches!(err, StateError::Corrupt { .. }), "{what}: {err}");
        assert!(err.to_string().contains(&path), "{what}: {err}");
    }
    // A task the current checkpoint lacks: expected, so an error.
    let err = b.load("v").unwrap_err();
    assert!(
        matches!(err, StateError::Missing { checkpoint: 4, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("v.state"), "{err}");
    // A damaged CURRENT.
    let current = dir.join("CURRENT");
    let path = damaged(&current, "current", |b| b.truncate(10));
    let err = b.load("u").unwrap_err();
    assert!(err.to_string().contains(&path), "{err}");
    // A missing directory, a name that is not a file name.
    let err = DirBackend::open(dir.join("nope")).unwrap_err();
    assert!(
        matches!(err, StateError::NotADirectory { .. }) && err.to_string().contains("nope"),
        "{err}"
    );
    assert!(matches!(
        b.save(5, "../x", b""),
        Err(StateError::BadName { .. })
    ));
}

/// The writer half of the crash test: run only as the child process the
/// test below starts (it sets `GALE_STATE_WRITER`); writes checkpoints of
/// three tasks in a loop until killed.
#[test]
fn crash_writer() {
    let Ok(dir) = std::env::var("GALE_STATE_WRITER") else {
        return;
    };
    let b = DirBackend::open(dir).unwrap();
    let mut id = b.current().unwrap().unwrap_or(0);
    loop {
        id += 1;
        for task in ["a", "b", "c"] {
            b.save(id, task, &state_of(id, 2000).snapshot().unwrap())
                .unwrap();
        }
        b.commit(id).unwrap();
    }
}

#[test]
fn a_writer_killed_at_random_moments_leaves_a_whole_current_checkpoint() {
    let tmp = scratch("kill");
    let dir = tmp.path();
    let exe = std::env::current_exe().unwrap();
    let mut last = 0;
    for round in 0..6u64 {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "state::tests::crash_writer",
                "--test-threads",
                "1",
            ])
            .env("GALE_STATE_WRITER", dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // A different moment each round (the writes take about a
        // millisecond each).
        std::thread::sleep(Duration::from_millis(150 + 37 * round));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let b = DirBackend::open(dir).unwrap();
        let id = b
            .current()
            .unwrap()
            .expect("the writer committed something");
        assert!(
            id >= last,
            "round {round}: current went back from {last} to {id}"
        );
        last = id;
        for task in ["a", "b", "c"] {
            let (got, bytes) = b.load(task).unwrap().unwrap();
            assert_eq!(got, id);
            assert_eq!(
                KeyValueState::restore(&bytes).unwrap(),
                state_of(id, 2000),
                "round {round}, task {task}"
            );
        }
    }
    assert!(last > 6, "the writer made progress ({last} checkpoints)");
}
