//! Request body classification and the JSON view (JSON and the budgeted
//! YAML parser) on arbitrary bytes: never panics.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use tollgate_kube::RequestBody;

const TYPES: [&str; 6] = [
    "application/json",
    "application/yaml",
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/strategic-merge-patch+json",
    "application/vnd.kubernetes.protobuf",
];

fuzz_target!(|data: &[u8]| {
    let Some((&t, rest)) = data.split_first() else { return };
    let body = RequestBody::new(Bytes::copy_from_slice(rest), Some(TYPES[usize::from(t) % TYPES.len()]));
    let _ = body.json();
});
