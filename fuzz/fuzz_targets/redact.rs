//! The reference redaction engine on arbitrary JSON: never panics, and a
//! Secret's data never survives.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tollgate_redact::Redactor;

static R: OnceLock<Option<Redactor>> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Some(r) = R.get_or_init(|| Redactor::builder().configmap_keys("password").build().ok()) else { return };
    let Ok(mut v) = serde_json::from_slice::<Value>(data) else { return };
    let mut patch = v.clone();
    let _ = r.redact_json_patch(&mut patch, Some("Secret"));
    let is_secret = v.get("kind").and_then(Value::as_str) == Some("Secret");
    let _ = r.redact(&mut v);
    if is_secret && let Some(Value::Object(d)) = v.get("data") {
        assert!(d.values().all(|x| x.is_null() || x == "<redacted>"));
    }
});
