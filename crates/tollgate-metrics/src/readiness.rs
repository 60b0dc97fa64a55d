//! What `/readyz` checks (feature `readiness`), as the API server lists its own: the gateway is
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
    upstream: Option<Arc<tollgate_proxy::UpstreamProbe>>,
    recorder: Option<tollgate_audit::Recorder>,
    store: Option<Arc<dyn tollgate_approval::ApprovalStore>>,
}

impl Readiness {
    /// The checks for a gateway with these parts.
    pub fn new(
        authn: Option<AuthnLayer>,
        issuers: IssuersReady,
        upstream: Option<Arc<tollgate_proxy::UpstreamProbe>>,
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

    /// Every check: its name, `Ok` or why it fails, and whether it counts
    /// (with `issuersReady: any`, one answering issuer makes the others'
    /// failures informational).
    pub async fn checks(&self) -> Vec<Check> {
        let check = |name: String, result| Check {
            name,
            result,
            required: true,
        };
        let mut out = vec![check(
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
            for (url, result) in issuers {
                let required = !(self.issuers == IssuersReady::Any && any);
                out.push(Check {
                    name: format!("oidc-issuer:{url}"),
                    result,
                    required,
                });
            }
        }
        if let Some(p) = &self.upstream {
            out.push(check("upstream".to_owned(), p.answered()));
        }
        if let Some(r) = &self.recorder {
            let ok = if r.is_healthy() {
                Ok(())
            } else {
                Err("the last batch of audit records could not be written".to_owned())
            };
            out.push(check("audit-sink".to_owned(), ok));
        }
        if let Some(s) = &self.store {
            let r = match tokio::time::timeout(Duration::from_secs(1), s.ping()).await {
                Ok(r) => r.map_err(|e| e.to_string()),
                Err(_) => Err("no answer within 1s".to_owned()),
            };
            out.push(check("approval-store".to_owned(), r));
        }
        out
    }

    /// `/readyz`: 200 `ok` (or the list with `?verbose`), 503 with the list
    /// when a required check fails.
    pub async fn answer(&self, verbose: bool) -> (bool, String) {
        let checks = self.checks().await;
        let ready = checks.iter().all(|c| c.result.is_ok() || !c.required);
        if ready && !verbose {
            return (true, "ok".to_owned());
        }
        let mut text = String::new();
        for c in &checks {
            match &c.result {
                Ok(()) => text.push_str(&format!("[+]{} ok\n", c.name)),
                Err(e) if c.required => text.push_str(&format!("[-]{} failed: {e}\n", c.name)),
                Err(e) => text.push_str(&format!("[-]{} (not required) failed: {e}\n", c.name)),
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

/// One readiness check's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Check {
    /// What was checked, e.g. `oidc-issuer:https://…` or `upstream`.
    pub name: String,
    /// `Ok`, or why it fails.
    pub result: Result<(), String>,
    /// Whether a failure makes the gateway not ready.
    pub required: bool,
}
