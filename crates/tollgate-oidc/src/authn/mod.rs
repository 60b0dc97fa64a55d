//! `AuthnLayer`: bearer token → [`Identity`](crate::Identity) in the
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
pub use service::{Authn, bearer_token};
