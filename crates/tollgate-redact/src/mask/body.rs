use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::{Redactor, StreamMasker};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug)]
pub(crate) enum How {
    Pass,
    Whole,
    Lines,
}

pin_project! {
    /// A response body, masked as it streams (watch) or whole (the rest).
    pub struct MaskBody<B> {
        #[pin]
        inner: B,
        how: How,
        redactor: Option<Arc<Redactor>>,
        kind: Option<&'static str>,
        buf: BytesMut,
        limit: usize,
        done: bool,
        // Boxed: the response and its body are moved by every layer
        // outside, and most bodies are passed through.
        stream: Option<Box<StreamMasker>>,
    }
}

impl<B> std::fmt::Debug for MaskBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MaskBody")
            .field("how", &self.how)
            .finish_non_exhaustive()
    }
}

impl<B> MaskBody<B> {
    pub(crate) fn new(
        inner: B,
        how: How,
        redactor: Option<Arc<Redactor>>,
        kind: Option<&'static str>,
        limit: usize,
    ) -> Self {
        let stream = match (&how, &redactor) {
            (How::Whole, Some(r)) => Some(Box::new(StreamMasker::new(r.clone(), kind, limit))),
            _ => None,
        };
        MaskBody {
            inner,
            how,
            redactor,
            kind,
            buf: BytesMut::new(),
            limit,
            done: false,
            stream,
        }
    }
}

/// One watch event (or a whole small document), through the byte-level engine.
fn mask(redactor: &Redactor, kind: Option<&'static str>, bytes: &[u8]) -> Result<Bytes, BoxError> {
    let mut out = Vec::with_capacity(bytes.len());
    redactor.redact_bytes(bytes, kind, &mut out)?;
    Ok(Bytes::from(out))
}

impl<B> Body for MaskBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        let Some(redactor) = this.redactor.clone() else {
            return this.inner.poll_frame(cx).map_err(Into::into);
        };
        // Whole documents go through the streaming engine: one list item held at a time.
        if let Some(stream) = this.stream.as_mut() {
            loop {
                if *this.done {
                    return Poll::Ready(None);
                }
                let mut out = Vec::new();
                match this.inner.as_mut().poll_frame(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e.into()))),
                    Poll::Ready(None) => {
                        *this.done = true;
                        stream.finish(&mut out)?;
                    }
                    Poll::Ready(Some(Ok(frame))) => {
                        if let Ok(data) = frame.into_data() {
                            stream.push(&data, &mut out)?;
                        }
                    }
                }
                if !out.is_empty() {
                    return Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))));
                }
            }
        }
        loop {
            if matches!(this.how, How::Lines)
                && let Some(pos) = this.buf.iter().position(|b| *b == b'\n')
            {
                let line = this.buf.split_to(pos + 1);
                let mut out = BytesMut::from(&mask(&redactor, *this.kind, &line[..pos])?[..]);
                out.extend_from_slice(b"\n");
                return Poll::Ready(Some(Ok(Frame::data(out.freeze()))));
            }
            if *this.done {
                if this.buf.is_empty() {
                    return Poll::Ready(None);
                }
                let rest = this.buf.split();
                return Poll::Ready(Some(mask(&redactor, *this.kind, &rest).map(Frame::data)));
            }
            match this.inner.as_mut().poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => *this.done = true,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e.into()))),
                Poll::Ready(Some(Ok(frame))) => {
                    // Trailers carry no secrets Tollgate masks; they are dropped.
                    if let Ok(data) = frame.into_data() {
                        if this.buf.len() + data.len() > *this.limit {
                            return Poll::Ready(Some(Err(format!(
                                "the response is larger than the masking limit of {} bytes; it was cut off rather than sent unmasked",
                                this.limit
                            )
                            .into())));
                        }
                        this.buf.extend_from_slice(&data);
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self.how {
            How::Pass => self.inner.is_end_stream(),
            _ => self.done && self.buf.is_empty(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self.how {
            How::Pass => self.inner.size_hint(),
            _ => SizeHint::default(),
        }
    }
}
