//! A msgpack reader for the batched protocol's frames: bytes from a child
//! straight to [`Value`]s, faster than going through serde (a frame holds
//! thousands of small values). Untrusted input: every length is checked
//! against the bytes left, nesting is bounded, nothing panics.

use gale_codec::Value;

/// Deepest nesting accepted (as the serde reader of `wire.rs`).
const MAX_DEPTH: usize = 64;

/// Decodes one msgpack value that fills `bytes` exactly.
pub(crate) fn decode(bytes: &[u8]) -> Result<Value, String> {
    let mut d = Decoder { bytes, pos: 0 };
    let value = d.value(0)?;
    if d.pos != bytes.len() {
        return Err(format!(
            "{} bytes after the msgpack value",
            bytes.len() - d.pos
        ));
    }
    Ok(value)
}

/// A cursor over msgpack bytes.
pub(crate) struct Decoder<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    /// Bytes left.
    pub(crate) fn left(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// The length of the array that comes next, consumed; `None` (and
    /// nothing consumed) if an array does not come next.
    pub(crate) fn array(&mut self) -> Result<Option<usize>, String> {
        self.collection(0x90, 0xdc)
    }

    /// The length of the map that comes next, consumed; `None` (and
    /// nothing consumed) if a map does not come next.
    pub(crate) fn map(&mut self) -> Result<Option<usize>, String> {
        self.collection(0x80, 0xde)
    }

    /// The header of an array or map: its fix marker's base (`0x90`,
    /// `0x80`), and its 16-bit marker (the 32-bit one follows).
    fn collection(&mut self, fix: u8, wide: u8) -> Result<Option<usize>, String> {
        let Some(&marker) = self.bytes.get(self.pos) else {
            return Err("the msgpack data ends early".to_owned());
        };
        let n = if marker & 0xf0 == fix {
            self.pos += 1;
            usize::from(marker & 0x0f)
        } else if marker == wide || marker == wide + 1 {
            self.pos += 1;
            self.len(if marker == wide { 2 } else { 4 })?
        } else {
            return Ok(None);
        };
        self.count(n).map(Some)
    }

    /// The next value and the bytes it took.
    pub(crate) fn value_and_bytes(&mut self) -> Result<(Value, &'a [u8]), String> {
        let start = self.pos;
        let v = self.value(1)?;
        Ok((v, &self.bytes[start..self.pos]))
    }

    /// Skips the next value if its bytes are `bytes`.
    pub(crate) fn skip_if(&mut self, bytes: &[u8]) -> bool {
        if !bytes.is_empty() && self.bytes[self.pos..].starts_with(bytes) {
            self.pos += bytes.len();
            return true;
        }
        false
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| format!("the msgpack data ends early (at byte {})", self.pos))?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn byte(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn be<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut a = [0; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn len(&mut self, width: usize) -> Result<usize, String> {
        Ok(match width {
            1 => usize::from(self.byte()?),
            2 => usize::from(u16::from_be_bytes(self.be()?)),
            _ => u32::from_be_bytes(self.be()?) as usize,
        })
    }

    fn str(&mut self, n: usize) -> Result<String, String> {
        let at = self.pos;
        std::str::from_utf8(self.take(n)?)
            .map(str::to_owned)
            .map_err(|_| format!("a string that is not UTF-8 (at byte {at})"))
    }

    /// A count of `n` items, each at least one byte: more than the bytes
    /// left is an error before anything is allocated.
    fn count(&self, n: usize) -> Result<usize, String> {
        if n > self.bytes.len() - self.pos {
            return Err(format!(
                "a msgpack collection of {n} items in {} bytes",
                self.bytes.len() - self.pos
            ));
        }
        Ok(n)
    }

    /// The next value (`depth`: how deep it is nested).
    pub(crate) fn value(&mut self, depth: usize) -> Result<Value, String> {
        let at = self.pos;
        let marker = self.byte()?;
        Ok(match marker {
            0x00..=0x7f => Value::I64(i64::from(marker)),
            0xe0..=0xff => Value::I64(i64::from(marker as i8)),
            0xc0 => Value::Null,
            0xc2 => Value::Bool(false),
            0xc3 => Value::Bool(true),
            0xcc => Value::I64(i64::from(self.byte()?)),
            0xcd => Value::I64(i64::from(u16::from_be_bytes(self.be()?))),
            0xce => Value::I64(i64::from(u32::from_be_bytes(self.be()?))),
            0xcf => {
                let n = u64::from_be_bytes(self.be()?);
                Value::I64(
                    i64::try_from(n)
                        .map_err(|_| format!("integer {n} does not fit in 64 signed bits"))?,
                )
            }
            0xd0 => Value::I64(i64::from(i8::from_be_bytes(self.be()?))),
            0xd1 => Value::I64(i64::from(i16::from_be_bytes(self.be()?))),
            0xd2 => Value::I64(i64::from(i32::from_be_bytes(self.be()?))),
            0xd3 => Value::I64(i64::from_be_bytes(self.be()?)),
            0xca => Value::F64(f64::from(f32::from_be_bytes(self.be()?))),
            0xcb => Value::F64(f64::from_be_bytes(self.be()?)),
            0xa0..=0xbf => self.str(usize::from(marker & 0x1f)).map(Value::Str)?,
            0xd9..=0xdb => {
                let n = self.len(1 << (marker - 0xd9))?;
                Value::Str(self.str(n)?)
            }
            0xc4..=0xc6 => {
                let n = self.len(1 << (marker - 0xc4))?;
                Value::Bytes(self.take(n)?.to_vec())
            }
            0x90..=0x9f | 0xdc | 0xdd => {
                let n = match marker {
                    0xdc => self.len(2)?,
                    0xdd => self.len(4)?,
                    _ => usize::from(marker & 0x0f),
                };
                let depth = self.deeper(depth)?;
                let mut items = Vec::with_capacity(self.count(n)?);
                for _ in 0..n {
                    items.push(self.value(depth)?);
                }
                Value::List(items)
            }
            0x80..=0x8f | 0xde | 0xdf => {
                let n = match marker {
                    0xde => self.len(2)?,
                    0xdf => self.len(4)?,
                    _ => usize::from(marker & 0x0f),
                };
                let depth = self.deeper(depth)?;
                let mut entries = Vec::with_capacity(self.count(n)?);
                for _ in 0..n {
                    let key = match self.value(depth)? {
                        Value::Str(s) => s,
                        Value::I64(n) => n.to_string(),
                        other => {
                            return Err(format!("map keys must be strings, not {}", other.kind()))
                        }
                    };
                    entries.push((key, self.value(depth)?));
                }
                Value::Map(entries)
            }
            _ => {
                return Err(format!(
                    "an unsupported msgpack type 0x{marker:02x} at byte {at}"
                ))
            }
        })
    }

    fn deeper(&self, depth: usize) -> Result<usize, String> {
        if depth >= MAX_DEPTH {
            return Err(format!("nested deeper than {MAX_DEPTH}"));
        }
        Ok(depth + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{De, Ser};

    #[test]
    fn decodes_what_serde_encodes() {
        let v = Value::Map(vec![
            ("s".into(), Value::from("héllo")),
            ("long".into(), Value::from("x".repeat(70_000).as_str())),
            ("n".into(), Value::I64(-3)),
            ("big".into(), Value::I64(i64::MAX)),
            ("small".into(), Value::I64(i64::MIN)),
            ("u16".into(), Value::I64(40_000)),
            ("x".into(), Value::F64(1.5)),
            ("b".into(), Value::Bool(true)),
            ("z".into(), Value::Null),
            ("raw".into(), Value::Bytes(vec![0, 255])),
            ("l".into(), Value::List((0..20).map(Value::I64).collect())),
        ]);
        let bytes = rmp_serde::to_vec(&Ser(&v)).unwrap();
        assert_eq!(decode(&bytes).unwrap(), v);
        let De(back) = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn hostile_bytes_are_errors() {
        // An array claiming 4 G items in 5 bytes.
        assert!(decode(&[0xdd, 0xff, 0xff, 0xff, 0xff])
            .unwrap_err()
            .contains("items"));
        assert!(decode(&[0xdb, 0xff, 0xff, 0xff, 0xff])
            .unwrap_err()
            .contains("ends early"));
        assert!(decode(&[0xa2, 0xff, 0xfe]).unwrap_err().contains("UTF-8"));
        assert!(decode(&[0xc1]).unwrap_err().contains("unsupported"));
        assert!(decode(&[0xcf, 0xff, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(decode(&[0xc0, 0xc0]).unwrap_err().contains("after"));
        assert!(decode(&[0x81, 0xc0, 0xc0])
            .unwrap_err()
            .contains("map keys"));
        assert!(decode(&vec![0x91; 100_000]).unwrap_err().contains("nested"));
        assert!(decode(&[]).is_err());
    }
}
