//! The proxy's error type; each variant maps to one `Status`.

use tollgate_kube::{Reason, Side, Status};

/// Errors configuring or forwarding to the upstream API server.
///
/// ```
/// use tollgate_proxy::Error;
/// let e = Error::Unreachable { upstream: "https://10.0.0.1:6443".into(), message: "connection refused".into() };
/// assert_eq!(e.to_status().code, 503);
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A kubeconfig or upstream setting is wrong.
    #[error("{source_name}: {field}: {message}")]
    Config {
        /// The file (or `in-cluster`) the setting came from.
        source_name: String,
        /// The field, e.g. `users[0].user.exec`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// Reading a credential or CA file failed.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: String,
        /// The I/O error.
        message: String,
    },
    /// The API server could not be reached.
    #[error("the Kubernetes API server at {upstream} is unreachable: {message}")]
    Unreachable {
        /// The upstream URL.
        upstream: String,
        /// Why.
        message: String,
    },
    /// The TLS handshake with the API server failed.
    #[error("TLS with the Kubernetes API server at {upstream} failed: {message}")]
    Tls {
        /// The upstream URL.
        upstream: String,
        /// Why.
        message: String,
    },
    /// Connecting or waiting for the response took too long.
    #[error("the Kubernetes API server at {upstream} did not answer within {seconds}s")]
    Timeout {
        /// The upstream URL.
        upstream: String,
        /// The limit.
        seconds: u64,
    },
    /// The API server broke the exchange.
    #[error("the Kubernetes API server at {upstream} failed the request: {message}")]
    Upstream {
        /// The upstream URL.
        upstream: String,
        /// Why.
        message: String,
    },
    /// A webhook receiver (or another endpoint a [`Client`](crate::Client)
    /// calls) could not be reached, timed out or broke the exchange.
    #[error("{url}: {message}")]
    Receiver {
        /// The receiver's URL.
        url: String,
        /// Why.
        message: String,
    },
    /// An inbound request cannot be forwarded as it is.
    #[error("{0}")]
    BadRequest(String),
    /// The client asked for something the gateway never forwards.
    #[error("{0}")]
    Forbidden(String),
    /// As many long-running requests (watches, logs, proxy, exec, attach,
    /// port-forward) as the gateway allows are under way.
    #[error(
        "the gateway has {limit} watches, logs, proxy requests and exec, attach or port-forward sessions under way, its limit (limits.maxLongRunning): try again shortly"
    )]
    Busy {
        /// The limit.
        limit: usize,
    },
}

impl Error {
    /// Who caused it.
    pub fn side(&self) -> Side {
        match self {
            Error::Config { .. } | Error::File { .. } => Side::Internal,
            Error::BadRequest(_) | Error::Forbidden(_) | Error::Busy { .. } => Side::Client,
            _ => Side::Upstream,
        }
    }

    /// The `Status` the client receives: 503 unreachable, 502 TLS or
    /// protocol failures, 504 timeouts, 429 (with `Retry-After`) when too
    /// many long-running requests are under way.
    pub fn to_status(&self) -> Status {
        if let Error::Busy { .. } = self {
            return Status::failure(Reason::TooManyRequests, self.to_string()).with_retry_after(1);
        }
        let reason = match self {
            Error::Busy { .. } => Reason::TooManyRequests,
            Error::Unreachable { .. } => Reason::ServiceUnavailable,
            Error::Tls { .. } | Error::Upstream { .. } | Error::Receiver { .. } => Reason::BadGateway,
            Error::Timeout { .. } => Reason::Timeout,
            Error::BadRequest(_) => Reason::BadRequest,
            Error::Forbidden(_) => Reason::Forbidden,
            Error::Config { .. } | Error::File { .. } => Reason::InternalError,
        };
        Status::failure(reason, self.to_string())
    }
}
