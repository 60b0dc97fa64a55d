//! One error for every configuration file Tollgate reads (the gateway's
//! `tollgate.yaml`, policies, audit policies, the
//! `AuthenticationConfiguration`, owner rules): the file, the line when
//! known, the field and why — what an operator needs to fix it.

/// A configuration file that cannot be used.
///
/// ```
/// use tollgate_kube::ConfigError;
/// let e = ConfigError::new("p.yaml", "rules[2].when[0].matches", "bad regex").at_line(Some(12));
/// assert_eq!(e.to_string(), "p.yaml:12: rules[2].when[0].matches: bad regex");
/// let e = ConfigError::new("authn.yaml", "jwt[0].issuer.url", "must be https");
/// assert_eq!(e.to_string(), "authn.yaml: jwt[0].issuer.url: must be https");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {field}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
#[non_exhaustive]
pub struct ConfigError {
    /// The file (or a source name such as `<inline>`).
    pub file: String,
    /// The line (of the entry, or of a syntax error), when known.
    pub line: Option<usize>,
    /// The field path, e.g. `upstream.kubeconfig` or `rules[2].resources[0].group`;
    /// `(file)` when the file cannot be read, `(syntax)` for YAML errors.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl ConfigError {
    /// An error in `field` of `file`.
    pub fn new(file: impl Into<String>, field: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.into(),
            line: None,
            field: field.into(),
            message: message.into(),
        }
    }

    /// The same error, located at `line` (when known).
    #[must_use]
    pub fn at_line(mut self, line: Option<usize>) -> Self {
        self.line = line;
        self
    }

    /// A file that cannot be read.
    pub fn unreadable(file: &std::path::Path, error: &std::io::Error) -> Self {
        ConfigError::new(file.display().to_string(), "(file)", error.to_string())
    }
}

/// Reads a configuration file's YAML (or JSON) into `T` — a type that
/// derives `Deserialize`, with `deny_unknown_fields` and enums for its
/// choices — within serde-saphyr's default budget (alias expansion and
/// nesting are bounded). A syntax error, an unknown field or a value that is not
/// one of the choices comes back located: file, line, `(syntax)`, and
/// serde's message naming the field.
///
/// ```
/// #[derive(Debug, serde::Deserialize)]
/// #[serde(deny_unknown_fields)]
/// struct Listen {
///     port: u16,
/// }
/// let e = tollgate_kube::from_yaml::<Listen>("port: 80\nhost: x\n", "c.yaml").unwrap_err();
/// assert_eq!((e.file.as_str(), e.line, e.field.as_str()), ("c.yaml", Some(2), "(syntax)"));
/// assert!(e.message.contains("host"), "{e}");
/// assert_eq!(tollgate_kube::from_yaml::<Listen>("port: 80", "c.yaml").unwrap().port, 80);
/// ```
///
/// # Errors
/// A [`ConfigError`] with the line when the text is not a `T`.
pub fn from_yaml<T: serde::de::DeserializeOwned>(text: &str, file: &str) -> Result<T, ConfigError> {
    serde_saphyr::from_str(text).map_err(|e| {
        let line = e.location().and_then(|l| usize::try_from(l.line()).ok());
        ConfigError::new(file, "(syntax)", e.to_string()).at_line(line)
    })
}

/// Takes a path a configuration file names relative to `dir`, the file's
/// own directory (what every section's `rebase` does to its paths).
///
/// ```
/// use std::path::{Path, PathBuf};
/// let mut p = PathBuf::from("policy.yaml");
/// tollgate_kube::rebase(&mut p, Path::new("/etc/tollgate"));
/// assert_eq!(p, Path::new("/etc/tollgate/policy.yaml"));
/// let mut abs = PathBuf::from("/var/log/audit.log");
/// tollgate_kube::rebase(&mut abs, Path::new("/etc/tollgate"));
/// assert_eq!(abs, Path::new("/var/log/audit.log"));
/// ```
pub fn rebase(path: &mut std::path::PathBuf, dir: &std::path::Path) {
    if path.is_relative() {
        *path = dir.join(&*path);
    }
}
