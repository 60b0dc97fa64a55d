//! The `approval` section of a `tollgate.yaml`: how long a request is held,
//! where approvals are kept, and who hears of them — read with serde and
//! turned into an [`ApprovalLayer`] by [`ApprovalConfig::layer`].
//!
//! ```yaml
//! approval:
//!   holdSeconds: 20             # then 429 + Retry-After; kubectl retries
//!   store: redis                # memory (one replica) or redis (shared)
//!   redisUrl: rediss://tollgate@cache.example.com:6380   # see docs/approvals.md for every form
//!   redisPasswordFile: /run/secrets/redis-password       # instead of a password in the URL
//!   redisCaFile: redis-ca.pem   # for rediss://; the system's roots when absent
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
    /// The Redis servers for `store: redis`: `redis://`, `rediss://`,
    /// `redis+sentinel://`, `redis+cluster://` (see
    /// [`redis_url`](crate::redis_url)).
    #[serde(default)]
    pub redis_url: Option<String>,
    /// A file holding the Redis password (trailing newline ignored), read
    /// at start; overrides a password in `redisUrl`.
    #[serde(default)]
    pub redis_password_file: Option<PathBuf>,
    /// PEM certificates to trust for `rediss://` instead of the system's.
    #[serde(default)]
    pub redis_ca_file: Option<PathBuf>,
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
            #[cfg(feature = "redis")]
            (StoreKind::Redis, Some(url)) => {
                let target = crate::redis_url::RedisTarget::parse(url)
                    .map_err(|e| ConfigError::new(file, "approval.redisUrl", e))?;
                if self.redis_ca_file.is_some() && !target.tls {
                    return Err(ConfigError::new(
                        file,
                        "approval.redisCaFile",
                        "only meaningful with TLS (rediss://, rediss+sentinel://, rediss+cluster://)",
                    ));
                }
                Ok(())
            }
            _ => Ok(()),
        }
        .and_then(|()| {
            if self.store == StoreKind::Memory && (self.redis_password_file.is_some() || self.redis_ca_file.is_some()) {
                let field = if self.redis_ca_file.is_some() {
                    "approval.redisCaFile"
                } else {
                    "approval.redisPasswordFile"
                };
                return Err(ConfigError::new(file, field, "only meaningful with store: redis"));
            }
            Ok(())
        })
    }

    /// Takes relative paths relative to `dir` (the configuration file's).
    pub fn rebase(&mut self, dir: &Path) {
        for n in &mut self.notify {
            tollgate_kube::rebase(n, dir);
        }
        for p in [&mut self.redis_password_file, &mut self.redis_ca_file]
            .into_iter()
            .flatten()
        {
            tollgate_kube::rebase(p, dir);
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
                crate::RedisStore::connect_with(url, self.redis_options(file)?)
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
        #[cfg(feature = "redis")]
        if self.store == StoreKind::Redis {
            self.redis_options(file)?;
        }
        self.notifiers(file).map(drop)
    }

    /// The password and CA files, read.
    #[cfg(feature = "redis")]
    fn redis_options(&self, file: &str) -> Result<crate::RedisOptions, ConfigError> {
        let mut o = crate::RedisOptions::new();
        if let Some(p) = &self.redis_password_file {
            let text = std::fs::read_to_string(p)
                .map_err(|e| ConfigError::new(file, "approval.redisPasswordFile", format!("{}: {e}", p.display())))?;
            let password = text.trim_end_matches(['\r', '\n']);
            if password.is_empty() {
                return Err(ConfigError::new(
                    file,
                    "approval.redisPasswordFile",
                    format!("{} is empty", p.display()),
                ));
            }
            o = o.password(password);
        }
        if let Some(p) = &self.redis_ca_file {
            let pem = std::fs::read(p)
                .map_err(|e| ConfigError::new(file, "approval.redisCaFile", format!("{}: {e}", p.display())))?;
            let certs =
                <rustls_pki_types::CertificateDer<'_> as rustls_pki_types::pem::PemObject>::pem_slice_iter(&pem)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| ConfigError::new(file, "approval.redisCaFile", format!("{}: {e}", p.display())))?;
            if certs.is_empty() {
                return Err(ConfigError::new(
                    file,
                    "approval.redisCaFile",
                    format!("{} holds no PEM certificate", p.display()),
                ));
            }
            o = o.ca_pem(pem);
        }
        Ok(o)
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

    #[test]
    fn redis_settings_are_checked_before_anything_connects() {
        let e = parse("store: redis\nredisUrl: http://u:hunter2@x\n").unwrap_err();
        assert_eq!(e.field, "approval.redisUrl");
        assert!(
            e.message.contains("starts with redis://") && !e.message.contains("hunter2"),
            "{e}"
        );
        let e = parse("store: redis\nredisUrl: redis://x\nredisCaFile: ca.pem\n").unwrap_err();
        assert_eq!(e.field, "approval.redisCaFile");
        assert!(e.message.contains("TLS"), "{e}");
        let e = parse("redisPasswordFile: p\n").unwrap_err();
        assert_eq!(e.field, "approval.redisPasswordFile");
        parse("store: redis\nredisUrl: rediss+cluster://a,b\nredisCaFile: ca.pem\nredisPasswordFile: p\n").unwrap();
    }

    #[test]
    fn an_empty_password_file_is_named() {
        let dir = std::env::temp_dir().join(format!("tollgate-approval-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("pw"), "\n").unwrap();
        let mut c = parse("store: redis\nredisUrl: redis://x\nredisPasswordFile: pw\n").unwrap();
        c.rebase(&dir);
        let e = c.check("t.yaml").unwrap_err();
        assert_eq!(e.field, "approval.redisPasswordFile");
        assert!(e.message.contains("is empty"), "{e}");
        std::fs::remove_file(dir.join("pw")).unwrap();
        let e = c.check("t.yaml").unwrap_err();
        assert!(e.message.contains("No such file"), "{e}");
    }
}
