//! Bounds on configuration text checked before it is parsed: its size and
//! how deeply its brackets nest. A parser given 100,000 nested brackets
//! spends seconds (YAML) or recurses deep (TOML) before it finds the
//! mistake; these checks take one linear pass.

/// Largest cluster, topology or secret file read.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// Deepest nesting of flow brackets (`[`, `{`) in a cluster or topology
/// file; real files stay under ten.
pub const MAX_NESTING: usize = 64;

/// Why configuration text was refused before parsing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    /// Larger than [`MAX_FILE_BYTES`].
    #[error("the text has {len} bytes; more than {MAX_FILE_BYTES} are refused")]
    TooLarge {
        /// Its length.
        len: u64,
    },
    /// Brackets nested deeper than [`MAX_NESTING`].
    #[error("brackets nest deeper than {MAX_NESTING} levels (line {line})")]
    TooDeep {
        /// The 1-based line where the limit was passed.
        line: usize,
    },
}

/// Checks the size of `text` and the nesting of its `[`/`{` brackets,
/// outside quoted strings and `#` comments (YAML and TOML alike).
pub fn check_shape(text: &str) -> Result<(), ShapeError> {
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(ShapeError::TooLarge {
            len: text.len() as u64,
        });
    }
    let (mut depth, mut line) = (0usize, 1usize);
    let mut quote: Option<u8> = None;
    let mut comment = false;
    let mut escaped = false;
    for &b in text.as_bytes() {
        if b == b'\n' {
            line += 1;
            comment = false;
            // Quoted strings of both formats end at the line (multi-line
            // strings only make the count stricter).
            quote = None;
            continue;
        }
        if comment {
            continue;
        }
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if b == b'\\' && q == b'"' {
                escaped = true;
            } else if b == q {
                quote = None;
            }
            continue;
        }
        match b {
            b'"' | b'\'' => quote = Some(b),
            b'#' => comment = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(ShapeError::TooDeep { line });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_brackets_are_refused_in_linear_time_and_strings_do_not_count() {
        let deep = format!("a: {}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(check_shape(&deep), Err(ShapeError::TooDeep { line: 1 }));
        let fine = format!(
            "a: \"{}\" # {}\nb: [[1], {{c: 2}}]\n",
            "[".repeat(500),
            "{".repeat(500)
        );
        assert_eq!(check_shape(&fine), Ok(()));
        let big = "x".repeat(MAX_FILE_BYTES as usize + 1);
        assert!(matches!(
            check_shape(&big),
            Err(ShapeError::TooLarge { .. })
        ));
    }
}
