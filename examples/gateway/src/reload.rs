//! Reloads without a restart: the TLS certificate and key, the
//! AuthenticationConfiguration and owners, and the audit policy are read
//! again when their files change (checked every 2 s; a Kubernetes Secret or
//! ConfigMap update swaps the mounted files) and on SIGHUP, and swapped in
//! whole. A file that does not load keeps the previous one in use; the log
//! says why. (The policy reloads itself: `PolicyStore::watch`.)

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use tollgate_audit::AuditLayer;
use tollgate_oidc::AuthnLayer;
use tollgate_proxy::ServerCert;

use crate::Config;

/// How often the files are looked at.
const CHECK_EVERY: Duration = Duration::from_secs(2);

/// What can be reloaded, with the layers to swap into.
#[derive(Debug)]
pub struct Reloader {
    config: Config,
    cert: Option<ServerCert>,
    authn: AuthnLayer,
    audit: AuditLayer,
    metrics: std::sync::Arc<tollgate_metrics::Metrics>,
}

/// A file's modification time and length (a rewrite within one clock tick
/// usually changes the length).
type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &PathBuf) -> Stamp {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

impl Reloader {
    /// Watches what `config` names.
    pub fn new(
        config: Config,
        cert: Option<ServerCert>,
        authn: AuthnLayer,
        audit: AuditLayer,
        metrics: std::sync::Arc<tollgate_metrics::Metrics>,
    ) -> Self {
        Reloader {
            config,
            cert,
            authn,
            audit,
            metrics,
        }
    }

    /// The files of each reloadable part.
    fn parts(&self) -> [(Part, Vec<PathBuf>); 3] {
        let c = &self.config;
        [
            (
                Part::Tls,
                c.tls.iter().flat_map(|t| [t.cert.clone(), t.key.clone()]).collect(),
            ),
            (
                Part::Authentication,
                c.authentication
                    .iter()
                    .flat_map(|a| a.config.iter().chain(a.owners.iter()).cloned())
                    .collect(),
            ),
            (
                Part::AuditPolicy,
                c.audit.iter().filter_map(|a| a.policy.clone()).collect(),
            ),
        ]
    }

    /// Runs until the task is dropped.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut seen: Vec<Vec<Stamp>> = self
                .parts()
                .iter()
                .map(|(_, files)| files.iter().map(stamp).collect())
                .collect();
            let mut hup = hangup();
            loop {
                let forced = tokio::select! {
                    () = tokio::time::sleep(CHECK_EVERY) => false,
                    Some(()) = recv(&mut hup) => true,
                };
                for (i, (part, files)) in self.parts().into_iter().enumerate() {
                    let now: Vec<Stamp> = files.iter().map(stamp).collect();
                    if files.is_empty() || (!forced && now == seen[i]) {
                        continue;
                    }
                    seen[i] = now;
                    let result = self.reload(part).await;
                    self.metrics.reloaded(part.name(), result.is_ok());
                    match result {
                        Ok(()) => tracing::info!(part = part.name(), "reloaded"),
                        Err(e) => {
                            tracing::error!(part = part.name(), error = %e, "reload failed; keeping the previous one")
                        }
                    }
                }
            }
        })
    }

    async fn reload(&self, part: Part) -> Result<(), String> {
        let file = self.config.source.as_str();
        match part {
            Part::Tls => {
                let (Some(cert), Some(t)) = (&self.cert, &self.config.tls) else {
                    return Ok(());
                };
                cert.reload(&t.cert, &t.key).map_err(|e| e.to_string())
            }
            Part::Authentication => {
                let Some(a) = &self.config.authentication else {
                    return Ok(());
                };
                let Some((verifier, anonymous)) = a.verifier(file).map_err(|e| e.to_string())? else {
                    return Ok(());
                };
                let verifier = std::sync::Arc::new(verifier);
                // Keys first, so the swap does not turn tokens away meanwhile.
                verifier.start().await;
                self.authn.replace_verifier(verifier);
                // `anonymous.enabled` is part of the same file.
                self.authn.set_anonymous(anonymous);
                Ok(())
            }
            Part::AuditPolicy => {
                let Some(a) = &self.config.audit else { return Ok(()) };
                let policy = a.audit_policy(file).map_err(|e| e.to_string())?;
                self.audit.set_policy(policy);
                Ok(())
            }
        }
    }
}

/// A reloadable part.
#[derive(Debug, Clone, Copy)]
enum Part {
    Tls,
    Authentication,
    AuditPolicy,
}

impl Part {
    fn name(self) -> &'static str {
        match self {
            Part::Tls => "tls",
            Part::Authentication => "authentication",
            Part::AuditPolicy => "audit-policy",
        }
    }
}

#[cfg(unix)]
type Hangup = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangup = Option<()>;

#[cfg(unix)]
fn hangup() -> Hangup {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok()
}
#[cfg(not(unix))]
fn hangup() -> Hangup {
    None
}

/// The next SIGHUP (never, where there are none).
#[cfg(unix)]
async fn recv(h: &mut Hangup) -> Option<()> {
    match h {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}
#[cfg(not(unix))]
async fn recv(_: &mut Hangup) -> Option<()> {
    std::future::pending().await
}
