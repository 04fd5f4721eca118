//! [`Out`]: the built-in's `args` that a Storm connector class's
//! configuration becomes, and what in it Gale cannot do; helpers that
//! read Flux arguments.

use gale_codec::Value;
use serde_yaml_ng::Value as Yaml;

use crate::topofile::registry::{Arg, ClassArgs};
use crate::topofile::yaml::value_to_yaml;

/// Something in a class's configuration that Gale does not do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    /// The YAML path below the component (`configMethods.withPartitioner`).
    pub(crate) at: String,
    /// Text on the offending line (a method, a class, a key), to find it.
    pub(crate) near: String,
    /// What is wrong (naming the class and method).
    pub(crate) message: String,
    /// A warning (ignored, not wrong) rather than an error.
    pub(crate) warning: bool,
}

/// What a connector class's configuration becomes.
#[derive(Debug, Default)]
pub(crate) struct Out {
    /// The built-in's `args`, in the order set.
    pub(crate) args: Vec<(String, Yaml)>,
    /// Errors and warnings.
    pub(crate) problems: Vec<Problem>,
}

impl Out {
    /// Sets built-in argument `key` (a later setting replaces an earlier).
    pub(crate) fn set(&mut self, key: &str, value: impl Into<Yaml>) {
        let value = value.into();
        match self.args.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value,
            None => self.args.push((key.to_owned(), value)),
        }
    }

    /// Whether `key` was set.
    pub(crate) fn has(&self, key: &str) -> bool {
        self.args.iter().any(|(k, _)| k == key)
    }

    /// An error at `at`, on the line holding `near`.
    pub(crate) fn error(&mut self, at: &str, near: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            at: at.to_owned(),
            near: near.to_owned(),
            message: message.into(),
            warning: false,
        });
    }

    /// A warning (a setting Gale ignores) at `at`, on the line of `near`.
    pub(crate) fn warn(&mut self, at: &str, near: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            at: at.to_owned(),
            near: near.to_owned(),
            message: message.into(),
            warning: true,
        });
    }

    /// An error for each of `args`'s properties: `class` takes none
    /// (`rest` says where its other settings go).
    pub(crate) fn no_properties(&mut self, class: &str, args: &ClassArgs, rest: &str) {
        for (name, _) in &args.properties {
            self.error(
                &format!("properties.{name}"),
                name,
                format!("`{class}` takes no properties ({rest})"),
            );
        }
    }

    /// An error if `args` has constructor arguments: `class` is set up by
    /// its config methods.
    pub(crate) fn no_constructor_args(&mut self, class: &str, args: &ClassArgs) {
        if !args.constructor_args.is_empty() {
            self.error(
                "constructorArgs",
                class,
                format!("`{class}` takes no constructor arguments (its config methods set it up)"),
            );
        }
    }

    /// Config method `method` of `class` at `at`, given `a`, a number of
    /// seconds above 0: sets `key` to it in milliseconds.
    pub(crate) fn seconds_as_ms(
        &mut self,
        (class, method, at): (&str, &str, &str),
        a: Option<&Arg>,
        key: &str,
    ) {
        match a.and_then(count).filter(|n| *n > 0) {
            Some(n) => self.set(key, n.saturating_mul(1000)),
            None => self.error(
                at,
                method,
                format!("`{class}`.{method} takes a number of seconds above 0"),
            ),
        }
    }

    /// Whether an error was found.
    pub(crate) fn failed(&self) -> bool {
        self.problems.iter().any(|p| !p.warning)
    }

    /// Copies Gale's own keys from `properties` (for objects and classes
    /// that take a built-in's `args` as properties): each must be one of
    /// `allowed`; `at` is the path of `args` (empty: the component's own).
    pub(crate) fn gale_properties(
        &mut self,
        at: &str,
        who: &str,
        args: &ClassArgs,
        allowed: &[&str],
    ) {
        for (name, value) in &args.properties {
            let at = format!("{at}properties.{name}");
            if !allowed.contains(&name.as_str()) {
                self.error(
                    &at,
                    name,
                    format!("`{who}` has no property `{name}` in Gale (it takes: {allowed:?})"),
                );
                continue;
            }
            match value {
                Arg::Value(v) => self.set(name, value_to_yaml(v)),
                _ => self.error(
                    &at,
                    name,
                    format!("`{who}` property `{name}` takes a value, not a `ref`"),
                ),
            }
        }
    }
}

/// A string argument.
pub(crate) fn text(a: &Arg) -> Option<String> {
    match a {
        Arg::Value(Value::Str(s)) => Some(s.clone()),
        _ => None,
    }
}

/// An integer argument (a whole float or a numeric string too).
pub(crate) fn int(a: &Arg) -> Option<i64> {
    match a {
        Arg::Value(Value::I64(n)) => Some(*n),
        Arg::Value(Value::F64(f)) if f.fract() == 0.0 && f.is_finite() => Some(*f as i64),
        Arg::Value(Value::Str(s)) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A non-negative integer argument.
pub(crate) fn count(a: &Arg) -> Option<u64> {
    int(a).and_then(|n| u64::try_from(n).ok())
}

/// A number argument.
pub(crate) fn number(a: &Arg) -> Option<f64> {
    match a {
        Arg::Value(Value::I64(n)) => Some(*n as f64),
        Arg::Value(Value::F64(f)) => Some(*f),
        Arg::Value(Value::Str(s)) => s.trim().parse().ok(),
        _ => None,
    }
}

/// An enum constant (`MB`, `Units.MB`, `"minutes"`), upper-cased.
pub(crate) fn constant(a: &Arg) -> Option<String> {
    text(a).map(|s| s.rsplit('.').next().unwrap_or("").trim().to_uppercase())
}

/// The definition behind a `ref` of one of `classes`.
pub(crate) fn object<'a>(a: &'a Arg, classes: &[&str]) -> Option<&'a ClassArgs> {
    match a {
        Arg::Object(o) if classes.contains(&o.class_name.as_str()) => Some(o),
        _ => None,
    }
}

/// What a `ref` names, for messages: its class, or that it is no `ref`.
pub(crate) fn what(a: &Arg) -> String {
    match a {
        Arg::Object(o) => format!("a `{}`", o.class_name),
        Arg::List(_) => "a `reflist`".to_owned(),
        Arg::Value(v) => format!("the value {v:?}"),
    }
}

/// The one argument of a method that takes one.
pub(crate) fn only(args: &[Arg]) -> Option<&Arg> {
    match args {
        [a] => Some(a),
        _ => None,
    }
}

/// The path of a `file://` URL or a plain path; `None` for another
/// scheme (`hdfs://`).
pub(crate) fn local_path(url: &str) -> Option<String> {
    if let Some(rest) = url.strip_prefix("file://") {
        // file:///data -> /data; file://localhost/data -> /data
        let path = rest.find('/').map_or("", |i| &rest[i..]);
        return Some(path.to_owned());
    }
    if let Some(rest) = url.strip_prefix("file:") {
        return Some(rest.to_owned());
    }
    (!url.contains("://")).then(|| url.to_owned())
}

/// `base` and `path` joined as Storm joins a file system URL and a path.
pub(crate) fn join(base: &str, path: &str) -> String {
    match (base.trim_end_matches('/'), path) {
        ("", p) if base.is_empty() => p.to_owned(),
        (b, "") => b.to_owned(),
        (b, p) => format!("{b}/{}", p.trim_start_matches('/')),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_urls_become_paths_and_other_schemes_are_refused() {
        assert_eq!(local_path("file:///data/in").as_deref(), Some("/data/in"));
        assert_eq!(local_path("file://localhost/d").as_deref(), Some("/d"));
        assert_eq!(local_path("/plain").as_deref(), Some("/plain"));
        assert_eq!(local_path("hdfs://nn:8020"), None);
        assert_eq!(join("/", "/tmp/out/"), "/tmp/out/");
        assert_eq!(join("", "out"), "out");
        assert_eq!(join("/base/", ""), "/base");
    }
}
