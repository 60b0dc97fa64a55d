//! Invariants of the review, over random inputs.

use proptest::prelude::*;
use serde_json::json;
use tollgate_audit::{Event, Level, ObjectReference, Stage};
use tollgate_review::{Rbac, Review, Use, compare};

fn a_use() -> impl Strategy<Value = Use> {
    let verb = prop::sample::select(vec!["get", "list", "watch", "create", "patch", "delete"]);
    let group = prop::sample::select(vec!["", "apps", "batch"]);
    let resource = prop::sample::select(vec!["pods", "pods/log", "deployments", "deployments/scale", "jobs"]);
    let ns = prop::sample::select(vec!["", "prod", "staging"]);
    let name = prop::sample::select(vec!["", "web", "db"]);
    let url = prop::sample::select(vec!["/metrics", "/logs/x", "/debug/pprof"]);
    prop_oneof![
        4 => (verb.clone(), group, resource, ns, name).prop_map(|(v, g, r, n, x)| Use::resource(v, g, r, n, x)),
        1 => (verb, url).prop_map(|(v, u)| Use::non_resource(v, u)),
    ]
}

fn a_rule() -> impl Strategy<Value = serde_json::Value> {
    let verbs = prop::sample::subsequence(vec!["*", "get", "list", "create", "delete"], 1..3);
    let groups = prop::sample::subsequence(vec!["*", "", "apps"], 1..2);
    let resources = prop::sample::subsequence(vec!["*", "pods", "pods/log", "*/scale", "deployments"], 1..3);
    let names = prop::sample::subsequence(vec!["web"], 0..=1);
    (verbs, groups, resources, names, any::<bool>()).prop_map(|(v, g, r, n, url)| {
        if url {
            json!({"verbs": v, "nonResourceURLs": ["/metrics", "/debug/*"]})
        } else {
            json!({"verbs": v, "apiGroups": g, "resources": r, "resourceNames": n})
        }
    })
}

/// The suggested YAML as RBAC objects, bound to `user`.
fn suggested_rbac(user: &str, yaml: &str) -> Rbac {
    let mut rbac = Rbac::default();
    for doc in yaml.split("---\n").filter(|d| !d.trim().is_empty()) {
        let role = tollgate_kube::yaml_to_json(doc).expect("the suggestion is YAML");
        let kind = role["kind"].as_str().unwrap().to_owned();
        let name = role["metadata"]["name"].clone();
        let ns = role["metadata"]["namespace"].clone();
        rbac.add(&role);
        let binding = if kind == "Role" {
            json!({"kind": "RoleBinding", "metadata": {"name": "b", "namespace": ns},
                   "roleRef": {"kind": "Role", "name": name}, "subjects": [{"kind": "User", "name": user}]})
        } else {
            json!({"kind": "ClusterRoleBinding", "metadata": {"name": "b"},
                   "roleRef": {"kind": "ClusterRole", "name": name}, "subjects": [{"kind": "User", "name": user}]})
        };
        rbac.add(&binding);
    }
    rbac
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The suggested minimal role grants everything that was used, and
    /// nothing in it goes unused.
    #[test]
    fn the_suggested_role_covers_exactly_what_was_used(used in prop::collection::btree_set(a_use(), 1..12)) {
        let c = compare(&Rbac::default(), "ci:bot", &[], &used);
        let rbac = suggested_rbac("ci:bot", &c.suggested);
        prop_assert!(rbac.warnings().is_empty(), "{:?}", rbac.warnings());
        let again = compare(&rbac, "ci:bot", &[], &used);
        prop_assert!(again.not_granted.is_empty(), "{:?}\n{}", again.not_granted, c.suggested);
        prop_assert!(again.unused_grants.is_empty(), "{:?}", again.unused_grants);
        prop_assert!(again.partly_used.is_empty(), "{:?}", again.partly_used);
        prop_assert!(again.unused_namespaces.is_empty());
    }

    /// Every use is either covered by a grant or listed as not granted;
    /// a grant is either unused or used, never both.
    #[test]
    fn every_use_and_grant_is_accounted_for(
        rules in prop::collection::vec(a_rule(), 1..5),
        cluster_wide in any::<bool>(),
        used in prop::collection::btree_set(a_use(), 0..12),
    ) {
        let mut rbac = Rbac::default();
        rbac.add(&json!({"kind": "ClusterRole", "metadata": {"name": "r"}, "rules": rules}));
        if cluster_wide {
            rbac.add(&json!({"kind": "ClusterRoleBinding", "metadata": {"name": "b"},
                "roleRef": {"kind": "ClusterRole", "name": "r"}, "subjects": [{"kind": "Group", "name": "ci"}]}));
        } else {
            rbac.add(&json!({"kind": "RoleBinding", "metadata": {"name": "b", "namespace": "prod"},
                "roleRef": {"kind": "ClusterRole", "name": "r"}, "subjects": [{"kind": "Group", "name": "ci"}]}));
        }
        let grants = rbac.grants("u", &["ci".to_owned()]);
        let c = compare(&rbac, "u", &["ci".to_owned()], &used);
        for u in &used {
            let covered = grants.iter().any(|g| g.covers(u));
            if !cluster_wide && u.namespace != "prod" {
                prop_assert!(!covered, "a RoleBinding grants only in its namespace: {:?}", u);
            }
        }
        let uncovered = used.iter().filter(|u| !grants.iter().any(|g| g.covers(u))).count();
        prop_assert_eq!(uncovered, c.not_granted.len());
        for g in &c.unused_grants {
            prop_assert!(!used.iter().any(|u| g.covers(u)));
            prop_assert!(!c.partly_used.iter().any(|p| p.grant == *g));
        }
    }

    /// The report's figures add up, whatever the records say.
    #[test]
    fn figures_add_up(records in prop::collection::vec(
        (
            prop::sample::select(vec!["payments", "web", "unmapped"]),
            prop::sample::select(vec!["get", "list", "delete", "create"]),
            prop::sample::select(vec!["", "prod", "staging"]),
            prop::sample::select(vec![200u16, 201, 401, 403, 429]),
            prop::sample::select(vec!["allow", "deny", "unauthenticated", "approval-required"]),
            0u32..5,
        ),
        0..60,
    )) {
        let mut r = Review::default();
        for (i, (owner, verb, ns, code, decision, day)) in records.iter().enumerate() {
            let mut e = Event::new(format!("id-{i}"), Level::Metadata, Stage::ResponseComplete);
            e.request_received_timestamp = format!("2026-11-2{day}T10:00:00.000000Z");
            e.verb = (*verb).to_owned();
            e.response_status = Some(json!({"code": code}));
            let mut o = ObjectReference::default();
            o.resource = "pods".into();
            o.namespace = (*ns).to_owned();
            e.object_ref = Some(o);
            for (k, v) in [("owner", *owner), ("decision", *decision), ("issuer", "https://ci.example"), ("subject", *owner)] {
                e.annotations.insert(format!("tollgate.dev/{k}"), v.to_owned());
            }
            if *owner == "unmapped" {
                e.annotations.insert("tollgate.dev/owner-mapped".into(), "false".into());
            }
            r.add(&e);
        }
        prop_assert_eq!(r.requests, records.len() as u64);
        let unauth: u64 = r.unaccountable.unauthenticated.values().sum();
        let owned: u64 = r.owners.values().map(|o| o.reads + o.writes).sum();
        prop_assert_eq!(owned + unauth, r.requests);
        for o in r.owners.values() {
            let n = o.reads + o.writes;
            prop_assert_eq!(o.by_namespace.values().sum::<u64>(), n);
            prop_assert_eq!(o.by_verb_resource.values().sum::<u64>(), n);
            prop_assert_eq!(o.per_day.values().sum::<u64>(), n);
            prop_assert_eq!(o.identities.values().map(|i| i.requests).sum::<u64>(), n);
            prop_assert!(o.samples.values().all(|s| s.len() <= 10));
        }
        prop_assert_eq!(
            r.unaccountable.unmapped_identities,
            r.owners.get("unmapped").map_or(0, |o| o.identities.len() as u64)
        );
        let _ = (r.to_html(), r.to_markdown(), r.to_csv());
    }
}
