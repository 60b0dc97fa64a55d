//! `tollgate approvals list | show ID | approve ID | deny ID`: the approvals
//! API of a running gateway, reached with a kubeconfig (its server, CA and
//! token: the approver's own identity).

use std::io::Write;
use std::path::Path;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use tollgate_approval::{API_PREFIX, Approval};
use tollgate_proxy::{Proxy, Upstream, UpstreamIdentity};
use tower::{Service, ServiceExt};

async fn call(kubeconfig: &Path, method: http::Method, path: &str, body: Option<Value>) -> Result<Value, String> {
    let up = Upstream::from_kubeconfig(kubeconfig, None).map_err(|e| e.to_string())?;
    let url = up.url().to_owned();
    // The kubeconfig's token is the caller's credential; no impersonation.
    let mut proxy = Proxy::builder(up).identity(UpstreamIdentity::Impersonate).build();
    let mut req = http::Request::builder().method(method).uri(path);
    if body.is_some() {
        req = req.header(http::header::CONTENT_TYPE, "application/json");
    }
    let req = req
        .body(Full::new(Bytes::from(body.map(|b| b.to_string()).unwrap_or_default())))
        .map_err(|e| e.to_string())?;
    let res = ServiceExt::<http::Request<Full<Bytes>>>::ready(&mut proxy)
        .await
        .map_err(|e| e.to_string())?
        .call(req)
        .await
        .map_err(|e| e.to_string())?;
    let status = res.status();
    let bytes = res.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
    let v: Value = serde_json::from_slice(&bytes)
        .map_err(|_| format!("{url}{path}: {status}: {}", String::from_utf8_lossy(&bytes)))?;
    if status.is_success() {
        Ok(v)
    } else {
        Err(format!(
            "{} ({})",
            v.get("message").and_then(Value::as_str).unwrap_or("failed"),
            status
        ))
    }
}

fn ago(t: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let s = now.saturating_sub(t);
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        _ => format!("{}h", s / 3600),
    }
}

/// Prints the approvals as a table.
///
/// # Errors
/// A message when the gateway cannot be reached or refuses.
pub async fn list(kubeconfig: &Path, state: Option<&str>, out: &mut impl Write) -> Result<(), String> {
    let path = match state {
        Some(s) => format!("{API_PREFIX}?state={s}"),
        None => API_PREFIX.to_owned(),
    };
    let v = call(kubeconfig, http::Method::GET, &path, None).await?;
    let items: Vec<Approval> = serde_json::from_value(v["items"].clone()).map_err(|e| e.to_string())?;
    if items.is_empty() {
        // The gateway lists only what the caller may see.
        return writeln!(
            out,
            "No approvals that you may see{}: requesters see their own, approvers those they may decide.",
            state.map(|s| format!(" in state {s}")).unwrap_or_default()
        )
        .map_err(|e| e.to_string());
    }
    let mut rows = vec![["ID", "STATE", "AGE", "REQUESTER", "OWNER", "RULE", "COMMAND"].map(str::to_owned)];
    for a in &items {
        rows.push([
            a.id.clone(),
            a.state.as_str().to_owned(),
            ago(a.created_at),
            a.requester.username.clone(),
            a.requester.owner.clone(),
            a.rule.clone(),
            a.request.command.clone(),
        ]);
    }
    crate::table::write(&rows, out)
}

/// Prints one approval (the request's body redacted).
///
/// # Errors
/// A message when the gateway cannot be reached or refuses.
pub async fn show(kubeconfig: &Path, id: &str, out: &mut impl Write) -> Result<(), String> {
    let v = call(kubeconfig, http::Method::GET, &format!("{API_PREFIX}/{id}"), None).await?;
    writeln!(out, "{}", serde_json::to_string_pretty(&v).unwrap_or_default()).map_err(|e| e.to_string())
}

/// Approves or denies; prints the new state.
///
/// # Errors
/// A message when the gateway refuses (not an approver, your own request,
/// no longer pending …).
pub async fn decide(
    kubeconfig: &Path,
    id: &str,
    approve: bool,
    reason: Option<&str>,
    out: &mut impl Write,
) -> Result<(), String> {
    let verb = if approve { "approve" } else { "deny" };
    let body = serde_json::json!({"reason": reason.unwrap_or("")});
    let v = call(
        kubeconfig,
        http::Method::POST,
        &format!("{API_PREFIX}/{id}/{verb}"),
        Some(body),
    )
    .await?;
    let a: Approval = serde_json::from_value(v).map_err(|e| e.to_string())?;
    writeln!(
        out,
        "approval {} is {} ({} of {} approvals): {}",
        a.id,
        a.state.as_str(),
        a.approvals.len(),
        a.approvers.count,
        a.request.command
    )
    .map_err(|e| e.to_string())
}
