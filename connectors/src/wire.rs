//! A lean Redis connection for the stream spout's hot path: commands are
//! written as RESP arrays straight into one buffer, replies are read into
//! another and walked in place by a [`Cursor`] (a stream entry's id and
//! field values are slices of the read buffer, with no tree of values in
//! between), and a request can be sent before the reply to the previous
//! one is used, so the server works while the spout emits.
//!
//! Everything the server sends is untrusted: lengths are bounded, every
//! shape is checked, and nothing recurses on the server's say-so (a reply
//! is found complete by counting the items still owed, not by descending).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::ops::Range;
use std::time::Duration;

use redis::{ConnectionAddr, Value as R};

use crate::secret::Endpoint;

/// The longest bulk string accepted (Redis's own `proto-max-bulk-len`
/// default).
const MAX_BULK: usize = 512 << 20;
/// The most items an array may claim (more is a malformed reply).
const MAX_ITEMS: usize = 1 << 28;
/// How deep [`Cursor::value`] follows nested arrays.
const MAX_DEPTH: usize = 16;

/// Why a reply could not be read from the bytes at hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Malformed {
    /// The bytes end before the reply does: read more.
    Short,
    /// The bytes are not a reply this client accepts.
    Bad(String),
}

impl Malformed {
    /// A malformed reply, for `what`.
    pub(crate) fn bad(what: &str) -> Self {
        Malformed::Bad(what.to_owned())
    }

    /// The message (a short reply can only be one cut off).
    pub(crate) fn message(self) -> String {
        match self {
            Malformed::Short => "a reply cut short".to_owned(),
            Malformed::Bad(m) => m,
        }
    }
}

/// Where a [`Cursor::skip_on`] stands: the start of the next item and
/// how many items the reply still owes.
#[derive(Debug, Clone)]
pub(crate) struct Skipping {
    at: usize,
    owed: usize,
    first_error: Option<String>,
}

impl Skipping {
    /// Skipping one reply that starts at `at`.
    pub(crate) fn new(at: usize) -> Self {
        Self {
            at,
            owed: 1,
            first_error: None,
        }
    }
}

/// A read position in a buffer of replies.
#[derive(Debug, Clone)]
pub(crate) struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(b: &'a [u8]) -> Self {
        Self { b, at: 0 }
    }

    /// A cursor at `at` in `b`.
    pub(crate) fn at(b: &'a [u8], at: usize) -> Self {
        Self {
            b,
            at: at.min(b.len()),
        }
    }

    /// Where the cursor is.
    pub(crate) fn pos(&self) -> usize {
        self.at
    }

    /// One header line: its type byte and what follows up to `\r\n`.
    fn line(&mut self) -> Result<(u8, &'a [u8]), Malformed> {
        let rest = &self.b[self.at..];
        let Some(nl) = rest.iter().position(|&c| c == b'\n') else {
            return Err(Malformed::Short);
        };
        if nl < 2 || rest[nl - 1] != b'\r' {
            return Err(Malformed::Bad("a reply line not ending in CRLF".into()));
        }
        self.at += nl + 1;
        Ok((rest[0], &rest[1..nl - 1]))
    }

    /// A length or integer from a header line.
    fn number(s: &[u8]) -> Result<i64, Malformed> {
        let (negative, digits) = match s.split_first() {
            Some((b'-', rest)) => (true, rest),
            _ => (false, s),
        };
        decimal_u64(digits)
            .and_then(|n| i64::try_from(n).ok())
            .map(|n| if negative { -n } else { n })
            .ok_or_else(|| Malformed::Bad(format!("`{}` is not a number", s.escape_ascii())))
    }

    /// A length: `None` for -1 (null), an error for other negatives or
    /// more than `max`.
    fn length(s: &[u8], max: usize) -> Result<Option<usize>, Malformed> {
        match Self::number(s)? {
            -1 => Ok(None),
            n => usize::try_from(n)
                .ok()
                .filter(|&n| n <= max)
                .map(Some)
                .ok_or_else(|| Malformed::Bad(format!("a length of {n}"))),
        }
    }

    /// An error reply's text.
    fn server_error(s: &[u8]) -> Malformed {
        Malformed::Bad(format!(
            "the server answered: {}",
            String::from_utf8_lossy(s)
        ))
    }

    /// An array header: its item count, `None` for a null array (or a
    /// null bulk string, which some commands send for "nothing").
    pub(crate) fn array(&mut self) -> Result<Option<usize>, Malformed> {
        match self.line()? {
            (b'*', n) => Self::length(n, MAX_ITEMS),
            (b'$' | b'_', n) if n == b"-1" || n.is_empty() => Ok(None),
            (b'-', e) => Err(Self::server_error(e)),
            (t, _) => Err(Malformed::Bad(format!(
                "expected an array, got a `{}` reply",
                t.escape_ascii()
            ))),
        }
    }

    /// A bulk or simple string as a range of the buffer, `None` for null.
    pub(crate) fn bulk_range(&mut self) -> Result<Option<Range<usize>>, Malformed> {
        let base = self.b.as_ptr() as usize;
        Ok(self.bulk()?.map(|s| {
            let start = s.as_ptr() as usize - base;
            start..start + s.len()
        }))
    }

    /// A bulk or simple string, `None` for null.
    pub(crate) fn bulk(&mut self) -> Result<Option<&'a [u8]>, Malformed> {
        match self.line()? {
            (b'$', n) => {
                let Some(n) = Self::length(n, MAX_BULK)? else {
                    return Ok(None);
                };
                let end = self.at + n;
                if self.b.len() < end + 2 {
                    return Err(Malformed::Short);
                }
                if &self.b[end..end + 2] != b"\r\n" {
                    return Err(Malformed::Bad("a bulk string not ending in CRLF".into()));
                }
                let s = &self.b[self.at..end];
                self.at = end + 2;
                Ok(Some(s))
            }
            (b'+', s) => Ok(Some(s)),
            (b'*', n) if n == b"-1" => Ok(None),
            (b'-', e) => Err(Self::server_error(e)),
            (t, _) => Err(Malformed::Bad(format!(
                "expected a string, got a `{}` reply",
                t.escape_ascii()
            ))),
        }
    }

    /// Steps over one whole reply, whatever it is; an error reply is
    /// stepped over too (its text is returned) so a pipeline stays in
    /// step.
    pub(crate) fn skip(&mut self) -> Result<Option<String>, Malformed> {
        let mut st = Skipping::new(self.at);
        self.skip_on(&mut st)?;
        Ok(st.first_error)
    }

    /// [`skip`](Self::skip) that can go on where it stopped: on
    /// [`Malformed::Short`], `st` holds the start of the item that was cut
    /// off and what was still owed, so the next call (over more bytes of
    /// the same buffer) does not walk the reply from its start again.
    pub(crate) fn skip_on(&mut self, st: &mut Skipping) -> Result<(), Malformed> {
        self.at = st.at;
        while st.owed > 0 {
            st.at = self.at;
            let (t, s) = self.line()?;
            let mut owed = st.owed - 1;
            match t {
                b'+' | b':' | b',' | b'#' | b'_' | b'(' => {}
                b'-' => {
                    st.first_error
                        .get_or_insert_with(|| String::from_utf8_lossy(s).into_owned());
                }
                b'$' | b'!' | b'=' => {
                    if let Some(n) = Self::length(s, MAX_BULK)? {
                        let end = self.at + n + 2;
                        if self.b.len() < end {
                            return Err(Malformed::Short);
                        }
                        if &self.b[end - 2..end] != b"\r\n" {
                            return Err(Malformed::bad("a bulk string not ending in CRLF"));
                        }
                        self.at = end;
                    }
                }
                b'*' | b'~' | b'>' => {
                    owed = owed.saturating_add(Self::length(s, MAX_ITEMS)?.unwrap_or(0));
                }
                b'%' | b'|' => {
                    owed = owed.saturating_add(2 * Self::length(s, MAX_ITEMS)?.unwrap_or(0));
                }
                t => {
                    return Err(Malformed::Bad(format!(
                        "a reply of unknown type `{}`",
                        t.escape_ascii()
                    )))
                }
            }
            st.owed = owed;
        }
        st.at = self.at;
        Ok(())
    }

    /// One reply as the `redis` crate's value (for the rare replies read
    /// with its helpers: `XINFO`, `XAUTOCLAIM`); an error reply is an
    /// error.
    pub(crate) fn value(&mut self) -> Result<R, Malformed> {
        self.value_at(0)
    }

    fn value_at(&mut self, depth: usize) -> Result<R, Malformed> {
        if depth > MAX_DEPTH {
            return Err(Malformed::Bad("a reply nested too deep".into()));
        }
        let start = self.at;
        let (t, s) = self.line()?;
        Ok(match t {
            b'+' => R::SimpleString(String::from_utf8_lossy(s).into_owned()),
            b':' => R::Int(Self::number(s)?),
            b'-' => return Err(Self::server_error(s)),
            b'$' => {
                self.at = start;
                match self.bulk()? {
                    Some(b) => R::BulkString(b.to_vec()),
                    None => R::Nil,
                }
            }
            b'*' => match Self::length(s, MAX_ITEMS)? {
                None => R::Nil,
                Some(n) => {
                    let mut items = Vec::with_capacity(n.min(1024));
                    for _ in 0..n {
                        items.push(self.value_at(depth + 1)?);
                    }
                    R::Array(items)
                }
            },
            t => {
                return Err(Malformed::Bad(format!(
                    "a reply of unexpected type `{}`",
                    t.escape_ascii()
                )))
            }
        })
    }
}

/// Decimal digits (at least one, nothing else) as a number, `None` on
/// overflow.
pub(crate) fn decimal_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &c in digits {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(d))?;
    }
    Some(n)
}

/// `n` in decimal, in the end of `buf`.
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

/// The socket under a [`Wire`].
enum Socket {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(std::os::unix::net::UnixStream),
}

impl Socket {
    fn io(&mut self) -> &mut dyn ReadWrite {
        match self {
            Socket::Tcp(s) => s,
            #[cfg(unix)]
            Socket::Unix(s) => s,
        }
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// A connection to a Redis server with its own write and read buffers.
pub(crate) struct Wire {
    socket: Socket,
    out: Vec<u8>,
    inb: Vec<u8>,
    /// The replies of the latest [`recv`](Self::recv), as ranges of
    /// `inb`.
    replies: Vec<Range<usize>>,
    /// Where the bytes after the latest replies start in `inb`.
    used: usize,
    /// The bytes of `inb` read from the socket.
    filled: usize,
}

impl Wire {
    /// Connects to `target` (`redis://[user[:password]@]host:port[/db]` or
    /// `redis+unix:///path`; the password from the URL or the endpoint),
    /// with `timeout` on connect, read and write; authenticates, selects
    /// the database and asks `PING`, so wrong credentials show here.
    pub(crate) fn open(target: &Endpoint, timeout: Duration) -> Result<Self, String> {
        let url = match &target.password {
            None => target.url.clone(),
            Some(pw) => crate::secret::with_password(&target.url, pw)?,
        };
        let client = redis::Client::open(url.as_str()).map_err(|e| e.to_string())?;
        let info = client.get_connection_info();
        let socket = match info.addr() {
            ConnectionAddr::Tcp(host, port) => {
                let addrs = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), *port))
                    .map_err(|e| format!("{host}:{port}: {e}"))?;
                let mut last = format!("{host}:{port}: no address");
                let mut found = None;
                for a in addrs {
                    match TcpStream::connect_timeout(&a, timeout) {
                        Ok(s) => {
                            found = Some(s);
                            break;
                        }
                        Err(e) => last = format!("{a}: {e}"),
                    }
                }
                let s = found.ok_or(last)?;
                s.set_nodelay(true).map_err(|e| e.to_string())?;
                s.set_read_timeout(Some(timeout))
                    .map_err(|e| e.to_string())?;
                s.set_write_timeout(Some(timeout))
                    .map_err(|e| e.to_string())?;
                Socket::Tcp(s)
            }
            #[cfg(unix)]
            ConnectionAddr::Unix(path) => {
                let s = std::os::unix::net::UnixStream::connect(path)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                s.set_read_timeout(Some(timeout))
                    .map_err(|e| e.to_string())?;
                s.set_write_timeout(Some(timeout))
                    .map_err(|e| e.to_string())?;
                Socket::Unix(s)
            }
            _ => return Err("TLS is not supported".to_owned()),
        };
        let mut w = Self {
            socket,
            out: Vec::with_capacity(64 << 10),
            inb: vec![0; 256 << 10],
            replies: Vec::new(),
            used: 0,
            filled: 0,
        };
        let settings = info.redis_settings();
        let mut asked = 0;
        if let Some(pw) = settings.password() {
            match settings.username() {
                Some(user) => w.command(&[b"AUTH", user.as_bytes(), pw.as_bytes()]),
                None => w.command(&[b"AUTH", pw.as_bytes()]),
            }
            asked += 1;
        }
        if settings.db() != 0 {
            let db = settings.db().to_string();
            w.command(&[b"SELECT", db.as_bytes()]);
            asked += 1;
        }
        w.command(&[b"PING"]);
        w.send()?;
        w.recv(asked + 1)?;
        for i in 0..=asked {
            if let Some(e) = Cursor::new(w.reply(i)).skip().map_err(Malformed::message)? {
                let authenticating = i == 0 && settings.password().is_some();
                return Err(if authenticating || e.starts_with("NOAUTH") {
                    format!("authentication failed: {e}")
                } else {
                    e
                });
            }
        }
        Ok(w)
    }

    /// Starts a command of `args` arguments (then [`arg`](Self::arg) each).
    pub(crate) fn begin(&mut self, args: usize) {
        self.out.push(b'*');
        self.number(args as u64);
    }

    fn number(&mut self, n: u64) {
        let mut buf = [0u8; 20];
        self.out.extend_from_slice(decimal(n, &mut buf));
        self.out.extend_from_slice(b"\r\n");
    }

    /// One argument of the command begun.
    pub(crate) fn arg(&mut self, a: &[u8]) {
        self.out.push(b'$');
        self.number(a.len() as u64);
        self.out.extend_from_slice(a);
        self.out.extend_from_slice(b"\r\n");
    }

    /// An argument that is a number, written without an allocation.
    pub(crate) fn arg_u64(&mut self, n: u64) {
        let mut buf = [0u8; 20];
        let digits = decimal(n, &mut buf);
        self.out.push(b'$');
        self.number(digits.len() as u64);
        self.out.extend_from_slice(digits);
        self.out.extend_from_slice(b"\r\n");
    }

    /// A stream id argument (`ms-seq`).
    pub(crate) fn arg_id(&mut self, ms: u64, seq: u64) {
        let (mut a, mut b) = ([0u8; 20], [0u8; 20]);
        let (ms, seq) = (decimal(ms, &mut a), decimal(seq, &mut b));
        self.out.push(b'$');
        self.number((ms.len() + 1 + seq.len()) as u64);
        self.out.extend_from_slice(ms);
        self.out.push(b'-');
        self.out.extend_from_slice(seq);
        self.out.extend_from_slice(b"\r\n");
    }

    /// A whole command.
    pub(crate) fn command(&mut self, args: &[&[u8]]) {
        self.begin(args.len());
        for a in args {
            self.arg(a);
        }
    }

    /// Sends the commands written so far.
    pub(crate) fn send(&mut self) -> Result<(), String> {
        let r = self.socket.io().write_all(&self.out);
        self.out.clear();
        r.map_err(|e| e.to_string())
    }

    /// Reads `n` whole replies (after dropping those of the previous
    /// call); they are then [`reply`](Self::reply)`(0..n)`.
    pub(crate) fn recv(&mut self, n: usize) -> Result<(), String> {
        // `inb` keeps its length (its bytes past `filled` are room to
        // read into), so a read costs no clearing of the room.
        self.inb.copy_within(self.used..self.filled, 0);
        self.filled -= self.used;
        self.used = 0;
        self.replies.clear();
        let mut at = 0;
        let mut st = Skipping::new(0);
        while self.replies.len() < n {
            let mut c = Cursor::new(&self.inb[..self.filled]);
            match c.skip_on(&mut st) {
                Ok(()) => {
                    self.replies.push(at..c.pos());
                    at = c.pos();
                    st = Skipping::new(at);
                }
                Err(Malformed::Short) => {
                    if self.inb.len() - self.filled < (16 << 10) {
                        let grown = (self.inb.len() * 2).max(64 << 10);
                        self.inb.resize(grown, 0);
                    }
                    match self.socket.io().read(&mut self.inb[self.filled..]) {
                        Ok(0) => return Err("the server closed the connection".to_owned()),
                        Ok(got) => self.filled += got,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e.to_string()),
                    }
                }
                Err(Malformed::Bad(e)) => return Err(e),
            }
        }
        self.used = at;
        Ok(())
    }

    /// The bytes of reply `i` of the latest [`recv`](Self::recv).
    pub(crate) fn reply(&self, i: usize) -> &[u8] {
        self.replies
            .get(i)
            .map_or(&[][..], |r| &self.inb[r.clone()])
    }

    /// The bytes read, for ranges found by a [`Cursor`] over a reply.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.inb[..self.filled]
    }

    /// Where reply `i` starts in [`bytes`](Self::bytes).
    pub(crate) fn reply_start(&self, i: usize) -> usize {
        self.replies.get(i).map_or(0, |r| r.start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_is_walked_in_place_and_a_short_one_asks_for_more() {
        let reply =
            b"*1\r\n*2\r\n$3\r\nkey\r\n*1\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$4\r\nline\r\n$3\r\na b\r\n";
        let mut c = Cursor::new(reply);
        assert_eq!(c.skip(), Ok(None));
        assert_eq!(c.pos(), reply.len());
        for cut in 0..reply.len() {
            assert_eq!(
                Cursor::new(&reply[..cut]).skip(),
                Err(Malformed::Short),
                "{cut}"
            );
            // Going on where a cut-off walk stopped ends where one walk
            // over the whole reply does.
            let mut st = Skipping::new(0);
            assert_eq!(
                Cursor::new(&reply[..cut]).skip_on(&mut st),
                Err(Malformed::Short)
            );
            let mut c = Cursor::new(reply);
            assert_eq!(c.skip_on(&mut st), Ok(()), "{cut}");
            assert_eq!(c.pos(), reply.len(), "{cut}");
        }
        let mut c = Cursor::new(reply);
        assert_eq!(c.array(), Ok(Some(1)));
        assert_eq!(c.array(), Ok(Some(2)));
        assert_eq!(c.bulk(), Ok(Some(&b"key"[..])));
        assert_eq!(c.array(), Ok(Some(1)));
        assert_eq!(c.array(), Ok(Some(2)));
        assert_eq!(c.bulk(), Ok(Some(&b"1-0"[..])));
        assert_eq!(c.array(), Ok(Some(2)));
        assert_eq!(c.bulk(), Ok(Some(&b"line"[..])));
        assert_eq!(c.bulk(), Ok(Some(&b"a b"[..])));
        assert_eq!(Cursor::new(b"*-1\r\n").array(), Ok(None));
        assert_eq!(
            Cursor::new(b"-ERR no\r\n").skip(),
            Ok(Some("ERR no".to_owned()))
        );
    }

    #[test]
    fn malformed_replies_are_errors_not_panics() {
        for bad in [
            &b"?3\r\n"[..],
            b"*x\r\n",
            b"*-5\r\n",
            b"$3\r\nabcd\r\n",
            b"$99999999999\r\n",
            b":1\n",
            b"*99999999999999\r\n",
        ] {
            assert!(
                matches!(Cursor::new(bad).skip(), Err(Malformed::Bad(_))),
                "{}",
                bad.escape_ascii()
            );
        }
        // Deep nesting neither recurses in skip nor in value past the
        // limit.
        let deep = b"*1\r\n".repeat(100_000);
        assert_eq!(Cursor::new(&deep).skip(), Err(Malformed::Short));
        let mut deep = b"*1\r\n".repeat(100);
        deep.extend_from_slice(b":1\r\n");
        assert_eq!(Cursor::new(&deep).skip(), Ok(None));
        assert!(matches!(Cursor::new(&deep).value(), Err(Malformed::Bad(_))));
        assert_eq!(
            Cursor::new(b"*2\r\n:3\r\n$1\r\nx\r\n").value(),
            Ok(R::Array(vec![R::Int(3), R::BulkString(b"x".to_vec())]))
        );
    }
}
