//! The inner audit service, just before the proxy: the audit policy, the
//! confirmed `RequestReceived` record (fail closed), the response stages
//! and terminal sessions.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tollgate_kube::Identity;
use tollgate_kube::{AuditId, MissingLayer, Reason, RequestBody, RequestInfo, ResponseBody, Status};
use tollgate_proxy::TunnelTap;
use tollgate_redact::kind_of_resource;
use tollgate_rules::Decision;
use tower_service::Service;

use super::body::{RecordBody, Tally};
use super::record::{self, Draft, ReceivedLine, Shared};
use super::session::{Purpose, SessionTap, cast_header};
use crate::{Event, Level, RecordError, Stage};

/// The inner half of the audit layers; see [`AuditLayer`](crate::AuditLayer).
#[derive(Debug, Clone)]
pub struct RecordLayer {
    pub(crate) shared: Arc<Shared>,
}

impl<S> tower_layer::Layer<S> for RecordLayer {
    type Service = RecordService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RecordService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// See [`RecordLayer`].
#[derive(Debug, Clone)]
pub struct RecordService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> RecordService<S> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// The confirmation of `RequestReceived`; it gives the record back.
type Confirm = Pin<Box<dyn Future<Output = Result<Option<Event>, RecordError>> + Send>>;

/// What the response side needs.
#[derive(Debug)]
struct After {
    shared: Arc<Shared>,
    /// The record, for the later stages (while `RequestReceived` is being
    /// confirmed, the recorder holds it and gives it back). Boxed: a small
    /// request's has none, and is built and moved without its 848 bytes.
    event: Option<Box<Event>>,
    /// Instead of `event`, a small request's `RequestReceived` as written.
    line: Option<ReceivedLine>,
    long_running: bool,
    watch: bool,
    kind: Option<&'static str>,
    omit_started: bool,
    omit_complete: bool,
    omit_managed_fields: bool,
    session: Option<Arc<SessionTap>>,
}

pin_project! {
    /// The response future of [`RecordService`].
    pub struct RecordFuture<S, B>
    where
        S: Service<Request<B>>,
    {
        #[pin]
        state: State<S, B>,
        // Boxed, as the waiting request below: every layer outside holds
        // this future inline and moves it, so it is kept a few words long.
        after: Option<Box<After>>,
    }
}

/// A request waiting for its `RequestReceived` to be confirmed, and the
/// service it then goes to.
struct Waiting<S, B> {
    confirm: Confirm,
    request: Option<Request<B>>,
    service: Option<S>,
}

pin_project! {
    #[project = StateProj]
    enum State<S, B>
    where
        S: Service<Request<B>>,
    {
        Confirming { waiting: Box<Waiting<S, B>> },
        Calling { #[pin] future: S::Future },
        Refused { status: Option<Box<Status>> },
    }
}

impl<S: Service<Request<B>>, B> std::fmt::Debug for RecordFuture<S, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordFuture").finish_non_exhaustive()
    }
}

impl<S, B, ResBody> Service<Request<B>> for RecordService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone,
{
    type Response = Response<RecordBody<ResponseBody<ResBody>>>;
    type Error = S::Error;
    type Future = RecordFuture<S, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        // The service made ready is called in place; only a request that
        // waits for its record first takes it along (a clone left here).
        let inner = &mut self.inner;
        let calling = |inner: &mut S, req, after| RecordFuture {
            state: State::Calling {
                future: inner.call(req),
            },
            after,
        };
        if !self.shared.enabled {
            return calling(inner, req, None);
        }
        // A request that cannot be recorded is not forwarded: without
        // RequestInfoLayer in front there is nothing to record it with.
        if RequestInfo::of(req.extensions()).is_none() {
            return self.without_request_info();
        }
        let draft = match req.extensions().get::<Draft>() {
            Some(d) => d.clone(),
            None => {
                // Used without the outer layer: open the record here.
                let id = req
                    .extensions()
                    .get::<AuditId>()
                    .cloned()
                    .unwrap_or_else(AuditId::random);
                req.extensions_mut().insert(id.clone());
                let (parts, body) = req.into_parts();
                let d = Draft::open(&self.shared, &parts, &id);
                req = Request::from_parts(parts, body);
                d
            }
        };
        draft.lock().taken_over = true;
        // Borrowed from the extensions while the record is built (neither
        // copied nor taken out and boxed again); the request is changed
        // only once they are no longer needed.
        let ext = req.extensions();
        let Some(info) = RequestInfo::of(ext) else {
            return self.without_request_info();
        };
        let identity = Identity::of(ext);
        let decision = ext.get::<Decision>();
        let lvl = record::level_for(&self.shared, info, identity);
        if lvl.level == Level::None {
            return calling(inner, req, None);
        }
        let body = req.extensions().get::<RequestBody>().cloned();
        let content_type = req
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let command =
            tollgate_kube::command_line(info, content_type, body.as_ref().and_then(|b| b.json().ok().flatten()));
        let upgrade = tollgate_kube::is_upgrade_request(&req);
        // Most requests: no object in the record, not a stream. Their
        // records are written straight from the request's data, and
        // `ResponseComplete` is spliced from `RequestReceived`'s bytes.
        let small = self.shared.recorder.takes_lines()
            && !upgrade
            && !info.is_long_running()
            && (lvl.level == Level::Metadata
                || (lvl.level == Level::Request && body.as_ref().is_none_or(|b| b.is_empty())));
        if small {
            let line = record::received_line(
                &draft.lock(),
                info,
                lvl.level,
                record::Facts {
                    identity,
                    decision,
                    approval: req.extensions().get::<tollgate_rules::ApprovalNote>(),
                    command: Some(&command),
                    ..Default::default()
                },
            );
            let mut line = match line {
                Ok(l) => l,
                Err(e) => return self.refuse(&RecordError::Sink(crate::SinkError::Io(e.to_string()))),
            };
            let wait = if lvl.omits(Stage::RequestReceived) {
                None
            } else {
                line.bytes.push(b'\n');
                let queued = self.shared.recorder.queue_line(&line.bytes, true);
                line.bytes.pop();
                match queued {
                    Ok(wait) => wait,
                    Err(e) => return self.refuse(&e),
                }
            };
            let after = After {
                shared: self.shared.clone(),
                event: None,
                line: Some(line),
                long_running: false,
                watch: false,
                kind: kind_of_resource(&info.resource, &info.subresource),
                omit_started: true,
                omit_complete: lvl.omits(Stage::ResponseComplete),
                omit_managed_fields: lvl.omit_managed_fields,
                session: None,
            };
            let Some(wait) = wait else {
                return calling(inner, req, Some(Box::new(after)));
            };
            return RecordFuture {
                state: State::Confirming {
                    waiting: Box::new(Waiting {
                        confirm: Box::pin(async move { wait.confirmed().await.map(|()| None) }),
                        request: Some(req),
                        service: Some(tollgate_kube::take_ready(inner)),
                    }),
                },
                after: Some(Box::new(after)),
            };
        }
        let mut e = record::event(
            &draft.lock(),
            info,
            lvl.level,
            Stage::RequestReceived,
            record::Facts {
                identity,
                decision,
                approval: req.extensions().get::<tollgate_rules::ApprovalNote>(),
                command: Some(&command),
                ..Default::default()
            },
        );
        if lvl.level >= Level::Request {
            record::request_object(&self.shared, info, body.as_ref(), lvl.omit_managed_fields, &mut e);
        }
        // Exec, attach and port-forward: the tunnel is watched.
        let mut session = None;
        let mut tunnel = None;
        if upgrade {
            let terminal = matches!(info.subresource.as_str(), "exec" | "attach");
            let header = (terminal && self.shared.sessions.is_some()).then(|| cast_header(&e, info, &command));
            let purpose = if terminal {
                Purpose::Terminal
            } else {
                Purpose::PortForward
            };
            match SessionTap::new(self.shared.clone(), e.clone(), purpose, header) {
                Ok(tap) => {
                    tunnel = Some(TunnelTap::new(tap.clone()));
                    session = Some(tap);
                }
                Err(why) => {
                    tracing::error!(error = %why, "a terminal session cannot be recorded");
                    if self.shared.sessions.as_ref().is_some_and(|s| s.required) {
                        self.shared.recorder.count_refusal();
                        let mut refused = e.clone();
                        refused.stage = Stage::ResponseComplete;
                        let status = unavailable(&format!("the session cannot be recorded ({why})"));
                        refused.response_status = serde_json::to_value(&status).ok();
                        self.shared.recorder.record_later(refused);
                        return RecordFuture {
                            state: State::Refused {
                                status: Some(Box::new(status)),
                            },
                            after: None,
                        };
                    }
                }
            }
        }
        let confirm = !lvl.omits(Stage::RequestReceived);
        let mut after = After {
            shared: self.shared.clone(),
            event: None,
            line: None,
            long_running: info.is_long_running(),
            watch: info.verb == "watch",
            kind: kind_of_resource(&info.resource, &info.subresource),
            omit_started: lvl.omits(Stage::ResponseStarted),
            omit_complete: lvl.omits(Stage::ResponseComplete),
            omit_managed_fields: lvl.omit_managed_fields,
            session,
        };
        if let Some(t) = tunnel {
            req.extensions_mut().insert(t);
        }
        if !confirm {
            after.event = Some(Box::new(e));
            return calling(inner, req, Some(Box::new(after)));
        }
        let recorder = self.shared.recorder.clone();
        RecordFuture {
            state: State::Confirming {
                waiting: Box::new(Waiting {
                    confirm: Box::pin(async move { recorder.record_returning(e).await.map(Some) }),
                    request: Some(req),
                    service: Some(tollgate_kube::take_ready(inner)),
                }),
            },
            after: Some(Box::new(after)),
        }
    }
}

impl<S> RecordService<S> {
    /// A request refused because `RequestInfoLayer` is not in front.
    fn without_request_info<B>(&self) -> RecordFuture<S, B>
    where
        S: Service<Request<B>>,
    {
        self.shared.recorder.count_refusal();
        RecordFuture {
            state: State::Refused {
                status: Some(Box::new(NO_REQUEST_INFO.status())),
            },
            after: None,
        }
    }

    /// A request refused because its record could not be queued.
    fn refuse<B>(&self, why: &RecordError) -> RecordFuture<S, B>
    where
        S: Service<Request<B>>,
    {
        tracing::error!(error = %why, "request refused: its audit record could not be written");
        self.shared.recorder.count_refusal();
        RecordFuture {
            state: State::Refused {
                status: Some(Box::new(unavailable(&why.to_string()))),
            },
            after: None,
        }
    }
}

/// The refusal when `RequestInfoLayer` is not in front: a 500 naming it
/// (logged once per process).
static NO_REQUEST_INFO: MissingLayer = MissingLayer::new(
    "RecordLayer needs RequestInfoLayer in front of it: the request has no RequestInfo in its extensions, so it cannot be recorded and is not forwarded",
);

fn unavailable(why: &str) -> Status {
    Status::failure(
        Reason::ServiceUnavailable,
        format!("the request was not forwarded because it could not be recorded: {why}"),
    )
}

impl<S, B, ResBody> Future for RecordFuture<S, B>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Output = Result<Response<RecordBody<ResponseBody<ResBody>>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Confirming { waiting } => {
                    let confirmed = ready!(waiting.confirm.as_mut().poll(cx));
                    let next = match (confirmed, waiting.request.take(), waiting.service.take()) {
                        (Ok(event), Some(req), Some(mut svc)) => {
                            if let (Some(a), Some(event)) = (this.after.as_mut(), event) {
                                a.event = Some(Box::new(event));
                            }
                            State::Calling { future: svc.call(req) }
                        }
                        (Err(e), _, _) => {
                            tracing::error!(error = %e, "request refused: its audit record could not be written");
                            if let Some(a) = this.after.take() {
                                a.shared.recorder.count_refusal();
                            }
                            State::Refused {
                                status: Some(Box::new(unavailable(&e.to_string()))),
                            }
                        }
                        _ => State::Refused {
                            status: Some(Box::new(unavailable("the request was already handled"))),
                        },
                    };
                    this.state.set(next);
                }
                StateProj::Refused { status } => {
                    let s = status
                        .take()
                        .map_or_else(|| unavailable("the request was already handled"), |s| *s);
                    let res = ResponseBody::from_status_response(s.to_response());
                    return Poll::Ready(Ok(res.map(|b| RecordBody::new(b, None))));
                }
                StateProj::Calling { future } => {
                    let res = ready!(future.poll(cx))?;
                    let Some(a) = this.after.take() else {
                        return Poll::Ready(Ok(res.map(|b| RecordBody::new(ResponseBody::inner(b), None))));
                    };
                    return Poll::Ready(Ok((*a).respond(res)));
                }
            }
        }
    }
}

impl After {
    fn respond<ResBody>(self, res: Response<ResBody>) -> Response<RecordBody<ResponseBody<ResBody>>> {
        let code = res.status().as_u16();
        let gzip = res
            .headers()
            .get(http::header::CONTENT_ENCODING)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
        let refused = res.extensions().get::<tollgate_proxy::Refused>().is_some();
        if let Some(line) = self.line {
            if self.omit_complete {
                return res.map(|b| RecordBody::new(ResponseBody::inner(b), None));
            }
            let mut tally = Tally::for_line(self.shared, line, code, self.kind);
            tally.gzip = gzip;
            tally.refused = refused;
            return res.map(|b| RecordBody::new(ResponseBody::inner(b), Some(tally)));
        }
        let Some(mut e) = self.event else {
            return res.map(|b| RecordBody::new(ResponseBody::inner(b), None));
        };
        if self.long_running && !self.omit_started {
            let mut started = (*e).clone();
            started.stage = Stage::ResponseStarted;
            started.stage_timestamp = crate::micro_time(std::time::SystemTime::now());
            started.response_status = Some(record::response_status(code.min(399), None));
            if let Some(s) = started.response_status.as_mut().and_then(|s| s.as_object_mut()) {
                s.insert("code".to_owned(), code.into());
            }
            self.shared.recorder.record_later(started);
        }
        if code == 101 {
            // The session's record is written when its tunnel closes.
            if let Some(tap) = &self.session {
                let h = res.headers();
                let proto = h
                    .get("sec-websocket-protocol")
                    .or_else(|| h.get("x-stream-protocol-version"))
                    .and_then(|v| v.to_str().ok());
                let upgrade = h.get(http::header::UPGRADE).and_then(|v| v.to_str().ok());
                tap.set_protocol(upgrade, proto);
            }
            return res.map(|b| RecordBody::new(ResponseBody::inner(b), None));
        }
        if let Some(tap) = self.session {
            // The upgrade was refused: no tunnel will close, the body ends.
            drop(tap);
        }
        if self.omit_complete {
            return res.map(|b| RecordBody::new(ResponseBody::inner(b), None));
        }
        let protobuf = res
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.contains("protobuf"));
        e.stage = Stage::ResponseComplete;
        let mut tally = Tally::new(
            self.shared.clone(),
            e,
            code,
            self.kind,
            self.omit_managed_fields,
            self.watch,
            self.long_running,
            protobuf,
        );
        tally.gzip = gzip;
        tally.refused = refused;
        res.map(|b| RecordBody::new(ResponseBody::inner(b), Some(tally)))
    }
}
