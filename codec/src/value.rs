//! [`Value`]: what one field of a tuple can hold, and its archived form.

use std::fmt;

use rkyv::{Archive, Deserialize, Serialize};

/// One field of a tuple.
///
/// These are exactly the shapes Storm's multi-lang JSON can carry (plus raw
/// bytes): null, booleans, 64-bit integers, 64-bit floats, UTF-8 strings,
/// byte strings, lists, and maps from string keys to values. Maps keep their
/// entries in insertion order, as a JSON object read from a subprocess does.
///
/// In a ring or a frame a `Value` lives in its archived form,
/// [`ArchivedValue`], which is read in place without deserializing.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[rkyv(serialize_bounds(
    __S: rkyv::ser::Writer + rkyv::ser::Allocator,
    __S::Error: rkyv::rancor::Source,
))]
#[rkyv(deserialize_bounds(__D::Error: rkyv::rancor::Source))]
#[rkyv(bytecheck(bounds(__C: rkyv::validation::ArchiveContext)))]
#[rkyv(derive(Debug))]
pub enum Value {
    /// No value (JSON `null`).
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed 64-bit integer.
    I64(i64),
    /// A 64-bit float.
    F64(f64),
    /// A UTF-8 string.
    Str(String),
    /// Raw bytes.
    Bytes(Vec<u8>),
    /// A list of values.
    List(#[rkyv(omit_bounds)] Vec<Value>),
    /// A map from string keys to values, in insertion order.
    Map(#[rkyv(omit_bounds)] Vec<(String, Value)>),
}

impl Value {
    /// Looks a key up in a [`Value::Map`]; `None` for other variants or a
    /// missing key. With duplicate keys the first entry wins.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The name of this value's kind, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::I64(_) => "i64",
            Value::F64(_) => "f64",
            Value::Str(_) => "string",
            Value::Bytes(_) => "bytes",
            Value::List(_) => "list",
            Value::Map(_) => "map",
        }
    }
}

macro_rules! value_from {
    ($($t:ty => |$v:ident| $e:expr),* $(,)?) => {
        $(impl From<$t> for Value {
            fn from($v: $t) -> Self {
                $e
            }
        })*
    };
}

value_from! {
    bool => |v| Value::Bool(v),
    i64 => |v| Value::I64(v),
    i32 => |v| Value::I64(i64::from(v)),
    u32 => |v| Value::I64(i64::from(v)),
    f64 => |v| Value::F64(v),
    String => |v| Value::Str(v),
    &str => |v| Value::Str(v.to_owned()),
    Vec<u8> => |v| Value::Bytes(v),
    &[u8] => |v| Value::Bytes(v.to_vec()),
    Vec<Value> => |v| Value::List(v),
    () => |_v| Value::Null,
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

impl ArchivedValue {
    /// The name of this value's kind, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            ArchivedValue::Null => "null",
            ArchivedValue::Bool(_) => "bool",
            ArchivedValue::I64(_) => "i64",
            ArchivedValue::F64(_) => "f64",
            ArchivedValue::Str(_) => "string",
            ArchivedValue::Bytes(_) => "bytes",
            ArchivedValue::List(_) => "list",
            ArchivedValue::Map(_) => "map",
        }
    }

    /// `true` for [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, ArchivedValue::Null)
    }

    /// The boolean, if this is a [`Value::Bool`].
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            ArchivedValue::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The integer, if this is a [`Value::I64`].
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            ArchivedValue::I64(v) => Some(v.to_native()),
            _ => None,
        }
    }

    /// The float, if this is a [`Value::F64`].
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            ArchivedValue::F64(v) => Some(v.to_native()),
            _ => None,
        }
    }

    /// The string, borrowed in place, if this is a [`Value::Str`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            ArchivedValue::Str(s) => Some(s.as_str()),
            _ => None,
        }
    }

    /// The bytes, borrowed in place, if this is a [`Value::Bytes`].
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            ArchivedValue::Bytes(b) => Some(b.as_slice()),
            _ => None,
        }
    }

    /// The elements, borrowed in place, if this is a [`Value::List`].
    pub fn as_list(&self) -> Option<&[ArchivedValue]> {
        match self {
            ArchivedValue::List(l) => Some(l.as_slice()),
            _ => None,
        }
    }

    /// The entries of a [`Value::Map`] as `(key, value)` pairs, in order.
    pub fn map_entries(&self) -> Option<impl ExactSizeIterator<Item = (&str, &ArchivedValue)>> {
        match self {
            ArchivedValue::Map(m) => Some(m.iter().map(|e| (e.0.as_str(), &e.1))),
            _ => None,
        }
    }

    /// Looks a key up in a [`Value::Map`] in place; `None` for other variants
    /// or a missing key. With duplicate keys the first entry wins.
    pub fn get(&self, key: &str) -> Option<&ArchivedValue> {
        match self {
            ArchivedValue::Map(m) => m.iter().find(|e| e.0 == key).map(|e| &e.1),
            _ => None,
        }
    }

    /// Copies this archived value into an owned [`Value`].
    pub fn to_value(&self) -> Value {
        match self {
            ArchivedValue::Null => Value::Null,
            ArchivedValue::Bool(b) => Value::Bool(*b),
            ArchivedValue::I64(v) => Value::I64(v.to_native()),
            ArchivedValue::F64(v) => Value::F64(v.to_native()),
            ArchivedValue::Str(s) => Value::Str(s.as_str().to_owned()),
            ArchivedValue::Bytes(b) => Value::Bytes(b.as_slice().to_vec()),
            ArchivedValue::List(l) => Value::List(l.iter().map(ArchivedValue::to_value).collect()),
            ArchivedValue::Map(m) => Value::Map(
                m.iter()
                    .map(|e| (e.0.as_str().to_owned(), e.1.to_value()))
                    .collect(),
            ),
        }
    }
}

impl PartialEq<Value> for ArchivedValue {
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (ArchivedValue::Null, Value::Null) => true,
            (ArchivedValue::Bool(a), Value::Bool(b)) => a == b,
            (ArchivedValue::I64(a), Value::I64(b)) => a.to_native() == *b,
            (ArchivedValue::F64(a), Value::F64(b)) => a.to_native() == *b,
            (ArchivedValue::Str(a), Value::Str(b)) => a.as_str() == b,
            (ArchivedValue::Bytes(a), Value::Bytes(b)) => a.as_slice() == b.as_slice(),
            (ArchivedValue::List(a), Value::List(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
            }
            (ArchivedValue::Map(a), Value::Map(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .zip(b)
                        .all(|(x, (k, v))| x.0.as_str() == k && x.1 == *v)
            }
            _ => false,
        }
    }
}

impl fmt::Display for Value {
    /// JSON-like rendering, for logs and the CLI.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::I64(v) => write!(f, "{v}"),
            Value::F64(v) => write!(f, "{v}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Bytes(b) => write!(f, "<{} bytes>", b.len()),
            Value::List(l) => {
                f.write_str("[")?;
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Value::Map(m) => {
                f.write_str("{")?;
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k:?}: {v}")?;
                }
                f.write_str("}")
            }
        }
    }
}
