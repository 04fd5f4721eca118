//! Reading Redis replies: every reply is untrusted, so each shape is
//! checked and a wrong one is an error message, never a panic.

use redis::Value as R;

/// A reply's bytes as text (bulk or simple strings).
pub(crate) fn text(v: &R) -> Result<String, String> {
    match v {
        R::BulkString(b) => String::from_utf8(b.clone()).map_err(|_| "a non-UTF-8 id".to_owned()),
        R::SimpleString(s) => Ok(s.clone()),
        R::Okay => Ok("OK".to_owned()),
        other => Err(format!("expected a string, got {}", kind(other))),
    }
}

/// A reply as an integer.
pub(crate) fn int(v: &R) -> Result<i64, String> {
    match v {
        R::Int(i) => Ok(*i),
        R::BulkString(b) => std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| "expected an integer".to_owned()),
        R::Nil => Ok(-1),
        other => Err(format!("expected an integer, got {}", kind(other))),
    }
}

/// The items of an array reply (a null array is empty).
pub(crate) fn items(v: &R) -> Result<&[R], String> {
    match v {
        R::Array(a) | R::Set(a) => Ok(a),
        R::Nil => Ok(&[]),
        other => Err(format!("expected an array, got {}", kind(other))),
    }
}

/// A server's error reply in a pipeline, if this is one.
pub(crate) fn server_error(v: &R) -> Option<String> {
    match v {
        R::ServerError(e) => Some(format!("{e:?}")),
        _ => None,
    }
}

fn kind(v: &R) -> &'static str {
    match v {
        R::Nil => "nil",
        R::Int(_) => "an integer",
        R::BulkString(_) => "a bulk string",
        R::Array(_) => "an array",
        R::SimpleString(_) => "a simple string",
        R::Okay => "OK",
        R::Map(_) => "a map",
        R::ServerError(_) => "an error",
        _ => "another type",
    }
}

/// A stream entry id (`ms-seq`), parsed so that it is cheap to keep,
/// hash and compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct StreamId {
    ms: u64,
    seq: u64,
}

impl StreamId {
    /// `0-0`, before every entry.
    pub(crate) const ZERO: Self = Self { ms: 0, seq: 0 };

    /// Its two numbers.
    pub(crate) fn parts(self) -> (u64, u64) {
        (self.ms, self.seq)
    }

    /// The greatest id below this one (`0-0` stays).
    pub(crate) fn before(self) -> Self {
        match (self.ms, self.seq) {
            (0, 0) => self,
            (ms, 0) => Self {
                ms: ms - 1,
                seq: u64::MAX,
            },
            (ms, seq) => Self { ms, seq: seq - 1 },
        }
    }

    /// Parses `ms-seq`.
    pub(crate) fn parse(b: &[u8]) -> Result<Self, String> {
        let bad = || format!("entry id `{}` is not ms-seq", b.escape_ascii());
        let dash = b.iter().position(|&c| c == b'-').ok_or_else(bad)?;
        match (
            crate::wire::decimal_u64(&b[..dash]),
            crate::wire::decimal_u64(&b[dash + 1..]),
        ) {
            (Some(ms), Some(seq)) => Ok(Self { ms, seq }),
            _ => Err(bad()),
        }
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// What `XINFO GROUPS` says of one group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct GroupInfo {
    /// Entries not yet delivered to the group (-1: unknown).
    pub(crate) lag: i64,
    /// The id delivered last.
    pub(crate) last_delivered: Option<StreamId>,
    /// Entries delivered to the group so far, if the server knows.
    pub(crate) entries_read: Option<u64>,
}

/// What an `XINFO GROUPS` reply says of `group` (`None`: no such group).
pub(crate) fn group_info(v: &R, group: &str) -> Result<Option<GroupInfo>, String> {
    for g in items(v)? {
        let mut name = None;
        let mut info = GroupInfo {
            lag: -1,
            ..GroupInfo::default()
        };
        let pairs: Vec<(&R, &R)> = match g {
            R::Map(m) => m.iter().map(|(k, v)| (k, v)).collect(),
            g => items(g)?
                .chunks_exact(2)
                .map(|kv| (&kv[0], &kv[1]))
                .collect(),
        };
        for (k, v) in pairs {
            match text(k)?.as_str() {
                "name" => name = Some(text(v)?),
                "lag" => info.lag = int(v)?,
                "last-delivered-id" => {
                    info.last_delivered = Some(StreamId::parse(text(v)?.as_bytes())?)
                }
                "entries-read" => info.entries_read = u64::try_from(int(v)?).ok(),
                _ => {}
            }
        }
        if name.as_deref() == Some(group) {
            return Ok(Some(info));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> R {
        R::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn ids_parse_order_and_step_back() {
        assert!(StreamId::parse(b"12").is_err());
        assert!(StreamId::parse(b"1-x").is_err());
        assert!(StreamId::parse(&[0xff]).is_err());
        assert_eq!(StreamId::parse(b"5-7").unwrap().to_string(), "5-7");
        assert_eq!(StreamId::parse(b"5-7").unwrap().before().to_string(), "5-6");
        assert_eq!(
            StreamId::parse(b"5-0").unwrap().before().to_string(),
            format!("4-{}", u64::MAX)
        );
        assert!(StreamId::parse(b"1-9").unwrap() < StreamId::parse(b"2-0").unwrap());
    }

    #[test]
    fn the_groups_info_is_found_by_name() {
        let reply = R::Array(vec![
            R::Array(vec![b("name"), b("other"), b("lag"), R::Int(7)]),
            R::Array(vec![
                b("name"),
                b("g"),
                b("last-delivered-id"),
                b("3-1"),
                b("entries-read"),
                R::Int(9),
                b("lag"),
                R::Int(42),
            ]),
        ]);
        let g = group_info(&reply, "g").unwrap().unwrap();
        assert_eq!(g.lag, 42);
        assert_eq!(g.entries_read, Some(9));
        assert_eq!(g.last_delivered.unwrap().to_string(), "3-1");
        assert_eq!(group_info(&reply, "none").unwrap(), None);
        assert!(group_info(&R::Int(1), "g").is_err());
    }
}
