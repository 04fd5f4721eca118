//! [`Fields`]: the declared schema of a stream.

use std::fmt;
use std::sync::Arc;

/// Errors from declaring a [`Fields`] schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldsError {
    /// The same field name was declared twice.
    #[error("field `{name}` is declared twice (positions {first} and {second})")]
    Duplicate {
        /// The repeated name.
        name: String,
        /// Position of the first declaration.
        first: usize,
        /// Position of the repeated declaration.
        second: usize,
    },
    /// A field name was empty.
    #[error("field at position {position} has an empty name")]
    Empty {
        /// Position of the empty name.
        position: usize,
    },
}

/// The declared, ordered field names of a stream (Storm's `Fields`).
///
/// Cloning is cheap (the names are shared). Lookup by name is a linear scan,
/// which beats hashing for the handful of fields a stream has; the engine
/// resolves names to indices once when a topology starts.
///
/// ```
/// use gale_codec::Fields;
/// let fields = Fields::new(["word", "count"]).unwrap();
/// assert_eq!(fields.index_of("count"), Some(1));
/// assert_eq!(fields.index_of("nope"), None);
/// assert!(Fields::new(["a", "a"]).is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Fields {
    names: Arc<[Box<str>]>,
}

impl Fields {
    /// Declares fields in order; names must be non-empty and distinct.
    pub fn new<I, S>(names: I) -> Result<Self, FieldsError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let names: Vec<Box<str>> = names
            .into_iter()
            .map(|s| s.into().into_boxed_str())
            .collect();
        for (i, name) in names.iter().enumerate() {
            if name.is_empty() {
                return Err(FieldsError::Empty { position: i });
            }
            if let Some(first) = names[..i].iter().position(|n| n == name) {
                return Err(FieldsError::Duplicate {
                    name: name.to_string(),
                    first,
                    second: i,
                });
            }
        }
        Ok(Self {
            names: names.into(),
        })
    }

    /// A schema with no fields.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// `true` when no field is declared.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Position of `name`, if declared.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| &**n == name)
    }

    /// `true` if `name` is declared.
    pub fn contains(&self, name: &str) -> bool {
        self.index_of(name).is_some()
    }

    /// Name of the field at `index`.
    pub fn name(&self, index: usize) -> Option<&str> {
        self.names.get(index).map(|n| &**n)
    }

    /// The names, in declaration order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> {
        self.names.iter().map(|n| &**n)
    }
}

impl fmt::Debug for Fields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl fmt::Display for Fields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, n) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(n)?;
        }
        f.write_str("]")
    }
}
