//! The configuration file of `tollgate serve`.
//!
//! ```yaml
//! listen: 0.0.0.0:8443          # the API listener
//! tls:                          # required unless listen is a loopback address
//!   cert: /etc/tollgate/tls.crt
//!   key: /etc/tollgate/tls.key
//! admin:
//!   listen: 127.0.0.1:9090      # /healthz, /readyz
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
//! shutdown:
//!   drainSeconds: 30
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
//!     durability: batch         # none | batch (one fdatasync per batch) | request
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

/// A configuration error, naming the file, the field and why.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {field}: {message}")]
pub struct ConfigError {
    /// The file.
    pub file: String,
    /// The field path, e.g. `upstream.kubeconfig`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// The whole file.
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
    /// Request limits.
    #[serde(default)]
    pub limits: Limits,
    /// How clients are authenticated.
    pub authentication: Option<Authentication>,
    /// Shutdown behaviour.
    #[serde(default)]
    pub shutdown: Shutdown,
    /// The policy (rules) file.
    #[serde(default)]
    pub policy: Option<PolicyConfig>,
    /// Response masking.
    #[serde(default)]
    pub masking: Masking,
    /// Audit records.
    #[serde(default)]
    pub audit: Option<AuditConfig>,
    /// Just-in-time approval of requests rules mark `require_approval`.
    #[serde(default)]
    pub approval: Option<ApprovalConfig>,
    /// Peers (addresses or CIDR networks) whose `X-Forwarded-For`,
    /// `X-Real-Ip` and `Forwarded` headers are believed; from anyone else
    /// they are dropped. None by default.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
}

/// The approval workflow.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[non_exhaustive]
pub struct ApprovalConfig {
    /// Hold a waiting request this long before answering 429 (overrides
    /// the rules' `hold`).
    #[serde(default)]
    pub hold_seconds: Option<u64>,
    /// `memory` (one replica) or `redis` (several).
    #[serde(default)]
    pub store: Option<String>,
    /// The Redis server (`redis://[:password@]host:port[/db]`) for `store: redis`.
    #[serde(default)]
    pub redis_url: Option<String>,
    /// Webhooks told of new requests and decisions: kubeconfig-format
    /// files naming each receiver (server, CA, credentials).
    #[serde(default)]
    pub notify: Vec<PathBuf>,
}

/// Audit records and terminal sessions.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[non_exhaustive]
pub struct AuditConfig {
    /// A Kubernetes audit `Policy` file (default: everything at Metadata).
    #[serde(default)]
    pub policy: Option<PathBuf>,
    /// The JSON-lines log.
    #[serde(default)]
    pub log: Option<AuditLog>,
    /// Also write records to standard output.
    #[serde(default)]
    pub stdout: bool,
    /// How long a request waits for its record to be confirmed before 503.
    #[serde(default = "five")]
    pub confirm_timeout_seconds: u64,
    /// Records queued at most.
    #[serde(default = "queue")]
    pub queue: usize,
    /// The shortest time between two batches, in milliseconds: records
    /// arriving meanwhile share one sync (group commit).
    #[serde(default)]
    pub batch_linger_ms: u64,
    /// Terminal sessions.
    #[serde(default)]
    pub sessions: Option<Sessions>,
    /// The webhook receiver.
    #[serde(default)]
    pub webhook: Option<AuditWebhook>,
    /// The most bytes of a request or response object one record keeps;
    /// a larger object is left out and the record says
    /// `tollgate.dev/truncated: N bytes`.
    #[serde(default = "max_object")]
    pub max_object_bytes: usize,
    /// Refuse to start with an audit policy that omits `RequestReceived`
    /// for requests it records (else a warning at start-up).
    #[serde(default)]
    pub require_request_received: bool,
}

fn max_object() -> usize {
    1024 * 1024
}

/// An audit webhook receiver.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[non_exhaustive]
pub struct AuditWebhook {
    /// A kubeconfig-format file naming the receiver (`--audit-webhook-config-file`).
    pub kubeconfig: PathBuf,
    /// `spool` (default) or `failClosed`.
    #[serde(default)]
    pub mode: Option<String>,
    /// The spool directory (mode `spool`).
    #[serde(default)]
    pub spool_dir: Option<PathBuf>,
    /// The spool's cap in MiB; beyond it requests are refused.
    #[serde(default = "spool_max", rename = "spoolMaxMB")]
    pub spool_max_mb: u64,
    /// The first retry's delay.
    #[serde(default = "ten")]
    pub initial_backoff_seconds: u64,
}

fn spool_max() -> u64 {
    1024
}

/// The audit log file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[non_exhaustive]
pub struct AuditLog {
    /// The file.
    pub path: PathBuf,
    /// Rotate past this size.
    #[serde(default = "hundred", rename = "maxSizeMB")]
    pub max_size_mb: u64,
    /// Rotated files kept.
    #[serde(default = "ten_usize")]
    pub max_backups: usize,
    /// `none`, `batch` or `request`.
    #[serde(default)]
    pub durability: Option<String>,
}

/// Terminal session recordings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[non_exhaustive]
pub struct Sessions {
    /// The directory of the `.cast` files.
    pub dir: PathBuf,
    /// Record keystrokes too.
    #[serde(default)]
    pub stdin: bool,
    /// Refuse sessions that cannot be recorded.
    #[serde(default = "yes")]
    pub required: bool,
}

fn five() -> u64 {
    5
}
fn queue() -> usize {
    10_000
}
fn hundred() -> u64 {
    100
}
fn ten_usize() -> usize {
    10
}
fn yes() -> bool {
    true
}

/// Response masking: rules with `mask: true` ask for it per request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[non_exhaustive]
pub struct Masking {
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
    pub identity: Option<String>,
}

/// Limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[non_exhaustive]
pub struct Limits {
    /// The request body bound.
    #[serde(default = "max_body")]
    pub max_body_bytes: usize,
    /// How long a request body may take to arrive.
    #[serde(default = "sixty")]
    pub body_timeout_seconds: u64,
    /// The longest request URI served (414 beyond it).
    #[serde(default = "max_uri")]
    pub max_uri_bytes: usize,
    /// The most header bytes served, as HTTP/2 counts them (431 beyond it).
    #[serde(default = "max_header")]
    pub max_header_bytes: usize,
    /// The most request-body bytes buffered at once across all requests
    /// (429 with Retry-After beyond it).
    #[serde(default = "max_buffered")]
    pub max_buffered_bytes: usize,
    /// Open connections at most, all clients together.
    #[serde(default = "max_connections")]
    pub max_connections: usize,
    /// Open connections at most from one IP address.
    #[serde(default = "max_connections_per_ip")]
    pub max_connections_per_ip: usize,
    /// TLS handshakes in progress at most.
    #[serde(default = "max_handshakes")]
    pub max_handshakes: usize,
    /// How long a client may take to send a request's headers.
    #[serde(default = "thirty")]
    pub header_read_timeout_seconds: u64,
    /// How long a connection with no request in flight stays open.
    #[serde(default = "idle_timeout")]
    pub idle_timeout_seconds: u64,
    /// Concurrent streams per HTTP/2 connection.
    #[serde(default = "max_streams")]
    pub max_concurrent_streams: u32,
}

fn max_connections() -> usize {
    tollgate_proxy::ServeOptions::default().max_connections
}

fn max_connections_per_ip() -> usize {
    tollgate_proxy::ServeOptions::default().max_connections_per_ip
}

fn max_handshakes() -> usize {
    tollgate_proxy::ServeOptions::default().max_handshakes
}

fn idle_timeout() -> u64 {
    tollgate_proxy::ServeOptions::default().idle_timeout.as_secs()
}

fn max_streams() -> u32 {
    tollgate_proxy::ServeOptions::default().max_concurrent_streams
}

fn max_buffered() -> usize {
    64 * 1024 * 1024
}

fn max_uri() -> usize {
    tollgate_kube::limits::DEFAULT_MAX_URI_BYTES
}

fn max_header() -> usize {
    tollgate_kube::limits::DEFAULT_MAX_HEADER_BYTES
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: max_body(),
            body_timeout_seconds: sixty(),
            max_uri_bytes: max_uri(),
            max_header_bytes: max_header(),
            max_buffered_bytes: max_buffered(),
            max_connections: max_connections(),
            max_connections_per_ip: max_connections_per_ip(),
            max_handshakes: max_handshakes(),
            header_read_timeout_seconds: thirty(),
            idle_timeout_seconds: idle_timeout(),
            max_concurrent_streams: max_streams(),
        }
    }
}

/// Authentication.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[non_exhaustive]
pub struct Authentication {
    /// `oidc`, or `none` (forward every request as the gateway's own identity).
    pub mode: String,
    /// The API server's `AuthenticationConfiguration` file (mode `oidc`).
    #[serde(default)]
    pub config: Option<PathBuf>,
    /// The owner rules file (a YAML list).
    #[serde(default)]
    pub owners: Option<PathBuf>,
    /// `allow` (default; flagged `unmapped`) or `refuse` identities no owner rule maps.
    #[serde(default)]
    pub unmapped: Option<String>,
    /// Leeway for `nbf`.
    #[serde(default = "sixty")]
    pub nbf_leeway_seconds: u64,
    /// Per-issuer allowed signing algorithms (default: all asymmetric ones).
    #[serde(default)]
    pub algorithms: std::collections::BTreeMap<String, Vec<String>>,
}

/// Shutdown.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[non_exhaustive]
pub struct Shutdown {
    /// How long in-flight requests may take to finish.
    #[serde(default = "thirty")]
    pub drain_seconds: u64,
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown {
            drain_seconds: thirty(),
        }
    }
}

fn ten() -> u64 {
    10
}
fn sixty() -> u64 {
    60
}
fn thirty() -> u64 {
    30
}
fn max_body() -> usize {
    tollgate_kube::DEFAULT_MAX_BODY_BYTES
}

impl Config {
    /// Reads and validates a file; relative paths in it are taken relative
    /// to the file's directory.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the file, the field (or line and column)
    /// and why.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            field: "(file)".to_owned(),
            message: e.to_string(),
        })?;
        let mut config = Config::parse(&text, &file)?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let rebase = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        };
        if let Some(t) = config.tls.as_mut() {
            rebase(&mut t.cert);
            rebase(&mut t.key);
        }
        if let Some(k) = config.upstream.kubeconfig.as_mut() {
            rebase(k);
        }
        if let Some(p) = config.policy.as_mut() {
            rebase(&mut p.file);
        }
        if let Some(a) = config.audit.as_mut() {
            if let Some(p) = a.policy.as_mut() {
                rebase(p);
            }
            if let Some(l) = a.log.as_mut() {
                rebase(&mut l.path);
            }
            if let Some(s) = a.sessions.as_mut() {
                rebase(&mut s.dir);
            }
            if let Some(w) = a.webhook.as_mut() {
                rebase(&mut w.kubeconfig);
                if let Some(d) = w.spool_dir.as_mut() {
                    rebase(d);
                }
            }
        }
        if let Some(a) = config.approval.as_mut() {
            for n in &mut a.notify {
                rebase(n);
            }
        }
        if let Some(a) = config.authentication.as_mut() {
            if let Some(c) = a.config.as_mut() {
                rebase(c);
            }
            if let Some(o) = a.owners.as_mut() {
                rebase(o);
            }
        }
        Ok(config)
    }

    /// Parses and validates text.
    ///
    /// # Errors
    /// A [`ConfigError`].
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        let err = |field: &str, message: String| ConfigError {
            file: file.to_owned(),
            field: field.to_owned(),
            message,
        };
        let config: Config = serde_saphyr::from_str(text).map_err(|e| err("(syntax)", e.to_string()))?;
        if config.tls.is_none() && !config.listen.ip().is_loopback() {
            return Err(err(
                "tls",
                format!(
                    "required: plaintext is allowed only on a loopback address, and {} is not one",
                    config.listen.ip()
                ),
            ));
        }
        match (&config.upstream.kubeconfig, config.upstream.in_cluster) {
            (Some(_), true) => {
                return Err(err(
                    "upstream",
                    "set either kubeconfig or inCluster, not both".to_owned(),
                ));
            }
            (None, false) => return Err(err("upstream", "set kubeconfig or inCluster: true".to_owned())),
            _ => {}
        }
        if !matches!(
            config.upstream.identity.as_deref(),
            None | Some("impersonate" | "passthrough")
        ) {
            return Err(err(
                "upstream.identity",
                "must be impersonate or passthrough".to_owned(),
            ));
        }
        if config.upstream.context.is_some() && config.upstream.kubeconfig.is_none() {
            return Err(err(
                "upstream.context",
                "only meaningful with upstream.kubeconfig".to_owned(),
            ));
        }
        if config.limits.max_body_bytes == 0 {
            return Err(err("limits.maxBodyBytes", "must be greater than 0".to_owned()));
        }
        for (i, t) in config.trusted_proxies.iter().enumerate() {
            if let Err(e) = t.parse::<tollgate_proxy::TrustedProxy>() {
                return Err(err(&format!("trustedProxies[{i}]"), e));
            }
        }
        if config.limits.max_buffered_bytes < config.limits.max_body_bytes {
            return Err(err(
                "limits.maxBufferedBytes",
                format!(
                    "must be at least limits.maxBodyBytes ({}): otherwise no body of the largest size could ever be read",
                    config.limits.max_body_bytes
                ),
            ));
        }
        if config.limits.max_uri_bytes < 256 {
            return Err(err("limits.maxUriBytes", "must be at least 256".to_owned()));
        }
        if config.limits.max_header_bytes < 1024 {
            return Err(err("limits.maxHeaderBytes", "must be at least 1024".to_owned()));
        }
        match config.authentication.as_ref().map(|a| (a.mode.as_str(), a)) {
            Some(("none", a)) => {
                if a.config.is_some() || a.owners.is_some() {
                    return Err(err(
                        "authentication.mode",
                        "is none, but config or owners are set".to_owned(),
                    ));
                }
            }
            Some(("oidc", a)) => {
                if a.config.is_none() {
                    return Err(err(
                        "authentication.config",
                        "required with mode oidc: the AuthenticationConfiguration file".to_owned(),
                    ));
                }
                if !matches!(a.unmapped.as_deref(), None | Some("allow" | "refuse")) {
                    return Err(err("authentication.unmapped", "must be allow or refuse".to_owned()));
                }
                for (issuer, algs) in &a.algorithms {
                    for (i, alg) in algs.iter().enumerate() {
                        tollgate_oidc::parse_algorithm(alg)
                            .map_err(|m| err(&format!("authentication.algorithms[{issuer:?}][{i}]"), m))?;
                    }
                }
            }
            Some((other, _)) => {
                return Err(err(
                    "authentication.mode",
                    format!("{other:?} is not supported: use oidc or none"),
                ));
            }
            None => {
                return Err(err(
                    "authentication",
                    "required: set `mode: none` to forward every request as the gateway's own identity".to_owned(),
                ));
            }
        }
        if let Some(a) = &config.audit {
            if let Some(d) = a.log.as_ref().and_then(|l| l.durability.as_deref()) {
                d.parse::<tollgate_audit::Durability>()
                    .map_err(|m| err("audit.log.durability", m))?;
            }
            if a.queue == 0 {
                return Err(err("audit.queue", "must be greater than 0".to_owned()));
            }
            if let Some(w) = &a.webhook {
                match w.mode.as_deref() {
                    None | Some("spool") if w.spool_dir.is_none() => {
                        return Err(err("audit.webhook.spoolDir", "required with mode spool".to_owned()));
                    }
                    None | Some("spool" | "failClosed") => {}
                    Some(other) => {
                        return Err(err("audit.webhook.mode", format!("{other:?}: use spool or failClosed")));
                    }
                }
            }
            if a.log.is_none() && !a.stdout && a.webhook.is_none() {
                return Err(err("audit", "set at least one of log, stdout or webhook".to_owned()));
            }
        }
        if let Some(a) = &config.approval {
            match (a.store.as_deref(), &a.redis_url) {
                (None | Some("memory"), None) => {}
                (Some("redis"), Some(_)) => {}
                (Some("redis"), None) => {
                    return Err(err("approval.redisUrl", "required with store: redis".to_owned()));
                }
                (None | Some("memory"), Some(_)) => {
                    return Err(err("approval.redisUrl", "only meaningful with store: redis".to_owned()));
                }
                (Some(other), _) => {
                    return Err(err("approval.store", format!("{other:?}: use memory or redis")));
                }
            }
        }
        if let Some(admin) = &config.admin
            && admin.listen == config.listen
            && admin.listen.port() != 0
        {
            return Err(err(
                "admin.listen",
                "must differ from listen: admin paths are kept apart from the API".to_owned(),
            ));
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
        let e = Config::parse(&GOOD.replace("mode: none", "mode: magic"), "c.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("c.yaml: authentication.mode: "), "{e}");
        let e = Config::parse(&format!("{GOOD}bogus: 1\n"), "c.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("c.yaml: (syntax): ") && e.contains("bogus"), "{e}");
        let e = Config::parse("listen: nope\n", "c.yaml").unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
        let e = Config::parse(&GOOD.replace("authentication:\n  mode: none\n", ""), "c.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("c.yaml: authentication: required"), "{e}");
    }
}
