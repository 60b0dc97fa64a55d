//! The crate's error type.

/// Why redaction could not be set up, or a response could not be masked.
///
/// ```
/// let e = tollgate_redact::Redactor::builder().configmap_keys("(").build().unwrap_err();
/// assert!(matches!(e, tollgate_redact::Error::Config(_)));
/// assert!(e.to_string().contains("ConfigMap key pattern"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A detector, ConfigMap-key pattern or selector that does not compile:
    /// the message names it.
    #[error("{0}")]
    Config(String),
    /// A response that cannot be masked (not JSON, ends inside its list, or
    /// a part over the limit): it is not passed on.
    #[error("{0}")]
    Response(String),
}
