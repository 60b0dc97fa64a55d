//! `AuthnLayer`: bearer token → [`Identity`](tollgate_kube::Identity) in the
//! request extensions, or a 401 `Status` kubectl prints as
//! `error: You must be logged in to the server (Unauthorized: …)`.
//!
//! ```no_run
//! use std::sync::Arc;
//! use tollgate_oidc::{AuthnLayer, JwtAuthenticator, Verifier};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let verifier = Arc::new(
//!     Verifier::builder()
//!         .issuer(JwtAuthenticator::new("https://token.actions.githubusercontent.com", "tollgate", "github:"))
//!         .build()?,
//! );
//! verifier.start().await;
//! let layer = AuthnLayer::new(verifier).allow_anonymous(false);
//! # let _ = layer;
//! # Ok(()) }
//! ```

mod future;
mod layer;
mod service;

pub use future::ResponseFuture;
pub use layer::AuthnLayer;
pub use service::{AuthnService, bearer_token};

/// Why the authentication layer refused a request: written into the
/// request's [`Notes`](tollgate_kube::Notes) for the audit record (the
/// client's 401 carries only a short reason).
///
/// ```
/// let f = tollgate_oidc::AuthnFailure::new(&tollgate_oidc::Error::NoToken);
/// assert!(!f.reason.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuthnFailure {
    /// The full reason.
    pub reason: String,
    /// The short reason the client was told ([`Error::short_reason`](crate::Error::short_reason)):
    /// one of a few fixed strings, fit for a metric label.
    pub short_reason: &'static str,
}

impl AuthnFailure {
    /// The failure for an error.
    pub fn new(e: &crate::Error) -> Self {
        AuthnFailure {
            reason: e.to_string(),
            short_reason: e.short_reason(),
        }
    }
}
