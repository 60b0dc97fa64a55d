//! [`ResponseFuture`]: waits for the approval check, then calls the inner
//! service (noting the approval on the request) or answers.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use pin_project_lite::pin_project;
use tollgate_kube::{Reason, ResponseBody, Status, note};
use tollgate_rules::ApprovalNote;
use tower_service::Service;

/// What the approval check decided.
pub(super) enum Outcome {
    /// Forward, with this note.
    Forward(ApprovalNote),
    /// Answer this.
    Answer(Response<Full<Bytes>>),
}

pub(super) type Check = Pin<Box<dyn Future<Output = Outcome> + Send>>;

pin_project! {
    /// The response future of [`ApprovalService`].
    pub struct ResponseFuture<S, B>
    where
        S: Service<Request<B>>,
    {
        #[pin]
        pub(super) state: St<S, B>,
    }
}

pin_project! {
    #[project = StProj]
    pub(super) enum St<S, B>
    where
        S: Service<Request<B>>,
    {
        // Boxed: every layer outside holds this future inline and moves it.
        Checking { checking: Box<Checking<S, B>> },
        Calling { #[pin] future: S::Future },
    }
}

/// A request whose approval is being checked, and the service it then
/// goes to.
pub(super) struct Checking<S, B> {
    pub(super) check: Check,
    pub(super) request: Option<Request<B>>,
    pub(super) service: Option<S>,
}

impl<S, B> Checking<S, B> {
    /// The state of a request being checked.
    pub(super) fn state(check: Check, request: Option<Request<B>>, service: Option<S>) -> St<S, B>
    where
        S: Service<Request<B>>,
    {
        St::Checking {
            checking: Box::new(Checking {
                check,
                request,
                service,
            }),
        }
    }
}

impl<S: Service<Request<B>>, B> std::fmt::Debug for ResponseFuture<S, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<S, B, ResBody> Future for ResponseFuture<S, B>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Output = Result<Response<ResponseBody<ResBody>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StProj::Checking { checking } => match ready!(checking.check.as_mut().poll(cx)) {
                    Outcome::Answer(res) => return Poll::Ready(Ok(ResponseBody::from_status_response(res))),
                    Outcome::Forward(n) => {
                        let (Some(mut req), Some(mut svc)) = (checking.request.take(), checking.service.take()) else {
                            let s = Status::failure(Reason::InternalError, "the request was already handled");
                            return Poll::Ready(Ok(ResponseBody::from_status_response(s.to_response())));
                        };
                        note(req.extensions(), n.clone());
                        req.extensions_mut().insert(n);
                        this.state.set(St::Calling { future: svc.call(req) });
                    }
                },
                StProj::Calling { future } => {
                    let res = ready!(future.poll(cx))?;
                    return Poll::Ready(Ok(res.map(ResponseBody::inner)));
                }
            }
        }
    }
}
