//! [`MetricsLayer`]: times every request and, when its response's headers
//! are ready, counts it from the notes the inner layers left.

use std::borrow::Cow;
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

use crate::{KindLabels, Metrics, StateLabels, VerbLabels, recent};

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

fn observe(m: &Arc<Metrics>, notes: &Notes, code: u16, seconds: f64) {
    notes.read(|n| observe_notes(m, n, code, seconds));
}

/// [`observe`] with the notes read under one lock: counted on the series
/// the thread's last request with the same labels used ([`recent`]), or
/// found.
fn observe_notes(m: &Arc<Metrics>, notes: &http::Extensions, code: u16, seconds: f64) {
    let info = RequestInfo::of(notes);
    let decision = notes.get::<Decision>();
    let verb = info.map_or("-", |i| bounded_verb(&i.verb));
    let key = recent::Key {
        verb,
        target: match info {
            Some(i) if i.is_resource_request && i.subresource.is_empty() => {
                recent::Target::Resource(Cow::Borrowed(&i.resource))
            }
            Some(i) if i.is_resource_request => recent::Target::Resource(Cow::Owned(i.resource_path())),
            Some(_) => recent::Target::NonResource,
            None => recent::Target::Unknown,
        },
        code,
        decision: decision.map(|d| (d.action.as_str(), d.rule.as_deref().map(Cow::Borrowed))),
        authn: if let Some(id) = notes.get::<Arc<Identity>>() {
            recent::Authn::Verified(Cow::Borrowed(&id.issuer))
        } else if let Some(f) = notes.get::<AuthnFailure>() {
            recent::Authn::Refused(f.short_reason)
        } else {
            recent::Authn::Unnoted
        },
        long_running: info.is_some_and(RequestInfo::is_long_running),
    };
    recent::with_handles(m, key, |h| {
        h.requests.inc();
        match &mut h.timing {
            recent::Timing::LongRunning(c) => {
                c.inc();
            }
            recent::Timing::Duration(total, upstream) => {
                total.observe(seconds);
                if let Some(up) = notes.get::<tollgate_kube::UpstreamLatency>() {
                    upstream
                        .get_or_insert_with(|| m.upstream_duration.get_or_create(&VerbLabels { verb }).clone())
                        .observe(up.0.as_secs_f64());
                }
            }
        }
        if let Some(c) = &h.authn {
            c.inc();
        }
        if let Some(c) = &h.decision {
            c.inc();
        }
    });
    if decision.is_some_and(|d| d.mask) {
        m.masked.inc();
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use tower::ServiceExt;
    use tower_layer::Layer;

    /// One request: its path, and what the inner layers note.
    struct Case {
        path: &'static str,
        issuer: Option<&'static str>,
        refused: bool,
        status: u16,
    }

    fn policy() -> tollgate_rules::Policy {
        tollgate_rules::parse_policy(
            "apiVersion: tollgate.dev/v1alpha1\nkind: Policy\nrules:\n\
             - name: warn-secrets\n  match: {verbs: [get], resources: [{group: \"\", resources: [secrets]}]}\n  action: warn\n  message: careful\n",
            "p.yaml",
        )
        .unwrap()
    }

    async fn count(m: &Arc<Metrics>, c: &Case) {
        let policy = Arc::new(policy());
        let (issuer, refused, status) = (c.issuer, c.refused, c.status);
        let inner = tower::service_fn(move |req: Request<()>| {
            let policy = policy.clone();
            async move {
                let info = RequestInfo::parse(req.method(), req.uri()).unwrap();
                let ext = req.extensions();
                if let Some(issuer) = issuer {
                    let mut id = Identity::new("someone");
                    id.issuer = issuer.to_owned();
                    let view = tollgate_rules::RequestView::new(&info, Some(&id), None);
                    tollgate_kube::note(ext, policy.evaluate(&view).unwrap());
                    tollgate_kube::note(ext, Arc::new(id));
                }
                if refused {
                    tollgate_kube::note(ext, AuthnFailure::new(&tollgate_oidc::Error::BadSignature));
                }
                tollgate_kube::note(ext, info);
                let mut res = Response::new(());
                *res.status_mut() = http::StatusCode::from_u16(status).unwrap();
                Ok::<_, Infallible>(res)
            }
        });
        let req = Request::get(c.path).body(()).unwrap();
        MetricsLayer::new(m.clone()).layer(inner).oneshot(req).await.unwrap();
    }

    fn line<'a>(text: &'a str, starts: &str) -> Option<&'a str> {
        text.lines().find(|l| l.starts_with(starts))
    }

    /// Requests whose labels differ in one thing at a time, counted on one
    /// thread into two registries: each lands in its own series of its own
    /// registry, as when nothing is remembered between requests.
    #[tokio::test(flavor = "current_thread")]
    async fn a_thread_remembering_its_last_labels_counts_every_request_in_its_own_series() {
        const POD: &str = "/api/v1/namespaces/a/pods/x";
        let cases = [
            (POD, Some("https://one"), false, 200),
            (POD, Some("https://one"), false, 200),
            (POD, Some("https://two"), false, 200),
            (POD, Some("https://one"), false, 404),
            ("/api/v1/namespaces/a/secrets/s", Some("https://one"), false, 200),
            ("/api/v1/namespaces/a/pods/x/log", Some("https://one"), false, 200),
            ("/version", None, true, 401),
            (POD, Some(""), false, 200),
        ]
        .map(|(path, issuer, refused, status)| Case {
            path,
            issuer,
            refused,
            status,
        });
        let (m1, m2) = (Arc::new(Metrics::new("t")), Arc::new(Metrics::new("t")));
        // Each case twice in a row (the second is counted on remembered
        // handles), then the next case: its labels differ in one thing.
        for c in &cases {
            count(&m1, c).await;
            count(&m1, c).await;
        }
        // The same labels in another registry, then in the first again.
        for c in &cases {
            count(&m2, c).await;
            count(&m1, c).await;
        }
        let (_, t1) = m1.encode(crate::Format::Text004);
        let (_, t2) = m2.encode(crate::Format::Text004);
        let req = |t: &str, labels: &str| {
            line(t, &format!("tollgate_requests_total{{{labels}}}"))
                .and_then(|l| l.rsplit(' ').next())
                .map(str::to_owned)
        };
        for (t, n) in [(&t1, 3), (&t2, 1)] {
            let pods_ok = req(t, r#"verb="get",resource="pods",code="200",decision="allow""#);
            // The first two cases, the `https://two` one and the anonymous one.
            assert_eq!(pods_ok.as_deref(), Some(&*(4 * n).to_string()), "{t}");
            let pods_404 = req(t, r#"verb="get",resource="pods",code="404",decision="allow""#);
            assert_eq!(pods_404.as_deref(), Some(&*n.to_string()), "{t}");
            let secrets = req(t, r#"verb="get",resource="secrets",code="200",decision="warn""#);
            assert_eq!(secrets.as_deref(), Some(&*n.to_string()), "{t}");
            let log = req(t, r#"verb="get",resource="pods/log",code="200",decision="allow""#);
            assert_eq!(log.as_deref(), Some(&*n.to_string()), "{t}");
            let refused = req(t, r#"verb="get",resource="(nonresource)",code="401",decision="none""#);
            assert_eq!(refused.as_deref(), Some(&*n.to_string()), "{t}");
            let authn = |labels: &str| {
                line(t, &format!("tollgate_authentications_total{{{labels}}}")).and_then(|l| l.rsplit(' ').next())
            };
            assert_eq!(
                authn(r#"issuer="https://one",result="ok""#),
                Some(&*(5 * n).to_string()),
                "{t}"
            );
            assert_eq!(
                authn(r#"issuer="https://two",result="ok""#),
                Some(&*n.to_string()),
                "{t}"
            );
            assert_eq!(
                authn(r#"issuer="(anonymous)",result="ok""#),
                Some(&*n.to_string()),
                "{t}"
            );
            assert_eq!(
                authn(r#"issuer="-",result="token signature is invalid""#),
                Some(&*n.to_string()),
                "{t}"
            );
            let decisions = |labels: &str| {
                line(t, &format!("tollgate_policy_decisions_total{{{labels}}}")).and_then(|l| l.rsplit(' ').next())
            };
            assert_eq!(
                decisions(r#"rule="warn-secrets",action="warn""#),
                Some(&*n.to_string()),
                "{t}"
            );
            assert_eq!(
                decisions(r#"rule="(default)",action="allow""#),
                Some(&*(6 * n).to_string()),
                "{t}"
            );
            let durations =
                line(t, r#"tollgate_request_duration_seconds_count{verb="get"}"#).and_then(|l| l.rsplit(' ').next());
            // Logs are long-running: counted, not timed.
            assert_eq!(durations, Some(&*(7 * n).to_string()), "{t}");
            let long =
                line(t, r#"tollgate_long_running_requests_total{verb="get"}"#).and_then(|l| l.rsplit(' ').next());
            assert_eq!(long, Some(&*n.to_string()), "{t}");
        }
    }
}
