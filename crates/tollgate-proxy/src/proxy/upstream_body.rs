//! The API server's response body as the [`Proxy`](super::Proxy) passes
//! it on, holding what the request took upstream until the body ends.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use pin_project_lite::pin_project;

use super::connections::Stream;
use super::long_running::Slot;
use super::service::HttpClient;

/// What a request holds upstream while its answer is read.
#[derive(Debug)]
pub(crate) enum Held {
    /// A long-running request's place among them (its connection is its
    /// own); held for what its drop gives back.
    LongRunning(#[expect(dead_code, reason = "held until dropped")] Slot),
    /// A short request's stream on a shared HTTP/2 connection.
    Stream(Stream<HttpClient>),
}

pin_project! {
    /// The API server's response body, as the [`Proxy`](super::Proxy)
    /// passes it on: it holds the request's place among the long-running
    /// requests (a watch, logs, a proxy request), or its stream on a shared
    /// connection (a short request), until the body ends or is dropped
    /// (the client went away).
    #[derive(Debug)]
    pub struct UpstreamBody {
        #[pin]
        body: Incoming,
        held: Option<Held>,
    }
}

impl UpstreamBody {
    pub(crate) fn new(body: Incoming, held: Option<Held>) -> Self {
        UpstreamBody { body, held }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.project();
        let polled = this.body.poll_frame(cx);
        if let Poll::Ready(None | Some(Err(_))) = &polled {
            // Ended: the upstream connection or stream is free (or gone)
            // already.
            this.held.take();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
