//! What `/readyz` checks, as the API server lists its own: the gateway is
//! ready once it can do its job — every configured OIDC issuer's discovery
//! succeeded once (or any, as configured), the upstream answered once, the
//! audit sink is healthy and the approval store answers — and not while it
//! shuts down.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::Deserialize;
use tollgate_oidc::AuthnLayer;

/// How many issuers must have answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum IssuersReady {
    /// Every configured issuer (the default).
    #[default]
    All,
    /// At least one.
    Any,
}

/// The checks and their state.
#[derive(Debug, Default)]
pub struct Readiness {
    shutting_down: AtomicBool,
    authn: Option<AuthnLayer>,
    issuers: IssuersReady,
    upstream: Option<Arc<UpstreamProbe>>,
    recorder: Option<tollgate_audit::Recorder>,
    store: Option<Arc<dyn tollgate_approval::ApprovalStore>>,
}

/// Whether the upstream has answered once, else why not.
#[derive(Debug)]
pub struct UpstreamProbe {
    answered: AtomicBool,
    last_error: std::sync::Mutex<String>,
}

impl UpstreamProbe {
    /// Asks `GET /version` every 2 s until any answer comes (a 401 or 403
    /// is an answer: the API server is there), then stops. Waits up to 2 s
    /// for the first answer, so a gateway whose upstream is up is ready as
    /// soon as it starts.
    pub async fn start(upstream: tollgate_proxy::Upstream) -> Arc<Self> {
        let probe = Arc::new(UpstreamProbe {
            answered: AtomicBool::new(false),
            last_error: std::sync::Mutex::new("not asked yet".to_owned()),
        });
        let client = tollgate_proxy::Client::new(upstream).timeout(Duration::from_secs(5));
        let me = probe.clone();
        let (first_tx, first_rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let mut first = Some(first_tx);
            loop {
                match client.get("/version").await {
                    Ok(_) => me.answered.store(true, Ordering::SeqCst),
                    Err(e) => {
                        if let Ok(mut last) = me.last_error.lock() {
                            *last = e.to_string();
                        }
                    }
                }
                if let Some(tx) = first.take() {
                    let _ = tx.send(());
                }
                if me.answered.load(Ordering::SeqCst) {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        });
        let _ = tokio::time::timeout(Duration::from_secs(2), first_rx).await;
        probe
    }
}

impl Readiness {
    /// The checks for a gateway with these parts.
    pub fn new(
        authn: Option<AuthnLayer>,
        issuers: IssuersReady,
        upstream: Option<Arc<UpstreamProbe>>,
        recorder: Option<tollgate_audit::Recorder>,
        store: Option<Arc<dyn tollgate_approval::ApprovalStore>>,
    ) -> Self {
        Readiness {
            shutting_down: AtomicBool::new(false),
            authn,
            issuers,
            upstream,
            recorder,
            store,
        }
    }

    /// From now on `/readyz` fails (SIGTERM).
    pub fn shut_down(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    /// Every check: its name and `Ok`, or why it fails.
    pub async fn checks(&self) -> Vec<(String, Result<(), String>)> {
        let mut out = vec![(
            "shutdown".to_owned(),
            if self.shutting_down.load(Ordering::SeqCst) {
                Err("the gateway is shutting down".to_owned())
            } else {
                Ok(())
            },
        )];
        // The verifier in use now (a reload replaces it).
        if let Some(v) = self.authn.as_ref().and_then(AuthnLayer::verifier) {
            let issuers = v.readiness();
            let any = issuers.iter().any(|(_, r)| r.is_ok());
            for (url, r) in issuers {
                // With `any`, one answering issuer makes the others' failures
                // informational.
                let r = match (self.issuers, r) {
                    (IssuersReady::Any, Err(e)) if any => {
                        out.push((format!("oidc-issuer:{url} (not required)"), Err(e)));
                        continue;
                    }
                    (_, r) => r,
                };
                out.push((format!("oidc-issuer:{url}"), r));
            }
        }
        if let Some(p) = &self.upstream {
            let r = if p.answered.load(Ordering::SeqCst) {
                Ok(())
            } else {
                Err(p.last_error.lock().map(|e| e.clone()).unwrap_or_default())
            };
            out.push(("upstream".to_owned(), r));
        }
        if let Some(r) = &self.recorder {
            let ok = if r.is_healthy() {
                Ok(())
            } else {
                Err("the last batch of audit records could not be written".to_owned())
            };
            out.push(("audit-sink".to_owned(), ok));
        }
        if let Some(s) = &self.store {
            let r = match tokio::time::timeout(Duration::from_secs(1), s.ping()).await {
                Ok(r) => r.map_err(|e| e.to_string()),
                Err(_) => Err("no answer within 1s".to_owned()),
            };
            out.push(("approval-store".to_owned(), r));
        }
        out
    }

    /// `/readyz`: 200 `ok` (or the list with `?verbose`), 503 with the list
    /// when a required check fails.
    pub async fn answer(&self, verbose: bool) -> (bool, String) {
        let checks = self.checks().await;
        let ready = checks
            .iter()
            .all(|(name, r)| r.is_ok() || name.ends_with("(not required)"));
        if ready && !verbose {
            return (true, "ok".to_owned());
        }
        let mut text = String::new();
        for (name, r) in &checks {
            match r {
                Ok(()) => text.push_str(&format!("[+]{name} ok\n")),
                Err(e) => text.push_str(&format!("[-]{name} failed: {e}\n")),
            }
        }
        text.push_str(if ready {
            "readyz check passed\n"
        } else {
            "readyz check failed\n"
        });
        (ready, text)
    }
}
