//! `tollgate review`: an owner-centred access review of the audit trail.

use std::path::{Path, PathBuf};

use tollgate_audit::parse_time;
use tollgate_review::{Filter, Rbac, Review};

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
    /// The current configuration to check issuers and owners against: a
    /// `tollgate.yaml`, an `AuthenticationConfiguration`, or an owner
    /// rules list.
    pub owners: Vec<PathBuf>,
}

/// Reads the trail in one streaming pass and returns the report.
///
/// # Errors
/// A message naming the file or option that is wrong.
pub fn review(args: &ReviewArgs) -> Result<String, String> {
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
    let mut filter = Filter::default().period(from, to);
    if let Some(o) = &args.owner {
        filter = filter.owner(o.clone());
    }
    // Inputs that are wrong are refused before the (long) pass over the trail.
    let mut rbac = Rbac::default();
    for f in &args.rbac {
        let text = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
        // JSON (`-o json`) is read as JSON: no YAML node budget for a large export.
        let doc = if text.trim_start().starts_with('{') {
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", f.display()))?
        } else {
            tollgate_kube::yaml_to_json(&text).map_err(|e| {
                let hint = if e.contains("budget") {
                    " (for a very large export, use -o json)"
                } else {
                    ""
                };
                format!("{}: {e}{hint}", f.display())
            })?
        };
        if !doc.is_object() {
            return Err(format!("{}: not a Kubernetes object or List", f.display()));
        }
        rbac.add(&doc);
    }
    let mut issuers: Option<Vec<String>> = None;
    let mut owners: Option<Vec<String>> = None;
    for f in &args.owners {
        let (i, o) = configured(f)?;
        if let Some(i) = i {
            issuers.get_or_insert_default().extend(i);
        }
        if let Some(o) = o {
            owners.get_or_insert_default().extend(o);
        }
    }
    let mut r = Review::default();
    r.keep_resource_names(rbac.resource_names());
    let mut skipped = 0;
    for f in crate::sessions_cli::log_files(&args.audit)? {
        skipped += r.add_log(&f, &filter).map_err(|e| e.to_string())?;
    }
    if !args.rbac.is_empty() {
        r.compare_rbac(&rbac);
    }
    if let Some(i) = &issuers {
        r.check_issuers(&i.iter().map(String::as_str).collect::<Vec<_>>());
    }
    if let Some(o) = &owners {
        r.check_owners(&o.iter().map(String::as_str).collect::<Vec<_>>());
    }
    if skipped > 0 {
        eprintln!("tollgate: {skipped} line(s) were not audit records and were skipped");
    }
    let text = match args.format.as_str() {
        "json" => r.to_json().map_err(|e| e.to_string())?,
        "csv" => r.to_csv(),
        "html" => r.to_html(),
        _ => r.to_markdown(),
    };
    Ok(format!("{}\n", text.trim_end()))
}

/// Issuers and owner names (each absent when the file does not say).
type Configured = (Option<Vec<String>>, Option<Vec<String>>);

/// The issuers and owner names a configuration file holds: a Tollgate
/// configuration (its `authentication.config` and `authentication.owners`),
/// an `AuthenticationConfiguration`, or an owner rules list.
fn configured(path: &Path) -> Result<Configured, String> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| format!("--owners {name}: {e}"))?;
    let doc = tollgate_kube::yaml_to_json(&text).map_err(|e| format!("--owners {name}: {e}"))?;
    let issuers_of = |text: &str, file: &str| -> Result<Vec<String>, String> {
        let a = tollgate_oidc::parse_authentication_configuration(text, file).map_err(|e| e.to_string())?;
        Ok(a.jwt.into_iter().map(|j| j.url).collect())
    };
    let owners_of = |text: &str, file: &str| -> Result<Vec<String>, String> {
        let m = tollgate_oidc::OwnerMapper::parse(text, file).map_err(|e| e.to_string())?;
        Ok(m.rules().iter().map(|r| r.owner.name.clone()).collect())
    };
    if doc.get("kind").and_then(serde_json::Value::as_str) == Some("AuthenticationConfiguration") {
        return Ok((Some(issuers_of(&text, &name)?), None));
    }
    if doc.is_array() {
        return Ok((None, Some(owners_of(&text, &name)?)));
    }
    let config = crate::Config::load(path).map_err(|e| e.to_string())?;
    let Some(a) = config.authentication else {
        return Err(format!(
            "--owners {name}: no authentication section; give a tollgate configuration, an AuthenticationConfiguration or an owner rules list"
        ));
    };
    let read = |p: &PathBuf| {
        std::fs::read_to_string(p)
            .map(|t| (t, p.display().to_string()))
            .map_err(|e| format!("{}: {e}", p.display()))
    };
    let issuers = a
        .config
        .as_ref()
        .map(|p| read(p).and_then(|(t, f)| issuers_of(&t, &f)))
        .transpose()?;
    let owners = a
        .owners
        .as_ref()
        .map(|p| read(p).and_then(|(t, f)| owners_of(&t, &f)))
        .transpose()?;
    Ok((issuers, owners))
}
