//! Kubernetes-aware secret masking for Tollgate.
//!
//! - the **reference engine** over `serde_json::Value`: [`Redactor`] with
//!   the Kubernetes presets, value [`Detector`]s, [`Replacement`] by marker
//!   or keyed fingerprint, user JSONPath selectors, and a [`Report`] of what
//!   was masked;
//! - [`MaskLayer`]: masks responses — watch streams event by event, other
//!   JSON whole (bounded), anything unreadable refused.
//!
//! Not yet: the byte-level streaming engine that masks a 100 MB list
//! holding one item at a time (see `docs/architecture.md`).

mod detectors;
pub mod mask;
mod redactor;
mod replacement;

pub use detectors::Detector;
pub use mask::{Mask, MaskBody, MaskLayer, MaskService};
pub use redactor::{LAST_APPLIED, Redactor, RedactorBuilder, Report, decode_secret_value, kind_of_resource};
pub use replacement::Replacement;
