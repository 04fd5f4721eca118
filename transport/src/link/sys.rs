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
