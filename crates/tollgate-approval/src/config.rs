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
//!   externalUrl: https://tollgate.example.com   # links in notifications
//!   notify:
//!     - urlFile: slack-webhook-url   # the URL is a secret: kept in a file
//!       format: slack                # slack | teams | json
//!     - url: https://hooks.example.com/tollgate
//!       secretFile: hook-secret      # X-Tollgate-Signature (HMAC-SHA256)
//!     - kubeconfig: receiver.kubeconfig   # server, CA and credentials
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

use crate::{ApprovalLayer, ApprovalStore, Format, Hints, MemoryStore, WebhookNotifier};

/// What an approver runs, shown in notifications and held responses (the
/// kubectl plugin; `tollgate approvals approve {id}` is the same command).
pub const APPROVE_HINT: &str = "kubectl tollgate approvals approve {id}";

/// How an approver denies.
pub const DENY_HINT: &str = "kubectl tollgate approvals deny {id} --reason \"…\"";

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
    /// A file holding the Sentinels' own password (their `requirepass`;
    /// trailing newline ignored), for a `redis+sentinel://` URL.
    #[serde(default)]
    pub redis_sentinel_password_file: Option<PathBuf>,
    /// PEM certificates to trust for `rediss://` instead of the system's.
    #[serde(default)]
    pub redis_ca_file: Option<PathBuf>,
    /// Receivers told of new requests and decisions.
    #[serde(default, deserialize_with = "receivers")]
    pub notify: Vec<Receiver>,
    /// The gateway's URL as approvers reach it, for links to an approval
    /// in notifications (`https://tollgate.example.com`).
    #[serde(default)]
    pub external_url: Option<String>,
}

/// One notification receiver: a URL (given, or read from a file since a
/// Slack or Teams webhook URL is a secret) or a kubeconfig-format file; a
/// bare string is a kubeconfig path.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[non_exhaustive]
pub struct Receiver {
    /// The webhook URL (`https://`; `http://` on loopback only).
    #[serde(default)]
    pub url: Option<String>,
    /// A file holding the URL (first line).
    #[serde(default)]
    pub url_file: Option<PathBuf>,
    /// A kubeconfig-format file: server, CA, client certificate, token.
    #[serde(default)]
    pub kubeconfig: Option<PathBuf>,
    /// The body's format.
    #[serde(default)]
    pub format: Format,
    /// PEM certificates to trust for `url` instead of the system's.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// A file holding the HMAC-SHA256 secret that signs each body.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
}

impl<'de> serde::Deserialize<'de> for ReceiverEntry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = ReceiverEntry;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a kubeconfig path, or {url | urlFile | kubeconfig, format, caFile, secretFile}")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ReceiverEntry, E> {
                Ok(ReceiverEntry(Receiver {
                    kubeconfig: Some(PathBuf::from(v)),
                    ..Receiver::default()
                }))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<ReceiverEntry, A::Error> {
                Receiver::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(ReceiverEntry)
            }
        }
        d.deserialize_any(V)
    }
}

fn receivers<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Receiver>, D::Error> {
    Ok(Vec::<ReceiverEntry>::deserialize(d)?.into_iter().map(|e| e.0).collect())
}

/// A [`Receiver`] as written: a string or a map.
#[derive(Debug, Clone)]
struct ReceiverEntry(Receiver);

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
                if self.redis_sentinel_password_file.is_some()
                    && !matches!(target.topology, crate::redis_url::Topology::Sentinel { .. })
                {
                    return Err(ConfigError::new(
                        file,
                        "approval.redisSentinelPasswordFile",
                        "only meaningful with Sentinel (redis+sentinel://, rediss+sentinel://)",
                    ));
                }
                Ok(())
            }
            _ => Ok(()),
        }
        .and_then(|()| {
            if self.store == StoreKind::Memory
                && (self.redis_password_file.is_some()
                    || self.redis_ca_file.is_some()
                    || self.redis_sentinel_password_file.is_some())
            {
                let field = if self.redis_ca_file.is_some() {
                    "approval.redisCaFile"
                } else if self.redis_sentinel_password_file.is_some() {
                    "approval.redisSentinelPasswordFile"
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
            for p in [&mut n.url_file, &mut n.kubeconfig, &mut n.ca_file, &mut n.secret_file]
                .into_iter()
                .flatten()
            {
                tollgate_kube::rebase(p, dir);
            }
        }
        for p in [
            &mut self.redis_password_file,
            &mut self.redis_sentinel_password_file,
            &mut self.redis_ca_file,
        ]
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
        let stats = Arc::new(crate::NotifyStats::default());
        let notifiers: Vec<WebhookNotifier> = self
            .notifiers(file)?
            .into_iter()
            .map(|n| n.stats_into(stats.clone()))
            .collect();
        let mut layer = ApprovalLayer::new(store)
            .approve_hint(APPROVE_HINT)
            .notifier(notifiers)
            .notify_stats(stats);
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
        let secret = |p: &Path, field: &str| -> Result<String, ConfigError> {
            let text = tollgate_kube::files::read_config_text(p)
                .map_err(|e| ConfigError::new(file, field, format!("{}: {e}", p.display())))?;
            let secret = text.trim_end_matches(['\r', '\n']);
            if secret.is_empty() {
                return Err(ConfigError::new(file, field, format!("{} is empty", p.display())));
            }
            Ok(secret.to_owned())
        };
        let mut o = crate::RedisOptions::new();
        if let Some(p) = &self.redis_password_file {
            o = o.password(secret(p, "approval.redisPasswordFile")?);
        }
        if let Some(p) = &self.redis_sentinel_password_file {
            o = o.sentinel_password(secret(p, "approval.redisSentinelPasswordFile")?);
        }
        if let Some(p) = &self.redis_ca_file {
            let pem = tollgate_kube::files::read_config(p)
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
        let hints = Hints {
            approve: APPROVE_HINT.to_owned(),
            deny: DENY_HINT.to_owned(),
            external_url: self.external_url.clone(),
        };
        let mut notifiers = Vec::new();
        for (i, n) in self.notify.iter().enumerate() {
            let field = |f: &str| format!("approval.notify[{i}]{f}");
            let bad = |f: &str, m: String| ConfigError::new(file, field(f), m);
            let read = |f: &str, p: &Path| {
                tollgate_kube::files::read_config(p).map_err(|e| bad(f, format!("{}: {e}", p.display())))
            };
            let upstream = match (&n.url, &n.url_file, &n.kubeconfig) {
                (Some(url), None, None) => webhook(url, n, &read, &bad)?,
                (None, Some(p), None) => {
                    let text = read(".urlFile", p)?;
                    let url = String::from_utf8_lossy(&text)
                        .lines()
                        .next()
                        .unwrap_or("")
                        .trim()
                        .to_owned();
                    if url.is_empty() {
                        return Err(bad(".urlFile", format!("{} is empty", p.display())));
                    }
                    webhook(&url, n, &read, &bad)?
                }
                (None, None, Some(k)) => {
                    if n.ca_file.is_some() {
                        return Err(bad(
                            ".caFile",
                            "the kubeconfig names its own certificate-authority".to_owned(),
                        ));
                    }
                    tollgate_proxy::Upstream::from_kubeconfig(k, None).map_err(|e| bad("", e.to_string()))?
                }
                _ => return Err(bad("", "give exactly one of url, urlFile and kubeconfig".to_owned())),
            };
            let mut notifier = WebhookNotifier::new(upstream).format(n.format).hints(hints.clone());
            if let Some(p) = &n.secret_file {
                let secret = read(".secretFile", p)?;
                let secret = secret.trim_ascii_end();
                if secret.len() < 16 {
                    return Err(bad(
                        ".secretFile",
                        format!(
                            "{} holds {} bytes; a signing secret needs at least 16",
                            p.display(),
                            secret.len()
                        ),
                    ));
                }
                notifier = notifier.secret(secret.to_vec());
            }
            notifiers.push(notifier);
        }
        Ok(notifiers)
    }
}

/// Reads a file a field names, the error naming the field.
type ReadFile<'a> = dyn Fn(&str, &Path) -> Result<Vec<u8>, ConfigError> + 'a;

fn webhook(
    url: &str,
    n: &Receiver,
    read: &ReadFile<'_>,
    bad: &dyn Fn(&str, String) -> ConfigError,
) -> Result<tollgate_proxy::Upstream, ConfigError> {
    let ca = n.ca_file.as_deref().map(|p| read(".caFile", p)).transpose()?;
    tollgate_proxy::Upstream::webhook(url, ca.as_deref(), "receiver").map_err(|e| match e {
        tollgate_proxy::Error::Config { field, message, .. } => {
            let f = if field == "caFile" { ".caFile" } else { ".url" };
            bad(f, message)
        }
        other => bad(".url", other.to_string()),
    })
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
        let e = parse("redisSentinelPasswordFile: p\n").unwrap_err();
        assert_eq!(e.field, "approval.redisSentinelPasswordFile");
        let e = parse("store: redis\nredisUrl: rediss+cluster://a:1,b:2\nredisSentinelPasswordFile: p\n").unwrap_err();
        assert_eq!(e.field, "approval.redisSentinelPasswordFile");
        parse("store: redis\nredisUrl: rediss+sentinel://a:1,b:2/m\nredisSentinelPasswordFile: p\n").unwrap();
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
