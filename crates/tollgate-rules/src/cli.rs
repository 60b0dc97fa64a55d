//! `tollgate policy check` and `tollgate policy test` (feature `cli`):
//! printing only; the evaluation is the crate's.
//!
//! ```no_run
//! use clap::Parser;
//! use tollgate_rules::cli::PolicyCommand;
//!
//! #[derive(Parser)]
//! struct Cli {
//!     #[command(subcommand)]
//!     policy: PolicyCommand,
//! }
//! let cli = Cli::parse_from(["policy", "test", "--policy", "policy.yaml", "--request", "DELETE /api/v1/namespaces/prod"]);
//! cli.policy.run(&mut std::io::stdout().lock())?;
//! # Ok::<(), tollgate_rules::cli::Error>(())
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use serde_json::Value;
use tollgate_kube::{Identity, Owner, RequestBody, RequestInfo};

use crate::{PolicyStore, RequestView};

/// Why a `policy` command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The policy file is invalid (file, line, field).
    #[error(transparent)]
    Policy(#[from] tollgate_kube::ConfigError),
    /// `--request` is not `METHOD PATH`.
    #[error("--request {value:?}: {message}")]
    Request {
        /// What was given.
        value: String,
        /// Why it is refused.
        message: String,
    },
    /// The `--body` file cannot be read.
    #[error("--body {file}: {source}")]
    Body {
        /// The file.
        file: String,
        /// Why.
        source: std::io::Error,
    },
    /// The output cannot be written.
    #[error("writing the output: {0}")]
    Output(#[from] std::io::Error),
}

/// `tollgate policy`: check or try out a policy file.
#[derive(Debug, Clone, clap::Subcommand)]
#[non_exhaustive]
pub enum PolicyCommand {
    /// Validates a policy file; errors name the file, line and field.
    Check {
        /// The policy file.
        file: PathBuf,
    },
    /// Shows what a policy decides for one request, and every rule that matched.
    Test(TestInput),
}

impl PolicyCommand {
    /// Runs the command, printing to `out`.
    ///
    /// # Errors
    /// An [`Error`] naming the file or option that is wrong.
    pub fn run(&self, out: &mut impl Write) -> Result<(), Error> {
        match self {
            PolicyCommand::Check { file } => check(file, out),
            PolicyCommand::Test(input) => test(input, out),
        }
    }
}

/// Validates a policy file and prints a summary.
///
/// # Errors
/// The file's problem, with file, line and field.
pub fn check(file: &Path, out: &mut impl Write) -> Result<(), Error> {
    let p = PolicyStore::load_file(file)?;
    let warnings = p.lint();
    for w in &warnings {
        writeln!(out, "{}: warning: {w}", file.display())?;
    }
    writeln!(
        out,
        "{}: ok, {} rules, default {}{}",
        file.display(),
        p.rules.len(),
        p.default.as_str(),
        match warnings.len() {
            0 => String::new(),
            1 => ", 1 warning".to_owned(),
            n => format!(", {n} warnings"),
        }
    )?;
    Ok(())
}

/// The inputs of `tollgate policy test`.
#[derive(Debug, Clone, clap::Args)]
#[non_exhaustive]
pub struct TestInput {
    /// The policy file.
    #[arg(long)]
    pub policy: PathBuf,
    /// `METHOD PATH[?QUERY]`, e.g. 'DELETE /apis/apps/v1/namespaces/prod/deployments/web'.
    #[arg(long)]
    pub request: String,
    /// The user name.
    #[arg(long)]
    pub user: Option<String>,
    /// A group; repeatable.
    #[arg(long = "group")]
    pub groups: Vec<String>,
    /// The owner.
    #[arg(long)]
    pub owner: Option<String>,
    /// A token claim `key=value` (JSON values allowed); repeatable.
    #[arg(long = "claim", value_parser = parse_claim)]
    pub claims: Vec<(String, String)>,
    /// A file with the request body.
    #[arg(long)]
    pub body: Option<PathBuf>,
    /// The body's content type.
    #[arg(long, default_value = "application/json")]
    pub content_type: String,
}

/// A `--claim key=value` argument.
///
/// ```
/// assert_eq!(
///     tollgate_rules::cli::parse_claim("repository=acme/web"),
///     Ok(("repository".to_owned(), "acme/web".to_owned()))
/// );
/// assert!(tollgate_rules::cli::parse_claim("=x").is_err());
/// ```
///
/// # Errors
/// A message for clap when there is no `=` or the key is empty.
pub fn parse_claim(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{s:?} is not key=value"))
}

/// Prints the decision for one request.
///
/// # Errors
/// A bad policy, request line or body file.
pub fn test(input: &TestInput, out: &mut impl Write) -> Result<(), Error> {
    let policy = PolicyStore::load_file(&input.policy)?;
    let bad = |message: String| Error::Request {
        value: input.request.clone(),
        message,
    };
    let (method, uri) = input
        .request
        .trim()
        .split_once(' ')
        .ok_or_else(|| bad("use 'METHOD PATH', e.g. 'DELETE /api/v1/namespaces/prod'".to_owned()))?;
    let method = http::Method::from_bytes(method.as_bytes()).map_err(|e| bad(e.to_string()))?;
    let uri: http::Uri = uri
        .trim()
        .parse()
        .map_err(|e: http::uri::InvalidUri| bad(e.to_string()))?;
    let info = RequestInfo::parse(&method, &uri).map_err(|e| bad(e.to_string()))?;
    let identity =
        (input.user.is_some() || !input.groups.is_empty() || input.owner.is_some() || !input.claims.is_empty()).then(
            || {
                let mut id = Identity::anonymous();
                id.username = input.user.clone().unwrap_or_default();
                id.groups = input.groups.clone();
                id.owner = match &input.owner {
                    Some(o) => Owner::new(o.clone(), "", ""),
                    None => Owner::unmapped(),
                };
                for (k, v) in &input.claims {
                    std::sync::Arc::make_mut(&mut id.claims).insert(
                        k.clone(),
                        serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.clone())),
                    );
                }
                id
            },
        );
    let body = match &input.body {
        Some(p) => Some(RequestBody::new(
            Bytes::from(tollgate_kube::files::read_config(p).map_err(|source| Error::Body {
                file: p.display().to_string(),
                source,
            })?),
            Some(&input.content_type),
        )),
        None => None,
    };
    writeln!(
        out,
        "request: verb={} group={:?} resource={} namespace={:?} name={:?}",
        info.verb,
        info.api_group,
        if info.is_resource_request {
            info.resource_path()
        } else {
            info.path.clone()
        },
        info.namespace,
        info.name
    )?;
    match policy.evaluate(&RequestView::new(&info, identity.as_ref(), body.as_ref())) {
        Ok(d) => {
            match &d.rule {
                Some(r) => writeln!(out, "decision: {} (rule \"{r}\": {})", d.action.as_str(), d.message)?,
                None => writeln!(
                    out,
                    "decision: {} (no rule matched: the policy's default)",
                    d.action.as_str()
                )?,
            }
            for m in &d.matched {
                writeln!(
                    out,
                    "matched: {} → {}{}",
                    m.name,
                    m.action.as_str(),
                    if m.dry_run { " (dry-run)" } else { "" }
                )?;
            }
            for w in &d.warnings {
                writeln!(out, "warning: {w}")?;
            }
            Ok(())
        }
        Err(e) => {
            writeln!(
                out,
                "decision: refused ({} {}): {e}",
                e.to_status().code,
                e.to_status().reason
            )?;
            Ok(())
        }
    }
}
