//! The crate's error type; every variant maps to one [`Status`].

use crate::{BodyFormat, Reason, Status};

/// Which side caused an error: it decides whether the message is the
/// client's to see and how it is logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Side {
    /// The request was bad.
    Client,
    /// The API server failed or was unreachable.
    Upstream,
    /// Tollgate itself failed.
    Internal,
}

/// Errors of the Kubernetes request model.
///
/// ```
/// use tollgate_kube::Error;
/// let e = Error::BodyTooLarge { limit: 3 * 1024 * 1024 };
/// assert_eq!(e.to_status().code, 413);
/// assert_eq!(e.to_string(), "Request entity too large: limit is 3145728");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A duration that does not parse (see [`time`](crate::time)).
    #[error("{input:?} is not a duration like 90s, 15m, 1h30m or 2d: {message}")]
    InvalidDuration {
        /// The text as written.
        input: String,
        /// What the parser said.
        message: String,
    },
    /// A time that is not RFC 3339 (see [`time`](crate::time)).
    #[error("{input:?} is not an RFC 3339 time like 2026-12-02T10:00:00Z or 2026-12-02T11:00:00+01:00: {message}")]
    InvalidTime {
        /// The text as written.
        input: String,
        /// What the parser said.
        message: String,
    },
    /// A [`Pattern`](crate::Pattern) whose regular expression does not
    /// compile (a configuration error, not a request's).
    #[error("{message}")]
    InvalidPattern {
        /// The pattern as written.
        pattern: String,
        /// Why it does not compile.
        message: String,
    },
    /// A YAML document that cannot be read: a syntax error, or over one of
    /// the budgets in [`crate::limits`] (nodes, depth, expanded bytes).
    #[error("{message}")]
    InvalidYaml {
        /// The parser's message, cut to
        /// [`MAX_ERROR_MESSAGE_BYTES`](crate::limits::MAX_ERROR_MESSAGE_BYTES).
        message: String,
        /// The line, when the parser knows it.
        line: Option<usize>,
        /// Whether a budget was breached (a document too large or too
        /// deep for a request body; `-o json` reads without it).
        over_budget: bool,
    },
    /// The path has a bad `%` escape or does not decode to UTF-8.
    #[error("malformed request URI {uri:?}: invalid percent-encoding or not UTF-8")]
    MalformedUri {
        /// The URI as received.
        uri: String,
    },
    /// The API server cannot derive RequestInfo from this URL and answers 500.
    #[error(
        "Internal Server Error: {uri:?}: failed to create RequestInfo: unable to determine kind and namespace from url, {uri}"
    )]
    UnresolvableRequestInfo {
        /// The URI as received.
        uri: String,
    },
    /// The request URI is longer than the configured limit.
    #[error("request URI of {length} bytes is longer than Tollgate's limit of {limit} bytes")]
    UriTooLong {
        /// Its length.
        length: usize,
        /// The limit.
        limit: usize,
    },
    /// The request's headers are larger than the configured limit.
    #[error("request headers of {length} bytes are larger than Tollgate's limit of {limit} bytes")]
    HeadersTooLarge {
        /// Their size, counted as HTTP/2 does.
        length: usize,
        /// The limit.
        limit: usize,
    },
    /// The gateway is at a shared limit (buffered body bytes): try again.
    #[error("{what}: try again shortly")]
    Busy {
        /// Which limit.
        what: String,
    },
    /// The request body exceeds the configured limit.
    #[error("Request entity too large: limit is {limit}")]
    BodyTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// A `Content-Encoding` other than `gzip` or `identity`.
    #[error("unsupported Content-Encoding {encoding:?}: only gzip is accepted")]
    UnsupportedContentEncoding {
        /// The encoding sent.
        encoding: String,
    },
    /// The body said gzip but is not.
    #[error("the request body is not valid gzip: {message}")]
    InvalidGzip {
        /// The decoder's message.
        message: String,
    },
    /// The client did not send its whole body in time.
    #[error("the request body did not arrive within {seconds}s")]
    BodyTimeout {
        /// The limit.
        seconds: u64,
    },
    /// Reading the request body failed.
    #[error("reading the request body failed: {message}")]
    BodyRead {
        /// The transport's message.
        message: String,
    },
    /// The body does not parse as its declared format.
    #[error("the request body is not valid {format}: {message}")]
    BodyDecode {
        /// The format tried.
        format: BodyFormat,
        /// The parser's message.
        message: String,
    },
    /// The request is over one of the bounds in [`crate::limits`].
    #[error("{what} is over Tollgate's limit of {limit}")]
    LimitExceeded {
        /// What was too large.
        what: String,
        /// The limit, with its unit.
        limit: String,
    },
    /// A check needs the body as JSON but it is protobuf or CBOR.
    #[error(
        "the request body is {format}, which Tollgate cannot inspect; send it as JSON (kubectl apply -f sends JSON; client-go: rest.Config ContentType application/json)"
    )]
    UnsupportedBodyFormat {
        /// The format sent.
        format: BodyFormat,
    },
}

impl Error {
    /// Who caused it: the request, but for a pattern in Tollgate's own
    /// configuration.
    pub fn side(&self) -> Side {
        match self {
            Error::InvalidPattern { .. } => Side::Internal,
            _ => Side::Client,
        }
    }

    /// The `Status` the client receives.
    pub fn to_status(&self) -> Status {
        let reason = match self {
            Error::MalformedUri { .. }
            | Error::InvalidGzip { .. }
            | Error::BodyRead { .. }
            | Error::BodyDecode { .. }
            | Error::LimitExceeded { .. }
            | Error::InvalidDuration { .. }
            | Error::InvalidTime { .. }
            | Error::InvalidYaml { .. } => Reason::BadRequest,
            Error::UnresolvableRequestInfo { .. } | Error::InvalidPattern { .. } => Reason::InternalError,
            Error::BodyTooLarge { .. } => Reason::RequestEntityTooLarge,
            Error::UriTooLong { .. } => Reason::RequestUriTooLong,
            Error::Busy { .. } => {
                return Status::failure(Reason::TooManyRequests, self.to_string()).with_retry_after(1);
            }
            Error::HeadersTooLarge { .. } => Reason::RequestHeaderFieldsTooLarge,
            Error::BodyTimeout { .. } => Reason::RequestTimeout,
            Error::UnsupportedContentEncoding { .. } | Error::UnsupportedBodyFormat { .. } => {
                Reason::UnsupportedMediaType
            }
        };
        Status::failure(reason, self.to_string())
    }
}
