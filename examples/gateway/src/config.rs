//! The configuration file of `tollgate serve`.
//!
//! ```yaml
//! listen: 0.0.0.0:8443          # the API listener
//! workers: auto                 # connection-serving threads: one per core; or a number; 0: shared runtime
//! tls:                          # required unless listen is a loopback address
//!   cert: /etc/tollgate/tls.crt
//!   key: /etc/tollgate/tls.key
//! admin:
//!   listen: 127.0.0.1:9090      # /livez, /readyz, /metrics
//!   issuersReady: all           # or any
//! upstream:
//!   kubeconfig: /etc/tollgate/upstream.kubeconfig   # or: inCluster: true
//!   context: prod               # optional
//!   connectTimeoutSeconds: 10
//!   responseTimeoutSeconds: 60
//! limits:
//!   maxBodyBytes: 3145728
//!   bodyTimeoutSeconds: 60
//!   identity: impersonate       # or passthrough (the client's token goes upstream)
//! authentication:
//!   mode: oidc                  # or none: every request as the gateway itself
//!   config: authn.yaml          # the API server's AuthenticationConfiguration
//!   owners: owners.yaml         # owner rules (a YAML list)
//!   unmapped: allow             # or refuse
//!   nbfLeewaySeconds: 60
//!   algorithms:                 # optional, per issuer
//!     https://token.actions.githubusercontent.com: [RS256]
//! log:
//!   format: text                # or json (one object per line, with the request's audit ID)
//! shutdown:
//!   graceSeconds: 5             # not ready, still serving
//!   drainSeconds: 30            # then in-flight requests finish
//! policy:
//!   file: policy.yaml           # reloaded on SIGHUP and when it changes
//!   reloadCheckSeconds: 2
//! masking:
//!   all: false                  # or mask every response; rules ask with `mask: true`
//!   configMapKeys: "password|token"
//!   fingerprintKey: "..."       # HMAC fingerprints instead of the marker
//! audit:
//!   policy: audit-policy.yaml   # a Kubernetes audit Policy (default: all at Metadata)
//!   log:                        # JSON lines (omit for none)
//!     path: audit/audit.log
//!     maxSizeMB: 100
//!     maxBackups: 10
//!     durability: batch         # none | batch (written, synced within syncIntervalMs) | request (synced)
//!     syncIntervalMs: 100
//!   stdout: false               # also write records to standard output
//!   confirmTimeoutSeconds: 5    # a request waits this long for its record, then 503
//!   queue: 10000
//!   batchLingerMs: 0            # wait this long between batches (larger batches, fewer syncs, more latency)
//!   webhook:                    # the API server's webhook format: POSTed EventLists
//!     kubeconfig: audit-webhook.kubeconfig   # as --audit-webhook-config-file
//!     mode: spool               # or failClosed (refuse requests while it is down)
//!     spoolDir: spool
//!     spoolMaxMB: 1024          # then fail closed
//!     initialBackoffSeconds: 10
//!   sessions:                   # exec/attach as asciicast files
//!     dir: sessions
//!     stdin: false
//!     required: true            # refuse a session that cannot be recorded
//! approval:                     # require_approval rules wait for a human
//!   holdSeconds: 20             # then 429 + Retry-After; kubectl retries
//!   store: memory               # one replica; or redis, shared by several
//!   redisUrl: redis://127.0.0.1:6379
//!   notify: [slack.kubeconfig]  # POSTed JSON with a Slack-compatible `text`
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
pub use tollgate_kube::ConfigError;
use tollgate_proxy::{TrustedProxy, UpstreamIdentity};

/// The whole file. Each capability's section is its crate's type; this
/// file adds the listeners, the upstream and the limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[non_exhaustive]
pub struct Config {
    /// The API listener address.
    pub listen: SocketAddr,
    /// TLS for the API listener.
    #[serde(default)]
    pub tls: Option<Tls>,
    /// The admin listener.
    #[serde(default)]
    pub admin: Option<Admin>,
    /// Where requests go.
    pub upstream: UpstreamConfig,
    /// Request and connection limits.
    #[serde(default)]
    pub limits: tollgate_proxy::LimitsConfig,
    /// Threads serving connections, a runtime each: `auto` (one per core), a number, or 0.
    #[serde(default)]
    pub workers: tollgate_proxy::WorkerCount,
    /// How clients are authenticated.
    pub authentication: Option<tollgate_oidc::config::AuthnConfig>,
    /// Shutdown behaviour.
    #[serde(default)]
    pub shutdown: Shutdown,
    /// The log's format.
    #[serde(default)]
    pub log: Log,
    /// The policy (rules) file.
    #[serde(default)]
    pub policy: Option<tollgate_rules::config::PolicyConfig>,
    /// Response masking.
    #[serde(default)]
    pub masking: tollgate_redact::config::MaskingConfig,
    /// Audit records.
    #[serde(default)]
    pub audit: Option<tollgate_audit::config::AuditConfig>,
    /// Just-in-time approval of requests rules mark `require_approval`.
    #[serde(default)]
    pub approval: Option<tollgate_approval::config::ApprovalConfig>,
    /// Peers (addresses or CIDR networks) whose `X-Forwarded-For`,
    /// `X-Real-Ip` and `Forwarded` headers are believed; from anyone else
    /// they are dropped. None by default.
    #[serde(default)]
    pub trusted_proxies: Vec<TrustedProxy>,
    /// The file this was read from (for error messages).
    #[serde(skip)]
    pub source: String,
}

/// PEM files for the listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Tls {
    /// Certificate chain, PEM.
    pub cert: PathBuf,
    /// Private key, PEM.
    pub key: PathBuf,
}

/// The admin listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Admin {
    /// Its address.
    pub listen: SocketAddr,
    /// `/readyz` waits for `all` (default) or `any` of the OIDC issuers'
    /// first successful discovery.
    #[serde(default, rename = "issuersReady")]
    pub issuers_ready: tollgate_metrics::IssuersReady,
}

/// The upstream API server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[non_exhaustive]
pub struct UpstreamConfig {
    /// A kubeconfig file.
    #[serde(default)]
    pub kubeconfig: Option<PathBuf>,
    /// Its context (default: current-context).
    #[serde(default)]
    pub context: Option<String>,
    /// Use the pod's service account.
    #[serde(default)]
    pub in_cluster: bool,
    /// TCP connect timeout.
    #[serde(default = "ten")]
    pub connect_timeout_seconds: u64,
    /// Response-header timeout for short requests.
    #[serde(default = "sixty")]
    pub response_timeout_seconds: u64,
    /// `impersonate` (default) or `passthrough`.
    #[serde(default)]
    pub identity: UpstreamIdentity,
}

/// Logging (standard error).
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[non_exhaustive]
pub struct Log {
    /// `text` (default) or `json`: one object per line, with the request's
    /// span (audit ID, user, owner, decision).
    #[serde(default)]
    pub format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum LogFormat {
    /// `key=value` text; colour only on a terminal and without `NO_COLOR`.
    #[default]
    Text,
    /// JSON lines.
    Json,
}

/// Shutdown.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct Shutdown {
    /// After SIGTERM, how long the listener keeps accepting while
    /// `/readyz` already fails (load balancers stop sending meanwhile).
    pub grace_seconds: u64,
    /// Then, how long in-flight requests may take to finish.
    pub drain_seconds: u64,
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown {
            grace_seconds: 5,
            drain_seconds: 30,
        }
    }
}

fn ten() -> u64 {
    10
}
fn sixty() -> u64 {
    60
}

impl Config {
    /// Reads and validates a file; relative paths in it are taken relative
    /// to the file's directory.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the file, the field (or line) and why.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = tollgate_kube::files::read_config_text(path).map_err(|e| ConfigError::unreadable(path, &e))?;
        let mut config = Config::parse(&text, &path.display().to_string())?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let rebase = |p: &mut PathBuf| tollgate_kube::rebase(p, dir);
        if let Some(t) = config.tls.as_mut() {
            rebase(&mut t.cert);
            rebase(&mut t.key);
        }
        if let Some(k) = config.upstream.kubeconfig.as_mut() {
            rebase(k);
        }
        if let Some(p) = config.policy.as_mut() {
            p.rebase(dir);
        }
        if let Some(a) = config.audit.as_mut() {
            a.rebase(dir);
        }
        if let Some(a) = config.approval.as_mut() {
            a.rebase(dir);
        }
        if let Some(a) = config.authentication.as_mut() {
            a.rebase(dir);
        }
        Ok(config)
    }

    /// Parses and validates text.
    ///
    /// # Errors
    /// A [`ConfigError`].
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        let err = |field: &str, message: String| Err(ConfigError::new(file, field, message));
        let mut config: Config = tollgate_kube::from_yaml(text, file)?;
        config.source = file.to_owned();
        if config.tls.is_none() && !config.listen.ip().is_loopback() {
            return err(
                "tls",
                format!(
                    "required: plaintext is allowed only on a loopback address, and {} is not one",
                    config.listen.ip()
                ),
            );
        }
        let up = &config.upstream;
        match (&up.kubeconfig, up.in_cluster) {
            (Some(_), true) => return err("upstream", "set either kubeconfig or inCluster, not both".to_owned()),
            (None, false) => return err("upstream", "set kubeconfig or inCluster: true".to_owned()),
            _ => {}
        }
        if up.context.is_some() && up.kubeconfig.is_none() {
            return err(
                "upstream.context",
                "only meaningful with upstream.kubeconfig".to_owned(),
            );
        }
        config.limits.validate(file)?;
        match &config.authentication {
            Some(a) => a.validate(file)?,
            None => {
                return err(
                    "authentication",
                    "required: set `mode: none` to forward every request as the gateway's own identity".to_owned(),
                );
            }
        }
        if let Some(a) = &config.audit {
            a.validate(file)?;
        }
        if let Some(a) = &config.approval {
            a.validate(file)?;
        }
        if let Some(admin) = &config.admin
            && admin.listen == config.listen
            && admin.listen.port() != 0
        {
            return err(
                "admin.listen",
                "must differ from listen: admin paths are kept apart from the API".to_owned(),
            );
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "listen: 127.0.0.1:8443\nupstream:\n  kubeconfig: k\nauthentication:\n  mode: none\n";

    #[test]
    fn the_reference_configuration_in_the_docs_loads() {
        // docs/configuration.md's first YAML block is what operators copy.
        let doc = include_str!("../../../docs/configuration.md");
        let block = doc
            .split("```yaml\n")
            .nth(1)
            .and_then(|b| b.split("```").next())
            .expect("a yaml block");
        let c = Config::parse(block, "docs/configuration.md").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.limits.max_uri_bytes, 8192);
        assert_eq!(c.limits.max_connections_per_ip, 1000);
        assert!(c.trusted_proxies.is_empty());
    }

    #[test]
    fn accepts_minimal() {
        let c = Config::parse(GOOD, "c.yaml").unwrap();
        assert_eq!(c.limits.max_body_bytes, 3 * 1024 * 1024);
        assert_eq!(c.upstream.connect_timeout_seconds, 10);
    }

    #[test]
    fn names_file_field_and_reason() {
        let e = Config::parse(&GOOD.replace("127.0.0.1", "0.0.0.0"), "c.yaml")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "c.yaml: tls: required: plaintext is allowed only on a loopback address, and 0.0.0.0 is not one"
        );
        let e = Config::parse(&GOOD.replace("mode: none", "mode: magic"), "c.yaml").unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (Some(5), "(syntax)"), "{e}");
        assert!(e.message.contains("magic") && e.message.contains("oidc"), "{e}");
        let e = Config::parse(&format!("{GOOD}bogus: 1\n"), "c.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("c.yaml:6: (syntax): ") && e.contains("bogus"), "{e}");
        let e = Config::parse("listen: nope\n", "c.yaml").unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
        let e = Config::parse(&GOOD.replace("authentication:\n  mode: none\n", ""), "c.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("c.yaml: authentication: required"), "{e}");
    }
}
