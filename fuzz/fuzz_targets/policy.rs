//! Policy loading on arbitrary text, and the baseline pack evaluated on
//! arbitrary requests and bodies: never panics.
#![no_main]

use std::sync::OnceLock;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use tollgate_kube::{RequestBody, RequestInfo};
use tollgate_rules::{Policy, RequestView, parse_policy};

static BASELINE: OnceLock<Policy> = OnceLock::new();

const TYPES: [&str; 5] = [
    "application/json",
    "application/yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/apply-patch+yaml",
];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else { return };
    if sel & 1 == 0 {
        // Loading: any text is either a policy or an error naming a field.
        if let Err(e) = parse_policy(&String::from_utf8_lossy(rest), "fuzz.yaml") {
            assert!(!e.field.is_empty());
        }
        return;
    }
    // Evaluation: request line, then a body.
    let policy = BASELINE.get_or_init(|| {
        parse_policy(include_str!("../../docs/policies/baseline.yaml"), "baseline")
            .unwrap_or_else(|_| Policy::allow_all())
    });
    let split = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
    let (line, body) = rest.split_at(split);
    let line = String::from_utf8_lossy(line);
    let (m, u) = line.split_once(' ').unwrap_or(("GET", &line));
    let (Ok(method), Ok(uri)) = (http::Method::from_bytes(m.as_bytes()), u.parse::<http::Uri>()) else {
        return;
    };
    let Ok(info) = RequestInfo::parse(&method, &uri) else {
        return;
    };
    let body = RequestBody::new(
        Bytes::copy_from_slice(body),
        Some(TYPES[usize::from(sel >> 1) % TYPES.len()]),
    );
    let _ = policy.evaluate(&RequestView::new(&info, None, Some(&body)));
});
