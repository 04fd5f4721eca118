//! The `gale` binary against hostile or careless input: numbers too large
//! for any deadline, secrets, and closed output streams. Every case is a
//! clear error (or a clean finish), never a panic or a hang.

mod util;

use std::path::PathBuf;

use util::gale;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gale-abuse-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn no_panic(run: &util::Run) {
    assert!(!run.stderr.contains("panicked"), "a panic:\n{}", run.stderr);
}

#[test]
fn huge_durations_in_a_topology_file_are_validation_errors() {
    let dir = scratch("huge-file");
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
    let dir = scratch("secret");
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
    let plan = gale(&[
        "plan",
        "const-spout-null-bolt",
        "--cluster",
        cluster.to_str().unwrap(),
    ]);
    no_panic(&plan);
    assert_eq!(plan.code, Some(1), "{}", plan.stderr);
    assert!(plan.stderr.contains("chmod 600"), "{}", plan.stderr);
    mode(0o600).unwrap();
    let plan = gale(&[
        "plan",
        "const-spout-null-bolt",
        "--cluster",
        cluster.to_str().unwrap(),
    ]);
    assert!(plan.ok(), "{}", plan.stderr);
    assert!(!plan.stdout.contains(secret) && !plan.stderr.contains(secret));
}
