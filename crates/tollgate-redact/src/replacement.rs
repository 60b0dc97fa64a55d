//! What a secret becomes: a fixed marker, or a keyed fingerprint that lets a
//! reviewer see that two values are equal without seeing them.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

/// How redacted values are written. The fingerprint needs the
/// `fingerprint` feature (on by default).
///
/// ```
/// use tollgate_redact::Replacement;
/// let m = Replacement::marker("<redacted>");
/// assert_eq!(m.replace("hunter2", false), "<redacted>");
/// let f = Replacement::fingerprint(b"per-deployment key".to_vec(), 8);
/// assert_eq!(f.replace("hunter2", false), f.replace("hunter2", false));
/// assert_ne!(f.replace("hunter2", false), f.replace("hunter3", false));
/// assert!(f.replace("hunter2", false).starts_with("hmac-sha256:"));
/// ```
#[derive(Clone)]
pub enum Replacement {
    /// Every value becomes this text.
    Marker(String),
    /// `hmac-sha256:<hex of the first n bytes>` of the value under a key.
    #[cfg(feature = "fingerprint")]
    Fingerprint {
        /// The per-deployment key.
        key: std::sync::Arc<aws_lc_rs::hmac::Key>,
        /// How many bytes of the MAC to show.
        bytes: usize,
    },
}

impl std::fmt::Debug for Replacement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Replacement::Marker(m) => f.debug_tuple("Marker").field(m).finish(),
            #[cfg(feature = "fingerprint")]
            Replacement::Fingerprint { bytes, .. } => f
                .debug_struct("Fingerprint")
                .field("bytes", bytes)
                .finish_non_exhaustive(),
        }
    }
}

impl Replacement {
    /// A fixed marker.
    pub fn marker(text: impl Into<String>) -> Self {
        Replacement::Marker(text.into())
    }

    /// A keyed fingerprint showing `bytes` bytes (4..=32) of HMAC-SHA256.
    #[cfg(feature = "fingerprint")]
    pub fn fingerprint(key: Vec<u8>, bytes: usize) -> Self {
        Replacement::Fingerprint {
            key: std::sync::Arc::new(aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &key)),
            bytes: bytes.clamp(4, 32),
        }
    }

    /// The replacement text for `value`; `as_base64` keeps a base64 field
    /// valid base64 (Secret `data`).
    pub fn replace(&self, value: &str, as_base64: bool) -> String {
        #[cfg(not(feature = "fingerprint"))]
        let _ = value;
        let text = match self {
            Replacement::Marker(m) => m.clone(),
            #[cfg(feature = "fingerprint")]
            Replacement::Fingerprint { key, bytes } => {
                let tag = aws_lc_rs::hmac::sign(key, value.as_bytes());
                let hex: String = tag.as_ref().iter().take(*bytes).map(|b| format!("{b:02x}")).collect();
                format!("hmac-sha256:{hex}")
            }
        };
        if as_base64 { STANDARD.encode(text) } else { text }
    }

    /// The replacement for any JSON value (non-strings are fingerprinted by
    /// their JSON text); always a string.
    pub(crate) fn replace_value(&self, value: &Value, as_base64: bool) -> Value {
        let text = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        Value::String(self.replace(&text, as_base64))
    }
}

impl Default for Replacement {
    fn default() -> Self {
        Replacement::marker("<redacted>")
    }
}
