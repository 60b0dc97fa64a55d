//! The two audit layers: [`AuditLayer`] and its inner half, [`RecordLayer`].

mod body;
mod outer;
mod record;
mod record_layer;
mod refusals;
mod session;

use std::sync::Arc;

pub use body::RecordBody;
pub use outer::{AuditService, ResponseFuture};
pub use record_layer::{RecordFuture, RecordLayer, RecordService};
pub use session::SessionOptions;

use record::Shared;
use tollgate_redact::Redactor;

use crate::{AuditPolicy, Level, Recorder};

/// Configures an [`AuditLayer`].
#[derive(Debug)]
pub struct AuditLayerBuilder {
    recorder: Recorder,
    policy: AuditPolicy,
    redactor: Option<Redactor>,
    capture_limit: usize,
    sessions: Option<SessionOptions>,
    refusal_flush: std::time::Duration,
}

impl AuditLayerBuilder {
    /// How often refusals folded into aggregates (past a client address's
    /// rate, or past the refusal share of the queue) are written
    /// (default 10 s).
    pub fn aggregate_refusals_every(mut self, every: std::time::Duration) -> Self {
        self.refusal_flush = every;
        self
    }

    /// The audit policy (default: everything at `Metadata`).
    pub fn policy(mut self, p: AuditPolicy) -> Self {
        self.policy = p;
        self
    }

    /// The redactor for bodies in records (default: the presets).
    pub fn redactor(mut self, r: Redactor) -> Self {
        self.redactor = Some(r);
        self
    }

    /// The most response bytes kept for `responseObject` (default 1 MiB;
    /// beyond it the record says `audit.k8s.io/truncated`).
    pub fn capture_limit(mut self, bytes: usize) -> Self {
        self.capture_limit = bytes;
        self
    }

    /// Records exec/attach sessions as asciicast files.
    pub fn sessions(mut self, s: SessionOptions) -> Self {
        self.sessions = Some(s);
        self
    }

    /// The layer.
    pub fn build(self) -> AuditLayer {
        let redactor = match self.redactor {
            Some(r) => r,
            None => Redactor::builder()
                .build()
                .unwrap_or_else(|e| unreachable!("the default redactor compiles: {e}")),
        };
        AuditLayer {
            shared: Arc::new(Shared {
                recorder: self.recorder,
                policy: std::sync::RwLock::new(Arc::new(self.policy)),
                redactor: Arc::new(redactor),
                capture_limit: self.capture_limit,
                sessions: self.sessions,
                enabled: true,
                refusals: Arc::new(refusals::Refusals::new(self.refusal_flush)),
            }),
        }
    }
}

/// Opens every request's audit record and records the requests inner
/// layers refuse; its inner half is [`RecordLayer`].
///
/// - [`AuditLayer`] sits outside authentication: it gives the request its
///   audit ID, opens the record and asks inner layers for
///   [`Notes`](tollgate_kube::Notes). A request an inner layer refuses
///   (unauthenticated, denied by a rule) never gets further; this layer
///   records it from the notes — always at least at `Metadata`, whatever
///   the audit policy says, since a refusal is a security event.
/// - [`RecordLayer`] (from [`AuditLayer::record_layer`]) sits just before
///   the proxy, where the identity and the decision are known: it applies
///   the audit policy (against the authenticated user, as the API server
///   does), writes `RequestReceived` and waits until the sink confirms it —
///   a request whose record cannot be written is refused with 503, never
///   forwarded — then `ResponseStarted` for long-running requests and
///   `ResponseComplete` when the body ends (with byte and watch-event
///   counts), or when an exec/attach session closes (with its recording).
///
/// Bodies in records always pass through the redactor.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use bytes::Bytes;
/// use http_body_util::{BodyExt, Full};
/// use tower::{ServiceBuilder, ServiceExt};
/// use tollgate_audit::{AuditLayer, AuditPolicy, Level, MemorySink, Recorder, RecorderOptions};
///
/// let sink = MemorySink::default();
/// let audit = AuditLayer::builder(Recorder::new(sink.clone(), RecorderOptions::default()))
///     .policy(AuditPolicy::everything(Level::Metadata))
///     .build();
/// let svc = ServiceBuilder::new()
///     .layer(tollgate_kube::RequestInfoLayer::new())
///     .layer(audit.clone())
///     .layer(audit.record_layer())
///     .service_fn(|_req| async { Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::from_static(b"{}")))) });
/// let res = svc.oneshot(http::Request::get("/api/v1/namespaces/a/pods").body(Full::new(Bytes::new()))?).await?;
/// assert!(res.headers().contains_key("audit-id"));
/// res.into_body().collect().await?;
/// tokio::time::sleep(std::time::Duration::from_millis(50)).await;
/// let stages: Vec<_> = sink.events().iter().map(|e| e.stage).collect();
/// assert_eq!(stages, [tollgate_audit::Stage::RequestReceived, tollgate_audit::Stage::ResponseComplete]);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct AuditLayer {
    shared: Arc<Shared>,
}

impl AuditLayer {
    /// Replaces the audit policy for requests from now on (a reload); a
    /// request already being recorded keeps the level it was given.
    pub fn set_policy(&self, policy: AuditPolicy) {
        let mut current = match self.shared.policy.write() {
            Ok(p) => p,
            Err(poisoned) => poisoned.into_inner(),
        };
        *current = Arc::new(policy);
    }

    /// A builder writing through `recorder`.
    pub fn builder(recorder: Recorder) -> AuditLayerBuilder {
        AuditLayerBuilder {
            recorder,
            policy: AuditPolicy::everything(Level::Metadata),
            redactor: None,
            capture_limit: 1 << 20,
            sessions: None,
            refusal_flush: std::time::Duration::from_secs(10),
        }
    }

    /// Layers that record nothing (for a gateway configured without
    /// audit): requests pass through unchanged but for the `Audit-Id`.
    pub fn disabled() -> Self {
        let mut l = AuditLayer::builder(Recorder::new(
            crate::MemorySink::default(),
            crate::RecorderOptions::default(),
        ))
        .build();
        if let Some(s) = Arc::get_mut(&mut l.shared) {
            s.enabled = false;
        }
        l
    }

    /// The inner half, placed just before the proxy.
    pub fn record_layer(&self) -> RecordLayer {
        RecordLayer {
            shared: self.shared.clone(),
        }
    }

    /// The recorder (for its counters).
    pub fn recorder(&self) -> &Recorder {
        &self.shared.recorder
    }
}

impl<S> tower_layer::Layer<S> for AuditLayer {
    type Service = AuditService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuditService::new(inner, self.shared.clone())
    }
}
