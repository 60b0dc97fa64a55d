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
///
/// Each copy remembers the last token it let in: the gateway keeps one
/// copy per connection, and a connection's requests carry one token, so
/// the next request with the same bytes is let in without hashing the
/// token or taking the shared cache's lock, while the identity has not
/// expired and the verifier has not been replaced. A clone starts with
/// nothing remembered.
#[derive(Debug)]
pub struct AuthnService<S> {
    inner: S,
    verifier: Option<VerifierSlot>,
    last: Option<Box<Last>>,
    /// Whether the identity is also copied into the extensions by value.
    copy_identity: bool,
}

impl<S: Clone> Clone for AuthnService<S> {
    fn clone(&self) -> Self {
        AuthnService {
            inner: self.inner.clone(),
            verifier: self.verifier.clone(),
            last: None,
            copy_identity: self.copy_identity,
        }
    }
}

/// The last token a copy of the service let in.
struct Last {
    /// The slot's generation it was verified under.
    generation: u64,
    /// The `Authorization` header it came in, byte for byte: the same
    /// bytes are the same token, without reading it out again.
    authorization: Box<[u8]>,
    identity: Arc<Identity>,
}

impl std::fmt::Debug for Last {
    /// Never the header: it is a bearer token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Last")
            .field("generation", &self.generation)
            .field("authorization", &"<redacted>")
            .field("user", &self.identity.username)
            .finish()
    }
}

/// The request's `Authorization` header when it has exactly one.
fn only_authorization(headers: &HeaderMap) -> Option<&http::HeaderValue> {
    let mut all = headers.get_all(header::AUTHORIZATION).iter();
    match (all.next(), all.next()) {
        (Some(v), None) => Some(v),
        _ => None,
    }
}

/// The verifier in use, replaced whole on reload.
pub(crate) type VerifierSlot = Arc<Slot>;

/// A verifier and how many times it was replaced: a remembered token is
/// trusted only under the generation it was verified in, read without the
/// lock. With it, whether requests without a token are let in: both come
/// from the `AuthenticationConfiguration` and are reloaded with it.
#[derive(Debug)]
pub(crate) struct Slot {
    verifier: std::sync::RwLock<Arc<Verifier>>,
    generation: std::sync::atomic::AtomicU64,
    anonymous: std::sync::atomic::AtomicBool,
}

impl Slot {
    pub(crate) fn new(verifier: Arc<Verifier>, anonymous: bool) -> VerifierSlot {
        Arc::new(Slot {
            verifier: std::sync::RwLock::new(verifier),
            generation: std::sync::atomic::AtomicU64::new(0),
            anonymous: std::sync::atomic::AtomicBool::new(anonymous),
        })
    }

    /// Lets requests without a token in as `system:anonymous`, or not,
    /// from now on.
    pub(crate) fn set_anonymous(&self, allow: bool) {
        self.anonymous.store(allow, std::sync::atomic::Ordering::Release);
    }

    fn anonymous(&self) -> bool {
        self.anonymous.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Verifies with `verifier` from now on.
    pub(crate) fn replace(&self, verifier: Arc<Verifier>) {
        let mut held = match self.verifier.write() {
            Ok(v) => v,
            Err(poisoned) => poisoned.into_inner(),
        };
        *held = verifier;
        self.generation.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }
}

/// The verifier a slot holds now.
pub(crate) fn current(slot: &VerifierSlot) -> Arc<Verifier> {
    match slot.verifier.read() {
        Ok(v) => v.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

// === impl AuthnService ===

impl<S> AuthnService<S> {
    /// Wraps `inner`; `verifier: None` disables authentication.
    pub fn new(inner: S, verifier: Option<Arc<Verifier>>, anonymous: bool) -> Self {
        Self::with_slot(inner, verifier.map(|v| Slot::new(v, anonymous)), true)
    }

    /// Wraps `inner`, verifying with whatever `slot` holds at each request.
    pub(crate) fn with_slot(inner: S, verifier: Option<VerifierSlot>, copy_identity: bool) -> Self {
        AuthnService {
            inner,
            verifier,
            last: None,
            copy_identity,
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
        // Read before the verifier: a reload in between leaves the
        // remembered header with the older generation, never the other way
        // round.
        let generation = slot.generation();
        if let Some(last) = &self.last
            && last.generation == generation
            && last.identity.expires_at > crate::verifier::now_unix()
            && only_authorization(req.headers()).is_some_and(|v| v.as_bytes() == &*last.authorization)
        {
            let identity = last.identity.clone();
            super::future::admit(&mut req, &identity, self.copy_identity);
            return ResponseFuture::call(&mut self.inner, req);
        }
        match bearer_token_ref(req.headers()) {
            Ok(Some(token)) => {
                let verifier = current(slot);
                // A token verified before is answered from the cache
                // without a future of its own (nor a copy of the inner
                // service).
                if let Some(identity) = verifier.cached(&token) {
                    // Remembered by the header's bytes, which the token
                    // was read from (not for the WebSocket subprotocol's).
                    if let (Cow::Borrowed(_), Some(v)) = (&token, only_authorization(req.headers())) {
                        self.last = Some(Box::new(Last {
                            generation,
                            authorization: v.as_bytes().into(),
                            identity: identity.clone(),
                        }));
                    }
                    super::future::admit(&mut req, &identity, self.copy_identity);
                    return ResponseFuture::call(&mut self.inner, req);
                }
                let token = token.into_owned();
                // The verification may wait (a key fetch): the service
                // made ready is taken along, a clone left in its place.
                let inner = tollgate_kube::take_ready(&mut self.inner);
                ResponseFuture::verifying(
                    Box::pin(async move { verifier.authenticate(&token).await }),
                    req,
                    inner,
                    self.copy_identity,
                )
            }
            Ok(None) if slot.anonymous() => {
                let identity = Arc::new(Identity::anonymous());
                super::future::admit(&mut req, &identity, self.copy_identity);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_remembered_header_never_shows_in_debug_output() {
        let last = Last {
            generation: 3,
            authorization: b"Bearer secret.token.bytes"[..].into(),
            identity: Arc::new(Identity::anonymous()),
        };
        let shown = format!("{last:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(
            shown.contains("<redacted>") && shown.contains("generation: 3"),
            "{shown}"
        );
    }
}
