//! Issue 20: `cel:` conditions in policies, through the real
//! `RequestInfoLayer` and `PolicyLayer`: the company-registry rule over
//! creates, merge patches, JSON patches, a protobuf body (refused: it cannot
//! be read) and a huge list (stopped by the budget); `request` and `exec`.

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use tollgate_kube::{Identity, RequestInfoLayer, Status};
use tollgate_rules::{PolicyLayer, PolicyStore, parse_policy};
use tower::{ServiceBuilder, ServiceExt};

const POLICY: &str = r#"apiVersion: tollgate.dev/v1alpha1
kind: Policy
default: allow
rules:
- name: company-registry-only
  match:
    verbs: [create, update, patch]
    resources: [{group: apps, resources: [deployments]}]
  when:
  - cel: '!object.spec.template.spec.containers.all(c, c.image.startsWith("registry.acme.example/"))'
  action: deny
  message: images come from registry.acme.example
- name: no-prod-deletes-by-ci
  match: {verbs: [delete]}
  when:
  - cel: 'request.namespace == "prod" && request.userInfo.groups.exists(g, g.startsWith("github-org:")) && !request.dryRun'
  action: deny
  message: CI does not delete in prod
- name: no-shells
  match: {resources: [{group: "", resources: [pods/exec]}]}
  when:
  - cel: 'exec.command.exists(a, a in ["sh", "bash", "/bin/sh"])'
  action: deny
  message: no interactive shells
"#;

async fn send(method: &str, uri: &str, ct: &str, body: String, groups: &[&str]) -> (u16, String) {
    let store = PolicyStore::new(parse_policy(POLICY, "policy.yaml").unwrap());
    let svc = ServiceBuilder::new()
        .layer(RequestInfoLayer::new())
        .layer(PolicyLayer::new(store))
        .service_fn(|_req: Request<Full<Bytes>>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"{}"))))
        });
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", ct)
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let mut id = Identity::new("github:repo:acme/app");
    id.groups = groups.iter().map(|g| (*g).to_owned()).collect();
    req.extensions_mut().insert(id);
    let res = svc.oneshot(req).await.unwrap();
    let code = res.status().as_u16();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let message = serde_json::from_slice::<Status>(&body)
        .map(|s| s.message)
        .unwrap_or_default();
    (code, message)
}

fn deployment(images: &[&str]) -> String {
    let containers: Vec<String> = images
        .iter()
        .enumerate()
        .map(|(i, img)| format!(r#"{{"name":"c{i}","image":"{img}"}}"#))
        .collect();
    format!(
        r#"{{"apiVersion":"apps/v1","kind":"Deployment","metadata":{{"name":"web"}},"spec":{{"template":{{"spec":{{"containers":[{}]}}}}}}}}"#,
        containers.join(",")
    )
}

const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/default/deployments";

#[tokio::test]
async fn the_company_registry_rule_over_every_way_an_image_arrives() {
    let json = "application/json";
    let (code, _) = send(
        "POST",
        DEPLOYMENTS,
        json,
        deployment(&["registry.acme.example/web:1"]),
        &[],
    )
    .await;
    assert_eq!(code, 200, "from the registry");
    let (code, m) = send(
        "POST",
        DEPLOYMENTS,
        json,
        deployment(&["registry.acme.example/web:1", "docker.io/evil"]),
        &[],
    )
    .await;
    assert_eq!(
        (code, m.contains("images come from registry.acme.example")),
        (403, true),
        "{m}"
    );
    // Look-alike hosts.
    let (code, _) = send(
        "POST",
        DEPLOYMENTS,
        json,
        deployment(&["registry.acme.example.evil.io/web"]),
        &[],
    )
    .await;
    assert_eq!(code, 403);
    // A strategic merge patch and a merge patch carry the containers as sent.
    let patch = r#"{"spec":{"template":{"spec":{"containers":[{"name":"c0","image":"docker.io/evil"}]}}}}"#;
    for ct in ["application/strategic-merge-patch+json", "application/merge-patch+json"] {
        let (code, m) = send("PATCH", &format!("{DEPLOYMENTS}/web"), ct, patch.to_owned(), &[]).await;
        assert_eq!(code, 403, "{ct}: {m}");
    }
    // A JSON patch: the object its operations would set.
    let jp = r#"[{"op":"replace","path":"/spec/template/spec/containers","value":[{"name":"c0","image":"docker.io/evil"}]}]"#;
    let (code, m) = send(
        "PATCH",
        &format!("{DEPLOYMENTS}/web"),
        "application/json-patch+json",
        jp.to_owned(),
        &[],
    )
    .await;
    assert_eq!(code, 403, "{m}");
    // A patch that does not touch the containers cannot be checked by this
    // expression (it reads them without has()): refused, never let through.
    let (code, m) = send(
        "PATCH",
        &format!("{DEPLOYMENTS}/web"),
        "application/merge-patch+json",
        r#"{"spec":{"replicas":3}}"#.to_owned(),
        &[],
    )
    .await;
    assert_eq!(code, 400, "{m}");
    assert!(m.contains("cannot be checked"), "{m}");
    // Protobuf: the object cannot be read: 415, as for other object rules.
    let (code, m) = send(
        "POST",
        DEPLOYMENTS,
        "application/vnd.kubernetes.protobuf",
        "k8s\u{0}\u{a}\u{2}".to_owned(),
        &[],
    )
    .await;
    assert!(code == 415 || code == 400, "{code}: {m}");
    // 100,000 containers: stopped by the budget, refused, no hang.
    let many = vec!["registry.acme.example/x"; 100_000];
    let (code, m) = send("POST", DEPLOYMENTS, json, deployment(&many), &[]).await;
    assert!(code == 400 || code == 413, "{code}: {m}");
}

#[tokio::test]
async fn request_and_exec_are_there_for_cel() {
    let del = "/apis/apps/v1/namespaces/prod/deployments/web";
    let (code, m) = send("DELETE", del, "application/json", String::new(), &["github-org:acme"]).await;
    assert_eq!((code, m.contains("CI does not delete in prod")), (403, true), "{m}");
    let (code, _) = send(
        "DELETE",
        &format!("{del}?dryRun=All"),
        "application/json",
        String::new(),
        &["github-org:acme"],
    )
    .await;
    assert_eq!(code, 200, "a dry run");
    let (code, _) = send("DELETE", del, "application/json", String::new(), &["people"]).await;
    assert_eq!(code, 200, "not CI");
    let exec = "/api/v1/namespaces/default/pods/demo/exec?command=bash&stdin=true&tty=true";
    let (code, m) = send("GET", exec, "", String::new(), &[]).await;
    assert_eq!((code, m.contains("no interactive shells")), (403, true), "{m}");
    let (code, _) = send(
        "GET",
        "/api/v1/namespaces/default/pods/demo/exec?command=ls",
        "",
        String::new(),
        &[],
    )
    .await;
    assert_eq!(code, 200);
}

#[test]
fn cel_conditions_are_checked_when_the_policy_loads() {
    let rule = |cel: &str| {
        format!(
            "apiVersion: tollgate.dev/v1alpha1\nkind: Policy\nrules:\n- name: r\n  match: {{verbs: [create]}}\n  when:\n  - cel: '{cel}'\n  action: deny\n  message: m\n"
        )
    };
    let err = |cel: &str| parse_policy(&rule(cel), "p.yaml").unwrap_err().to_string();
    assert!(err("oldObject.spec == null").contains("undeclared reference to \"oldObject\""));
    assert!(err("quantity(object.spec.x).isGreaterThan(quantity(\"1\"))").contains("quantity library"));
    assert!(err("object.spec ==").contains("p.yaml"));
    let deep = format!("{}true{}", "(".repeat(64), ")".repeat(64));
    assert!(err(&deep).contains("nests 64 deep"));
    let e = parse_policy(
        "apiVersion: tollgate.dev/v1alpha1\nkind: Policy\nrules:\n- name: r\n  match: {verbs: [create]}\n  when:\n  - cel: 'true'\n    equals: 1\n  action: deny\n  message: m\n",
        "p.yaml",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("stands alone"), "{e}");
}
