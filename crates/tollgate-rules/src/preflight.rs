//! The object the API server will apply, where the request alone cannot
//! say exactly: a **preflight**. Protobuf and CBOR bodies, JSON patches
//! that move, copy or remove, or that go through an array index, and
//! strategic-merge patches with directives all change the stored object in
//! ways only the API server can work out (merge keys, defaulting, mutating
//! admission). For those — and only when a rule that matches the request
//! reads `object` — the [`PolicyLayer`](crate::PolicyLayer) sends the same
//! request as the same identity with `dryRun=All` and
//! `Accept: application/json` through a [`Preflight`] client (the
//! gateway passes its proxy), evaluates the rules on the object that comes
//! back, and forwards the real request with a precondition on the
//! `resourceVersion` the dry run saw, so the object cannot change between
//! the check and the write (409 instead of an unchecked write).

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use http::{Request, Response};
use serde_json::Value;
use tollgate_kube::{BodyFormat, RequestBody};

/// What a [`Preflight`] client returns.
pub type PreflightFuture = Pin<Box<dyn Future<Output = Result<Response<Bytes>, String>> + Send>>;

/// Sends a dry run to the API server: implemented by the gateway over its
/// proxy, so this crate needs no HTTP client. The request carries the
/// original's extensions (the verified `Identity` among them), so it reaches
/// the API server as the same identity.
pub trait Preflight: Send + Sync + std::fmt::Debug + 'static {
    /// Sends `req` (already a dry run asking for JSON); the answer with its
    /// whole body, or why there is none.
    fn dry_run(&self, req: Request<Bytes>) -> PreflightFuture;
}

/// Why the request alone cannot show the object the API server will store;
/// `None` when it can (JSON and YAML bodies, merge patches, server-side
/// apply, JSON patches of `add`/`replace`/`test` on object paths,
/// strategic-merge patches without directives).
///
/// ```
/// use bytes::Bytes;
/// use tollgate_kube::RequestBody;
/// let b = |ct, s: &'static str| RequestBody::new(Bytes::from_static(s.as_bytes()), Some(ct));
/// let p = "application/json-patch+json";
/// assert_eq!(tollgate_rules::preflight_reason(&b(p, r#"[{"op":"add","path":"/spec/x","value":1}]"#)), None);
/// assert!(tollgate_rules::preflight_reason(&b(p, r#"[{"op":"add","path":"/spec/c/0","value":1}]"#)).is_some());
/// ```
pub fn preflight_reason(body: &RequestBody) -> Option<&'static str> {
    match body.format() {
        BodyFormat::Protobuf => Some("a protobuf body"),
        BodyFormat::Cbor | BodyFormat::ApplyPatchCbor => Some("a CBOR body"),
        BodyFormat::JsonPatch => {
            let ops = body.json().ok().flatten()?.as_array()?;
            for op in ops {
                if let Some("move" | "copy" | "remove") = op.get("op").and_then(Value::as_str) {
                    return Some("a JSON patch that moves, copies or removes");
                }
                let through_array = op.get("path").and_then(Value::as_str).is_some_and(|p| {
                    p.split('/')
                        .skip(1)
                        .any(|seg| seg == "-" || (!seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit())))
                });
                if through_array {
                    return Some("a JSON patch through an array index");
                }
            }
            None
        }
        BodyFormat::StrategicMergePatch => {
            let v = body.json().ok().flatten()?;
            has_directive(v).then_some("a strategic-merge patch with directives")
        }
        _ => None,
    }
}

fn has_directive(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.iter().any(|(k, v)| {
            k == "$patch"
                || k == "$retainKeys"
                || k.starts_with("$setElementOrder/")
                || k.starts_with("$deleteFromPrimitiveList/")
                || has_directive(v)
        }),
        Value::Array(a) => a.iter().any(has_directive),
        _ => false,
    }
}

/// The query with `dryRun=All` (kept as it is when the client asked for a
/// dry run already).
pub(crate) fn dry_run_uri(uri: &http::Uri) -> String {
    let pq = uri.path_and_query().map_or("/", |p| p.as_str());
    let has = uri
        .query()
        .is_some_and(|q| q.split('&').any(|kv| kv.split('=').next() == Some("dryRun")));
    if has {
        pq.to_owned()
    } else if uri.query().is_some() {
        format!("{pq}&dryRun=All")
    } else {
        format!("{pq}?dryRun=All")
    }
}

/// The body to forward with a precondition on `rv` (the `resourceVersion`
/// the dry run saw): a JSON patch gains a `replace` of
/// `/metadata/resourceVersion` (a failed `test` would be 422, not 409); a
/// merge or strategic-merge patch sets `metadata.resourceVersion`. `None`
/// where the request needs none (creates) or has one already (updates carry
/// theirs; a patch that sets it is the client's own precondition).
///
/// ```
/// use bytes::Bytes;
/// use tollgate_kube::RequestBody;
/// let b = RequestBody::new(Bytes::from_static(br#"[{"op":"remove","path":"/spec/x"}]"#), Some("application/json-patch+json"));
/// let out = tollgate_rules::with_precondition(&b, "42").unwrap();
/// assert!(String::from_utf8_lossy(&out).ends_with(r#"{"op":"replace","path":"/metadata/resourceVersion","value":"42"}]"#));
/// ```
pub fn with_precondition(body: &RequestBody, rv: &str) -> Option<Bytes> {
    if rv.is_empty() {
        return None;
    }
    let v = body.json().ok().flatten()?;
    match body.format() {
        BodyFormat::JsonPatch => {
            let mut ops = v.as_array()?.clone();
            if ops
                .iter()
                .any(|o| o.get("path").and_then(Value::as_str) == Some("/metadata/resourceVersion"))
            {
                return None;
            }
            ops.push(serde_json::json!({"op": "replace", "path": "/metadata/resourceVersion", "value": rv}));
            serde_json::to_vec(&ops).ok().map(Bytes::from)
        }
        BodyFormat::MergePatch | BodyFormat::StrategicMergePatch => {
            let mut obj = v.as_object()?.clone();
            let meta = obj
                .entry("metadata")
                .or_insert_with(|| Value::Object(serde_json::Map::new()));
            let meta = meta.as_object_mut()?;
            if meta.contains_key("resourceVersion") {
                return None;
            }
            meta.insert("resourceVersion".to_owned(), Value::String(rv.to_owned()));
            serde_json::to_vec(&obj).ok().map(Bytes::from)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(ct: &str, s: &str) -> RequestBody {
        RequestBody::new(Bytes::from(s.to_owned()), Some(ct))
    }

    #[test]
    fn which_bodies_need_a_preflight() {
        let jp = "application/json-patch+json";
        for (ct, s, want) in [
            (jp, r#"[{"op":"replace","path":"/spec/replicas","value":0}]"#, false),
            (
                jp,
                r#"[{"op":"move","from":"/metadata/annotations/x","path":"/spec/y"}]"#,
                true,
            ),
            (jp, r#"[{"op":"remove","path":"/spec/y"}]"#, true),
            (jp, r#"[{"op":"add","path":"/spec/containers/-","value":{}}]"#, true),
            (
                "application/strategic-merge-patch+json",
                r#"{"spec":{"containers":[{"name":"a","image":"b"}]}}"#,
                false,
            ),
            (
                "application/strategic-merge-patch+json",
                r#"{"spec":{"$setElementOrder/containers":[{"name":"a"}]}}"#,
                true,
            ),
            (
                "application/strategic-merge-patch+json",
                r#"{"spec":{"containers":[{"name":"a","$patch":"delete"}]}}"#,
                true,
            ),
            ("application/merge-patch+json", r#"{"spec":{"x":1}}"#, false),
            ("application/json", r#"{"kind":"Pod"}"#, false),
            ("application/vnd.kubernetes.protobuf", "k8s\u{0}\u{a}", true),
        ] {
            assert_eq!(preflight_reason(&body(ct, s)).is_some(), want, "{ct} {s}");
        }
    }

    #[test]
    fn preconditions_by_patch_type() {
        let m = with_precondition(&body("application/merge-patch+json", r#"{"spec":{"x":1}}"#), "7").unwrap();
        let v: Value = serde_json::from_slice(&m).unwrap();
        assert_eq!(v["metadata"]["resourceVersion"], "7");
        assert_eq!(v["spec"]["x"], 1);
        assert!(
            with_precondition(
                &body(
                    "application/merge-patch+json",
                    r#"{"metadata":{"resourceVersion":"3"}}"#
                ),
                "7"
            )
            .is_none()
        );
        assert!(with_precondition(&body("application/json", r#"{"kind":"Pod"}"#), "7").is_none());
        assert_eq!(
            dry_run_uri(&"/api/v1/namespaces/a/pods/p".parse().unwrap()),
            "/api/v1/namespaces/a/pods/p?dryRun=All"
        );
        assert_eq!(
            dry_run_uri(&"/x?fieldManager=k".parse().unwrap()),
            "/x?fieldManager=k&dryRun=All"
        );
        assert_eq!(dry_run_uri(&"/x?dryRun=All".parse().unwrap()), "/x?dryRun=All");
    }
}
