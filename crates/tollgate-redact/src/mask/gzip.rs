//! gzip around masking: responses are decoded before they are masked, and
//! re-encoded (flushed per chunk, so watch events still arrive one by one)
//! when the client accepted gzip.

use std::io::Write;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use flate2::Compression;
use flate2::write::{GzDecoder, GzEncoder};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

pin_project! {
    /// Decodes a gzip body as it streams (or passes it through).
    pub struct Gunzip<B> {
        #[pin]
        inner: B,
        decoder: Option<GzDecoder<Vec<u8>>>,
        done: bool,
    }
}

pin_project! {
    /// Encodes a body with gzip as it streams (or passes it through).
    pub struct Gzip<B> {
        #[pin]
        inner: B,
        encoder: Option<GzEncoder<Vec<u8>>>,
        done: bool,
    }
}

impl<B> std::fmt::Debug for Gunzip<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gunzip")
            .field("active", &self.decoder.is_some())
            .finish_non_exhaustive()
    }
}

impl<B> std::fmt::Debug for Gzip<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gzip")
            .field("active", &self.encoder.is_some())
            .finish_non_exhaustive()
    }
}

impl<B> Gunzip<B> {
    pub(crate) fn new(inner: B, active: bool) -> Self {
        Gunzip {
            inner,
            decoder: active.then(|| GzDecoder::new(Vec::new())),
            done: false,
        }
    }
}

impl<B> Gzip<B> {
    pub(crate) fn new(inner: B, active: bool) -> Self {
        Gzip {
            inner,
            encoder: active.then(|| GzEncoder::new(Vec::new(), Compression::fast())),
            done: false,
        }
    }
}

impl<B> Body for Gunzip<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        let Some(dec) = this.decoder.as_mut() else {
            return this.inner.poll_frame(cx).map_err(Into::into);
        };
        loop {
            if *this.done {
                return Poll::Ready(None);
            }
            match this.inner.as_mut().poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e.into()))),
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        dec.write_all(&data)?;
                    }
                }
                Poll::Ready(None) => {
                    dec.try_finish()?;
                    *this.done = true;
                }
            }
            let out = std::mem::take(dec.get_mut());
            if !out.is_empty() {
                return Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))));
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        if self.decoder.is_some() {
            self.done
        } else {
            self.inner.is_end_stream()
        }
    }

    fn size_hint(&self) -> SizeHint {
        if self.decoder.is_some() {
            SizeHint::default()
        } else {
            self.inner.size_hint()
        }
    }
}

impl<B> Body for Gzip<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        let Some(enc) = this.encoder.as_mut() else {
            return this.inner.poll_frame(cx).map_err(Into::into);
        };
        loop {
            if *this.done {
                return Poll::Ready(None);
            }
            match this.inner.as_mut().poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e.into()))),
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        enc.write_all(&data)?;
                        // A sync flush: what was masked so far reaches the client now.
                        enc.flush()?;
                    }
                }
                Poll::Ready(None) => {
                    enc.try_finish()?;
                    *this.done = true;
                }
            }
            let out = std::mem::take(enc.get_mut());
            if !out.is_empty() {
                return Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))));
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        if self.encoder.is_some() {
            self.done
        } else {
            self.inner.is_end_stream()
        }
    }

    fn size_hint(&self) -> SizeHint {
        if self.encoder.is_some() {
            SizeHint::default()
        } else {
            self.inner.size_hint()
        }
    }
}
