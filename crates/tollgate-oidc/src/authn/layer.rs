use std::sync::Arc;

use tower_layer::Layer;

use super::AuthnService;
use crate::Verifier;

/// Authenticates every request: `Authorization: Bearer` (or the WebSocket
/// bearer subprotocol) → [`Identity`](tollgate_kube::Identity) in the extensions,
/// or a 401 `Status`.
#[derive(Debug, Clone)]
pub struct AuthnLayer {
    verifier: Option<Arc<Verifier>>,
    anonymous: bool,
}

impl AuthnLayer {
    /// A layer verifying with `verifier`; anonymous requests are refused.
    pub fn new(verifier: Arc<Verifier>) -> Self {
        AuthnLayer {
            verifier: Some(verifier),
            anonymous: false,
        }
    }

    /// No authentication: every request passes with no `Identity` (and is
    /// forwarded as the gateway's own identity). Only for gateways whose
    /// operator chose `mode: none` explicitly.
    pub fn disabled() -> Self {
        AuthnLayer {
            verifier: None,
            anonymous: false,
        }
    }

    /// The verifier (`None` when authentication is disabled), e.g. for
    /// [`Verifier::readiness`].
    pub fn verifier(&self) -> Option<&Arc<Verifier>> {
        self.verifier.as_ref()
    }

    /// Lets requests without a token through as `system:anonymous`.
    pub fn allow_anonymous(mut self, allow: bool) -> Self {
        self.anonymous = allow;
        self
    }
}

impl<S> Layer<S> for AuthnLayer {
    type Service = AuthnService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthnService::new(inner, self.verifier.clone(), self.anonymous)
    }
}
