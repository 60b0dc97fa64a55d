use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tollgate_kube::log_context::RequestLog;
use tollgate_kube::{ResponseBody, Status};
use tower_service::Service;

use tollgate_kube::Identity;

use crate::{AuthnFailure, Error};

type Verification = Pin<Box<dyn Future<Output = Result<Arc<Identity>, Error>> + Send>>;

pin_project! {
    /// The response future of [`AuthnService`](super::AuthnService).
    pub struct ResponseFuture<S, B>
    where
        S: Service<Request<B>>,
    {
        #[pin]
        state: State<S, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, B>
    where
        S: Service<Request<B>>,
    {
        // Boxed (as the refusal): every layer outside holds this future
        // inline and moves it, and a cached token never waits.
        Verifying {
            verifying: Box<Verifying<S, B>>,
        },
        Calling {
            #[pin]
            future: S::Future,
        },
        Refused {
            status: Option<Box<Status>>,
            // The request's body is left unread: HTTP/1.1 closes the
            // connection after the answer rather than reading it.
            close: bool,
        },
    }
}

/// A token being verified, the request it came with and the service the
/// request then goes to.
struct Verifying<S, B> {
    verification: Verification,
    request: Option<Request<B>>,
    service: Option<S>,
    copy_identity: bool,
}

impl<S: Service<Request<B>>, B> std::fmt::Debug for ResponseFuture<S, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

// === impl ResponseFuture ===

impl<S: Service<Request<B>>, B> ResponseFuture<S, B> {
    pub(super) fn verifying(verification: Verification, request: Request<B>, service: S, copy_identity: bool) -> Self {
        ResponseFuture {
            state: State::Verifying {
                verifying: Box::new(Verifying {
                    verification,
                    request: Some(request),
                    service: Some(service),
                    copy_identity,
                }),
            },
        }
    }

    pub(super) fn call(service: &mut S, req: Request<B>) -> Self {
        ResponseFuture {
            state: State::Calling {
                future: service.call(req),
            },
        }
    }

    pub(super) fn refused(e: &Error, req: &Request<B>) -> Self {
        tracing::info!(reason = %e, "request refused: authentication");
        ResponseFuture {
            state: State::Refused {
                status: Some(Box::new(e.to_status())),
                close: leaves_body_unread(req),
            },
        }
    }
}

/// Lets `req` in as `identity`: the user and owner go on the request's
/// span (the audit layer's, for every later log line), the identity into
/// the notes and the request's extensions (shared, not copied), and a copy
/// of it into the extensions when `copy` (for `get::<Identity>()`).
pub(super) fn admit<B>(req: &mut Request<B>, identity: &Arc<Identity>, copy: bool) {
    let (name, owner_name) = (identity.username.as_str(), identity.owner.name.as_str());
    let logged = RequestLog::with_current(|log| log.map(|log| log.record_user(name, owner_name)).is_some());
    if !logged {
        record_on_span(name, owner_name);
    }
    tracing::debug!("authenticated");
    tollgate_kube::insert_shared(req.extensions_mut(), identity, copy);
}

/// The user and owner on the current span, when requests log through
/// spans.
fn record_on_span(name: &str, owner_name: &str) {
    let span = tracing::Span::current();
    // Both in one call: the log subscriber looks the span up and formats
    // into its fields once per call, not once per field (~600 instructions
    // a request).
    if let Some(fields) = span.metadata().map(tracing::Metadata::fields)
        && let (Some(user), Some(owner)) = (fields.field("user"), fields.field("owner"))
    {
        span.record_all(&fields.value_set(&[
            (&user, Some(&name as &dyn tracing::Value)),
            (&owner, Some(&owner_name as &dyn tracing::Value)),
        ]));
    } else {
        span.record("user", name);
        span.record("owner", owner_name);
    }
}

/// Whether refusing `req` leaves a body unread on an HTTP/1.x connection:
/// the answer then closes it (`Connection: close`), so an unauthenticated
/// client cannot make the gateway read, decrypt and discard megabytes to
/// keep the connection (HTTP/2 resets just the stream).
fn leaves_body_unread<B>(req: &Request<B>) -> bool {
    let h = req.headers();
    req.version() <= http::Version::HTTP_11
        && (h.contains_key(http::header::TRANSFER_ENCODING)
            || h.get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .is_some_and(|n| n > 0))
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
                StateProj::Calling { future } => {
                    let res = ready!(future.poll(cx))?;
                    return Poll::Ready(Ok(res.map(ResponseBody::inner)));
                }
                StateProj::Refused { status, close } => {
                    let s = status.take().map_or_else(Status::unauthorized, |s| *s);
                    let mut res = s.to_response();
                    if *close {
                        res.headers_mut()
                            .insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
                    }
                    return Poll::Ready(Ok(ResponseBody::from_status_response(res)));
                }
                StateProj::Verifying { verifying } => {
                    let result = ready!(verifying.verification.as_mut().poll(cx));
                    let req = verifying.request.take();
                    let close = req.as_ref().is_some_and(leaves_body_unread);
                    if let (Err(e), Some(r)) = (&result, &req) {
                        tollgate_kube::note(r.extensions(), AuthnFailure::new(e));
                    }
                    let next = match (result, req, verifying.service.take()) {
                        (Ok(identity), Some(mut req), Some(mut svc)) => {
                            admit(&mut req, &identity, verifying.copy_identity);
                            State::Calling { future: svc.call(req) }
                        }
                        (Err(e), _, _) => {
                            tracing::info!(reason = %e, "request refused: authentication");
                            State::Refused {
                                status: Some(Box::new(e.to_status())),
                                close,
                            }
                        }
                        _ => State::Refused {
                            status: Some(Box::new(Status::unauthorized())),
                            close,
                        },
                    };
                    this.state.set(next);
                }
            }
        }
    }
}
