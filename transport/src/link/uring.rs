//! The io_uring backend (placeholder until written).
use std::io;
use std::net::TcpListener;

use super::core::Core;

pub(crate) fn setup() -> io::Result<io_uring::IoUring> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

pub(crate) struct UringLink;

impl UringLink {
    pub fn new(_core: Core, _l: TcpListener, _ring: Box<io_uring::IoUring>) -> io::Result<Self> {
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }
    pub fn run(self) {}
}
