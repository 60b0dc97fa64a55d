use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{HeaderValue, Response};
use pin_project_lite::pin_project;
use tollgate_kube::{ResponseBody, Status, WARNING};

/// A preflight and the write after it, run as one boxed future.
pub(super) type Boxed<B, E> = Pin<Box<dyn Future<Output = Result<Response<ResponseBody<B>>, E>> + Send>>;

pin_project! {
    /// The response future of [`PolicyService`](super::PolicyService):
    /// the inner response with the policy's `Warning`s, or a refusal.
    pub struct ResponseFuture<F, B, E> {
        #[pin]
        state: State<F, B, E>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B, E> {
        Calling { #[pin] future: F, warnings: Vec<HeaderValue> },
        Refused { status: Option<Status> },
        Preflight { future: Boxed<B, E> },
    }
}

impl<F, B, E> std::fmt::Debug for ResponseFuture<F, B, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, B, E> ResponseFuture<F, B, E> {
    pub(super) fn preflight(future: Boxed<B, E>) -> Self {
        ResponseFuture {
            state: State::Preflight { future },
        }
    }

    pub(super) fn call(future: F, warnings: Vec<HeaderValue>) -> Self {
        ResponseFuture {
            state: State::Calling { future, warnings },
        }
    }

    pub(super) fn refused(status: Status) -> Self {
        ResponseFuture {
            state: State::Refused { status: Some(status) },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F, B, E>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Calling { future, warnings } => {
                let mut res = ready!(future.poll(cx))?;
                for w in warnings.drain(..) {
                    res.headers_mut().append(WARNING, w);
                }
                Poll::Ready(Ok(res.map(ResponseBody::inner)))
            }
            StateProj::Preflight { future } => future.as_mut().poll(cx),
            StateProj::Refused { status } => {
                let s = status
                    .take()
                    .unwrap_or_else(|| Status::failure(tollgate_kube::Reason::Forbidden, "refused"));
                Poll::Ready(Ok(ResponseBody::from_status_response(s.to_response())))
            }
        }
    }
}
