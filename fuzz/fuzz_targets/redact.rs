//! The redaction engines on arbitrary input: never panic, a Secret's data
//! never survives, and when the input is JSON both the byte-level engine and
//! the streaming engine (under the chunking the first byte picks) mean what
//! the reference engine means.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tollgate_redact::{LAST_APPLIED, Redactor, StreamMasker};

static R: OnceLock<Option<Arc<Redactor>>> = OnceLock::new();

/// Equal as JSON: last-applied annotations compared as the JSON they hold,
/// numbers within rounding (serde_json's float parsing does not round-trip
/// exactly, and the engines copy untouched numbers as written).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter().all(|(k, v)| {
                    y.get(k).is_some_and(|w| {
                        if k == LAST_APPLIED
                            && let (Value::String(s), Value::String(t)) = (v, w)
                            && let (Ok(p), Ok(q)) = (serde_json::from_str::<Value>(s), serde_json::from_str::<Value>(t))
                        {
                            return same(&p, &q);
                        }
                        same(v, w)
                    })
                })
        }
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same(v, w)),
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(p), Some(q)) => p == q || (p - q).abs() <= 1e-9 * p.abs().max(q.abs()),
            _ => x == y,
        },
        _ => a == b,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(r) = R.get_or_init(|| {
        Redactor::builder()
            .configmap_keys("password")
            .build()
            .ok()
            .map(Arc::new)
    }) else {
        return;
    };
    let Some((&cut, input)) = data.split_first() else {
        return;
    };
    let mut m = StreamMasker::new(r.clone(), None, 1 << 20);
    let mut out = Vec::new();
    let streamed = input
        .chunks(usize::from(cut).max(1))
        .try_for_each(|c| m.push(c, &mut out))
        .and_then(|()| m.finish(&mut out));
    let mut bytes_out = Vec::new();
    let bytes = r.redact_bytes(input, None, &mut bytes_out);
    let Ok(mut v) = serde_json::from_slice::<Value>(input) else {
        return;
    };
    let mut patch = v.clone();
    let _ = r.redact_json_patch(&mut patch, Some("Secret"));
    let is_secret = v.get("kind").and_then(Value::as_str) == Some("Secret");
    let _ = r.redact(&mut v);
    if is_secret && let Some(Value::Object(d)) = v.get("data") {
        assert!(d.values().all(|x| x.is_null() || x == "<redacted>"));
    }
    // Valid JSON is masked successfully by every engine, with one meaning.
    streamed.expect("valid JSON streams");
    bytes.expect("valid JSON is rewritten");
    let s: Value = serde_json::from_slice(&out).expect("the stream writes JSON");
    let b: Value = serde_json::from_slice(&bytes_out).expect("the byte engine writes JSON");
    assert!(same(&s, &v), "streaming differs:\n{s}\n{v}");
    assert!(same(&b, &v), "byte engine differs:\n{b}\n{v}");
});
