use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, header};
use http_body::Body;
use http_body_util::{BodyExt, Full, Limited};
use tower_service::Service;

use super::{RequestInfo, ResponseFuture};
use crate::{Error, RequestBody, ResponseBody, is_upgrade_request};

/// The service made by [`RequestInfoLayer`](super::RequestInfoLayer).
#[derive(Debug, Clone)]
pub struct RequestInfoService<S> {
    inner: S,
    max_body_bytes: usize,
    body_timeout: Duration,
}

// === impl RequestInfoService ===

impl<S> RequestInfoService<S> {
    /// Wraps `inner`, buffering bodies up to `max_body_bytes`.
    pub fn new(inner: S, max_body_bytes: usize) -> Self {
        RequestInfoService {
            inner,
            max_body_bytes,
            body_timeout: Duration::from_secs(60),
        }
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
        let info = match RequestInfo::parse(&parts.method, &parts.uri) {
            Ok(info) => info,
            Err(e) => return ResponseFuture::refused(e),
        };
        parts.extensions.insert(info);

        let declared_len = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let has_body = declared_len.is_some_and(|n| n > 0)
            || parts.headers.contains_key(header::TRANSFER_ENCODING)
            || !body.is_end_stream() && declared_len.is_none() && body.size_hint().lower() > 0;

        // Take the service that was driven to readiness; leave a clone.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);

        let probe = Request::from_parts(parts, ());
        if is_upgrade_request(&probe) {
            let (mut parts, ()) = probe.into_parts();
            if has_body {
                return ResponseFuture::refused(Error::BodyRead {
                    message: "an upgrade request (exec, attach, port-forward) must not carry a body".to_owned(),
                });
            }
            parts.extensions.insert(RequestBody::empty());
            return ResponseFuture::call(inner, Request::from_parts(parts, Full::default()));
        }
        let (parts, ()) = probe.into_parts();
        if declared_len.is_some_and(|n| n > self.max_body_bytes as u64) {
            return ResponseFuture::refused(Error::BodyTooLarge {
                limit: self.max_body_bytes,
            });
        }
        let collect = Limited::new(body, self.max_body_bytes).collect();
        ResponseFuture::collecting(collect, parts, inner, self.max_body_bytes, self.body_timeout)
    }
}
