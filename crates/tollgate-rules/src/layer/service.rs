use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, Request, Response};
use tollgate_kube::log_context::RequestLog;
use tollgate_kube::{
    Identity, MissingLayer, Reason, RequestBody, RequestInfo, ResponseBody, Status, StatusDetails, warning_header,
};
use tower_layer::Layer;
use tower_service::Service;

use super::ResponseFuture;
use crate::{Action, Decision, PolicyStore, Preflight, RequestView};

/// Evaluates the policy for every request:
///
/// - deny → 403 `Forbidden` whose message names the rule:
///   `pods "web-0" is forbidden: blocked by Tollgate rule "no-exec-rm": …`;
/// - warn (and dry-run hits) → `Warning: 299 - "…"` headers kubectl prints;
/// - require_approval → a [`Decision`](crate::Decision) in the extensions
///   for the approval layer; without one in the stack the request is
///   refused (fail closed);
/// - a rule that needs the object where the request alone cannot show it
///   (protobuf, CBOR, JSON patches that move or go through arrays,
///   strategic-merge directives) → a preflight through the
///   [`Preflight`](crate::Preflight) client when one is given (see
///   [`crate::preflight_reason`]), else 415 for protobuf and CBOR; never
///   waved through.
///
/// ```
/// use tollgate_rules::{Policy, PolicyLayer, PolicyStore};
/// let layer = PolicyLayer::new(PolicyStore::new(Policy::allow_all()));
/// # let _ = layer;
/// ```
#[derive(Debug, Clone)]
pub struct PolicyLayer {
    store: PolicyStore,
    approval_available: bool,
    preflight: Option<Arc<dyn Preflight>>,
    preflights: Arc<AtomicU64>,
}

impl PolicyLayer {
    /// A layer over a (reloadable) policy store. `require_approval` is
    /// refused until [`PolicyLayer::approval_available`] says an approval
    /// layer follows.
    pub fn new(store: PolicyStore) -> Self {
        PolicyLayer {
            store,
            approval_available: false,
            preflight: None,
            preflights: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Whether an approval layer follows in the stack.
    pub fn approval_available(mut self, available: bool) -> Self {
        self.approval_available = available;
        self
    }

    /// Asks the API server for the object it would store (a dry run) where
    /// the request alone cannot show it (see [`crate::preflight_reason`]);
    /// without a client such requests are refused (415 for protobuf and
    /// CBOR) when a matching rule reads the object.
    pub fn preflight(mut self, client: Arc<dyn Preflight>) -> Self {
        self.preflight = Some(client);
        self
    }

    /// How many preflights (dry runs) the layer has sent, attempts included.
    pub fn preflights(&self) -> u64 {
        self.preflights.load(Ordering::Relaxed)
    }
}

impl<S> Layer<S> for PolicyLayer {
    type Service = PolicyService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        PolicyService {
            inner,
            store: self.store.clone(),
            approval_available: self.approval_available,
            preflight: self.preflight.clone(),
            preflights: self.preflights.clone(),
        }
    }
}

/// The service made by [`PolicyLayer`].
#[derive(Debug, Clone)]
pub struct PolicyService<S> {
    inner: S,
    store: PolicyStore,
    approval_available: bool,
    preflight: Option<Arc<dyn Preflight>>,
    preflights: Arc<AtomicU64>,
}

// === impl PolicyService ===

impl<S> PolicyService<S> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// `deployments.apps "web" is forbidden: blocked by Tollgate rule "x": msg`.
pub(super) fn forbidden(info: &RequestInfo, decision: &Decision, what: &str) -> Status {
    let rule = decision.rule.as_deref().unwrap_or("(default)");
    let subject = if !info.is_resource_request {
        "forbidden".to_owned()
    } else {
        let res = if info.api_group.is_empty() {
            info.resource.clone()
        } else {
            format!("{}.{}", info.resource, info.api_group)
        };
        if info.name.is_empty() {
            format!("{res} is forbidden")
        } else {
            format!("{res} \"{}\" is forbidden", info.name)
        }
    };
    let message = match decision.rule {
        Some(_) => format!("{subject}: {what} Tollgate rule \"{rule}\": {}", decision.message),
        None => format!("{subject}: no Tollgate rule allows this request, and the policy's default is deny"),
    };
    Status::failure(Reason::Forbidden, message).with_details({
        let mut d = StatusDetails::default();
        d.name = info.name.clone();
        d.group = info.api_group.clone();
        d.kind = info.resource.clone();
        d
    })
}

/// What a decision does to a request: a refusal, or the warnings to send
/// with the response.
pub(super) fn enforce(
    info: &RequestInfo,
    decision: &Decision,
    approval_available: bool,
) -> Result<Vec<HeaderValue>, Status> {
    // On the request's span (the audit layer's), for every later log line.
    let action = decision.action.as_str();
    let logged = RequestLog::with_current(|log| log.map(|log| log.record_decision(action)).is_some());
    if !logged {
        tracing::Span::current().record("decision", action);
    }
    match decision.action {
        Action::Deny => {
            tracing::info!(
                rule = decision.rule.as_deref().unwrap_or("-"),
                verb = %info.verb,
                resource = %info.resource_path(),
                "request denied by policy"
            );
            return Err(forbidden(info, decision, "blocked by"));
        }
        Action::RequireApproval if !approval_available => {
            let mut d = decision.clone();
            d.message = format!(
                "{} (approval is required, but this gateway has no approval workflow configured)",
                d.message
            );
            return Err(forbidden(info, &d, "approval required by"));
        }
        _ => {}
    }
    Ok(decision.warnings.iter().map(|w| warning_header(w)).collect())
}

impl<S, B, ResBody> Service<Request<B>> for PolicyService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Send + 'static,
    B: From<Bytes> + Send + 'static,
    ResBody: Send + 'static,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        // Rules read the request RequestInfoLayer parsed and buffered; without
        // it a body condition could not be checked, so nothing is let through.
        let (Some(info), true) = (
            RequestInfo::of(req.extensions()),
            req.extensions().get::<RequestBody>().is_some(),
        ) else {
            return ResponseFuture::refused(NO_REQUEST_INFO.status());
        };
        let policy = self.store.current();
        let view = RequestView::new(
            info,
            Identity::of(req.extensions()),
            req.extensions().get::<RequestBody>(),
        );
        // The request alone cannot show what the API server will store,
        // and a rule needs to know: ask the API server (a dry run).
        if let (Some(client), Some(body)) = (&self.preflight, view.body)
            && let Some(why) = crate::preflight_reason(body)
            && policy.needs_object(&view)
        {
            let info = info.clone();
            let inner = tollgate_kube::take_ready(&mut self.inner);
            let run = super::preflight_call::Run {
                inner,
                client: client.clone(),
                store: self.store.clone(),
                approval_available: self.approval_available,
                preflights: self.preflights.clone(),
                why,
                info,
            };
            return ResponseFuture::preflight(Box::pin(run.call(req)));
        }
        let decision = match policy.evaluate(&view) {
            Ok(d) => d,
            Err(e) => {
                tracing::info!(error = %e, "request refused: policy cannot read it");
                return ResponseFuture::refused(e.to_status());
            }
        };
        tollgate_kube::note(req.extensions(), decision.clone());
        let warnings = match enforce(info, &decision, self.approval_available) {
            Ok(w) => w,
            Err(status) => return ResponseFuture::refused(status),
        };
        if decision.mask {
            req.extensions_mut().insert(tollgate_kube::Mask);
        }
        req.extensions_mut().insert(decision);
        ResponseFuture::call(self.inner.call(req), warnings)
    }
}

/// The refusal when `RequestInfoLayer` is not in front of the policy: a
/// 500 naming it (logged once per process), never a silent allow.
static NO_REQUEST_INFO: MissingLayer = MissingLayer::new(
    "PolicyLayer needs RequestInfoLayer in front of it: the request has no RequestInfo and RequestBody in its extensions, so no rule could be checked",
);
