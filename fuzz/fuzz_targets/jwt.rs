//! Token parsing before trust: `UnverifiedJwt::parse` and bearer extraction
//! from headers never panic, and a parsed token has a string `alg`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_oidc::{UnverifiedJwt, bearer_token};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(jwt) = UnverifiedJwt::parse(&text) {
        assert!(!jwt.signature.is_empty());
        assert!(text.starts_with(jwt.signing_input));
    }
    let mut h = http::HeaderMap::new();
    if let Ok(v) = http::HeaderValue::from_bytes(data) {
        h.insert(http::header::AUTHORIZATION, v.clone());
        let _ = bearer_token(&h);
        h.clear();
        h.insert(http::header::SEC_WEBSOCKET_PROTOCOL, v);
        let _ = bearer_token(&h);
    }
});
