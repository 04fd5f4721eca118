//! A small HTTP/1.1 server for the monitoring endpoint, and the client
//! `gale stats` uses. Requests are parsed with `httparse`; every
//! connection carries one request (`Connection: close`). The server runs a
//! fixed pool of handler threads behind a bounded queue: a burst beyond it
//! gets `503` from the accepting thread, so neither threads nor open
//! connections grow without bound. Bytes from clients are untrusted:
//! oversized, slow or malformed requests get a `4xx` and are closed.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Handler threads.
const WORKERS: usize = 4;
/// Accepted connections waiting for a handler.
const QUEUE: usize = 64;
/// Largest request head accepted.
const MAX_HEAD: usize = 16 * 1024;
/// Time a client gets to send its request, and to take the response.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// A parsed request: method and path (query string removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `HEAD`...
    pub method: String,
    /// The path, percent-decoded, without its query string.
    pub path: String,
}

/// A response to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// Body.
    pub body: Vec<u8>,
}

impl Response {
    /// A `200` with `body` of type `content_type`.
    pub fn ok(content_type: &'static str, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status: 200,
            content_type,
            body: body.into(),
        }
    }

    /// A JSON error `{"error": reason, "errorMessage": message}` (Storm
    /// UI's shape).
    pub fn error(status: u16, message: &str) -> Self {
        let body = serde_json::json!({
            "error": reason(status),
            "errorMessage": message,
        });
        Self {
            status,
            content_type: "application/json",
            body: body.to_string().into_bytes(),
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// The OS error.
        source: io::Error,
    },
    /// A thread could not be spawned.
    #[error("cannot spawn the metrics server's threads: {0}")]
    Spawn(io::Error),
}

/// A running server; dropping it stops it.
pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

/// Answers one request (runs on the handler threads).
pub type Handler = Arc<dyn Fn(&Request) -> Response + Send + Sync>;

impl Server {
    /// Listens on `addr` and answers requests with `handler`.
    pub fn start(
        addr: impl ToSocketAddrs + std::fmt::Debug,
        handler: Handler,
    ) -> Result<Self, ServeError> {
        let shown = format!("{addr:?}");
        let listener = TcpListener::bind(&addr).map_err(|source| ServeError::Bind {
            addr: shown.clone(),
            source,
        })?;
        let local = listener.local_addr().map_err(|source| ServeError::Bind {
            addr: shown,
            source,
        })?;
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::sync_channel::<TcpStream>(QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        let mut threads = Vec::with_capacity(WORKERS + 1);
        for i in 0..WORKERS {
            let (rx, handler) = (Arc::clone(&rx), Arc::clone(&handler));
            let spawned = thread::Builder::new()
                .name(format!("gale-http-{i}"))
                .spawn(move || loop {
                    let next = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    let Ok(stream) = next else { return };
                    serve(stream, &*handler);
                });
            threads.push(spawned.map_err(ServeError::Spawn)?);
        }
        let accept_stop = Arc::clone(&stop);
        let spawned = thread::Builder::new()
            .name("gale-http-accept".into())
            .spawn(move || accept(&listener, &tx, &accept_stop));
        threads.push(spawned.map_err(ServeError::Spawn)?);
        tracing::info!(addr = %local, "metrics server listening");
        Ok(Self {
            addr: local,
            stop,
            threads,
        })
    }

    /// The address it listens on (with the real port when 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SYNC: Release pairs with the Acquire load in `accept`.
        self.stop.store(true, Ordering::Release);
        // Wake the accepting thread; once it returns the queue's sender is
        // dropped and the handlers finish.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn accept(listener: &TcpListener, queue: &SyncSender<TcpStream>, stop: &AtomicBool) {
    for stream in listener.incoming() {
        // SYNC: Acquire pairs with the Release store in `Server::drop`.
        if stop.load(Ordering::Acquire) {
            return;
        }
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("metrics server: accept failed: {e}");
                // Out of descriptors, for instance: do not spin.
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        match queue.try_send(stream) {
            Ok(()) => {}
            Err(TrySendError::Full(mut stream)) => {
                let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
                let _ = write_response(&mut stream, &Response::error(503, "busy, retry"), false);
            }
            Err(TrySendError::Disconnected(_)) => return,
        }
    }
}

/// Reads one request, answers it and closes the connection.
fn serve(mut stream: TcpStream, handler: &(dyn Fn(&Request) -> Response + Send + Sync)) {
    let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
    let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
    let peer = stream.peer_addr().ok();
    let mut reader = Deadline {
        stream: &mut stream,
        until: std::time::Instant::now() + IO_TIMEOUT,
    };
    let (response, head_only) = match read_request(&mut reader) {
        Ok(request) => {
            let head = request.method == "HEAD";
            let response = if request.method == "GET" || head {
                handler(&request)
            } else {
                Response::error(405, "only GET and HEAD are served")
            };
            (response, head)
        }
        Err(e) => {
            tracing::debug!(?peer, "metrics server: bad request: {e}");
            (Response::error(e.status(), &e.to_string()), false)
        }
    };
    let _ = write_response(&mut stream, &response, head_only);
    let _ = stream.shutdown(Shutdown::Write);
}

/// A stream whose reads all end by one deadline: a client that trickles
/// its request a byte at a time holds a handler thread for at most
/// `IO_TIMEOUT` in all, not per read.
struct Deadline<'a> {
    stream: &'a mut TcpStream,
    until: std::time::Instant,
}

impl Read for Deadline<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self
            .until
            .saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the request took too long",
            ));
        }
        self.stream.set_read_timeout(Some(left))?;
        self.stream.read(buf)
    }
}

/// What was wrong with a request.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The head is not valid HTTP/1.x.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// The head is larger than the limit.
    #[error("request head larger than {MAX_HEAD} bytes")]
    TooLarge,
    /// The connection closed or timed out before the head was complete.
    #[error("incomplete request: {0}")]
    Incomplete(io::Error),
}

impl RequestError {
    fn status(&self) -> u16 {
        match self {
            Self::Malformed(_) => 400,
            Self::TooLarge => 431,
            Self::Incomplete(_) => 408,
        }
    }
}

/// Reads and parses a request head (a body, if any, is ignored).
pub fn read_request(stream: &mut impl Read) -> Result<Request, RequestError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = match stream.read(&mut chunk) {
            Ok(0) => {
                let eof = io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed");
                return Err(RequestError::Incomplete(eof));
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(RequestError::Incomplete(e)),
        };
        buf.extend_from_slice(&chunk[..n]);
        if let Some(request) = parse_request(&buf)? {
            return Ok(request);
        }
        if buf.len() > MAX_HEAD {
            return Err(RequestError::TooLarge);
        }
    }
}

/// Parses a request head; `None` if more bytes are needed.
pub fn parse_request(buf: &[u8]) -> Result<Option<Request>, RequestError> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Partial) => Ok(None),
        Ok(httparse::Status::Complete(_)) => {
            let method = req.method.unwrap_or_default().to_owned();
            let target = req.path.unwrap_or_default();
            let path = target.split(['?', '#']).next().unwrap_or_default();
            if !path.starts_with('/') {
                return Err(RequestError::Malformed(format!("bad target `{target}`")));
            }
            let path = percent_decode(path)
                .ok_or_else(|| RequestError::Malformed(format!("bad escape in `{target}`")))?;
            Ok(Some(Request { method, path }))
        }
        Err(httparse::Error::TooManyHeaders) => Err(RequestError::TooLarge),
        Err(e) => Err(RequestError::Malformed(e.to_string())),
    }
}

/// Decodes `%XX` escapes; `None` if one is bad or the result is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn write_response(w: &mut impl Write, r: &Response, head_only: bool) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        r.status,
        reason(r.status),
        r.content_type,
        r.body.len()
    );
    w.write_all(head.as_bytes())?;
    if !head_only {
        w.write_all(&r.body)?;
    }
    w.flush()
}

/// Why a `GET` failed.
#[derive(Debug, thiserror::Error)]
pub enum GetError {
    /// The URL is not `http://host:port/path`.
    #[error("`{0}` is not an http://HOST:PORT/PATH URL")]
    BadUrl(String),
    /// Connecting, sending or receiving failed.
    #[error("{url}: {source}")]
    Io {
        /// The URL.
        url: String,
        /// The error.
        source: io::Error,
    },
    /// The response is not valid HTTP.
    #[error("{url}: malformed response: {reason}")]
    Malformed {
        /// The URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
}

/// Splits `http://host:port/path` into (`host:port`, `/path`).
pub fn split_url(url: &str) -> Result<(String, String), GetError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| GetError::BadUrl(url.to_owned()))?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if host.is_empty() {
        return Err(GetError::BadUrl(url.to_owned()));
    }
    let host = if host.contains(':') && !host.ends_with(']') {
        host.to_owned()
    } else {
        format!("{host}:80")
    };
    Ok((host, path.to_owned()))
}

/// `GET url` (plain HTTP): the status and body.
pub fn get(url: &str, timeout: Duration) -> Result<(u16, Vec<u8>), GetError> {
    const MAX_BODY: usize = 64 << 20;
    let (host, path) = split_url(url)?;
    let io = |source| GetError::Io {
        url: url.to_owned(),
        source,
    };
    let addr = host
        .to_socket_addrs()
        .map_err(io)?
        .next()
        .ok_or_else(|| io(io::Error::new(io::ErrorKind::NotFound, "no address")))?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(io)?;
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nAccept: */*\r\n\r\n"
    )
    .map_err(io)?;
    let mut buf = Vec::new();
    stream
        .take(MAX_BODY as u64)
        .read_to_end(&mut buf)
        .map_err(io)?;
    let malformed = |reason: String| GetError::Malformed {
        url: url.to_owned(),
        reason,
    };
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let body_start = match resp.parse(&buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Err(malformed("truncated head".into())),
        Err(e) => return Err(malformed(e.to_string())),
    };
    let status = resp.code.unwrap_or_default();
    let length = resp
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| {
            std::str::from_utf8(h.value)
                .ok()?
                .trim()
                .parse::<usize>()
                .ok()
        });
    let body = &buf[body_start..];
    let body = match length {
        Some(n) if n <= body.len() => &body[..n],
        Some(n) => {
            return Err(malformed(format!(
                "body of {} bytes, expected {n}",
                body.len()
            )))
        }
        None => body,
    };
    Ok((status, body.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_or_fail_cleanly() {
        let ok = parse_request(b"GET /api/v1/x%20y?z=1 HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(
            (ok.method.as_str(), ok.path.as_str()),
            ("GET", "/api/v1/x y")
        );
        assert!(parse_request(b"GET / HTTP/1.1\r\nHost:").unwrap().is_none());
        for bad in [
            &b"\x00\x01\x02garbage\r\n\r\n"[..],
            b"GET nopath HTTP/1.1\r\n\r\n",
            b"GET /%zz HTTP/1.1\r\n\r\n",
            b"GET /%ff HTTP/1.1\r\n\r\n",
            b"GET / HTTP/9.9\r\n\r\n",
        ] {
            assert!(parse_request(bad).is_err(), "{bad:?}");
        }
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..100 {
            many.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert!(matches!(parse_request(&many), Err(RequestError::TooLarge)));
    }

    #[test]
    fn urls_split() {
        let (h, p) = split_url("http://127.0.0.1:8080/api").unwrap();
        assert_eq!((h.as_str(), p.as_str()), ("127.0.0.1:8080", "/api"));
        let (h, p) = split_url("http://localhost").unwrap();
        assert_eq!((h.as_str(), p.as_str()), ("localhost:80", "/"));
        assert!(split_url("https://x").is_err());
        assert!(split_url("http:///x").is_err());
    }
}
