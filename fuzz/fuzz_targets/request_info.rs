//! `RequestInfo::parse` on any method and request target: never panics, and
//! a parsed resource request keeps the invariants the rules rely on.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_kube::RequestInfo;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|b| *b == b' ').unwrap_or(0);
    let (method, target) = data.split_at(split);
    let target = target.strip_prefix(b" ").unwrap_or(target);
    let (Ok(method), Ok(uri)) = (http::Method::from_bytes(method), http::Uri::try_from(target)) else {
        return;
    };
    if let Ok(info) = RequestInfo::parse(&method, &uri) {
        if info.is_resource_request {
            assert!(info.api_prefix == "api" || info.api_prefix == "apis");
            assert!(!info.name.contains('/'));
        }
        if info.verb == "deletecollection" {
            assert!(info.name.is_empty());
        }
    }
});
