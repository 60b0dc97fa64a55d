//! `metav1.Status`, the error object kubectl prints, and the `Warning`
//! header it shows.
//!
//! kubectl prints a Status with reason `R` as `Error from server (R): message`
//! (and `error: You must be logged in to the server (message)` for
//! `Unauthorized`), so every refusal Tollgate makes is one of these.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;
use serde::{Deserialize, Serialize};

/// The `reason` of a failed [`Status`], with the HTTP code the API server
/// pairs it with.
///
/// ```
/// use tollgate_kube::Reason;
/// assert_eq!(Reason::Forbidden.as_str(), "Forbidden");
/// assert_eq!(Reason::Forbidden.code(), 403);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// 400
    BadRequest,
    /// 401
    Unauthorized,
    /// 403
    Forbidden,
    /// 404
    NotFound,
    /// 405
    MethodNotAllowed,
    /// 406
    NotAcceptable,
    /// 409
    AlreadyExists,
    /// 409
    Conflict,
    /// 410
    Gone,
    /// 410 (expired continue token or resource version)
    Expired,
    /// 413
    RequestEntityTooLarge,
    /// 414 (the API server has no reason for it: the reason is empty)
    RequestUriTooLong,
    /// 415
    UnsupportedMediaType,
    /// 431 (the API server has no reason for it: the reason is empty)
    RequestHeaderFieldsTooLarge,
    /// 422
    Invalid,
    /// 429
    TooManyRequests,
    /// 500
    InternalError,
    /// 502 (no upstream answer; the API server uses it for proxy errors)
    BadGateway,
    /// 503
    ServiceUnavailable,
    /// 504
    Timeout,
    /// 408: the client sent its request too slowly (reason `Timeout`).
    RequestTimeout,
}

impl Reason {
    /// The reason as it appears in the JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::BadRequest => "BadRequest",
            Reason::Unauthorized => "Unauthorized",
            Reason::Forbidden => "Forbidden",
            Reason::NotFound => "NotFound",
            Reason::MethodNotAllowed => "MethodNotAllowed",
            Reason::NotAcceptable => "NotAcceptable",
            Reason::AlreadyExists => "AlreadyExists",
            Reason::Conflict => "Conflict",
            Reason::Gone => "Gone",
            Reason::Expired => "Expired",
            Reason::RequestEntityTooLarge => "RequestEntityTooLarge",
            Reason::UnsupportedMediaType => "UnsupportedMediaType",
            Reason::RequestUriTooLong | Reason::RequestHeaderFieldsTooLarge => "",
            Reason::Invalid => "Invalid",
            Reason::TooManyRequests => "TooManyRequests",
            Reason::InternalError => "InternalError",
            // The API server has no BadGateway reason; proxy failures are
            // reported as ServiceUnavailable-style errors with code 502.
            Reason::BadGateway => "BadGateway",
            Reason::ServiceUnavailable => "ServiceUnavailable",
            Reason::Timeout | Reason::RequestTimeout => "Timeout",
        }
    }

    /// The HTTP status code for this reason.
    pub fn code(self) -> u16 {
        match self {
            Reason::BadRequest => 400,
            Reason::Unauthorized => 401,
            Reason::Forbidden => 403,
            Reason::NotFound => 404,
            Reason::MethodNotAllowed => 405,
            Reason::NotAcceptable => 406,
            Reason::AlreadyExists | Reason::Conflict => 409,
            Reason::Gone | Reason::Expired => 410,
            Reason::RequestEntityTooLarge => 413,
            Reason::RequestUriTooLong => 414,
            Reason::UnsupportedMediaType => 415,
            Reason::RequestHeaderFieldsTooLarge => 431,
            Reason::Invalid => 422,
            Reason::TooManyRequests => 429,
            Reason::InternalError => 500,
            Reason::BadGateway => 502,
            Reason::ServiceUnavailable => 503,
            Reason::Timeout => 504,
            Reason::RequestTimeout => 408,
        }
    }
}

/// `metav1.Status`.
///
/// ```
/// use tollgate_kube::{Reason, Status};
///
/// let s = Status::failure(Reason::Forbidden, "deleting namespaces is blocked by rule no-ns-delete");
/// let res = s.to_response();
/// assert_eq!(res.status(), 403);
/// assert_eq!(res.headers()["content-type"], "application/json");
/// let json = String::from_utf8(s.to_bytes().to_vec())?;
/// assert!(json.starts_with(r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure""#));
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Status {
    /// `Success` or `Failure`.
    pub status: String,
    /// A human-readable description.
    pub message: String,
    /// The machine-readable reason, e.g. `Forbidden`.
    pub reason: String,
    /// Extra data about the failure.
    pub details: Option<Box<StatusDetails>>,
    /// The HTTP status code.
    pub code: u16,
}

/// The JSON shape: `kind`, `apiVersion` and an empty `metadata` first, as
/// the API server writes them.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    metadata: serde_json::Map<String, serde_json::Value>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    message: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    details: Option<Box<StatusDetails>>,
    #[serde(default)]
    code: u16,
}

impl Serialize for Status {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Wire {
            kind: "Status".to_owned(),
            api_version: "v1".to_owned(),
            metadata: serde_json::Map::new(),
            status: self.status.clone(),
            message: self.message.clone(),
            reason: self.reason.clone(),
            details: self.details.clone(),
            code: self.code,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let w = Wire::deserialize(deserializer)?;
        Ok(Status {
            status: w.status,
            message: w.message,
            reason: w.reason,
            details: w.details,
            code: w.code,
        })
    }
}

/// `metav1.StatusDetails`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct StatusDetails {
    /// The object's name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The API group.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    /// The kind (for Forbidden: the resource).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// The object's UID.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// Individual causes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<StatusCause>,
    /// Seconds to wait before retrying (429, 503).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u32>,
}

/// `metav1.StatusCause`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StatusCause {
    /// The cause type, e.g. `FieldValueInvalid` or `ExitCode`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// A human-readable message.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// The field path, when the cause is a field.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub field: String,
}

impl StatusCause {
    /// A cause with a reason and message.
    pub fn new(reason: impl Into<String>, message: impl Into<String>) -> Self {
        StatusCause {
            reason: reason.into(),
            message: message.into(),
            field: String::new(),
        }
    }
}

impl Status {
    /// A `Failure` status with the reason's code.
    pub fn failure(reason: Reason, message: impl Into<String>) -> Self {
        Status {
            status: "Failure".to_owned(),
            message: message.into(),
            reason: reason.as_str().to_owned(),
            details: None,
            code: reason.code(),
        }
    }

    /// A `Success` status with code 200 (exec's channel-3 final message).
    pub fn success() -> Self {
        Status {
            status: "Success".to_owned(),
            reason: String::new(),
            code: 200,
            ..Status::failure(Reason::InternalError, "")
        }
    }

    /// `Unauthorized` exactly as the API server writes it.
    pub fn unauthorized() -> Self {
        Status::failure(Reason::Unauthorized, "Unauthorized")
    }

    /// `NotFound` for an object: `pods "web" not found`.
    pub fn not_found(group: &str, resource: &str, name: &str) -> Self {
        let qualified = qualified_resource(group, resource);
        Status::failure(Reason::NotFound, format!("{qualified} \"{name}\" not found")).with_details(StatusDetails {
            name: name.to_owned(),
            group: group.to_owned(),
            kind: resource.to_owned(),
            ..StatusDetails::default()
        })
    }

    /// `AlreadyExists` for an object: `pods "web" already exists`.
    pub fn already_exists(group: &str, resource: &str, name: &str) -> Self {
        let qualified = qualified_resource(group, resource);
        Status::failure(Reason::AlreadyExists, format!("{qualified} \"{name}\" already exists")).with_details(
            StatusDetails {
                name: name.to_owned(),
                group: group.to_owned(),
                kind: resource.to_owned(),
                ..StatusDetails::default()
            },
        )
    }

    /// Sets the details.
    pub fn with_details(mut self, details: StatusDetails) -> Self {
        self.details = Some(Box::new(details));
        self
    }

    /// Sets `details.retryAfterSeconds` (and [`Status::to_response`] then
    /// adds a `Retry-After` header).
    pub fn with_retry_after(mut self, seconds: u32) -> Self {
        self.details.get_or_insert_with(Box::default).retry_after_seconds = Some(seconds);
        self
    }

    /// The JSON encoding.
    pub fn to_bytes(&self) -> Bytes {
        // Serializing plain strings and maps cannot fail.
        Bytes::from(serde_json::to_vec(self).unwrap_or_default())
    }

    /// An HTTP response carrying this status as JSON, with `Retry-After`
    /// when the details ask for one.
    pub fn to_response(&self) -> Response<Full<Bytes>> {
        let mut res = Response::new(Full::new(self.to_bytes()));
        *res.status_mut() = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let h = res.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, private"));
        if let Some(secs) = self.details.as_ref().and_then(|d| d.retry_after_seconds) {
            h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

fn qualified_resource(group: &str, resource: &str) -> String {
    if group.is_empty() {
        resource.to_owned()
    } else {
        format!("{resource}.{group}")
    }
}

/// The `Warning` header name.
pub const WARNING: &str = "warning";

/// Builds a `Warning: 299 - "<text>"` header value, escaping `"` and `\`
/// and replacing control characters, as `NewWarningHeader` does. kubectl
/// prints it as `Warning: <text>`.
///
/// ```
/// use tollgate_kube::warning_header;
/// assert_eq!(warning_header(r#"rule "x" matched"#), r#"299 - "rule \"x\" matched""#);
/// ```
pub fn warning_header(text: &str) -> HeaderValue {
    let mut out = String::with_capacity(text.len() + 8);
    out.push_str("299 - \"");
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    // Only visible ASCII, spaces and UTF-8 bytes >= 0x80 remain, all valid.
    HeaderValue::from_str(&out).unwrap_or_else(|_| HeaderValue::from_static("299 - \"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_json() {
        let s = Status::failure(Reason::TooManyRequests, "wait").with_retry_after(5);
        assert_eq!(
            String::from_utf8(s.to_bytes().to_vec()).unwrap(),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"wait","reason":"TooManyRequests","details":{"retryAfterSeconds":5},"code":429}"#
        );
        let res = s.to_response();
        assert_eq!(res.headers()["retry-after"], "5");
        let nf = Status::not_found("apps", "deployments", "web");
        assert_eq!(nf.message, "deployments.apps \"web\" not found");
        let back: Status = serde_json::from_slice(&nf.to_bytes()).unwrap();
        assert_eq!(back, nf);
    }

    #[test]
    fn warning_escapes() {
        assert_eq!(warning_header("a\nb\\"), "299 - \"a b\\\\\"");
        assert_eq!(warning_header("é"), HeaderValue::from_str("299 - \"é\"").unwrap());
    }
}

/// The refusal of a layer whose required extension is missing because a
/// layer it needs is not in front of it: a 500 `Status` naming the missing
/// layer, logged once per process (not once per request), never a silent
/// allow. Kept in a `static`, one per check:
///
/// ```
/// use tollgate_kube::MissingLayer;
/// static NO_REQUEST_INFO: MissingLayer =
///     MissingLayer::new("MyLayer needs RequestInfoLayer in front of it: the request has no RequestInfo");
/// let status = NO_REQUEST_INFO.status();
/// assert_eq!(status.code, 500);
/// assert!(status.message.contains("RequestInfoLayer"));
/// ```
#[derive(Debug)]
pub struct MissingLayer {
    message: &'static str,
    logged: std::sync::Once,
}

impl MissingLayer {
    /// The refusal, with `message` naming the layer and what it needs.
    pub const fn new(message: &'static str) -> Self {
        MissingLayer {
            message,
            logged: std::sync::Once::new(),
        }
    }

    /// The 500 `Status` (logging the message the first time).
    pub fn status(&self) -> Status {
        self.logged.call_once(|| tracing::error!("{}", self.message));
        Status::failure(Reason::InternalError, self.message)
    }
}
