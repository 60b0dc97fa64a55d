//! Access reviews for Tollgate: owner-centred reports from the audit trail.
//!
//! Reviews of non-human identities are meaningless when a token maps to
//! nobody and nothing records what it did. From Tollgate's audit records
//! (owners, issuers, decisions, approvals and recordings on every one) this
//! crate builds, in **one streaming pass** with bounded memory:
//!
//! - per owner: identities with first and last seen, requests by verb and
//!   resource and by namespace, reads vs writes, refusals by rule, dry-run
//!   hits, approvals (states, approvers, waiting time) and exec/attach
//!   sessions with their recordings ([`Review`]);
//! - unaccountable activity: unmapped identities, issuers no longer
//!   configured ([`Review::check_issuers`]), owners no rule names
//!   ([`Review::check_owners`]), refused tokens by source and reason;
//! - granted vs used: RBAC objects followed as the API server's authorizer
//!   does ([`Rbac`], [`compare`]) against what each identity used, with a
//!   suggested minimal Role;
//! - the report as self-contained HTML, Markdown, JSON and CSV.
//!
//! ```no_run
//! use tollgate_review::{Filter, Rbac, Review};
//! let mut review = Review::default();
//! let skipped = review.add_log("audit/audit.log".as_ref(), &Filter::default())?;
//! let mut rbac = Rbac::default();
//! rbac.add(&serde_json::from_str(&std::fs::read_to_string("rbac.json")?)?);
//! review.compare_rbac(&rbac);
//! std::fs::write("review.html", review.to_html())?;
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! ```

#[cfg(feature = "cli")]
pub mod cli;
mod csv;
mod doc;
mod html;
mod layout;
mod markdown;
mod rbac;
mod read;
mod report;
mod selector;

pub use rbac::{Comparison, Grant, PartlyUsed, Rbac, Rule as RbacRule, Use, compare};
pub use read::Filter;
pub use report::{
    ApprovalSeen, IdentitySummary, IssuerSeen, OTHER, OwnerSummary, Review, SessionSeen, Unaccountable, refusal_cause,
};

/// Why a review could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An audit log cannot be read.
    #[error(transparent)]
    Read(#[from] tollgate_audit::ReadError),
    /// The report cannot be serialized.
    #[error("cannot write the report: {0}")]
    Json(#[from] serde_json::Error),
    /// A command-line option's value is malformed.
    #[error("{flag} {value}: {message}")]
    Argument {
        /// The option, e.g. `--since`.
        flag: &'static str,
        /// What was given.
        value: String,
        /// What is accepted.
        message: &'static str,
    },
    /// An input file (RBAC objects, a configuration) or the output file is
    /// unusable.
    #[error("{file}: {message}")]
    Input {
        /// The file.
        file: String,
        /// Why.
        message: String,
    },
    /// The report cannot be written to standard output.
    #[error("writing the report: {0}")]
    Output(#[from] std::io::Error),
}

impl Review {
    /// The report as pretty JSON (the whole structure).
    ///
    /// # Errors
    /// Only if serialization fails.
    ///
    /// ```
    /// let json = tollgate_review::Review::default().to_json()?;
    /// assert!(json.contains("\"owners\": {}"));
    /// # Ok::<_, tollgate_review::Error>(())
    /// ```
    pub fn to_json(&self) -> Result<String, Error> {
        Ok(serde_json::to_string_pretty(self)?)
    }
}
