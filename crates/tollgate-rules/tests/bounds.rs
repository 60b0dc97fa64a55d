//! Issue 13: what one request can make policy evaluation cost is bounded.
//! Each case is a reproduction that once crashed the gateway, took
//! hundreds of megabytes or a minute of CPU; driven through the real
//! `RequestInfoLayer` and `PolicyLayer` with the baseline pack, on a test
//! thread's 2 MiB stack like an async worker's.

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use tollgate_kube::{RequestInfoLayer, Status};
use tollgate_rules::{PolicyLayer, PolicyStore, parse_policy};
use tower::{ServiceBuilder, ServiceExt};

const BASELINE: &str = include_str!("../../../docs/policies/baseline.yaml");

async fn send(policy: &str, method: &str, uri: &str, ct: &str, body: String) -> (u16, String) {
    let store = PolicyStore::new(parse_policy(policy, "policy.yaml").unwrap());
    let svc = ServiceBuilder::new()
        .layer(RequestInfoLayer::new())
        .layer(PolicyLayer::new(store))
        .service_fn(|_req: Request<Full<Bytes>>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"{}"))))
        });
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", ct)
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let res = svc.oneshot(req).await.unwrap();
    let code = res.status().as_u16();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let message = serde_json::from_slice::<Status>(&body)
        .map(|s| s.message)
        .unwrap_or_default();
    (code, message)
}

/// A value nested `depth` objects deep around `inner`.
fn nest(depth: usize, key: &str, inner: &str) -> String {
    format!("{}{inner}{}", format!("{{\"{key}\":").repeat(depth), "}".repeat(depth))
}

#[tokio::test]
async fn a_deep_json_patch_pointer_is_refused_naming_the_limit() {
    // Point 1 exactly: 15,000 segments once overflowed the worker's stack.
    let patch = format!(r#"[{{"op":"add","path":"/spec{}","value":1}}]"#, "/a".repeat(15_000));
    let (code, message) = send(
        BASELINE,
        "PATCH",
        "/api/v1/namespaces/default/pods/demo",
        "application/json-patch+json",
        patch,
    )
    .await;
    assert_eq!(code, 400, "{message}");
    assert!(message.contains("JSON pointer depth 15001"), "{message}");
    assert!(message.contains("limit of 128 segments"), "{message}");
}

#[tokio::test]
async fn the_deepest_allowed_patch_with_the_deepest_value_is_evaluated() {
    // 128 segments holding a value nested as deep as JSON allows: the
    // object the rules see is 250 levels deep, and `$..` queries walk it.
    let path = format!("/spec{}", "/a".repeat(127));
    let value = nest(120, "b", r#"{"privileged":true}"#);
    let patch = format!(r#"[{{"op":"add","path":"{path}","value":{value}}}]"#);
    let (code, message) = send(
        BASELINE,
        "PATCH",
        "/api/v1/namespaces/default/pods/demo",
        "application/json-patch+json",
        patch,
    )
    .await;
    assert!(code == 200 || code == 403, "{code} {message}");
}

#[tokio::test]
async fn a_deep_pod_around_a_large_array_is_bounded() {
    // Point 3: `hostNetwork` nested 120 levels around a 100,000-element
    // array; matches were copied with their subtrees (879 MB).
    let array = format!("[{}]", vec!["1"; 100_000].join(","));
    let spec = nest(118, "hostNetwork", &array);
    let pod = format!(r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"p"}},"spec":{spec}}}"#);
    let (code, message) = send(
        BASELINE,
        "POST",
        "/api/v1/namespaces/default/pods",
        "application/json",
        pod,
    )
    .await;
    // Either decided or refused as too much to check; never a crash.
    assert!(matches!(code, 200 | 400 | 403), "{code} {message}");
    if code == 400 {
        assert!(message.contains("limit of"), "{message}");
    }
}

#[tokio::test]
async fn a_condition_selecting_too_many_values_refuses_rather_than_skips() {
    let policy = r#"apiVersion: tollgate.dev/v1alpha1
kind: Policy
rules:
  - name: no-magic
    action: deny
    message: no magic
    match: {resources: [{group: "", resources: [configmaps]}]}
    when:
      - object: $.data..*
        equals: magic
"#;
    let items: Vec<String> = (0..20_000).map(|i| format!("\"k{i}\":\"v\"")).collect();
    let cm = format!(r#"{{"kind":"ConfigMap","data":{{{}}}}}"#, items.join(","));
    let (code, message) = send(
        policy,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        "application/json",
        cm,
    )
    .await;
    assert_eq!(code, 400, "{message}");
    assert!(
        message.contains("no-magic") && message.contains("10000 values"),
        "{message}"
    );
}

#[test]
fn a_regex_with_a_large_automaton_is_refused_when_the_policy_loads() {
    // Point 7: `[ab]*a[ab]{3000}c` passed `policy check` and took 57 s of
    // CPU on a 3 MB field.
    let policy = r#"apiVersion: tollgate.dev/v1alpha1
kind: Policy
rules:
  - name: slow
    action: deny
    message: slow
    when:
      - object: $.data.x
        matches: "[ab]*a[ab]{3000}c"
"#;
    let err = parse_policy(policy, "p.yaml").unwrap_err().to_string();
    assert!(
        err.contains("p.yaml:4") && err.contains("matches") && err.contains("size limit"),
        "{err}"
    );
}

#[test]
fn a_large_policy_loads_and_names_its_rules_lines() {
    // Point 7: 15,000 rules once took 22 s (each rule's line was searched
    // for from the top of the file).
    let mut text = String::from("apiVersion: tollgate.dev/v1alpha1\nkind: Policy\nrules:\n");
    for i in 0..15_000 {
        text.push_str(&format!(
            "  - name: r{i}\n    action: warn\n    message: m\n    match: {{verbs: [get]}}\n"
        ));
    }
    let p = parse_policy(&text, "big.yaml").unwrap();
    assert_eq!(p.rules.len(), 15_000);
    assert_eq!(p.rules[14_999].line, Some(4 + 4 * 14_999));
}
