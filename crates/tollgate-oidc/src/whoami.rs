//! `WhoAmILayer`: `GET /tollgate/v1/whoami` answers with the caller's
//! identity and business owner as the gateway sees them (what `kubectl
//! tollgate whoami` prints). It must sit behind [`AuthnLayer`](crate::AuthnLayer):
//! without an [`Identity`] in the extensions it answers 401, and it never
//! shows anyone but the caller.
//!
//! ```
//! use tollgate_oidc::WhoAmILayer;
//! let layer = WhoAmILayer::new();
//! # let _ = layer;
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use pin_project_lite::pin_project;
use serde_json::json;
use tollgate_kube::{Identity, Reason, ResponseBody, Status};
use tower_service::Service;

/// The path answered.
pub const WHOAMI_PATH: &str = "/tollgate/v1/whoami";

/// Answers `GET /tollgate/v1/whoami` ([`WHOAMI_PATH`]) with the caller's
/// own identity and owner ([`whoami_body`]); passes every other request on.
/// Put it behind [`AuthnLayer`](crate::AuthnLayer).
#[derive(Debug, Clone, Copy, Default)]
pub struct WhoAmILayer {
    _private: (),
}

impl WhoAmILayer {
    /// The layer.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S> tower_layer::Layer<S> for WhoAmILayer {
    type Service = WhoAmIService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        WhoAmIService { inner }
    }
}

/// See [`WhoAmILayer`].
#[derive(Debug, Clone)]
pub struct WhoAmIService<S> {
    inner: S,
}

impl<S> WhoAmIService<S> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

pin_project! {
    /// The response future of [`WhoAmIService`].
    pub struct WhoAmIFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = WhoAmIProj]
    enum State<F> {
        Inner { #[pin] future: F },
        Answer { response: Option<Response<Bytes>> },
    }
}

impl<F> std::fmt::Debug for WhoAmIFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhoAmIFuture").finish_non_exhaustive()
    }
}

impl<F, B, E> Future for WhoAmIFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            WhoAmIProj::Inner { future } => future.poll(cx).map(|r| r.map(|res| res.map(ResponseBody::inner))),
            WhoAmIProj::Answer { response } => {
                let res = response
                    .take()
                    .unwrap_or_else(|| Response::new(Bytes::from_static(b"{}")));
                Poll::Ready(Ok(res.map(ResponseBody::full)))
            }
        }
    }
}

/// The body: the identity as the gateway forwards it, and its owner.
///
/// ```
/// let mut id = tollgate_kube::Identity::new("github:repo:acme/app");
/// id.groups = vec!["ci".into()];
/// let v = tollgate_oidc::whoami_body(&id);
/// assert_eq!(v["username"], "github:repo:acme/app");
/// assert_eq!(v["kind"], "WhoAmI");
/// ```
pub fn whoami_body(id: &Identity) -> serde_json::Value {
    json!({
        "kind": "WhoAmI",
        "apiVersion": "tollgate.dev/v1",
        "username": id.username,
        "uid": id.uid,
        "groups": id.groups,
        "extra": id.extra,
        "issuer": id.issuer,
        "subject": id.subject,
        "owner": {
            "name": id.owner.name,
            "team": id.owner.team,
            "contact": id.owner.contact,
            "labels": id.owner.labels,
            "mapped": id.owner.mapped,
        },
        "expiresAt": (id.expires_at > 0)
            .then(|| tollgate_kube::time::format_time(std::time::Duration::from_secs(id.expires_at))),
    })
}

impl<S, B, ResBody> Service<Request<B>> for WhoAmIService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = WhoAmIFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        if req.uri().path() != WHOAMI_PATH {
            return WhoAmIFuture {
                state: State::Inner {
                    future: self.inner.call(req),
                },
            };
        }
        let status = |reason: Reason, message: &str| {
            let s = Status::failure(reason, message);
            let code = StatusCode::from_u16(s.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut res = Response::new(s.to_bytes());
            *res.status_mut() = code;
            res.headers_mut()
                .insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            res
        };
        let response = if req.method() != Method::GET {
            status(Reason::MethodNotAllowed, "whoami answers GET only")
        } else {
            match Identity::of(req.extensions()) {
                Some(id) => {
                    let mut res = Response::new(Bytes::from(whoami_body(id).to_string()));
                    res.headers_mut()
                        .insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                    res
                }
                None => status(
                    Reason::Unauthorized,
                    "no verified identity: whoami needs AuthnLayer in front",
                ),
            }
        };
        WhoAmIFuture {
            state: State::Answer {
                response: Some(response),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    async fn call(req: Request<String>) -> (u16, serde_json::Value) {
        let inner = tower::service_fn(|_req: Request<String>| async {
            Ok::<_, Infallible>(Response::new(http_body_util::Full::new(Bytes::from_static(
                b"\"upstream\"",
            ))))
        });
        let svc = tower_layer::Layer::layer(&WhoAmILayer::new(), inner);
        let res = svc.oneshot(req).await.unwrap();
        let code = res.status().as_u16();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        (code, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn answers_the_callers_own_identity_and_passes_everything_else() {
        let mut id = Identity::new("alice@acme.example");
        id.owner.name = "platform".into();
        let mut req = Request::get(WHOAMI_PATH).body(String::new()).unwrap();
        req.extensions_mut().insert(id);
        let (code, v) = call(req).await;
        assert_eq!(
            (code, v["username"].as_str(), v["owner"]["name"].as_str()),
            (200, Some("alice@acme.example"), Some("platform"))
        );
        let (code, v) = call(Request::get(WHOAMI_PATH).body(String::new()).unwrap()).await;
        assert_eq!((code, v["reason"].as_str()), (401, Some("Unauthorized")));
        let (code, _) = call(Request::post(WHOAMI_PATH).body(String::new()).unwrap()).await;
        assert_eq!(code, 405);
        let (code, v) = call(Request::get("/api/v1/pods").body(String::new()).unwrap()).await;
        assert_eq!((code, v), (200, serde_json::json!("upstream")));
    }
}
