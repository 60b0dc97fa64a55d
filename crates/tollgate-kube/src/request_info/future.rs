use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, Request, Response, header};
use http_body::Body;
use http_body_util::combinators::Collect;
use http_body_util::{Full, LengthLimitError, Limited};
use pin_project_lite::pin_project;
use tokio::time::Sleep;
use tower_service::Service;

use crate::body::gunzip_bounded;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
use crate::{Error, RequestBody, Reservation, ResponseBody};

pin_project! {
    /// The response future of [`RequestInfoService`](super::RequestInfoService):
    /// collects the body, then calls the inner service, or answers a refusal
    /// itself.
    pub struct ResponseFuture<S, B>
    where
        S: Service<Request<Full<Bytes>>>,
        B: Body,
        B::Error: Into<BoxError>,
    {
        #[pin]
        state: State<S, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, B>
    where
        S: Service<Request<Full<Bytes>>>,
        B: Body,
        B::Error: Into<BoxError>,
    {
        // Boxed: every layer outside holds this future inline and moves
        // it, and a bodiless request (most) never collects.
        Collecting {
            collecting: Pin<Box<Collecting<S, B>>>,
        },
        Calling {
            #[pin]
            future: S::Future,
        },
        Refused {
            error: Option<Error>,
        },
    }
}

pin_project! {
    /// A body being collected, and where the request then goes.
    #[project = CollectingProj]
    struct Collecting<S, B>
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        #[pin]
        collect: Collect<Limited<B>>,
        #[pin]
        deadline: Sleep,
        timeout: Duration,
        parts: Option<Parts>,
        service: Option<S>,
        limit: usize,
        reservation: Option<Reservation>,
    }
}

impl<S, B> std::fmt::Debug for ResponseFuture<S, B>
where
    S: Service<Request<Full<Bytes>>>,
    B: Body,
    B::Error: Into<BoxError>,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

// === impl ResponseFuture ===

impl<S, B> ResponseFuture<S, B>
where
    S: Service<Request<Full<Bytes>>>,
    B: Body,
    B::Error: Into<BoxError>,
{
    pub(super) fn refused(error: Error) -> Self {
        ResponseFuture {
            state: State::Refused { error: Some(error) },
        }
    }

    pub(super) fn call(service: &mut S, req: Request<Full<Bytes>>) -> Self {
        ResponseFuture {
            state: State::Calling {
                future: service.call(req),
            },
        }
    }

    pub(super) fn collecting(
        collect: Collect<Limited<B>>,
        parts: Parts,
        service: S,
        (limit, timeout): (usize, Duration),
        reservation: Option<Reservation>,
    ) -> Self {
        ResponseFuture {
            state: State::Collecting {
                collecting: Box::pin(Collecting {
                    collect,
                    deadline: tokio::time::sleep(timeout),
                    timeout,
                    parts: Some(parts),
                    service: Some(service),
                    limit,
                    reservation,
                }),
            },
        }
    }
}

impl<S, B, ResBody> Future for ResponseFuture<S, B>
where
    S: Service<Request<Full<Bytes>>, Response = Response<ResBody>>,
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
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
                StateProj::Refused { error } => {
                    let status = error.take().map(|e| e.to_status()).unwrap_or_else(|| {
                        Error::BodyRead {
                            message: "polled after completion".to_owned(),
                        }
                        .to_status()
                    });
                    return Poll::Ready(Ok(ResponseBody::from_status_response(status.to_response())));
                }
                StateProj::Collecting { collecting } => {
                    let CollectingProj {
                        collect,
                        deadline,
                        timeout,
                        parts,
                        service,
                        limit,
                        reservation,
                    } = collecting.as_mut().project();
                    let collected = match collect.poll(cx) {
                        Poll::Ready(c) => c,
                        Poll::Pending => {
                            ready!(deadline.poll(cx));
                            let seconds = timeout.as_secs();
                            this.state.set(State::Refused {
                                error: Some(Error::BodyTimeout { seconds }),
                            });
                            continue;
                        }
                    };
                    let limit = *limit;
                    let next = match (collected, parts.take(), service.take()) {
                        (Ok(c), Some(parts), Some(service)) => {
                            match finish_request(parts, c.to_bytes(), limit, reservation.take()) {
                                Ok(req) => {
                                    let mut service = service;
                                    State::Calling {
                                        future: service.call(req),
                                    }
                                }
                                Err(error) => State::Refused { error: Some(error) },
                            }
                        }
                        (Err(e), _, _) => {
                            let error = if e.downcast_ref::<LengthLimitError>().is_some() {
                                Error::BodyTooLarge { limit }
                            } else {
                                Error::BodyRead { message: e.to_string() }
                            };
                            State::Refused { error: Some(error) }
                        }
                        _ => State::Refused {
                            error: Some(Error::BodyRead {
                                message: "polled after completion".to_owned(),
                            }),
                        },
                    };
                    this.state.set(next);
                }
            }
        }
    }
}

/// Removes any gzip encoding, records the body and rebuilds the request.
pub(super) fn finish_request(
    mut parts: Parts,
    raw: Bytes,
    limit: usize,
    reservation: Option<Reservation>,
) -> Result<Request<Full<Bytes>>, Error> {
    let bytes = match content_encoding(&parts)? {
        Encoding::Identity => raw,
        Encoding::Gzip => {
            let decoded = gunzip_bounded(&raw, limit)?;
            parts.headers.remove(header::CONTENT_ENCODING);
            decoded
        }
    };
    parts.headers.remove(header::TRANSFER_ENCODING);
    if bytes.is_empty() && !parts.headers.contains_key(header::CONTENT_LENGTH) {
        // nothing to declare
    } else {
        parts
            .headers
            .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    }
    let content_type = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let body = match reservation {
        Some(mut r) => {
            r.shrink_to(bytes.len());
            RequestBody::reserved(bytes.clone(), content_type, r)
        }
        None => RequestBody::new(bytes.clone(), content_type),
    };
    crate::note(&parts.extensions, body.clone());
    parts.extensions.insert(body);
    Ok(Request::from_parts(parts, Full::new(bytes)))
}

enum Encoding {
    Identity,
    Gzip,
}

fn content_encoding(parts: &Parts) -> Result<Encoding, Error> {
    let mut values = parts.headers.get_all(header::CONTENT_ENCODING).iter();
    let Some(first) = values.next() else {
        return Ok(Encoding::Identity);
    };
    let text = first.to_str().unwrap_or("").trim().to_ascii_lowercase();
    if values.next().is_some() || text.contains(',') {
        return Err(Error::UnsupportedContentEncoding {
            encoding: "more than one encoding".to_owned(),
        });
    }
    match text.as_str() {
        "" | "identity" => Ok(Encoding::Identity),
        "gzip" | "x-gzip" => Ok(Encoding::Gzip),
        _ => Err(Error::UnsupportedContentEncoding { encoding: text }),
    }
}
