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
pub mod config;
#[cfg(feature = "demo")]
pub mod demo;
pub mod preflight;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tollgate_kube::RequestInfoLayer;
use tollgate_oidc::{AuthnLayer, OwnerMapper, Verifier};
use tollgate_proxy::{Proxy, Upstream, UpstreamIdentity};
use tollgate_rules::{Policy, PolicyLayer, PolicyStore};
use tower::ServiceBuilder;

pub use config::{Config, ConfigError};

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The policy file is invalid.
    #[error(transparent)]
    Policy(#[from] tollgate_rules::PolicyError),
    /// The authentication settings are invalid.
    #[error(transparent)]
    Oidc(#[from] tollgate_oidc::ConfigError),
    /// The upstream settings are invalid.
    #[error(transparent)]
    Upstream(#[from] tollgate_proxy::Error),
    /// The testkit (demo) failed.
    #[cfg(feature = "demo")]
    #[error(transparent)]
    Testkit(#[from] tollgate_testkit::Error),
    /// The audit policy is invalid.
    #[error(transparent)]
    AuditPolicy(#[from] tollgate_audit::PolicyError),
    /// The approval store cannot be reached.
    #[error("approval store: {0}")]
    ApprovalStore(#[from] tollgate_approval::StoreError),
    /// The audit log cannot be opened.
    #[error("audit log: {0}")]
    AuditSink(#[from] tollgate_audit::SinkError),
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
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Running {
    /// Stops accepting, drains in-flight requests, and returns when done.
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
    let upstream = match &config.upstream.kubeconfig {
        Some(path) => Upstream::from_kubeconfig(path, config.upstream.context.as_deref())?,
        None => Upstream::in_cluster()?,
    };
    let tls = match &config.tls {
        Some(t) => {
            let read = |p: &std::path::Path| {
                std::fs::read(p).map_err(|source| StartError::Io {
                    what: format!("reading {}", p.display()),
                    source,
                })
            };
            Some(tollgate_proxy::server_tls_from_pem(
                &read(&t.cert)?,
                &read(&t.key)?,
                &t.cert.display().to_string(),
                &t.key.display().to_string(),
            )?)
        }
        None => None,
    };
    let authn = authentication(config).await?;
    let policy = match &config.policy {
        Some(p) => {
            let store = PolicyStore::new(PolicyStore::load_file(&p.file)?);
            store.watch(p.file.clone(), Duration::from_secs(p.reload_check_seconds));
            store
        }
        None => PolicyStore::new(Policy::allow_all()),
    };
    let identity = match config.upstream.identity.as_deref() {
        Some("passthrough") => UpstreamIdentity::Passthrough,
        _ => UpstreamIdentity::Impersonate,
    };
    let proxy = Proxy::builder(upstream)
        .identity(identity)
        .connect_timeout(Duration::from_secs(config.upstream.connect_timeout_seconds))
        .response_timeout(Duration::from_secs(config.upstream.response_timeout_seconds))
        .build();
    let upstream_url = proxy.upstream().url().to_owned();
    let audit = audit(config)?;
    let trusted = config
        .trusted_proxies
        .iter()
        .filter_map(|t| t.parse::<tollgate_proxy::TrustedProxy>().ok())
        .collect();
    let stack = ServiceBuilder::new()
        // A client's own X-Forwarded-For never decides its recorded address.
        .layer(tollgate_proxy::TrustForwardedLayer::new(trusted))
        // Outermost but for that, so that what the RequestInfo layer refuses (413, 414,
        // 415, 431, a malformed URI) is on record too.
        .layer(audit.clone())
        // The token is checked from the headers before any body is read:
        // an unauthenticated request never has its body buffered.
        .layer(authn)
        .layer(
            RequestInfoLayer::new()
                .max_body_bytes(config.limits.max_body_bytes)
                .body_timeout(Duration::from_secs(config.limits.body_timeout_seconds))
                .max_uri_bytes(config.limits.max_uri_bytes)
                .max_header_bytes(config.limits.max_header_bytes)
                .max_buffered_bytes(config.limits.max_buffered_bytes),
        )
        .layer(
            PolicyLayer::new(policy.clone())
                .approval_available(config.approval.is_some())
                .preflight(std::sync::Arc::new(preflight::ProxyPreflight::new(proxy.clone()))),
        )
        .layer(approval(config).await?)
        .layer(masking(config)?)
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
    let ready = Arc::new(AtomicBool::new(true));
    let (admin_addr, admin_task) = match &config.admin {
        Some(a) => {
            let recorder = config.audit.is_some().then(|| audit.recorder().clone());
            let (addr, task) = admin::start(a.listen, ready.clone(), recorder).await?;
            (Some(addr), Some(task))
        }
        None => (None, None),
    };

    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let mut serve_options =
        tollgate_proxy::ServeOptions::default().with_drain(Duration::from_secs(config.shutdown.drain_seconds));
    serve_options.max_connections = config.limits.max_connections;
    serve_options.max_connections_per_ip = config.limits.max_connections_per_ip;
    serve_options.max_handshakes = config.limits.max_handshakes;
    serve_options.header_read_timeout = Duration::from_secs(config.limits.header_read_timeout_seconds);
    serve_options.idle_timeout = Duration::from_secs(config.limits.idle_timeout_seconds);
    serve_options.max_concurrent_streams = config.limits.max_concurrent_streams;
    let task = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stop_rx.await;
            ready.store(false, Ordering::SeqCst);
        };
        tollgate_proxy::serve_with(listener, tls, stack, shutdown, serve_options).await;
        if let Some(t) = admin_task {
            t.abort();
        }
    });
    tracing::info!(%addr, upstream = %upstream_url, "tollgate is serving");
    Ok(Running {
        addr,
        admin_addr,
        upstream: upstream_url,
        stop: Some(stop_tx),
        task,
    })
}

/// The authentication layer the configuration asks for; OIDC issuers are
/// contacted now, and those that do not answer are retried in the
/// background (their tokens get 401 meanwhile).
async fn authentication(config: &Config) -> Result<AuthnLayer, StartError> {
    let Some(a) = config.authentication.as_ref().filter(|a| a.mode == "oidc") else {
        tracing::warn!("authentication.mode is none: every request is forwarded as the gateway's own identity");
        return Ok(AuthnLayer::disabled());
    };
    let Some(path) = &a.config else {
        return Ok(AuthnLayer::disabled());
    };
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| StartError::Io {
        what: format!("reading authentication.config {file}"),
        source,
    })?;
    let mut authn = tollgate_oidc::parse_authentication_configuration(&text, &file)?;
    for (issuer, algs) in &a.algorithms {
        let Some(j) = authn.jwt.iter_mut().find(|j| &j.url == issuer) else {
            return Err(ConfigError {
                file: "configuration".to_owned(),
                field: format!("authentication.algorithms[{issuer:?}]"),
                message: format!("no issuer {issuer:?} in {file}"),
            }
            .into());
        };
        j.algorithms = algs
            .iter()
            .filter_map(|x| tollgate_oidc::parse_algorithm(x).ok())
            .collect();
    }
    let owners = match &a.owners {
        Some(p) => {
            let name = p.display().to_string();
            let text = std::fs::read_to_string(p).map_err(|source| StartError::Io {
                what: format!("reading authentication.owners {name}"),
                source,
            })?;
            OwnerMapper::parse(&text, &name)?
        }
        None => OwnerMapper::default(),
    };
    let mut builder = Verifier::builder()
        .source_name(file)
        .owners(owners)
        .refuse_unmapped(a.unmapped.as_deref() == Some("refuse"))
        .nbf_leeway(Duration::from_secs(a.nbf_leeway_seconds));
    for j in authn.jwt.drain(..) {
        builder = builder.issuer(j);
    }
    let verifier = Arc::new(builder.build()?);
    verifier.start().await;
    Ok(AuthnLayer::new(verifier).allow_anonymous(authn.anonymous))
}

/// The audit layers the configuration asks for (recording nothing when it
/// has no `audit` section).
fn audit(config: &Config) -> Result<tollgate_audit::AuditLayer, StartError> {
    use tollgate_audit::{AuditLayer, AuditPolicy, FileOptions, FileSink, Level, Recorder, RecorderOptions, Sink};
    let Some(a) = &config.audit else {
        return Ok(AuditLayer::disabled());
    };
    let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
    if let Some(log) = &a.log {
        let durability = log
            .durability
            .as_deref()
            .unwrap_or("batch")
            .parse()
            .map_err(|message| ConfigError {
                file: "configuration".to_owned(),
                field: "audit.log.durability".to_owned(),
                message,
            })?;
        let options = FileOptions::default()
            .max_bytes(log.max_size_mb.saturating_mul(1024 * 1024))
            .max_backups(log.max_backups)
            .durability(durability);
        sinks.push(Box::new(FileSink::open(&log.path, options)?));
    }
    if a.stdout {
        sinks.push(Box::new(tollgate_audit::StdoutSink));
    }
    if let Some(w) = &a.webhook {
        let upstream = Upstream::from_kubeconfig(&w.kubeconfig, None)?;
        let options = match (w.mode.as_deref(), &w.spool_dir) {
            (Some("failClosed"), _) | (_, None) => tollgate_audit::WebhookOptions::fail_closed(),
            (_, Some(dir)) => {
                tollgate_audit::WebhookOptions::spool(dir.clone(), w.spool_max_mb.saturating_mul(1 << 20))
            }
        }
        .initial_backoff(Duration::from_secs(w.initial_backoff_seconds));
        sinks.push(Box::new(tollgate_audit::WebhookSink::new(upstream, options)?));
    }
    let recorder = Recorder::new(
        tollgate_audit::Tee::new(sinks),
        RecorderOptions::default()
            .queue(a.queue)
            .confirm_timeout(Duration::from_secs(a.confirm_timeout_seconds))
            .linger(Duration::from_millis(a.batch_linger_ms)),
    );
    let policy = match &a.policy {
        Some(p) => AuditPolicy::load(p)?,
        None => AuditPolicy::everything(Level::Metadata),
    };
    // Omitting RequestReceived trades "no request is forwarded before its
    // record is confirmed" for throughput: said at start-up, and refused
    // when the configuration requires the guarantee.
    let unconfirmed = policy.unconfirmed();
    if !unconfirmed.is_empty() {
        let file = a
            .policy
            .as_ref()
            .map_or("(default)".to_owned(), |p| p.display().to_string());
        let message = format!(
            "{file}: {} omit RequestReceived: the requests they match are forwarded before their record is confirmed (a sink failure can lose them)",
            unconfirmed.join(", ")
        );
        if a.require_request_received {
            return Err(ConfigError {
                file: "configuration".to_owned(),
                field: "audit.requireRequestReceived".to_owned(),
                message,
            }
            .into());
        }
        tracing::warn!("{message}; set audit.requireRequestReceived: true to refuse such a policy");
    }
    let mut b = AuditLayer::builder(recorder)
        .policy(policy)
        .capture_limit(a.max_object_bytes);
    if let Some(s) = &a.sessions {
        // Records name recordings by absolute path: they stay valid
        // wherever a reviewer reads them from.
        std::fs::create_dir_all(&s.dir).map_err(|source| StartError::Io {
            what: format!("creating audit.sessions.dir {}", s.dir.display()),
            source,
        })?;
        let dir = std::fs::canonicalize(&s.dir).map_err(|source| StartError::Io {
            what: format!("resolving audit.sessions.dir {}", s.dir.display()),
            source,
        })?;
        let mut o = tollgate_audit::SessionOptions::new(dir);
        o.stdin = s.stdin;
        o.required = s.required;
        b = b.sessions(o);
    }
    Ok(b.build())
}

/// The approval layer, when the configuration has an `approval` section.
async fn approval(config: &Config) -> Result<tollgate_approval::ApprovalLayer, StartError> {
    let Some(a) = config.approval.as_ref() else {
        return Ok(tollgate_approval::ApprovalLayer::disabled());
    };
    let store: std::sync::Arc<dyn tollgate_approval::ApprovalStore> = match &a.redis_url {
        Some(url) => std::sync::Arc::new(tollgate_approval::RedisStore::connect(url).await?),
        None => std::sync::Arc::new(tollgate_approval::MemoryStore::default()),
    };
    let hint = "tollgate approvals approve {id} --kubeconfig <an approver's kubeconfig>";
    let mut notifiers = Vec::new();
    for n in &a.notify {
        notifiers.push(tollgate_approval::WebhookNotifier::new(
            Upstream::from_kubeconfig(n, None)?,
            hint,
        ));
    }
    let mut layer = tollgate_approval::ApprovalLayer::new(store)
        .approve_hint(hint)
        .notifier(Fanout(notifiers));
    if let Some(h) = a.hold_seconds {
        layer = layer.hold(Duration::from_secs(h));
    }
    Ok(layer)
}

/// Tells every configured webhook.
#[derive(Debug)]
struct Fanout(Vec<tollgate_approval::WebhookNotifier>);

impl tollgate_approval::Notifier for Fanout {
    fn notify(&self, event: tollgate_approval::NotifyEvent, a: &tollgate_approval::Approval) {
        for n in &self.0 {
            n.notify(event, a);
        }
    }
}

/// The mask layer the configuration asks for.
fn masking(config: &Config) -> Result<tollgate_redact::MaskLayer, StartError> {
    let m = &config.masking;
    // Secret `data` stays valid base64, so typed clients (kubectl describe,
    // client-go) still decode what they receive.
    let mut b = tollgate_redact::Redactor::builder().base64_data(true);
    if let Some(k) = &m.config_map_keys {
        b = b.configmap_keys(k.clone());
    }
    if let Some(key) = &m.fingerprint_key {
        b = b.replacement(tollgate_redact::Replacement::fingerprint(key.as_bytes().to_vec(), 8));
    }
    let redactor = b.build().map_err(|message| ConfigError {
        file: "configuration".to_owned(),
        field: "masking".to_owned(),
        message: message.to_string(),
    })?;
    Ok(tollgate_redact::MaskLayer::new(redactor).mask_all(m.all))
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
