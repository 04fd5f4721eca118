//! Admission control for accepted connections, and the rate limit on what
//! strangers can make a node write to its log.
//!
//! A node takes link connections only from the IP addresses of its peers
//! (the cluster file's), at most [`MAX_HANDSHAKING_PER_ADDR`] in their
//! handshake per address and [`MAX_HANDSHAKING`] in all; anything else is
//! closed at once, before a byte is read. A connection that sends no hello
//! within [`HELLO_TIMEOUT`] is dropped, so silent connections cannot hold
//! the slots of a real peer for long.
//!
//! Warnings about dropped handshakes go through [`Noise`]: the first of
//! each interval is logged in full, the rest are counted and summed up in
//! one line per interval.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Accepted connections allowed in their handshake at once.
pub(crate) const MAX_HANDSHAKING: usize = 64;

/// Accepted connections from one address allowed in their handshake at
/// once.
pub(crate) const MAX_HANDSHAKING_PER_ADDR: usize = 4;

/// Time an accepted connection has to send its hello.
pub(crate) const HELLO_TIMEOUT: Duration = Duration::from_secs(1);

/// Interval of the summary of dropped handshakes.
pub(crate) const NOISE_INTERVAL: Duration = Duration::from_secs(10);

/// The [`Noise`] kind of a connection from an address that is no peer's.
pub(crate) const NOT_IN_CLUSTER: &str = "not from a cluster address";

/// Which addresses may connect, and how many are handshaking.
pub(crate) struct Admission {
    allowed: HashSet<IpAddr>,
    per_addr: HashMap<IpAddr, usize>,
    total: usize,
}

/// The address in the form it is compared in (IPv4-mapped IPv6 as IPv4).
fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

impl Admission {
    /// Admits connections from `allowed`.
    pub fn new(allowed: impl IntoIterator<Item = IpAddr>) -> Self {
        Admission {
            allowed: allowed.into_iter().map(canonical).collect(),
            per_addr: HashMap::new(),
            total: 0,
        }
    }

    /// Also admits `ip` (a peer seen at a new address).
    pub fn allow(&mut self, ip: IpAddr) {
        self.allowed.insert(canonical(ip));
    }

    /// Takes a handshake slot for a connection from `ip`, or says why not
    /// (the [`Noise`] kind and the reason).
    pub fn admit(&mut self, ip: IpAddr) -> Result<(), (&'static str, String)> {
        let ip = canonical(ip);
        if !self.allowed.contains(&ip) {
            return Err((
                NOT_IN_CLUSTER,
                format!("{ip} is not the address of a node in the cluster file"),
            ));
        }
        if self.total >= MAX_HANDSHAKING {
            return Err((
                "over the handshake cap",
                format!("{MAX_HANDSHAKING} connections are already in their handshake"),
            ));
        }
        let n = self.per_addr.entry(ip).or_insert(0);
        if *n >= MAX_HANDSHAKING_PER_ADDR {
            return Err((
                "over the per-address cap",
                format!("{MAX_HANDSHAKING_PER_ADDR} connections from {ip} are already in their handshake"),
            ));
        }
        *n += 1;
        self.total += 1;
        Ok(())
    }

    /// Gives back the slot taken by [`admit`](Self::admit).
    pub fn release(&mut self, ip: IpAddr) {
        let ip = canonical(ip);
        if let Some(n) = self.per_addr.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                self.per_addr.remove(&ip);
            }
            self.total -= 1;
        }
    }
}

/// Rate-limited warnings: per interval, the first in full, then one
/// summary line with counts by kind.
pub(crate) struct Noise {
    interval: Duration,
    since: Instant,
    logged: bool,
    counts: BTreeMap<&'static str, u64>,
}

impl Noise {
    pub fn new(now: Instant) -> Self {
        Noise {
            interval: NOISE_INTERVAL,
            since: now,
            logged: false,
            counts: BTreeMap::new(),
        }
    }

    /// A dropped connection of `kind`: logs `line` if it is the first of
    /// the interval, else counts it.
    pub fn report(
        &mut self,
        node: u32,
        now: Instant,
        kind: &'static str,
        line: impl FnOnce() -> String,
    ) {
        self.flush(node, now);
        if self.logged {
            *self.counts.entry(kind).or_insert(0) += 1;
        } else {
            self.logged = true;
            tracing::warn!(node, "{}", line());
        }
    }

    /// Ends the interval if it is over: writes the summary of what was
    /// counted, if anything.
    pub fn flush(&mut self, node: u32, now: Instant) {
        if now < self.since + self.interval {
            return;
        }
        if !self.counts.is_empty() {
            let total: u64 = self.counts.values().sum();
            let kinds = self
                .counts
                .iter()
                .map(|(k, n)| format!("{n} {k}"))
                .collect::<Vec<_>>()
                .join(", ");
            tracing::warn!(
                node,
                dropped = total,
                "link: {total} more connections dropped in their handshake in the last {:?} \
                 ({kinds})",
                self.interval
            );
        }
        self.counts.clear();
        self.logged = false;
        self.since = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_cluster_addresses_up_to_the_per_address_cap() {
        let peer: IpAddr = "127.0.0.2".parse().unwrap();
        let mut a = Admission::new([peer]);
        assert!(a.admit("127.0.0.9".parse().unwrap()).is_err());
        let mapped: IpAddr = "::ffff:127.0.0.2".parse().unwrap();
        for _ in 0..MAX_HANDSHAKING_PER_ADDR {
            a.admit(mapped).unwrap();
        }
        assert_eq!(a.admit(peer).unwrap_err().0, "over the per-address cap");
        a.release(peer);
        a.admit(peer).unwrap();
    }
}
