//! Kubernetes-aware secret masking for Tollgate.
//!
//! - the **reference engine** over `serde_json::Value`: [`Redactor`] with
//!   the Kubernetes presets, value [`Detector`]s, [`Replacement`] by marker
//!   or keyed fingerprint, user JSONPath selectors, and a [`Report`] of what
//!   was masked;
//! - the **streaming engine** [`StreamMasker`]: a document in chunks split
//!   at any byte, one list item (or Table row) held at a time, equal to the
//!   reference engine (a property test holds them equal under random
//!   chunkings);
//! - [`MaskLayer`]: masks responses — watch streams event by event, lists
//!   item by item, anything unreadable refused.

mod detectors;
pub mod mask;
mod redactor;
mod replacement;
mod rewrite;
mod stream;
mod tape;

pub use detectors::Detector;
pub use mask::{Mask, MaskBody, MaskLayer, MaskService};
pub use redactor::{LAST_APPLIED, Redactor, RedactorBuilder, Report, decode_secret_value, kind_of_resource};
pub use replacement::Replacement;
pub use stream::StreamMasker;
