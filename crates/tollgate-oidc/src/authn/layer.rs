use std::sync::Arc;

use tower_layer::Layer;

use super::AuthnService;
use super::service::{Slot, VerifierSlot, current};
use crate::Verifier;

/// Authenticates every request: `Authorization: Bearer` (or the WebSocket
/// bearer subprotocol) → [`Identity`](tollgate_kube::Identity) in the extensions,
/// or a 401 `Status`.
///
/// The identity goes in twice: as the verifier's shared `Arc<Identity>`,
/// and copied as an `Identity` for readers of `get::<Identity>()`.
/// [`AuthnLayer::identity_copy`]`(false)` leaves the copy out; read it
/// with [`Identity::of`](tollgate_kube::Identity::of), as every Tollgate
/// layer does.
#[derive(Debug, Clone)]
pub struct AuthnLayer {
    verifier: Option<VerifierSlot>,
    copy_identity: bool,
}

impl AuthnLayer {
    /// A layer verifying with `verifier`; anonymous requests are refused.
    pub fn new(verifier: Arc<Verifier>) -> Self {
        AuthnLayer {
            verifier: Some(Slot::new(verifier, false)),
            copy_identity: true,
        }
    }

    /// No authentication: every request passes with no `Identity` (and is
    /// forwarded as the gateway's own identity). Only for gateways whose
    /// operator chose `mode: none` explicitly.
    pub fn disabled() -> Self {
        AuthnLayer {
            verifier: None,
            copy_identity: true,
        }
    }

    /// Whether the identity is also copied into the extensions as an
    /// `Identity` (the default) or put in only as the shared
    /// `Arc<Identity>`. The copy (its strings, groups and extra, allocated
    /// and freed per request) is for layers that read `get::<Identity>()`;
    /// [`Identity::of`](tollgate_kube::Identity::of) reads either.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use tollgate_oidc::{AuthnLayer, Verifier};
    /// let layer = AuthnLayer::new(Arc::new(Verifier::builder().build().unwrap())).identity_copy(false);
    /// # drop(layer);
    /// ```
    pub fn identity_copy(mut self, copy: bool) -> Self {
        self.copy_identity = copy;
        self
    }

    /// The verifier in use (`None` when authentication is disabled), e.g.
    /// for [`Verifier::readiness`].
    pub fn verifier(&self) -> Option<Arc<Verifier>> {
        self.verifier.as_ref().map(current)
    }

    /// Verifies requests from now on with `verifier` (a reload of the
    /// `AuthenticationConfiguration` or the owners), in every service this
    /// layer made; a request being verified finishes with the old one.
    /// `false` (and nothing changes) when authentication is disabled.
    pub fn replace_verifier(&self, verifier: Arc<Verifier>) -> bool {
        let Some(slot) = &self.verifier else { return false };
        slot.replace(verifier);
        true
    }

    /// Lets requests without a token through as `system:anonymous`
    /// (in every service this layer made, and its clones made, as
    /// [`AuthnLayer::set_anonymous`]).
    pub fn allow_anonymous(self, allow: bool) -> Self {
        self.set_anonymous(allow);
        self
    }

    /// Lets requests without a token through as `system:anonymous`, or
    /// refuses them, from now on, in every service this layer made (a
    /// reload of the `AuthenticationConfiguration`'s `anonymous.enabled`).
    /// `false` (and nothing changes) when authentication is disabled:
    /// then every request passes anyway.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use tollgate_oidc::{AuthnLayer, Verifier};
    /// let layer = AuthnLayer::new(Arc::new(Verifier::builder().build().unwrap())).allow_anonymous(true);
    /// // `anonymous.enabled: false` in the reloaded file:
    /// assert!(layer.set_anonymous(false));
    /// assert!(!AuthnLayer::disabled().set_anonymous(false));
    /// ```
    pub fn set_anonymous(&self, allow: bool) -> bool {
        let Some(slot) = &self.verifier else { return false };
        slot.set_anonymous(allow);
        true
    }
}

impl<S> Layer<S> for AuthnLayer {
    type Service = AuthnService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthnService::with_slot(inner, self.verifier.clone(), self.copy_identity)
    }
}
