//! The waiting protocol for `require_approval` decisions: find or open the
//! approval, hold the request while it is pending (woken by the store),
//! forward it once approved, or answer 429 with `Retry-After` / 403.

use std::sync::Arc;

use serde_json::Value;
use tollgate_kube::{Identity, Reason, RequestBody, RequestInfo, Status, warning_header};
use tollgate_redact::kind_of_resource;
use tollgate_rules::{ApprovalSpec, Decision};

use crate::{Approval, Approvers, Person, RequestSummary, State, StoreError};

use super::api::store_status;
use super::future::Outcome;
use super::{Shared, new_id, now};

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
pub(super) async fn hold(
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
