//! The `masking` section of a `tollgate.yaml`: which responses are masked
//! and how — read with serde and turned into a [`MaskLayer`] by
//! [`MaskingConfig::layer`].
//!
//! ```yaml
//! masking:
//!   all: false                  # or mask every response; rules ask with `mask: true`
//!   configMapKeys: "password|token"
//!   fingerprintKey: "..."       # HMAC fingerprints instead of the marker
//! ```
//!
//! ```
//! let m: tollgate_redact::config::MaskingConfig = tollgate_kube::from_yaml("configMapKeys: '(password'", "t.yaml")?;
//! let e = m.layer("t.yaml").unwrap_err();
//! assert_eq!(e.field, "masking.configMapKeys");
//! # Ok::<(), tollgate_kube::ConfigError>(())
//! ```

use serde::Deserialize;
use tollgate_kube::ConfigError;

use crate::{MaskLayer, Redactor};

/// Response masking: rules with `mask: true` ask for it per request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[non_exhaustive]
pub struct MaskingConfig {
    /// Mask every response, whatever the rules say.
    #[serde(default)]
    pub all: bool,
    /// A regex of ConfigMap keys whose values are masked.
    #[serde(default)]
    pub config_map_keys: Option<String>,
    /// A keyed fingerprint instead of a marker: the key (hex or text).
    #[serde(default)]
    pub fingerprint_key: Option<String>,
}

impl MaskingConfig {
    /// The layer. Secret `data` stays valid base64, so typed clients
    /// (`kubectl describe`, client-go) still decode what they receive.
    ///
    /// # Errors
    /// A [`ConfigError`] naming `masking.configMapKeys` when the regex does
    /// not compile, or `masking.fingerprintKey` in a build without the
    /// `fingerprint` feature.
    pub fn layer(&self, file: &str) -> Result<MaskLayer, ConfigError> {
        let mut b = Redactor::builder().base64_data(true);
        if let Some(k) = &self.config_map_keys {
            b = b.configmap_keys(k.clone());
        }
        if let Some(key) = &self.fingerprint_key {
            #[cfg(feature = "fingerprint")]
            {
                b = b.replacement(crate::Replacement::fingerprint(key.as_bytes().to_vec(), 8));
            }
            #[cfg(not(feature = "fingerprint"))]
            {
                let _ = key;
                return Err(ConfigError::new(
                    file,
                    "masking.fingerprintKey",
                    "this build has no fingerprints (tollgate-redact feature fingerprint)",
                ));
            }
        }
        let redactor = b
            .build()
            .map_err(|e| ConfigError::new(file, "masking.configMapKeys", e.to_string()))?;
        Ok(MaskLayer::new(redactor).mask_all(self.all))
    }
}
