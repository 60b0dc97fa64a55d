//! The wiring behind the `tollgate` binary: configuration, listeners and
//! the layer stack. Logic lives in the `tollgate-*` crates; this crate only
//! puts them together.
//!
//! The stack today (see `docs/architecture.md` for the full design):
//!
//! ```text
//! TrustForwardedLayer (tollgate-proxy) → AuditLayer (tollgate-audit)
//!   → AuthnLayer (tollgate-oidc) → RequestInfoLayer (tollgate-kube) → PolicyLayer (tollgate-rules)
//!   → MaskLayer (tollgate-redact) → RecordLayer (tollgate-audit) → Proxy (tollgate-proxy)
//! ```

pub mod admin;
pub mod cli;
pub mod config;
#[cfg(feature = "demo")]
pub mod demo;
pub mod reload;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tollgate_approval::ApprovalLayer;
use tollgate_audit::AuditLayer;
use tollgate_kube::RequestInfoLayer;
use tollgate_oidc::AuthnLayer;
use tollgate_proxy::{Proxy, ServerCert, Upstream};
use tollgate_rules::{Policy, PolicyLayer, PolicyStore};
use tower::ServiceBuilder;

pub use config::{Config, ConfigError};
use tollgate_metrics::Readiness;
use tollgate_proxy::UpstreamProbe;

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// A configuration file (this one, or one it names) is invalid or
    /// unusable: file, line, field and why.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The upstream settings are invalid.
    #[error(transparent)]
    Upstream(#[from] tollgate_proxy::Error),
    /// The testkit (demo) failed.
    #[cfg(feature = "demo")]
    #[error(transparent)]
    Testkit(#[from] tollgate_testkit::Error),
    /// A listener could not be bound, or a file written.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
}

/// A running gateway.
#[derive(Debug)]
pub struct Running {
    /// The API listener's address.
    pub addr: SocketAddr,
    /// The admin listener's address.
    pub admin_addr: Option<SocketAddr>,
    /// The upstream URL.
    pub upstream: String,
    /// What `/readyz` checks.
    pub readiness: Arc<Readiness>,
    grace: Duration,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Running {
    /// SIGTERM: `/readyz` fails at once while the listener keeps serving
    /// for `shutdown.graceSeconds` (load balancers notice and stop sending),
    /// then [`Running::shutdown`].
    pub async fn terminate(self) {
        self.readiness.shut_down();
        tracing::info!(
            grace = ?self.grace,
            "shutting down: not ready; serving for the grace period, then draining"
        );
        tokio::time::sleep(self.grace).await;
        self.shutdown().await;
    }

    /// Stops accepting, drains in-flight requests (up to
    /// `shutdown.drainSeconds`), and returns when done.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

/// Binds the listeners and starts serving `config`.
///
/// # Errors
/// A [`StartError`] naming what is wrong.
pub async fn start(config: &Config) -> Result<Running, StartError> {
    let upstream = upstream(config)?;
    let (cert, tls) = tls(config)?.unzip();
    let file = config.source.as_str();
    let authn = match &config.authentication {
        // Every layer below reads the identity with `Identity::of`: the
        // shared one, without a copy per request.
        Some(a) => a.layer(file).await?.identity_copy(false),
        None => AuthnLayer::disabled(),
    };
    let authn_handle = authn.clone();
    let upstream_probe = UpstreamProbe::start(upstream.clone()).await;
    let policy = match &config.policy {
        Some(p) => p.store()?,
        None => PolicyStore::new(Policy::allow_all()),
    };
    let proxy = Proxy::builder(upstream)
        .identity(config.upstream.identity)
        .connect_timeout(Duration::from_secs(config.upstream.connect_timeout_seconds))
        .response_timeout(Duration::from_secs(config.upstream.response_timeout_seconds))
        .max_long_running(config.limits.max_long_running)
        .build();
    let upstream_url = proxy.upstream().url().to_owned();
    let audit = match &config.audit {
        Some(a) => a.layer(file)?,
        None => AuditLayer::disabled(),
    };
    let approval = match &config.approval {
        Some(a) => a.layer(file).await?,
        None => ApprovalLayer::disabled(),
    };
    let trusted = config.trusted_proxies.clone();
    let serve_stats = tollgate_proxy::ServeStats::default();
    let metrics = {
        let mut m = tollgate_metrics::Metrics::new(env!("CARGO_PKG_VERSION"));
        m.sample_audit(config.audit.is_some().then(|| audit.recorder().clone()));
        m.sample_authn(&authn);
        m.sample_notifications(approval.notifications());
        m.sample_policy(&policy);
        m.sample_connections(&serve_stats);
        m.sample_tunnels(&proxy);
        Arc::new(m)
    };
    let readiness = Arc::new(Readiness::new(
        Some(authn.clone()),
        config.admin.as_ref().map(|a| a.issuers_ready).unwrap_or_default(),
        Some(upstream_probe),
        config.audit.is_some().then(|| audit.recorder().clone()),
        config.approval.is_some().then(|| approval.store()),
    ));
    let stack = ServiceBuilder::new()
        // A client's own X-Forwarded-For never decides its recorded address.
        .layer(tollgate_proxy::TrustForwardedLayer::new(trusted))
        // Outermost but for that, so that what the RequestInfo layer refuses (413, 414,
        // 415, 431, a malformed URI) is on record too.
        .layer(audit.clone())
        // Inside the audit layer: it reads the same notes.
        .layer(tollgate_metrics::MetricsLayer::new(metrics.clone()))
        // The token is checked from the headers before any body is read:
        // an unauthenticated request never has its body buffered.
        .layer(authn)
        .layer(
            // Read with `RequestInfo::of` by every layer: shared, not
            // copied per request.
            RequestInfoLayer::new()
                .info_copy(false)
                .max_body_bytes(config.limits.max_body_bytes)
                .body_timeout(Duration::from_secs(config.limits.body_timeout_seconds))
                .max_uri_bytes(config.limits.max_uri_bytes)
                .max_header_bytes(config.limits.max_header_bytes)
                .max_buffered_bytes(config.limits.max_buffered_bytes),
        )
        // `GET /tollgate/v1/whoami`: the caller's own identity and owner
        // (kubectl tollgate whoami); recorded like any request.
        .layer(tollgate_oidc::WhoAmILayer::new())
        .layer(
            PolicyLayer::new(policy.clone())
                .approval_available(config.approval.is_some())
                .preflight(std::sync::Arc::new(tollgate_proxy::ProxyPreflight::new(proxy.clone()))),
        )
        .layer(approval)
        .layer(config.masking.layer(file)?)
        .layer(audit.record_layer())
        .service(proxy);

    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartError::Io {
            what: format!("binding listen address {}", config.listen),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Io {
        what: "reading the bound address".to_owned(),
        source,
    })?;
    let (admin_addr, admin_task) = match &config.admin {
        Some(a) => {
            let (addr, task) = admin::start(a.listen, readiness.clone(), metrics.clone()).await?;
            (Some(addr), Some(task))
        }
        None => (None, None),
    };

    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let mut serve_options = config
        .limits
        .serve_options()
        .with_drain(Duration::from_secs(config.shutdown.drain_seconds));
    serve_options.stats = serve_stats;
    serve_options.workers = config.workers.start()?;
    let reloader = reload::Reloader::new(config.clone(), cert, authn_handle, audit.clone(), metrics.clone()).spawn();
    let ready = readiness.clone();
    let recorder = audit.recorder().clone();
    let task = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stop_rx.await;
            ready.shut_down();
        };
        tollgate_proxy::serve_with(listener, tls, stack, shutdown, serve_options).await;
        // The drained requests' last records are queued: written before exit.
        recorder.flush().await;
        if let Some(t) = admin_task {
            t.abort();
        }
        reloader.abort();
    });
    tracing::info!(%addr, upstream = %upstream_url, "tollgate is serving");
    Ok(Running {
        addr,
        admin_addr,
        upstream: upstream_url,
        readiness,
        grace: Duration::from_secs(config.shutdown.grace_seconds),
        stop: Some(stop_tx),
        task,
    })
}

/// `tollgate serve --check`: reads every file the configuration names —
/// TLS files, the upstream kubeconfig (or the in-cluster service account),
/// the policy, the audit policy and webhook, the AuthenticationConfiguration
/// and owners, the approval receivers — without binding, contacting an
/// issuer or opening a sink, and says what it found.
///
/// # Errors
/// The first problem, located (file, line, field).
pub fn check(config: &Config) -> Result<String, StartError> {
    let file = config.source.as_str();
    tls(config)?;
    let upstream = upstream(config)?;
    let mut found = vec![format!("upstream {}", upstream.url())];
    if let Some(t) = &config.tls {
        found.push(format!("TLS {}", t.cert.display()));
    }
    if let Some(a) = &config.authentication {
        match a.verifier(file)? {
            Some((v, _)) => found.push(format!("issuers {}", v.issuer_urls().join(", "))),
            None => found.push("no authentication".to_owned()),
        }
    }
    if let Some(p) = &config.policy {
        let policy = PolicyStore::load_file(&p.file)?;
        found.push(format!("policy {} rules", policy.rules.len()));
    }
    config.masking.layer(file)?;
    if let Some(a) = &config.audit {
        a.check(file)?;
        found.push("audit".to_owned());
    }
    if let Some(a) = &config.approval {
        a.check(file)?;
        found.push("approval".to_owned());
    }
    Ok(format!("{file}: ok ({})", found.join("; ")))
}

fn upstream(config: &Config) -> Result<Upstream, StartError> {
    Ok(match &config.upstream.kubeconfig {
        Some(path) => Upstream::from_kubeconfig(path, config.upstream.context.as_deref())?,
        None => Upstream::in_cluster()?,
    })
}

/// The listener's certificate (replaceable: see [`reload`]) and its
/// server config.
fn tls(config: &Config) -> Result<Option<(ServerCert, Arc<rustls::ServerConfig>)>, StartError> {
    let Some(t) = &config.tls else { return Ok(None) };
    let cert = ServerCert::load(&t.cert, &t.key).map_err(|e| match e {
        tollgate_proxy::Error::File { path, message } => {
            StartError::Config(ConfigError::new(&config.source, "tls", format!("{path}: {message}")))
        }
        other => other.into(),
    })?;
    let server = cert.server_config()?;
    Ok(Some((cert, server)))
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
