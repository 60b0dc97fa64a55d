//! The audit policy: rule matching exactly as the API server's checker,
//! case by case, and its validation errors.

use http::{Method, Uri};
use tollgate_audit::{AuditPolicy, Level, RequestAttributes, Stage};
use tollgate_kube::RequestInfo;

const POLICY: &str = r#"
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  # 0: nothing for the health checks (prefix match, also /healthzfoo)
  - level: None
    nonResourceURLs: ["/healthz*", "/version"]
  # 1: one user's reads of configmaps are not recorded
  - level: None
    users: ["system:kube-proxy"]
    verbs: ["watch", "list", "get"]
    resources: [{group: "", resources: ["configmaps"]}]
  # 2: a group's events
  - level: None
    userGroups: ["system:nodes"]
    resources: [{group: "", resources: ["events"]}]
  # 3: secrets in full, only metadata of configmaps
  - level: Metadata
    resources: [{group: "", resources: ["secrets", "configmaps"]}]
    omitStages: ["ResponseStarted"]
  # 4: any status subresource
  - level: Request
    resources: [{group: "*", resources: ["*/status"]}]
  # 5: everything under deployments (also plain deployments: the code does not require a subresource)
  - level: RequestResponse
    resources: [{group: "apps", resources: ["deployments/*"]}]
  # 6: pods but not pods/log
  - level: Request
    resources: [{group: "", resources: ["pods"]}]
  # 7: named objects only
  - level: RequestResponse
    resources: [{group: "", resources: ["serviceaccounts"], resourceNames: ["ci-bot"]}]
  # 8: cluster scope and all namespaces ("" namespace)
  - level: Metadata
    namespaces: [""]
    omitManagedFields: true
  # 9: a whole group
  - level: Request
    resources: [{group: "rbac.authorization.k8s.io"}]
  # 10: the kube-system namespace
  - level: RequestResponse
    namespaces: ["kube-system"]
  # 11: the rest of non-resource URLs
  - level: Metadata
    nonResourceURLs: ["*"]
  # 12: catch-all
  - level: Metadata
    verbs: ["create", "update", "patch", "delete", "deletecollection", "get", "list", "watch"]
"#;

fn policy() -> AuditPolicy {
    AuditPolicy::parse(POLICY, "policy.yaml").unwrap()
}

/// (method, uri, user, groups, expected rule index or None).
type Case = (
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
    Option<usize>,
);

#[rustfmt::skip]
const CASES: &[Case] = &[
    ("GET", "/healthz", "u", &[], Some(0)),
    ("GET", "/healthz/etcd", "u", &[], Some(0)),
    ("GET", "/healthzfoo", "u", &[], Some(0)),
    ("GET", "/version", "u", &[], Some(0)),
    ("GET", "/version/x", "u", &[], Some(11)),
    ("GET", "/livez", "u", &[], Some(11)),
    ("POST", "/apis", "u", &[], Some(11)),
    ("GET", "/api/v1/namespaces/a/configmaps", "system:kube-proxy", &[], Some(1)),
    ("GET", "/api/v1/namespaces/a/configmaps?watch=1", "system:kube-proxy", &[], Some(1)),
    ("GET", "/api/v1/namespaces/a/configmaps/x", "system:kube-proxy", &[], Some(1)),
    ("DELETE", "/api/v1/namespaces/a/configmaps/x", "system:kube-proxy", &[], Some(3)),
    ("GET", "/api/v1/namespaces/a/configmaps/x", "System:Kube-Proxy", &[], Some(3)),
    ("POST", "/api/v1/namespaces/a/events", "n", &["system:nodes"], Some(2)),
    ("POST", "/api/v1/namespaces/a/events", "n", &["other", "system:nodes"], Some(2)),
    ("POST", "/api/v1/namespaces/a/events", "n", &["other"], Some(12)),
    ("POST", "/apis/events.k8s.io/v1/namespaces/a/events", "n", &["system:nodes"], Some(12)),
    ("GET", "/api/v1/namespaces/a/secrets/db", "u", &[], Some(3)),
    ("GET", "/api/v1/secrets", "u", &[], Some(3)),
    ("PUT", "/api/v1/namespaces/a/pods/p/status", "u", &[], Some(4)),
    ("PATCH", "/apis/apps/v1/namespaces/a/deployments/d/status", "u", &[], Some(4)),
    ("PUT", "/apis/example.com/v1/namespaces/a/widgets/w/status", "u", &[], Some(4)),
    ("PATCH", "/apis/apps/v1/namespaces/a/deployments/d/scale", "u", &[], Some(5)),
    ("GET", "/apis/apps/v1/namespaces/a/deployments/d", "u", &[], Some(5)),
    ("GET", "/apis/apps/v1/namespaces/a/deployments", "u", &[], Some(5)),
    ("GET", "/apis/extensions/v1beta1/namespaces/a/deployments/d", "u", &[], Some(12)),
    ("GET", "/api/v1/namespaces/a/pods/p", "u", &[], Some(6)),
    ("GET", "/api/v1/namespaces/a/pods/p/log", "u", &[], Some(12)),
    ("GET", "/api/v1/namespaces/a/pods/p/exec?command=sh", "u", &[], Some(12)),
    ("POST", "/api/v1/namespaces/a/pods/p/exec?command=sh", "u", &[], Some(12)),
    ("GET", "/api/v1/namespaces/a/serviceaccounts/ci-bot", "u", &[], Some(7)),
    ("GET", "/api/v1/namespaces/a/serviceaccounts/other", "u", &[], Some(12)),
    ("GET", "/api/v1/namespaces/a/serviceaccounts", "u", &[], Some(12)),
    ("GET", "/api/v1/namespaces/a/serviceaccounts?fieldSelector=metadata.name%3Dci-bot", "u", &[], Some(7)),
    ("POST", "/api/v1/namespaces/a/serviceaccounts/ci-bot/token", "u", &[], Some(12)),
    ("GET", "/api/v1/nodes", "u", &[], Some(8)),
    ("GET", "/api/v1/pods", "u", &[], Some(6)),
    ("GET", "/api/v1/namespaces", "u", &[], Some(8)),
    ("GET", "/api/v1/namespaces/foo", "u", &[], Some(12)),
    ("DELETE", "/apis/rbac.authorization.k8s.io/v1/clusterroles/x", "u", &[], Some(8)),
    ("DELETE", "/apis/rbac.authorization.k8s.io/v1/namespaces/a/roles/x", "u", &[], Some(9)),
    ("GET", "/api/v1/namespaces/kube-system/services", "u", &[], Some(10)),
    ("GET", "/api/v1/namespaces/kube-system/configmaps/x", "u", &[], Some(3)),
    ("POST", "/api/v1/namespaces/a/services", "u", &[], Some(12)),
    ("OPTIONS", "/api/v1/namespaces/a/services", "u", &[], None),
    ("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", "u", &[], Some(8)),
];

#[test]
fn rules_match_as_the_api_server_matches() {
    let p = policy();
    for (method, uri, user, groups, want) in CASES {
        let info = RequestInfo::parse(&method.parse::<Method>().unwrap(), &uri.parse::<Uri>().unwrap()).unwrap();
        let groups: Vec<String> = groups.iter().map(|g| (*g).to_owned()).collect();
        let got = p.evaluate(&RequestAttributes::from_info(&info, user, &groups));
        assert_eq!(
            got.rule, *want,
            "{method} {uri} as {user} {groups:?} (verb {}, ns {:?})",
            info.verb, info.namespace
        );
        if want.is_none() {
            assert_eq!(got.level, Level::None);
        }
    }
    assert!(CASES.len() >= 40);
}

#[test]
fn stages_and_managed_fields() {
    let p = policy();
    let get = |uri: &'static str| {
        let info = RequestInfo::parse(&Method::GET, &Uri::from_static(uri)).unwrap();
        p.evaluate(&RequestAttributes::from_info(&info, "u", &[]))
    };
    let secrets = get("/api/v1/namespaces/a/secrets");
    assert_eq!(secrets.level, Level::Metadata);
    // The union of the policy's and the rule's lists.
    assert!(secrets.omits(Stage::RequestReceived) && secrets.omits(Stage::ResponseStarted));
    assert!(!secrets.omits(Stage::ResponseComplete));
    assert!(!secrets.omit_managed_fields);
    let nodes = get("/api/v1/nodes");
    assert!(nodes.omit_managed_fields && nodes.omits(Stage::RequestReceived) && !nodes.omits(Stage::ResponseStarted));
    // No rule: level None with the policy's stages.
    let none = AuditPolicy::parse("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: []\n", "p").unwrap();
    let info = RequestInfo::parse(&Method::GET, &Uri::from_static("/api/v1/pods")).unwrap();
    assert_eq!(
        none.evaluate(&RequestAttributes::from_info(&info, "u", &[])).level,
        Level::None
    );
}

#[test]
fn invalid_policies_are_refused_naming_the_file_line_and_field() {
    let head = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n";
    for (rules, want) in [
        ("  - verbs: [get]\n", "policy.yaml:4: rules[0].level: required"),
        (
            "  - level: Everything\n",
            "rules[0].level: unknown level \"Everything\"",
        ),
        (
            "  - level: None\n  - level: Metadata\n    omitStages: [Done]\n",
            "policy.yaml:5: rules[1].omitStages[0]: unknown stage \"Done\"",
        ),
        (
            "  - level: None\n    nonResourceURLs: [\"/x\"]\n    namespaces: [a]\n",
            "rules cannot apply to both",
        ),
        (
            "  - level: None\n    nonResourceURLs: [\"healthz\"]\n",
            "must begin with a '/'",
        ),
        (
            "  - level: None\n    nonResourceURLs: [\"/a*/b\"]\n",
            "must be the final character",
        ),
        (
            "  - level: None\n    resources: [{group: \"Apps_\", resources: [x]}]\n",
            "rules[0].resources[0].group: \"Apps_\" is not a valid API group",
        ),
        (
            "  - level: None\n    resources: [{resourceNames: [x]}]\n",
            "using resourceNames requires at least one resource",
        ),
        (
            "  - level: None\n    resources: [{resources: [\"\"]}]\n",
            "rules[0].resources[0].resources[0]: must not be empty",
        ),
        ("  - level: None\n    verb: [get]\n", "unknown field"),
    ] {
        let err = AuditPolicy::parse(&format!("{head}{rules}"), "policy.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{rules:?}: {err}");
        assert!(err.starts_with("policy.yaml"), "{err}");
    }
    let err = AuditPolicy::parse("apiVersion: audit.k8s.io/v1beta1\nkind: Policy\nrules: []\n", "p").unwrap_err();
    assert_eq!(err.field, "apiVersion");
    let err = AuditPolicy::parse("apiVersion: audit.k8s.io/v1\nkind: Policy\n", "p").unwrap_err();
    assert_eq!(err.field, "rules");
    let err = AuditPolicy::parse(
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [X]\nrules: []\n",
        "p",
    )
    .unwrap_err();
    assert_eq!(err.field, "omitStages[0]");
    let err = AuditPolicy::parse("rules: [\n", "p").unwrap_err();
    assert_eq!(err.field, "(syntax)");
}

#[test]
fn a_json_policy_is_accepted_too() {
    let p = AuditPolicy::parse(
        r#"{"apiVersion":"audit.k8s.io/v1","kind":"Policy","rules":[{"level":"RequestResponse","verbs":["delete"]}]}"#,
        "p.json",
    )
    .unwrap();
    assert_eq!(p.rules[0].level, Level::RequestResponse);
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn uri() -> impl Strategy<Value = String> {
        (
            prop::sample::select(vec!["/api/v1", "/apis/apps/v1", "/apis/rbac.authorization.k8s.io/v1"]),
            prop::option::of("[a-z]{1,5}"),
            prop::sample::select(vec!["pods", "secrets", "deployments", "roles", "namespaces"]),
            prop::option::of("[a-z]{1,5}"),
            prop::option::of(prop::sample::select(vec!["status", "log", "exec", "scale"])),
        )
            .prop_map(|(prefix, ns, res, name, sub)| {
                let mut u = prefix.to_owned();
                if let Some(ns) = ns {
                    u.push_str(&format!("/namespaces/{ns}"));
                }
                u.push_str(&format!("/{res}"));
                if let Some(n) = name {
                    u.push_str(&format!("/{n}"));
                    if let Some(s) = sub {
                        u.push_str(&format!("/{s}"));
                    }
                }
                u
            })
    }

    proptest! {
        #[test]
        fn the_first_matching_rule_wins(u in uri(), user in "[a-z]{1,4}", m in prop::sample::select(vec!["GET", "POST", "PUT", "PATCH", "DELETE"])) {
            let info = RequestInfo::parse(&m.parse::<Method>().unwrap(), &u.parse::<Uri>().unwrap()).unwrap();
            let p = policy();
            let got = p.evaluate(&RequestAttributes::from_info(&info, &user, &[]));
            // With a catch-all rule in front, every request matches it.
            let mut first = p.clone();
            first.rules.insert(0, AuditPolicy::everything(Level::RequestResponse).rules[0].clone());
            let d = first.evaluate(&RequestAttributes::from_info(&info, &user, &[]));
            prop_assert_eq!(d.rule, Some(0));
            prop_assert_eq!(d.level, Level::RequestResponse);
            // Removing every rule before the one that matched does not change the answer.
            if let Some(i) = got.rule {
                let mut tail = p.clone();
                tail.rules.drain(..i);
                let t = tail.evaluate(&RequestAttributes::from_info(&info, &user, &[]));
                prop_assert_eq!(t.rule, Some(0));
                prop_assert_eq!(t.level, got.level);
            } else {
                prop_assert_eq!(got.level, Level::None);
            }
        }
    }
}
