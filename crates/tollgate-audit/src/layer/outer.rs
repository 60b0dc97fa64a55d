//! The outer audit service: audit ID, the open record, notes from inner
//! layers, and the records of requests they refused.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tollgate_kube::Identity;
use tollgate_kube::log_context::RequestLog;
use tollgate_kube::{AuditId, Notes, Reason, RequestBody, RequestInfo, ResponseBody, Status};
use tollgate_oidc::AuthnFailure;
use tollgate_rules::Decision;
use tower_service::Service;

use super::body::{RecordBody, Tally};
use super::record::{self, Draft, Shared};
use crate::{Level, Stage};

/// See [`AuditLayer`](crate::AuditLayer).
#[derive(Debug, Clone)]
pub struct AuditService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> AuditService<S> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>) -> Self {
        AuditService { inner, shared }
    }

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

impl<S, B, ResBody> Service<Request<B>> for AuditService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Response = Response<RecordBody<ResponseBody<ResBody>>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let (mut parts, body) = req.into_parts();
        // A client's own Audit-ID is never recorded: the gateway's is.
        let audit_id = AuditId::random();
        parts.extensions.insert(audit_id.clone());
        // Recording nothing: no notes, no draft, nothing kept for later.
        let ctx = self.shared.enabled.then(|| {
            let notes = Notes::default();
            parts.extensions.insert(notes.clone());
            let draft = Draft::open(&self.shared, &parts, &audit_id);
            parts.extensions.insert(draft.clone());
            Box::new(Ctx {
                shared: self.shared.clone(),
                draft,
                notes,
                info: RequestInfo::of(&parts.extensions).cloned(),
                body: parts.extensions.get::<RequestBody>().cloned(),
                method: parts.method.clone(),
                uri: parts.uri.clone(),
                content_type: parts
                    .headers
                    .get(http::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
            })
        });
        // One span per request: every log line below carries the audit ID
        // the record has; the authentication and policy layers fill in the
        // user, owner and decision as they learn them. Or, when the log's
        // formatter reads it, the same fields without a span.
        let (future, span, log) = if tollgate_kube::log_context::is_spanless() {
            let log = RequestLog::new(&audit_id, &parts.method, &parts.uri);
            let future = log.in_scope(|| self.inner.call(Request::from_parts(parts, body)));
            (future, tracing::Span::none(), Some(log))
        } else {
            let span = tracing::info_span!(
                "request",
                audit_id = %audit_id,
                method = %parts.method,
                path = parts.uri.path(),
                user = tracing::field::Empty,
                owner = tracing::field::Empty,
                decision = tracing::field::Empty,
            );
            let future = span.in_scope(|| self.inner.call(Request::from_parts(parts, body)));
            (future, span, None)
        };
        ResponseFuture {
            future,
            done: false,
            audit_id,
            ctx,
            span,
            log,
        }
    }
}

#[derive(Debug)]
struct Ctx {
    shared: Arc<Shared>,
    draft: Draft,
    notes: Notes,
    info: Option<RequestInfo>,
    body: Option<RequestBody>,
    method: http::Method,
    uri: http::Uri,
    content_type: Option<String>,
}

pin_project! {
    /// The response future of [`AuditService`].
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        future: F,
        done: bool,
        audit_id: AuditId,
        // Boxed: every layer outside holds this future inline and moves it.
        ctx: Option<Box<Ctx>>,
        span: tracing::Span,
        log: Option<RequestLog>,
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = Result<Response<RecordBody<ResponseBody<ResBody>>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        let _logged = this.log.as_ref().map(RequestLog::enter);
        let mut future = this.future;
        let polled = std::panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx)));
        let result = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(r)) => r,
            Err(panic) => {
                // Record the panic and answer 500, as the API server does.
                *this.done = true;
                let ctx = this.ctx.take();
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".to_owned());
                let status = Status::failure(
                    Reason::InternalError,
                    "an internal error occurred while handling the request",
                );
                if let Some(ctx) = ctx {
                    ctx.panic(&what, &status);
                }
                let res = ResponseBody::from_status_response(status.to_response());
                return Poll::Ready(Ok(res.map(|b| RecordBody::new(b, None))));
            }
        };
        *this.done = true;
        let ctx = this.ctx.take();
        let audit_id = &*this.audit_id;
        Poll::Ready(result.map(|mut res| {
            if let Some(v) = audit_id.header_value() {
                res.headers_mut().insert(AuditId::HEADER, v);
            }
            let tally = ctx.and_then(|c| c.refused(&res));
            res.map(|b| RecordBody::new(ResponseBody::inner(b), tally))
        }))
    }
}

impl Ctx {
    /// When no inner layer took the record over, the request was refused
    /// before the proxy: its records are written here.
    fn refused<B>(self, res: &Response<B>) -> Option<Tally> {
        if self.draft.lock().taken_over {
            return None;
        }
        // Outside the RequestInfo layer, what it read comes through the
        // notes; a request refused before it (unauthenticated: the body is
        // never read) has its URL read here; one whose URL cannot be read
        // (a malformed URI) is still on record, as a non-resource request.
        let info = self
            .info
            .clone()
            .or_else(|| self.notes.read(|n| RequestInfo::of(n).cloned()))
            .or_else(|| RequestInfo::parse(&self.method, &self.uri).ok())
            .unwrap_or_else(|| unparsed_info(&self.method, &self.draft.lock().request_uri));
        let info = &info;
        let body = self.body.clone().or_else(|| self.notes.get::<RequestBody>());
        let identity = self.notes.get::<Arc<Identity>>();
        let decision = self.notes.get::<Decision>();
        let failure = self.notes.get::<AuthnFailure>();
        let lvl = record::level_for(&self.shared, info, identity.as_deref());
        // Nothing heavy before authentication: a request without a verified
        // identity is recorded at Metadata, as the API server records its
        // refusals, and its body is never decoded.
        let authenticated = identity.is_some();
        let level = if authenticated {
            lvl.level.max(Level::Metadata)
        } else {
            Level::Metadata
        };
        let command = tollgate_kube::command_line(
            info,
            self.content_type.as_deref(),
            body.as_ref()
                .filter(|_| authenticated)
                .and_then(|b| b.json().ok().flatten()),
        );
        let approval = self.notes.get::<tollgate_rules::ApprovalNote>();
        let mut e = record::event(
            &self.draft.lock(),
            info,
            level,
            Stage::RequestReceived,
            record::Facts {
                identity: identity.as_deref(),
                decision: decision.as_ref(),
                failure: failure.as_ref(),
                approval: approval.as_ref(),
                command: Some(&command),
            },
        );
        if decision.is_none() && failure.is_none() && res.status().is_client_error() {
            e.annotations
                .insert("tollgate.dev/decision".to_owned(), "refused".to_owned());
        }
        if level >= Level::Request {
            record::request_object(&self.shared, info, body.as_ref(), lvl.omit_managed_fields, &mut e);
        }
        // A refusal before authentication: one record, on the bounded
        // refusal path (folded into an aggregate past its bounds).
        if let Some(f) = failure.as_ref().filter(|_| !authenticated) {
            let address = e.source_ips.last().cloned().unwrap_or_default();
            e.stage = Stage::ResponseComplete;
            e.response_status =
                Some(serde_json::json!({"metadata": {}, "status": "Failure", "code": res.status().as_u16()}));
            self.shared
                .refusals
                .record(&self.shared.recorder, &address, &f.reason, e);
            return None;
        }
        if !lvl.omits(Stage::RequestReceived) {
            self.shared.recorder.record_later(e.clone());
        }
        if lvl.omits(Stage::ResponseComplete) {
            return None;
        }
        let code = res.status().as_u16();
        Some(Tally::new(
            self.shared.clone(),
            Box::new(e),
            code,
            None,
            lvl.omit_managed_fields,
            false,
            false,
            false,
        ))
    }

    fn panic(self, what: &str, status: &Status) {
        let info = self
            .info
            .clone()
            .or_else(|| self.notes.read(|n| RequestInfo::of(n).cloned()));
        let Some(info) = info.as_ref() else {
            return;
        };
        let identity = self.notes.get::<Arc<Identity>>();
        let decision = self.notes.get::<Decision>();
        let mut e = record::event(
            &self.draft.lock(),
            info,
            Level::Metadata,
            Stage::Panic,
            record::Facts {
                identity: identity.as_deref(),
                decision: decision.as_ref(),
                ..Default::default()
            },
        );
        e.response_status = serde_json::to_value(status).ok();
        e.annotations.insert("tollgate.dev/panic".to_owned(), what.to_owned());
        self.shared.recorder.record_later(e);
    }
}

/// What a record says of a request whose URL was never read: a
/// non-resource request with the method's verb and the (already cut)
/// recorded URI's path.
fn unparsed_info(method: &http::Method, request_uri: &str) -> RequestInfo {
    let mut info = RequestInfo::default();
    info.verb = method.as_str().to_ascii_lowercase();
    info.path = request_uri.split('?').next().unwrap_or_default().to_owned();
    info
}
