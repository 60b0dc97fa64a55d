//! Policy errors: the file, the line, the field and why.

/// A policy file that cannot be used.
///
/// ```
/// let e = tollgate_rules::PolicyError::new("p.yaml", Some(12), "rules[2].when[0].matches", "bad regex");
/// assert_eq!(e.to_string(), "p.yaml:12: rules[2].when[0].matches: bad regex");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {field}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
#[non_exhaustive]
pub struct PolicyError {
    /// The file.
    pub file: String,
    /// The line of the rule (or of the syntax error), when known.
    pub line: Option<usize>,
    /// The field path.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl PolicyError {
    /// A policy error.
    pub fn new(
        file: impl Into<String>,
        line: Option<usize>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        PolicyError {
            file: file.into(),
            line,
            field: field.into(),
            message: message.into(),
        }
    }
}
