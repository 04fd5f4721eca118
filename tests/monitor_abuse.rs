//! The monitoring endpoint under abuse, over real sockets on 127.0.0.1:
//! slow clients do not hold up scrapes, a busy server reads a request
//! before it answers 503, and a bearer token is enforced.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use gale::monitor::{get, MetricsServer};

const TIMEOUT: Duration = Duration::from_secs(30);

/// Sends `bytes`, half-closes, and returns the whole answer.
fn exchange(addr: &str, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.write_all(bytes).unwrap();
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut out = Vec::new();
    s.read_to_end(&mut out)
        .expect("a complete answer, not a reset");
    String::from_utf8_lossy(&out).into_owned()
}

/// Four clients that send half a request and never finish it (the old
/// server's four handler threads all waited on them) leave every one of
/// 16 scrapes answered within 100 ms.
#[test]
fn four_slow_clients_leave_scrapes_fast() {
    let server = MetricsServer::start("127.0.0.1:0").unwrap();
    let addr = server.local_addr().to_string();
    let slow: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut s = TcpStream::connect(&addr).unwrap();
            s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let mut slowest = Duration::ZERO;
    for _ in 0..16 {
        let start = Instant::now();
        let (status, _) = get(&format!("http://{addr}/metrics"), TIMEOUT).unwrap();
        slowest = slowest.max(start.elapsed());
        assert_eq!(status, 200);
    }
    assert!(
        slowest < Duration::from_millis(100),
        "the slowest of 16 scrapes took {slowest:?}"
    );
    drop(slow);
}

/// Past its share of connections from one address, a client still gets a
/// complete 503 (its request was read first), not a reset.
#[test]
fn a_busy_server_reads_the_request_then_answers_503() {
    let server = MetricsServer::start("127.0.0.1:0").unwrap();
    let addr = server.local_addr().to_string();
    // Hold the address's share with silent connections.
    let held: Vec<TcpStream> = (0..gale::monitor::MAX_PER_ADDR)
        .map(|_| TcpStream::connect(&addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let answer = exchange(&addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("busy, retry"), "{answer}");
    drop(held);
    std::thread::sleep(Duration::from_millis(100));
    let (status, _) = get(&format!("http://{addr}/metrics"), TIMEOUT).unwrap();
    assert_eq!(status, 200);
}

#[test]
fn a_bearer_token_is_required_when_configured() {
    let server =
        MetricsServer::start_with_token("127.0.0.1:0", Some("s3cret-token".into())).unwrap();
    let addr = server.local_addr().to_string();
    let none = exchange(&addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(none.starts_with("HTTP/1.1 401"), "{none}");
    let wrong = exchange(
        &addr,
        b"GET /metrics HTTP/1.1\r\nAuthorization: Bearer s3cret-tokeN\r\n\r\n",
    );
    assert!(wrong.starts_with("HTTP/1.1 401"), "{wrong}");
    let right = exchange(
        &addr,
        b"GET /metrics HTTP/1.1\r\nAuthorization: Bearer s3cret-token\r\n\r\n",
    );
    assert!(right.starts_with("HTTP/1.1 200"), "{right}");
    // The client `gale stats` uses sends it too.
    let url = format!("http://{addr}/api/v1/topology/summary");
    let (status, _) = gale::monitor::get_with_token(&url, TIMEOUT, Some("s3cret-token")).unwrap();
    assert_eq!(status, 200);
    let (status, _) = get(&url, TIMEOUT).unwrap();
    assert_eq!(status, 401);
}
