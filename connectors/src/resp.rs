//! Reading Redis replies: every reply is untrusted, so each shape is
//! checked and a wrong one is an error message, never a panic.

use gale_codec::Value;
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

/// A field value as a tuple value: text when it is UTF-8, else bytes.
pub(crate) fn value(v: &R) -> Result<Value, String> {
    match v {
        R::BulkString(b) => Ok(match std::str::from_utf8(b) {
            Ok(s) => Value::Str(s.to_owned()),
            Err(_) => Value::Bytes(b.clone()),
        }),
        R::SimpleString(s) => Ok(Value::Str(s.clone())),
        R::Int(i) => Ok(Value::I64(*i)),
        R::Nil => Ok(Value::Null),
        other => Err(format!("expected a field value, got {}", kind(other))),
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
    /// Parses `ms-seq`.
    pub(crate) fn parse(b: &[u8]) -> Result<Self, String> {
        let s = std::str::from_utf8(b).map_err(|_| "a non-UTF-8 entry id".to_owned())?;
        let (ms, seq) = s
            .split_once('-')
            .ok_or_else(|| format!("entry id `{s}` is not ms-seq"))?;
        match (ms.parse(), seq.parse()) {
            (Ok(ms), Ok(seq)) => Ok(Self { ms, seq }),
            _ => Err(format!("entry id `{s}` is not ms-seq")),
        }
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// One stream entry: its id and its (field, value) pairs; `None` fields
/// for an entry deleted while pending.
pub(crate) struct Entry {
    pub(crate) id: StreamId,
    pub(crate) fields: Option<Vec<(String, Value)>>,
}

/// The items of an array reply, owned (a null array is empty).
fn into_items(v: R) -> Result<Vec<R>, String> {
    match v {
        R::Array(a) | R::Set(a) => Ok(a),
        R::Nil => Ok(Vec::new()),
        other => Err(format!("expected an array, got {}", kind(&other))),
    }
}

/// A field value, owned: text when it is UTF-8, else bytes.
fn into_value(v: R) -> Result<Value, String> {
    match v {
        R::BulkString(b) => Ok(match String::from_utf8(b) {
            Ok(s) => Value::Str(s),
            Err(e) => Value::Bytes(e.into_bytes()),
        }),
        other => value(&other),
    }
}

/// The entries of a stream-entry list (`[[id, [f, v, ...]], ...]`).
pub(crate) fn entries(v: R, out: &mut Vec<Entry>) -> Result<(), String> {
    for e in into_items(v)? {
        let pair = into_items(e)?;
        let n = pair.len();
        let mut pair = pair.into_iter();
        let (Some(id), Some(fv), None) = (pair.next(), pair.next(), pair.next()) else {
            return Err(format!("an entry of {n} items, not 2"));
        };
        let id = match id {
            R::BulkString(b) => StreamId::parse(&b)?,
            R::SimpleString(s) => StreamId::parse(s.as_bytes())?,
            other => return Err(format!("an entry id that is {}", kind(&other))),
        };
        let fields = match fv {
            R::Nil => None,
            fv => {
                let flat = into_items(fv)?;
                if flat.len() % 2 != 0 {
                    return Err(format!("entry {id}: an odd number of field items"));
                }
                let mut fields = Vec::with_capacity(flat.len() / 2);
                let mut flat = flat.into_iter();
                while let (Some(k), Some(v)) = (flat.next(), flat.next()) {
                    let name = match into_value(k)? {
                        Value::Str(s) => s,
                        _ => return Err(format!("entry {id}: a field name that is not text")),
                    };
                    fields.push((name, into_value(v)?));
                }
                Some(fields)
            }
        };
        out.push(Entry { id, fields });
    }
    Ok(())
}

/// The entries of an `XREADGROUP` reply for one stream (`[[key,
/// entries]]`, a map in RESP3, or nil).
pub(crate) fn read_reply(v: R, out: &mut Vec<Entry>) -> Result<(), String> {
    match v {
        R::Nil => Ok(()),
        R::Map(m) => {
            for (_, list) in m {
                entries(list, out)?;
            }
            Ok(())
        }
        v => {
            for s in into_items(v)? {
                let pair = into_items(s)?;
                let n = pair.len();
                let (2, Some(list)) = (n, pair.into_iter().nth(1)) else {
                    return Err(format!("a stream of {n} items, not 2"));
                };
                entries(list, out)?;
            }
            Ok(())
        }
    }
}

/// The entries of an `XAUTOCLAIM` reply (`[cursor, entries, deleted]`)
/// and its next cursor.
pub(crate) fn claim_reply(v: R, out: &mut Vec<Entry>) -> Result<String, String> {
    let mut parts = into_items(v)?.into_iter();
    let (Some(cursor), Some(list)) = (parts.next(), parts.next()) else {
        return Err("an XAUTOCLAIM reply of fewer than 2 items".to_owned());
    };
    entries(list, out)?;
    text(&cursor)
}

/// The `lag` of `group` in an `XINFO GROUPS` reply (-1 if not given).
pub(crate) fn group_lag(v: &R, group: &str) -> Result<i64, String> {
    for g in items(v)? {
        let (mut name, mut lag) = (None, -1);
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
                "lag" => lag = int(v)?,
                _ => {}
            }
        }
        if name.as_deref() == Some(group) {
            return Ok(lag);
        }
    }
    Ok(-1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> R {
        R::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn a_read_reply_gives_its_entries_and_deleted_ones_as_none() {
        let reply = R::Array(vec![R::Array(vec![
            b("events"),
            R::Array(vec![
                R::Array(vec![b("1-0"), R::Array(vec![b("line"), b("a b")])]),
                R::Array(vec![b("2-0"), R::Nil]),
            ]),
        ])]);
        let mut out = Vec::new();
        read_reply(reply, &mut out).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].id.to_string(), "1-0");
        assert_eq!(
            out[0].fields.as_deref(),
            Some(&[("line".to_owned(), Value::Str("a b".into()))][..])
        );
        assert!(out[1].fields.is_none());
    }

    #[test]
    fn malformed_replies_are_errors_not_panics() {
        let mut out = Vec::new();
        for bad in [
            R::Int(3),
            R::Array(vec![R::Int(1)]),
            R::Array(vec![R::Array(vec![b("k")])]),
            R::Array(vec![R::Array(vec![
                b("k"),
                R::Array(vec![R::Array(vec![b("1-0"), R::Array(vec![b("odd")])])]),
            ])]),
            R::Array(vec![R::Array(vec![
                b("k"),
                R::Array(vec![R::Array(vec![R::BulkString(vec![0xff]), R::Nil])]),
            ])]),
            R::Array(vec![R::Array(vec![
                b("k"),
                R::Array(vec![R::Array(vec![b("not-an-id"), R::Nil])]),
            ])]),
        ] {
            assert!(read_reply(bad.clone(), &mut out).is_err(), "{bad:?}");
        }
        assert!(claim_reply(R::Array(vec![]), &mut out).is_err());
        assert!(StreamId::parse(b"12").is_err());
        assert!(StreamId::parse(b"1-x").is_err());
        assert_eq!(StreamId::parse(b"5-7").unwrap().to_string(), "5-7");
    }

    #[test]
    fn the_groups_lag_is_found_by_name() {
        let reply = R::Array(vec![
            R::Array(vec![b("name"), b("other"), b("lag"), R::Int(7)]),
            R::Array(vec![b("name"), b("g"), b("lag"), R::Int(42)]),
        ]);
        assert_eq!(group_lag(&reply, "g").unwrap(), 42);
        assert_eq!(group_lag(&reply, "none").unwrap(), -1);
    }
}
