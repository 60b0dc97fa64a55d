//! Request bodies: buffered with a bound, classified by format, gzip
//! decoded, and viewed as JSON on demand.
//!
//! ```
//! use bytes::Bytes;
//! use tollgate_kube::{BodyFormat, RequestBody};
//!
//! let body = RequestBody::new(
//!     Bytes::from_static(b"apiVersion: v1\nkind: Secret\nstringData:\n  password: hunter2\n"),
//!     Some("application/yaml"),
//! );
//! assert_eq!(body.format(), BodyFormat::Yaml);
//! let json = body.json()?.expect("a non-empty body");
//! assert_eq!(json["stringData"]["password"], "hunter2");
//! # Ok::<_, tollgate_kube::Error>(())
//! ```

mod budget;
mod format;
// Used by the request layer (and its tests) only.
#[cfg(any(feature = "layer", test))]
mod gzip;
mod yaml;

pub use budget::{BodyBudget, Reservation};
pub use format::{BodyFormat, PROTOBUF_MAGIC};
#[cfg(any(feature = "layer", test))]
pub(crate) use gzip::gunzip_bounded;
pub use yaml::{json_to_yaml, yaml_to_json};

use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use crate::Error;
use crate::limits::{MAX_PATCH_OPS, MAX_POINTER_DEPTH, cut_message};

/// A buffered request body, as the API server will decode it.
///
/// Cheap to clone (the bytes and the decoded view are shared). The JSON
/// view is decoded once, on first use, so requests no layer inspects pay
/// nothing for it.
#[derive(Debug, Clone, Default)]
pub struct RequestBody {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    bytes: Bytes,
    format: BodyFormat,
    json: OnceLock<Result<Option<serde_json::Value>, Error>>,
    /// The bytes held against the gateway's buffering budget, given back
    /// when the last clone of the body is dropped.
    _reservation: Option<Reservation>,
}

impl RequestBody {
    /// A body of `bytes` (already decompressed) sent with `content_type`.
    pub fn new(bytes: Bytes, content_type: Option<&str>) -> Self {
        let format = BodyFormat::classify(content_type, &bytes);
        RequestBody {
            inner: Arc::new(Inner {
                bytes,
                format,
                json: OnceLock::new(),
                _reservation: None,
            }),
        }
    }

    /// A body whose bytes are held against a [`BodyBudget`] until the last
    /// clone of it is dropped.
    pub fn reserved(bytes: Bytes, content_type: Option<&str>, reservation: Reservation) -> Self {
        let format = BodyFormat::classify(content_type, &bytes);
        RequestBody {
            inner: Arc::new(Inner {
                bytes,
                format,
                json: OnceLock::new(),
                _reservation: Some(reservation),
            }),
        }
    }

    /// An empty body (GET, upgrades).
    pub fn empty() -> Self {
        RequestBody::default()
    }

    /// The body bytes, after any `Content-Encoding: gzip` was removed.
    pub fn bytes(&self) -> &Bytes {
        &self.inner.bytes
    }

    /// Whether the body is empty.
    pub fn is_empty(&self) -> bool {
        self.inner.bytes.is_empty()
    }

    /// The body's format.
    pub fn format(&self) -> BodyFormat {
        self.inner.format
    }

    /// The body as JSON: `Ok(None)` for an empty body; JSON formats through
    /// serde_json, YAML (and server-side apply's YAML) through a budgeted,
    /// panic-free YAML parser.
    ///
    /// # Errors
    /// [`Error::UnsupportedBodyFormat`] for protobuf and CBOR (the caller
    /// should refuse the request with 415 and ask for JSON), and
    /// [`Error::BodyDecode`] when the bytes do not parse.
    pub fn json(&self) -> Result<Option<&serde_json::Value>, Error> {
        self.inner
            .json
            .get_or_init(|| decode(&self.inner.bytes, self.inner.format))
            .as_ref()
            .map(Option::as_ref)
            .map_err(Clone::clone)
    }
}

fn decode(bytes: &[u8], format: BodyFormat) -> Result<Option<serde_json::Value>, Error> {
    if bytes.is_empty() {
        return Ok(None);
    }
    match format {
        BodyFormat::Protobuf | BodyFormat::Cbor | BodyFormat::ApplyPatchCbor => {
            Err(Error::UnsupportedBodyFormat { format })
        }
        BodyFormat::Yaml | BodyFormat::ApplyPatchYaml => {
            // Server-side apply sends JSON as often as YAML; JSON is YAML,
            // but serde_json is faster and exact, so try it first.
            if let Ok(v) = serde_json::from_slice(bytes) {
                return Ok(Some(v));
            }
            let text = std::str::from_utf8(bytes).map_err(|e| Error::BodyDecode {
                format,
                message: e.to_string(),
            })?;
            yaml_to_json(text).map(Some).map_err(|e| Error::BodyDecode {
                format,
                message: e.to_string(),
            })
        }
        BodyFormat::JsonPatch => {
            let v: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| Error::BodyDecode {
                format,
                message: cut_message(e.to_string()),
            })?;
            check_json_patch(&v)?;
            Ok(Some(v))
        }
        _ => serde_json::from_slice(bytes).map(Some).map_err(|e| Error::BodyDecode {
            format,
            message: cut_message(e.to_string()),
        }),
    }
}

/// Holds a JSON patch to the API server's op count and to pointers no
/// deeper than a JSON document can nest, before anything walks them.
///
/// ```
/// use tollgate_kube::check_json_patch;
/// let deep = format!("/spec{}", "/a".repeat(200));
/// let patch = serde_json::json!([{"op": "add", "path": deep, "value": 1}]);
/// let e = check_json_patch(&patch).unwrap_err();
/// assert_eq!(e.to_status().code, 400);
/// assert!(e.to_string().contains("JSON pointer depth 201"), "{e}");
/// ```
///
/// # Errors
/// [`Error::LimitExceeded`] naming the limit.
pub fn check_json_patch(patch: &serde_json::Value) -> Result<(), Error> {
    let Some(ops) = patch.as_array() else {
        return Ok(());
    };
    if ops.len() > MAX_PATCH_OPS {
        return Err(Error::LimitExceeded {
            what: format!("a JSON patch of {} operations", ops.len()),
            limit: format!("{MAX_PATCH_OPS} operations"),
        });
    }
    for op in ops {
        for field in ["path", "from"] {
            if let Some(pointer) = op.get(field).and_then(serde_json::Value::as_str) {
                let depth = pointer.bytes().filter(|&b| b == b'/').count();
                if depth > MAX_POINTER_DEPTH {
                    return Err(Error::LimitExceeded {
                        what: format!("JSON pointer depth {depth} in {field:?}"),
                        limit: format!("{MAX_POINTER_DEPTH} segments"),
                    });
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
