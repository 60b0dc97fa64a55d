use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, header};
use http_body::Body;
use pin_project_lite::pin_project;
use tollgate_kube::{Reason, RequestInfo, Status};
use tower_layer::Layer;
use tower_service::Service;

use super::body::{How, MaskBody};
use super::gzip::{Gunzip, Gzip, gunzip, gzip};
use crate::{Redactor, kind_of_resource};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body a [`MaskService`] answers with: gzip decoded, masked, re-encoded
/// when the client accepted gzip (each stage passes through when idle).
pub type MaskedBody<B> = Gzip<MaskBody<Gunzip<tollgate_kube::ResponseBody<B>>>>;

/// Put into a request's extensions to have its response masked (the
/// marker lives in `tollgate-kube`, so a policy crate can set it without
/// depending on this one).
use tollgate_kube::Mask;

/// Masks the secrets in the responses clients see.
///
/// It acts on requests carrying the [`Mask`](tollgate_kube::Mask) extension (a policy rule with
/// `mask: true` puts it there), or on every request when built with
/// [`MaskLayer::mask_all`]. For those it asks the API server for JSON
/// (a protobuf `Accept` is rewritten), decodes gzip (and encodes the masked
/// result again, flushed chunk by chunk), then:
/// - a watch is masked event by event as each line completes, never
///   buffered;
/// - any other JSON response goes through the streaming engine: lists and
///   Tables item by item, other documents whole (a part over the bound is
///   cut off with an error rather than sent unmasked);
/// - a response it cannot read (protobuf, an encoding other than gzip) is
///   replaced by a 502 `Status`: nothing unmasked gets through.
///
/// Responses that need no masking pass through untouched, gzip included.
///
/// ```
/// use tollgate_redact::{MaskLayer, Redactor};
/// let layer = MaskLayer::new(Redactor::builder().build()?);
/// # let _ = layer;
/// # Ok::<_, tollgate_redact::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct MaskLayer {
    redactor: Arc<Redactor>,
    all: bool,
    limit: usize,
}

impl MaskLayer {
    /// Masks the responses of requests that carry [`Mask`](tollgate_kube::Mask).
    pub fn new(redactor: Redactor) -> Self {
        MaskLayer {
            redactor: Arc::new(redactor),
            all: false,
            limit: 64 * 1024 * 1024,
        }
    }

    /// Masks every response (a deployment-wide default).
    pub fn mask_all(mut self, all: bool) -> Self {
        self.all = all;
        self
    }

    /// The largest non-watch response (or watch event) masked (default 64 MiB).
    pub fn limit(mut self, bytes: usize) -> Self {
        self.limit = bytes;
        self
    }
}

impl<S> Layer<S> for MaskLayer {
    type Service = MaskService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MaskService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service made by [`MaskLayer`].
#[derive(Debug, Clone)]
pub struct MaskService<S> {
    inner: S,
    layer: MaskLayer,
}

impl<S> MaskService<S> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, B, ResBody> Service<Request<B>> for MaskService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    ResBody: Body<Data = Bytes>,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<MaskedBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let upgrade = tollgate_kube::is_upgrade_request(&req);
        let wanted = !upgrade && (self.layer.all || req.extensions().get::<Mask>().is_some());
        let mut plan = None;
        if wanted {
            // Read from the request's RequestInfo, not copied.
            let info = RequestInfo::of(req.extensions());
            let watch = info.is_some_and(|i| i.verb == "watch");
            let kind = info.and_then(|i| kind_of_resource(&i.resource, &i.subresource));
            let h = req.headers_mut();
            // Ask for JSON: protobuf cannot be masked (gzip is decoded below).
            let accept = h.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
            if accept.is_empty() || accept.contains("protobuf") || accept.contains("cbor") {
                h.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
            }
            plan = Some((if watch { How::Lines } else { How::Whole }, kind));
        }
        ResponseFuture {
            future: self.inner.call(req),
            plan,
            redactor: self.layer.redactor.clone(),
            limit: self.layer.limit,
        }
    }
}

pin_project! {
    /// The response future of [`MaskService`].
    pub struct ResponseFuture<F> {
        #[pin]
        future: F,
        plan: Option<(How, Option<&'static str>)>,
        redactor: Arc<Redactor>,
        limit: usize,
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

fn pass<B>(body: tollgate_kube::ResponseBody<B>) -> MaskedBody<B> {
    gzip(MaskBody::new(gunzip(body, false), How::Pass, None, None, 0), false)
}

fn refuse<B>(message: &str) -> Response<MaskedBody<B>> {
    let res =
        tollgate_kube::ResponseBody::from_status_response(Status::failure(Reason::BadGateway, message).to_response());
    res.map(pass)
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Output = Result<Response<MaskedBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let res = ready!(this.future.poll(cx))?;
        let Some((how, kind)) = this.plan.take() else {
            return Poll::Ready(Ok(res.map(|b| pass(tollgate_kube::ResponseBody::inner(b)))));
        };
        let (mut parts, body) = res.into_parts();
        let ct = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let encoding = parts
            .headers
            .get(header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_ascii_lowercase())
            .filter(|v| !v.is_empty() && v != "identity");
        let gzipped = encoding.as_deref() == Some("gzip");
        let unreadable_encoding = encoding.is_some() && !gzipped;
        if parts.status == http::StatusCode::SWITCHING_PROTOCOLS
            || (!ct.is_empty() && !ct.starts_with("application/json"))
            || unreadable_encoding
        {
            if ct.starts_with("text/plain") && encoding.is_none() {
                // Logs and other text pass as they are.
                return Poll::Ready(Ok(Response::from_parts(
                    parts,
                    pass(tollgate_kube::ResponseBody::inner(body)),
                )));
            }
            return Poll::Ready(Ok(refuse::<B>(&format!(
                "Tollgate must mask this response but the API server sent {} {}; nothing was passed on",
                if ct.is_empty() { "no content type" } else { &ct },
                encoding
                    .as_deref()
                    .map(|e| format!("with content encoding {e}"))
                    .unwrap_or_default()
            ))));
        }
        parts.headers.remove(header::CONTENT_LENGTH);
        // The API server gzips only when the client accepted gzip, so a gzip
        // answer is decoded, masked and encoded again for it.
        let body = gzip(
            MaskBody::new(
                gunzip(tollgate_kube::ResponseBody::inner(body), gzipped),
                how,
                Some(this.redactor.clone()),
                kind,
                *this.limit,
            ),
            gzipped,
        );
        Poll::Ready(Ok(Response::from_parts(parts, body)))
    }
}
