//! The io_uring backend: one ring per link, one receive and one send in
//! flight per connection, straight into and out of the connection's own
//! buffers (so frames are validated in place, without a copy), an accept in
//! flight on the listener, and a read of the doorbell's eventfd in flight
//! (it completes when a worker publishes while the thread sleeps; see
//! `Idle`).
//!
//! System calls: all submissions of a loop round go to the kernel in one
//! `io_uring_enter`, and a round enters only when it has something to
//! submit, must wait, or the kernel deferred completion work to it
//! (cooperative task running, 5.19+): sends on a socket with room complete
//! inside the enter that submits them, so a busy round costs one enter per
//! frame. A wait carries its timeout in the enter itself (`EXT_ARG`, 5.11+;
//! without it the link falls back to mio), so there is no timeout operation
//! to submit, complete or re-arm.
//!
//! All the link's `unsafe` is in this file. The kernel writes into a receive
//! buffer and reads a send buffer while the operation is in flight, so:
//!
//! - a connection (and its buffers) is dropped only once it has no operation
//!   in flight (`UConn::in_flight`); closing first shuts the socket down and
//!   cancels, then waits for the completions;
//! - while a receive is in flight, `Conn::recv_busy` is set and the core does
//!   not touch the receive buffer (no processing, no compaction, no growth);
//! - while a send is in flight, the bytes it covers are not changed: the
//!   handshake output never reallocates (`HS_OUT_CAPACITY`) and is only
//!   appended to, and a frame is not refilled until it has been sent
//!   (`OutFrames` hands out only a frame that is not queued); the gather list
//!   of a `sendmsg` is boxed in its connection;
//! - the buffers are heap allocations owned by the connection, so moving the
//!   `UConn` inside the connection table does not move them;
//! - the doorbell's 8-byte read buffer is boxed in `UringLink`, read by
//!   nothing while `bell_reading`, and kept until the read completed (it is
//!   cancelled at stop like the accept).
//!
//! Multishot receive with provided buffers is not used: the kernel would pick
//! buffers per completion, and frames that straddle them would need a copy
//! into an aligned buffer before validation; receiving into the frame buffer
//! itself is already zero-copy.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use io_uring::{cqueue, opcode, squeue, types, IoUring, Probe};
use tracing::warn;

use super::core::{Close, Conn, ConnKey, Idle, LinkCore};

/// How long `stop` keeps sending what the workers already wrote.
const FLUSH_TIME: Duration = Duration::from_secs(1);
const ENTRIES: u32 = 256;

/// Operation kinds in the low byte of `user_data`; the connection key is
/// above it.
const OP_RECV: u64 = 1;
const OP_SEND: u64 = 2;
const OP_CONNECT: u64 = 3;
const OP_CANCEL: u64 = 4;
const OP_ACCEPT: u64 = 5;
const OP_BELL: u64 = 6;
const NO_CONN: u64 = u64::MAX >> 8;

fn user_data(key: u64, op: u64) -> u64 {
    (key << 8) | op
}

/// Creates a ring and checks the kernel supports every operation we use.
/// Fails (and the link falls back to mio) when `io_uring_setup` is refused:
/// ENOSYS on old kernels or under seccomp, EPERM when disabled by the
/// `kernel.io_uring_disabled` sysctl.
pub(crate) fn setup() -> io::Result<IoUring> {
    // Cooperative task running: completions are posted when this thread
    // next enters the kernel rather than by interrupting it (5.19+; older
    // kernels refuse the flag, and get a plain ring).
    let ring = IoUring::builder()
        .setup_coop_taskrun()
        .setup_taskrun_flag()
        .build(ENTRIES)
        .or_else(|_| IoUring::new(ENTRIES))?;
    if !ring.params().is_feature_ext_arg() {
        // Waits carry their timeout in the enter call (5.11+).
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the kernel's io_uring cannot wait with a timeout (no EXT_ARG)",
        ));
    }
    let mut probe = Probe::new();
    ring.submitter().register_probe(&mut probe)?;
    for (name, code) in [
        ("recv", opcode::Recv::CODE),
        ("send", opcode::Send::CODE),
        ("sendmsg", opcode::SendMsg::CODE),
        ("accept", opcode::Accept::CODE),
        ("poll_add", opcode::PollAdd::CODE),
        ("read", opcode::Read::CODE),
        ("async_cancel", opcode::AsyncCancel::CODE),
    ] {
        if !probe.is_supported(code) {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("the kernel's io_uring lacks {name}"),
            ));
        }
    }
    Ok(ring)
}

/// The gather list of a `sendmsg` in flight; the kernel reads it (and the
/// buffers it points at) until the operation completes. Boxed in its
/// connection, so it does not move while in flight.
struct Gather {
    iov: [libc::iovec; 2],
    msg: libc::msghdr,
}

// SAFETY: the raw pointers in `iov` and `msg` point into the connection's own
// buffers and at `iov` itself; a `Gather` is only used by the I/O thread that
// owns the connection, after the whole link moved to it.
unsafe impl Send for Gather {}

impl Gather {
    fn new() -> Box<Gather> {
        // SAFETY: iovec and msghdr are plain C structs for which all zero
        // bytes (null pointers, zero lengths) is a valid value.
        Box::new(unsafe { std::mem::zeroed() })
    }

    /// Points the list at `a` then `b`; returns the message header to submit.
    fn point_at(&mut self, a: &[u8], b: &[u8]) -> *const libc::msghdr {
        self.iov = [
            libc::iovec {
                iov_base: a.as_ptr().cast_mut().cast(),
                iov_len: a.len(),
            },
            libc::iovec {
                iov_base: b.as_ptr().cast_mut().cast(),
                iov_len: b.len(),
            },
        ];
        self.msg.msg_iov = self.iov.as_mut_ptr();
        self.msg.msg_iovlen = 2;
        &self.msg
    }
}

struct UConn {
    stream: TcpStream,
    gather: Box<Gather>,
    conn: Conn,
    /// Bytes of the send in flight, if any.
    send_len: Option<usize>,
    /// A connect is waiting for the socket to become writable.
    connecting: bool,
    /// Set once closing began: waiting for in-flight operations to return.
    closing: Option<Close>,
}

impl UConn {
    fn in_flight(&self) -> bool {
        self.conn.recv_busy || self.send_len.is_some() || self.connecting
    }
}

/// The running backend.
pub(crate) struct UringLink {
    ring: Box<IoUring>,
    listener: TcpListener,
    conns: Vec<Option<UConn>>,
    core: LinkCore,
    accepting: bool,
    /// Where the doorbell's read puts the eventfd's counter; the kernel
    /// writes it while `bell_reading`, and it lives as long as the ring.
    bell_buf: Box<[u8; 8]>,
    /// A read of the doorbell's eventfd is in flight.
    bell_reading: bool,
    /// The doorbell's read failed: poll on timers instead.
    bell_failed: bool,
    waits: Idle,
    cqes: Vec<cqueue::Entry>,
    enter_failures: u64,
}

impl UringLink {
    /// Sets up the backend around an already bound listener.
    pub fn new(core: LinkCore, listener: TcpListener, ring: Box<IoUring>) -> io::Result<UringLink> {
        // io_uring honours O_NONBLOCK by failing with EAGAIN instead of
        // waiting; the listener and sockets stay blocking.
        listener.set_nonblocking(false)?;
        Ok(UringLink {
            ring,
            listener,
            conns: Vec::new(),
            core,
            accepting: false,
            bell_buf: Box::new([0; 8]),
            bell_reading: false,
            bell_failed: false,
            waits: Idle::new(),
            cqes: Vec::new(),
            enter_failures: 0,
        })
    }

    /// Runs until `Link::stop`, then waits for every operation in flight.
    pub fn run(mut self) {
        let mut dials = Vec::new();
        let mut progress = true;
        let mut stop_at: Option<Instant> = None;
        loop {
            let now = Instant::now();
            if stop_at.is_none()
                && self
                    .core
                    .shared
                    .stop
                    .load(std::sync::atomic::Ordering::Relaxed)
            {
                stop_at = Some(now + FLUSH_TIME);
                self.core.begin_stop();
            }
            if let Some(at) = stop_at {
                let pending = self
                    .conns
                    .iter()
                    .flatten()
                    .any(|c| c.closing.is_none() && c.conn.stop_pending());
                if !(pending || self.core.outbound_pending()) || now >= at {
                    break;
                }
            } else {
                self.core.tick(now, &mut dials);
                for &p in &dials {
                    self.dial(p, now);
                }
                if !self.accepting {
                    let entry = opcode::Accept::new(
                        types::Fd(self.listener.as_raw_fd()),
                        std::ptr::null_mut(),
                        std::ptr::null_mut(),
                    )
                    .flags(libc::SOCK_CLOEXEC)
                    .build()
                    .user_data(user_data(NO_CONN, OP_ACCEPT));
                    self.accepting = self.push(entry);
                }
                self.arm_doorbell();
            }
            let mut moved = false;
            for key in 0..self.conns.len() {
                moved |= self.service(key, now);
            }
            while let Some(key) = self.core.take_to_close() {
                self.begin_close(key, Close::normal("replaced by a newer connection"));
            }
            progress = self.submit_and_complete(progress || moved);
        }
        // Close everything and wait until the kernel has returned every
        // buffer (the accept is cancelled too).
        for key in 0..self.conns.len() {
            if self.conns[key]
                .as_ref()
                .is_some_and(|c| c.closing.is_none())
            {
                self.begin_close(key, Close::normal("link stopped"));
            }
        }
        if self.accepting {
            self.cancel(user_data(NO_CONN, OP_ACCEPT));
        }
        if self.bell_reading {
            self.cancel(user_data(NO_CONN, OP_BELL));
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.conns.iter().any(Option::is_some) || self.accepting || self.bell_reading {
            self.submit_and_complete(false);
            if Instant::now() > deadline {
                // Cannot happen with a working kernel: shutdown and cancel
                // complete every operation. Leak rather than free buffers
                // the kernel may still write.
                tracing::error!(
                    node = self.core.node(),
                    "link: io_uring operations did not complete; leaking their buffers"
                );
                std::mem::forget(self);
                return;
            }
        }
    }

    /// Queues one submission; returns false if the queue is full even after
    /// submitting.
    fn push(&mut self, entry: squeue::Entry) -> bool {
        for _ in 0..2 {
            // SAFETY: every entry built in this file points only at memory
            // that outlives the operation: connection buffers (see the module
            // comment), the boxed doorbell buffer owned by `self` and kept
            // until all operations completed, or nothing (accept with null
            // address, poll, cancel).
            if unsafe { self.ring.submission().push(&entry) }.is_ok() {
                return true;
            }
            if let Err(e) = self.ring.submit() {
                warn!(node = self.core.node(), "link: io_uring submit failed: {e}");
            }
        }
        false
    }

    /// Keeps a read of the doorbell's eventfd in flight: it completes when
    /// a worker rings (publishes into an empty ring while we sleep).
    fn arm_doorbell(&mut self) {
        if self.bell_reading || self.bell_failed {
            return;
        }
        let Some(fd) = self.core.doorbell().map(|b| b.as_fd().as_raw_fd()) else {
            return;
        };
        let entry = opcode::Read::new(types::Fd(fd), self.bell_buf.as_mut_ptr(), 8)
            .build()
            .user_data(user_data(NO_CONN, OP_BELL));
        self.bell_reading = self.push(entry);
    }

    fn cancel(&mut self, target: u64) {
        let entry = opcode::AsyncCancel::new(target)
            .build()
            .user_data(user_data(NO_CONN, OP_CANCEL));
        self.push(entry);
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

    fn dial(&mut self, p: usize, now: Instant) {
        let addr = self.core.peers[p].addr;
        // A non-blocking connect, then a poll for writability: no socket
        // address buffer has to outlive a submission.
        let stream = match self.core.dial_socket(p) {
            Ok(s) => TcpStream::from(s),
            Err(e) => return self.core.dial_failed(p, &e, now),
        };
        let key = self.slot();
        let conn = match self.core.new_conn(key, addr, Some(p), now) {
            Ok(c) => c,
            Err(e) => return self.core.dial_failed(p, &e, now),
        };
        let entry = opcode::PollAdd::new(types::Fd(stream.as_raw_fd()), libc::POLLOUT as u32)
            .build()
            .user_data(user_data(key as u64, OP_CONNECT));
        self.conns[key] = Some(UConn {
            stream,
            gather: Gather::new(),
            conn,
            send_len: None,
            connecting: true,
            closing: None,
        });
        if !self.push(entry) {
            let c = self.conns[key].as_mut().expect("just set");
            c.connecting = false;
            self.begin_close(key, Close::normal("io_uring submission queue full"));
        }
    }

    fn accepted(&mut self, fd: i32, now: Instant) {
        // SAFETY: a successful accept completion returns a new file
        // descriptor that nothing else owns.
        let stream = TcpStream::from(unsafe { OwnedFd::from_raw_fd(fd) });
        let remote = stream
            .peer_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        if let Err(e) = super::sys::tune(&stream) {
            warn!(node = self.core.node(), %remote, "link: cannot set socket options: {e}");
        }
        let key = self.slot();
        match self.core.new_conn(key, remote, None, now) {
            Ok(conn) => {
                self.conns[key] = Some(UConn {
                    stream,
                    gather: Gather::new(),
                    conn,
                    send_len: None,
                    connecting: false,
                    closing: None,
                })
            }
            Err(e) => self.core.rejected(remote, &e),
        }
    }

    /// Pumps one connection and submits its receive and send; returns
    /// whether records moved through shared memory.
    fn service(&mut self, key: ConnKey, now: Instant) -> bool {
        let Some(c) = self.conns[key].as_mut() else {
            return false;
        };
        if c.closing.is_some() || c.connecting {
            return false;
        }
        let interest = match self.core.pump(&mut c.conn, now) {
            Ok(i) => i,
            Err(close) => {
                self.begin_close(key, close);
                return false;
            }
        };
        let fd = types::Fd(c.stream.as_raw_fd());
        let mut entries = [None, None];
        if interest.write && c.send_len.is_none() {
            let [a, b] = c.conn.send_bufs();
            let entry = if b.is_empty() {
                let len = a.len().min(u32::MAX as usize);
                c.send_len = Some(len);
                opcode::Send::new(fd, a.as_ptr(), len as u32)
                    .flags(libc::MSG_NOSIGNAL)
                    .build()
            } else {
                // Two frames: one gathered sendmsg.
                c.send_len = Some(a.len() + b.len());
                opcode::SendMsg::new(fd, c.gather.point_at(a, b))
                    .flags(libc::MSG_NOSIGNAL as u32)
                    .build()
            };
            entries[0] = Some(entry.user_data(user_data(key as u64, OP_SEND)));
        }
        if interest.read && !c.conn.recv_busy {
            let buf = c.conn.recv_space();
            let len = buf.len().min(u32::MAX as usize);
            entries[1] = Some(
                opcode::Recv::new(fd, buf.as_mut_ptr(), len as u32)
                    .build()
                    .user_data(user_data(key as u64, OP_RECV)),
            );
            c.conn.recv_busy = true;
        }
        for (i, entry) in entries.into_iter().enumerate() {
            if let Some(entry) = entry {
                if !self.push(entry) {
                    let c = self.conns[key].as_mut().expect("present");
                    if i == 0 {
                        c.send_len = None;
                    } else {
                        c.conn.recv_busy = false;
                    }
                }
            }
        }
        interest.progress
    }

    /// Starts closing: shut the socket down so operations in flight
    /// complete, and free the connection once none is left.
    fn begin_close(&mut self, key: ConnKey, close: Close) {
        let Some(c) = self.conns[key].as_mut() else {
            return;
        };
        if c.closing.is_some() {
            return;
        }
        let _ = c.stream.shutdown(std::net::Shutdown::Both);
        let connecting = c.connecting;
        c.closing = Some(close);
        if connecting {
            self.cancel(user_data(key as u64, OP_CONNECT));
        }
        self.finish_close(key);
    }

    fn finish_close(&mut self, key: ConnKey) {
        let done = self.conns[key]
            .as_ref()
            .is_some_and(|c| c.closing.is_some() && !c.in_flight());
        if done {
            let mut c = self.conns[key].take().expect("checked");
            let close = c.closing.take().expect("checked");
            self.core.closed(&c.conn, close, Instant::now());
        }
    }

    /// Submits what was queued, waits up to the idle time if nothing moved
    /// in the last round, and handles completions. Returns whether any
    /// completion moved bytes. Enters the kernel only when there is
    /// something to submit, a wait, or completion work the kernel deferred
    /// to us (cooperative task running): a busy round whose operations
    /// already completed costs no system call.
    fn submit_and_complete(&mut self, busy: bool) -> bool {
        let wait = self.waits.next(busy);
        // Sleep long only with the doorbell armed and its read in flight.
        let parked = wait.doorbell && self.bell_reading && self.core.park();
        let wait = if parked { Idle::LONG } else { wait.time };
        let queued = !self.ring.submission().is_empty();
        let deferred = self.ring.submission().taskrun();
        let ready = !self.ring.completion().is_empty();
        let result = if !wait.is_zero() && !ready {
            // The timeout travels with the enter (EXT_ARG): no timeout
            // operation to submit, complete or cancel.
            let ts = types::Timespec::from(wait);
            let args = types::SubmitArgs::new().timespec(&ts);
            self.ring.submitter().submit_with_args(1, &args)
        } else if queued || deferred {
            self.ring.submit()
        } else {
            Ok(0)
        };
        if let Err(e) = result {
            let code = e.raw_os_error();
            if code != Some(libc::EINTR) && code != Some(libc::EBUSY) && code != Some(libc::ETIME) {
                // Logged at the 1st, 2nd, 4th, 8th... failure: a kernel that
                // refuses every enter must not flood the log.
                self.enter_failures += 1;
                if self.enter_failures.is_power_of_two() {
                    warn!(
                        node = self.core.node(),
                        failures = self.enter_failures,
                        "link: io_uring_enter failed: {e}"
                    );
                }
            }
        }
        if parked {
            self.core.unpark();
        }
        let mut cqes = std::mem::take(&mut self.cqes);
        cqes.extend(self.ring.completion());
        let now = Instant::now();
        let mut progress = false;
        for cqe in cqes.drain(..) {
            progress |= self.complete(cqe.user_data(), cqe.result(), now);
        }
        self.cqes = cqes;
        progress
    }

    fn complete(&mut self, data: u64, res: i32, now: Instant) -> bool {
        let (key, op) = ((data >> 8) as usize, data & 0xff);
        match op {
            OP_ACCEPT => {
                self.accepting = false;
                if res >= 0 {
                    if self
                        .core
                        .shared
                        .stop
                        .load(std::sync::atomic::Ordering::Relaxed)
                    {
                        // SAFETY: as in `accepted`: a new descriptor we own.
                        drop(unsafe { OwnedFd::from_raw_fd(res) });
                    } else {
                        self.accepted(res, now);
                    }
                    return true;
                }
                if res != -libc::ECANCELED && res != -libc::EINTR {
                    warn!(
                        node = self.core.node(),
                        "link: accept failed: {}",
                        io::Error::from_raw_os_error(-res)
                    );
                }
                return false;
            }
            OP_CANCEL => return false,
            OP_BELL => {
                // Rung (or cancelled at stop); re-armed next round. The
                // records are picked up by the next round's pump.
                self.bell_reading = false;
                if res < 0 && res != -libc::ECANCELED && res != -libc::EINTR {
                    self.bell_failed = true;
                    warn!(
                        node = self.core.node(),
                        "link: cannot read the wake-up eventfd ({}); polling instead",
                        io::Error::from_raw_os_error(-res)
                    );
                }
                return false;
            }
            _ => {}
        }
        let Some(c) = self.conns.get_mut(key).and_then(Option::as_mut) else {
            return false;
        };
        let mut progress = false;
        let mut close = None;
        match op {
            OP_RECV => {
                c.conn.recv_busy = false;
                if res > 0 {
                    c.conn.received(res as usize);
                    progress = true;
                } else if res == 0 {
                    close = Some(c.conn.eof_reason());
                } else if res != -libc::EAGAIN && res != -libc::EINTR {
                    close = Some(Close::normal(format!(
                        "receive failed: {}",
                        io::Error::from_raw_os_error(-res)
                    )));
                }
            }
            OP_SEND => {
                c.send_len = None;
                if res > 0 {
                    self.core.sent(&mut c.conn, res as usize);
                    progress = true;
                } else if res != -libc::EAGAIN && res != -libc::EINTR {
                    close = Some(Close::normal(format!(
                        "send failed: {}",
                        io::Error::from_raw_os_error(-res)
                    )));
                }
            }
            OP_CONNECT => {
                c.connecting = false;
                let failed = match c.stream.take_error() {
                    Ok(Some(e)) | Err(e) => Some(e),
                    Ok(None) if res < 0 => Some(io::Error::from_raw_os_error(-res)),
                    Ok(None) => None,
                };
                match failed {
                    Some(e) => close = Some(Close::normal(format!("connect failed: {e}"))),
                    None => {
                        let ok = c
                            .stream
                            .set_nonblocking(false)
                            .and_then(|()| super::sys::tune(&c.stream));
                        if let Err(e) = ok {
                            close = Some(Close::normal(format!("socket setup failed: {e}")));
                        }
                        progress = true;
                    }
                }
            }
            _ => {}
        }
        if c.closing.is_some() {
            self.finish_close(key);
        } else if let Some(close) = close {
            self.begin_close(key, close);
        }
        progress
    }
}
