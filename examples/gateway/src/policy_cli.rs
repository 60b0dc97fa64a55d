//! `tollgate policy check` and `tollgate policy test`: printing only; the
//! evaluation is `tollgate-rules`'.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use serde_json::Value;
use tollgate_kube::{RequestBody, RequestInfo};
use tollgate_oidc::{Identity, Owner};
use tollgate_rules::{PolicyStore, RequestView};

/// Validates a policy file and prints a summary.
///
/// # Errors
/// The file's problem, with file, line and field.
pub fn check(file: &Path) -> Result<(), String> {
    let p = PolicyStore::load_file(file).map_err(|e| e.to_string())?;
    let warnings = p.lint();
    for w in &warnings {
        println!("{}: warning: {w}", file.display());
    }
    println!(
        "{}: ok, {} rules, default {}{}",
        file.display(),
        p.rules.len(),
        p.default.as_str(),
        match warnings.len() {
            0 => String::new(),
            1 => ", 1 warning".to_owned(),
            n => format!(", {n} warnings"),
        }
    );
    Ok(())
}

/// The inputs of `tollgate policy test`.
#[derive(Debug, Clone)]
pub struct TestInput {
    /// The policy file.
    pub policy: PathBuf,
    /// `METHOD PATH`.
    pub request: String,
    /// The user name.
    pub user: Option<String>,
    /// Groups.
    pub groups: Vec<String>,
    /// The owner.
    pub owner: Option<String>,
    /// Claims.
    pub claims: Vec<(String, String)>,
    /// A body file.
    pub body: Option<PathBuf>,
    /// Its content type.
    pub content_type: String,
}

/// Prints the decision for one request.
///
/// # Errors
/// A bad policy, request line or body file.
pub fn test(input: &TestInput) -> Result<(), String> {
    let policy = PolicyStore::load_file(&input.policy).map_err(|e| e.to_string())?;
    let (method, uri) = input
        .request
        .trim()
        .split_once(' ')
        .ok_or("--request must be 'METHOD PATH', e.g. 'DELETE /api/v1/namespaces/prod'")?;
    let method = http::Method::from_bytes(method.as_bytes()).map_err(|e| format!("--request: {e}"))?;
    let uri: http::Uri = uri.trim().parse().map_err(|e| format!("--request: {e}"))?;
    let info = RequestInfo::parse(&method, &uri).map_err(|e| format!("--request: {e}"))?;
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
                    id.claims.insert(
                        k.clone(),
                        serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.clone())),
                    );
                }
                id
            },
        );
    let body = match &input.body {
        Some(p) => Some(RequestBody::new(
            Bytes::from(std::fs::read(p).map_err(|e| format!("--body {}: {e}", p.display()))?),
            Some(&input.content_type),
        )),
        None => None,
    };
    println!(
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
    );
    match policy.evaluate(&RequestView::new(&info, identity.as_ref(), body.as_ref())) {
        Ok(d) => {
            match &d.rule {
                Some(r) => println!("decision: {} (rule \"{r}\": {})", d.action.as_str(), d.message),
                None => println!(
                    "decision: {} (no rule matched: the policy's default)",
                    d.action.as_str()
                ),
            }
            for m in &d.matched {
                println!(
                    "matched: {} → {}{}",
                    m.name,
                    m.action.as_str(),
                    if m.dry_run { " (dry-run)" } else { "" }
                );
            }
            for w in &d.warnings {
                println!("warning: {w}");
            }
            Ok(())
        }
        Err(e) => {
            println!(
                "decision: refused ({} {}): {e}",
                e.to_status().code,
                e.to_status().reason
            );
            Ok(())
        }
    }
}
