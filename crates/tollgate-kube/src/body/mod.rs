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

mod format;
mod gzip;

pub use format::{BodyFormat, PROTOBUF_MAGIC};
pub(crate) use gzip::gunzip_bounded;

use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use crate::Error;

/// The most YAML nodes a request body may have (a 3 MiB body of tiny nodes
/// stays well under it; a billion-laughs expansion does not).
const YAML_MAX_NODES: usize = 250_000;

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
            yaml_to_json(text)
                .map(Some)
                .map_err(|message| Error::BodyDecode { format, message })
        }
        _ => serde_json::from_slice(bytes).map(Some).map_err(|e| Error::BodyDecode {
            format,
            message: e.to_string(),
        }),
    }
}

/// Parses one YAML document into JSON with a node budget; never panics.
///
/// ```
/// let v = tollgate_kube::yaml_to_json("a: [1, two]\n").unwrap();
/// assert_eq!(v, serde_json::json!({"a": [1, "two"]}));
/// ```
///
/// # Errors
/// The parser's message, including budget breaches.
pub fn yaml_to_json(text: &str) -> Result<serde_json::Value, String> {
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_nodes: YAML_MAX_NODES,
        },
    };
    serde_saphyr::from_str_with_options(text, options).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests;
