//! The `audit` section of a `tollgate.yaml` (feature `layer`): where records
//! go, how durable they are, and terminal sessions — read with serde and
//! turned into an [`AuditLayer`] by [`AuditConfig::layer`].
//!
//! ```yaml
//! audit:
//!   policy: audit-policy.yaml   # a Kubernetes audit Policy (default: all at Metadata)
//!   log:
//!     path: audit/audit.log
//!     maxSizeMB: 100
//!     maxBackups: 10
//!     durability: batch         # none | batch | request
//!     syncIntervalMs: 100       # batch: synced at most this much later
//!   stdout: false
//!   confirmTimeoutSeconds: 5
//!   queue: 10000
//!   batchLingerMs: 0
//!   webhook:
//!     kubeconfig: audit-webhook.kubeconfig
//!     mode: spool               # or failClosed
//!     spoolDir: spool
//!     spoolMaxMB: 1024
//!     initialBackoffSeconds: 10
//!   sessions:
//!     dir: sessions
//!     stdin: false
//!     required: true
//! ```
//!
//! ```
//! let yaml = "log:\n  path: audit.log\n  durability: request\n";
//! let audit: tollgate_audit::config::AuditConfig = tollgate_kube::from_yaml(yaml, "tollgate.yaml")?;
//! audit.validate("tollgate.yaml")?;
//! assert_eq!(audit.log.unwrap().durability, tollgate_audit::Durability::Request);
//! # Ok::<(), tollgate_kube::ConfigError>(())
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use tollgate_kube::ConfigError;

use crate::{
    AuditLayer, AuditPolicy, Durability, FileOptions, FileSink, Level, Recorder, RecorderOptions, SessionOptions, Sink,
};

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
    pub log: Option<LogConfig>,
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
    pub sessions: Option<SessionsConfig>,
    /// The webhook receiver.
    #[serde(default)]
    pub webhook: Option<WebhookConfig>,
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

/// The audit log file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[non_exhaustive]
pub struct LogConfig {
    /// The file.
    pub path: PathBuf,
    /// Rotate past this size.
    #[serde(default = "hundred", rename = "maxSizeMB")]
    pub max_size_mb: u64,
    /// Rotated files kept.
    #[serde(default = "ten_usize")]
    pub max_backups: usize,
    /// When a record counts as written.
    #[serde(default)]
    pub durability: Durability,
    /// With `durability: batch`, the longest a written record waits to be
    /// synced to disk, in milliseconds (the window a power loss can take).
    #[serde(default = "hundred")]
    pub sync_interval_ms: u64,
}

/// What the audit webhook does while its receiver is down.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum WebhookModeConfig {
    /// Spill to `spoolDir` up to `spoolMaxMB`, then fail closed.
    #[default]
    Spool,
    /// Refuse requests (503) until delivery works.
    FailClosed,
}

/// An audit webhook receiver.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[non_exhaustive]
pub struct WebhookConfig {
    /// A kubeconfig-format file naming the receiver (`--audit-webhook-config-file`).
    pub kubeconfig: PathBuf,
    /// `spool` (default) or `failClosed`.
    #[serde(default)]
    pub mode: WebhookModeConfig,
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

/// Terminal session recordings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[non_exhaustive]
pub struct SessionsConfig {
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
fn ten() -> u64 {
    10
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
fn spool_max() -> u64 {
    1024
}
fn max_object() -> usize {
    1024 * 1024
}

impl AuditConfig {
    /// Checks what serde cannot: a queue, a destination, a spool directory.
    /// Errors name `audit.…` fields of `file`.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the field.
    pub fn validate(&self, file: &str) -> Result<(), ConfigError> {
        if self.queue == 0 {
            return Err(ConfigError::new(file, "audit.queue", "must be greater than 0"));
        }
        if let Some(w) = &self.webhook
            && w.mode == WebhookModeConfig::Spool
            && w.spool_dir.is_none()
        {
            return Err(ConfigError::new(
                file,
                "audit.webhook.spoolDir",
                "required with mode spool",
            ));
        }
        if self.log.is_none() && !self.stdout && self.webhook.is_none() {
            return Err(ConfigError::new(
                file,
                "audit",
                "set at least one of log, stdout or webhook",
            ));
        }
        Ok(())
    }

    /// Takes relative paths relative to `dir` (the configuration file's).
    pub fn rebase(&mut self, dir: &Path) {
        let rebase = |p: &mut PathBuf| tollgate_kube::rebase(p, dir);
        if let Some(p) = self.policy.as_mut() {
            rebase(p);
        }
        if let Some(l) = self.log.as_mut() {
            rebase(&mut l.path);
        }
        if let Some(s) = self.sessions.as_mut() {
            rebase(&mut s.dir);
        }
        if let Some(w) = self.webhook.as_mut() {
            rebase(&mut w.kubeconfig);
            if let Some(d) = w.spool_dir.as_mut() {
                rebase(d);
            }
        }
    }

    /// Opens the sinks, reads the audit policy and builds the layer;
    /// session recordings are named by absolute path, so records stay
    /// valid wherever a reviewer reads them from.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the `audit.…` field of `file` whose file
    /// or directory cannot be used, or the audit policy's own error.
    pub fn layer(&self, file: &str) -> Result<AuditLayer, ConfigError> {
        let err = |field: &str, e: &dyn std::fmt::Display| ConfigError::new(file, field, e.to_string());
        let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
        if let Some(log) = &self.log {
            let options = FileOptions::default()
                .max_bytes(log.max_size_mb.saturating_mul(1024 * 1024))
                .max_backups(log.max_backups)
                .durability(log.durability)
                .sync_interval(Duration::from_millis(log.sync_interval_ms));
            sinks.push(Box::new(
                FileSink::open(&log.path, options).map_err(|e| err("audit.log.path", &e))?,
            ));
        }
        if self.stdout {
            sinks.push(Box::new(crate::StdoutSink));
        }
        if let Some(w) = &self.webhook {
            sinks.push(webhook(w, file)?);
        }
        // Requests wait for their records unless the only sink is a log
        // with `durability: none` (standard output has the same promise).
        let confirm = self.webhook.is_some() || self.log.as_ref().is_some_and(|l| l.durability.waits());
        let recorder = Recorder::new(
            crate::Tee::new(sinks),
            RecorderOptions::default()
                .confirm(confirm)
                .queue(self.queue)
                .confirm_timeout(Duration::from_secs(self.confirm_timeout_seconds))
                .linger(Duration::from_millis(self.batch_linger_ms)),
        );
        let policy = self.audit_policy(file)?;
        let mut b = AuditLayer::builder(recorder)
            .policy(policy)
            .capture_limit(self.max_object_bytes);
        if let Some(s) = &self.sessions {
            std::fs::create_dir_all(&s.dir).map_err(|e| err("audit.sessions.dir", &e))?;
            let dir = std::fs::canonicalize(&s.dir).map_err(|e| err("audit.sessions.dir", &e))?;
            let mut o = SessionOptions::new(dir);
            o.stdin = s.stdin;
            o.required = s.required;
            b = b.sessions(o);
        }
        Ok(b.build())
    }

    /// Reads every file the section names without opening a sink or
    /// contacting a receiver (`tollgate serve --check`): the audit policy
    /// (and the `RequestReceived` rule), the webhook's kubeconfig.
    ///
    /// # Errors
    /// The first [`ConfigError`] found.
    pub fn check(&self, file: &str) -> Result<(), ConfigError> {
        self.audit_policy(file)?;
        #[cfg(feature = "webhook")]
        if let Some(w) = &self.webhook {
            tollgate_proxy::Upstream::from_kubeconfig(&w.kubeconfig, None)
                .map_err(|e| ConfigError::new(file, "audit.webhook.kubeconfig", e.to_string()))?;
        }
        Ok(())
    }

    /// The audit policy (default: everything at Metadata), checked for
    /// `RequestReceived` — what a reload hands to
    /// [`AuditLayer::set_policy`].
    ///
    /// # Errors
    /// The policy file's [`ConfigError`], or `audit.requireRequestReceived`.
    pub fn audit_policy(&self, file: &str) -> Result<AuditPolicy, ConfigError> {
        let policy = match &self.policy {
            Some(p) => AuditPolicy::load(p)?,
            None => AuditPolicy::everything(Level::Metadata),
        };
        self.check_confirmed(&policy, file)?;
        Ok(policy)
    }

    /// Omitting `RequestReceived` trades "no request is forwarded before
    /// its record is confirmed" for throughput: said at start-up, and
    /// refused when the configuration requires the guarantee.
    fn check_confirmed(&self, policy: &AuditPolicy, file: &str) -> Result<(), ConfigError> {
        let unconfirmed = policy.unconfirmed();
        if unconfirmed.is_empty() {
            return Ok(());
        }
        let source = self
            .policy
            .as_ref()
            .map_or("(default)".to_owned(), |p| p.display().to_string());
        let message = format!(
            "{source}: {} omit RequestReceived: the requests they match are forwarded before their record is confirmed (a sink failure can lose them)",
            unconfirmed.join(", ")
        );
        if self.require_request_received {
            return Err(ConfigError::new(file, "audit.requireRequestReceived", message));
        }
        tracing::warn!("{message}; set audit.requireRequestReceived: true to refuse such a policy");
        Ok(())
    }
}

#[cfg(feature = "webhook")]
fn webhook(w: &WebhookConfig, file: &str) -> Result<Box<dyn Sink>, ConfigError> {
    let upstream = tollgate_proxy::Upstream::from_kubeconfig(&w.kubeconfig, None)
        .map_err(|e| ConfigError::new(file, "audit.webhook.kubeconfig", e.to_string()))?;
    let options = match (w.mode, &w.spool_dir) {
        (WebhookModeConfig::FailClosed, _) | (_, None) => crate::WebhookOptions::fail_closed(),
        (WebhookModeConfig::Spool, Some(dir)) => {
            crate::WebhookOptions::spool(dir.clone(), w.spool_max_mb.saturating_mul(1 << 20))
        }
    }
    .initial_backoff(Duration::from_secs(w.initial_backoff_seconds));
    let sink = crate::WebhookSink::new(upstream, options)
        .map_err(|e| ConfigError::new(file, "audit.webhook", e.to_string()))?;
    Ok(Box::new(sink))
}

#[cfg(not(feature = "webhook"))]
fn webhook(_: &WebhookConfig, file: &str) -> Result<Box<dyn Sink>, ConfigError> {
    Err(ConfigError::new(
        file,
        "audit.webhook",
        "this build has no webhook sink (tollgate-audit feature webhook)",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<AuditConfig, ConfigError> {
        let c: AuditConfig = tollgate_kube::from_yaml(yaml, "t.yaml")?;
        c.validate("t.yaml")?;
        Ok(c)
    }

    #[test]
    fn choices_are_enums_and_errors_are_located() {
        let c = parse("stdout: true\nwebhook:\n  kubeconfig: k\n  mode: failClosed\n").unwrap();
        assert_eq!(c.webhook.unwrap().mode, WebhookModeConfig::FailClosed);
        let e = parse("log:\n  path: a.log\n  durability: sometimes\n").unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (Some(3), "(syntax)"));
        assert!(e.message.contains("sometimes"), "{e}");
        let e = parse("webhook:\n  kubeconfig: k\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.yaml: audit.webhook.spoolDir: required with mode spool"
        );
        let e = parse("queue: 0\nstdout: true\n").unwrap_err();
        assert_eq!(e.field, "audit.queue");
        let e = parse("stdout: false\n").unwrap_err();
        assert_eq!(e.field, "audit");
    }
}
