//! `ApprovalLayer`: acts on the policy's `require_approval` decisions —
//! forwards a request its approval covers (once), holds one still pending
//! (woken by the store), then answers 429 with `Retry-After` so kubectl and
//! client-go retry by themselves — and serves the approvals HTTP API on a
//! path prefix of the gateway's own listener.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use pin_project_lite::pin_project;
use serde_json::{Value, json};
use tollgate_kube::{Reason, RequestBody, RequestInfo, ResponseBody, Status, note, warning_header};
use tollgate_oidc::Identity;
use tollgate_redact::{Redactor, kind_of_resource};
use tollgate_rules::{Action, ApprovalNote, ApprovalSpec, Decision};
use tower_service::Service;

use crate::{Approval, ApprovalStore, Approvers, Person, RequestSummary, State, StoreError, Vote, check_approver};

/// The default API prefix on the gateway's listener.
pub const API_PREFIX: &str = "/tollgate/v1/approvals";

#[derive(Debug)]
struct Shared {
    store: Arc<dyn ApprovalStore>,
    redactor: Redactor,
    prefix: String,
    /// How approvers are told to approve: `{id}` is replaced.
    approve_hint: String,
    /// Overrides every rule's hold (tests, demos).
    hold: Option<Duration>,
    /// Whether the layer acts at all.
    enabled: bool,
    /// Who hears of new requests and decisions.
    notifier: Arc<dyn crate::Notifier>,
}

/// Holds requests for approval and serves the approvals API.
///
/// ```
/// use std::sync::Arc;
/// use tollgate_approval::{ApprovalLayer, MemoryStore};
/// let layer = ApprovalLayer::new(Arc::new(MemoryStore::default()));
/// # let _ = layer;
/// ```
#[derive(Debug, Clone)]
pub struct ApprovalLayer {
    shared: Arc<Shared>,
}

impl ApprovalLayer {
    /// Approvals kept in `store`.
    pub fn new(store: Arc<dyn ApprovalStore>) -> Self {
        ApprovalLayer {
            shared: Arc::new(Shared {
                store,
                redactor: Redactor::builder()
                    .build()
                    .unwrap_or_else(|e| unreachable!("the default redactor compiles: {e}")),
                prefix: API_PREFIX.to_owned(),
                approve_hint: "tollgate approvals approve {id}".to_owned(),
                hold: None,
                enabled: true,
                notifier: Arc::new(()),
            }),
        }
    }

    /// A layer that lets everything through and serves no API (a gateway
    /// without the approval workflow; its policy refuses
    /// `require_approval` requests itself).
    pub fn disabled() -> Self {
        ApprovalLayer::new(Arc::new(crate::MemoryStore::default())).edit(|s| s.enabled = false)
    }

    fn edit(mut self, f: impl FnOnce(&mut Shared)) -> Self {
        if let Some(s) = Arc::get_mut(&mut self.shared) {
            f(s);
        }
        self
    }

    /// The command approvers are told to run (`{id}` is replaced).
    pub fn approve_hint(self, hint: impl Into<String>) -> Self {
        let hint = hint.into();
        self.edit(|s| s.approve_hint = hint)
    }

    /// Tells `n` of new requests and decisions.
    pub fn notifier(self, n: impl crate::Notifier) -> Self {
        let n: Arc<dyn crate::Notifier> = Arc::new(n);
        self.edit(|s| s.notifier = n)
    }

    /// Holds every request this long, whatever its rule says.
    pub fn hold(self, d: Duration) -> Self {
        self.edit(|s| s.hold = Some(d))
    }

    /// The store.
    pub fn store(&self) -> Arc<dyn ApprovalStore> {
        self.shared.store.clone()
    }
}

impl<S> tower_layer::Layer<S> for ApprovalLayer {
    type Service = ApprovalService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ApprovalService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// See [`ApprovalLayer`].
#[derive(Debug, Clone)]
pub struct ApprovalService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> ApprovalService<S> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// What the approval check decided.
enum Outcome {
    Forward(ApprovalNote),
    Answer(Response<Full<Bytes>>),
}

type Check = Pin<Box<dyn Future<Output = Outcome> + Send>>;

pin_project! {
    /// The response future of [`ApprovalService`].
    pub struct ResponseFuture<S, B>
    where
        S: Service<Request<B>>,
    {
        #[pin]
        state: St<S, B>,
    }
}

pin_project! {
    #[project = StProj]
    enum St<S, B>
    where
        S: Service<Request<B>>,
    {
        Checking { check: Check, request: Option<Request<B>>, service: Option<S> },
        Calling { #[pin] future: S::Future },
    }
}

impl<S: Service<Request<B>>, B> std::fmt::Debug for ResponseFuture<S, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

/// Seconds since the epoch.
pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn new_id() -> String {
    let mut b = [0u8; 8];
    let _ = aws_lc_rs::rand::fill(&mut b);
    format!("apr-{}", b.iter().map(|x| format!("{x:02x}")).collect::<String>())
}

fn json_response(code: StatusCode, v: &Value) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::from(serde_json::to_vec(v).unwrap_or_default())));
    *res.status_mut() = code;
    res.headers_mut()
        .insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

fn store_status(e: &StoreError) -> Status {
    let reason = match e {
        StoreError::NotFound(_) => Reason::NotFound,
        StoreError::NotPending { .. } => Reason::Conflict,
        StoreError::SelfApproval | StoreError::NotAnApprover { .. } => Reason::Forbidden,
        StoreError::Unavailable(_) => Reason::ServiceUnavailable,
    };
    Status::failure(reason, e.to_string())
}

impl<S, B, ResBody> Service<Request<B>> for ApprovalService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    B: Send + 'static,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        if !shared.enabled {
            let mut inner = inner;
            return ResponseFuture {
                state: St::Calling {
                    future: inner.call(req),
                },
            };
        }
        let path = req.uri().path();
        if path == shared.prefix || path.starts_with(&format!("{}/", shared.prefix)) {
            let check: Check = Box::pin(api(
                shared,
                req.extensions().get::<tollgate_kube::Notes>().cloned(),
                req.method().clone(),
                path.to_owned(),
                req.uri().query().map(str::to_owned),
                req.extensions().get::<Identity>().cloned(),
                req.extensions().get::<RequestBody>().cloned(),
            ));
            return ResponseFuture {
                state: St::Checking {
                    check,
                    request: None,
                    service: None,
                },
            };
        }
        let decision = req.extensions().get::<Decision>();
        // Which requests need an approval is the policy's decision; without
        // PolicyLayer in front there is none, and nothing is let through.
        if decision.is_none() {
            let res = missing_policy_layer().to_response();
            return ResponseFuture {
                state: St::Checking {
                    check: Box::pin(async move { Outcome::Answer(res) }),
                    request: None,
                    service: None,
                },
            };
        }
        let spec = match decision {
            Some(d) if d.action == Action::RequireApproval => d.approval.clone(),
            _ => None,
        };
        let (Some(spec), Some(d)) = (spec, decision.cloned()) else {
            let mut inner = inner;
            return ResponseFuture {
                state: St::Calling {
                    future: inner.call(req),
                },
            };
        };
        let check: Check = Box::pin(hold(
            shared,
            req.extensions().get::<tollgate_kube::Notes>().cloned(),
            d,
            spec,
            req.extensions().get::<Identity>().cloned(),
            req.extensions().get::<RequestInfo>().cloned(),
            req.extensions().get::<RequestBody>().cloned(),
            req.uri().to_string(),
            req.headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        ));
        ResponseFuture {
            state: St::Checking {
                check,
                request: Some(req),
                service: Some(inner),
            },
        }
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
                StProj::Checking {
                    check,
                    request,
                    service,
                } => match ready!(check.as_mut().poll(cx)) {
                    Outcome::Answer(res) => return Poll::Ready(Ok(ResponseBody::from_status_response(res))),
                    Outcome::Forward(n) => {
                        let (Some(mut req), Some(mut svc)) = (request.take(), service.take()) else {
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

/// The message every answer about an approval carries.
fn explain(shared: &Shared, d: &Decision, a: &Approval) -> String {
    let rule = d.rule.as_deref().unwrap_or("?");
    let head = format!("approval required by Tollgate rule \"{rule}\": {}", d.message);
    let hint = shared.approve_hint.replace("{id}", &a.id);
    match a.state {
        State::Denied => {
            let (by, why) = a.denial.as_ref().map_or(("?".to_owned(), String::new()), |v| {
                (v.by.username.clone(), v.reason.clone())
            });
            format!("{head}. Approval {} was denied by {by}: {why}", a.id)
        }
        _ => format!(
            "{head}. Approval {} is pending: {} must approve it ({hint}); {}",
            a.id,
            a.approvers.describe(),
            if d.approval.as_ref().is_some_and(|x| x.deny_while_pending) {
                "run the command again once it is approved"
            } else {
                "the request is retried until then"
            }
        ),
    }
}

#[allow(clippy::too_many_arguments)]
async fn hold(
    shared: Arc<Shared>,
    notes: Option<tollgate_kube::Notes>,
    d: Decision,
    spec: ApprovalSpec,
    id: Option<Identity>,
    info: Option<RequestInfo>,
    body: Option<RequestBody>,
    uri: String,
    content_type: Option<String>,
) -> Outcome {
    let (Some(id), Some(info)) = (id, info) else {
        return Outcome::Answer(
            Status::failure(
                Reason::Forbidden,
                "an approval needs an authenticated identity and a parsed request",
            )
            .to_response(),
        );
    };
    let fp = crate::fingerprint(&id, &info, body.as_ref());
    let store = &shared.store;
    let unavailable = |e: StoreError| {
        tracing::error!(error = %e, "approval store");
        Outcome::Answer(store_status(&e).to_response())
    };
    let forward = |a: &Approval| Outcome::Forward(a.note("approved"));
    match store.consume(&fp, now()).await {
        Ok(Some(a)) => return forward(&a),
        Ok(None) => {}
        Err(e) => return unavailable(e),
    }
    let t = now();
    match store.list(t).await {
        Ok(all) => {
            let mine = all
                .iter()
                .filter(|a| a.state == State::Pending && a.requester.username == id.username)
                .collect::<Vec<_>>();
            if mine.len() >= crate::MAX_PENDING_PER_REQUESTER && !mine.iter().any(|a| a.fingerprint == fp) {
                // No Retry-After: kubectl would retry for minutes.
                let st = Status::failure(
                    Reason::TooManyRequests,
                    format!(
                        "{} has {} approvals pending, Tollgate's limit: wait for them to be decided or to expire",
                        id.username,
                        mine.len()
                    ),
                );
                return Outcome::Answer(st.to_response());
            }
        }
        Err(e) => return unavailable(e),
    }
    let (request_body, body_sha256, body_omitted) = stored_body(&shared, &info, body.as_ref());
    let new_id = new_id();
    let new = Approval {
        id: new_id.clone(),
        fingerprint: fp.clone(),
        state: State::Pending,
        rule: d.rule.clone().unwrap_or_default(),
        message: d.message.clone(),
        requester: Person::of(&id),
        request: RequestSummary {
            verb: info.verb.clone(),
            request_uri: uri,
            namespace: info.namespace.clone(),
            resource: info.resource_path(),
            name: info.name.clone(),
            command: tollgate_kube::command_line(
                &info,
                content_type.as_deref(),
                body.as_ref().and_then(|b| b.json().ok().flatten()),
            ),
            body: request_body,
            body_sha256,
            body_omitted,
        },
        approvers: Approvers::of(&spec),
        approvals: Vec::new(),
        denial: None,
        created_at: t,
        pending_until: t + spec.pending_ttl.as_secs(),
        grant_seconds: spec.grant_ttl.as_secs(),
        grant_until: None,
        uses_left: spec.uses,
    };
    let mut a = match store.request(new, t).await {
        Ok(a) => a,
        Err(e) => return unavailable(e),
    };
    if a.id == new_id {
        shared.notifier.notify(crate::NotifyEvent::Requested, &a);
    }
    // `mode: deny` answers at once: its tools do not retry, so holding
    // them only delays the answer that names the approval.
    if a.state == State::Pending && !spec.deny_while_pending {
        tracing::info!(
            approval = %a.id,
            rule = %a.rule,
            user = %a.requester.username,
            command = %a.request.command,
            approve = %shared.approve_hint.replace("{id}", &a.id),
            "request held for approval"
        );
        let hold = shared.hold.unwrap_or(spec.hold);
        match store.wait(&a.id, hold).await {
            Ok(Some(now_a)) => a = now_a,
            Ok(None) => {}
            Err(e) => return unavailable(e),
        }
    }
    let state = a.state_at(now());
    if let Some(n) = &notes {
        // For the record of a request that is held or refused.
        n.insert(a.note(state.as_str()));
    }
    match state {
        State::Approved => match store.consume(&fp, now()).await {
            Ok(Some(a)) => forward(&a),
            Ok(None) => pending(&shared, &d, &spec, &a),
            Err(e) => unavailable(e),
        },
        State::Denied => Outcome::Answer(Status::failure(Reason::Forbidden, explain(&shared, &d, &a)).to_response()),
        _ => pending(&shared, &d, &spec, &a),
    }
}

/// Still pending: 429 with `Retry-After` (client-go and kubectl retry),
/// or 403 for rules that ask for it; with a Warning kubectl prints.
fn pending(shared: &Shared, d: &Decision, spec: &ApprovalSpec, a: &Approval) -> Outcome {
    let message = explain(shared, d, a);
    let status = if spec.deny_while_pending {
        Status::failure(Reason::Forbidden, message.clone())
    } else {
        Status::failure(Reason::TooManyRequests, message.clone()).with_retry_after(1)
    };
    let mut res = status.to_response();
    res.headers_mut()
        .append(tollgate_kube::WARNING, warning_header(&message));
    Outcome::Answer(res)
}

/// The approvals API:
/// - `GET {prefix}` (`?state=pending`) — the list;
/// - `GET {prefix}/{id}` — one approval, body redacted;
/// - `POST {prefix}/{id}/approve` (`{"reason": …}` optional);
/// - `POST {prefix}/{id}/deny` (`{"reason": …}` required).
async fn api(
    shared: Arc<Shared>,
    notes: Option<tollgate_kube::Notes>,
    method: Method,
    path: String,
    query: Option<String>,
    who: Option<Identity>,
    body: Option<RequestBody>,
) -> Outcome {
    let answer = |s: Status| Outcome::Answer(s.to_response());
    let Some(who) = who.filter(|w| !w.issuer.is_empty()) else {
        return answer(
            Status::failure(Reason::Unauthorized, "the approvals API needs a verified token").with_retry_after(0),
        );
    };
    let rest = path[shared.prefix.len()..].trim_start_matches('/');
    let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
    let store = &shared.store;
    let reason = body
        .as_ref()
        .and_then(|b| b.json().ok().flatten())
        .and_then(|v| v.get("reason").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_default();
    match (method, parts.as_slice()) {
        (Method::GET, []) => {
            let want = query
                .as_deref()
                .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("state=")))
                .map(str::to_owned);
            let me = Person::of(&who);
            match store.list(now()).await {
                Ok(all) => {
                    // A requester sees their own; an approver those they
                    // may decide; nobody sees anyone else's.
                    let items: Vec<&Approval> = all
                        .iter()
                        .filter(|a| want.as_deref().is_none_or(|w| a.state.as_str() == w))
                        .filter(|a| may_see(a, &me))
                        .collect();
                    Outcome::Answer(json_response(
                        StatusCode::OK,
                        &json!({"kind": "ApprovalList", "items": items}),
                    ))
                }
                Err(e) => answer(store_status(&e)),
            }
        }
        (Method::GET, [id]) => match store.get(id, now()).await {
            Ok(Some(a)) if may_see(&a, &Person::of(&who)) => Outcome::Answer(json_response(
                StatusCode::OK,
                &serde_json::to_value(&a).unwrap_or_default(),
            )),
            Ok(Some(_)) => answer(Status::failure(
                Reason::Forbidden,
                format!(
                    "approval {id} is neither yours nor one you may decide: {} may not see it",
                    who.username
                ),
            )),
            Ok(None) => answer(store_status(&StoreError::NotFound((*id).to_owned()))),
            Err(e) => answer(store_status(&e)),
        },
        (Method::POST, [id, verb @ ("approve" | "deny")]) => {
            let approve = *verb == "approve";
            if !approve && reason.trim().is_empty() {
                return answer(Status::failure(
                    Reason::BadRequest,
                    "a denial needs a reason: {\"reason\": \"…\"}",
                ));
            }
            let a = match store.get(id, now()).await {
                Ok(Some(a)) => a,
                Ok(None) => return answer(store_status(&StoreError::NotFound((*id).to_owned()))),
                Err(e) => return answer(store_status(&e)),
            };
            let me = Person::of(&who);
            if let Err(e) = check_approver(&a, &me) {
                return answer(store_status(&e));
            }
            match store.decide(id, Vote::new(me, now(), reason), approve, now()).await {
                Ok(a) => {
                    tracing::info!(approval = %a.id, by = %who.username, decision = %verb, state = a.state.as_str(), "approval decided");
                    if let Some(n) = &notes {
                        // The record of the decision names who made it.
                        let mut note = a.note(a.state.as_str());
                        note.approvers = vec![who.username.clone()];
                        if approve {
                            note.reason = a.approvals.last().map(|v| v.reason.clone()).unwrap_or_default();
                        }
                        n.insert(note);
                    }
                    let event = if approve {
                        crate::NotifyEvent::Approved
                    } else {
                        crate::NotifyEvent::Denied
                    };
                    shared.notifier.notify(event, &a);
                    Outcome::Answer(json_response(
                        StatusCode::OK,
                        &serde_json::to_value(&a).unwrap_or_default(),
                    ))
                }
                Err(e) => answer(store_status(&e)),
            }
        }
        _ => answer(Status::failure(
            Reason::NotFound,
            format!(
                "no such approvals API call: use GET {p}, GET {p}/ID, POST {p}/ID/approve or POST {p}/ID/deny",
                p = shared.prefix
            ),
        )),
    }
}

/// Whether `me` may see `a`: its requester, or someone who may decide it.
fn may_see(a: &Approval, me: &Person) -> bool {
    me.same(&a.requester) || check_approver(a, me).is_ok()
}

/// The body an approval keeps: redacted, at most
/// [`MAX_STORED_BODY_BYTES`](crate::MAX_STORED_BODY_BYTES) of it, with the
/// SHA-256 of the bytes as sent.
fn stored_body(
    shared: &Shared,
    info: &RequestInfo,
    body: Option<&RequestBody>,
) -> (Option<Value>, String, Option<String>) {
    let Some(body) = body.filter(|b| !b.is_empty()) else {
        return (None, String::new(), None);
    };
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, body.bytes());
    let sha = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect::<String>();
    let Some(mut v) = body.json().ok().flatten().cloned() else {
        return (
            None,
            sha,
            Some(format!("{} bytes that are not JSON", body.bytes().len())),
        );
    };
    // The same functions the audit record uses: a JSON patch's values are
    // masked by where they land.
    let kind = kind_of_resource(&info.resource, &info.subresource);
    if body.format() == tollgate_kube::BodyFormat::JsonPatch {
        shared.redactor.redact_json_patch(&mut v, kind);
    } else {
        shared.redactor.redact_as(&mut v, kind);
    }
    let size = serde_json::to_vec(&v).map_or(usize::MAX, |b| b.len());
    if size > crate::MAX_STORED_BODY_BYTES {
        return (
            None,
            sha,
            Some(format!("{size} bytes, over {} kept", crate::MAX_STORED_BODY_BYTES)),
        );
    }
    (Some(v), sha, None)
}

/// The refusal when `PolicyLayer` is not in front: a 500 naming it (logged
/// once per process), never a silent allow.
fn missing_policy_layer() -> Status {
    static LOGGED: std::sync::Once = std::sync::Once::new();
    let message = "ApprovalLayer needs PolicyLayer in front of it: the request has no Decision in its extensions, so whether it needs an approval is unknown";
    LOGGED.call_once(|| tracing::error!("{message}"));
    Status::failure(Reason::InternalError, message)
}
