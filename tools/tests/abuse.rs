//! The `gale` binary against hostile or careless input: numbers too large
//! for any deadline, secrets, and closed output streams. Every case is a
//! clear error (or a clean finish), never a panic or a hang.

mod util;

use util::{gale, scratch};

/// `gale plan const-spout-null-bolt --cluster FILE`.
fn gale_plan(cluster: &std::path::Path) -> util::Run {
    gale(&[
        "plan",
        "const-spout-null-bolt",
        "--cluster",
        cluster.to_str().unwrap(),
    ])
}

fn no_panic(run: &util::Run) {
    assert!(!run.stderr.contains("panicked"), "a panic:\n{}", run.stderr);
}

#[test]
fn huge_durations_in_a_topology_file_are_validation_errors() {
    let tmp = scratch("huge-file");
    let dir = tmp.path();
    for (yaml, field) in [
        (
            "config: {message_timeout_secs: 1e20}\nspouts:\n  - {id: s, builtin: sentences}\nbolts:\n  - {id: b, builtin: split}\nstreams:\n  - {from: s, to: b, grouping: shuffle}\n",
            "config.message_timeout_secs",
        ),
        (
            "spouts:\n  - {id: s, builtin: sentences}\nbolts:\n  - {id: b, builtin: split, tick_secs: 1e19}\nstreams:\n  - {from: s, to: b, grouping: shuffle}\n",
            "tick_secs",
        ),
    ] {
        let file = dir.join("t.yaml");
        std::fs::write(&file, yaml).unwrap();
        let run = gale(&["validate", file.to_str().unwrap()]);
        no_panic(&run);
        assert_eq!(run.code, Some(1), "{yaml}\n{}", run.stderr);
        assert!(run.stderr.contains(field), "{}", run.stderr);
        assert!(run.stderr.contains("at most 31536000"), "{}", run.stderr);
    }
}

#[test]
fn huge_durations_on_the_command_line_are_usage_errors() {
    for args in [
        &["run", "wordcount", "--duration", "1e19"][..],
        &[
            "node",
            "--cluster",
            "c.toml",
            "--node",
            "0",
            "--duration",
            "1e19",
        ],
        &[
            "node",
            "--cluster",
            "c.toml",
            "--node",
            "0",
            "--connect-timeout",
            "1e19",
        ],
    ] {
        let run = gale(args);
        no_panic(&run);
        assert_eq!(run.code, Some(2), "{args:?}\n{}", run.stderr);
        assert!(
            run.stderr.contains("longest duration allowed"),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn gale_secret_prints_a_secret_a_cluster_file_accepts() {
    let a = gale(&["secret"]);
    let b = gale(&["secret"]);
    assert!(a.ok(), "{}", a.stderr);
    let secret = a.stdout.trim();
    assert_eq!(secret.len(), 64, "{secret}");
    assert!(secret.bytes().all(|c| c.is_ascii_hexdigit()), "{secret}");
    assert_ne!(a.stdout, b.stdout);
    let tmp = scratch("secret");
    let dir = tmp.path();
    std::fs::write(dir.join("secret"), &a.stdout).unwrap();
    let cluster = dir.join("cluster.toml");
    std::fs::write(
        &cluster,
        "secret_file = \"secret\"\n[[node]]\nid = 0\nlisten = \"127.0.0.1:7700\"\nthreads = 1\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    let mode = |m| std::fs::set_permissions(dir.join("secret"), std::fs::Permissions::from_mode(m));
    mode(0o640).unwrap();
    let plan = gale_plan(&cluster);
    no_panic(&plan);
    assert_eq!(plan.code, Some(1), "{}", plan.stderr);
    assert!(plan.stderr.contains("chmod 600"), "{}", plan.stderr);
    mode(0o600).unwrap();
    let plan = gale_plan(&cluster);
    assert!(plan.ok(), "{}", plan.stderr);
    assert!(!plan.stdout.contains(secret) && !plan.stderr.contains(secret));
}

/// `gale run ... 2>&1 | head -3`: once `head` exits, every log line and
/// the report meet a closed pipe. The run still ends at `--duration`
/// (logging to a closed stderr never kills a worker) and says nothing it
/// cannot write.
#[test]
fn a_closed_stderr_does_not_stop_the_run_from_ending() {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    let script = format!(
        "{} run wordcount --threads 2 --duration 2 2>&1 | head -3 >/dev/null; \
         echo \"gale exited ${{PIPESTATUS[0]}}\" >&2",
        env!("CARGO_BIN_EXE_gale")
    );
    let mut child = Command::new("bash")
        .args(["-c", &script])
        // Debug logging from every worker: lines keep coming after `head`
        // has gone.
        .env("RUST_LOG", "debug")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("watchdog: `gale run ... | head -3` still running after 120 s (a 2 s run)");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    // Exit 0, or 1 for "cannot write the results": never a panic (101) or
    // a signal.
    assert!(
        err.contains("gale exited 0") || err.contains("gale exited 1"),
        "{err}"
    );
}

/// 100,000 nested brackets (24 s in the YAML parser before) are refused
/// before parsing, for topology and cluster files alike.
#[test]
fn deeply_nested_files_are_refused_before_parsing() {
    let tmp = scratch("deep");
    let dir = tmp.path();
    let deep = format!("name: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    let file = dir.join("deep.yaml");
    std::fs::write(&file, &deep).unwrap();
    let run = gale(&["validate", file.to_str().unwrap()]);
    no_panic(&run);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("nest deeper than 64"), "{}", run.stderr);
    let cluster = dir.join("cluster.toml");
    std::fs::write(
        &cluster,
        format!("x = {}{}\n", "[".repeat(100_000), "]".repeat(100_000)),
    )
    .unwrap();
    let plan = gale_plan(&cluster);
    no_panic(&plan);
    assert_eq!(plan.code, Some(1), "{}", plan.stderr);
    assert!(
        plan.stderr.contains("nest deeper than 64"),
        "{}",
        plan.stderr
    );
}
