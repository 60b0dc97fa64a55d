//! The crate's errors: configuration problems (for the operator) and token
//! rejections (a short reason for the client, the detail for the log).

use tollgate_kube::{Reason, Side, Status};

/// Why a token was not accepted.
///
/// The client sees [`Error::short_reason`] in a 401 `Status`; the full
/// `Display` (which may name claims and keys, never the token) goes to the
/// log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No credentials and anonymous requests are not allowed.
    #[error("no bearer token")]
    NoToken,
    /// The token is not a compact JWS, or a part does not decode.
    #[error("malformed token: {0}")]
    Malformed(String),
    /// No configured issuer has this `iss`.
    #[error("no configured issuer for iss {0:?}")]
    UnknownIssuer(String),
    /// Discovery for the issuer has not succeeded yet.
    #[error("the authenticator for {0} is not initialized: discovery has not succeeded yet")]
    NotInitialized(String),
    /// The header's `alg` is not allowed for this issuer.
    #[error("token signed with unsupported algorithm {0:?}")]
    UnsupportedAlgorithm(String),
    /// An issuer's key set is not a JWKS document.
    #[error("malformed JWKS: {0}")]
    MalformedJwks(String),
    /// No key in the issuer's JWKS can verify the token.
    #[error("no key matches kid {kid:?} for algorithm {alg}")]
    NoMatchingKey {
        /// The header's `kid`.
        kid: Option<String>,
        /// The header's `alg`.
        alg: String,
    },
    /// The signature does not verify.
    #[error("signature verification failed")]
    BadSignature,
    /// `exp` is in the past (or missing).
    #[error("token has expired")]
    Expired,
    /// `nbf` is in the future beyond the leeway.
    #[error("token is not valid yet (nbf)")]
    NotYetValid,
    /// `aud` does not contain a configured audience.
    #[error("token audience {0:?} is not accepted")]
    Audience(String),
    /// A claim needed for mapping is missing or of the wrong type.
    #[error("claim {claim:?}: {reason}")]
    Claim {
        /// The claim.
        claim: String,
        /// What is wrong.
        reason: String,
    },
    /// `email_verified` is present and not `true`.
    #[error("email not verified")]
    EmailNotVerified,
    /// A claim validation rule failed.
    #[error("claim validation rule failed: {0}")]
    ClaimRule(String),
    /// The keys could not be fetched.
    #[error("fetching keys for {issuer} failed: {message}")]
    KeyFetch {
        /// The issuer.
        issuer: String,
        /// Why.
        message: String,
    },
    /// The identity maps to no owner and unmapped identities are refused.
    #[error("identity {0:?} has no owner, and unmapped identities are refused")]
    Unmapped(String),
}

impl Error {
    /// Who caused it.
    pub fn side(&self) -> Side {
        match self {
            Error::KeyFetch { .. } | Error::NotInitialized(_) | Error::MalformedJwks(_) => Side::Upstream,
            _ => Side::Client,
        }
    }

    /// The short reason a client is told.
    pub fn short_reason(&self) -> &'static str {
        match self {
            Error::NoToken => "no bearer token",
            Error::Malformed(_) => "malformed token",
            Error::UnknownIssuer(_) => "token issuer is not trusted",
            Error::NotInitialized(_) | Error::KeyFetch { .. } | Error::MalformedJwks(_) => {
                "token issuer is not available"
            }
            Error::UnsupportedAlgorithm(_) => "token algorithm is not accepted",
            Error::NoMatchingKey { .. } | Error::BadSignature => "token signature is invalid",
            Error::Expired => "token has expired",
            Error::NotYetValid => "token is not valid yet",
            Error::Audience(_) => "token audience is not accepted",
            Error::Claim { .. } | Error::EmailNotVerified | Error::ClaimRule(_) => "token claims are not accepted",
            Error::Unmapped(_) => "identity has no owner",
        }
    }

    /// The `Status`: 401 `Unauthorized` with the short reason (kubectl
    /// prints `error: You must be logged in to the server (Unauthorized: …)`),
    /// or 403 for an authenticated identity refused for having no owner.
    pub fn to_status(&self) -> Status {
        match self {
            Error::Unmapped(_) => Status::failure(Reason::Forbidden, format!("forbidden: {self}")),
            _ => Status::failure(Reason::Unauthorized, format!("Unauthorized: {}", self.short_reason())),
        }
    }
}
