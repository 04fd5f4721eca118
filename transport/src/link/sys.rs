//! Socket options std does not offer: keepalive probes and a user timeout,
//! so a peer host that vanishes without closing its connections (power
//! loss, network partition) is noticed and redialed.

use std::io;
use std::os::fd::AsRawFd;

/// Idle seconds before the first keepalive probe.
const KEEPALIVE_IDLE: libc::c_int = 5;
/// Seconds between probes.
const KEEPALIVE_INTERVAL: libc::c_int = 2;
/// Unanswered probes before the connection is dropped.
const KEEPALIVE_COUNT: libc::c_int = 3;
/// Milliseconds sent data may stay unacknowledged before the connection is
/// dropped.
const USER_TIMEOUT_MS: libc::c_int = 15_000;

fn set(
    fd: &impl AsRawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `fd` is an open socket borrowed for the call; the option value
    // is a c_int on the stack whose size is passed with it.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// TCP_NODELAY, keepalive probes and the user timeout on a link socket.
pub(crate) fn tune(socket: &impl AsRawFd) -> io::Result<()> {
    set(socket, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)?;
    set(socket, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1)?;
    set(
        socket,
        libc::IPPROTO_TCP,
        libc::TCP_KEEPIDLE,
        KEEPALIVE_IDLE,
    )?;
    set(
        socket,
        libc::IPPROTO_TCP,
        libc::TCP_KEEPINTVL,
        KEEPALIVE_INTERVAL,
    )?;
    set(
        socket,
        libc::IPPROTO_TCP,
        libc::TCP_KEEPCNT,
        KEEPALIVE_COUNT,
    )?;
    set(
        socket,
        libc::IPPROTO_TCP,
        libc::TCP_USER_TIMEOUT,
        USER_TIMEOUT_MS,
    )
}

/// A `sockaddr_in`/`sockaddr_in6` for `addr`, with its length.
fn sockaddr(addr: std::net::SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain old data; all zeros is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        std::net::SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for every
            // sockaddr type; the write stays inside `storage`.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        std::net::SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: as above.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

/// Starts a non-blocking connect to `remote` from the address `local`
/// (any port), so that the peer sees this node's own listen address as the
/// source and its admission control admits it.
pub(crate) fn connect_from(
    local: std::net::IpAddr,
    remote: std::net::SocketAddr,
) -> io::Result<mio::net::TcpStream> {
    start_connect(local, remote).map(mio::net::TcpStream::from_std)
}

/// Connects to `remote` from the address `local` (any port) and waits for
/// the connection: for tools and tests that speak to a link as a node at a
/// given address. The stream is blocking.
pub fn connect_from_blocking(
    local: std::net::IpAddr,
    remote: std::net::SocketAddr,
) -> io::Result<std::net::TcpStream> {
    let stream = start_connect(local, remote)?;
    let mut pfd = libc::pollfd {
        fd: stream.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: `pfd` is one valid pollfd on the stack, its count is 1.
    if unsafe { libc::poll(&mut pfd, 1, 10_000) } <= 0 {
        return Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out"));
    }
    if let Some(e) = stream.take_error()? {
        return Err(e);
    }
    stream.set_nonblocking(false)?;
    Ok(stream)
}

/// A non-blocking socket bound to `local` with a connect to `remote` in
/// progress.
fn start_connect(
    local: std::net::IpAddr,
    remote: std::net::SocketAddr,
) -> io::Result<std::net::TcpStream> {
    use std::os::fd::{FromRawFd, OwnedFd};
    let family = if remote.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: plain socket(2) call; the result is checked below.
    let fd = unsafe {
        libc::socket(
            family,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a new descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let (addr, len) = sockaddr(std::net::SocketAddr::new(local, 0));
    // SAFETY: `addr` is a valid socket address of `len` bytes on the stack.
    if unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_storage).cast(),
            len,
        )
    } != 0
    {
        return Err(io::Error::last_os_error());
    }
    let (addr, len) = sockaddr(remote);
    // SAFETY: as above.
    let r = unsafe {
        libc::connect(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_storage).cast(),
            len,
        )
    };
    if r != 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(e);
        }
    }
    Ok(std::net::TcpStream::from(fd))
}

#[cfg(test)]
mod tests {
    #[test]
    fn tunes_a_real_socket() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let s = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        super::tune(&s).unwrap();
        assert!(s.nodelay().unwrap());
    }
}
