//! `tollgate review`: an owner-centred access review of the audit trail.

use std::io::Write;
use std::path::PathBuf;

use tollgate_audit::{Review, parse_time, read_log};

/// What to review.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ReviewArgs {
    /// Audit log files or directories (rotated and `.gz` files too).
    pub audit: Vec<PathBuf>,
    /// Only requests since: a duration (`30d`) or an RFC 3339 time.
    pub since: Option<String>,
    /// Only requests before this RFC 3339 time.
    pub to: Option<String>,
    /// Only this owner.
    pub owner: Option<String>,
    /// `html`, `md`, `json` or `csv`.
    pub format: String,
    /// RBAC objects (YAML or JSON, e.g. `kubectl get roles,clusterroles,rolebindings,clusterrolebindings -A -o yaml`).
    pub rbac: Vec<PathBuf>,
}

/// Reads the trail in one streaming pass and writes the report.
///
/// # Errors
/// A message naming the file or option that is wrong.
pub fn review(args: &ReviewArgs, out: &mut impl Write) -> Result<(), String> {
    if !matches!(args.format.as_str(), "html" | "md" | "json" | "csv") {
        return Err(format!("--format {}: use html, md, json or csv", args.format));
    }
    let from = args
        .since
        .as_deref()
        .map(crate::sessions_cli::since_cutoff)
        .transpose()?;
    let to = args
        .to
        .as_deref()
        .map(|t| parse_time(t).ok_or_else(|| format!("--to {t:?}: use an RFC 3339 time (2026-11-27T10:00:00Z)")))
        .transpose()?;
    let mut r = Review::default();
    let mut skipped = 0usize;
    for f in crate::sessions_cli::log_files(&args.audit)? {
        for rec in read_log(&f).map_err(|e| e.to_string())? {
            let Ok(e) = rec else {
                skipped += 1;
                continue;
            };
            let t = parse_time(&e.request_received_timestamp);
            if from.is_some_and(|c| t.is_some_and(|t| t < c)) || to.is_some_and(|c| t.is_some_and(|t| t >= c)) {
                continue;
            }
            if args.owner.as_deref().is_some_and(|o| e.tollgate("owner") != Some(o)) {
                continue;
            }
            r.add(&e);
        }
    }
    if !args.rbac.is_empty() {
        let mut rbac = tollgate_audit::Rbac::default();
        for f in &args.rbac {
            let text = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
            let doc = tollgate_kube::yaml_to_json(&text).map_err(|e| format!("{}: {e}", f.display()))?;
            rbac.add(&doc);
        }
        r.compare_rbac(&rbac);
    }
    if skipped > 0 {
        eprintln!("tollgate: {skipped} line(s) were not audit records and were skipped");
    }
    let text = match args.format.as_str() {
        "json" => serde_json::to_string_pretty(&r).map_err(|e| e.to_string())?,
        "csv" => r.to_csv(),
        "html" => r.to_html(),
        _ => r.to_markdown(),
    };
    writeln!(out, "{}", text.trim_end()).map_err(|e| e.to_string())
}
