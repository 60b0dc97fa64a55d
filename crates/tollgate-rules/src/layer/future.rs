use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{HeaderValue, Response};
use pin_project_lite::pin_project;
use tollgate_kube::{ResponseBody, Status, WARNING};

pin_project! {
    /// The response future of [`PolicyService`](super::PolicyService):
    /// the inner response with the policy's `Warning`s, or a refusal.
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Calling { #[pin] future: F, warnings: Vec<HeaderValue> },
        Refused { status: Option<Status> },
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F> ResponseFuture<F> {
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

impl<F, B, E> Future for ResponseFuture<F>
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
            StateProj::Refused { status } => {
                let s = status
                    .take()
                    .unwrap_or_else(|| Status::failure(tollgate_kube::Reason::Forbidden, "refused"));
                Poll::Ready(Ok(ResponseBody::from_status_response(s.to_response())))
            }
        }
    }
}
