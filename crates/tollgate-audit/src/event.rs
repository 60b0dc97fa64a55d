//! `audit.k8s.io/v1` `Event` and `EventList`, field for field, with
//! MicroTime timestamps and Tollgate's annotations.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How much of a request is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Level {
    /// Nothing.
    None,
    /// Who, what, when, and the outcome; no bodies.
    Metadata,
    /// Metadata and the request body.
    Request,
    /// Metadata and both bodies.
    RequestResponse,
}

impl Level {
    /// The name in policies and records.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::None => "None",
            Level::Metadata => "Metadata",
            Level::Request => "Request",
            Level::RequestResponse => "RequestResponse",
        }
    }
}

/// When in a request's life a record is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Stage {
    /// As soon as the request arrives (here: once it is authenticated and
    /// checked, before it is forwarded).
    RequestReceived,
    /// When the response headers are sent, for long-running requests.
    ResponseStarted,
    /// When the response body ends.
    ResponseComplete,
    /// When handling failed unexpectedly.
    Panic,
}

impl Stage {
    /// The name in policies and records.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::RequestReceived => "RequestReceived",
            Stage::ResponseStarted => "ResponseStarted",
            Stage::ResponseComplete => "ResponseComplete",
            Stage::Panic => "Panic",
        }
    }
}

/// `authentication.k8s.io/v1` `UserInfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct UserInfo {
    /// The user name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    /// A unique id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// Groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Extra attributes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    /// A user with a name and groups.
    pub fn new(username: impl Into<String>, groups: Vec<String>) -> Self {
        UserInfo {
            username: username.into(),
            groups,
            ..UserInfo::default()
        }
    }
}

/// The object a request is about.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ObjectReference {
    /// Resource, e.g. `pods`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource: String,
    /// Namespace.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// UID.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// API group (`""` for core).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_group: String,
    /// API version.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// Resource version.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource_version: String,
    /// Subresource, e.g. `exec`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subresource: String,
}

/// One audit record: `audit.k8s.io/v1` `Event`.
///
/// ```
/// use tollgate_audit::{Event, Level, Stage};
/// let mut e = Event::new("4f8e0d1a-0000-4000-8000-000000000001", Level::Metadata, Stage::ResponseComplete);
/// e.verb = "get".into();
/// e.request_uri = "/api/v1/namespaces/a/pods/x".into();
/// let json = serde_json::to_value(&e)?;
/// assert_eq!(json["kind"], "Event");
/// assert_eq!(json["apiVersion"], "audit.k8s.io/v1");
/// assert_eq!(json["requestURI"], "/api/v1/namespaces/a/pods/x");
/// # Ok::<_, serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Event {
    /// Always `Event`.
    pub kind: String,
    /// Always `audit.k8s.io/v1`.
    pub api_version: String,
    /// The level the policy chose.
    pub level: Level,
    /// The request's audit ID (also in the `Audit-Id` response header).
    #[serde(rename = "auditID")]
    pub audit_id: String,
    /// The stage.
    pub stage: Stage,
    /// Path and query, as sent (secret-shaped query values masked).
    #[serde(rename = "requestURI")]
    pub request_uri: String,
    /// The Kubernetes verb.
    pub verb: String,
    /// The authenticated user.
    pub user: UserInfo,
    /// The user the request was made as upstream (impersonation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impersonated_user: Option<UserInfo>,
    /// Client addresses (X-Forwarded-For, then the peer).
    #[serde(default, rename = "sourceIPs", skip_serializing_if = "Vec::is_empty")]
    pub source_ips: Vec<String>,
    /// The client's User-Agent (truncated at 1024 characters).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user_agent: String,
    /// The object of a resource request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_ref: Option<ObjectReference>,
    /// The outcome: `{"metadata":{},"code":200}` on success, the full
    /// `Status` on errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_status: Option<Value>,
    /// The request body as sent (redacted), at level Request and above.
    #[serde(default, deserialize_with = "object", skip_serializing_if = "Option::is_none")]
    pub request_object: Option<Value>,
    /// The response body (redacted), at level RequestResponse.
    #[serde(default, deserialize_with = "object", skip_serializing_if = "Option::is_none")]
    pub response_object: Option<Value>,
    /// When the request arrived (MicroTime).
    pub request_received_timestamp: String,
    /// When this stage was reached (MicroTime).
    pub stage_timestamp: String,
    /// Annotations, Tollgate's under `tollgate.dev/`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

thread_local! {
    /// Set while a [`LogReader`](crate::LogReader) in metadata-only mode
    /// decodes a record on this thread: objects are skipped, not built.
    static SKIP_OBJECTS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with request and response objects skipped by [`Event`]'s
/// deserializer on this thread (read past, never built).
pub(crate) fn without_objects<T>(f: impl FnOnce() -> T) -> T {
    let before = SKIP_OBJECTS.with(|s| s.replace(true));
    let out = f();
    SKIP_OBJECTS.with(|s| s.set(before));
    out
}

fn object<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    use serde::Deserialize;
    if SKIP_OBJECTS.with(std::cell::Cell::get) {
        serde::de::IgnoredAny::deserialize(d)?;
        Ok(None)
    } else {
        Option::<Value>::deserialize(d)
    }
}

impl Event {
    /// An event with the required fields; timestamps are now.
    pub fn new(audit_id: impl Into<String>, level: Level, stage: Stage) -> Self {
        let now = micro_time(SystemTime::now());
        Event {
            kind: "Event".to_owned(),
            api_version: "audit.k8s.io/v1".to_owned(),
            level,
            audit_id: audit_id.into(),
            stage,
            request_uri: String::new(),
            verb: String::new(),
            user: UserInfo::default(),
            impersonated_user: None,
            source_ips: Vec::new(),
            user_agent: String::new(),
            object_ref: None,
            response_status: None,
            request_object: None,
            response_object: None,
            request_received_timestamp: now.clone(),
            stage_timestamp: now,
            annotations: BTreeMap::new(),
        }
    }

    /// The value of a Tollgate annotation (`tollgate.dev/<name>`).
    pub fn tollgate(&self, name: &str) -> Option<&str> {
        self.annotations
            .get(&format!("tollgate.dev/{name}"))
            .map(String::as_str)
    }

    /// The response code, when recorded.
    pub fn code(&self) -> Option<u16> {
        self.response_status
            .as_ref()
            .and_then(|s| s.get("code"))
            .and_then(Value::as_u64)
            .and_then(|c| u16::try_from(c).ok())
    }
}

/// A batch of events, as a webhook receives them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct EventList {
    /// Always `EventList`.
    pub kind: String,
    /// Always `audit.k8s.io/v1`.
    pub api_version: String,
    /// List metadata (empty).
    pub metadata: Value,
    /// The events.
    pub items: Vec<Event>,
}

impl EventList {
    /// A list of these events.
    ///
    /// ```
    /// let l = tollgate_audit::EventList::new(vec![]);
    /// assert_eq!(serde_json::to_string(&l)?, r#"{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[]}"#);
    /// # Ok::<_, serde_json::Error>(())
    /// ```
    pub fn new(items: Vec<Event>) -> Self {
        EventList {
            kind: "EventList".to_owned(),
            api_version: "audit.k8s.io/v1".to_owned(),
            metadata: Value::Object(serde_json::Map::new()),
            items,
        }
    }
}

/// A Kubernetes MicroTime: RFC 3339 in UTC with six fractional digits.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// let t = UNIX_EPOCH + Duration::from_micros(1_785_000_000_123_456);
/// assert_eq!(tollgate_audit::micro_time(t), "2026-07-25T17:20:00.123456Z");
/// ```
pub fn micro_time(t: SystemTime) -> String {
    tollgate_kube::time::format_micro_time(t.duration_since(UNIX_EPOCH).unwrap_or_default())
}

/// Parses a MicroTime, or any RFC 3339 time with `Z` or an offset, into
/// the time since the epoch, with microseconds.
///
/// ```
/// let t = tollgate_audit::parse_time("2026-07-25T17:20:00.123456Z").unwrap();
/// assert_eq!(t.as_micros(), 1_785_000_000_123_456);
/// assert_eq!(tollgate_audit::parse_time("2026-07-25T19:20:00.123456+02:00"), Some(t));
/// assert!(tollgate_audit::parse_time("yesterday").is_none());
/// ```
pub fn parse_time(s: &str) -> Option<std::time::Duration> {
    tollgate_kube::time::parse_timestamp(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn micro_time_round_trips() {
        for micros in [0u64, 951_782_400_000_001, 1_785_000_000_123_456, 4_102_444_799_999_999] {
            let t = UNIX_EPOCH + Duration::from_micros(micros);
            let s = micro_time(t);
            assert_eq!(parse_time(&s).map(|d| d.as_micros() as u64), Some(micros), "{s}");
        }
        assert_eq!(micro_time(UNIX_EPOCH), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            parse_time("2024-02-29T00:00:00Z").map(|d| d.as_secs()),
            Some(1_709_164_800)
        );
    }

    proptest::proptest! {
        #[test]
        fn micro_time_round_trips_any_instant(micros in 0u64..253_402_300_799_999_999) {
            let t = UNIX_EPOCH + Duration::from_micros(micros);
            let s = micro_time(t);
            proptest::prop_assert_eq!(s.len(), 27);
            proptest::prop_assert_eq!(parse_time(&s).map(|d| d.as_micros() as u64), Some(micros));
        }

        #[test]
        fn parse_time_never_panics(s in "\\PC{0,40}") {
            let _ = parse_time(&s);
        }
    }

    #[test]
    fn golden_event_json() {
        let mut e = Event::new("a1", Level::Request, Stage::ResponseComplete);
        e.request_received_timestamp = "2026-11-27T10:00:00.000001Z".into();
        e.stage_timestamp = "2026-11-27T10:00:00.250000Z".into();
        e.request_uri = "/api/v1/namespaces/prod/secrets".into();
        e.verb = "create".into();
        e.user = UserInfo::new("ci:acme/web", vec!["ci".into()]);
        e.object_ref = Some(ObjectReference {
            resource: "secrets".into(),
            namespace: "prod".into(),
            api_version: "v1".into(),
            ..Default::default()
        });
        e.response_status = Some(serde_json::json!({"metadata": {}, "code": 201}));
        e.annotations.insert("tollgate.dev/owner".into(), "team-web".into());
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Request","auditID":"a1","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/prod/secrets","verb":"create","user":{"username":"ci:acme/web","groups":["ci"]},"objectRef":{"resource":"secrets","namespace":"prod","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":201},"requestReceivedTimestamp":"2026-11-27T10:00:00.000001Z","stageTimestamp":"2026-11-27T10:00:00.250000Z","annotations":{"tollgate.dev/owner":"team-web"}}"#
        );
        let back: Event = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
        assert_eq!(back, e);
        assert_eq!(back.code(), Some(201));
    }
}
