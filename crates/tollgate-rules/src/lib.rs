//! Tollgate policies: command-level blocking, warnings and approval
//! decisions, one request at a time, with a reason kubectl prints.
//!
//! A policy (`apiVersion: tollgate.dev/v1alpha1`, `kind: Policy`) is a list
//! of named rules; each has a `match` (identities, verbs, resources in the
//! RBAC/audit grammar, namespaces and names as globs, non-resource URLs),
//! `when` conditions (JSONPath over the request object or the token claims,
//! query parameters, the exec command and container; `equals`, `in`,
//! `matches`, `exists`, `absent`, `gt`, `lt`), an action (`deny`, `warn`,
//! `require_approval`, `allow`) and a mode (`enforce`, `dryrun`). All
//! matching rules are found; the strongest enforced action wins (deny >
//! require_approval > warn > allow), the first in file order among equals;
//! with none, the policy's `default` (allow or deny). See
//! `docs/policies.md`.

#[cfg(feature = "cli")]
pub mod cli;
pub mod config;
mod credentials;
mod eval;
mod exec_command;
mod layer;
pub mod limits;
mod lint;
mod policy;
mod preflight;
mod store;

pub use eval::{ApprovalNote, Decision, EvalError, MatchedRule, RequestView};
pub use exec_command::exec_forms;
pub use layer::{PolicyLayer, PolicyService, ResponseFuture};
pub use lint::LintWarning;
pub use policy::{Action, ApprovalSpec, Mode, Policy, Rule, parse_policy};
pub use preflight::{Preflight, PreflightFuture, preflight_reason, with_precondition};
pub use store::PolicyStore;
