//! The URL table: each row derived from the API server's rules (and the
//! upstream `requestinfo_test.go` cases they come from).

use super::*;
use proptest::prelude::*;

/// method, uri, is_resource, verb, prefix, group, version, namespace, resource, subresource, name
type Row = (
    &'static str,
    &'static str,
    bool,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

#[rustfmt::skip]
const TABLE: &[Row] = &[
    // --- the basics of the core group
    ("GET", "/api/v1/namespaces", true, "list", "api", "", "v1", "", "namespaces", "", ""),
    ("GET", "/api/v1/namespaces/other", true, "get", "api", "", "v1", "other", "namespaces", "", "other"),
    ("GET", "/api/v1/namespaces/other/pods", true, "list", "api", "", "v1", "other", "pods", "", ""),
    ("GET", "/api/v1/namespaces/other/pods/foo", true, "get", "api", "", "v1", "other", "pods", "", "foo"),
    ("HEAD", "/api/v1/namespaces/other/pods/foo", true, "get", "api", "", "v1", "other", "pods", "", "foo"),
    ("GET", "/api/v1/pods", true, "list", "api", "", "v1", "", "pods", "", ""),
    ("HEAD", "/api/v1/pods", true, "list", "api", "", "v1", "", "pods", "", ""),
    ("GET", "/api/v1/namespaces/other/pods/foo/status", true, "get", "api", "", "v1", "other", "pods", "status", "foo"),
    ("POST", "/api/v1/namespaces/other/pods", true, "create", "api", "", "v1", "other", "pods", "", ""),
    ("PUT", "/api/v1/namespaces/other/pods/foo", true, "update", "api", "", "v1", "other", "pods", "", "foo"),
    ("PUT", "/api/v1/namespaces/other/pods", true, "update", "api", "", "v1", "other", "pods", "", ""),
    ("PATCH", "/api/v1/namespaces/other/pods/foo", true, "patch", "api", "", "v1", "other", "pods", "", "foo"),
    ("DELETE", "/api/v1/namespaces/other/pods/foo", true, "delete", "api", "", "v1", "other", "pods", "", "foo"),
    ("DELETE", "/api/v1/namespaces/other/pods", true, "deletecollection", "api", "", "v1", "other", "pods", "", ""),
    ("OPTIONS", "/api/v1/namespaces/other/pods/foo", true, "", "api", "", "v1", "other", "pods", "", "foo"),
    ("get", "/api/v1/namespaces/other/pods/foo", true, "", "api", "", "v1", "other", "pods", "", "foo"),
    // --- groups
    ("GET", "/apis/apps/v1/namespaces/prod/deployments", true, "list", "apis", "apps", "v1", "prod", "deployments", "", ""),
    ("GET", "/apis/apps/v1/namespaces/prod/deployments/web", true, "get", "apis", "apps", "v1", "prod", "deployments", "", "web"),
    ("PATCH", "/apis/apps/v1/namespaces/prod/deployments/web/scale", true, "patch", "apis", "apps", "v1", "prod", "deployments", "scale", "web"),
    ("PUT", "/apis/apps/v1/namespaces/prod/deployments/web/status", true, "update", "apis", "apps", "v1", "prod", "deployments", "status", "web"),
    ("GET", "/apis/apps/v1/deployments", true, "list", "apis", "apps", "v1", "", "deployments", "", ""),
    ("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles/admin", true, "get", "apis", "rbac.authorization.k8s.io", "v1", "", "clusterroles", "", "admin"),
    ("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com", true, "get", "apis", "apiextensions.k8s.io", "v1", "", "customresourcedefinitions", "", "widgets.example.com"),
    ("POST", "/apis/authentication.k8s.io/v1/tokenreviews", true, "create", "apis", "authentication.k8s.io", "v1", "", "tokenreviews", "", ""),
    ("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", true, "create", "apis", "authorization.k8s.io", "v1", "", "selfsubjectaccessreviews", "", ""),
    // --- discovery and other non-resource URLs (APIPrefix set as upstream leaves it)
    ("GET", "/", false, "get", "", "", "", "", "", "", ""),
    ("GET", "/api", false, "get", "", "", "", "", "", "", ""),
    ("GET", "/api/v1", false, "get", "", "", "", "", "", "", ""),
    ("GET", "/apis", false, "get", "", "", "", "", "", "", ""),
    ("GET", "/apis/apps", false, "get", "", "", "", "", "", "", ""),
    ("GET", "/apis/apps/v1", false, "get", "apis", "", "", "", "", "", ""),
    ("GET", "/apis/apps/v1/", false, "get", "apis", "", "", "", "", "", ""),
    ("GET", "/healthz", false, "get", "", "", "", "", "", "", ""),
    ("GET", "/healthz/etcd", false, "get", "", "", "", "", "", "", ""),
    ("GET", "/version", false, "get", "", "", "", "", "", "", ""),
    ("POST", "/metrics", false, "post", "", "", "", "", "", "", ""),
    ("GET", "/openapi/v3/apis/apps/v1", false, "get", "", "", "", "", "", "", ""),
    ("GET", "/openid/v1/jwks", false, "get", "", "", "", "", "", "", ""),
    ("PUT", "/logs/kube.log", false, "put", "", "", "", "", "", "", ""),
    ("GET", "/other/v1/namespaces/a/pods", false, "get", "", "", "", "", "", "", ""),
    ("GET", "/API/v1/pods", false, "get", "", "", "", "", "", "", ""),
    // --- the /watch/ prefix
    ("GET", "/api/v1/watch/pods", true, "watch", "api", "", "v1", "", "pods", "", ""),
    ("GET", "/api/v1/watch/namespaces/other/pods", true, "watch", "api", "", "v1", "other", "pods", "", ""),
    ("GET", "/api/v1/watch/namespaces/other/pods/foo", true, "watch", "api", "", "v1", "other", "pods", "", "foo"),
    ("POST", "/api/v1/watch/namespaces/other/pods", true, "watch", "api", "", "v1", "other", "pods", "", ""),
    ("GET", "/api/v1/watch/pods?watch=false", true, "watch", "api", "", "v1", "", "pods", "", ""),
    ("GET", "/apis/apps/v1/watch/namespaces/a/deployments", true, "watch", "apis", "apps", "v1", "a", "deployments", "", ""),
    // --- ?watch= values
    ("GET", "/api/v1/pods?watch=true", true, "watch", "api", "", "v1", "", "pods", "", ""),
    ("GET", "/api/v1/pods?watch=1", true, "watch", "api", "", "v1", "", "pods", "", ""),
    ("GET", "/api/v1/pods?watch", true, "watch", "api", "", "v1", "", "pods", "", ""),
    ("GET", "/api/v1/pods?watch=", true, "watch", "api", "", "v1", "", "pods", "", ""),
    ("GET", "/api/v1/pods?watch=no", true, "watch", "api", "", "v1", "", "pods", "", ""),
    ("GET", "/api/v1/pods?watch=0", true, "list", "api", "", "v1", "", "pods", "", ""),
    ("GET", "/api/v1/pods?watch=false", true, "list", "api", "", "v1", "", "pods", "", ""),
    ("GET", "/api/v1/pods?watch=FaLsE", true, "list", "api", "", "v1", "", "pods", "", ""),
    ("GET", "/api/v1/pods?watch=false&watch=true", true, "list", "api", "", "v1", "", "pods", "", ""),
    ("GET", "/api/v1/pods?watch=true&watch=false", true, "watch", "api", "", "v1", "", "pods", "", ""),
    ("GET", "/api/v1/pods?watch=%zz", true, "list", "api", "", "v1", "", "pods", "", ""),
    ("GET", "/api/v1/pods?watch=1;x=1", true, "list", "api", "", "v1", "", "pods", "", ""),
    ("GET", "/api/v1/namespaces/a/pods/foo?watch=true", true, "get", "api", "", "v1", "a", "pods", "", "foo"),
    // --- the /proxy/ prefix: verb proxy, never a subresource
    ("GET", "/api/v1/proxy/namespaces/a/pods/p/some/path", true, "proxy", "api", "", "v1", "a", "pods", "", "p"),
    ("DELETE", "/api/v1/proxy/nodes/n1/stats", true, "proxy", "api", "", "v1", "", "nodes", "", "n1"),
    ("GET", "/api/v1/namespaces/a/pods/web-0:8080/proxy/metrics", true, "get", "api", "", "v1", "a", "pods", "proxy", "web-0:8080"),
    ("POST", "/api/v1/namespaces/a/services/https:web:8443/proxy/x", true, "create", "api", "", "v1", "a", "services", "proxy", "https:web:8443"),
    // --- namespaces special cases
    ("GET", "/api/v1/namespaces/other/status", true, "get", "api", "", "v1", "other", "namespaces", "status", "other"),
    ("PUT", "/api/v1/namespaces/other/finalize", true, "update", "api", "", "v1", "other", "namespaces", "finalize", "other"),
    ("DELETE", "/api/v1/namespaces/prod", true, "delete", "api", "", "v1", "prod", "namespaces", "", "prod"),
    ("GET", "/api/v1/namespaces/status", true, "get", "api", "", "v1", "status", "namespaces", "", "status"),
    ("GET", "/api/v1/namespaces/a/namespaces", true, "list", "api", "", "v1", "a", "namespaces", "", ""),
    ("GET", "/api/v1/namespaces/a/pods/b/exec/extra/parts", true, "get", "api", "", "v1", "a", "pods", "exec", "b"),
    // --- exec, attach, port-forward, logs, eviction, tokens
    ("GET", "/api/v1/namespaces/a/pods/p/exec?command=sh&stdin=true", true, "get", "api", "", "v1", "a", "pods", "exec", "p"),
    ("POST", "/api/v1/namespaces/a/pods/p/exec?command=sh", true, "create", "api", "", "v1", "a", "pods", "exec", "p"),
    ("POST", "/api/v1/namespaces/a/pods/p/attach", true, "create", "api", "", "v1", "a", "pods", "attach", "p"),
    ("GET", "/api/v1/namespaces/a/pods/p/portforward", true, "get", "api", "", "v1", "a", "pods", "portforward", "p"),
    ("GET", "/api/v1/namespaces/a/pods/p/log?follow=true", true, "get", "api", "", "v1", "a", "pods", "log", "p"),
    ("POST", "/api/v1/namespaces/a/pods/p/eviction", true, "create", "api", "", "v1", "a", "pods", "eviction", "p"),
    ("POST", "/api/v1/namespaces/a/serviceaccounts/default/token", true, "create", "api", "", "v1", "a", "serviceaccounts", "token", "default"),
    // --- fieldSelector gives a name; the verb stays list/watch
    ("GET", "/api/v1/namespaces/a/pods?fieldSelector=metadata.name%3Dweb-0", true, "list", "api", "", "v1", "a", "pods", "", "web-0"),
    ("GET", "/api/v1/namespaces/a/pods?watch=1&fieldSelector=metadata.name==web-0", true, "watch", "api", "", "v1", "a", "pods", "", "web-0"),
    ("GET", "/api/v1/pods?fieldSelector=metadata.name%3Dzeta,metadata.name%3Dalpha", true, "list", "api", "", "v1", "", "pods", "", "alpha"),
    ("GET", "/api/v1/pods?fieldSelector=metadata.name!%3Dweb", true, "list", "api", "", "v1", "", "pods", "", ""),
    ("GET", "/api/v1/pods?fieldSelector=metadata.name%3Dweb-0&limit=abc", true, "list", "api", "", "v1", "", "pods", "", ""),
    ("GET", "/api/v1/pods?fieldSelector=metadata.name%3Dweb-0&limit=500", true, "list", "api", "", "v1", "", "pods", "", "web-0"),
    ("GET", "/api/v1/pods?fieldSelector=metadata.name%3Dweb-0&timeoutSeconds=x&watch=1", true, "watch", "api", "", "v1", "", "pods", "", ""),
    ("GET", "/api/v1/pods?fieldSelector=metadata.name%3D..", true, "list", "api", "", "v1", "", "pods", "", ""),
    ("GET", "/api/v1/pods?fieldSelector=metadata.name%3Da%25b", true, "list", "api", "", "v1", "", "pods", "", ""),
    ("GET", "/api/v1/pods?fieldSelector=spec.nodeName%3Dn1", true, "list", "api", "", "v1", "", "pods", "", ""),
    ("GET", "/api/v1/pods?fieldSelector=metadata.name%3Dweb&labelSelector=app%3D%3D%3D", true, "list", "api", "", "v1", "", "pods", "", ""),
    ("GET", "/api/v1/pods?fieldSelector=metadata.name%3Dweb&labelSelector=app%20in%20(a,b)", true, "list", "api", "", "v1", "", "pods", "", "web"),
    ("GET", "/api/v1/pods?fieldSelector=x&fieldSelector=metadata.name%3Dweb", true, "list", "api", "", "v1", "", "pods", "", ""),
    ("DELETE", "/api/v1/namespaces/a/pods?fieldSelector=metadata.name%3Dx", true, "deletecollection", "api", "", "v1", "a", "pods", "", ""),
    ("GET", "/api/v1/watch/pods?fieldSelector=metadata.name%3Dx", true, "watch", "api", "", "v1", "", "pods", "", ""),
    // --- percent-decoding and odd segments
    ("GET", "/api/v1/namespaces%2Fa%2Fpods", true, "list", "api", "", "v1", "a", "pods", "", ""),
    ("GET", "/api/v1/namespaces/a/pods%2Fweb", true, "get", "api", "", "v1", "a", "pods", "", "web"),
    ("GET", "/%61pi/v1/pods", true, "list", "api", "", "v1", "", "pods", "", ""),
    ("GET", "/api/v1/namespaces/a/pods/web%3Fx", true, "get", "api", "", "v1", "a", "pods", "", "web?x"),
    ("GET", "//api//v1/pods", true, "get", "api", "", "", "", "v1", "", "pods"),
    ("GET", "/api/v1//pods", true, "get", "api", "", "v1", "", "", "", "pods"),
    ("GET", "/api/v1/namespaces//pods", true, "list", "api", "", "v1", "", "pods", "", ""),
    ("GET", "///api/v1/pods///", true, "list", "api", "", "v1", "", "pods", "", ""),
    ("GET", "/api/v1/namespaces/a/pods/./../x", true, "get", "api", "", "v1", "a", "pods", "..", "."),
    ("GET", "/api/V1/Pods", true, "list", "api", "", "V1", "", "Pods", "", ""),
];

#[test]
fn url_table() {
    assert!(TABLE.len() >= 60, "the table keeps at least 60 URLs");
    for row in TABLE {
        let (method, uri, is_res, verb, prefix, group, version, ns, resource, sub, name) = *row;
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let info = RequestInfo::parse(&method, &uri.parse().unwrap()).unwrap_or_else(|e| panic!("{uri}: {e}"));
        let got = (
            info.is_resource_request,
            info.verb.as_str(),
            info.api_prefix.as_str(),
            info.api_group.as_str(),
            info.api_version.as_str(),
            info.namespace.as_str(),
            info.resource.as_str(),
            info.subresource.as_str(),
            info.name.as_str(),
        );
        assert_eq!(
            got,
            (is_res, verb, prefix, group, version, ns, resource, sub, name),
            "{method} {uri}"
        );
    }
}

#[test]
fn selectors_recorded_for_collections_only() {
    let p = |m: Method, u: &str| RequestInfo::parse(&m, &u.parse().unwrap()).unwrap();
    let i = p(Method::GET, "/api/v1/pods?labelSelector=app%3Dweb&fieldSelector=a%3Db");
    assert_eq!(
        (i.label_selector.as_str(), i.field_selector.as_str()),
        ("app=web", "a=b")
    );
    let i = p(Method::DELETE, "/api/v1/namespaces/a/pods?labelSelector=app%3Dweb");
    assert_eq!(i.label_selector, "app=web");
    let i = p(Method::GET, "/api/v1/watch/pods?labelSelector=app%3Dweb");
    assert_eq!(i.label_selector, "");
    let i = p(Method::GET, "/api/v1/namespaces/a/pods/x?labelSelector=app%3Dweb");
    assert_eq!(i.label_selector, "");
}

#[test]
fn refused_like_the_api_server() {
    for (m, u) in [
        (Method::GET, "/api/v1/watch"),
        (Method::GET, "/api/v1/watch/"),
        (Method::GET, "/api/v1/proxy"),
        (Method::GET, "/apis/apps/v1/watch"),
        (Method::POST, "/apis/apps/v1/proxy/"),
    ] {
        let err = RequestInfo::parse(&m, &u.parse().unwrap()).unwrap_err();
        assert!(matches!(err, Error::UnresolvableRequestInfo { .. }), "{u}");
        let status = err.to_status();
        assert_eq!(status.code, 500);
        assert!(
            status
                .message
                .contains("unable to determine kind and namespace from url"),
            "{}",
            status.message
        );
    }
    let abs = "https://gw:8443/api/v1/watch?x=1".parse().unwrap();
    let err = RequestInfo::parse(&Method::GET, &abs).unwrap_err();
    assert!(
        err.to_status()
            .message
            .starts_with("Internal Server Error: \"/api/v1/watch?x=1\": ")
    );
    for u in ["/api/v1/pods/%zz", "/api/v1/pods/%2", "/api/v1/pods/%ff"] {
        let err = RequestInfo::parse(&Method::GET, &u.parse().unwrap()).unwrap_err();
        assert!(matches!(err, Error::MalformedUri { .. }), "{u}");
        assert_eq!(err.to_status().code, 400);
    }
}

#[test]
fn long_running() {
    let p = |m: Method, u: &str| RequestInfo::parse(&m, &u.parse().unwrap()).unwrap();
    assert!(p(Method::GET, "/api/v1/pods?watch=1").is_long_running());
    assert!(p(Method::POST, "/api/v1/namespaces/a/pods/p/exec").is_long_running());
    assert!(p(Method::GET, "/api/v1/namespaces/a/pods/p/proxy/x").is_long_running());
    assert!(!p(Method::GET, "/api/v1/pods").is_long_running());
    assert!(!p(Method::GET, "/healthz").is_long_running());
    assert_eq!(
        p(Method::GET, "/api/v1/namespaces/a/pods/p/exec").resource_path(),
        "pods/exec"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parse_never_panics(method in "(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS|[A-Za-z]{1,8})",
                          segs in proptest::collection::vec("(api|apis|v1|namespaces|watch|proxy|status|finalize|pods|a|%2F|%2|%zz|\\.|\\.\\.|||[a-z%0-9:.]{0,6})", 0..8),
                          query in "[a-zA-Z=&;%0-9.,!() +]{0,40}") {
        let uri = format!("/{}?{}", segs.join("/"), query);
        if let (Ok(m), Ok(u)) = (Method::from_bytes(method.as_bytes()), uri.parse::<Uri>())
            && let Ok(info) = RequestInfo::parse(&m, &u)
        {
            // Invariants: a resource request always has a known prefix; the
            // name never holds `/` (decoded `%2F` splits segments);
            // `deletecollection` never carries a name.
            if info.is_resource_request {
                prop_assert!(info.api_prefix == "api" || info.api_prefix == "apis");
                prop_assert!(!info.name.contains('/'));
            }
            if info.verb == "deletecollection" {
                prop_assert!(info.name.is_empty());
            }
        }
    }

    #[test]
    fn field_selector_name_is_a_valid_segment(name in "[a-z0-9.%/-]{0,10}") {
        let enc = percent_encoding::utf8_percent_encode(&format!("metadata.name={name}"), percent_encoding::NON_ALPHANUMERIC).to_string();
        let info = RequestInfo::parse(&Method::GET, &format!("/api/v1/pods?fieldSelector={enc}").parse().unwrap()).unwrap();
        prop_assert_eq!(info.verb.as_str(), "list");
        if !info.name.is_empty() {
            prop_assert_eq!(&info.name, &name);
            prop_assert!(!name.contains('/') && !name.contains('%') && name != "." && name != "..");
        }
    }
}
