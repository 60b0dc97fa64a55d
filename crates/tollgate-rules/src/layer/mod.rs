//! `PolicyLayer`: evaluates the policy for every request.
//!
//! - deny → 403 `Forbidden` whose message names the rule:
//!   `pods "web-0" is forbidden: blocked by Tollgate rule "no-exec-rm": …`;
//! - warn (and dry-run hits) → `Warning: 299 - "…"` headers kubectl prints;
//! - require_approval → a [`Decision`](crate::Decision) in the extensions
//!   for the approval layer; without one in the stack the request is
//!   refused (fail closed);
//! - a rule that needs the object where the request alone cannot show it
//!   (protobuf, CBOR, JSON patches that move or go through arrays,
//!   strategic-merge directives) → a preflight through the
//!   [`Preflight`](crate::Preflight) client when one is given (see
//!   [`crate::preflight_reason`]), else 415 for protobuf and CBOR; never
//!   waved through.
//!
//! ```
//! use tollgate_rules::{Policy, PolicyLayer, PolicyStore};
//! let layer = PolicyLayer::new(PolicyStore::new(Policy::allow_all()));
//! # let _ = layer;
//! ```

mod future;
mod preflight_call;
mod service;

pub use future::ResponseFuture;
pub use service::{PolicyLayer, PolicyService};
