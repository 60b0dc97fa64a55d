//! The `policy` section of a `tollgate.yaml`: the policy file and how
//! often it is looked at — read with serde and turned into a watched
//! [`PolicyStore`] by [`PolicyConfig::store`].
//!
//! ```yaml
//! policy:
//!   file: policy.yaml           # reloaded on SIGHUP and when it changes
//!   reloadCheckSeconds: 2
//! ```
//!
//! ```
//! let p: tollgate_rules::config::PolicyConfig = tollgate_kube::from_yaml("file: policy.yaml\n", "t.yaml")?;
//! assert_eq!(p.reload_check_seconds, 2);
//! assert!(tollgate_kube::from_yaml::<tollgate_rules::config::PolicyConfig>("file: p\nreload: 1\n", "t.yaml").is_err());
//! # Ok::<(), tollgate_kube::ConfigError>(())
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;
use tollgate_kube::ConfigError;

use crate::PolicyStore;

/// The policy file and how it is reloaded.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[non_exhaustive]
pub struct PolicyConfig {
    /// A `tollgate.dev/v1alpha1` `Policy` file; reloaded on SIGHUP and when it changes.
    pub file: PathBuf,
    /// How often to look for changes (0: only on SIGHUP).
    #[serde(default = "two")]
    pub reload_check_seconds: u64,
}

fn two() -> u64 {
    2
}

impl PolicyConfig {
    /// Takes a relative path relative to `dir` (the configuration file's).
    pub fn rebase(&mut self, dir: &Path) {
        tollgate_kube::rebase(&mut self.file, dir);
    }

    /// Loads the policy and, with the `watch` feature, reloads it on
    /// SIGHUP and when the file changes (needs a tokio runtime).
    ///
    /// # Errors
    /// The policy file's [`ConfigError`] (file, line, field).
    pub fn store(&self) -> Result<PolicyStore, ConfigError> {
        let store = PolicyStore::new(PolicyStore::load_file(&self.file)?);
        #[cfg(feature = "watch")]
        store.watch(
            self.file.clone(),
            std::time::Duration::from_secs(self.reload_check_seconds),
        );
        Ok(store)
    }
}
