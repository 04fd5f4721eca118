//! [`snippet`]: the start of a long text, for error messages.

/// The start of a long text, for error messages.
pub(crate) fn snippet(text: &str) -> String {
    const MAX: usize = 200;
    let text = text.trim();
    match text.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}
