//! What a served connection is doing, so an idle one can be closed: the
//! requests in flight (from the call until the response body is dropped)
//! and when the last one ended.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use http_body::{Body, Frame, SizeHint};
use tokio::time::Instant;

/// One connection's activity.
#[derive(Debug)]
pub(crate) struct Activity {
    in_flight: AtomicUsize,
    /// When the connection last became idle (no request in flight), and
    /// whether it has served a request yet.
    idle_since: std::sync::Mutex<(Instant, bool)>,
}

impl Activity {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Activity {
            in_flight: AtomicUsize::new(0),
            idle_since: std::sync::Mutex::new((Instant::now(), false)),
        })
    }

    /// A request starts; the guard ends it when dropped.
    pub(crate) fn start(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.lock().1 = true;
        InFlight(self.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Instant, bool)> {
        self.idle_since
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// When the connection is due to close for idleness: `first` after it
    /// opened if it never sent a request, `idle` after its last request
    /// ended; `None` while a request is in flight.
    pub(crate) fn deadline(&self, first: Duration, idle: Duration) -> Option<Instant> {
        if self.in_flight.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let (since, served) = *self.lock();
        Some(since + if served { idle } else { first })
    }
}

/// A request in flight; ends it when dropped.
#[derive(Debug)]
pub(crate) struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        // Stamp the time first: a timer that sees no request in flight
        // must also see when the last one ended.
        self.0.lock().0 = Instant::now();
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

pin_project_lite::pin_project! {
    /// A response body that keeps its request in flight until it is done.
    pub(crate) struct ActivityBody<B> {
        #[pin]
        inner: B,
        in_flight: Option<InFlight>,
    }
}

impl<B> ActivityBody<B> {
    pub(crate) fn new(inner: B, in_flight: InFlight) -> Self {
        ActivityBody {
            inner,
            in_flight: Some(in_flight),
        }
    }
}

impl<B> std::fmt::Debug for ActivityBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActivityBody").finish_non_exhaustive()
    }
}

impl<B: Body> Body for ActivityBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) {
            this.in_flight.take();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
