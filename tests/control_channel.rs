//! The control channel in one process: a real topology behind a real
//! endpoint; deactivate calls the spouts' `deactivate` and stops
//! `next_tuple`, activate resumes; a request without the secret, with the
//! wrong one, or replayed is refused; kill drains and stops the run.

mod util;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use gale::monitor::control::{self, ControlConfig};
use gale::monitor::MetricsServer;
use gale::prelude::*;

const SECRET: &[u8] = b"an-in-process-test-secret-of-32-bytes!";

/// What the spout saw: next_tuple calls, activates, deactivates.
#[derive(Default)]
struct Seen {
    polls: AtomicU64,
    activates: AtomicU64,
    deactivates: AtomicU64,
}

struct Watched(Arc<Seen>, u64);

impl Spout for Watched {
    fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
        d.declare(["n"]);
    }
    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        self.0.polls.fetch_add(1, Ordering::Relaxed);
        self.1 += 1;
        out.emit_with_id(&[Value::I64(self.1 as i64)], self.1);
        thread::sleep(Duration::from_millis(1));
    }
    fn activate(&mut self) {
        self.0.activates.fetch_add(1, Ordering::Relaxed);
    }
    fn deactivate(&mut self) {
        self.0.deactivates.fetch_add(1, Ordering::Relaxed);
    }
}

struct Ack;

impl Bolt for Ack {
    fn declare_output_fields(&self, _d: &mut OutputFieldsDeclarer) {}
    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        out.ack(input);
    }
}

fn eventually(what: &str, f: impl Fn() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < util::WATCHDOG, "{what} did not happen");
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn the_control_channel_deactivates_activates_refuses_strangers_and_kills() {
    let seen = Arc::new(Seen::default());
    let spout_seen = Arc::clone(&seen);
    let mut b = TopologyBuilder::new("controlled");
    b.set_spout("s", move || Watched(Arc::clone(&spout_seen), 0), 1);
    b.set_bolt("a", || Ack, 1).shuffle_grouping("s");
    let running = LocalCluster::new(util::config(util::WATCHDOG))
        .submit(b.build().unwrap())
        .unwrap();
    let server = MetricsServer::start("127.0.0.1:0").unwrap();
    server.add(running.metrics_handle());
    server.add_control(running.control_handle());
    server.set_control(ControlConfig {
        node: 0,
        secret: SECRET.to_vec(),
        peers: Vec::new(),
    });
    let addr = server.local_addr().to_string();
    let t = Duration::from_secs(2);
    let polls = || seen.polls.load(Ordering::Relaxed);
    eventually("polls", || polls() > 0);
    assert_eq!(
        seen.activates.load(Ordering::Relaxed),
        1,
        "activate after open"
    );

    // Deactivate: `deactivate` once, then no more next_tuple.
    let (code, doc) =
        control::send(&addr, SECRET, "/api/v1/topology/controlled/deactivate", t).unwrap();
    assert_eq!(code, 200, "{doc}");
    assert_eq!(doc["nodes"]["0"], "ok");
    eventually("deactivate", || {
        seen.deactivates.load(Ordering::Relaxed) == 1
    });
    let stopped_at = polls();
    thread::sleep(Duration::from_millis(300));
    assert_eq!(polls(), stopped_at, "next_tuple called while inactive");
    let status = control::node_status(&addr, t, None).unwrap();
    assert_eq!(status["topologies"][0]["status"], "INACTIVE");
    // Every tree emitted before completed (in flight still acked).
    eventually("acks", || {
        let s = &control::node_status(&addr, t, None).unwrap()["topologies"][0];
        s["spouts_acked"] == s["spouts_emitted"]
    });

    // Strangers: no proof, the wrong secret, a replayed proof.
    let url = format!("http://{addr}/api/v1/topology/controlled/activate");
    let (code, _) = gale::monitor::http::request("POST", &url, t, "").unwrap();
    assert_eq!(code, 401);
    let (code, doc) = control::send(
        &addr,
        b"not-the-secret-not-the-secret-xx",
        "/api/v1/topology/controlled/activate",
        t,
    )
    .unwrap();
    assert_eq!(code, 401, "{doc}");
    assert!(
        doc["errorMessage"]
            .as_str()
            .unwrap()
            .contains("wrong proof"),
        "{doc}"
    );
    let (code, body) =
        gale::monitor::get(&format!("http://{addr}/api/v1/control/nonce"), t).unwrap();
    assert_eq!(code, 200);
    let nonce = serde_json::from_slice::<serde_json::Value>(&body).unwrap()["nonce"]
        .as_str()
        .unwrap()
        .to_owned();
    let bytes: Vec<u8> = (0..nonce.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&nonce[i..i + 2], 16).unwrap())
        .collect();
    let path = "/api/v1/topology/controlled/activate";
    let proof = gale::transport::link::control_proof(SECRET, "POST", path, &bytes);
    let proof: String = proof.iter().map(|b| format!("{b:02x}")).collect();
    let auth = format!("Gale nonce={nonce}, proof={proof}");
    let url = format!("http://{addr}{path}");
    let (code, _) = gale::monitor::http::request("POST", &url, t, &auth).unwrap();
    assert_eq!(code, 200, "the first use of a proof");
    let (code, _) = gale::monitor::http::request("POST", &url, t, &auth).unwrap();
    assert_eq!(code, 401, "a replayed proof");

    // That activate went through: `activate` again and polls resume.
    eventually("activate", || seen.activates.load(Ordering::Relaxed) == 2);
    eventually("polls resume", || polls() > stopped_at);

    // Rebalance needs a `gale node`, which restarts its topology
    // in-process: said so (after the proof), not a 404.
    let (code, doc) =
        control::send(&addr, SECRET, "/api/v1/topology/controlled/rebalance/0", t).unwrap();
    assert_eq!(code, 501, "{doc}");
    assert!(
        doc["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("cannot rebalance")),
        "{doc}"
    );

    // Kill with no wait: deactivated, drained, the run ends.
    let (code, doc) =
        control::send(&addr, SECRET, "/api/v1/topology/controlled/kill/0", t).unwrap();
    assert_eq!(code, 200, "{doc}");
    let stats = running.wait().unwrap();
    assert!(
        stats.elapsed < util::WATCHDOG,
        "the kill did not stop the run"
    );
    let s = &stats.components["s"].counters;
    assert_eq!(s.acked + s.failed, s.emitted, "{s:?}");
}
