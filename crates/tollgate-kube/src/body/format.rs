//! What a request body is, by `Content-Type` and by its first bytes.

/// The formats the API server accepts in request bodies.
///
/// ```
/// use tollgate_kube::BodyFormat;
/// assert_eq!(BodyFormat::classify(Some("application/json; charset=utf-8"), b"{}"), BodyFormat::Json);
/// assert_eq!(BodyFormat::classify(Some("application/json"), b"k8s\0\x0a"), BodyFormat::Protobuf);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BodyFormat {
    /// No body.
    #[default]
    Empty,
    /// `application/json`
    Json,
    /// `application/yaml`
    Yaml,
    /// `application/json-patch+json` (RFC 6902)
    JsonPatch,
    /// `application/merge-patch+json` (RFC 7386)
    MergePatch,
    /// `application/strategic-merge-patch+json`
    StrategicMergePatch,
    /// `application/apply-patch+yaml` (server-side apply; YAML or JSON)
    ApplyPatchYaml,
    /// `application/apply-patch+cbor`
    ApplyPatchCbor,
    /// `application/vnd.kubernetes.protobuf` or a body starting `k8s\0`
    Protobuf,
    /// `application/cbor` or a body starting with the CBOR self-describe tag
    Cbor,
    /// Anything else (the API server answers 415).
    Other,
}

/// The magic prefix of a Kubernetes protobuf envelope.
pub const PROTOBUF_MAGIC: &[u8] = b"k8s\x00";
/// The CBOR self-described tag (55799) the API server's encoder writes.
const CBOR_SELF_DESCRIBE: &[u8] = &[0xd9, 0xd9, 0xf7];

impl BodyFormat {
    /// Classifies a body. The magic bytes win over the declared type, so a
    /// protobuf body sent as `application/json` is still protobuf.
    pub fn classify(content_type: Option<&str>, bytes: &[u8]) -> BodyFormat {
        if bytes.starts_with(PROTOBUF_MAGIC) {
            return BodyFormat::Protobuf;
        }
        let media = content_type
            .map(|ct| ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
            .unwrap_or_default();
        let declared = match media.as_str() {
            "application/json" => BodyFormat::Json,
            "application/yaml" => BodyFormat::Yaml,
            "application/json-patch+json" => BodyFormat::JsonPatch,
            "application/merge-patch+json" => BodyFormat::MergePatch,
            "application/strategic-merge-patch+json" => BodyFormat::StrategicMergePatch,
            "application/apply-patch+yaml" => BodyFormat::ApplyPatchYaml,
            "application/apply-patch+cbor" => BodyFormat::ApplyPatchCbor,
            "application/vnd.kubernetes.protobuf" => BodyFormat::Protobuf,
            "application/cbor" => BodyFormat::Cbor,
            "" if bytes.is_empty() => BodyFormat::Empty,
            // client-go sends JSON without a content type on some DELETEs.
            "" => BodyFormat::Json,
            _ => BodyFormat::Other,
        };
        if bytes.starts_with(CBOR_SELF_DESCRIBE) && declared != BodyFormat::ApplyPatchCbor {
            return BodyFormat::Cbor;
        }
        if bytes.is_empty() && declared == BodyFormat::Json {
            return BodyFormat::Empty;
        }
        declared
    }

    /// Whether a JSON view can be had (everything but protobuf, CBOR and
    /// unknown types).
    pub fn is_textual(self) -> bool {
        !matches!(
            self,
            BodyFormat::Protobuf | BodyFormat::Cbor | BodyFormat::ApplyPatchCbor | BodyFormat::Other
        )
    }

    /// A short name for messages and records.
    pub fn as_str(self) -> &'static str {
        match self {
            BodyFormat::Empty => "empty",
            BodyFormat::Json => "json",
            BodyFormat::Yaml => "yaml",
            BodyFormat::JsonPatch => "json-patch",
            BodyFormat::MergePatch => "merge-patch",
            BodyFormat::StrategicMergePatch => "strategic-merge-patch",
            BodyFormat::ApplyPatchYaml => "apply-patch+yaml",
            BodyFormat::ApplyPatchCbor => "apply-patch+cbor",
            BodyFormat::Protobuf => "protobuf",
            BodyFormat::Cbor => "cbor",
            BodyFormat::Other => "other",
        }
    }
}

impl std::fmt::Display for BodyFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
