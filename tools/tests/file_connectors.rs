//! The file connectors with real files and the real `gale` binary:
//! `file-spout` reading a directory → `file-sink` writing rotating files.
//! Every input line carries a unique number, so the output shows each
//! line lost or written twice.

mod util;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use util::gale;
use util::servers::temp_dir;

const WATCHDOG: Duration = Duration::from_secs(120);

/// Writes `files` files of `lines` lines each into `dir`; the lines.
fn fill(dir: &Path, files: usize, lines: usize, tag: &str) -> Vec<String> {
    let mut all = Vec::new();
    for f in 0..files {
        let mut text = String::new();
        for i in 0..lines {
            let l = format!("{tag} file {f} line {i} the quick brown fox");
            text.push_str(&l);
            text.push('\n');
            all.push(l);
        }
        std::fs::write(dir.join(format!("{tag}-{f:02}.txt")), text).unwrap();
    }
    all
}

/// Every line of the finished and open files in `dir`, with how often.
fn written(dir: &Path) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let text = std::fs::read_to_string(e.path()).unwrap();
        for l in text.lines() {
            *seen.entry(l.to_owned()).or_insert(0) += 1;
        }
    }
    seen
}

fn topology(dir: &Path, input: &Path, output: &Path, until_idle: bool, sink: &str) -> PathBuf {
    let yaml = format!(
        "name: files
config:
  ackers: 1
  max_spout_pending: 2000
spouts:
  - id: lines
    builtin: file-spout
    args:
      dir: {input}
      pattern: \"*.txt\"
      until_idle: {until_idle}
      poll_ms: 20
bolts:
  - id: out
    builtin: file-sink
    args:
      dir: {output}
      {sink}
streams:
  - {{from: lines, to: out, grouping: shuffle}}
",
        input = input.display(),
        output = output.display(),
    );
    let path = dir.join("files.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < WATCHDOG, "watchdog: no {what}");
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn lines_of_a_directory_reach_rotated_files_exactly_once() {
    let dir = temp_dir("files-once");
    let (input, output) = (dir.join("in"), dir.join("out"));
    std::fs::create_dir_all(&input).unwrap();
    let mut lines = fill(&input, 3, 2_000, "a");
    // A CRLF line, a last line without its newline yet (not emitted), a
    // file the pattern leaves out.
    std::fs::write(input.join("b-crlf.txt"), "crlf line\r\nno newline yet").unwrap();
    lines.push("crlf line".to_owned());
    std::fs::write(input.join("skip.csv"), "not read\n").unwrap();
    let topo = topology(&dir, &input, &output, true, "rotate_bytes: 20000");
    let run = gale(&["run", topo.to_str().unwrap()]);
    assert!(run.ok(), "gale failed: {}{}", run.stdout, run.stderr);
    let seen = written(&output);
    let want: BTreeMap<String, usize> = lines.iter().map(|l| (l.clone(), 1)).collect();
    assert_eq!(seen, want);
    // Rotated by size, each finished (no `.part` left) and within the
    // limit, numbered from 0.
    let mut names: Vec<String> = std::fs::read_dir(&output)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert!(names.len() >= 10, "{names:?}");
    assert_eq!(names[0], "out-0-000000.log");
    for n in &names {
        assert!(n.ends_with(".log"), "{n}");
        let len = std::fs::metadata(output.join(n)).unwrap().len();
        assert!(len <= 20_000, "{n}: {len} bytes");
    }
    // The offsets: every file done up to its last whole line.
    let offsets = std::fs::read_to_string(input.join(".gale-offsets-lines")).unwrap();
    assert!(offsets.contains("11 b-crlf.txt\n"), "{offsets}");
    let a0 = std::fs::metadata(input.join("a-00.txt")).unwrap().len();
    assert!(offsets.contains(&format!("{a0} a-00.txt\n")), "{offsets}");
    // A second run reads nothing again; the completed line then comes.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(input.join("b-crlf.txt"))
        .unwrap();
    f.write_all(b"\n").unwrap();
    let run = gale(&["run", topo.to_str().unwrap()]);
    assert!(run.ok(), "gale failed: {}", run.stderr);
    let again = written(&output);
    assert_eq!(again.get("no newline yet"), Some(&1));
    assert_eq!(again.len(), want.len() + 1);
    assert!(again.values().all(|&n| n == 1), "a line written twice");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn kill_9_mid_run_and_a_restart_lose_no_line() {
    let dir = temp_dir("files-kill");
    let (input, output) = (dir.join("in"), dir.join("out"));
    std::fs::create_dir_all(&input).unwrap();
    let mut lines = fill(&input, 4, 50_000, "k");
    let topo = topology(&dir, &input, &output, true, "batch: 500");
    let mut child = Command::new(env!("CARGO_BIN_EXE_gale"))
        .args(["run", topo.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Lines appear while it runs: a file grows, a new one arrives.
    wait_for("the first lines written", || {
        output.is_dir() && written(&output).len() > 1_000
    });
    let mut grow = std::fs::OpenOptions::new()
        .append(true)
        .open(input.join("k-03.txt"))
        .unwrap();
    for i in 0..1_000 {
        let l = format!("grown line {i}");
        writeln!(grow, "{l}").unwrap();
        lines.push(l);
    }
    lines.extend(fill(&input, 1, 1_000, "late"));
    wait_for("a quarter of the lines written", || {
        written(&output).len() > lines.len() / 4
    });
    child.kill().unwrap(); // SIGKILL
    let _ = child.wait();
    let at_kill = written(&output).len();
    assert!(at_kill < lines.len(), "the run ended before the kill");
    let run = gale(&["run", topo.to_str().unwrap()]);
    assert!(run.ok(), "the restarted gale failed: {}", run.stderr);
    let seen = written(&output);
    let lost: Vec<&String> = lines.iter().filter(|l| !seen.contains_key(*l)).collect();
    assert!(
        lost.is_empty(),
        "{} lines lost, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(3)]
    );
    assert_eq!(seen.len(), lines.len(), "lines that were never written");
    // At least once: lines after the saved offsets are written again,
    // bounded by what was in flight or not yet committed at the kill.
    let twice = seen.values().filter(|&&n| n > 1).count();
    eprintln!(
        "killed with {at_kill} of {} lines written; {twice} written twice",
        lines.len()
    );
    assert!(seen.values().all(|&n| n <= 2));
    // The sink finished the `.part` file the killed run left.
    assert!(std::fs::read_dir(&output)
        .unwrap()
        .flatten()
        .all(|e| !e.file_name().to_string_lossy().ends_with(".part")));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bad_file_connector_args_are_named_by_component_and_key() {
    let dir = temp_dir("files-bad");
    let yaml = "name: bad
spouts:
  - {id: lines, builtin: file-spout, args: {dir: /nonexistent/gale-test, pattern: \"a/b\"}}
bolts:
  - {id: out, builtin: file-sink, args: {dir: /tmp, colour: blue}}
streams:
  - {from: lines, to: out, grouping: shuffle}
";
    let path = dir.join("bad.yaml");
    std::fs::write(&path, yaml).unwrap();
    let run = gale(&["validate", path.to_str().unwrap()]);
    assert!(!run.ok());
    let text = format!("{}{}", run.stdout, run.stderr);
    assert!(
        text.contains("file-spout `lines`: configuration key `pattern`"),
        "{text}"
    );
    assert!(
        text.contains("`file-sink`") && text.contains("colour"),
        "{text}"
    );
    // A directory that is not there: the run reports it, naming the
    // component and the directory.
    let yaml = "name: missing
config: {ackers: 1}
spouts:
  - {id: lines, builtin: file-spout, args: {dir: /nonexistent/gale-test}}
bolts:
  - {id: out, builtin: \"null\"}
streams:
  - {from: lines, to: out, grouping: shuffle}
";
    std::fs::write(&path, yaml).unwrap();
    let run = gale(&["run", path.to_str().unwrap(), "--duration", "1"]);
    assert!(
        run.stderr
            .contains("file-spout `lines`: list on /nonexistent/gale-test"),
        "{}",
        run.stderr
    );
    let _ = std::fs::remove_dir_all(dir);
}
