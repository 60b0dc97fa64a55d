//! The `approval` section of a `tollgate.yaml`: how long a request is held,
//! where approvals are kept, and who hears of them — read with serde and
//! turned into an [`ApprovalLayer`] by [`ApprovalConfig::layer`].
//!
//! ```yaml
//! approval:
//!   holdSeconds: 20             # then 429 + Retry-After; kubectl retries
//!   store: redis                # memory (one replica) or redis (shared)
//!   redisUrl: redis://127.0.0.1:6379
//!   notify: [slack.kubeconfig]  # POSTed JSON with a Slack-compatible `text`
//! ```
//!
//! ```
//! use tollgate_approval::config::{ApprovalConfig, StoreKind};
//! let yaml = "store: redis\nredisUrl: redis://127.0.0.1:6379\n";
//! let a: ApprovalConfig = tollgate_kube::from_yaml(yaml, "tollgate.yaml")?;
//! a.validate("tollgate.yaml")?;
//! assert_eq!(a.store, StoreKind::Redis);
//! # Ok::<(), tollgate_kube::ConfigError>(())
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tollgate_kube::ConfigError;

use crate::{ApprovalLayer, ApprovalStore, MemoryStore, WebhookNotifier};

/// What an approver runs, shown in notifications and held responses.
pub const APPROVE_HINT: &str = "tollgate approvals approve {id} --kubeconfig <an approver's kubeconfig>";

/// The approval workflow.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[non_exhaustive]
pub struct ApprovalConfig {
    /// Hold a waiting request this long before answering 429 (overrides
    /// the rules' `hold`).
    #[serde(default)]
    pub hold_seconds: Option<u64>,
    /// Where approvals are kept.
    #[serde(default)]
    pub store: StoreKind,
    /// The Redis server (`redis://[:password@]host:port[/db]`) for `store: redis`.
    #[serde(default)]
    pub redis_url: Option<String>,
    /// Webhooks told of new requests and decisions: kubeconfig-format
    /// files naming each receiver (server, CA, credentials).
    #[serde(default)]
    pub notify: Vec<PathBuf>,
}

/// Where approvals are kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum StoreKind {
    /// In this process: one replica.
    #[default]
    Memory,
    /// In Redis, shared by every replica.
    Redis,
}

impl ApprovalConfig {
    /// Checks that `redisUrl` goes with `store: redis`; errors name
    /// `approval.…` fields of `file`.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the field.
    pub fn validate(&self, file: &str) -> Result<(), ConfigError> {
        match (self.store, &self.redis_url) {
            (StoreKind::Redis, None) => Err(ConfigError::new(
                file,
                "approval.redisUrl",
                "required with store: redis",
            )),
            (StoreKind::Memory, Some(_)) => Err(ConfigError::new(
                file,
                "approval.redisUrl",
                "only meaningful with store: redis",
            )),
            _ => Ok(()),
        }
    }

    /// Takes relative paths relative to `dir` (the configuration file's).
    pub fn rebase(&mut self, dir: &Path) {
        for n in &mut self.notify {
            tollgate_kube::rebase(n, dir);
        }
    }

    /// Connects the store and builds the layer; every `notify` receiver
    /// hears of every event.
    ///
    /// # Errors
    /// A [`ConfigError`] naming `approval.redisUrl` when Redis cannot be
    /// reached, or the `approval.notify[i]` file that cannot be used.
    pub async fn layer(&self, file: &str) -> Result<ApprovalLayer, ConfigError> {
        let store: Arc<dyn ApprovalStore> = match (&self.store, &self.redis_url) {
            #[cfg(feature = "redis")]
            (StoreKind::Redis, Some(url)) => Arc::new(
                crate::RedisStore::connect(url)
                    .await
                    .map_err(|e| ConfigError::new(file, "approval.redisUrl", e.to_string()))?,
            ),
            #[cfg(not(feature = "redis"))]
            (StoreKind::Redis, _) => {
                return Err(ConfigError::new(
                    file,
                    "approval.store",
                    "this build has no Redis store (tollgate-approval feature redis)",
                ));
            }
            _ => Arc::new(MemoryStore::default()),
        };
        let notifiers = self.notifiers(file)?;
        let mut layer = ApprovalLayer::new(store).approve_hint(APPROVE_HINT).notifier(notifiers);
        if let Some(h) = self.hold_seconds {
            layer = layer.hold(Duration::from_secs(h));
        }
        Ok(layer)
    }
}

impl ApprovalConfig {
    /// Reads every receiver's kubeconfig without contacting Redis or a
    /// receiver (`tollgate serve --check`).
    ///
    /// # Errors
    /// A [`ConfigError`] naming the `approval.notify[i]` file that cannot
    /// be used.
    pub fn check(&self, file: &str) -> Result<(), ConfigError> {
        self.notifiers(file).map(drop)
    }

    fn notifiers(&self, file: &str) -> Result<Vec<WebhookNotifier>, ConfigError> {
        let mut notifiers = Vec::new();
        for (i, n) in self.notify.iter().enumerate() {
            let upstream = tollgate_proxy::Upstream::from_kubeconfig(n, None)
                .map_err(|e| ConfigError::new(file, format!("approval.notify[{i}]"), e.to_string()))?;
            notifiers.push(WebhookNotifier::new(upstream, APPROVE_HINT));
        }
        Ok(notifiers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<ApprovalConfig, ConfigError> {
        let c: ApprovalConfig = tollgate_kube::from_yaml(yaml, "t.yaml")?;
        c.validate("t.yaml")?;
        Ok(c)
    }

    #[test]
    fn store_and_url_go_together() {
        assert_eq!(parse("holdSeconds: 5\n").unwrap().store, StoreKind::Memory);
        let e = parse("store: redis\n").unwrap_err();
        assert_eq!(e.to_string(), "t.yaml: approval.redisUrl: required with store: redis");
        let e = parse("redisUrl: redis://x\n").unwrap_err();
        assert_eq!(e.field, "approval.redisUrl");
        let e = parse("store: etcd\n").unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (Some(1), "(syntax)"));
        assert!(e.message.contains("etcd"), "{e}");
    }
}
