//! A response body that is either the inner service's or a short-circuit
//! [`Status`](crate::Status) made by a layer.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use pin_project_lite::pin_project;

pin_project! {
    /// Either the inner body or a buffered body a layer produced itself
    /// (a refusal). Forwards `size_hint` and `is_end_stream`.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use http_body_util::Full;
    /// use tollgate_kube::{ResponseBody, Status, Reason};
    ///
    /// let refused: ResponseBody<Full<Bytes>> = ResponseBody::full(Status::failure(Reason::Forbidden, "no").to_bytes());
    /// let passed = ResponseBody::inner(Full::new(Bytes::from_static(b"ok")));
    /// # let _ = (refused, passed);
    /// ```
    #[derive(Debug)]
    pub struct ResponseBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    #[derive(Debug)]
    enum Kind<B> {
        Inner { #[pin] body: B },
        Full { #[pin] body: Full<Bytes> },
    }
}

impl<B> ResponseBody<B> {
    /// Wraps the inner service's body.
    pub fn inner(body: B) -> Self {
        ResponseBody {
            kind: Kind::Inner { body },
        }
    }

    /// A body of these bytes.
    pub fn full(bytes: Bytes) -> Self {
        ResponseBody {
            kind: Kind::Full { body: Full::new(bytes) },
        }
    }

    /// Converts a `Status` response into this body type.
    pub fn from_status_response(res: http::Response<Full<Bytes>>) -> http::Response<Self> {
        res.map(|body| ResponseBody {
            kind: Kind::Full { body },
        })
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match self.project().kind.project() {
            KindProj::Inner { body } => body.poll_frame(cx),
            KindProj::Full { body } => match body.poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => Poll::Ready(Some(Ok(frame))),
                Poll::Ready(Some(Err(never))) => match never {},
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Full { body } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body } => body.size_hint(),
            Kind::Full { body } => body.size_hint(),
        }
    }
}
