//! [`Located`]: one mistake in a topology file and where it is.

/// One mistake in a topology file and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// 1-based line, where known.
    pub line: Option<usize>,
    /// The YAML path of the offending item (`bolts[1].shell.serializer`),
    /// or empty for the whole file.
    pub at: String,
    /// What is wrong.
    pub message: String,
}
