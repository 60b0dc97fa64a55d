//! Kubernetes-aware secret masking for Tollgate.
//!
//! This first increment is the **reference engine** over
//! `serde_json::Value`: [`Redactor`] with the Kubernetes presets, value
//! [`Detector`]s, [`Replacement`] by marker or keyed fingerprint, user
//! JSONPath selectors, and a [`Report`] of what was masked. The streaming
//! engine and the `MaskLayer` build on it (see `docs/architecture.md`).

mod detectors;
mod redactor;
mod replacement;

pub use detectors::Detector;
pub use redactor::{LAST_APPLIED, Redactor, RedactorBuilder, Report, decode_secret_value, kind_of_resource};
pub use replacement::Replacement;
