//! `tollgate approvals list | show ID | approve ID | deny ID` (feature
//! `cli`): the approvals API of a running gateway, reached with a
//! kubeconfig (its server, CA and token: the approver's own identity).
//!
//! ```no_run
//! # async fn f() -> Result<(), tollgate_approval::cli::Error> {
//! use clap::Parser;
//! use tollgate_approval::cli::ApprovalsArgs;
//!
//! let args = ApprovalsArgs::parse_from(["approvals", "list", "--state", "pending", "--kubeconfig", "approver.kubeconfig"]);
//! args.run(&mut std::io::stdout().lock()).await?;
//! # Ok(()) }
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use serde_json::Value;
use tollgate_proxy::{Client, Upstream};

use crate::{API_PREFIX, Approval};

/// Why an `approvals` command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The kubeconfig is unusable, or the gateway cannot be reached.
    #[error(transparent)]
    Gateway(#[from] tollgate_proxy::Error),
    /// The gateway answered something that is not the approvals API.
    #[error("{url}: {status}: {body}")]
    NotApprovals {
        /// The URL asked.
        url: String,
        /// The status.
        status: http::StatusCode,
        /// The start of the body.
        body: String,
    },
    /// The gateway refused (not an approver, your own request, no longer
    /// pending …): its `Status` message.
    #[error("{message} ({status})")]
    Refused {
        /// The status.
        status: http::StatusCode,
        /// The `Status` message.
        message: String,
    },
    /// The output cannot be written.
    #[error("writing the output: {0}")]
    Output(#[from] std::io::Error),
}

/// `tollgate approvals`: its subcommand and the caller's kubeconfig.
#[derive(Debug, Clone, clap::Parser)]
#[non_exhaustive]
pub struct ApprovalsArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: ApprovalsCommand,
    /// A kubeconfig naming the gateway and your own token.
    #[arg(long, global = true, default_value = "tollgate-demo/approver.kubeconfig")]
    pub kubeconfig: PathBuf,
}

/// The `approvals` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
#[non_exhaustive]
pub enum ApprovalsCommand {
    /// The approvals, newest first.
    List {
        /// Only this state: pending, approved, denied, expired, consumed.
        #[arg(long)]
        state: Option<String>,
    },
    /// One approval, with the request it covers (body redacted).
    Show {
        /// The approval id.
        id: String,
    },
    /// Approves a request (you cannot approve your own).
    Approve {
        /// The approval id.
        id: String,
        /// Why.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Denies a request; the requester sees the reason.
    Deny {
        /// The approval id.
        id: String,
        /// Why (required).
        #[arg(long)]
        reason: String,
    },
}

impl ApprovalsArgs {
    /// Runs the command against the gateway the kubeconfig names.
    ///
    /// # Errors
    /// An [`Error`] when the gateway cannot be reached or refuses.
    pub async fn run(&self, out: &mut impl Write) -> Result<(), Error> {
        let k = &self.kubeconfig;
        match &self.command {
            ApprovalsCommand::List { state } => list(k, state.as_deref(), out).await,
            ApprovalsCommand::Show { id } => show(k, id, out).await,
            ApprovalsCommand::Approve { id, reason } => decide(k, id, true, reason.as_deref(), out).await,
            ApprovalsCommand::Deny { id, reason } => decide(k, id, false, Some(reason), out).await,
        }
    }
}

async fn call(kubeconfig: &Path, method: http::Method, path: &str, body: Option<Value>) -> Result<Value, Error> {
    // The kubeconfig's token is the caller's credential.
    let client = Client::new(Upstream::from_kubeconfig(kubeconfig, None)?);
    let url = format!("{}{path}", client.url());
    let body = body.map(|b| ("application/json", Bytes::from(b.to_string())));
    let res = client.send(method, path, body).await?;
    let Ok(v) = serde_json::from_slice::<Value>(&res.body) else {
        let body = String::from_utf8_lossy(&res.body).chars().take(200).collect();
        return Err(Error::NotApprovals {
            url,
            status: res.status,
            body,
        });
    };
    if res.status.is_success() {
        Ok(v)
    } else {
        Err(Error::Refused {
            status: res.status,
            message: v.get("message").and_then(Value::as_str).unwrap_or("failed").to_owned(),
        })
    }
}

fn malformed(e: serde_json::Error) -> Error {
    Error::NotApprovals {
        url: API_PREFIX.to_owned(),
        status: http::StatusCode::OK,
        body: e.to_string(),
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
/// An [`Error`] when the gateway cannot be reached or refuses.
pub async fn list(kubeconfig: &Path, state: Option<&str>, out: &mut impl Write) -> Result<(), Error> {
    let path = match state {
        Some(s) => format!("{API_PREFIX}?state={s}"),
        None => API_PREFIX.to_owned(),
    };
    let v = call(kubeconfig, http::Method::GET, &path, None).await?;
    let items: Vec<Approval> = serde_json::from_value(v["items"].clone()).map_err(malformed)?;
    if items.is_empty() {
        // The gateway lists only what the caller may see.
        writeln!(
            out,
            "No approvals that you may see{}: requesters see their own, approvers those they may decide.",
            state.map(|s| format!(" in state {s}")).unwrap_or_default()
        )?;
        return Ok(());
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
    Ok(tollgate_kube::table::write(&rows, out)?)
}

/// Prints one approval (the request's body redacted).
///
/// # Errors
/// An [`Error`] when the gateway cannot be reached or refuses.
pub async fn show(kubeconfig: &Path, id: &str, out: &mut impl Write) -> Result<(), Error> {
    let v = call(kubeconfig, http::Method::GET, &format!("{API_PREFIX}/{id}"), None).await?;
    Ok(writeln!(
        out,
        "{}",
        serde_json::to_string_pretty(&v).unwrap_or_default()
    )?)
}

/// Approves or denies; prints the new state.
///
/// # Errors
/// An [`Error`] when the gateway refuses (not an approver, your own request,
/// no longer pending …).
pub async fn decide(
    kubeconfig: &Path,
    id: &str,
    approve: bool,
    reason: Option<&str>,
    out: &mut impl Write,
) -> Result<(), Error> {
    let verb = if approve { "approve" } else { "deny" };
    let body = serde_json::json!({"reason": reason.unwrap_or("")});
    let v = call(
        kubeconfig,
        http::Method::POST,
        &format!("{API_PREFIX}/{id}/{verb}"),
        Some(body),
    )
    .await?;
    let a: Approval = serde_json::from_value(v).map_err(malformed)?;
    Ok(writeln!(
        out,
        "approval {} is {} ({} of {} approvals): {}",
        a.id,
        a.state.as_str(),
        a.approvals.len(),
        a.approvers.count,
        a.request.command
    )?)
}
