//! The approval crate's inputs: any Redis URL (operator input) is parsed or
//! refused without panicking, and its error never shows the password; any
//! request (URL and body) gets a fingerprint, the same one every time.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(url) = std::str::from_utf8(data) {
        // The password ends in a marker the input does not hold, so the
        // marker in an error can only be the password leaking (a host that
        // itself holds the marker, named in an error, is not a leak).
        if !url.contains("SECRET") {
            let with_secret = format!("redis://user:{url}SECRET@{url}");
            if let Err(e) = tollgate_approval::redis_url::RedisTarget::parse(&with_secret) {
                assert!(!e.contains("SECRET"), "{e}");
            }
        }
        let _ = tollgate_approval::redis_url::RedisTarget::parse(url);
    }
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let cut = usize::from(split).min(rest.len());
    let (uri, body) = rest.split_at(cut);
    let Ok(uri) = std::str::from_utf8(uri) else { return };
    let Ok(uri) = uri.parse::<http::Uri>() else { return };
    let Ok(info) = tollgate_kube::RequestInfo::parse(&http::Method::DELETE, &uri) else {
        return;
    };
    let id = tollgate_kube::Identity::anonymous();
    let body = tollgate_kube::RequestBody::new(bytes::Bytes::copy_from_slice(body), Some("application/json"));
    let a = tollgate_approval::fingerprint(&id, &info, Some(&body));
    assert_eq!(a.len(), 64);
    assert_eq!(a, tollgate_approval::fingerprint(&id, &info, Some(&body)));
});
