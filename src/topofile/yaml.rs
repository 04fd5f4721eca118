//! Small helpers on YAML values: typed reading with the path of a
//! mistake, and conversion to Gale values.

use gale_codec::Value;
use serde_yaml_ng::Value as Yaml;

/// Deserializes `value`, naming the path of a mistake inside it.
pub(super) fn typed<T: serde::de::DeserializeOwned>(value: Yaml) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            e.inner().to_string()
        } else {
            format!("{path}: {}", e.inner())
        }
    })
}

/// A YAML value as a Gale value (for the handshake's `conf`).
pub(super) fn yaml_to_value(v: &Yaml) -> Value {
    match v {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(*b),
        Yaml::Number(n) => n
            .as_i64()
            .map_or_else(|| Value::F64(n.as_f64().unwrap_or(f64::NAN)), Value::I64),
        Yaml::String(s) => Value::Str(s.clone()),
        Yaml::Sequence(items) => Value::List(items.iter().map(yaml_to_value).collect()),
        Yaml::Mapping(m) => Value::Map(
            m.iter()
                .map(|(k, v)| {
                    let key = match k {
                        Yaml::String(s) => s.clone(),
                        other => serde_yaml_ng::to_string(other)
                            .unwrap_or_default()
                            .trim()
                            .to_owned(),
                    };
                    (key, yaml_to_value(v))
                })
                .collect(),
        ),
        Yaml::Tagged(t) => yaml_to_value(&t.value),
    }
}

/// A Gale value as YAML (for a shell's `conf`).
pub(super) fn value_to_yaml(v: &Value) -> Yaml {
    match v {
        Value::Null => Yaml::Null,
        Value::Bool(b) => Yaml::Bool(*b),
        Value::I64(n) => Yaml::Number((*n).into()),
        Value::F64(f) => Yaml::Number((*f).into()),
        Value::Str(s) => Yaml::String(s.clone()),
        Value::Bytes(b) => Yaml::Sequence(b.iter().map(|x| Yaml::Number((*x).into())).collect()),
        Value::List(l) => Yaml::Sequence(l.iter().map(value_to_yaml).collect()),
        Value::Map(m) => Yaml::Mapping(
            m.iter()
                .map(|(k, v)| (Yaml::String(k.clone()), value_to_yaml(v)))
                .collect(),
        ),
    }
}
