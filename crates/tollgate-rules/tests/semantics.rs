//! Decision semantics, policy errors, and properties.

use proptest::prelude::*;
use tollgate_kube::{RequestBody, RequestInfo};
use tollgate_rules::{Action, RequestView, parse_policy};

fn info(method: &str, uri: &str) -> RequestInfo {
    RequestInfo::parse(
        &http::Method::from_bytes(method.as_bytes()).unwrap(),
        &uri.parse().unwrap(),
    )
    .unwrap()
}

fn rule(name: &str, action: &str, verbs: &str) -> String {
    let extra = match action {
        "require_approval" => "\n  approval: {approvers: {groups: [admins]}}",
        "deny" | "warn" => "\n  message: m",
        _ => "",
    };
    format!("- name: {name}\n  match: {{verbs: [{verbs}]}}\n  action: {action}{extra}\n")
}

fn policy(default: &str, rules: &[String]) -> tollgate_rules::Policy {
    let text = format!(
        "apiVersion: tollgate.dev/v1alpha1\nkind: Policy\ndefault: {default}\nrules:\n{}",
        rules.concat()
    );
    parse_policy(&text, "p.yaml").unwrap()
}

#[test]
fn strongest_wins_and_first_among_equals() {
    let p = policy(
        "allow",
        &[
            rule("w", "warn", "get"),
            rule("d1", "deny", "get"),
            rule("a", "require_approval", "get"),
            rule("d2", "deny", "get"),
        ],
    );
    let i = info("GET", "/api/v1/namespaces/a/pods/p");
    let d = p.evaluate(&RequestView::new(&i, None, None)).unwrap();
    assert_eq!(d.action, Action::Deny);
    assert_eq!(d.rule.as_deref(), Some("d1"));
    assert_eq!(d.matched.len(), 4, "every matching rule is reported");
    assert!(d.warnings.is_empty(), "no warning when the request is denied anyway");
}

#[test]
fn default_applies_when_nothing_matches() {
    let p = policy("deny", &[rule("w", "warn", "list")]);
    let i = info("GET", "/api/v1/namespaces/a/pods/p");
    let d = p.evaluate(&RequestView::new(&i, None, None)).unwrap();
    assert_eq!((d.action, d.rule), (Action::Deny, None));
}

#[test]
fn dryrun_rules_only_warn() {
    let text = "apiVersion: tollgate.dev/v1alpha1\nkind: Policy\nrules:\n- name: would-block\n  match: {verbs: [delete]}\n  action: deny\n  message: not yet\n  mode: dryrun\n";
    let p = parse_policy(text, "p.yaml").unwrap();
    let i = info("DELETE", "/api/v1/namespaces/a/pods/p");
    let d = p.evaluate(&RequestView::new(&i, None, None)).unwrap();
    assert_eq!(d.action, Action::Allow);
    assert_eq!(
        d.warnings,
        ["Tollgate dry-run: rule \"would-block\" would deny: not yet"]
    );
    assert!(d.matched[0].dry_run);
}

#[test]
fn conditions_over_query_and_body() {
    let text = "apiVersion: tollgate.dev/v1alpha1\nkind: Policy\nrules:\n- name: fast-delete\n  match: {verbs: [delete]}\n  when:\n  - {query: gracePeriodSeconds, lt: 5}\n  - {query: dryRun, absent: true}\n  action: deny\n  message: no forced deletes\n- name: orphan\n  match: {verbs: [delete]}\n  when:\n  - {object: $.propagationPolicy, in: [Orphan]}\n  action: warn\n  message: orphans stay behind\n";
    let p = parse_policy(text, "p.yaml").unwrap();
    let i = info("DELETE", "/api/v1/namespaces/a/pods/p?gracePeriodSeconds=0");
    assert_eq!(
        p.evaluate(&RequestView::new(&i, None, None)).unwrap().action,
        Action::Deny
    );
    let i = info("DELETE", "/api/v1/namespaces/a/pods/p?gracePeriodSeconds=0&dryRun=All");
    assert_eq!(
        p.evaluate(&RequestView::new(&i, None, None)).unwrap().action,
        Action::Allow
    );
    let body = RequestBody::new(
        bytes::Bytes::from_static(br#"{"propagationPolicy":"Orphan"}"#),
        Some("application/json"),
    );
    let i = info("DELETE", "/api/v1/namespaces/a/pods/p");
    let d = p.evaluate(&RequestView::new(&i, None, Some(&body))).unwrap();
    assert_eq!((d.action, d.rule.as_deref()), (Action::Warn, Some("orphan")));
}

#[test]
fn errors_name_file_line_and_field() {
    let bad = |rules: &str| {
        parse_policy(
            &format!("apiVersion: tollgate.dev/v1alpha1\nkind: Policy\nrules:\n{rules}"),
            "p.yaml",
        )
        .unwrap_err()
        .to_string()
    };
    assert_eq!(
        bad("- name: x\n  action: deny\n  message: m\n  when:\n  - {object: '$.[', equals: 1}\n")
            .split(": invalid JSONPath")
            .next()
            .unwrap(),
        "p.yaml:4: rules[0].when[0].object"
    );
    assert_eq!(
        bad("- name: x\n  action: nuke\n"),
        "p.yaml:4: rules[0].action: \"nuke\" must be deny, warn, require_approval or allow"
    );
    assert_eq!(
        bad("- name: x\n  message: m\n"),
        "p.yaml:4: rules[0].action: required: deny, warn, require_approval or allow"
    );
    // YAML reads `no` as a boolean: the error says so.
    assert_eq!(
        bad("- name: x\n  action: deny\n  message: no\n"),
        "p.yaml:4: rules[0].message: must be a string, not false (YAML reads yes, no, on and off as booleans: quote the text)"
    );
    assert_eq!(
        bad("- name: x\n  action: deny\n"),
        "p.yaml:4: rules[0].message: required for deny and warn: it is what kubectl prints"
    );
    assert!(
        bad("- name: x\n  action: warn\n  message: m\n  match: {verbs: [destroy]}\n")
            .contains("rules[0].match.verbs: unknown verb \"destroy\"")
    );
    assert!(
        bad("- name: x\n  action: warn\n  message: m\n  when: [{exec: command, matches: '('}]\n")
            .starts_with("p.yaml:4: rules[0].when[0].matches")
    );
    assert!(bad("- name: x\n  action: require_approval\n").contains("rules[0].approval: required"));
    assert!(
        bad("- name: a\n  action: allow\n- name: a\n  action: allow\n")
            .starts_with("p.yaml:6: rules[1].name: duplicate")
    );
    assert!(
        bad("- name: x\n  action: allow\n  match: {nonResourceURLs: ['/x'], namespaces: [a]}\n")
            .contains("cannot be combined")
    );
    let syntax = parse_policy("apiVersion: tollgate.dev/v1alpha1\nkind: Policy\nrules: [\n", "p.yaml").unwrap_err();
    assert_eq!(syntax.field, "(syntax)");
}

proptest! {
    #[test]
    fn order_among_equals_does_not_change_the_action(order in Just(vec![0usize, 1, 2, 3]).prop_shuffle()) {
        let all = [rule("w", "warn", "get"), rule("d", "deny", "get"), rule("a", "require_approval", "get"), rule("ok", "allow", "get")];
        let rules: Vec<String> = order.iter().map(|i| all[*i].clone()).collect();
        let p = policy("allow", &rules);
        let i = info("GET", "/api/v1/namespaces/a/pods/p");
        let d = p.evaluate(&RequestView::new(&i, None, None)).unwrap();
        prop_assert_eq!(d.action, Action::Deny);
        prop_assert_eq!(d.rule.as_deref(), Some("d"));
    }

    #[test]
    fn matching_never_panics(method in "(GET|POST|PUT|PATCH|DELETE|HEAD)", path in "(/[a-z%0-9.]{0,8}){0,7}", q in "[a-z=&%0-9]{0,20}", body in proptest::collection::vec(any::<u8>(), 0..64),
                             ct in prop::sample::select(vec!["application/json", "application/yaml", "application/json-patch+json", "application/vnd.kubernetes.protobuf"])) {
        let p = parse_policy(include_str!("../../../docs/policies/baseline.yaml"), "b").unwrap();
        if let Ok(uri) = format!("{path}?{q}").parse::<http::Uri>()
            && let Ok(i) = RequestInfo::parse(&http::Method::from_bytes(method.as_bytes()).unwrap(), &uri)
        {
            let b = RequestBody::new(bytes::Bytes::from(body), Some(ct));
            let _ = p.evaluate(&RequestView::new(&i, None, Some(&b)));
        }
    }
}

#[test]
fn an_invalid_reload_keeps_the_old_policy() {
    let dir = std::env::temp_dir().join(format!("tollgate-rules-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("p.yaml");
    let good = "apiVersion: tollgate.dev/v1alpha1\nkind: Policy\nrules:\n- name: a\n  action: deny\n  message: m\n";
    std::fs::write(&path, good).unwrap();
    let store = tollgate_rules::PolicyStore::new(tollgate_rules::PolicyStore::load_file(&path).unwrap());
    let before = store.current();
    std::fs::write(
        &path,
        "apiVersion: tollgate.dev/v1alpha1\nkind: Policy\nrules:\n- name: a\n  action: explode\n",
    )
    .unwrap();
    let e = store.reload_from(&path).unwrap_err();
    assert!(e.to_string().contains("rules[0].action"), "{e}");
    assert!(
        std::sync::Arc::ptr_eq(&before, &store.current()),
        "the old policy stays in force"
    );
    std::fs::write(&path, good.replace("name: a", "name: b")).unwrap();
    store.reload_from(&path).unwrap();
    assert_eq!(store.current().rules[0].name, "b", "a valid file swaps the Arc");
    let _ = std::fs::remove_dir_all(&dir);
}
