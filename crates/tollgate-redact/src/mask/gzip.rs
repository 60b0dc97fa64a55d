//! gzip around masking: responses are decoded before they are masked, and
//! re-encoded (flushed per chunk, so watch events still arrive one by one)
//! when the client accepted gzip.

use std::io::{self, Write};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use flate2::Compression;
use flate2::write::{GzDecoder, GzEncoder};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A streaming transform over body bytes (gzip decoding or encoding).
pub trait Stage: Send + 'static {
    /// Feeds a chunk.
    fn feed(&mut self, data: &[u8]) -> io::Result<()>;
    /// The input ended.
    fn end(&mut self) -> io::Result<()>;
    /// What has been produced so far.
    fn take(&mut self) -> Vec<u8>;
}

impl Stage for GzDecoder<Vec<u8>> {
    fn feed(&mut self, data: &[u8]) -> io::Result<()> {
        self.write_all(data)
    }
    fn end(&mut self) -> io::Result<()> {
        self.try_finish()
    }
    fn take(&mut self) -> Vec<u8> {
        std::mem::take(self.get_mut())
    }
}

impl Stage for GzEncoder<Vec<u8>> {
    fn feed(&mut self, data: &[u8]) -> io::Result<()> {
        self.write_all(data)?;
        // A sync flush: what was masked so far reaches the client now.
        self.flush()
    }
    fn end(&mut self) -> io::Result<()> {
        self.try_finish()
    }
    fn take(&mut self) -> Vec<u8> {
        std::mem::take(self.get_mut())
    }
}

pin_project! {
    /// A body passed through a [`Stage`] as it streams, or untouched when
    /// the stage is off.
    pub struct Coded<B, S> {
        #[pin]
        inner: B,
        // Boxed: the response and its body are moved by every layer
        // outside, and most bodies are not gzip-encoded.
        stage: Option<Box<S>>,
        done: bool,
    }
}

/// Decodes a gzip body as it streams (or passes it through).
pub type Gunzip<B> = Coded<B, GzDecoder<Vec<u8>>>;
/// Encodes a body with gzip as it streams (or passes it through).
pub type Gzip<B> = Coded<B, GzEncoder<Vec<u8>>>;

impl<B, S> std::fmt::Debug for Coded<B, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coded")
            .field("active", &self.stage.is_some())
            .finish_non_exhaustive()
    }
}

pub(crate) fn gunzip<B>(inner: B, active: bool) -> Gunzip<B> {
    Coded {
        inner,
        stage: active.then(|| Box::new(GzDecoder::new(Vec::new()))),
        done: false,
    }
}

pub(crate) fn gzip<B>(inner: B, active: bool) -> Gzip<B> {
    Coded {
        inner,
        stage: active.then(|| Box::new(GzEncoder::new(Vec::new(), Compression::fast()))),
        done: false,
    }
}

impl<B, S> Body for Coded<B, S>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
    S: Stage,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        let Some(stage) = this.stage.as_mut() else {
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
                        stage.feed(&data)?;
                    }
                }
                Poll::Ready(None) => {
                    stage.end()?;
                    *this.done = true;
                }
            }
            let out = stage.take();
            if !out.is_empty() {
                return Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))));
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        if self.stage.is_some() {
            self.done
        } else {
            self.inner.is_end_stream()
        }
    }

    fn size_hint(&self) -> SizeHint {
        if self.stage.is_some() {
            SizeHint::default()
        } else {
            self.inner.size_hint()
        }
    }
}
