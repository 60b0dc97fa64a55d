use std::time::Duration;

use tower_layer::Layer;

use super::RequestInfoService;
use crate::DEFAULT_MAX_BODY_BYTES;

/// Parses every request's [`RequestInfo`](crate::RequestInfo), buffers its
/// body (bounded) into a [`RequestBody`](crate::RequestBody), and refuses
/// what cannot be parsed with the API server's own answer.
///
/// - a URL the API server cannot resolve → 500 `InternalError`;
/// - a bad percent escape → 400 `BadRequest`;
/// - a body over the limit (declared or actual, before or after gzip) →
///   413 `RequestEntityTooLarge`;
/// - a `Content-Encoding` other than gzip → 415 `UnsupportedMediaType`;
/// - an upgrade request with a body → 400;
/// - a body that has not fully arrived after the body timeout (default 60 s)
///   → 408 (a slow client cannot hold a buffer open forever).
///
/// The body deadline needs a Tokio runtime with the time driver, as
/// tower-http's timeouts do.
///
/// The inner service receives the decompressed body (and no
/// `Content-Encoding`), so what later layers inspect is exactly what is
/// forwarded.
///
/// ```
/// use tollgate_kube::RequestInfoLayer;
/// let layer = RequestInfoLayer::new()
///     .max_body_bytes(1024 * 1024)
///     .body_timeout(std::time::Duration::from_secs(30));
/// # let _ = layer;
/// ```
#[derive(Debug, Clone)]
pub struct RequestInfoLayer {
    max_body_bytes: usize,
    body_timeout: Duration,
    max_uri_bytes: usize,
    max_header_bytes: usize,
    budget: Option<std::sync::Arc<crate::BodyBudget>>,
    copy_info: bool,
}

impl RequestInfoLayer {
    /// A layer with the default 3 MiB body limit.
    pub fn new() -> Self {
        RequestInfoLayer {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            body_timeout: Duration::from_secs(60),
            max_uri_bytes: crate::limits::DEFAULT_MAX_URI_BYTES,
            max_header_bytes: crate::limits::DEFAULT_MAX_HEADER_BYTES,
            budget: None,
            copy_info: true,
        }
    }

    /// Whether the parsed [`RequestInfo`](crate::RequestInfo) is also
    /// copied into the extensions by value (the default), for readers of
    /// `get::<RequestInfo>()`, or put in only as the `Arc<RequestInfo>` it
    /// shares with the notes. The copy (its strings and path segments,
    /// allocated and freed per request) is what the default costs;
    /// [`RequestInfo::of`](crate::RequestInfo::of) reads either, as every
    /// Tollgate layer does.
    pub fn info_copy(mut self, copy: bool) -> Self {
        self.copy_info = copy;
        self
    }

    /// The most request-body bytes buffered at once, across all requests:
    /// a body that would exceed it is refused with 429 and `Retry-After`
    /// before it is read (none by default; the gateway sets
    /// `limits.maxBufferedBytes`).
    pub fn max_buffered_bytes(mut self, limit: usize) -> Self {
        self.budget = Some(crate::BodyBudget::new(limit));
        self
    }

    /// The longest request URI (path and query) served; longer ones get 414
    /// here rather than reaching the API server (default
    /// [`DEFAULT_MAX_URI_BYTES`](crate::limits::DEFAULT_MAX_URI_BYTES)).
    pub fn max_uri_bytes(mut self, limit: usize) -> Self {
        self.max_uri_bytes = limit;
        self
    }

    /// The most header bytes served, counted as HTTP/2 does (name, value
    /// and 32 bytes per field), `Authorization` aside (the gateway never
    /// forwards it); more gets 431 here (default
    /// [`DEFAULT_MAX_HEADER_BYTES`](crate::limits::DEFAULT_MAX_HEADER_BYTES)).
    pub fn max_header_bytes(mut self, limit: usize) -> Self {
        self.max_header_bytes = limit;
        self
    }

    /// Sets the request body limit in bytes.
    pub fn max_body_bytes(mut self, limit: usize) -> Self {
        self.max_body_bytes = limit;
        self
    }

    /// Sets how long the whole request body may take to arrive.
    pub fn body_timeout(mut self, timeout: Duration) -> Self {
        self.body_timeout = timeout;
        self
    }
}

impl Default for RequestInfoLayer {
    fn default() -> Self {
        RequestInfoLayer::new()
    }
}

impl<S> Layer<S> for RequestInfoLayer {
    type Service = RequestInfoService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestInfoService::new(inner, self.max_body_bytes)
            .with_body_timeout(self.body_timeout)
            .with_header_limits(self.max_uri_bytes, self.max_header_bytes)
            .with_budget(self.budget.clone())
            .with_info_copy(self.copy_info)
    }
}
