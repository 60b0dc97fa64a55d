//! What a record is built from, on arbitrary requests and methods: the kubectl-like
//! command line never panics and is one line; MicroTime parsing never
//! panics and round-trips what it accepts.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Some(d) = tollgate_audit::parse_time(text) {
        let again = tollgate_audit::micro_time(std::time::UNIX_EPOCH + d);
        assert_eq!(
            tollgate_audit::parse_time(&again),
            Some(std::time::Duration::from_micros(d.as_micros() as u64))
        );
    }
    // "METHOD uri" tries that method too (a client chooses it, and a
    // method may hold characters a shell acts on); the whole text is the
    // URI otherwise.
    let (own, uri) = match text.split_once(' ') {
        Some((m, rest)) => (http::Method::from_bytes(m.as_bytes()).ok(), rest),
        None => (None, text),
    };
    let Ok(uri) = uri.parse::<http::Uri>() else { return };
    let methods = [
        http::Method::GET,
        http::Method::POST,
        http::Method::PATCH,
        http::Method::DELETE,
    ];
    for m in methods.into_iter().chain(own) {
        if let Ok(info) = tollgate_kube::RequestInfo::parse(&m, &uri) {
            let body = serde_json::json!({"spec": {"replicas": 3}});
            let c = tollgate_kube::command_line(&info, Some("application/apply-patch+yaml"), Some(&body));
            assert!(c.starts_with("kubectl "));
            assert!(!c.contains('\n') || c.contains('\''), "{c}");
        }
    }
});
