//! Flux's property substitution, on the text before it is parsed:
//! `${ENV-NAME}` becomes environment variable `NAME`, and `${key}` the
//! value of `key` in the properties file given with `--filter FILE`
//! (`${key[i]}`: item `i` of a list value such as `["a", "b"]`). A
//! `${NAME}` or `${NAME:-default}` whose `NAME` is not a property is left
//! for Gale's own expansion of shell commands; any other `${...}` left
//! over is an error naming its line. Comment lines are left alone.

use std::collections::BTreeMap;
use std::path::Path;

use super::error::LoadError;
use super::located::Located;

/// The properties of a `--filter` file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Properties(BTreeMap<String, String>);

impl Properties {
    /// Reads a Java properties file: `key=value`, `key: value` or `key
    /// value` per line; `#` and `!` start comments; a line ending in `\`
    /// continues on the next.
    pub fn read(path: &Path) -> Result<Self, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
            path: path.to_owned(),
            source,
        })?;
        Ok(Self::parse(&text))
    }

    /// Parses the text of a properties file.
    pub fn parse(text: &str) -> Self {
        let mut map = BTreeMap::new();
        let mut pending = String::new();
        for line in text.lines() {
            let line = line.trim_start();
            if pending.is_empty() && (line.is_empty() || line.starts_with(['#', '!'])) {
                continue;
            }
            if let Some(cont) = line.strip_suffix('\\') {
                pending.push_str(cont);
                continue;
            }
            pending.push_str(line);
            let entry = std::mem::take(&mut pending);
            let split = entry.find(['=', ':', ' ', '\t']).unwrap_or(entry.len());
            let key = entry[..split].trim();
            let rest = entry[split..].trim_start();
            let value = rest.strip_prefix(['=', ':']).unwrap_or(rest).trim();
            if !key.is_empty() {
                map.insert(key.to_owned(), value.to_owned());
            }
        }
        Self(map)
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
}

/// `text` with its `${...}` substituted; mistakes are pushed on `errors`
/// (for an included `file`, with its name and line in their place).
pub(super) fn substitute(
    text: &str,
    props: &Properties,
    file: Option<&str>,
    errors: &mut Vec<Located>,
) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if line.trim_start().starts_with('#') || !line.contains("${") {
            out.push_str(line);
            continue;
        }
        let mut rest = line;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let Some(len) = rest[start..].find('}') else {
                out.push_str(&rest[start..]);
                rest = "";
                break;
            };
            let whole = &rest[start..start + len + 1];
            let inner = &whole[2..whole.len() - 1];
            match resolve(inner, props) {
                Ok(Some(value)) => out.push_str(&value),
                Ok(None) => out.push_str(whole),
                Err(message) => {
                    errors.push(match file {
                        None => Located {
                            line: Some(i + 1),
                            at: String::new(),
                            message,
                        },
                        Some(f) => Located {
                            line: None,
                            at: format!("{f}:{}", i + 1),
                            message,
                        },
                    });
                    out.push_str(whole);
                }
            }
            rest = &rest[start + len + 1..];
        }
        out.push_str(rest);
    }
    out
}

/// The value of `${inner}`: `Ok(None)` leaves it for shell-command
/// expansion.
fn resolve(inner: &str, props: &Properties) -> Result<Option<String>, String> {
    if let Some(var) = inner.strip_prefix("ENV-") {
        return std::env::var(var)
            .map(Some)
            .map_err(|_| format!("`${{{inner}}}`: environment variable `{var}` is not set"));
    }
    if let Some(v) = props.get(inner) {
        return Ok(Some(v.to_owned()));
    }
    if let Some((list, index)) = inner.strip_suffix(']').and_then(|s| s.rsplit_once('[')) {
        if let (Some(v), Ok(i)) = (props.get(list), index.parse::<usize>()) {
            let items: Vec<String> = serde_yaml_ng::from_str(v)
                .map_err(|_| format!("`${{{inner}}}`: property `{list}` is not a list"))?;
            return items.get(i).cloned().map(Some).ok_or_else(|| {
                format!(
                    "`${{{inner}}}`: property `{list}` has {} items",
                    items.len()
                )
            });
        }
    }
    let name = inner.split(":-").next().unwrap_or(inner);
    let is_env_name = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if is_env_name {
        Ok(None)
    } else {
        Err(format!(
            "`${{{inner}}}`: no property `{inner}` (give it in the properties file of \
             `--filter FILE`, or write `${{ENV-NAME}}` for an environment variable)"
        ))
    }
}
