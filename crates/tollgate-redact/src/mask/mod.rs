//! `MaskLayer`: masks secrets in the responses clients see.
//!
//! It acts on requests carrying the [`Mask`](tollgate_kube::Mask) extension (a policy rule with
//! `mask: true` puts it there), or on every request when built with
//! [`MaskLayer::mask_all`]. For those it asks the API server for JSON
//! (a protobuf `Accept` is rewritten), decodes gzip (and encodes the masked
//! result again, flushed chunk by chunk), then:
//! - a watch is masked event by event as each line completes, never
//!   buffered;
//! - any other JSON response goes through the streaming engine: lists and
//!   Tables item by item, other documents whole (a part over the bound is
//!   cut off with an error rather than sent unmasked);
//! - a response it cannot read (protobuf, an encoding other than gzip) is
//!   replaced by a 502 `Status`: nothing unmasked gets through.
//!
//! Responses that need no masking pass through untouched, gzip included.
//!
//! ```
//! use tollgate_redact::{MaskLayer, Redactor};
//! let layer = MaskLayer::new(Redactor::builder().build()?);
//! # let _ = layer;
//! # Ok::<_, tollgate_redact::Error>(())
//! ```

mod body;
mod gzip;
mod service;

pub use body::MaskBody;
pub use gzip::{Coded, Gunzip, Gzip, Stage};
pub use service::{MaskLayer, MaskService, MaskedBody, ResponseFuture};
