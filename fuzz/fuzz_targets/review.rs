//! The access review's inputs: arbitrary RBAC documents and arbitrary audit
//! records never panic the granted-vs-used computation or any report
//! format, and the HTML never carries a record's text unescaped.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_audit::Event;
use tollgate_review::{Rbac, Review};

fuzz_target!(|data: &[u8]| {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let mut rbac = Rbac::default();
    rbac.add(&v);
    let mut r = Review::default();
    if let Ok(e) = serde_json::from_value::<Event>(v.clone()) {
        r.add(&e);
    }
    r.compare_rbac(&rbac);
    r.check_issuers(&["https://issuer.example"]);
    r.check_owners(&["payments"]);
    let page = r.to_html();
    assert!(
        !page.contains("<img") && !page.contains("<iframe"),
        "a record's text became markup"
    );
    let _ = r.to_markdown();
    let _ = r.to_csv();
    let _ = r.to_json();
    let _ = rbac.warnings();
    let _ = rbac.grants("u", &["g".to_owned()]);
});
