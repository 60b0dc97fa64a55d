//! The Kubernetes audit policy parser on arbitrary text: never panics; a
//! policy it accepts evaluates any request without panicking, and a
//! request that no rule matches gets level None.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_audit::{AuditPolicy, Level, RequestAttributes};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(p) = AuditPolicy::parse(text, "fuzz.yaml") else {
        return;
    };
    let groups = vec!["system:authenticated".to_owned()];
    for (verb, res, path) in [
        ("get", true, "/api/v1/namespaces/a/pods/x"),
        ("post", false, "/healthz/x"),
    ] {
        let a = RequestAttributes {
            user: "u",
            groups: &groups,
            verb,
            resource_request: res,
            namespace: "a",
            resource: "pods",
            name: "x",
            path,
            ..Default::default()
        };
        let d = p.evaluate(&a);
        if d.rule.is_none() {
            assert_eq!(d.level, Level::None);
        }
    }
});
