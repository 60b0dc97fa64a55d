use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, header};
use http_body::Body;
use http_body_util::{BodyExt, Full, Limited};
use tower_service::Service;

use super::RequestInfo;
use super::future::{self, ResponseFuture};
use std::sync::Arc;

use crate::{BodyBudget, Error, RequestBody, ResponseBody, is_upgrade_request};

/// The service made by [`RequestInfoLayer`](super::RequestInfoLayer).
#[derive(Debug, Clone)]
pub struct RequestInfoService<S> {
    inner: S,
    max_body_bytes: usize,
    body_timeout: Duration,
    max_uri_bytes: usize,
    max_header_bytes: usize,
    budget: Option<Arc<BodyBudget>>,
    copy_info: bool,
}

// === impl RequestInfoService ===

impl<S> RequestInfoService<S> {
    /// Wraps `inner`, buffering bodies up to `max_body_bytes`.
    pub fn new(inner: S, max_body_bytes: usize) -> Self {
        RequestInfoService {
            inner,
            max_body_bytes,
            body_timeout: Duration::from_secs(60),
            max_uri_bytes: crate::limits::DEFAULT_MAX_URI_BYTES,
            max_header_bytes: crate::limits::DEFAULT_MAX_HEADER_BYTES,
            budget: None,
            copy_info: true,
        }
    }

    /// Whether the parsed `RequestInfo` is also copied into the extensions
    /// by value (see [`RequestInfoLayer::info_copy`](super::RequestInfoLayer::info_copy)).
    pub fn with_info_copy(mut self, copy: bool) -> Self {
        self.copy_info = copy;
        self
    }

    /// With a budget of body bytes buffered at once across requests (429
    /// with `Retry-After` beyond it).
    pub fn with_budget(mut self, budget: Option<Arc<BodyBudget>>) -> Self {
        self.budget = budget;
        self
    }

    /// With the longest URI and the most header bytes served (414 and 431
    /// beyond them; see [`RequestInfoLayer`](super::RequestInfoLayer)).
    pub fn with_header_limits(mut self, max_uri_bytes: usize, max_header_bytes: usize) -> Self {
        self.max_uri_bytes = max_uri_bytes;
        self.max_header_bytes = max_header_bytes;
        self
    }

    /// Sets how long the whole request body may take to arrive.
    pub fn with_body_timeout(mut self, timeout: Duration) -> Self {
        self.body_timeout = timeout;
        self
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, B, ResBody> Service<Request<B>> for RequestInfoService<S>
where
    S: Service<Request<Full<Bytes>>, Response = Response<ResBody>> + Clone,
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let (mut parts, body) = req.into_parts();
        let uri_len = parts.uri.path_and_query().map_or(0, |p| p.as_str().len());
        if uri_len > self.max_uri_bytes {
            return ResponseFuture::refused(Error::UriTooLong {
                length: uri_len,
                limit: self.max_uri_bytes,
            });
        }
        let header_bytes = forwarded_header_bytes(&parts.headers);
        if header_bytes > self.max_header_bytes {
            return ResponseFuture::refused(Error::HeadersTooLarge {
                length: header_bytes,
                limit: self.max_header_bytes,
            });
        }
        let info = match RequestInfo::parse(&parts.method, &parts.uri) {
            Ok(info) => info,
            Err(e) => return ResponseFuture::refused(e),
        };
        // Shared: with the layers outside this one through the notes (the
        // audit layer records refusals, the metrics count by verb), and
        // with those inside through the extensions.
        crate::insert_shared(&mut parts.extensions, &Arc::new(info), self.copy_info);

        let declared_len = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let has_body = declared_len.is_some_and(|n| n > 0)
            || parts.headers.contains_key(header::TRANSFER_ENCODING)
            || !body.is_end_stream() && declared_len.is_none() && body.size_hint().lower() > 0;

        let probe = Request::from_parts(parts, ());
        if is_upgrade_request(&probe) {
            let (mut parts, ()) = probe.into_parts();
            if has_body {
                return ResponseFuture::refused(Error::BodyRead {
                    message: "an upgrade request (exec, attach, port-forward) must not carry a body".to_owned(),
                });
            }
            parts.extensions.insert(RequestBody::empty());
            return ResponseFuture::call(&mut self.inner, Request::from_parts(parts, Full::default()));
        }
        let (parts, ()) = probe.into_parts();
        if declared_len.is_some_and(|n| n > self.max_body_bytes as u64) {
            return ResponseFuture::refused(Error::BodyTooLarge {
                limit: self.max_body_bytes,
            });
        }
        // Held against the gateway-wide budget while the body is buffered:
        // its declared length, or the most it may be. A request without a
        // body (a GET) holds nothing, so bodies held by others never turn
        // reads away.
        let reservation = match &self.budget {
            None => None,
            Some(_) if !has_body => None,
            Some(b) => {
                let want = declared_len.map_or(self.max_body_bytes, |n| usize::try_from(n).unwrap_or(usize::MAX));
                match b.reserve(want) {
                    Some(r) => Some(r),
                    None => {
                        return ResponseFuture::refused(Error::Busy {
                            what: format!(
                                "the gateway is buffering {} bytes of request bodies, its limit is {}",
                                b.in_use(),
                                b.max()
                            ),
                        });
                    }
                }
            }
        };
        if !has_body && body.is_end_stream() {
            // Nothing to read (a GET): the request goes on now, without a
            // collecting state, a deadline or a copy of the inner service.
            return match future::finish_request(parts, Bytes::new(), self.max_body_bytes, None) {
                Ok(req) => ResponseFuture::call(&mut self.inner, req),
                Err(e) => ResponseFuture::refused(e),
            };
        }
        // The body is read first: the service that was driven to readiness
        // is taken along, a clone left in its place.
        let inner = crate::take_ready(&mut self.inner);
        let collect = Limited::new(body, self.max_body_bytes).collect();
        ResponseFuture::collecting(
            collect,
            parts,
            inner,
            (self.max_body_bytes, self.body_timeout),
            reservation,
        )
    }
}

/// Header bytes as an HTTP/2 peer counts them (RFC 7540 §6.5.2: name,
/// value and 32 per field), without `Authorization`, which the gateway
/// replaces and whose token has its own bound.
fn forwarded_header_bytes(headers: &http::HeaderMap) -> usize {
    headers
        .iter()
        .filter(|(name, _)| *name != header::AUTHORIZATION)
        .map(|(name, value)| name.as_str().len() + value.len() + 32)
        .sum()
}
