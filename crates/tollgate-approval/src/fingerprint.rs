//! The fingerprint of a request: exactly what an approval covers. The
//! identity (issuer and subject), the verb, everything RequestInfo says
//! about the object, the query parameters that change what the request
//! does, and a hash of the body in a normal form (JSON with sorted keys,
//! so the same object sent twice matches however its keys are ordered).

use serde_json::Value;
use tollgate_kube::{RequestBody, RequestInfo};
use tollgate_oidc::Identity;

/// Query parameters that change what a request does (exec's command and
/// container, dry run, deletion behaviour, what a collection delete hits,
/// a port-forward's ports). Others (`timeout`, `pretty`, `fieldManager` …)
/// do not.
const MEANINGFUL: &[&str] = &[
    "command",
    "container",
    "stdin",
    "stdout",
    "stderr",
    "tty",
    "dryRun",
    "propagationPolicy",
    "gracePeriodSeconds",
    "orphanDependents",
    "force",
    "labelSelector",
    "fieldSelector",
    "ports",
    "limit",
];

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
/// let id = tollgate_oidc::Identity::anonymous();
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
        if info.is_resource_request { "" } else { &info.path },
    ] {
        field(&mut b, s);
    }
    for key in MEANINGFUL {
        for v in info.query.all(key) {
            field(&mut b, key);
            field(&mut b, v);
        }
    }
    match body.filter(|x| !x.is_empty()) {
        None => field(&mut b, ""),
        Some(body) => match body.json() {
            Ok(Some(v)) => {
                let mut c = String::new();
                canonical(v, &mut c);
                field(&mut b, "json");
                field(&mut b, &c);
            }
            _ => {
                field(&mut b, "bytes");
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
