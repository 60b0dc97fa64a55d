//! The approvals HTTP API on a path prefix of the gateway's listener.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Method, Response, StatusCode};
use http_body_util::Full;
use serde_json::{Value, json};
use tollgate_kube::{Identity, Reason, RequestBody, Status};

use crate::{Approval, Person, StoreError, Vote, check_approver};

use super::future::Outcome;
use super::{Shared, now};

fn json_response(code: StatusCode, v: &Value) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::from(serde_json::to_vec(v).unwrap_or_default())));
    *res.status_mut() = code;
    res.headers_mut()
        .insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

pub(super) fn store_status(e: &StoreError) -> Status {
    let reason = match e {
        StoreError::NotFound(_) => Reason::NotFound,
        StoreError::NotPending { .. } => Reason::Conflict,
        StoreError::SelfApproval | StoreError::NotAnApprover { .. } => Reason::Forbidden,
        StoreError::Unavailable(_) => Reason::ServiceUnavailable,
    };
    Status::failure(reason, e.to_string())
}

/// The approvals API:
/// - `GET {prefix}` (`?state=pending`) — the list;
/// - `GET {prefix}/{id}` — one approval, body redacted;
/// - `POST {prefix}/{id}/approve` (`{"reason": …}` optional);
/// - `POST {prefix}/{id}/deny` (`{"reason": …}` required).
pub(super) async fn api(
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
