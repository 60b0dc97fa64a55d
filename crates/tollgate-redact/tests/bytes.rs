//! The byte-level engine (`Redactor::redact_bytes`, used by the streaming
//! engine for each item) means what the reference engine means, on random
//! documents built from the keys the presets look at — including keys
//! written with escapes, duplicate-free nesting, Tables, lists and watch
//! events — and never leaks a planted secret.

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use tollgate_redact::{LAST_APPLIED, Redactor};

mod common;
use common::normalize;

const KEYS: &[&str] = &[
    "kind",
    "type",
    "object",
    "items",
    "rows",
    "metadata",
    "annotations",
    LAST_APPLIED,
    "data",
    "stringData",
    "binaryData",
    "status",
    "spec",
    "token",
    "env",
    "name",
    "value",
    "containers",
    "x",
];
const KINDS: &[&str] = &[
    "Secret",
    "SecretList",
    "ConfigMap",
    "Table",
    "TokenRequest",
    "TokenReview",
    "Pod",
    "PodList",
    "List",
];
const PLANT: &str = "PLANTEDxSECRETq7";

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-5i64..5).prop_map(Value::from),
        prop::sample::select(KINDS).prop_map(Value::from),
        prop::sample::select(vec!["DB_PASSWORD", "MODE", "api_token", "ADDED"]).prop_map(Value::from),
        Just(Value::from(PLANT)),
        Just(Value::from(format!("Bearer ghp_{PLANT}0123456789abcdefghij01"))),
        "[a-z ]{0,6}".prop_map(Value::from),
    ]
}

fn doc() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(5, 48, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner.clone()), 0..5).prop_map(|kv| {
                let mut m = Map::new();
                for (k, v) in kv {
                    m.insert(k.to_owned(), v);
                }
                Value::Object(m)
            }),
            // A last-applied annotation holding a serialized document.
            inner.prop_map(
                |v| json!({"metadata": {"annotations": {LAST_APPLIED: v.to_string()}}, "kind": "Secret", "data": v})
            ),
        ]
    })
}

fn check(r: &Redactor, d: &Value, text: &[u8], implied: Option<&str>) -> Result<Vec<u8>, TestCaseError> {
    let mut reference = d.clone();
    r.redact_as(&mut reference, implied);
    let mut out = Vec::new();
    r.redact_bytes(text, implied, &mut out)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut got: Value = serde_json::from_slice(&out).map_err(|e| TestCaseError::fail(e.to_string()))?;
    normalize(&mut got);
    normalize(&mut reference);
    prop_assert_eq!(got, reference);
    Ok(out)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn bytes_engine_equals_reference(d in doc(), pretty in any::<bool>(), implied in prop::option::of(prop::sample::select(KINDS))) {
        let r = Redactor::builder().configmap_keys("data|x").build().unwrap();
        let text = if pretty { serde_json::to_vec_pretty(&d).unwrap() } else { serde_json::to_vec(&d).unwrap() };
        check(&r, &d, &text, implied)?;
    }

    #[test]
    fn escaped_keys_and_values_mean_the_same(d in doc(), implied in prop::option::of(prop::sample::select(KINDS))) {
        // `"data"` written `"d\u0061ta"`, the planted value written with
        // unicode escapes: the engine reads them as a JSON parser does.
        let r = Redactor::builder().build().unwrap();
        let text = serde_json::to_string(&d).unwrap();
        let esc: String = PLANT.chars().map(|c| format!("\\u{:04x}", c as u32)).collect();
        let text = text.replace("\"data\"", "\"d\\u0061ta\"").replace("\"env\"", "\"\\u0065nv\"").replace(PLANT, &esc);
        let out = check(&r, &d, text.as_bytes(), implied)?;
        let _ = out;
    }

    #[cfg(feature = "fingerprint")]
    #[test]
    fn fingerprints_mean_the_same(d in doc()) {
        let r = Redactor::builder()
            .replacement(tollgate_redact::Replacement::fingerprint(b"k".to_vec(), 8))
            .base64_data(true)
            .build()
            .unwrap();
        let text = serde_json::to_vec(&d).unwrap();
        check(&r, &d, &text, None)?;
    }

    #[test]
    fn arbitrary_bytes_are_refused_or_masked_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let r = Redactor::builder().build().unwrap();
        let mut out = Vec::new();
        match r.redact_bytes(&bytes, Some("Secret"), &mut out) {
            Ok(_) => prop_assert!(serde_json::from_slice::<Value>(&out).is_ok() || bytes.iter().all(u8::is_ascii_whitespace)),
            Err(e) => prop_assert!(matches!(&e, tollgate_redact::Error::Response(m) if m.contains("not JSON")), "{}", e),
        }
    }
}

#[test]
fn untouched_bytes_are_copied_exactly() {
    // Spacing, key order, number spelling and Go's HTML escapes survive.
    let r = Redactor::builder().build().unwrap();
    let text = br#"{ "kind" : "Pod", "metadata":{"name":"a\u003cb"},  "spec": {"replicas": 1.50E+1,
        "containers":[{"env":[{"value":"hunter2","name":"DB_PASSWORD"},{"name":"MODE","value":"x"}]}]}}"#;
    let mut out = Vec::new();
    assert!(r.redact_bytes(text, None, &mut out).unwrap());
    let expected = String::from_utf8_lossy(text).replace("\"hunter2\"", "\"<redacted>\"");
    assert_eq!(String::from_utf8(out).unwrap(), expected);
}

#[test]
fn a_last_applied_written_by_kubectl_is_masked_inside_and_keeps_its_shape() {
    let r = Redactor::builder().build().unwrap();
    let applied = "{\"apiVersion\":\"v1\",\"data\":{\"password\":\"aHVudGVyMg==\"},\"kind\":\"Secret\",\"metadata\":{\"annotations\":{},\"name\":\"db\",\"namespace\":\"a\\u003cb\"}}\n";
    let d = json!({"kind": "Secret", "metadata": {"name": "db", "annotations": {LAST_APPLIED: applied}}, "data": {"password": "aHVudGVyMg=="}});
    let mut out = Vec::new();
    r.redact_bytes(&serde_json::to_vec(&d).unwrap(), None, &mut out)
        .unwrap();
    let v: Value = serde_json::from_slice(&out).unwrap();
    let la = v["metadata"]["annotations"][LAST_APPLIED].as_str().unwrap();
    assert_eq!(
        la,
        "{\"apiVersion\":\"v1\",\"data\":{\"password\":\"<redacted>\"},\"kind\":\"Secret\",\"metadata\":{\"annotations\":{},\"name\":\"db\",\"namespace\":\"a\\u003cb\"}}\n"
    );
    assert_eq!(v["data"]["password"], "<redacted>");
}

#[test]
fn a_secret_of_60000_keys_is_masked_whole_and_agrees_with_the_reference() {
    // Issue 13, point 4: masking was quadratic in the number of keys (3.1 s
    // of CPU per read at 60,000). Its cost is measured by
    // `cargo bench --bench hostile`; here, that every value of such a
    // Secret is masked, edits interleaved with a last-applied copy and env
    // values found by the walk, exactly as the reference engine does.
    let r = Redactor::builder().build().unwrap();
    let data: Map<String, Value> = (0..60_000)
        .map(|i| (format!("k{i}"), Value::String(format!("c2VjcmV0LXtp{i}"))))
        .collect();
    let applied = json!({"kind": "Secret", "stringData": {"a": "PLANTED-applied"}}).to_string();
    let doc = json!({"kind": "Secret", "apiVersion": "v1",
        "metadata": {"name": "many", "annotations": {LAST_APPLIED: applied}},
        "data": data});
    let text = serde_json::to_vec(&doc).unwrap();
    let mut out = Vec::new();
    assert!(r.redact_bytes(&text, None, &mut out).unwrap());
    let mut masked: Value = serde_json::from_slice(&out).unwrap();
    let values = masked["data"].as_object().unwrap();
    assert_eq!(values.len(), 60_000);
    assert!(
        values
            .values()
            .all(|v| v != &Value::Null && !v.as_str().unwrap().starts_with("c2VjcmV0LXtp"))
    );
    assert!(!String::from_utf8_lossy(&out).contains("PLANTED-applied"));
    let mut reference = doc.clone();
    r.redact_as(&mut reference, None);
    normalize(&mut masked);
    normalize(&mut reference);
    assert_eq!(masked, reference);
}
