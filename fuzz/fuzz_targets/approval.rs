//! The approval crate's inputs: replies from Redis (network input) never
//! panic the RESP parser and are never read past their end; any request
//! (URL and body) gets a fingerprint, the same one every time.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(n) = tollgate_approval::decode_resp_reply(data) {
        assert!(n <= data.len());
    }
    let Some((&split, rest)) = data.split_first() else { return };
    let cut = usize::from(split).min(rest.len());
    let (uri, body) = rest.split_at(cut);
    let Ok(uri) = std::str::from_utf8(uri) else { return };
    let Ok(uri) = uri.parse::<http::Uri>() else { return };
    let Ok(info) = tollgate_kube::RequestInfo::parse(&http::Method::DELETE, &uri) else { return };
    let id = tollgate_kube::Identity::anonymous();
    let body = tollgate_kube::RequestBody::new(bytes::Bytes::copy_from_slice(body), Some("application/json"));
    let a = tollgate_approval::fingerprint(&id, &info, Some(&body));
    assert_eq!(a.len(), 64);
    assert_eq!(a, tollgate_approval::fingerprint(&id, &info, Some(&body)));
});
