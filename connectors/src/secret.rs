//! Where a connector's server URL and password come from: the topology
//! file names an environment variable or a file, never the secret itself
//! (a command line is visible to every user of the host in `ps`).
//!
//! A literal `url` is accepted only without a password; `url_env` and
//! `url_file` may carry one; `password_env` and `password_file` give the
//! password apart from the URL.

use serde::Deserialize;

use crate::ConnectorError;

/// The keys that say where a server is and how to log in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointConfig {
    /// The URL itself (no password allowed here).
    #[serde(default)]
    pub url: Option<String>,
    /// An environment variable holding the URL.
    #[serde(default)]
    pub url_env: Option<String>,
    /// A file holding the URL (surrounding whitespace trimmed).
    #[serde(default)]
    pub url_file: Option<String>,
    /// An environment variable holding the password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// A file holding the password (a trailing newline trimmed).
    #[serde(default)]
    pub password_file: Option<String>,
}

/// A resolved server address: the URL as given and the password apart.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The URL (may hold a password when it came from `url_env` or
    /// `url_file`).
    pub url: String,
    /// A password given apart from the URL.
    pub password: Option<String>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("url", &redact(&self.url))
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

impl Endpoint {
    /// The URL with any password replaced by `***`, for messages.
    pub fn shown(&self) -> String {
        redact(&self.url)
    }
}

impl EndpointConfig {
    /// Checks what needs no environment: one source of the URL, a
    /// literal URL without a password, at most one source of the
    /// password.
    pub fn check(&self, connector: &'static str, component: &str) -> Result<(), ConnectorError> {
        let err = |key: &str, message: &str| ConnectorError::Config {
            connector,
            component: component.to_owned(),
            key: key.to_owned(),
            message: message.to_owned(),
        };
        match (&self.url, &self.url_env, &self.url_file) {
            (Some(url), None, None) if has_password(url) => Err(err(
                "url",
                "holds a password; give it with `password_env` or `password_file`, or the \
                 whole URL with `url_env` or `url_file`",
            )),
            (Some(_), None, None) | (None, Some(_), None) | (None, None, Some(_)) => Ok(()),
            (None, None, None) => Err(err("url", "give one of `url`, `url_env`, `url_file`")),
            _ => Err(err("url", "give only one of `url`, `url_env`, `url_file`")),
        }?;
        if self.password_env.is_some() && self.password_file.is_some() {
            return Err(err(
                "password_env",
                "give only one of `password_env`, `password_file`",
            ));
        }
        Ok(())
    }

    /// Resolves the URL and password for component `component` of
    /// `connector`.
    pub fn resolve(
        &self,
        connector: &'static str,
        component: &str,
    ) -> Result<Endpoint, ConnectorError> {
        self.check(connector, component)?;
        let err = |key: &str, message: String| ConnectorError::Config {
            connector,
            component: component.to_owned(),
            key: key.to_owned(),
            message,
        };
        let url = match (&self.url, &self.url_env, &self.url_file) {
            (Some(url), _, _) => url.clone(),
            (_, Some(var), _) => std::env::var(var).map_err(|_| {
                err(
                    "url_env",
                    format!("environment variable `{var}` is not set"),
                )
            })?,
            (_, _, Some(path)) => std::fs::read_to_string(path)
                .map_err(|e| err("url_file", format!("cannot read `{path}`: {e}")))?
                .trim()
                .to_owned(),
            (None, None, None) => String::new(), // refused by `check`
        };
        let password = match (&self.password_env, &self.password_file) {
            (None, None) => None,
            (Some(var), _) => Some(std::env::var(var).map_err(|_| {
                err(
                    "password_env",
                    format!("environment variable `{var}` is not set"),
                )
            })?),
            (_, Some(path)) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| err("password_file", format!("cannot read `{path}`: {e}")))?
                    .trim_end_matches(['\r', '\n'])
                    .to_owned(),
            ),
        };
        Ok(Endpoint { url, password })
    }
}

/// The `user:password@` part of a URL, as (start of password, end).
fn password_span(url: &str) -> Option<(usize, usize)> {
    let rest_at = url.find("://")? + 3;
    let rest = &url[rest_at..];
    let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let at = rest[..auth_end].rfind('@')?;
    let colon = rest[..at].find(':')?;
    Some((rest_at + colon + 1, rest_at + at))
}

fn has_password(url: &str) -> bool {
    password_span(url).is_some_and(|(a, b)| b > a)
}

/// `url` with its password (if any) replaced by `***`; a key=value
/// PostgreSQL string has its `password=` value hidden too.
pub fn redact(url: &str) -> String {
    if let Some((a, b)) = password_span(url) {
        return format!("{}***{}", &url[..a], &url[b..]);
    }
    if url.contains("password=") {
        return url
            .split(' ')
            .map(|p| {
                if p.starts_with("password=") {
                    "password=***"
                } else {
                    p
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
    }
    url.to_owned()
}

/// Percent-encodes `s` for the userinfo part of a URL.
pub(crate) fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `url` with `:password@` put in its authority.
pub(crate) fn with_password(url: &str, password: &str) -> Result<String, String> {
    let Some(at) = url.find("://").map(|i| i + 3) else {
        return Err("not a URL (no `://`)".to_owned());
    };
    let rest = &url[at..];
    let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (user, host) = match rest[..auth_end].rfind('@') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => ("", rest),
    };
    let user = user.split(':').next().unwrap_or("");
    Ok(format!(
        "{}{user}:{}@{host}",
        &url[..at],
        percent_encode(password)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_goes_into_the_url_encoded() {
        assert_eq!(
            with_password("redis://127.0.0.1:7000/0", "p@ss:w").unwrap(),
            "redis://:p%40ss%3Aw@127.0.0.1:7000/0"
        );
        assert_eq!(
            with_password("redis://me@h:1", "x").unwrap(),
            "redis://me:x@h:1"
        );
        assert!(with_password("h:1", "x").is_err());
    }

    #[test]
    fn a_password_in_a_url_is_hidden_in_messages() {
        assert_eq!(
            redact("redis://user:s3cret@127.0.0.1:6379/0"),
            "redis://user:***@127.0.0.1:6379/0"
        );
        assert_eq!(redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        assert_eq!(
            redact("host=/tmp user=me password=x dbname=d"),
            "host=/tmp user=me password=*** dbname=d"
        );
    }

    #[test]
    fn a_literal_url_with_a_password_is_refused() {
        let cfg = EndpointConfig {
            url: Some("redis://:pw@127.0.0.1:1".into()),
            ..EndpointConfig::default()
        };
        let e = cfg.resolve("redis-stream-spout", "events").unwrap_err();
        let text = e.to_string();
        assert!(text.contains("redis-stream-spout `events`"), "{text}");
        assert!(text.contains("`url`") && !text.contains("pw"), "{text}");
    }

    #[test]
    fn the_url_and_password_come_from_the_environment_or_a_file() {
        let dir = std::env::temp_dir().join(format!("gale-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pw");
        std::fs::write(&file, "hunter2\n").unwrap();
        std::env::set_var("GALE_TEST_SECRET_URL", "postgres://me@127.0.0.1/db");
        let cfg = EndpointConfig {
            url_env: Some("GALE_TEST_SECRET_URL".into()),
            password_file: Some(file.display().to_string()),
            ..EndpointConfig::default()
        };
        let ep = cfg.resolve("postgres-bolt", "sink").unwrap();
        assert_eq!(ep.url, "postgres://me@127.0.0.1/db");
        assert_eq!(ep.password.as_deref(), Some("hunter2"));
        assert!(!format!("{ep:?}").contains("hunter2"));
        let missing = EndpointConfig {
            url_env: Some("GALE_TEST_SECRET_NOPE".into()),
            ..EndpointConfig::default()
        };
        let text = missing
            .resolve("postgres-bolt", "sink")
            .unwrap_err()
            .to_string();
        assert!(text.contains("GALE_TEST_SECRET_NOPE"), "{text}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
