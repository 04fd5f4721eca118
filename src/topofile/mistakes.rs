//! [`Errors`]: the mistakes (and warnings) found in a topology file, each
//! with its YAML path and, where the text tells, its line.

use super::located::Located;

/// Collects mistakes, each with its YAML path and, where found, its line.
pub(super) struct Errors<'t> {
    pub(super) text: &'t str,
    pub(super) list: Vec<Located>,
    /// Things that are not wrong but not used either (Storm keys Gale
    /// ignores).
    pub(super) warnings: Vec<Located>,
}

impl<'t> Errors<'t> {
    /// Nothing found yet in `text`.
    pub(super) fn new(text: &'t str) -> Self {
        Self {
            text,
            list: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// A mistake at `at`, around `line`. An unknown key (a serde message
    /// "unknown field `streem`") is placed on the line of that key, the
    /// first at or after `line`.
    pub(super) fn push(
        &mut self,
        line: Option<usize>,
        at: impl Into<String>,
        message: impl Into<String>,
    ) {
        let message = message.into();
        let line = unknown_key(&message)
            .and_then(|key| self.key_line(line, key))
            .or(line);
        self.list.push(Located {
            line,
            at: at.into(),
            message,
        });
    }

    /// Something not wrong but not used (a warning).
    pub(super) fn warn(
        &mut self,
        line: Option<usize>,
        at: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.warnings.push(Located {
            line,
            at: at.into(),
            message: message.into(),
        });
    }

    /// The first line at or after `from` (1-based; the whole text if
    /// `None`) that `pred` accepts.
    pub(super) fn line_after(
        &self,
        from: Option<usize>,
        pred: impl Fn(&str) -> bool,
    ) -> Option<usize> {
        let skip = from.map_or(0, |l| l.saturating_sub(1));
        self.text
            .lines()
            .enumerate()
            .skip(skip)
            .find(|(_, l)| !l.trim_start().starts_with('#') && pred(l))
            .map(|(i, _)| i + 1)
    }

    /// The line of key `key` (`key:` after a space, `{`, `,` or `- `), at
    /// or after `from`.
    pub(super) fn key_line(&self, from: Option<usize>, key: &str) -> Option<usize> {
        let pattern = format!("{key}:");
        self.line_after(from, |l| {
            l.match_indices(&pattern).any(|(i, _)| {
                let before = l[..i].trim_end_matches(['"', '\'']);
                before.is_empty() || before.ends_with([' ', '{', ',', '-'])
            })
        })
    }

    /// The line holding the text `value`, at or after `from`.
    pub(super) fn value_line(&self, from: Option<usize>, value: &str) -> Option<usize> {
        self.line_after(from, |l| l.contains(value))
    }

    /// A serde error from a sub-tree at `at` (whose line is `line`).
    pub(super) fn serde(&mut self, line: Option<usize>, at: &str, e: &serde_yaml_ng::Error) {
        let line = e.location().map(|l| l.line()).or(line);
        self.push(line, at, e.to_string());
    }

    /// The line of a top-level key.
    pub(super) fn top_line(&self, key: &str) -> Option<usize> {
        let prefix = format!("{key}:");
        self.text
            .lines()
            .position(|l| l.starts_with(&prefix))
            .map(|i| i + 1)
    }

    /// The line of a component's `id: NAME` (a text search: YAML values
    /// keep no positions).
    pub(super) fn id_line(&self, id: &str) -> Option<usize> {
        self.text
            .lines()
            .position(|l| {
                let l = l
                    .trim_start()
                    .trim_start_matches("- ")
                    .trim_start_matches('{');
                l.strip_prefix("id:").is_some_and(|rest| {
                    let rest = rest.split(',').next().unwrap_or("").trim();
                    rest.trim_matches(|c| c == '"' || c == '\'') == id
                })
            })
            .map(|i| i + 1)
    }

    /// The line of the `n`th item of the top-level sequence `key`.
    pub(super) fn item_line(&self, key: &str, n: usize) -> Option<usize> {
        let start = self.top_line(key)?;
        let mut seen = 0;
        for (i, line) in self.text.lines().enumerate().skip(start) {
            if !line.starts_with(' ') && !line.starts_with('-') && !line.trim().is_empty() {
                break;
            }
            if line.trim_start().starts_with("- ") || line.trim() == "-" {
                let indent = line.len() - line.trim_start().len();
                let top = self
                    .text
                    .lines()
                    .nth(start)
                    .map_or(0, |l| l.len() - l.trim_start().len());
                if indent == top {
                    if seen == n {
                        return Some(i + 1);
                    }
                    seen += 1;
                }
            }
        }
        None
    }
}

/// The key of a serde "unknown field `KEY`" message.
fn unknown_key(message: &str) -> Option<&str> {
    let rest = &message[message.find("unknown field `")? + "unknown field `".len()..];
    rest.split('`').next()
}
