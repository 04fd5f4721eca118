//! A tuple value converted for one PostgreSQL column, by the column's
//! type (found from the table when the bolt connects).

use gale_codec::Value;
use postgres::types::{ToSql, Type};

/// How a column takes values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ColumnKind {
    Text,
    I64,
    I32,
    I16,
    F64,
    F32,
    Bool,
    Bytes,
}

impl ColumnKind {
    /// The kind for a column of type `t`, or why it is not supported.
    pub(crate) fn of(t: &Type) -> Result<Self, String> {
        Ok(match *t {
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => Self::Text,
            Type::INT8 => Self::I64,
            Type::INT4 => Self::I32,
            Type::INT2 => Self::I16,
            Type::FLOAT8 => Self::F64,
            Type::FLOAT4 => Self::F32,
            Type::BOOL => Self::Bool,
            Type::BYTEA => Self::Bytes,
            ref other => {
                return Err(format!(
                    "column type `{other}` is not supported (text, varchar, int2/4/8, \
                     float4/8, bool, bytea are)"
                ))
            }
        })
    }

    /// `v` for this column, or why it does not fit.
    pub(crate) fn cell(self, v: Value) -> Result<Cell, String> {
        let kind = v.kind();
        let bad = |what: &str| Err(format!("a {kind} value does not fit a {what} column"));
        Ok(match self {
            Self::Text => Cell::Text(match v {
                Value::Null => None,
                Value::Str(s) => Some(s),
                Value::I64(i) => Some(i.to_string()),
                Value::F64(f) => Some(f.to_string()),
                Value::Bool(b) => Some(b.to_string()),
                _ => return bad("text"),
            }),
            Self::I64 | Self::I32 | Self::I16 => {
                let i = match v {
                    Value::Null => None,
                    Value::I64(i) => Some(i),
                    Value::Str(s) => match s.trim().parse::<i64>() {
                        Ok(i) => Some(i),
                        Err(_) => return Err(format!("`{s}` is not an integer")),
                    },
                    _ => return bad("integer"),
                };
                match self {
                    Self::I64 => Cell::I64(i),
                    Self::I32 => Cell::I32(
                        i.map(i32::try_from)
                            .transpose()
                            .map_err(|_| "out of range for int4".to_owned())?,
                    ),
                    _ => Cell::I16(
                        i.map(i16::try_from)
                            .transpose()
                            .map_err(|_| "out of range for int2".to_owned())?,
                    ),
                }
            }
            Self::F64 | Self::F32 => {
                let f = match v {
                    Value::Null => None,
                    Value::F64(f) => Some(f),
                    Value::I64(i) => Some(i as f64),
                    Value::Str(s) => match s.trim().parse::<f64>() {
                        Ok(f) => Some(f),
                        Err(_) => return Err(format!("`{s}` is not a number")),
                    },
                    _ => return bad("float"),
                };
                if self == Self::F64 {
                    Cell::F64(f)
                } else {
                    Cell::F32(f.map(|f| f as f32))
                }
            }
            Self::Bool => Cell::Bool(match v {
                Value::Null => None,
                Value::Bool(b) => Some(b),
                _ => return bad("bool"),
            }),
            Self::Bytes => Cell::Bytes(match v {
                Value::Null => None,
                Value::Bytes(b) => Some(b),
                Value::Str(s) => Some(s.into_bytes()),
                _ => return bad("bytea"),
            }),
        })
    }
}

/// One value ready for a column (`None` is SQL NULL).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    Text(Option<String>),
    I64(Option<i64>),
    I32(Option<i32>),
    I16(Option<i16>),
    F64(Option<f64>),
    F32(Option<f32>),
    Bool(Option<bool>),
    Bytes(Option<Vec<u8>>),
}

impl Cell {
    /// As a parameter for the client.
    pub(crate) fn as_sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Cell::Text(v) => v,
            Cell::I64(v) => v,
            Cell::I32(v) => v,
            Cell::I16(v) => v,
            Cell::F64(v) => v,
            Cell::F32(v) => v,
            Cell::Bool(v) => v,
            Cell::Bytes(v) => v,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_convert_for_their_column_or_say_why_not() {
        assert_eq!(
            ColumnKind::I64.cell(Value::Str(" 42".into())),
            Ok(Cell::I64(Some(42)))
        );
        assert_eq!(
            ColumnKind::Text.cell(Value::I64(7)),
            Ok(Cell::Text(Some("7".into())))
        );
        assert_eq!(ColumnKind::Bool.cell(Value::Null), Ok(Cell::Bool(None)));
        let e = ColumnKind::I32.cell(Value::I64(1 << 40)).unwrap_err();
        assert!(e.contains("int4"), "{e}");
        let e = ColumnKind::I64.cell(Value::Str("abc".into())).unwrap_err();
        assert!(e.contains("`abc`"), "{e}");
        assert!(ColumnKind::Bool.cell(Value::List(vec![])).is_err());
    }
}
