//! The reference engine: redaction over a parsed `serde_json::Value`.

use base64::Engine;
use regex::Regex;
use serde_json::Value;
use serde_json_path::JsonPath;

use crate::{Detector, Replacement};

/// The annotation that holds a JSON copy of the whole applied object.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// What was redacted: normalized JSONPaths (`$['data']['password']`), never
/// the values. For the audit record's annotation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// The redacted locations, in document order.
    pub paths: Vec<String>,
}

impl Report {
    /// Whether anything was redacted.
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }
}

/// Configures a [`Redactor`].
#[derive(Debug, Clone)]
pub struct RedactorBuilder {
    replacement: Replacement,
    env_names: String,
    configmap_keys: Option<String>,
    detectors: Vec<Detector>,
    selectors: Vec<String>,
    base64_data: bool,
}

impl RedactorBuilder {
    /// How values are replaced (default: the marker `<redacted>`).
    pub fn replacement(mut self, r: Replacement) -> Self {
        self.replacement = r;
        self
    }

    /// The regex env variable names must match to be masked (case-insensitive;
    /// default `PASSWORD|PASSWD|SECRET|TOKEN|KEY|CREDENTIAL|AUTH|PWD`).
    pub fn env_names(mut self, re: impl Into<String>) -> Self {
        self.env_names = re.into();
        self
    }

    /// The regex ConfigMap keys must match to be masked (default none).
    pub fn configmap_keys(mut self, re: impl Into<String>) -> Self {
        self.configmap_keys = Some(re.into());
        self
    }

    /// The value detectors (default [`Detector::defaults`]; empty disables).
    pub fn detectors(mut self, d: Vec<Detector>) -> Self {
        self.detectors = d;
        self
    }

    /// Adds a user JSONPath selector (RFC 9535), e.g. `$.spec.password`.
    pub fn selector(mut self, path: impl Into<String>) -> Self {
        self.selectors.push(path.into());
        self
    }

    /// Keep Secret `data` values valid base64 (the replacement is encoded).
    pub fn base64_data(mut self, keep: bool) -> Self {
        self.base64_data = keep;
        self
    }

    /// Compiles the redactor.
    ///
    /// # Errors
    /// [`Error::Config`](crate::Error::Config) naming the regex or selector
    /// that does not compile.
    pub fn build(self) -> Result<Redactor, crate::Error> {
        self.compile().map_err(crate::Error::Config)
    }

    fn compile(self) -> Result<Redactor, String> {
        let re = |what: &str, s: &str| {
            regex::RegexBuilder::new(s)
                .case_insensitive(true)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| format!("{what} {s:?}: {e}"))
        };
        let any_detector = if self.detectors.is_empty() {
            None
        } else {
            let alt: Vec<String> = self
                .detectors
                .iter()
                .map(|d| format!("(?:{})", d.re.as_str()))
                .collect();
            Some(
                regex::RegexBuilder::new(&alt.join("|"))
                    .size_limit(8 << 20)
                    .build()
                    .map_err(|e| format!("detectors: {e}"))?,
            )
        };
        let any_detector_bytes = any_detector
            .as_ref()
            .map(|re| {
                regex::bytes::RegexBuilder::new(re.as_str())
                    .size_limit(8 << 20)
                    .build()
                    .map_err(|e| format!("detectors: {e}"))
            })
            .transpose()?;
        // A detector anchored to the start or end of a string cannot be
        // prefiltered on the whole document's bytes.
        let anchored = self
            .detectors
            .iter()
            .any(|d| ["^", "$", "\\A", "\\z"].iter().any(|a| d.re.as_str().contains(a)));
        let marker_json = match &self.replacement {
            Replacement::Marker(m) => Some((
                serde_json::to_vec(m).map_err(|e| e.to_string())?,
                serde_json::to_vec(&self.replacement.replace("", true)).map_err(|e| e.to_string())?,
            )),
            #[cfg(feature = "fingerprint")]
            Replacement::Fingerprint { .. } => None,
        };
        Ok(Redactor {
            any_detector,
            any_detector_bytes,
            anchored,
            marker_json,
            replacement: self.replacement,
            env_names: re("env name pattern", &self.env_names)?,
            configmap_keys: self
                .configmap_keys
                .as_deref()
                .map(|s| re("ConfigMap key pattern", s))
                .transpose()?,
            detectors: self.detectors,
            selectors: self
                .selectors
                .iter()
                .map(|s| JsonPath::parse(s).map_err(|e| format!("selector {s:?}: {e}")))
                .collect::<Result<_, _>>()?,
            base64_data: self.base64_data,
        })
    }
}

/// Masks secrets in Kubernetes documents: Secret `data`/`stringData` (in
/// objects, lists, watch events and Table rows), the `last-applied-
/// configuration` annotation (parsed and masked inside), credential env
/// values anywhere, ConfigMap keys by pattern, TokenRequest and
/// TokenReview tokens, JSON-patch values, secret-shaped strings anywhere,
/// and user JSONPath selectors.
///
/// ```
/// use serde_json::json;
/// let r = tollgate_redact::Redactor::builder().build()?;
/// let mut secret = json!({"kind": "Secret", "data": {"password": "aHVudGVyMg=="}});
/// let report = r.redact(&mut secret);
/// assert_eq!(secret["data"]["password"], "<redacted>");
/// assert_eq!(report.paths, ["$['data']['password']"]);
/// # Ok::<_, tollgate_redact::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Redactor {
    pub(crate) replacement: Replacement,
    pub(crate) env_names: Regex,
    pub(crate) configmap_keys: Option<Regex>,
    detectors: Vec<Detector>,
    /// All detectors in one regex: one scan per string decides whether any
    /// detector needs to run.
    pub(crate) any_detector: Option<Regex>,
    /// The same over raw bytes: one scan of a whole document tells whether
    /// any unescaped string in it can match.
    any_detector_bytes: Option<regex::bytes::Regex>,
    /// Some detector is anchored (`^`, `$` …): every string is scanned.
    anchored: bool,
    /// The marker as JSON, plain and base64-encoded (for `Replacement::Marker`).
    marker_json: Option<(Vec<u8>, Vec<u8>)>,
    selectors: Vec<JsonPath>,
    base64_data: bool,
}

fn child(path: &str, key: &str) -> String {
    format!("{path}['{}']", key.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// The kind a request's body has, from its resource (bodies of patches
/// carry no `kind`).
///
/// ```
/// assert_eq!(tollgate_redact::kind_of_resource("secrets", ""), Some("Secret"));
/// assert_eq!(tollgate_redact::kind_of_resource("serviceaccounts", "token"), Some("TokenRequest"));
/// ```
pub fn kind_of_resource(resource: &str, subresource: &str) -> Option<&'static str> {
    Some(match (resource, subresource) {
        ("secrets", "") => "Secret",
        ("configmaps", "") => "ConfigMap",
        ("serviceaccounts", "token") => "TokenRequest",
        ("tokenreviews", "") => "TokenReview",
        _ => return None,
    })
}

impl Redactor {
    /// A builder with the defaults.
    pub fn builder() -> RedactorBuilder {
        RedactorBuilder {
            replacement: Replacement::default(),
            env_names: "PASSWORD|PASSWD|SECRET|TOKEN|KEY|CREDENTIAL|AUTH|PWD".to_owned(),
            configmap_keys: None,
            detectors: Detector::defaults(),
            selectors: Vec::new(),
            base64_data: false,
        }
    }

    /// Redacts a document (object, list, Table, watch event, Status …)
    /// whose kind it reads from the document.
    pub fn redact(&self, doc: &mut Value) -> Report {
        self.redact_as(doc, None)
    }

    /// Redacts a document whose kind may be implied (a patch of a Secret,
    /// the items of a watch on secrets).
    pub fn redact_as(&self, doc: &mut Value, implied_kind: Option<&str>) -> Report {
        let mut report = Report::default();
        self.document(doc, "$", implied_kind, &mut report);
        self.walk(doc, "$", &mut report);
        for sel in &self.selectors {
            let pointers: Vec<(String, String)> = sel
                .query_located(doc)
                .locations()
                .map(|l| (l.to_json_pointer(), l.to_string()))
                .collect();
            for (ptr, shown) in pointers {
                if let Some(v) = doc.pointer_mut(&ptr)
                    && !self.is_replacement(v)
                {
                    *v = self.replacement.replace_value(v, false);
                    report.paths.push(shown);
                }
            }
        }
        report
    }

    /// Redacts a JSON patch (RFC 6902 operations) sent to a resource of
    /// `kind`: values written into secret places are masked.
    pub fn redact_json_patch(&self, ops: &mut Value, kind: Option<&str>) -> Report {
        let mut report = Report::default();
        let Value::Array(list) = ops else {
            return self.redact_as(ops, kind);
        };
        for (i, op) in list.iter_mut().enumerate() {
            let path = op.get("path").and_then(Value::as_str).unwrap_or("").to_owned();
            let at = child(&index("$", i), "value");
            let Some(value) = op.get_mut("value") else { continue };
            let segs: Vec<String> = path
                .split('/')
                .skip(1)
                .map(|s| s.replace("~1", "/").replace("~0", "~"))
                .collect();
            let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
            match (kind, segs.as_slice()) {
                (Some("Secret"), ["data" | "stringData", _, ..]) => {
                    self.replace_at(value, &at, kind == Some("Secret") && segs[0] == "data", &mut report)
                }
                (Some("Secret"), ["data" | "stringData"]) => {
                    self.replace_all_values(value, &at, segs[0] == "data", &mut report)
                }
                (Some("ConfigMap"), ["data" | "binaryData", key, ..]) if self.configmap_key(key) => {
                    self.replace_at(value, &at, false, &mut report)
                }
                (_, ["metadata", "annotations", LAST_APPLIED]) => self.last_applied(value, &at, &mut report),
                (_, [.., "env", _, "value"]) => self.replace_at(value, &at, false, &mut report),
                (_, ["status", "token"]) if kind == Some("TokenRequest") => {
                    self.replace_at(value, &at, false, &mut report)
                }
                (_, ["spec", "token"]) if kind == Some("TokenReview") => {
                    self.replace_at(value, &at, false, &mut report)
                }
                _ => {
                    // A whole sub-object: mask it as a document of that kind.
                    if segs.is_empty() {
                        self.document(value, &at, kind, &mut report);
                    } else if let ["metadata", "annotations"] = segs.as_slice()
                        && let Some(v) = value.get_mut(LAST_APPLIED)
                    {
                        self.last_applied(v, &child(&at, LAST_APPLIED), &mut report);
                    }
                    self.walk(value, &at, &mut report);
                }
            }
        }
        report
    }

    /// Whether a name (an env var, a ConfigMap key, an annotation) names a
    /// credential, by the env-name pattern the presets mask values of.
    ///
    /// ```
    /// let r = tollgate_redact::Redactor::builder().build().unwrap();
    /// assert!(r.is_credential_name("DB_PASSWORD"));
    /// assert!(!r.is_credential_name("LOG_LEVEL"));
    /// ```
    pub fn is_credential_name(&self, name: &str) -> bool {
        self.env_names.is_match(name)
    }

    /// Whether a value detector (PEM key, cloud key, token …) matches
    /// somewhere in `s`.
    ///
    /// ```
    /// let r = tollgate_redact::Redactor::builder().build().unwrap();
    /// assert!(r.holds_secret("key: -----BEGIN RSA PRIVATE KEY-----\nMIIE"));
    /// assert!(!r.holds_secret("nginx:1.27"));
    /// ```
    pub fn holds_secret(&self, s: &str) -> bool {
        self.any_detector.as_ref().is_some_and(|re| re.is_match(s))
    }

    /// Masks secret-shaped substrings of free text (exec arguments, request
    /// URIs); `None` when nothing matched.
    ///
    /// ```
    /// let r = tollgate_redact::Redactor::builder().build()?;
    /// let out = r.redact_text("curl -H 'Authorization: token ghp_0123456789abcdefghijklmnopqrstuvwxyzAB'");
    /// assert_eq!(out.as_deref(), Some("curl -H 'Authorization: token <redacted>'"));
    /// # Ok::<_, tollgate_redact::Error>(())
    /// ```
    pub fn redact_text(&self, s: &str) -> Option<String> {
        let mut out = s.to_owned();
        let mut hit = false;
        for d in &self.detectors {
            if d.re.is_match(&out) {
                hit = true;
                out =
                    d.re.replace_all(&out, |c: &regex::Captures<'_>| self.replacement.replace(&c[0], false))
                        .into_owned();
            }
        }
        hit.then_some(out)
    }

    /// Whether user selectors are configured (they need the whole document).
    pub(crate) fn has_selectors(&self) -> bool {
        !self.selectors.is_empty()
    }

    /// One row of a Table, as the whole-document engine would treat it;
    /// whether anything was replaced.
    pub(crate) fn redact_table_row(&self, row: &mut Value, implied: Option<&str>) -> bool {
        let mut report = Report::default();
        if let Some(o) = row.get_mut("object") {
            self.document(o, "$", implied, &mut report);
        }
        self.walk(row, "$", &mut report);
        !report.is_empty()
    }

    /// One list item of a known kind, as the whole-document engine would;
    /// whether anything was replaced.
    pub(crate) fn redact_item(&self, item: &mut Value, kind: Option<&str>) -> bool {
        let mut report = Report::default();
        self.document(item, "$", kind, &mut report);
        self.walk(item, "$", &mut report);
        !report.is_empty()
    }

    /// Whether the detectors must look at every string of `doc` (its raw
    /// bytes hold a possible match, or a detector is anchored); escaped
    /// strings are always decoded and scanned.
    pub(crate) fn detectors_need_scan(&self, doc: &[u8]) -> bool {
        self.any_detector_bytes
            .as_ref()
            .is_some_and(|re| self.anchored || re.is_match(doc))
    }

    /// The JSON text replacing a value whose JSON text is `raw`.
    pub(crate) fn replacement_json(&self, raw: &[u8], is_string: bool, escaped: bool, base64: bool) -> Vec<u8> {
        let base64 = base64 && self.base64_data;
        if let Some((plain, encoded)) = &self.marker_json {
            return if base64 { encoded.clone() } else { plain.clone() };
        }
        let text = if is_string {
            crate::tape::text(raw, escaped).into_owned()
        } else {
            serde_json::from_slice::<Value>(raw)
                .map_or_else(|_| String::from_utf8_lossy(raw).into_owned(), |v| v.to_string())
        };
        serde_json::to_vec(&self.replacement.replace(&text, base64)).unwrap_or_else(|_| b"\"\"".to_vec())
    }

    /// Masks one JSON document given as bytes, writing the result to `out`:
    /// the byte-level engine, which copies untouched bytes through and
    /// rewrites only what a preset names (the same meaning as
    /// [`redact_as`](Self::redact_as), without the report). Returns whether
    /// anything was replaced.
    ///
    /// ```
    /// let r = tollgate_redact::Redactor::builder().build()?;
    /// let mut out = Vec::new();
    /// let event = br#"{"type":"ADDED","object":{"kind":"Secret","data":{"k":"aHVudGVyMg=="}}}"#;
    /// assert!(r.redact_bytes(event, None, &mut out)?);
    /// assert_eq!(out, br#"{"type":"ADDED","object":{"kind":"Secret","data":{"k":"<redacted>"}}}"#);
    /// # Ok::<_, tollgate_redact::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Response`](crate::Error::Response) when the document is not
    /// JSON.
    pub fn redact_bytes(
        &self,
        doc: &[u8],
        implied_kind: Option<&str>,
        out: &mut Vec<u8>,
    ) -> Result<bool, crate::Error> {
        self.rewrite_bytes(doc, implied_kind, out)
            .map_err(crate::Error::Response)
    }

    pub(crate) fn rewrite_bytes(
        &self,
        doc: &[u8],
        implied_kind: Option<&str>,
        out: &mut Vec<u8>,
    ) -> Result<bool, String> {
        if self.has_selectors() {
            if doc.iter().all(u8::is_ascii_whitespace) {
                out.extend_from_slice(doc);
                return Ok(false);
            }
            let mut v: Value =
                serde_json::from_slice(doc).map_err(|e| format!("cannot mask a response that is not JSON: {e}"))?;
            let changed = !self.redact_as(&mut v, implied_kind).is_empty();
            out.extend_from_slice(&serde_json::to_vec(&v).map_err(|e| e.to_string())?);
            return Ok(changed);
        }
        crate::rewrite::rewrite(
            self,
            doc,
            crate::rewrite::Unit::Document(implied_kind),
            &mut Vec::new(),
            out,
        )
    }

    fn is_replacement(&self, v: &Value) -> bool {
        matches!((v, &self.replacement), (Value::String(s), Replacement::Marker(m)) if s == m)
    }

    pub(crate) fn configmap_key(&self, key: &str) -> bool {
        self.configmap_keys.as_ref().is_some_and(|re| re.is_match(key))
    }

    fn replace_at(&self, v: &mut Value, at: &str, base64: bool, report: &mut Report) {
        if v.is_null() {
            return;
        }
        *v = self.replacement.replace_value(v, base64 && self.base64_data);
        report.paths.push(at.to_owned());
    }

    fn replace_all_values(&self, v: &mut Value, at: &str, base64: bool, report: &mut Report) {
        if let Value::Object(m) = v {
            for (k, x) in m.iter_mut() {
                self.replace_at(x, &child(at, k), base64, report);
            }
        } else if !v.is_null() {
            self.replace_at(v, at, base64, report);
        }
    }

    /// The kind-specific places, recursing into lists, Tables and watch events.
    fn document(&self, v: &mut Value, at: &str, implied: Option<&str>, report: &mut Report) {
        let Value::Object(obj) = v else { return };
        let own_kind = obj.get("kind").and_then(Value::as_str).map(str::to_owned);
        let kind = own_kind.as_deref().or(implied);
        // A watch event: {"type": …, "object": …}.
        if own_kind.is_none()
            && obj.get("type").is_some_and(Value::is_string)
            && let Some(o) = obj.get_mut("object")
        {
            self.document(o, &child(at, "object"), implied, report);
            return;
        }
        match kind {
            Some("Table") => {
                if let Some(Value::Array(rows)) = obj.get_mut("rows") {
                    for (i, row) in rows.iter_mut().enumerate() {
                        if let Some(o) = row.get_mut("object") {
                            self.document(
                                o,
                                &child(&child(&index(&child(at, "rows"), i), "object"), ""),
                                implied,
                                report,
                            );
                        }
                    }
                }
                return;
            }
            Some(k) if k.ends_with("List") && obj.get("items").is_some_and(Value::is_array) => {
                let item_kind = k.strip_suffix("List").map(str::to_owned);
                if let Some(Value::Array(items)) = obj.get_mut("items") {
                    for (i, item) in items.iter_mut().enumerate() {
                        self.document(item, &index(&child(at, "items"), i), item_kind.as_deref(), report);
                    }
                }
                return;
            }
            _ => {}
        }
        if let Some(Value::Object(ann)) = obj.get_mut("metadata").and_then(|m| m.get_mut("annotations"))
            && let Some(la) = ann.get_mut(LAST_APPLIED)
        {
            self.last_applied(
                la,
                &child(&child(&child(at, "metadata"), "annotations"), LAST_APPLIED),
                report,
            );
        }
        match kind {
            Some("Secret") => {
                for (field, b64) in [("data", true), ("stringData", false)] {
                    if let Some(d) = obj.get_mut(field) {
                        self.replace_all_values(d, &child(at, field), b64, report);
                    }
                }
            }
            Some("ConfigMap") if self.configmap_keys.is_some() => {
                for field in ["data", "binaryData"] {
                    if let Some(Value::Object(d)) = obj.get_mut(field) {
                        for (k, x) in d.iter_mut() {
                            if self.configmap_key(k) {
                                self.replace_at(x, &child(&child(at, field), k), false, report);
                            }
                        }
                    }
                }
            }
            Some("TokenRequest") => {
                if let Some(t) = obj.get_mut("status").and_then(|s| s.get_mut("token")) {
                    self.replace_at(t, &child(&child(at, "status"), "token"), false, report);
                }
            }
            Some("TokenReview") => {
                if let Some(t) = obj.get_mut("spec").and_then(|s| s.get_mut("token")) {
                    self.replace_at(t, &child(&child(at, "spec"), "token"), false, report);
                }
            }
            _ => {}
        }
    }

    /// The annotation holds JSON: mask inside it (as a document of its own
    /// kind) and write it back; a value that does not parse is masked whole.
    fn last_applied(&self, v: &mut Value, at: &str, report: &mut Report) {
        let Value::String(text) = v else {
            self.replace_at(v, at, false, report);
            return;
        };
        match serde_json::from_str::<Value>(text) {
            Ok(mut inner) => {
                let r = self.redact_as(&mut inner, None);
                if !r.is_empty() {
                    *text = format!("{inner}\n");
                    report.paths.extend(
                        r.paths
                            .into_iter()
                            .map(|p| format!("{at}{}", p.trim_start_matches('$'))),
                    );
                }
            }
            Err(_) => self.replace_at(v, at, false, report),
        }
    }

    /// Env values with credential names, and secret-shaped strings, anywhere.
    fn walk(&self, v: &mut Value, at: &str, report: &mut Report) {
        self.walk_at(v, &Path::Root(at), report);
    }

    /// Env values with credential names, and secret-shaped strings, anywhere;
    /// the path is only rendered when something is reported.
    fn walk_at(&self, v: &mut Value, at: &Path<'_>, report: &mut Report) {
        match v {
            Value::Object(m) => {
                if let Some(Value::Array(env)) = m.get_mut("env") {
                    for (i, e) in env.iter_mut().enumerate() {
                        let named = e
                            .get("name")
                            .and_then(Value::as_str)
                            .is_some_and(|n| self.env_names.is_match(n));
                        if named
                            && let Some(val) = e.get_mut("value")
                            && !self.is_replacement(val)
                        {
                            let shown = child(&index(&child(&at.render(), "env"), i), "value");
                            self.replace_at(val, &shown, false, report);
                        }
                    }
                }
                for (k, x) in m.iter_mut() {
                    if k == LAST_APPLIED {
                        continue;
                    }
                    self.walk_at(x, &Path::Key(at, k), report);
                }
            }
            Value::Array(a) => {
                for (i, x) in a.iter_mut().enumerate() {
                    self.walk_at(x, &Path::Index(at, i), report);
                }
            }
            Value::String(s) => {
                let already = matches!(&self.replacement, Replacement::Marker(m) if m == s);
                if !already
                    && self.any_detector.as_ref().is_some_and(|re| re.is_match(s))
                    && let Some(masked) = self.redact_text(s)
                {
                    *v = Value::String(masked);
                    report.paths.push(at.render());
                }
            }
            _ => {}
        }
    }
}

/// A location built as the walk descends and rendered only when reported.
enum Path<'a> {
    Root(&'a str),
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl Path<'_> {
    fn render(&self) -> String {
        match self {
            Path::Root(r) => (*r).to_owned(),
            Path::Key(p, k) => child(&p.render(), k),
            Path::Index(p, i) => index(&p.render(), *i),
        }
    }
}

/// Secret `data` values are base64: decoded, a value may itself hold a
/// secret-shaped string; this helper exposes the decoding for callers that
/// want to scan them.
pub fn decode_secret_value(v: &str) -> Option<String> {
    base64::engine::general_purpose::STANDARD
        .decode(v)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
}
