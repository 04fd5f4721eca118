//! The monitoring endpoint over real sockets on 127.0.0.1: Prometheus
//! output checked by Prometheus' own `promtool`, the Storm-UI-shaped JSON
//! API, 404s with JSON errors, garbage and bursts of concurrent requests,
//! and the live page rendered by a real headless Chromium.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use gale::monitor::{get, MetricsServer};
use gale::prelude::*;
use gale::RunningTopology;
use serde_json::Value as Json;

const TIMEOUT: Duration = Duration::from_secs(30);
/// How long a test may wait for a condition (a hang, not slowness).
const WATCHDOG: Duration = Duration::from_secs(120);

/// Emits numbers forever, reliably.
struct Numbers(u64);

impl Spout for Numbers {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare(["n"]);
    }
    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        self.0 += 1;
        out.emit_with_id(&[Value::I64(self.0 as i64)], self.0);
    }
}

/// Passes numbers on, anchored.
struct Relay;

impl Bolt for Relay {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare(["n"]);
    }
    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        let n = input.get(0).and_then(|v| v.as_i64()).unwrap_or(0);
        out.emit_anchored("default", &[input], &[Value::I64(n)]);
        out.ack(input);
    }
}

/// Acks everything; reports an error for one tuple in 10 000.
struct Sink;

impl Bolt for Sink {
    fn declare_output_fields(&self, _d: &mut OutputFieldsDeclarer) {}
    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        if input.get(0).and_then(|v| v.as_i64()).unwrap_or(0) % 10_000 == 0 {
            out.report_error("multiple of ten thousand");
        }
        out.ack(input);
    }
}

/// A running topology (`numbers` → `relay` → `sink`) served on a free port.
fn serve() -> (RunningTopology, MetricsServer, String) {
    let mut b = TopologyBuilder::new("monitored");
    b.set_spout("numbers", || Numbers(0), 1)
        .max_spout_pending(1000);
    b.set_bolt("relay", || Relay, 2).shuffle_grouping("numbers");
    b.set_bolt("sink", || Sink, 1)
        .fields_grouping("relay", ["n"]);
    let config = RunConfig {
        threads: 2,
        pin: false,
        ..RunConfig::default()
    };
    let running = LocalCluster::new(config)
        .submit(b.build().unwrap())
        .unwrap();
    let server = MetricsServer::start("127.0.0.1:0").unwrap();
    server.add(running.metrics_handle());
    let base = format!("http://{}", server.local_addr());
    (running, server, base)
}

fn get_json(url: &str) -> (u16, Json) {
    let (status, body) = get(url, TIMEOUT).unwrap_or_else(|e| panic!("{e}"));
    let text = String::from_utf8(body).expect("UTF-8 body");
    let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: {e}: {text}"));
    (status, json)
}

fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(
            start.elapsed() < WATCHDOG,
            "watchdog: waited {WATCHDOG:?} for {what}"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

fn topology_id(base: &str) -> String {
    let (status, summary) = get_json(&format!("{base}/api/v1/topology/summary"));
    assert_eq!(status, 200);
    let t = &summary["topologies"][0];
    assert_eq!(t["name"], "monitored");
    assert_eq!(t["status"], "ACTIVE");
    assert_eq!(t["tasksTotal"], 5, "{t}"); // 1 + 2 + 1 + the acker
    assert!(
        t["uptimeSeconds"].is_u64() && t["uptime"].is_string(),
        "{t}"
    );
    t["id"].as_str().expect("id").to_owned()
}

/// Runs a command that must exist (installed by scripts/test and
/// .ci/run); fails the test with a clear message if it does not.
fn tool(name: &str) -> Command {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "`{name}` is not installed: run scripts/test (it installs it) or apt-get install it"
    );
    Command::new(name)
}

#[test]
fn api_has_storm_ui_shape_and_live_numbers() {
    let (running, _server, base) = serve();
    let id = topology_id(&base);
    wait_until("executed tuples and an error", || {
        let (_, t) = get_json(&format!("{base}/api/v1/topology/{id}"));
        t["bolts"].as_array().is_some_and(|b| {
            b.iter()
                .any(|b| b["boltId"] == "sink" && b["executed"].as_u64() > Some(20_000))
        })
    });
    thread::sleep(Duration::from_millis(1100)); // a full rate window
    let (status, t) = get_json(&format!("{base}/api/v1/topology/{id}"));
    assert_eq!(status, 200);
    assert_eq!(t["id"], id.as_str());
    for key in [
        "uptime",
        "uptimeSeconds",
        "tasksTotal",
        "workersTotal",
        "topologyStats",
        "spouts",
        "bolts",
        "edges",
    ] {
        assert!(!t[key].is_null(), "`{key}` missing in {t}");
    }
    let spout = &t["spouts"][0];
    assert_eq!(spout["spoutId"], "numbers");
    assert!(spout["emitted"].as_u64() > Some(0), "{spout}");
    assert!(spout["acked"].as_u64() > Some(0), "{spout}");
    assert!(spout["completeLatency"].as_f64() > Some(0.0), "{spout}");
    assert!(spout["rate"].as_f64() > Some(0.0), "{spout}");
    let bolts = t["bolts"].as_array().unwrap();
    let relay = bolts.iter().find(|b| b["boltId"] == "relay").unwrap();
    for key in [
        "executed",
        "capacity",
        "executeLatency",
        "processLatency",
        "rate",
        "backpressureSeconds",
        "ringOccupancy",
    ] {
        assert!(relay[key].is_number(), "`{key}` in {relay}");
    }
    assert!(
        relay["executeLatencyPercentiles"]["p99Ms"].is_number(),
        "{relay}"
    );
    let edges = t["edges"].as_array().unwrap();
    assert!(edges
        .iter()
        .any(|e| e["from"] == "numbers" && e["to"] == "relay" && e["grouping"] == "shuffle"));
    assert!(edges
        .iter()
        .any(|e| e["from"] == "relay" && e["to"] == "sink" && e["grouping"] == "fields"));

    let (status, c) = get_json(&format!("{base}/api/v1/topology/{id}/component/sink"));
    assert_eq!(status, 200);
    assert_eq!(c["componentType"], "bolt");
    assert_eq!(c["topologyId"], id.as_str());
    assert_eq!(c["inputStats"][0]["component"], "relay");
    assert!(c["inputStats"][0]["executed"].as_u64() > Some(0));
    assert_eq!(c["executorStats"].as_array().unwrap().len(), 1);
    let errors = c["componentErrors"].as_array().unwrap();
    let e = &errors[0];
    assert_eq!(e["error"], "reported: multiple of ten thousand");
    assert!(e["count"].as_u64() >= Some(2), "{e}");
    assert!(e["errorTime"].as_u64() > Some(1_600_000_000), "{e}");
    assert!(e["errorLapsedSecs"].is_u64(), "{e}");
    let (status, c) = get_json(&format!("{base}/api/v1/topology/{id}/component/relay"));
    assert_eq!(status, 200);
    assert_eq!(c["outputStats"][0]["stream"], "default");
    assert_eq!(c["executorStats"].as_array().unwrap().len(), 2);

    running.stop();
    running.wait().unwrap();
}

#[test]
fn unknown_things_get_404_with_a_json_error() {
    let (running, _server, base) = serve();
    let id = topology_id(&base);
    for path in [
        "/api/v1/topology/nope".to_owned(),
        format!("/api/v1/topology/{id}/component/nope"),
        "/api/v1/topology/nope/component/sink".to_owned(),
        "/api/v2/whatever".to_owned(),
        "/nothing/here".to_owned(),
        format!("/api/v1/topology/{id}/component/sink/extra"),
    ] {
        let (status, json) = get_json(&format!("{base}{path}"));
        assert_eq!(status, 404, "{path}: {json}");
        assert_eq!(json["error"], "Not Found", "{path}");
        assert!(
            json["errorMessage"].as_str().is_some_and(|m| !m.is_empty()),
            "{path}"
        );
    }
    running.stop();
    running.wait().unwrap();
}

/// Sends raw bytes and returns the response's status line.
fn raw(addr: &str, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.write_all(bytes).unwrap();
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn garbage_and_bursts_are_survived() {
    let (running, server, base) = serve();
    let addr = server.local_addr().to_string();
    assert!(raw(&addr, b"\x16\x03\x01\x02\x00garbage\r\n\r\n").starts_with("HTTP/1.1 400"));
    assert!(raw(&addr, b"POST /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405"));
    assert!(raw(&addr, b"GET /metr").starts_with("HTTP/1.1 408"));
    let mut huge = b"GET / HTTP/1.1\r\nX: ".to_vec();
    huge.resize(40_000, b'a');
    assert!(raw(&addr, &huge).starts_with("HTTP/1.1 431"));
    assert!(raw(&addr, b"GET /%e2%82 HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 400"));

    // A client that trickles its head a byte every 500 ms is cut off by the
    // request's overall deadline (5 s), not kept for as long as it trickles
    // (a per-read timeout alone would keep it for the whole 15 s).
    let mut slow = TcpStream::connect(&addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut writer = slow.try_clone().unwrap();
    let trickle = thread::spawn(move || {
        let _ = writer.write_all(b"GET / HTTP/1.1\r\nX-Slow: ");
        for _ in 0..30 {
            thread::sleep(Duration::from_millis(500));
            if writer.write_all(b"a").is_err() {
                return false;
            }
        }
        true
    });
    let mut answer = String::new();
    let _ = slow.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let finished_trickling = trickle.join().unwrap();
    assert!(
        !finished_trickling,
        "the server kept a trickling client for 15 s"
    );

    // 16 clients x 25 requests at once: every one gets a whole answer, a
    // 200 or (when the handlers are all busy) a 503, and the server is
    // still answering afterwards.
    let clients: Vec<_> = (0..16)
        .map(|i| {
            let base = base.clone();
            thread::spawn(move || {
                let mut ok = 0;
                for j in 0..25 {
                    let path = ["/metrics", "/api/v1/topology/summary", "/", "/nope"][(i + j) % 4];
                    let (status, body) =
                        get(&format!("{base}{path}"), TIMEOUT).unwrap_or_else(|e| panic!("{e}"));
                    assert!(matches!(status, 200 | 404 | 503), "{path}: {status}");
                    assert!(!body.is_empty());
                    ok += usize::from(status != 503);
                }
                ok
            })
        })
        .collect();
    let answered: usize = clients.into_iter().map(|c| c.join().unwrap()).sum();
    assert!(answered > 0);
    let (status, _) = get_json(&format!("{base}/api/v1/topology/summary"));
    assert_eq!(status, 200);
    running.stop();
    running.wait().unwrap();
}

/// Another subsystem's figures, with awkward label values.
struct Link;

impl gale::engine::MetricSource for Link {
    fn collect(&self, out: &mut Vec<gale::engine::Sample>) {
        for (peer, bytes) in [("node-2", 10.0), ("odd \"peer\"\\\n", 3.0)] {
            out.push(gale::engine::Sample {
                name: "gale_link_bytes_out_total".into(),
                help: "Bytes sent to a peer node.\nOne line.".into(),
                kind: gale::engine::SampleKind::Counter,
                labels: vec![("peer".into(), peer.into())],
                value: bytes,
            });
        }
    }
}

#[test]
fn prometheus_output_passes_promtool() {
    let (running, _server, base) = serve();
    running.metrics_handle().register(std::sync::Arc::new(Link));
    wait_until("latencies and errors in /metrics", || {
        let (_, body) = get(&format!("{base}/metrics"), TIMEOUT).unwrap();
        let text = String::from_utf8_lossy(&body);
        text.contains("gale_execute_latency_seconds_count")
            && text.contains("gale_complete_latency_seconds_count")
    });
    let (status, body) = get(&format!("{base}/metrics"), TIMEOUT).unwrap();
    assert_eq!(status, 200);
    let text = String::from_utf8(body).unwrap();
    for needle in [
        "# TYPE gale_emitted_total counter",
        "gale_emitted_total{node=\"local\",topology=\"monitored\",component=\"numbers\",task=\"1\",stream=\"default\"}",
        "# TYPE gale_execute_latency_seconds summary",
        "quantile=\"0.99\"",
        "gale_complete_latency_seconds_count{",
        "gale_input_executed_total{",
        "source_component=\"relay\"",
        "gale_task_capacity{",
        "gale_worker_backpressure_seconds_total{",
        "gale_worker_ring_bytes{",
        "gale_link_bytes_out_total{node=\"local\",topology=\"monitored\",peer=\"node-2\"} 10",
        "peer=\"odd \\\"peer\\\"\\\\\\n\"} 3",
    ] {
        assert!(text.contains(needle), "`{needle}` missing in\n{text}");
    }
    let mut child = tool("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool rejected the output ({}):\n{}{}\n--- output:\n{text}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    running.stop();
    running.wait().unwrap();
}

#[test]
fn live_page_renders_in_headless_chromium() {
    let (running, _server, base) = serve();
    wait_until("executed tuples", || {
        let id = topology_id(&base);
        let (_, t) = get_json(&format!("{base}/api/v1/topology/{id}"));
        t["bolts"][0]["executed"].as_u64() > Some(0)
    });
    let profile = tempdir("chromium-profile");
    tool("chromium");
    // Under coreutils' `timeout`: a watchdog against a hung browser.
    let out = Command::new("timeout")
        .args([
            "120",
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--dump-dom", &format!("{base}/")])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&profile);
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "chromium failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    // The graph: a box per component and the edges between them.
    for c in ["numbers", "relay", "sink"] {
        assert!(
            dom.contains(&format!("class=\"component\" data-component=\"{c}\"")),
            "no box for {c}:\n{dom}"
        );
    }
    assert!(
        dom.contains("data-from=\"numbers\" data-to=\"relay\""),
        "{dom}"
    );
    assert!(
        dom.contains("data-from=\"relay\" data-to=\"sink\""),
        "{dom}"
    );
    assert!(dom.contains("tuples/s") && dom.contains("capacity") && dom.contains("backpressure"));
    // Live numbers: the table's executed count of `sink` is positive.
    let row = dom
        .split("<tr data-component=\"sink\">")
        .nth(1)
        .unwrap_or_else(|| panic!("no table row for sink:\n{dom}"));
    let executed = row
        .split("<td class=\"executed\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .unwrap_or_default()
        .replace(',', "");
    assert!(
        executed.parse::<u64>().is_ok_and(|n| n > 0),
        "executed `{executed}` in\n{row}"
    );
    assert!(
        dom.contains("reported: multiple of ten thousand") || dom.contains("updated "),
        "{dom}"
    );
    running.stop();
    running.wait().unwrap();
}

fn tempdir(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "gale-{what}-{}-{:?}",
        std::process::id(),
        thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
