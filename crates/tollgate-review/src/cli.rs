//! `tollgate review` (feature `cli`): an owner-centred access review of the
//! audit trail, from the command line's arguments.
//!
//! ```no_run
//! use clap::Parser;
//! use tollgate_review::cli::ReviewArgs;
//!
//! let args = ReviewArgs::parse_from(["review", "--audit", "audit/", "--since", "30d", "--format", "html", "--out", "review.html"]);
//! args.run()?;
//! # Ok::<(), tollgate_review::Error>(())
//! ```

use std::path::{Path, PathBuf};

use tollgate_audit::{log_files, parse_time, since};

use crate::{Error, Filter, Rbac, Review};

/// What to review, and where the report goes.
#[derive(Debug, Clone, Default, clap::Parser)]
#[non_exhaustive]
pub struct ReviewArgs {
    /// Audit log files or directories (rotated and .gz files too).
    #[arg(long, required = true)]
    pub audit: Vec<PathBuf>,
    /// Only since: a duration (30d, 12h, 1h30m) or an RFC 3339 time.
    #[arg(long, visible_alias = "from")]
    pub since: Option<String>,
    /// Only before this RFC 3339 time.
    #[arg(long)]
    pub to: Option<String>,
    /// Only this owner.
    #[arg(long)]
    pub owner: Option<String>,
    /// html, md, json or csv.
    #[arg(long, default_value = "md")]
    pub format: String,
    /// Write here instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// RBAC objects to compare with what was used (YAML or JSON, e.g.
    /// `kubectl get roles,clusterroles,rolebindings,clusterrolebindings -A -o yaml`; repeatable).
    #[arg(long)]
    pub rbac: Vec<PathBuf>,
    /// The current configuration (tollgate.yaml, an AuthenticationConfiguration
    /// or an owner rules list; repeatable): flags issuers no longer configured
    /// and owners no rule names.
    #[arg(long)]
    pub owners: Vec<PathBuf>,
}

impl ReviewArgs {
    /// Makes the report and writes it to `--out` (only once it is whole)
    /// or standard output.
    ///
    /// # Errors
    /// An [`Error`] naming the file or option that is wrong.
    pub fn run(&self) -> Result<(), Error> {
        let text = review(self)?;
        match &self.out {
            Some(path) => std::fs::write(path, text).map_err(|e| Error::Input {
                file: path.display().to_string(),
                message: e.to_string(),
            }),
            None => Ok(std::io::Write::write_all(
                &mut std::io::stdout().lock(),
                text.as_bytes(),
            )?),
        }
    }
}

fn input(file: &Path, message: impl std::fmt::Display) -> Error {
    Error::Input {
        file: file.display().to_string(),
        message: message.to_string(),
    }
}

/// Reads the trail in one streaming pass and returns the report.
///
/// # Errors
/// An [`Error`] naming the file or option that is wrong.
pub fn review(args: &ReviewArgs) -> Result<String, Error> {
    let argument = |flag, value: &str, message| Error::Argument {
        flag,
        value: value.to_owned(),
        message,
    };
    if !matches!(args.format.as_str(), "html" | "md" | "json" | "csv") {
        return Err(argument("--format", &args.format, "use html, md, json or csv"));
    }
    let from = args
        .since
        .as_deref()
        .map(|s| {
            since(s).ok_or_else(|| {
                argument(
                    "--since",
                    s,
                    "use a duration (30m, 2h, 1h30m, 7d) or an RFC 3339 time (2026-11-27T10:00:00Z, 2026-11-27T11:00:00+01:00)",
                )
            })
        })
        .transpose()?;
    let to = args
        .to
        .as_deref()
        .map(|t| parse_time(t).ok_or_else(|| argument("--to", t, "use an RFC 3339 time (2026-11-27T10:00:00Z)")))
        .transpose()?;
    let mut filter = Filter::default().period(from, to);
    if let Some(o) = &args.owner {
        filter = filter.owner(o.clone());
    }
    // Inputs that are wrong are refused before the (long) pass over the trail.
    let mut rbac = Rbac::default();
    for f in &args.rbac {
        let text =
            tollgate_kube::files::read_to_string(f, tollgate_kube::files::MAX_EXPORT_BYTES).map_err(|e| input(f, e))?;
        // JSON (`-o json`) is read as JSON: no YAML node budget for a large export.
        let doc = if text.trim_start().starts_with('{') {
            serde_json::from_str(&text).map_err(|e| input(f, e))?
        } else {
            tollgate_kube::yaml_to_json(&text).map_err(|e| {
                let hint = if matches!(e, tollgate_kube::Error::InvalidYaml { over_budget: true, .. }) {
                    " (for a very large export, use -o json)"
                } else {
                    ""
                };
                input(f, format!("{e}{hint}"))
            })?
        };
        if !doc.is_object() {
            return Err(input(f, "not a Kubernetes object or List"));
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
    let files = log_files(&args.audit)?;
    let shown = || {
        args.audit
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if files.is_empty() {
        return Err(Error::Input {
            file: shown(),
            message: "no audit log (*.log, *.log.gz) there: nothing to review".to_owned(),
        });
    }
    let mut progress = tollgate_audit::Progress::new(files.len());
    for f in &files {
        progress.file(f);
        skipped += r.add_log_counted(f, &filter, &mut progress)?;
    }
    progress.finish();
    if progress.records() == 0 {
        return Err(Error::Input {
            file: shown(),
            message: "holds no audit records: nothing to review (is it the right path?)".to_owned(),
        });
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
        "json" => r.to_json()?,
        "csv" => r.to_csv(),
        "html" => r.to_html(),
        _ => r.to_markdown(),
    };
    Ok(format!("{}\n", text.trim_end()))
}

/// Issuers and owner names (each absent when the file does not say).
type Configured = (Option<Vec<String>>, Option<Vec<String>>);

/// The issuers and owner names a configuration file holds: a Tollgate
/// configuration (the files its `authentication.config` and
/// `authentication.owners` name, relative to it), an
/// `AuthenticationConfiguration`, or an owner rules list.
fn configured(path: &Path) -> Result<Configured, Error> {
    let name = path.display().to_string();
    let read = |p: &Path| tollgate_kube::files::read_config_text(p).map_err(|e| input(p, format!("--owners: {e}")));
    let issuers_of = |text: &str, file: &str| -> Result<Vec<String>, Error> {
        let a = tollgate_oidc::parse_authentication_configuration(text, file).map_err(|e| input(path, e))?;
        Ok(a.jwt.into_iter().map(|j| j.url).collect())
    };
    let owners_of = |text: &str, file: &str| -> Result<Vec<String>, Error> {
        let m = tollgate_oidc::OwnerMapper::parse(text, file).map_err(|e| input(path, e))?;
        Ok(m.rules().iter().map(|r| r.owner.name.clone()).collect())
    };
    let text = read(path)?;
    let doc = tollgate_kube::yaml_to_json(&text).map_err(|e| input(path, format!("--owners: {e}")))?;
    if doc.get("kind").and_then(serde_json::Value::as_str) == Some("AuthenticationConfiguration") {
        return Ok((Some(issuers_of(&text, &name)?), None));
    }
    if doc.is_array() {
        return Ok((None, Some(owners_of(&text, &name)?)));
    }
    let Some(authn) = doc.get("authentication").filter(|a| a.is_object()) else {
        return Err(input(
            path,
            "--owners: no authentication section; give a tollgate configuration, an AuthenticationConfiguration or an owner rules list",
        ));
    };
    // Paths in a tollgate configuration are relative to its directory.
    let dir = path.parent().unwrap_or(Path::new("."));
    let named = |field: &str| {
        authn
            .get(field)
            .and_then(serde_json::Value::as_str)
            .map(|p| dir.join(p))
    };
    let issuers = named("config")
        .map(|p| read(&p).and_then(|t| issuers_of(&t, &p.display().to_string())))
        .transpose()?;
    let owners = named("owners")
        .map(|p| read(&p).and_then(|t| owners_of(&t, &p.display().to_string())))
        .transpose()?;
    Ok((issuers, owners))
}
