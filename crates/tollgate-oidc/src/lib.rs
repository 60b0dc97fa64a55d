//! OIDC for Tollgate: verify CI and bot tokens as strictly as the API
//! server does, map them to an [`Identity`](tollgate_kube::Identity) with an accountable [`Owner`](tollgate_kube::Owner).
//!
//! - [`parse_authentication_configuration`]: the API server's own
//!   `AuthenticationConfiguration` file, loaded unchanged (CEL refused by
//!   name);
//! - [`Verifier`]: routes a token to its issuer by `iss`, checks `aud`,
//!   `exp` (every request, no leeway), `nbf` (60 s leeway), the algorithm
//!   allow-list and the signature against the issuer's JWKS (discovered,
//!   cached per `Cache-Control`, refetched single-flight and rate-limited on
//!   an unknown `kid`), maps claims with the API server's rules and caches
//!   the result until the token expires;
//! - [`OwnerMapper`]: ordered rules from issuer and claim patterns to owners;
//! - [`AuthnLayer`]: `Authorization: Bearer` or the WebSocket bearer
//!   subprotocol → [`Identity`](tollgate_kube::Identity) in the request extensions, or a 401 `Status`.

mod authentication_configuration;
mod authn;
mod cache;
pub mod config;
mod error;
#[cfg(feature = "http")]
mod http_source;
mod jwks;
mod jwt;
mod owner;
mod verifier;
mod whoami;

pub use authentication_configuration::{
    AuthenticationConfiguration, CelMappings, CelRule, ClaimMapping, DEFAULT_ALGORITHMS, JwtAuthenticator,
    parse_algorithm, parse_authentication_configuration,
};
pub use authn::{AuthnFailure, AuthnLayer, AuthnService, ResponseFuture, bearer_token};
pub use error::Error;
#[cfg(feature = "http")]
pub use http_source::HttpJwksSource;
pub use jsonwebtoken::Algorithm;
pub use jwks::{Fetched, JwksSource, Key, KeyCachePolicy, parse_jwks};
pub use jwt::{MAX_TOKEN_BYTES, UnverifiedJwt};
pub use owner::{OwnerMapper, OwnerRule};
pub use verifier::{Verifier, VerifierBuilder};
pub use whoami::{WHOAMI_PATH, WhoAmIFuture, WhoAmILayer, WhoAmIService, whoami_body};

/// The WebSocket subprotocol prefix that carries a bearer token.
pub const WEBSOCKET_BEARER_PREFIX: &str = "base64url.bearer.authorization.k8s.io.";
