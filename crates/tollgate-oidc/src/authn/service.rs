use std::borrow::Cow;
use std::sync::Arc;
use std::task::{Context, Poll};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, Request, Response, header};
use tower_service::Service;

use super::ResponseFuture;
use tollgate_kube::Identity;

use crate::{AuthnFailure, Error, Verifier, WEBSOCKET_BEARER_PREFIX};
use tollgate_kube::ResponseBody;

/// The service made by [`AuthnLayer`](super::AuthnLayer).
#[derive(Debug, Clone)]
pub struct AuthnService<S> {
    inner: S,
    verifier: Option<VerifierSlot>,
    anonymous: bool,
}

/// The verifier in use, replaced whole on reload.
pub(crate) type VerifierSlot = Arc<std::sync::RwLock<Arc<Verifier>>>;

/// The verifier a slot holds now.
pub(crate) fn current(slot: &VerifierSlot) -> Arc<Verifier> {
    match slot.read() {
        Ok(v) => v.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

// === impl AuthnService ===

impl<S> AuthnService<S> {
    /// Wraps `inner`; `verifier: None` disables authentication.
    pub fn new(inner: S, verifier: Option<Arc<Verifier>>, anonymous: bool) -> Self {
        Self::with_slot(inner, verifier.map(|v| Arc::new(std::sync::RwLock::new(v))), anonymous)
    }

    /// Wraps `inner`, verifying with whatever `slot` holds at each request.
    pub(crate) fn with_slot(inner: S, verifier: Option<VerifierSlot>, anonymous: bool) -> Self {
        AuthnService {
            inner,
            verifier,
            anonymous,
        }
    }

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

/// The bearer token of a request, as the API server finds it:
/// `Authorization: Bearer <token>` (scheme in any case), else a WebSocket
/// subprotocol `base64url.bearer.authorization.k8s.io.<base64url(token)>`.
///
/// ```
/// let mut h = http::HeaderMap::new();
/// h.insert("authorization", "bearer abc".parse().unwrap());
/// assert_eq!(tollgate_oidc::bearer_token(&h)?, Some("abc".to_owned()));
/// # Ok::<_, tollgate_oidc::Error>(())
/// ```
///
/// # Errors
/// [`Error::Malformed`] for two `Authorization` headers, a non-bearer
/// scheme, or a subprotocol token that does not decode.
pub fn bearer_token(headers: &HeaderMap) -> Result<Option<String>, Error> {
    bearer_token_ref(headers).map(|t| t.map(Cow::into_owned))
}

/// [`bearer_token`], borrowed from the `Authorization` header where it
/// is found there (the subprotocol's is decoded, so owned).
pub(crate) fn bearer_token_ref(headers: &HeaderMap) -> Result<Option<Cow<'_, str>>, Error> {
    let mut auths = headers.get_all(header::AUTHORIZATION).iter();
    if let Some(v) = auths.next() {
        if auths.next().is_some() {
            return Err(Error::Malformed("more than one Authorization header".to_owned()));
        }
        let v = v
            .to_str()
            .map_err(|_| Error::Malformed("Authorization is not ASCII".to_owned()))?;
        let mut parts = v.splitn(3, ' ');
        let scheme = parts.next().unwrap_or("");
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(Error::Malformed("Authorization is not a bearer token".to_owned()));
        }
        let token = parts.next().unwrap_or("");
        if !token.is_empty() {
            return Ok(Some(Cow::Borrowed(token)));
        }
    }
    for v in headers.get_all(header::SEC_WEBSOCKET_PROTOCOL) {
        let Ok(v) = v.to_str() else { continue };
        for proto in v.split(',').map(str::trim) {
            if let Some(enc) = proto.strip_prefix(WEBSOCKET_BEARER_PREFIX) {
                let bytes = URL_SAFE_NO_PAD
                    .decode(enc)
                    .map_err(|_| Error::Malformed("the WebSocket bearer subprotocol is not base64url".to_owned()))?;
                let token = String::from_utf8(bytes)
                    .map_err(|_| Error::Malformed("the WebSocket bearer token is not UTF-8".to_owned()))?;
                if !token.is_empty() {
                    return Ok(Some(Cow::Owned(token)));
                }
            }
        }
    }
    Ok(None)
}

impl<S, B, ResBody> Service<Request<B>> for AuthnService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    B: Send + 'static,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let Some(slot) = &self.verifier else {
            return ResponseFuture::call(&mut self.inner, req);
        };
        match bearer_token_ref(req.headers()) {
            Ok(Some(token)) => {
                let verifier = current(slot);
                // A token verified before is answered from the cache
                // without a future of its own (nor a copy of the token or
                // of the inner service).
                if let Some(identity) = verifier.cached(&token) {
                    super::future::admit(&mut req, &identity);
                    return ResponseFuture::call(&mut self.inner, req);
                }
                let token = token.into_owned();
                // The verification may wait (a key fetch): the service
                // made ready is taken along, a clone left in its place.
                let clone = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, clone);
                ResponseFuture::verifying(Box::pin(async move { verifier.authenticate(&token).await }), req, inner)
            }
            Ok(None) if self.anonymous => {
                let identity = Arc::new(Identity::anonymous());
                super::future::admit(&mut req, &identity);
                ResponseFuture::call(&mut self.inner, req)
            }
            Ok(None) => {
                tollgate_kube::note(req.extensions(), AuthnFailure::new(&Error::NoToken));
                ResponseFuture::refused(&Error::NoToken, &req)
            }
            Err(e) => {
                tollgate_kube::note(req.extensions(), AuthnFailure::new(&e));
                ResponseFuture::refused(&e, &req)
            }
        }
    }
}
