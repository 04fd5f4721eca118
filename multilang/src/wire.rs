//! Gale's [`Value`] on the wire: serde glue so one dynamic value type is
//! read from and written to both serializers (JSON and msgpack).

use std::cell::Cell;
use std::fmt;

use gale_codec::Value;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

/// Deepest nesting accepted in a message from a child (protects the
/// reader's stack from hostile input).
const MAX_DEPTH: usize = 64;

/// Most values one message from a child may hold (each list or map
/// element, map key and value counts one), checked as they are read,
/// before they are built: [`MAX_MESSAGE`](crate::MAX_MESSAGE) bytes of
/// small numbers would otherwise become millions of [`Value`]s, some
/// 30 times the message's size in memory. Storm's protocol carries one
/// tuple per message, so a real message holds far fewer.
pub(crate) const MAX_VALUES: usize = 1 << 18;

/// The start of the error a message over [`MAX_VALUES`] gives.
const TOO_MANY: &str = "more than 262144 values in one message";

/// Serializes a borrowed [`Value`].
pub(crate) struct Ser<'a>(pub(crate) &'a Value);

impl Serialize for Ser<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::I64(n) => s.serialize_i64(*n),
            Value::F64(x) => s.serialize_f64(*x),
            Value::Str(t) => s.serialize_str(t),
            Value::Bytes(b) => s.serialize_bytes(b),
            Value::List(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for v in items {
                    seq.serialize_element(&Ser(v))?;
                }
                seq.end()
            }
            Value::Map(entries) => {
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, &Ser(v))?;
                }
                map.end()
            }
        }
    }
}

/// Deserializes an owned [`Value`] (map keys must be strings or numbers;
/// numbers become their decimal text).
#[derive(Debug)]
pub(crate) struct De(pub(crate) Value);

impl<'de> Deserialize<'de> for De {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let budget = Cell::new(MAX_VALUES);
        d.deserialize_any(ValueVisitor {
            depth: 0,
            budget: &budget,
        })
        .map(De)
    }
}

/// Whether a deserialization error is that of a message over
/// [`MAX_VALUES`].
pub(crate) fn too_many_values(error: &impl fmt::Display) -> bool {
    error.to_string().contains(TOO_MANY)
}

#[derive(Clone, Copy)]
struct ValueVisitor<'b> {
    depth: usize,
    /// Values the message may still hold.
    budget: &'b Cell<usize>,
}

impl ValueVisitor<'_> {
    /// Counts `n` more values of the message, or fails past the budget.
    fn spend<E: de::Error>(&self, n: usize) -> Result<(), E> {
        match self.budget.get().checked_sub(n) {
            Some(left) => {
                self.budget.set(left);
                Ok(())
            }
            None => Err(E::custom(format_args!(
                "{TOO_MANY} (the limit; Storm's protocol carries one tuple per message)"
            ))),
        }
    }

    fn nested<E: de::Error>(&self) -> Result<Self, E> {
        let depth = self.depth + 1;
        if depth > MAX_DEPTH {
            return Err(E::custom(format!("nested deeper than {MAX_DEPTH}")));
        }
        Ok(ValueVisitor {
            depth,
            budget: self.budget,
        })
    }
}

impl<'de> de::DeserializeSeed<'de> for ValueVisitor<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueVisitor<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON or msgpack value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::I64(n))
    }
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Value, E> {
        i64::try_from(n)
            .map(Value::I64)
            .map_err(|_| E::custom(format!("integer {n} does not fit in 64 signed bits")))
    }
    fn visit_f64<E>(self, x: f64) -> Result<Value, E> {
        Ok(Value::F64(x))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::Str(s.to_owned()))
    }
    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::Str(s))
    }
    fn visit_bytes<E>(self, b: &[u8]) -> Result<Value, E> {
        Ok(Value::Bytes(b.to_vec()))
    }
    fn visit_byte_buf<E>(self, b: Vec<u8>) -> Result<Value, E> {
        Ok(Value::Bytes(b))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let inner = self.nested()?;
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        loop {
            // Counted before the element is read (and built).
            self.spend(1)?;
            let Some(v) = seq.next_element_seed(inner)? else {
                break;
            };
            items.push(v);
        }
        Ok(Value::List(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let inner = self.nested()?;
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(1024));
        loop {
            self.spend(2)?;
            let Some(key) = map.next_key_seed(inner)? else {
                break;
            };
            let key = match key {
                Value::Str(s) => s,
                Value::I64(n) => n.to_string(),
                other => {
                    return Err(de::Error::custom(format!(
                        "map keys must be strings, not {}",
                        other.kind()
                    )))
                }
            };
            let value = map.next_value_seed(inner)?;
            entries.push((key, value));
        }
        Ok(Value::Map(entries))
    }
}

/// A tuple for a bolt child under Storm's protocol (`{"id": "7", "comp":
/// ..., "stream": ..., "task": ..., "tuple": [...]}`), serialized from its
/// parts: no map of owned keys and strings built per input.
#[derive(serde::Serialize)]
pub(crate) struct TupleMessage<'a> {
    /// Sent as its decimal text (Storm's tuple ids are strings).
    #[serde(serialize_with = "decimal")]
    pub(crate) id: u64,
    pub(crate) comp: &'a str,
    pub(crate) stream: &'a str,
    pub(crate) task: i64,
    #[serde(serialize_with = "values")]
    pub(crate) tuple: &'a [Value],
}

fn decimal<S: Serializer>(id: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(id)
}

fn values<S: Serializer>(values: &&[Value], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(values.iter().map(Ser))
}

/// Builds a [`Value::Map`] from `(key, value)` pairs.
pub(crate) fn map<const N: usize>(entries: [(&str, Value); N]) -> Value {
    Value::Map(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Value {
        map([
            ("s", Value::from("héllo")),
            ("n", Value::I64(-3)),
            ("x", Value::F64(1.5)),
            ("b", Value::Bool(true)),
            ("z", Value::Null),
            ("l", Value::List(vec![Value::I64(1), Value::from("a")])),
        ])
    }

    #[test]
    fn json_round_trip() {
        let bytes = serde_json::to_vec(&Ser(&sample())).unwrap();
        let De(back) = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back, sample());
    }

    #[test]
    fn msgpack_round_trip_with_bytes() {
        let mut v = sample();
        if let Value::Map(e) = &mut v {
            e.push(("raw".into(), Value::Bytes(vec![0, 255, 7])));
        }
        let bytes = rmp_serde::to_vec(&Ser(&v)).unwrap();
        let De(back) = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn a_message_is_bounded_in_values_before_they_are_built() {
        let list = |n: usize| format!("[{}1]", "1,".repeat(n - 1));
        let De(v) = serde_json::from_str(&list(MAX_VALUES - 1)).unwrap();
        assert!(matches!(v, Value::List(items) if items.len() == MAX_VALUES - 1));
        let e = serde_json::from_str::<De>(&list(MAX_VALUES + 1)).unwrap_err();
        assert!(too_many_values(&e), "{e}");
        // Spread over nested lists and maps, the budget is the message's.
        let nested = format!("[{}]", vec![list(1000); MAX_VALUES / 1000].join(","));
        let e = serde_json::from_str::<De>(&nested).unwrap_err();
        assert!(too_many_values(&e), "{e}");
        let entries: Vec<String> = (0..MAX_VALUES / 2).map(|i| format!("\"k{i}\":1")).collect();
        let e = serde_json::from_str::<De>(&format!("{{{}}}", entries.join(","))).unwrap_err();
        assert!(too_many_values(&e), "{e}");
        // msgpack too.
        let many = Value::List(vec![Value::I64(1); MAX_VALUES + 1]);
        let bytes = rmp_serde::to_vec(&Ser(&many)).unwrap();
        let e = rmp_serde::from_slice::<De>(&bytes).unwrap_err();
        assert!(too_many_values(&e), "{e}");
        assert!(!too_many_values(&"malformed"));
    }

    #[test]
    fn hostile_nesting_is_an_error_not_a_stack_overflow() {
        let deep = "[".repeat(100_000);
        assert!(serde_json::from_str::<De>(&deep).is_err());
    }
}
