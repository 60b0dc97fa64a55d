//! [`MetricsLayer`]: times every request and, when its response's headers
//! are ready, counts it from the notes the inner layers left.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use http::{Request, Response};
use pin_project_lite::pin_project;
use tollgate_kube::{Identity, Notes, RequestInfo};
use tollgate_oidc::AuthnFailure;
use tollgate_rules::{ApprovalNote, Decision};
use tower_service::Service;

use crate::{AuthnLabels, DecisionLabels, KindLabels, Metrics, RequestLabels, StateLabels, VerbLabels};

/// Counts every request into [`Metrics`]. Place it just inside the
/// `AuditLayer` (it reads the same [`Notes`]; without an audit layer it
/// opens them itself).
#[derive(Debug, Clone)]
pub struct MetricsLayer {
    metrics: Arc<Metrics>,
}

impl MetricsLayer {
    /// Counting into `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        MetricsLayer { metrics }
    }
}

impl<S> tower_layer::Layer<S> for MetricsLayer {
    type Service = MetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MetricsService {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// See [`MetricsLayer`].
#[derive(Debug, Clone)]
pub struct MetricsService<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S, B, ResBody> Service<Request<B>> for MetricsService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let notes = match req.extensions().get::<Notes>() {
            Some(n) => n.clone(),
            None => {
                let n = Notes::default();
                req.extensions_mut().insert(n.clone());
                n
            }
        };
        ResponseFuture {
            future: self.inner.call(req),
            started: Instant::now(),
            notes,
            metrics: self.metrics.clone(),
        }
    }
}

pin_project! {
    /// The response future of [`MetricsService`].
    pub struct ResponseFuture<F> {
        #[pin]
        future: F,
        started: Instant,
        notes: Notes,
        metrics: Arc<Metrics>,
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.future.poll(cx));
        if let Ok(res) = &result {
            observe(
                this.metrics,
                this.notes,
                res.status().as_u16(),
                this.started.elapsed().as_secs_f64(),
            );
        }
        Poll::Ready(result)
    }
}

/// The verbs the API server has, and the HTTP methods of non-resource
/// requests; anything else is `(other)`.
fn bounded_verb(verb: &str) -> &'static str {
    match verb {
        "get" => "get",
        "list" => "list",
        "watch" => "watch",
        "create" => "create",
        "update" => "update",
        "patch" => "patch",
        "delete" => "delete",
        "deletecollection" => "deletecollection",
        "proxy" => "proxy",
        "head" => "head",
        "options" => "options",
        "post" => "post",
        "put" => "put",
        "connect" => "connect",
        _ => "(other)",
    }
}

fn observe(m: &Metrics, notes: &Notes, code: u16, seconds: f64) {
    notes.read(|n| observe_notes(m, n, code, seconds));
}

/// [`observe`] with the notes read under one lock, nothing copied but the
/// labels.
fn observe_notes(m: &Metrics, notes: &http::Extensions, code: u16, seconds: f64) {
    let info = notes.get::<RequestInfo>();
    let decision = notes.get::<Decision>();
    let verb = info.map_or("-", |i| bounded_verb(&i.verb));
    let resource = match info {
        Some(i) if i.is_resource_request && i.subresource.is_empty() => m.bounded_resource(&i.resource),
        Some(i) if i.is_resource_request => m.bounded_resource(&i.resource_path()),
        Some(_) => m.name_label("(nonresource)"),
        None => m.name_label("-"),
    };
    m.requests
        .get_or_create(&RequestLabels {
            verb,
            resource,
            code,
            decision: decision.map_or("none", |d| d.action.as_str()),
        })
        .inc();
    let labels = VerbLabels { verb };
    if info.is_some_and(RequestInfo::is_long_running) {
        m.long_running.get_or_create(&labels).inc();
    } else {
        m.duration.get_or_create(&labels).observe(seconds);
        if let Some(up) = notes.get::<tollgate_kube::UpstreamLatency>() {
            m.upstream_duration.get_or_create(&labels).observe(up.0.as_secs_f64());
        }
    }
    if let Some(id) = notes.get::<Arc<Identity>>() {
        let issuer = if id.issuer.is_empty() {
            m.name_label("(anonymous)")
        } else {
            m.name_label(&id.issuer)
        };
        m.authentications
            .get_or_create(&AuthnLabels { issuer, result: "ok" })
            .inc();
    } else if let Some(f) = notes.get::<AuthnFailure>() {
        m.authentications
            .get_or_create(&AuthnLabels {
                issuer: m.name_label("-"),
                result: f.short_reason,
            })
            .inc();
    }
    if let Some(d) = decision {
        m.decisions
            .get_or_create(&DecisionLabels {
                rule: m.name_label(d.rule.as_deref().unwrap_or("(default)")),
                action: d.action.as_str(),
            })
            .inc();
        if d.mask {
            m.masked.inc();
        }
    }
    if let Some(a) = notes.get::<ApprovalNote>() {
        let state = match a.state.as_str() {
            s @ ("pending" | "approved" | "denied" | "expired" | "consumed") => s,
            _ => "(other)",
        };
        m.approvals
            .get_or_create(&StateLabels {
                state: state.to_owned(),
            })
            .inc();
        if let Some(decided) = a.decided_at.filter(|_| state == "approved") {
            m.approval_wait.observe(decided.saturating_sub(a.requested_at) as f64);
        }
    }
    if code == 101 {
        let kind = info
            .map(|i| i.subresource.as_str())
            .filter(|k| matches!(*k, "exec" | "attach" | "portforward"))
            .unwrap_or("other");
        m.tunnels.get_or_create(&KindLabels { kind: kind.to_owned() }).inc();
    }
}
