//! `detects: credentials`: literal credentials written into an object where
//! a reference belongs — an env value under a credential name
//! (`DB_PASSWORD: hunter2` instead of a `secretKeyRef`), a ConfigMap key or
//! annotation under such a name, a PEM key, cloud key or token anywhere in a
//! string, `PASSWORD=…` inside a string. Found by the redaction presets'
//! own detectors and env-name pattern, and reported by the field's path,
//! never by its value.

use std::sync::OnceLock;

use serde_json::Value;
use tollgate_redact::{LAST_APPLIED, Redactor};

/// The most nodes one search walks (with the condition's own bounds).
const MAX_WALK: usize = 100_000;

/// Fields that refer to a Secret rather than hold a value: not searched.
const REFERENCES: &[&str] = &[
    "valueFrom",
    "envFrom",
    "secretKeyRef",
    "secretRef",
    "secret",
    "imagePullSecrets",
];

/// Keys whose value is a name or a reference, whatever the key says.
const NOT_VALUES: &[&str] = &["name", "key", "secretName"];

fn redactor() -> Option<&'static Redactor> {
    static R: OnceLock<Option<Redactor>> = OnceLock::new();
    R.get_or_init(|| Redactor::builder().build().ok()).as_ref()
}

/// A path element as kubectl and the API server write field paths:
/// `spec.containers[0].env[0].value`.
fn join(prefix: &str, key: &str) -> String {
    let plain = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    match (prefix.is_empty(), plain) {
        (true, true) => key.to_owned(),
        (false, true) => format!("{prefix}.{key}"),
        (_, false) => format!("{prefix}[{}]", Value::String(key.to_owned())),
    }
}

/// Whether a string carries `NAME=value` with a credential name.
fn assigns_credential(r: &Redactor, s: &str) -> bool {
    s.split(|c: char| c.is_whitespace() || matches!(c, ';' | '&' | '\'' | '"' | ','))
        .filter_map(|w| w.split_once('='))
        .any(|(name, value)| {
            !value.is_empty()
                && !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
                && r.is_credential_name(name)
        })
}

/// Appends the paths below `at` (the node's own path) where `node` holds a
/// literal credential.
pub(crate) fn find(node: &Value, at: &str, out: &mut Vec<String>) {
    let Some(r) = redactor() else { return };
    let mut budget = MAX_WALK;
    walk(r, node, at, None, out, &mut budget);
}

fn walk(r: &Redactor, node: &Value, at: &str, key: Option<&str>, out: &mut Vec<String>, budget: &mut usize) {
    if *budget == 0 {
        return;
    }
    *budget -= 1;
    match node {
        Value::String(s) => {
            let named = key.is_some_and(|k| r.is_credential_name(k)) && !s.is_empty();
            if named || r.holds_secret(s) || assigns_credential(r, s) {
                out.push(at.to_owned());
            }
        }
        Value::Object(m) => {
            // An env entry: {name, value}: the value under its name.
            if let (Some(Value::String(name)), Some(Value::String(value))) = (m.get("name"), m.get("value"))
                && r.is_credential_name(name)
                && !value.is_empty()
            {
                out.push(join(at, "value"));
                return;
            }
            for (k, v) in m {
                // The last-applied annotation is a copy of the object.
                if k == LAST_APPLIED || REFERENCES.contains(&k.as_str()) {
                    continue;
                }
                let as_key = if NOT_VALUES.contains(&k.as_str()) {
                    None
                } else {
                    Some(k.as_str())
                };
                walk(r, v, &join(at, k), as_key, out, budget);
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                walk(r, v, &format!("{at}[{i}]"), None, out, budget);
            }
        }
        _ => {}
    }
}

/// A JSONPath location as a field path (`$['spec']['containers'][0]` →
/// `spec.containers[0]`).
pub(crate) fn field_path(loc: &serde_json_path::NormalizedPath<'_>) -> String {
    let mut out = String::new();
    for e in loc.iter() {
        match e {
            serde_json_path::PathElement::Name(n) => out = join(&out, n),
            serde_json_path::PathElement::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paths(v: &Value) -> Vec<String> {
        let mut out = Vec::new();
        find(v, "spec", &mut out);
        out
    }

    #[test]
    fn literal_credentials_are_found_by_path() {
        let spec = json!({"containers": [{"name": "app", "image": "busybox", "env": [
            {"name": "DB_PASSWORD", "value": "hunter2"},
            {"name": "LOG_LEVEL", "value": "debug"},
            {"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "t"}}},
            {"name": "OPTS", "value": "--mode=x PASSWORD=hunter3"},
            {"name": "EMPTY_SECRET", "value": ""}
        ]}]});
        assert_eq!(
            paths(&spec),
            ["spec.containers[0].env[0].value", "spec.containers[0].env[3].value"]
        );
        let pem = json!({"annotations": {"a.example/key": "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----"}});
        assert_eq!(paths(&pem), ["spec.annotations[\"a.example/key\"]"]);
        assert!(paths(&json!({"containers": [{"name": "app", "image": "nginx"}]})).is_empty());
    }
}
