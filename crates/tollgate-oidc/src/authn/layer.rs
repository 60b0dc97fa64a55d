use std::sync::Arc;

use tower_layer::Layer;

use super::Authn;
use crate::Verifier;

/// Authenticates every request (see the [module docs](crate::AuthnLayer)).
#[derive(Debug, Clone)]
pub struct AuthnLayer {
    verifier: Arc<Verifier>,
    anonymous: bool,
}

impl AuthnLayer {
    /// A layer verifying with `verifier`; anonymous requests are refused.
    pub fn new(verifier: Arc<Verifier>) -> Self {
        AuthnLayer {
            verifier,
            anonymous: false,
        }
    }

    /// Lets requests without a token through as `system:anonymous`.
    pub fn allow_anonymous(mut self, allow: bool) -> Self {
        self.anonymous = allow;
        self
    }
}

impl<S> Layer<S> for AuthnLayer {
    type Service = Authn<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authn::new(inner, self.verifier.clone(), self.anonymous)
    }
}
