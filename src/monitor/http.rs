//! A small HTTP/1.1 server for the monitoring endpoint, and the client
//! `gale stats` uses. Requests are parsed with `httparse`; every
//! connection carries one request (`Connection: close`).
//!
//! One thread serves every connection from a `mio` poller: it reads
//! request heads as their bytes arrive and writes responses as the
//! sockets take them, so a client that trickles its request or never reads
//! its response holds a few kilobytes of buffer, never a thread, and
//! scrapes from other clients are served meanwhile. Bounds: a request head
//! of [`MAX_HEAD`] bytes, [`IO_TIMEOUT`] for a whole exchange,
//! [`MAX_PER_ADDR`] connections per client address and [`MAX_CONNS`] in
//! all. A connection over the per-address or total share is still read
//! (so the client gets a complete answer, not a reset) and answered `503`;
//! past twice the total it is closed at once. With a bearer token
//! configured, every request must carry `Authorization: Bearer TOKEN`
//! (`401` otherwise). Bytes from clients are untrusted: oversized, slow or
//! malformed requests get a `4xx` and are closed.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream as MioStream};
use mio::{Events, Interest, Poll, Token, Waker};

/// Largest request head accepted.
pub const MAX_HEAD: usize = 16 * 1024;
/// Time a client gets to send its request and take the response.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections served at once from one client address; more get `503`.
pub const MAX_PER_ADDR: usize = 16;
/// Connections served at once in all; more get `503`, and past twice this
/// many they are closed unanswered.
pub const MAX_CONNS: usize = 256;

/// A parsed request: method and path (query string removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `HEAD`...
    pub method: String,
    /// The path, percent-decoded, without its query string.
    pub path: String,
    /// The bearer token of an `Authorization: Bearer ...` header, if any.
    pub bearer: Option<String>,
    /// The value of an `Authorization: Gale ...` header (a control
    /// request's proof, see [`control`](super::control)), if any.
    pub gale_auth: Option<String>,
    /// The query string (after `?`, not decoded), empty if none.
    pub query: String,
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
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        502 => "Bad Gateway",
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
    /// The thread or its poller could not be set up.
    #[error("cannot start the metrics server's thread: {0}")]
    Spawn(io::Error),
}

/// A running server; dropping it stops it.
pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
    thread: Option<JoinHandle<()>>,
}

/// Answers one request (runs on the server's thread: keep it short).
pub type Handler = Arc<dyn Fn(&Request) -> Response + Send + Sync>;

const LISTENER: Token = Token(usize::MAX - 1);
const WAKER: Token = Token(usize::MAX);

impl Server {
    /// Listens on `addr` and answers requests with `handler`; with
    /// `token`, only requests that carry it as a bearer token.
    pub fn start(
        addr: impl ToSocketAddrs + std::fmt::Debug,
        handler: Handler,
        token: Option<String>,
    ) -> Result<Self, ServeError> {
        let shown = format!("{addr:?}");
        let bind = |source| ServeError::Bind {
            addr: shown.clone(),
            source,
        };
        let std_listener = std::net::TcpListener::bind(&addr).map_err(bind)?;
        let local = std_listener.local_addr().map_err(bind)?;
        std_listener.set_nonblocking(true).map_err(bind)?;
        let mut listener = TcpListener::from_std(std_listener);
        let poll = Poll::new().map_err(ServeError::Spawn)?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)
            .map_err(ServeError::Spawn)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER).map_err(ServeError::Spawn)?);
        let stop = Arc::new(AtomicBool::new(false));
        let mut server = Poller {
            poll,
            listener,
            conns: Vec::new(),
            per_addr: HashMap::new(),
            open: 0,
            handler,
            token,
        };
        let thread_stop = Arc::clone(&stop);
        let thread = thread::Builder::new()
            .name("gale-http".into())
            .spawn(move || server.run(&thread_stop))
            .map_err(ServeError::Spawn)?;
        tracing::info!(addr = %local, "metrics server listening");
        Ok(Self {
            addr: local,
            stop,
            waker,
            thread: Some(thread),
        })
    }

    /// The address it listens on (with the real port when 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SYNC: Release pairs with the Acquire load in `Poller::run`.
        self.stop.store(true, Ordering::Release);
        let _ = self.waker.wake();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One connection: reading its request head, then writing its response.
struct Conn {
    stream: MioStream,
    ip: IpAddr,
    head: Vec<u8>,
    /// The response, once known; `sent` bytes of it are out.
    out: Option<Vec<u8>>,
    sent: usize,
    deadline: Instant,
    /// Over its address's or the total share: answered 503 once read.
    busy: bool,
}

/// The server's thread: the poller and every connection.
struct Poller {
    poll: Poll,
    listener: TcpListener,
    conns: Vec<Option<Conn>>,
    per_addr: HashMap<IpAddr, usize>,
    open: usize,
    handler: Handler,
    token: Option<String>,
}

impl Poller {
    fn run(&mut self, stop: &AtomicBool) {
        let mut events = Events::with_capacity(256);
        // SYNC: Acquire pairs with the Release store in `Server::drop`.
        while !stop.load(Ordering::Acquire) {
            if let Err(e) = self
                .poll
                .poll(&mut events, Some(Duration::from_millis(200)))
            {
                if e.kind() != io::ErrorKind::Interrupted {
                    tracing::warn!("metrics server: poll failed: {e}");
                    thread::sleep(Duration::from_millis(10));
                }
                continue;
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(),
                    WAKER => {}
                    Token(key) => self.service(key),
                }
            }
            self.expire(Instant::now());
        }
    }

    fn accept(&mut self) {
        loop {
            let (mut stream, remote) = match self.listener.accept() {
                Ok(s) => s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Out of descriptors, for instance: the rest wait in the
                    // backlog.
                    tracing::warn!("metrics server: accept failed: {e}");
                    return;
                }
            };
            if self.open >= 2 * MAX_CONNS {
                drop(stream);
                continue;
            }
            let ip = remote.ip();
            let mine = self.per_addr.entry(ip).or_insert(0);
            let busy = *mine >= MAX_PER_ADDR || self.open >= MAX_CONNS;
            let key = match self.conns.iter().position(Option::is_none) {
                Some(k) => k,
                None => {
                    self.conns.push(None);
                    self.conns.len() - 1
                }
            };
            if self
                .poll
                .registry()
                .register(&mut stream, Token(key), Interest::READABLE)
                .is_err()
            {
                continue;
            }
            *mine += 1;
            self.open += 1;
            self.conns[key] = Some(Conn {
                stream,
                ip,
                head: Vec::new(),
                out: None,
                sent: 0,
                deadline: Instant::now() + IO_TIMEOUT,
                busy,
            });
            // Data may be there already.
            self.service(key);
        }
    }

    /// Moves a connection's bytes: reads its head, then writes its
    /// response; closes it when done or broken.
    fn service(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(key).and_then(Option::as_mut) else {
            return;
        };
        if conn.out.is_none() {
            let mut chunk = [0u8; 4096];
            let mut eof = false;
            loop {
                match conn.stream.read(&mut chunk) {
                    Ok(0) if conn.head.is_empty() => return self.close(key),
                    Ok(0) => {
                        eof = true;
                        break;
                    }
                    Ok(n) => {
                        conn.head.extend_from_slice(&chunk[..n]);
                        if conn.head.len() > MAX_HEAD + chunk.len() {
                            break;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return self.close(key),
                }
            }
            let response = match parse_request(&conn.head) {
                Ok(None) if eof => Some((
                    Response::error(408, "incomplete request: connection closed"),
                    false,
                )),
                Ok(None) if conn.head.len() <= MAX_HEAD => return,
                Ok(None) => Some((
                    Response::error(431, &RequestError::TooLarge.to_string()),
                    false,
                )),
                Err(e) => Some((Response::error(e.status(), &e.to_string()), false)),
                Ok(Some(_)) if conn.busy => Some((Response::error(503, "busy, retry"), false)),
                Ok(Some(request)) => Some(answer(&request, &*self.handler, self.token.as_deref())),
            };
            if let Some((response, head_only)) = response {
                let mut out = Vec::new();
                let _ = write_response(&mut out, &response, head_only);
                conn.out = Some(out);
                let _ = self.poll.registry().reregister(
                    &mut conn.stream,
                    Token(key),
                    Interest::WRITABLE,
                );
            }
        }
        let conn = self.conns[key].as_mut().expect("checked above");
        let out = conn.out.as_ref().expect("set above");
        while conn.sent < out.len() {
            match conn.stream.write(&out[conn.sent..]) {
                Ok(0) => return self.close(key),
                Ok(n) => conn.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.close(key),
            }
        }
        let _ = conn.stream.shutdown(Shutdown::Write);
        self.close(key);
    }

    /// Answers connections past their deadline with `408` (if the socket
    /// takes it at once) and closes them.
    fn expire(&mut self, now: Instant) {
        for key in 0..self.conns.len() {
            let Some(conn) = self.conns[key].as_mut() else {
                continue;
            };
            if now < conn.deadline {
                continue;
            }
            if conn.out.is_none() {
                let mut out = Vec::new();
                let _ = write_response(
                    &mut out,
                    &Response::error(408, "the request took too long"),
                    false,
                );
                let _ = conn.stream.write(&out);
            }
            self.close(key);
        }
    }

    fn close(&mut self, key: usize) {
        if let Some(mut conn) = self.conns[key].take() {
            let _ = self.poll.registry().deregister(&mut conn.stream);
            self.open -= 1;
            if let Some(n) = self.per_addr.get_mut(&conn.ip) {
                *n -= 1;
                if *n == 0 {
                    self.per_addr.remove(&conn.ip);
                }
            }
        }
    }
}

/// The response to a complete request, and whether it is a `HEAD`.
fn answer(
    request: &Request,
    handler: &(dyn Fn(&Request) -> Response + Send + Sync),
    token: Option<&str>,
) -> (Response, bool) {
    let head = request.method == "HEAD";
    if request.method == "POST" || request.path == "/api/v1/control/nonce" {
        // Control requests (and the nonces they prove the secret on):
        // each carries its own proof on the cluster secret, checked by
        // the handler (the bearer token is for reads).
        return (handler(request), head);
    }
    if let Some(token) = token {
        let given = request.bearer.as_deref().unwrap_or_default();
        if !constant_time_eq(given.as_bytes(), token.as_bytes()) {
            return (
                Response::error(
                    401,
                    "a bearer token is required (Authorization: Bearer ...)",
                ),
                head,
            );
        }
    }
    let response = if request.method == "GET" || head {
        handler(request)
    } else {
        Response::error(405, "only GET, HEAD and (control) POST are served")
    };
    (response, head)
}

/// Compares without an early exit on the first differing byte.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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
            let auth = req
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("authorization"))
                .and_then(|h| std::str::from_utf8(h.value).ok())
                .map(str::trim);
            let scheme = |name: &str| {
                auth.and_then(|v| v.strip_prefix(name))
                    .map(|t| t.trim().to_owned())
            };
            let (bearer, gale_auth) = (scheme("Bearer "), scheme("Gale "));
            let method = req.method.unwrap_or_default().to_owned();
            let target = req.path.unwrap_or_default();
            let without_fragment = target.split('#').next().unwrap_or_default();
            let (path, query) = without_fragment
                .split_once('?')
                .unwrap_or((without_fragment, ""));
            if !path.starts_with('/') {
                return Err(RequestError::Malformed(format!("bad target `{target}`")));
            }
            let path = percent_decode(path)
                .ok_or_else(|| RequestError::Malformed(format!("bad escape in `{target}`")))?;
            Ok(Some(Request {
                method,
                path,
                bearer,
                gale_auth,
                query: query.to_owned(),
            }))
        }
        Err(httparse::Error::TooManyHeaders) => Err(RequestError::TooLarge),
        Err(e) => Err(RequestError::Malformed(e.to_string())),
    }
}

/// Percent-encodes a path segment (all but unreserved characters).
pub fn percent_encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
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
    get_with_token(url, timeout, None)
}

/// [`get`] with `Authorization: Bearer TOKEN` when a token is given.
pub fn get_with_token(
    url: &str,
    timeout: Duration,
    token: Option<&str>,
) -> Result<(u16, Vec<u8>), GetError> {
    let auth = token.map_or_else(String::new, |t| format!("Bearer {t}"));
    request("GET", url, timeout, &auth)
}

/// `METHOD url` (plain HTTP, no body) with `Authorization: AUTH` unless
/// `auth` is empty: the status and body.
pub fn request(
    method: &str,
    url: &str,
    timeout: Duration,
    auth: &str,
) -> Result<(u16, Vec<u8>), GetError> {
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
    let auth = match auth {
        "" => String::new(),
        a => format!("Authorization: {a}\r\n"),
    };
    let length = if method == "POST" {
        "Content-Length: 0\r\n"
    } else {
        ""
    };
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nAccept: */*\r\n{auth}{length}\r\n"
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
