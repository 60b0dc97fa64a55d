//! The fingerprint of a request: exactly what an approval covers. The
//! identity (issuer and subject), the verb, everything RequestInfo says
//! about the object, the whole decoded path (everything after a `proxy`
//! subresource included), every query parameter but a few that cannot
//! change what the request does, the media type of the body, and a hash of
//! the body in a normal form (JSON with sorted keys, so the same object sent
//! twice matches however its keys are ordered).

use serde_json::Value;
use tollgate_kube::Identity;
use tollgate_kube::{RequestBody, RequestInfo};

/// Query parameters left out of the fingerprint: they change how long a
/// client waits or how the answer is printed, never what the request does.
/// Every other parameter counts, in order for repeated ones (exec's
/// `command=` arguments).
pub const IGNORED_QUERY_PARAMETERS: &[&str] = &["timeout", "pretty"];

fn field(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// JSON with object keys sorted, recursively.
fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push(':');
                canonical(&m[k.as_str()], out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The fingerprint, as 64 hex digits.
///
/// ```
/// # use http::{Method, Uri};
/// use tollgate_kube::RequestInfo;
/// let id = tollgate_kube::Identity::anonymous();
/// let a = RequestInfo::parse(&Method::DELETE, &Uri::from_static("/apis/apps/v1/namespaces/prod/deployments/web"))?;
/// let b = RequestInfo::parse(&Method::DELETE, &Uri::from_static("/apis/apps/v1/namespaces/prod/deployments/api"))?;
/// let fa = tollgate_approval::fingerprint(&id, &a, None);
/// assert_eq!(fa, tollgate_approval::fingerprint(&id, &a, None));
/// assert_ne!(fa, tollgate_approval::fingerprint(&id, &b, None));
/// # Ok::<_, tollgate_kube::Error>(())
/// ```
pub fn fingerprint(id: &Identity, info: &RequestInfo, body: Option<&RequestBody>) -> String {
    let mut b = Vec::with_capacity(256);
    // Exec, attach and port-forward are `get` over WebSocket and `create`
    // over SPDY; kubectl falls back from one to the other for the same
    // command, so an approval covers both.
    let verb = if matches!(info.subresource.as_str(), "exec" | "attach" | "portforward")
        && matches!(info.verb.as_str(), "get" | "create")
    {
        "connect"
    } else {
        info.verb.as_str()
    };
    for s in [
        "tollgate-approval-v1",
        &id.issuer,
        &id.subject,
        verb,
        &info.api_group,
        &info.api_version,
        &info.resource,
        &info.subresource,
        &info.namespace,
        &info.name,
        &info.path,
    ] {
        field(&mut b, s);
    }
    // Sorted by name (a stable sort keeps repeated values in their order).
    let mut pairs: Vec<&(String, String)> = info
        .query
        .pairs()
        .iter()
        .filter(|(k, _)| !IGNORED_QUERY_PARAMETERS.contains(&k.as_str()))
        .collect();
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    field(&mut b, &pairs.len().to_string());
    for (k, v) in pairs {
        field(&mut b, k);
        field(&mut b, v);
    }
    match body.filter(|x| !x.is_empty()) {
        None => field(&mut b, ""),
        Some(body) => match body.json() {
            Ok(Some(v)) => {
                let mut c = String::new();
                canonical(v, &mut c);
                field(&mut b, "json");
                field(&mut b, body.format().as_str());
                field(&mut b, &c);
            }
            _ => {
                field(&mut b, "bytes");
                field(&mut b, body.format().as_str());
                b.extend_from_slice(body.bytes());
            }
        },
    }
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &b);
    d.as_ref().iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http::{Method, Uri};
    use proptest::prelude::*;

    fn fp_with(uri: &str, ct: &str, body: &str) -> String {
        let mut id = Identity::anonymous();
        id.issuer = "https://issuer".into();
        id.subject = "ci".into();
        let info = RequestInfo::parse(&Method::PATCH, &uri.parse::<Uri>().unwrap()).unwrap();
        let body = RequestBody::new(Bytes::from(body.to_owned()), Some(ct));
        fingerprint(&id, &info, Some(&body))
    }

    const TYPES: [&str; 4] = [
        "application/strategic-merge-patch+json",
        "application/merge-patch+json",
        "application/json-patch+json",
        "application/apply-patch+yaml",
    ];

    proptest! {
        /// Issue 14: changing any one part of a request gives another
        /// fingerprint — the path after a `proxy` subresource, any query
        /// parameter (name, value, or one more), the media type, the body.
        #[test]
        fn any_one_change_is_another_request(
            tail in "[a-z]{1,6}(/[a-z]{1,6}){0,2}",
            other_tail in "[a-z]{1,6}(/[a-z]{1,6}){0,2}",
            params in proptest::collection::vec(("[a-z]{1,5}", "[a-z0-9]{0,5}"), 0..4),
            extra in ("[a-z]{1,5}", "[a-z0-9]{0,5}"),
            t in 0usize..4,
            t2 in 0usize..4,
            n in 0u32..100,
            n2 in 0u32..100,
        ) {
            let params: Vec<(String, String)> = params
                .into_iter()
                .filter(|(k, _)| !IGNORED_QUERY_PARAMETERS.contains(&k.as_str()))
                .collect();
            let q = |ps: &[(String, String)]| ps.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
            let uri = |tail: &str, ps: &[(String, String)]| format!("/api/v1/namespaces/ns/pods/web/proxy/{tail}?{}", q(ps));
            let body = |n: u32| if n.is_multiple_of(2) { format!(r#"{{"metadata":{{"labels":{{"n":"{n}"}}}}}}"#) } else { format!(r#"[{{"op":"add","path":"/x","value":{n}}}]"#) };
            let base = fp_with(&uri(&tail, &params), TYPES[t], &body(n));
            prop_assert_eq!(&base, &fp_with(&uri(&tail, &params), TYPES[t], &body(n)));
            if other_tail != tail {
                prop_assert_ne!(&base, &fp_with(&uri(&other_tail, &params), TYPES[t], &body(n)));
            }
            if !IGNORED_QUERY_PARAMETERS.contains(&extra.0.as_str()) {
                let mut more = params.clone();
                more.push(extra.clone());
                prop_assert_ne!(&base, &fp_with(&uri(&tail, &more), TYPES[t], &body(n)));
            }
            if let Some(first) = params.first() {
                let mut changed = params.clone();
                changed[0].1 = format!("{}x", first.1);
                prop_assert_ne!(&base, &fp_with(&uri(&tail, &changed), TYPES[t], &body(n)));
            }
            if t2 != t {
                prop_assert_ne!(&base, &fp_with(&uri(&tail, &params), TYPES[t2], &body(n)));
            }
            if n2 != n {
                prop_assert_ne!(&base, &fp_with(&uri(&tail, &params), TYPES[t], &body(n2)));
            }
        }
    }

    #[test]
    fn issue_14_replays_are_other_requests() {
        let healthz = fp_with("/api/v1/namespaces/ns/pods/web/proxy/healthz", TYPES[0], "{}");
        let shutdown = fp_with(
            "/api/v1/namespaces/ns/pods/web/proxy/admin/shutdown?confirm=yes",
            TYPES[0],
            "{}",
        );
        assert_ne!(healthz, shutdown);
        let smp = fp_with(
            "/api/v1/namespaces/ns/pods/web",
            TYPES[0],
            r#"{"spec":{"containers":[]}}"#,
        );
        let merge = fp_with(
            "/api/v1/namespaces/ns/pods/web",
            TYPES[1],
            r#"{"spec":{"containers":[]}}"#,
        );
        assert_ne!(smp, merge, "a strategic-merge patch approved once is not a merge patch");
        let a = fp_with("/api/v1/namespaces/ns/pods/web?fieldManager=a", TYPES[0], "{}");
        let b = fp_with("/api/v1/namespaces/ns/pods/web?fieldManager=b", TYPES[0], "{}");
        assert_ne!(a, b, "a parameter not on any list counts");
    }

    fn fp(method: Method, uri: &str, user: &str, body: Option<&str>) -> String {
        let mut id = Identity::anonymous();
        id.issuer = "https://issuer".into();
        id.subject = user.into();
        let info = RequestInfo::parse(&method, &uri.parse::<Uri>().unwrap()).unwrap();
        let body = body.map(|b| RequestBody::new(Bytes::from(b.to_owned()), Some("application/json")));
        fingerprint(&id, &info, body.as_ref())
    }

    #[test]
    fn covers_exactly_one_request() {
        let base = fp(
            Method::DELETE,
            "/apis/apps/v1/namespaces/prod/deployments/web",
            "ci",
            None,
        );
        assert_eq!(
            base,
            fp(
                Method::DELETE,
                "/apis/apps/v1/namespaces/prod/deployments/web?timeout=30s",
                "ci",
                None
            ),
            "a parameter that changes nothing"
        );
        for other in [
            fp(
                Method::DELETE,
                "/apis/apps/v1/namespaces/prod/deployments/api",
                "ci",
                None,
            ),
            fp(
                Method::DELETE,
                "/apis/apps/v1/namespaces/staging/deployments/web",
                "ci",
                None,
            ),
            fp(
                Method::DELETE,
                "/apis/apps/v1/namespaces/prod/deployments/web",
                "someone-else",
                None,
            ),
            fp(
                Method::DELETE,
                "/apis/apps/v1/namespaces/prod/deployments/web?dryRun=All",
                "ci",
                None,
            ),
            fp(
                Method::DELETE,
                "/apis/apps/v1/namespaces/prod/deployments/web?propagationPolicy=Orphan",
                "ci",
                None,
            ),
            fp(Method::DELETE, "/apis/apps/v1/namespaces/prod/deployments", "ci", None),
            fp(
                Method::DELETE,
                "/apis/apps/v1/namespaces/prod/deployments/web",
                "ci",
                Some(r#"{"propagationPolicy":"Orphan"}"#),
            ),
            fp(
                Method::PATCH,
                "/apis/apps/v1/namespaces/prod/deployments/web",
                "ci",
                None,
            ),
        ] {
            assert_ne!(base, other);
        }
        let exec = |q: &str| {
            fp(
                Method::GET,
                &format!("/api/v1/namespaces/prod/pods/p/exec?{q}"),
                "ci",
                None,
            )
        };
        assert_ne!(exec("command=ls"), exec("command=rm&command=-rf"));
        assert_ne!(exec("command=ls&container=a"), exec("command=ls&container=b"));
        assert_ne!(
            exec("command=a&command=b"),
            exec("command=b&command=a"),
            "argument order matters"
        );
        let scale = |b: &str| {
            fp(
                Method::PATCH,
                "/apis/apps/v1/namespaces/prod/deployments/web/scale",
                "ci",
                Some(b),
            )
        };
        assert_eq!(
            scale(r#"{"spec":{"replicas":0},"kind":"Scale"}"#),
            scale(r#"{"kind":"Scale","spec":{"replicas":0}}"#),
            "key order does not matter"
        );
        assert_ne!(scale(r#"{"spec":{"replicas":0}}"#), scale(r#"{"spec":{"replicas":1}}"#));
    }
}
