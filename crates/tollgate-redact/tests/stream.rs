//! The streaming engine equals the reference engine (as parsed JSON) on
//! Kubernetes-shaped documents under random chunkings, and never leaks.

use std::sync::Arc;

use base64::Engine;
use proptest::prelude::*;
use serde_json::{Value, json};
use tollgate_redact::{LAST_APPLIED, Redactor, StreamMasker};

mod common;
use common::normalize;

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn redactor() -> Arc<Redactor> {
    Arc::new(Redactor::builder().configmap_keys("password").build().unwrap())
}

fn stream(
    r: &Arc<Redactor>,
    text: &[u8],
    cut: usize,
    implied: Option<&'static str>,
) -> Result<Vec<u8>, tollgate_redact::Error> {
    let mut m = StreamMasker::new(r.clone(), implied, 1 << 24);
    let mut out = Vec::new();
    for chunk in text.chunks(cut.max(1)) {
        m.push(chunk, &mut out)?;
    }
    m.finish(&mut out)?;
    Ok(out)
}

fn secret(v: &str, i: usize) -> Value {
    let applied = json!({"kind": "Secret", "stringData": {"k": v}}).to_string();
    json!({"metadata": {"name": format!("s{i}"), "annotations": {LAST_APPLIED: applied}, "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:data": {"f:k": {}}}}]},
           "data": {"k": b64(v)}, "stringData": {"z": v}, "type": "Opaque"})
}

fn pod(v: &str, i: usize) -> Value {
    json!({"metadata": {"name": format!("p{i}"), "labels": {"app": "web"}},
           "spec": {"containers": [{"name": "c", "image": "nginx", "env": [{"name": "DB_PASSWORD", "value": v}, {"name": "MODE", "value": "prod"}]}]}})
}

fn doc(kind: u8, v: &str, n: usize) -> Value {
    match kind % 6 {
        0 => {
            json!({"kind": "SecretList", "apiVersion": "v1", "metadata": {"resourceVersion": "12"}, "items": (0..n).map(|i| secret(v, i)).collect::<Vec<_>>()})
        }
        1 => {
            json!({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": (0..n).map(|i| pod(v, i)).collect::<Vec<_>>()})
        }
        2 => {
            json!({"kind": "ConfigMapList", "apiVersion": "v1", "items": (0..n).map(|i| json!({"metadata": {"name": format!("c{i}")}, "data": {"password": v, "x": "y"}})).collect::<Vec<_>>()})
        }
        3 => json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "columnDefinitions": [{"name": "Name"}],
                    "rows": (0..n).map(|i| { let mut s = secret(v, i); s["kind"] = json!("Secret"); json!({"cells": [format!("s{i}")], "object": s}) }).collect::<Vec<_>>()}),
        4 => {
            let mut s = secret(v, 0);
            s["kind"] = json!("Secret");
            s
        }
        _ => {
            json!({"kind": "SecretList", "items": (0..n).map(|i| secret(v, i)).collect::<Vec<_>>(), "metadata": {"continue": "abc"}})
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn streaming_equals_reference(kind in 0u8..6, n in 0usize..5, cut in 1usize..64, pretty in any::<bool>(), secret in "[A-Za-z0-9]{10,20}") {
        let r = redactor();
        let d = doc(kind, &format!("S3KRET{secret}"), n);
        let text = if pretty { serde_json::to_vec_pretty(&d).unwrap() } else { serde_json::to_vec(&d).unwrap() };
        let mut reference = d.clone();
        r.redact(&mut reference);
        let out = stream(&r, &text, cut, None).unwrap();
        let mut streamed: Value = serde_json::from_slice(&out).unwrap();
        normalize(&mut streamed);
        normalize(&mut reference);
        prop_assert_eq!(&streamed, &reference);
        let s = String::from_utf8_lossy(&out);
        prop_assert!(!s.contains(&secret));
        let encoded = b64(&format!("S3KRET{secret}"));
        prop_assert!(!s.contains(&encoded));
    }

    #[test]
    fn escaped_secrets_split_across_chunks_never_leak(n in 1usize..4, cut in 1usize..16, secret in "[A-Za-z0-9]{10,20}") {
        let r = redactor();
        let planted = format!("S3KRET{secret}");
        let text = serde_json::to_string(&doc(0, &planted, n)).unwrap();
        let esc: String = planted.chars().map(|c| format!("\\u{:04x}", c as u32)).collect();
        let text = text.replace(&planted, &esc);
        let out = String::from_utf8(stream(&r, text.as_bytes(), cut, None).unwrap()).unwrap();
        prop_assert!(!out.contains(&planted) && !out.contains(&esc), "{}", out);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200), cut in 1usize..20) {
        let _ = stream(&redactor(), &bytes, cut, Some("Secret"));
    }
}

#[test]
fn holds_one_item_at_a_time() {
    // A list of 2,000 secrets streamed in 4 KiB chunks: the masker never
    // holds more than about one item, and writes as it goes.
    let r = redactor();
    let d = json!({"kind": "SecretList", "items": (0..2000).map(|i| secret("value", i)).collect::<Vec<_>>()});
    let text = serde_json::to_vec(&d).unwrap();
    let one_item = serde_json::to_vec(&secret("value", 1999)).unwrap().len();
    let mut m = StreamMasker::new(r, None, one_item + 64);
    let mut out = Vec::new();
    let mut written_before_end = 0;
    for chunk in text.chunks(4096) {
        m.push(chunk, &mut out).unwrap();
        written_before_end = out.len();
    }
    m.finish(&mut out).unwrap();
    assert!(
        written_before_end > out.len() / 2,
        "output is written while input arrives"
    );
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["items"].as_array().unwrap().len(), 2000);
    assert!(!String::from_utf8_lossy(&out).contains(&b64("value")));
}
