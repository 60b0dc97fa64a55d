//! [`ApprovalService`]: routes each request — the approvals API, a
//! `require_approval` decision to hold, or straight through.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tollgate_kube::{Identity, MissingLayer, RequestBody, RequestInfo, ResponseBody};
use tollgate_rules::{Action, Decision};
use tower_service::Service;

use super::future::{Check, Checking, Outcome, ResponseFuture, St};
use super::{Shared, api::api, hold::hold};

/// See [`ApprovalLayer`](super::ApprovalLayer).
#[derive(Debug, Clone)]
pub struct ApprovalService<S> {
    pub(super) inner: S,
    pub(super) shared: Arc<Shared>,
}

impl<S> ApprovalService<S> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, B, ResBody> Service<Request<B>> for ApprovalService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    B: Send + 'static,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        if !self.shared.enabled {
            return ResponseFuture {
                state: St::Calling {
                    future: self.inner.call(req),
                },
            };
        }
        let shared = self.shared.clone();
        let path = req.uri().path();
        if is_under(&shared.prefix, path) {
            let check: Check = Box::pin(api(
                shared,
                req.extensions().get::<tollgate_kube::Notes>().cloned(),
                req.method().clone(),
                path.to_owned(),
                req.uri().query().map(str::to_owned),
                Identity::of(req.extensions()).cloned(),
                req.extensions().get::<RequestBody>().cloned(),
            ));
            return ResponseFuture {
                state: Checking::state(check, None, None),
            };
        }
        let decision = req.extensions().get::<Decision>();
        // Which requests need an approval is the policy's decision; without
        // PolicyLayer in front there is none, and nothing is let through.
        if decision.is_none() {
            let res = NO_POLICY_LAYER.status().to_response();
            return ResponseFuture {
                state: Checking::state(Box::pin(async move { Outcome::Answer(res) }), None, None),
            };
        }
        let spec = match decision {
            Some(d) if d.action == Action::RequireApproval => d.approval.clone(),
            _ => None,
        };
        let (Some(spec), Some(d)) = (spec, decision.cloned()) else {
            return ResponseFuture {
                state: St::Calling {
                    future: self.inner.call(req),
                },
            };
        };
        // The request waits for its approval: the service made ready is
        // taken along, a clone left in its place.
        let inner = tollgate_kube::take_ready(&mut self.inner);
        let check: Check = Box::pin(hold(
            shared,
            req.extensions().get::<tollgate_kube::Notes>().cloned(),
            d,
            spec,
            Identity::of(req.extensions()).cloned(),
            RequestInfo::of(req.extensions()).cloned(),
            req.extensions().get::<RequestBody>().cloned(),
            req.uri().to_string(),
            req.headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        ));
        ResponseFuture {
            state: Checking::state(check, Some(req), Some(inner)),
        }
    }
}

/// The refusal when `PolicyLayer` is not in front: a 500 naming it (logged
/// once per process), never a silent allow.
static NO_POLICY_LAYER: MissingLayer = MissingLayer::new(
    "ApprovalLayer needs PolicyLayer in front of it: the request has no Decision in its extensions, so whether it needs an approval is unknown",
);

/// Whether `path` is `prefix` or below it (`prefix/…`), without building
/// `prefix/` for every request.
fn is_under(prefix: &str, path: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_api_is_the_prefix_and_what_is_below_it() {
        let p = crate::layer::API_PREFIX;
        for (path, under) in [
            (p.to_owned(), true),
            (format!("{p}/"), true),
            (format!("{p}/abc"), true),
            (format!("{p}x"), false),
            (p[..p.len() - 1].to_owned(), false),
            ("/".to_owned(), false),
        ] {
            assert_eq!(super::is_under(p, &path), under, "{path}");
        }
    }
}
