use std::task::{Context, Poll};

use http::{HeaderValue, Request, Response};
use tollgate_kube::{Reason, RequestBody, RequestInfo, ResponseBody, Status, StatusDetails, warning_header};
use tollgate_oidc::Identity;
use tower_layer::Layer;
use tower_service::Service;

use super::ResponseFuture;
use crate::{Action, Decision, PolicyStore, RequestView};

/// Evaluates the policy for every request (see the [module docs](crate::layer)).
#[derive(Debug, Clone)]
pub struct PolicyLayer {
    store: PolicyStore,
    approval_available: bool,
}

impl PolicyLayer {
    /// A layer over a (reloadable) policy store. `require_approval` is
    /// refused until [`PolicyLayer::approval_available`] says an approval
    /// layer follows.
    pub fn new(store: PolicyStore) -> Self {
        PolicyLayer {
            store,
            approval_available: false,
        }
    }

    /// Whether an approval layer follows in the stack.
    pub fn approval_available(mut self, available: bool) -> Self {
        self.approval_available = available;
        self
    }
}

impl<S> Layer<S> for PolicyLayer {
    type Service = PolicyService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        PolicyService {
            inner,
            store: self.store.clone(),
            approval_available: self.approval_available,
        }
    }
}

/// The service made by [`PolicyLayer`].
#[derive(Debug, Clone)]
pub struct PolicyService<S> {
    inner: S,
    store: PolicyStore,
    approval_available: bool,
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
fn forbidden(info: &RequestInfo, decision: &Decision, what: &str) -> Status {
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

impl<S, B, ResBody> Service<Request<B>> for PolicyService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let parsed;
        let info = match req.extensions().get::<RequestInfo>() {
            Some(i) => i,
            None => match RequestInfo::parse(req.method(), req.uri()) {
                Ok(i) => {
                    parsed = i;
                    &parsed
                }
                Err(e) => return ResponseFuture::refused(e.to_status()),
            },
        };
        let policy = self.store.current();
        let view = RequestView::new(
            info,
            req.extensions().get::<Identity>(),
            req.extensions().get::<RequestBody>(),
        );
        let decision = match policy.evaluate(&view) {
            Ok(d) => d,
            Err(e) => {
                tracing::info!(error = %e, "request refused: policy cannot read it");
                return ResponseFuture::refused(e.to_status());
            }
        };
        tollgate_kube::note(req.extensions(), decision.clone());
        match decision.action {
            Action::Deny => {
                tracing::info!(rule = ?decision.rule, verb = %info.verb, resource = %info.resource_path(), "request denied by policy");
                return ResponseFuture::refused(forbidden(info, &decision, "blocked by"));
            }
            Action::RequireApproval if !self.approval_available => {
                let mut d = decision.clone();
                d.message = format!(
                    "{} (approval is required, but this gateway has no approval workflow configured)",
                    d.message
                );
                return ResponseFuture::refused(forbidden(info, &d, "approval required by"));
            }
            _ => {}
        }
        let warnings: Vec<HeaderValue> = decision.warnings.iter().map(|w| warning_header(w)).collect();
        if decision.mask {
            req.extensions_mut().insert(tollgate_redact::Mask);
        }
        req.extensions_mut().insert(decision);
        ResponseFuture::call(self.inner.call(req), warnings)
    }
}
