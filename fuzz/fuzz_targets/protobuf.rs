//! The Kubernetes protobuf decoder on arbitrary bytes: never panics, never
//! reads past the input; what it decodes encodes back to the same object.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_kube::protobuf::{decode, encode};

fuzz_target!(|data: &[u8]| {
    let mut body = tollgate_kube::PROTOBUF_MAGIC.to_vec();
    body.extend_from_slice(data);
    let Some(v) = decode(&body) else { return };
    if let Some(wire) = encode(&v) {
        assert_eq!(decode(&wire).as_ref(), Some(&v), "decode(encode(v)) != v");
    }
});
