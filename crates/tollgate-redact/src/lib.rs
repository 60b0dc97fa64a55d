//! Kubernetes-aware secret masking for Tollgate.
//!
//! - the **reference engine** over `serde_json::Value`: [`Redactor`] with
//!   the Kubernetes presets, value [`Detector`]s, [`Replacement`] by marker
//!   or keyed fingerprint, user JSONPath selectors, and a [`Report`] of what
//!   was masked;
//! - the **byte-level engine** [`Redactor::redact_bytes`]: a structural
//!   index of the document's bytes (no decoding, no tree), the same presets
//!   applied to it, untouched bytes copied through and only the values a
//!   preset names rewritten (the last-applied annotation is edited inside
//!   its escaped text); without the report;
//! - the **streaming engine** [`StreamMasker`]: a document in chunks split
//!   at any byte, one list item (or Table row) held and rewritten by the
//!   byte-level engine at a time;
//! - property tests hold all three equal (as parsed JSON) on random
//!   Kubernetes-shaped documents under random chunkings, and a fuzz target
//!   does the same on arbitrary input;
//! - [`MaskLayer`]: masks responses — watch streams event by event, lists
//!   item by item, anything unreadable refused.

pub mod config;
mod detectors;
mod error;
mod mask;
mod redactor;
mod replacement;
mod rewrite;
mod stream;
mod tape;

pub use detectors::Detector;
pub use error::Error;
pub use mask::{Coded, Gunzip, Gzip, MaskBody, MaskLayer, MaskService, MaskedBody, ResponseFuture, Stage};
pub use redactor::{LAST_APPLIED, Redactor, RedactorBuilder, Report, decode_secret_value, kind_of_resource};
pub use replacement::Replacement;
pub use stream::StreamMasker;
