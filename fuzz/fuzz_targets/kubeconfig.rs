//! Kubeconfig text into an upstream: never panics; errors name a field.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_proxy::{Error, Upstream};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match Upstream::from_kubeconfig_yaml(text, "fuzz", "/nonexistent".as_ref(), None) {
        Ok(_) => {}
        Err(Error::Config { source_name, field, .. }) => {
            assert_eq!(source_name, "fuzz");
            assert!(!field.is_empty());
        }
        Err(_) => {}
    }
});
