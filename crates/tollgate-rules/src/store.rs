//! The live policy: an `Arc` swapped on reload, so requests in flight keep
//! the policy they started with and an invalid new file changes nothing.

use std::path::Path;
use std::sync::{Arc, RwLock};

use crate::{Policy, PolicyError, parse_policy};

/// A shared, reloadable policy.
///
/// ```
/// use tollgate_rules::{Policy, PolicyStore};
/// let store = PolicyStore::new(Policy::allow_all());
/// assert!(store.current().rules.is_empty());
/// ```
#[derive(Debug, Clone)]
pub struct PolicyStore {
    current: Arc<RwLock<Arc<Policy>>>,
}

impl PolicyStore {
    /// A store holding `policy`.
    pub fn new(policy: Policy) -> Self {
        PolicyStore {
            current: Arc::new(RwLock::new(Arc::new(policy))),
        }
    }

    /// Loads a policy file.
    ///
    /// # Errors
    /// A [`PolicyError`] naming the file, line and field.
    pub fn load_file(path: &Path) -> Result<Policy, PolicyError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| PolicyError::new(&file, None, "(file)", e.to_string()))?;
        parse_policy(&text, &file)
    }

    /// The policy in force.
    pub fn current(&self) -> Arc<Policy> {
        match self.current.read() {
            Ok(p) => p.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Replaces the policy.
    pub fn replace(&self, policy: Policy) {
        let mut g = match self.current.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        *g = Arc::new(policy);
    }

    /// Re-reads `path`: a valid file replaces the policy; an invalid one
    /// keeps the old policy, and the error says why.
    ///
    /// # Errors
    /// The new file's problem (the old policy stays in force).
    pub fn reload_from(&self, path: &Path) -> Result<(), PolicyError> {
        match Self::load_file(path) {
            Ok(p) => {
                tracing::info!(file = %path.display(), rules = p.rules.len(), "policy reloaded");
                self.replace(p);
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, "policy reload failed; keeping the previous policy");
                Err(e)
            }
        }
    }
}
