//! The mio (epoll) backend: one poll loop on the link's I/O thread,
//! edge-triggered readiness, non-blocking reads and writes straight into and
//! out of the connections' buffers.

use std::io::{self, IoSlice, Read, Write};
use std::net::TcpListener as StdListener;
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest as MioInterest, Poll, Token};
use tracing::warn;

use super::core::{Close, Conn, ConnKey, Idle, LinkCore, Wait};

const LISTENER: Token = Token(usize::MAX);
const DOORBELL: Token = Token(usize::MAX - 1);
/// How long `stop` keeps sending what the workers already wrote.
const FLUSH_TIME: Duration = Duration::from_secs(1);

struct MioConn {
    stream: TcpStream,
    conn: Conn,
    readable: bool,
    writable: bool,
}

/// The running backend.
pub(crate) struct MioLink {
    poll: Poll,
    listener: TcpListener,
    conns: Vec<Option<MioConn>>,
    core: LinkCore,
}

impl MioLink {
    /// Sets up the poller around an already bound listener.
    pub fn new(core: LinkCore, listener: StdListener) -> io::Result<MioLink> {
        listener.set_nonblocking(true)?;
        let mut listener = TcpListener::from_std(listener);
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut listener, LISTENER, MioInterest::READABLE)?;
        if let Some(bell) = core.doorbell() {
            poll.registry().register(
                &mut mio::unix::SourceFd(&bell.as_fd().as_raw_fd()),
                DOORBELL,
                MioInterest::READABLE,
            )?;
        }
        Ok(MioLink {
            poll,
            listener,
            conns: Vec::new(),
            core,
        })
    }

    /// Runs until `Link::stop`.
    pub fn run(mut self) {
        let mut events = Events::with_capacity(256);
        let mut dials = Vec::new();
        let mut idle = Idle::new();
        let mut wait = Wait {
            time: Duration::ZERO,
            doorbell: false,
        };
        let mut stop_at: Option<Instant> = None;
        loop {
            if stop_at.is_none()
                && self
                    .core
                    .shared
                    .stop
                    .load(std::sync::atomic::Ordering::Relaxed)
            {
                stop_at = Some(Instant::now() + FLUSH_TIME);
                self.core.begin_stop();
            }
            // Sleep long only with the doorbell armed.
            let parked = wait.doorbell && self.core.park();
            let mut time = if parked { Idle::LONG } else { wait.time };
            // epoll waits in milliseconds: shorter waits sleep, then look.
            if !time.is_zero() && time < Idle::LONG {
                std::thread::sleep(time);
                time = Duration::ZERO;
            }
            if let Err(e) = self.poll.poll(&mut events, Some(time)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    warn!(node = self.core.node(), "link: poll failed: {e}");
                }
            }
            if parked {
                self.core.unpark();
            }
            let now = Instant::now();
            for ev in events.iter() {
                if ev.token() == DOORBELL {
                    // Readable, so the read does not block; it resets the
                    // counter. The records are picked up below.
                    if let Some(bell) = self.core.doorbell() {
                        bell.drain();
                    }
                    continue;
                }
                if ev.token() == LISTENER {
                    if stop_at.is_none() {
                        self.accept(now);
                    }
                    continue;
                }
                if let Some(Some(c)) = self.conns.get_mut(ev.token().0) {
                    c.readable |= ev.is_readable() || ev.is_read_closed() || ev.is_error();
                    c.writable |= ev.is_writable() || ev.is_write_closed() || ev.is_error();
                }
            }
            if let Some(at) = stop_at {
                let pending = self.conns.iter().flatten().any(|c| c.conn.stop_pending());
                if !(pending || self.core.outbound_pending()) || now >= at {
                    break;
                }
            } else {
                self.core.tick(now, &mut dials);
                for &p in &dials {
                    self.dial(p, now);
                }
            }
            let mut progress = false;
            for key in 0..self.conns.len() {
                progress |= self.service(key, now);
            }
            while let Some(key) = self.core.take_to_close() {
                self.close(key, Close::normal("replaced by a newer connection"), now);
            }
            wait = idle.next(progress);
        }
        let now = Instant::now();
        for key in 0..self.conns.len() {
            if self.conns[key].is_some() {
                self.close(key, Close::normal("link stopped"), now);
            }
        }
    }

    fn slot(&mut self) -> ConnKey {
        match self.conns.iter().position(Option::is_none) {
            Some(key) => key,
            None => {
                self.conns.push(None);
                self.conns.len() - 1
            }
        }
    }

    fn accept(&mut self, now: Instant) {
        loop {
            match self.listener.accept() {
                Ok((stream, remote)) => {
                    let key = self.slot();
                    if let Err(e) = self.add(key, stream, remote, None, now) {
                        self.core.rejected(remote, &e);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // E.g. EMFILE: leave the rest in the backlog for later.
                    warn!(node = self.core.node(), "link: accept failed: {e}");
                    return;
                }
            }
        }
    }

    fn dial(&mut self, p: usize, now: Instant) {
        let addr = self.core.peers[p].addr;
        match self.core.dial_socket(p) {
            Ok(stream) => {
                let key = self.slot();
                if let Err(e) = self.add(key, stream, addr, Some(p), now) {
                    self.core.dial_failed(p, &e, now);
                }
            }
            Err(e) => self.core.dial_failed(p, &e, now),
        }
    }

    fn add(
        &mut self,
        key: ConnKey,
        mut stream: TcpStream,
        remote: std::net::SocketAddr,
        dial: Option<usize>,
        now: Instant,
    ) -> io::Result<()> {
        #[cfg(target_os = "linux")]
        super::sys::tune(&stream)?;
        #[cfg(not(target_os = "linux"))]
        stream.set_nodelay(true)?;
        self.poll.registry().register(
            &mut stream,
            Token(key),
            MioInterest::READABLE | MioInterest::WRITABLE,
        )?;
        let conn = self.core.new_conn(key, remote, dial, now)?;
        self.conns[key] = Some(MioConn {
            stream,
            conn,
            // An accepted socket may already hold data; a dialing one
            // reports writable when the connect completes.
            readable: dial.is_none(),
            writable: dial.is_none(),
        });
        Ok(())
    }

    /// Pumps one connection and moves its bytes; returns whether anything
    /// moved.
    fn service(&mut self, key: ConnKey, now: Instant) -> bool {
        let mut progress = false;
        for _ in 0..16 {
            let Some(c) = self.conns[key].as_mut() else {
                return progress;
            };
            let interest = match self.core.pump(&mut c.conn, now) {
                Ok(i) => i,
                Err(close) => {
                    self.close(key, close, now);
                    return progress;
                }
            };
            let mut moved = interest.progress;
            if interest.write && c.writable {
                // One gathered write for up to two frames. std sends with
                // MSG_NOSIGNAL for single writes; for writev a closed peer
                // raises SIGPIPE, which the Rust runtime ignores.
                let [a, b] = c.conn.send_bufs();
                match c.stream.write_vectored(&[IoSlice::new(a), IoSlice::new(b)]) {
                    Ok(0) => {
                        self.close(key, Close::normal("connection closed while sending"), now);
                        return progress;
                    }
                    Ok(n) => {
                        self.core.sent(&mut c.conn, n);
                        moved = true;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => c.writable = false,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => moved = true,
                    Err(e) => {
                        self.close(key, Close::normal(format!("send failed: {e}")), now);
                        return progress;
                    }
                }
            }
            if interest.read && c.readable {
                match c.stream.read(c.conn.recv_space()) {
                    Ok(0) => {
                        let close = c.conn.eof_reason();
                        self.close(key, close, now);
                        return progress;
                    }
                    Ok(n) => {
                        c.conn.received(n);
                        moved = true;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => c.readable = false,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => moved = true,
                    Err(e) => {
                        self.close(key, Close::normal(format!("receive failed: {e}")), now);
                        return progress;
                    }
                }
            }
            if !moved {
                return progress;
            }
            progress = true;
        }
        progress
    }

    fn close(&mut self, key: ConnKey, close: Close, now: Instant) {
        if let Some(mut c) = self.conns[key].take() {
            let _ = self.poll.registry().deregister(&mut c.stream);
            self.core.closed(&c.conn, close, now);
        }
    }
}
