//! `tollgate approvals list | show ID | approve ID | deny ID` and
//! `tollgate whoami` (feature `cli`; also `kubectl tollgate …`): a running
//! gateway's approvals API and whoami endpoint, reached with a kubeconfig
//! resolved as kubectl resolves it (its server, CA and credentials: the
//! caller's own identity).
//!
//! ```no_run
//! # async fn f() -> Result<(), tollgate_approval::cli::Error> {
//! use clap::Parser;
//! use tollgate_approval::cli::ApprovalsArgs;
//!
//! let args = ApprovalsArgs::parse_from(["approvals", "list", "--state", "pending", "--context", "prod-approver"]);
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
    /// No `--kubeconfig`, no `$KUBECONFIG`, no home directory.
    #[error("no kubeconfig: give --kubeconfig FILE or set KUBECONFIG (as for kubectl)")]
    NoKubeconfig,
}

/// Which gateway, and as whom: resolved as kubectl resolves them —
/// `--kubeconfig`, else every file in `$KUBECONFIG`, else `~/.kube/config`;
/// `--context`, else the current context. kubectl passes a plugin no
/// kubeconfig, so `kubectl tollgate …` reads the same flags and variables
/// itself.
#[derive(Debug, Clone, Default, clap::Args)]
#[non_exhaustive]
pub struct KubeArgs {
    /// A kubeconfig naming the gateway and your own credentials (default:
    /// $KUBECONFIG, else ~/.kube/config).
    #[arg(long, global = true)]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context (default: its current context).
    #[arg(long, global = true)]
    pub context: Option<String>,
}

impl KubeArgs {
    /// The files read, in order.
    pub fn files(&self) -> Vec<PathBuf> {
        tollgate_proxy::kubeconfig_files(
            self.kubeconfig.as_deref(),
            std::env::var_os("KUBECONFIG"),
            std::env::var_os("HOME").map(PathBuf::from),
        )
    }

    /// The gateway as a client of it.
    ///
    /// # Errors
    /// No usable kubeconfig, or an unusable one (named).
    pub fn client(&self) -> Result<Client, Error> {
        let files = self.files();
        if files.is_empty() {
            return Err(Error::NoKubeconfig);
        }
        Ok(Client::new(Upstream::from_kubeconfig_files(
            &files,
            self.context.as_deref(),
        )?))
    }
}

/// How a command prints what it got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
#[non_exhaustive]
pub enum Output {
    /// For people: a table, or a description.
    #[default]
    Text,
    /// The API's JSON.
    Json,
    /// The API's object as YAML.
    Yaml,
}

/// `tollgate approvals` (also `kubectl tollgate approvals`).
#[derive(Debug, Clone, clap::Parser)]
#[non_exhaustive]
pub struct ApprovalsArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: ApprovalsCommand,
    /// Which gateway, and as whom.
    #[command(flatten)]
    pub kube: KubeArgs,
    /// text (a table or a description), json or yaml.
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

/// The `approvals` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
#[non_exhaustive]
pub enum ApprovalsCommand {
    /// The approvals you may see, newest first.
    List {
        /// Only this state: pending, approved, denied, expired, consumed.
        #[arg(long)]
        state: Option<String>,
    },
    /// One approval: the request it covers (body redacted), its votes.
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
        let client = self.kube.client()?;
        let o = self.output;
        match &self.command {
            ApprovalsCommand::List { state } => list_with(&client, state.as_deref(), o, out).await,
            ApprovalsCommand::Show { id } => show_with(&client, id, o, out).await,
            ApprovalsCommand::Approve { id, reason } => decide_with(&client, id, true, reason.as_deref(), o, out).await,
            ApprovalsCommand::Deny { id, reason } => decide_with(&client, id, false, Some(reason), o, out).await,
        }
    }
}

/// `tollgate whoami` (also `kubectl tollgate whoami`): the identity and
/// business owner the gateway sees for your credentials.
#[derive(Debug, Clone, clap::Parser)]
#[non_exhaustive]
pub struct WhoAmIArgs {
    /// Which gateway, and as whom.
    #[command(flatten)]
    pub kube: KubeArgs,
    /// text, json or yaml.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

impl WhoAmIArgs {
    /// Asks the gateway (`GET /tollgate/v1/whoami`) and prints the answer.
    ///
    /// # Errors
    /// An [`Error`] when the gateway cannot be reached or refuses.
    pub async fn run(&self, out: &mut impl Write) -> Result<(), Error> {
        let client = self.kube.client()?;
        let v = call(&client, http::Method::GET, "/tollgate/v1/whoami", None).await?;
        if self.output != Output::Text {
            return print(&v, self.output, out);
        }
        let s = |k: &str| v[k].as_str().unwrap_or("").to_owned();
        let list = |k: &str| {
            v[k].as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "))
                .unwrap_or_default()
        };
        let owner = &v["owner"];
        let owner_line = if owner["mapped"].as_bool() == Some(true) {
            let mut o = owner["name"].as_str().unwrap_or("").to_owned();
            for (k, label) in [("team", "team"), ("contact", "contact")] {
                if let Some(x) = owner[k].as_str().filter(|x| !x.is_empty()) {
                    o.push_str(&format!(", {label} {x}"));
                }
            }
            o
        } else {
            "(none: no owner rule matches this identity)".to_owned()
        };
        let mut rows = vec![
            ("Username", s("username")),
            ("Groups", list("groups")),
            ("Owner", owner_line),
            ("Issuer", s("issuer")),
            ("Subject", s("subject")),
        ];
        if !s("uid").is_empty() {
            rows.push(("UID", s("uid")));
        }
        if let Some(e) = v["expiresAt"].as_str() {
            rows.push(("Token expires", local_time_str(e)));
        }
        for (k, val) in rows {
            writeln!(out, "{:<14} {val}", format!("{k}:"))?;
        }
        Ok(())
    }
}

async fn call(client: &Client, method: http::Method, path: &str, body: Option<Value>) -> Result<Value, Error> {
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

fn print(v: &Value, o: Output, out: &mut impl Write) -> Result<(), Error> {
    match o {
        Output::Yaml => write!(out, "{}", tollgate_kube::json_to_yaml(v))?,
        _ => writeln!(out, "{}", serde_json::to_string_pretty(v).unwrap_or_default())?,
    }
    Ok(())
}

fn malformed(e: serde_json::Error) -> Error {
    Error::NotApprovals {
        url: API_PREFIX.to_owned(),
        status: http::StatusCode::OK,
        body: e.to_string(),
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn ago(t: u64) -> String {
    let s = now().saturating_sub(t);
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        _ => format!("{}h", s / 3600),
    }
}

/// RFC 3339 with the local offset (`TZ`, else `/etc/localtime`; UTC when
/// neither says).
///
/// ```
/// let t = tollgate_approval::cli::local_time(1_800_000_000);
/// assert!(t.starts_with("2027-01-15T") || t.starts_with("2027-01-14T"), "{t}");
/// ```
pub fn local_time(unix: u64) -> String {
    let secs = i64::try_from(unix).unwrap_or(i64::MAX);
    let Ok(ts) = jiff::Timestamp::from_second(secs) else {
        return unix.to_string();
    };
    let tz = jiff::tz::TimeZone::try_system().unwrap_or(jiff::tz::TimeZone::UTC);
    ts.to_zoned(tz).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
}

fn local_time_str(rfc3339: &str) -> String {
    rfc3339
        .parse::<jiff::Timestamp>()
        .ok()
        .and_then(|t| u64::try_from(t.as_second()).ok())
        .map_or_else(|| rfc3339.to_owned(), local_time)
}

/// Prints the approvals as a table (see [`ApprovalsArgs`]).
///
/// # Errors
/// An [`Error`] when the gateway cannot be reached or refuses.
pub async fn list(kubeconfig: &Path, state: Option<&str>, out: &mut impl Write) -> Result<(), Error> {
    let client = Client::new(Upstream::from_kubeconfig(kubeconfig, None)?);
    list_with(&client, state, Output::Text, out).await
}

async fn list_with(client: &Client, state: Option<&str>, o: Output, out: &mut impl Write) -> Result<(), Error> {
    let path = match state {
        Some(s) => format!("{API_PREFIX}?state={s}"),
        None => API_PREFIX.to_owned(),
    };
    let v = call(client, http::Method::GET, &path, None).await?;
    if o != Output::Text {
        return print(&v, o, out);
    }
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

/// Prints one approval for a person (see [`ApprovalsArgs`]).
///
/// # Errors
/// An [`Error`] when the gateway cannot be reached or refuses.
pub async fn show(kubeconfig: &Path, id: &str, out: &mut impl Write) -> Result<(), Error> {
    let client = Client::new(Upstream::from_kubeconfig(kubeconfig, None)?);
    show_with(&client, id, Output::Text, out).await
}

async fn show_with(client: &Client, id: &str, o: Output, out: &mut impl Write) -> Result<(), Error> {
    let v = call(client, http::Method::GET, &format!("{API_PREFIX}/{id}"), None).await?;
    if o != Output::Text {
        return print(&v, o, out);
    }
    let a: Approval = serde_json::from_value(v).map_err(malformed)?;
    describe(&a, out)
}

/// A person's view of one approval: local times, the kubectl command, the
/// redacted body as YAML, the votes.
///
/// # Errors
/// When `out` cannot be written.
pub fn describe(a: &Approval, out: &mut impl Write) -> Result<(), Error> {
    let field = |out: &mut dyn Write, k: &str, v: &str| writeln!(out, "{:<13} {v}", format!("{k}:"));
    field(out, "Approval", &a.id)?;
    let votes = format!(
        "{} ({} of {} approval{})",
        a.state.as_str(),
        a.approvals.len(),
        a.approvers.count,
        if a.approvers.count == 1 { "" } else { "s" }
    );
    field(out, "State", &votes)?;
    let owner = if a.requester.owner.is_empty() {
        String::new()
    } else {
        format!(" (owner {})", a.requester.owner)
    };
    field(out, "Requester", &format!("{}{owner}", a.requester.username))?;
    field(
        out,
        "Requested",
        &format!("{} ({} ago)", local_time(a.created_at), ago(a.created_at)),
    )?;
    field(out, "Waits until", &local_time(a.pending_until))?;
    field(out, "Rule", &format!("{}: {}", a.rule, a.message))?;
    field(out, "Approvers", &a.approvers.describe())?;
    field(out, "Command", &a.request.command)?;
    field(
        out,
        "Request",
        &format!("{} {}", a.request.verb.to_uppercase(), a.request.request_uri),
    )?;
    if let Some(until) = a.grant_until {
        let uses = format!("{} use{} left", a.uses_left, if a.uses_left == 1 { "" } else { "s" });
        field(out, "Grant", &format!("until {} ({uses})", local_time(until)))?;
    }
    if a.approvals.is_empty() && a.denial.is_none() {
        field(out, "Votes", "none yet")?;
    } else {
        writeln!(out, "Votes:")?;
        for v in &a.approvals {
            writeln!(
                out,
                "  approved by {} at {}: {:?}",
                v.by.username,
                local_time(v.at),
                v.reason
            )?;
        }
        if let Some(v) = &a.denial {
            writeln!(
                out,
                "  denied by {} at {}: {:?}",
                v.by.username,
                local_time(v.at),
                v.reason
            )?;
        }
    }
    match (&a.request.body, &a.request.body_omitted) {
        (Some(body), _) => {
            writeln!(out, "Body (redacted):")?;
            for line in tollgate_kube::json_to_yaml(body).lines() {
                writeln!(out, "  {line}")?;
            }
        }
        (None, Some(why)) => field(out, "Body", &format!("not kept: {why}"))?,
        (None, None) => {}
    }
    if !a.request.body_sha256.is_empty() {
        field(out, "Body SHA-256", &a.request.body_sha256)?;
    }
    Ok(())
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
    let client = Client::new(Upstream::from_kubeconfig(kubeconfig, None)?);
    decide_with(&client, id, approve, reason, Output::Text, out).await
}

async fn decide_with(
    client: &Client,
    id: &str,
    approve: bool,
    reason: Option<&str>,
    o: Output,
    out: &mut impl Write,
) -> Result<(), Error> {
    let verb = if approve { "approve" } else { "deny" };
    let body = serde_json::json!({"reason": reason.unwrap_or("")});
    let v = call(
        client,
        http::Method::POST,
        &format!("{API_PREFIX}/{id}/{verb}"),
        Some(body),
    )
    .await?;
    if o != Output::Text {
        return print(&v, o, out);
    }
    let a: Approval = serde_json::from_value(v).map_err(malformed)?;
    Ok(writeln!(
        out,
        "approval {} is {} ({} of {} approval{}): {}",
        a.id,
        a.state.as_str(),
        a.approvals.len(),
        a.approvers.count,
        if a.approvers.count == 1 { "" } else { "s" },
        a.request.command
    )?)
}
