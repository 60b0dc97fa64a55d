//! The Kubernetes presets, and the never-leak invariant of the reference engine.

use base64::Engine;
use proptest::prelude::*;
use serde_json::{Value, json};
use tollgate_redact::{LAST_APPLIED, Redactor};

fn r() -> Redactor {
    Redactor::builder()
        .configmap_keys("password|token|kubeconfig")
        .build()
        .unwrap()
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn secret(value: &str) -> Value {
    let applied = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "annotations": {}},
                         "stringData": {"password": value}})
    .to_string();
    json!({"kind": "Secret", "apiVersion": "v1",
           "metadata": {"name": "db", "annotations": {LAST_APPLIED: applied}},
           "data": {"password": b64(value)}, "type": "Opaque"})
}

#[test]
fn every_representation_of_a_secret() {
    let r = r();
    let mut s = secret("hunter2");
    let report = r.redact(&mut s);
    assert_eq!(s["data"]["password"], "<redacted>");
    let la: Value = serde_json::from_str(s["metadata"]["annotations"][LAST_APPLIED].as_str().unwrap()).unwrap();
    assert_eq!(la["stringData"]["password"], "<redacted>");
    assert_eq!(
        report.paths,
        [
            "$['metadata']['annotations']['kubectl.kubernetes.io/last-applied-configuration']['stringData']['password']",
            "$['data']['password']"
        ]
    );
    // Lists (items carry no kind), watch events, Tables with full objects and with metadata only.
    let mut list = json!({"kind": "SecretList", "items": [{"data": {"a": b64("x1")}}, {"stringData": {"b": "x2"}}]});
    r.redact(&mut list);
    assert_eq!(list["items"][0]["data"]["a"], "<redacted>");
    assert_eq!(list["items"][1]["stringData"]["b"], "<redacted>");
    let mut ev = json!({"type": "ADDED", "object": secret("x3")});
    r.redact(&mut ev);
    assert!(!ev.to_string().contains("x3") && !ev.to_string().contains(&b64("x3")));
    let mut ev2 = json!({"type": "MODIFIED", "object": {"metadata": {"name": "s"}, "data": {"k": b64("x4")}}});
    r.redact_as(&mut ev2, Some("Secret"));
    assert_eq!(ev2["object"]["data"]["k"], "<redacted>");
    let mut table = json!({"kind": "Table", "rows": [{"cells": ["db"], "object": secret("x5")},
                                                      {"cells": ["db2"], "object": {"kind": "PartialObjectMetadata", "metadata": secret("x6")["metadata"]}}]});
    r.redact(&mut table);
    let t = table.to_string();
    assert!(!t.contains("x5") && !t.contains("x6") && !t.contains(&b64("x5")), "{t}");
}

#[test]
fn env_values_tokens_configmaps_and_detectors() {
    let r = r();
    let mut d = json!({"kind": "Deployment", "spec": {"template": {"spec": {
        "initContainers": [{"name": "i", "env": [{"name": "DB_PASSWORD", "value": "p1"}]}],
        "containers": [{"name": "c", "env": [{"name": "api_token", "value": "p2"}, {"name": "LOG_LEVEL", "value": "debug"},
                                              {"name": "REF", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}]}}}});
    r.redact(&mut d);
    let c = &d["spec"]["template"]["spec"];
    assert_eq!(c["initContainers"][0]["env"][0]["value"], "<redacted>");
    assert_eq!(c["containers"][0]["env"][0]["value"], "<redacted>");
    assert_eq!(
        c["containers"][0]["env"][1]["value"], "debug",
        "only credential-named variables"
    );
    assert_eq!(
        c["containers"][0]["env"][2]["valueFrom"]["secretKeyRef"]["key"], "k",
        "references are not secrets"
    );
    let mut cj = json!({"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {"spec": {"ephemeralContainers": [{"env": [{"name": "SECRET_KEY", "value": "p3"}]}]}}}}}});
    r.redact(&mut cj);
    assert!(!cj.to_string().contains("p3"));
    let mut tr = json!({"kind": "TokenRequest", "status": {"token": "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", "expirationTimestamp": "x"}});
    r.redact(&mut tr);
    assert_eq!(tr["status"]["token"], "<redacted>");
    let mut rv = json!({"spec": {"token": "abc"}});
    r.redact_as(&mut rv, Some("TokenReview"));
    assert_eq!(rv["spec"]["token"], "<redacted>");
    let mut cm = json!({"kind": "ConfigMap", "data": {"db_password": "p4", "greeting": "hello"}});
    r.redact(&mut cm);
    assert_eq!(
        (cm["data"]["db_password"].as_str(), cm["data"]["greeting"].as_str()),
        (Some("<redacted>"), Some("hello"))
    );
    let mut anywhere =
        json!({"kind": "Pod", "metadata": {"annotations": {"ci": "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB"}}});
    r.redact(&mut anywhere);
    assert_eq!(anywhere["metadata"]["annotations"]["ci"], "<redacted>");
    let mut unparsable = json!({"kind": "ConfigMap", "metadata": {"annotations": {LAST_APPLIED: "{not json"}}});
    r.redact(&mut unparsable);
    assert_eq!(unparsable["metadata"]["annotations"][LAST_APPLIED], "<redacted>");
}

#[cfg(feature = "fingerprint")]
#[test]
fn patches_and_selectors_and_fingerprints() {
    let r = r();
    let mut ops = json!([{"op": "add", "path": "/data/password", "value": b64("p5")},
                         {"op": "replace", "path": "/spec/template/spec/containers/0/env/3/value", "value": "p6"},
                         {"op": "add", "path": "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration",
                          "value": json!({"kind": "Secret", "stringData": {"k": "p7"}}).to_string()},
                         {"op": "add", "path": "/stringData", "value": {"a": "p8"}},
                         {"op": "replace", "path": "/metadata/labels/app", "value": "web"}]);
    let report = r.redact_json_patch(&mut ops, Some("Secret"));
    let t = ops.to_string();
    for p in ["p5", "p6", "p7", "p8", &b64("p5")] {
        assert!(!t.contains(p), "{p} in {t}");
    }
    assert!(t.contains("\"web\""));
    assert_eq!(report.paths.len(), 4);
    let mut merge = json!({"stringData": {"password": "p9"}});
    r.redact_as(&mut merge, Some("Secret"));
    assert_eq!(merge["stringData"]["password"], "<redacted>");

    let sel = Redactor::builder()
        .selector("$.spec.credentials[*].password")
        .build()
        .unwrap();
    let mut crd = json!({"kind": "Database", "spec": {"credentials": [{"user": "a", "password": "q1"}, {"user": "b", "password": "q2"}]}});
    let report = sel.redact(&mut crd);
    assert_eq!(
        report.paths,
        [
            "$['spec']['credentials'][0]['password']",
            "$['spec']['credentials'][1]['password']"
        ]
    );
    assert!(!crd.to_string().contains("q1"));

    let fp = Redactor::builder()
        .replacement(tollgate_redact::Replacement::fingerprint(b"k".to_vec(), 8))
        .base64_data(true)
        .build()
        .unwrap();
    let (mut a, mut b) = (secret("same"), secret("same"));
    fp.redact(&mut a);
    fp.redact(&mut b);
    assert_eq!(
        a["data"]["password"], b["data"]["password"],
        "equal values, equal fingerprints"
    );
    let decoded = tollgate_redact::decode_secret_value(a["data"]["password"].as_str().unwrap()).unwrap();
    assert!(
        decoded.starts_with("hmac-sha256:"),
        "data stays valid base64: {decoded}"
    );
}

fn planted(secret: &str, escape: bool, n_items: usize, in_table: bool, as_event: bool) -> String {
    let mut items = Vec::new();
    for i in 0..n_items {
        let mut s = secret_obj(secret, i);
        s.as_object_mut().unwrap().remove("kind");
        items.push(s);
    }
    let pods = json!({"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "env": [{"name": "MY_TOKEN", "value": secret}]}]}});
    let doc = if in_table {
        json!({"kind": "Table", "rows": items.iter().map(|o| { let mut o = o.clone(); o["kind"] = json!("Secret"); json!({"cells": [], "object": o}) }).chain([json!({"cells": [], "object": pods})]).collect::<Vec<_>>()})
    } else {
        json!({"kind": "SecretList", "items": items})
    };
    let doc = if as_event {
        json!({"type": "ADDED", "object": doc})
    } else {
        doc
    };
    let text = doc.to_string();
    if escape {
        // Re-spell every character of the secret as a JSON unicode escape.
        let esc: String = secret.chars().map(|c| format!("\\u{:04x}", c as u32)).collect();
        text.replace(secret, &esc)
    } else {
        text
    }
}

fn secret_obj(secret: &str, i: usize) -> Value {
    let applied =
        json!({"kind": "Secret", "stringData": {format!("k{i}"): secret}, "metadata": {"annotations": {}}}).to_string();
    json!({"kind": "Secret", "metadata": {"name": format!("s{i}"), "annotations": {LAST_APPLIED: applied}},
           "data": {"password": b64(secret)}, "stringData": {"again": secret}})
}

proptest! {
    #[test]
    fn planted_secrets_never_leak(secret in "[A-Za-z0-9]{12,24}", escape in any::<bool>(), n in 1usize..4, table in any::<bool>(), event in any::<bool>()) {
        let secret = format!("S3KRET{secret}");
        let text = planted(&secret, escape, n, table, event);
        let mut doc: Value = serde_json::from_str(&text).unwrap();
        r().redact(&mut doc);
        let out = doc.to_string();
        prop_assert!(!out.contains(&secret), "{}", out);
        prop_assert!(!out.contains(&b64(&secret)), "{}", out);
        // And not hidden inside the re-serialized annotation with escapes either.
        let unescaped = out.replace("\\\"", "\"");
        prop_assert!(!unescaped.contains(&secret));
    }

    #[test]
    fn never_panics(text in "[\\[\\]{}\":,a-z0-9 ]{0,200}") {
        if let Ok(mut v) = serde_json::from_str::<Value>(&text) {
            let _ = r().redact(&mut v);
            let _ = r().redact_json_patch(&mut v, Some("Secret"));
        }
    }
}
