//! The live policy: an `Arc` swapped on reload, so requests in flight keep
//! the policy they started with and an invalid new file changes nothing.

use std::path::Path;
use std::sync::{Arc, RwLock};

use tollgate_kube::ConfigError;

use crate::{Policy, parse_policy};

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
    /// Reloads that succeeded and failed.
    reloads: Arc<[std::sync::atomic::AtomicU64; 2]>,
}

impl PolicyStore {
    /// A store holding `policy`.
    pub fn new(policy: Policy) -> Self {
        PolicyStore {
            current: Arc::new(RwLock::new(Arc::new(policy))),
            reloads: Arc::default(),
        }
    }

    /// Loads a policy file.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the file, line and field.
    pub fn load_file(path: &Path) -> Result<Policy, ConfigError> {
        let file = path.display().to_string();
        let text = tollgate_kube::files::read_config_text(path)
            .map_err(|e| ConfigError::new(&file, "(file)", e.to_string()))?;
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
    pub fn reload_from(&self, path: &Path) -> Result<(), ConfigError> {
        use std::sync::atomic::Ordering::Relaxed;
        match Self::load_file(path) {
            Ok(p) => {
                tracing::info!(file = %path.display(), rules = p.rules.len(), "policy reloaded");
                self.replace(p);
                self.reloads[0].fetch_add(1, Relaxed);
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, "policy reload failed; keeping the previous policy");
                self.reloads[1].fetch_add(1, Relaxed);
                Err(e)
            }
        }
    }

    /// Reloads so far: `(succeeded, failed)`.
    pub fn reload_counts(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.reloads[0].load(Relaxed), self.reloads[1].load(Relaxed))
    }

    /// Reloads the policy from `path` on SIGHUP and when the file's
    /// modification time changes (checked every `every`; zero: on SIGHUP
    /// only); an invalid file keeps the old policy (logged). Reading and
    /// compiling run off the async workers. Needs the `watch` feature and a
    /// tokio runtime.
    #[cfg(feature = "watch")]
    pub fn watch(&self, path: std::path::PathBuf, every: std::time::Duration) -> tokio::task::JoinHandle<()> {
        let store = self.clone();
        let modified = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        let mut last = modified(&path);
        tokio::spawn(async move {
            #[cfg(unix)]
            let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
            loop {
                #[cfg(unix)]
                let signalled = async {
                    match hup.as_mut() {
                        Some(h) => {
                            h.recv().await;
                        }
                        None => std::future::pending::<()>().await,
                    }
                };
                #[cfg(not(unix))]
                let signalled = std::future::pending::<()>();
                let tick = async {
                    if every.is_zero() {
                        std::future::pending::<()>().await
                    } else {
                        tokio::time::sleep(every).await
                    }
                };
                let forced = tokio::select! {
                    () = signalled => true,
                    () = tick => false,
                };
                let now = modified(&path);
                if forced || now != last {
                    last = now;
                    // Reading and compiling a policy is blocking work: off the
                    // async workers, so a large file never stalls requests.
                    let (store, path) = (store.clone(), path.clone());
                    let _ = tokio::task::spawn_blocking(move || store.reload_from(&path)).await;
                }
            }
        })
    }
}
