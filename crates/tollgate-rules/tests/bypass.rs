//! The anti-bypass suite: each case is something the baseline pack forbids
//! (or flags), phrased the way an attacker might, driven through the real
//! `RequestInfoLayer` and `PolicyLayer`.

use std::convert::Infallible;
use std::io::Write;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use tollgate_kube::{RequestInfoLayer, Status};
use tollgate_rules::{PolicyLayer, PolicyStore, parse_policy};
use tower::{ServiceBuilder, ServiceExt};

const BASELINE: &str = include_str!("../../../docs/policies/baseline.yaml");

struct Out {
    code: u16,
    message: String,
    warnings: Vec<String>,
}

async fn send(req: Request<Full<Bytes>>) -> Out {
    let store = PolicyStore::new(parse_policy(BASELINE, "baseline.yaml").unwrap());
    let svc = ServiceBuilder::new()
        .layer(RequestInfoLayer::new())
        .layer(PolicyLayer::new(store))
        .service_fn(|_req: Request<Full<Bytes>>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"{}"))))
        });
    let res = svc.oneshot(req).await.unwrap();
    let code = res.status().as_u16();
    let warnings = res
        .headers()
        .get_all("warning")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let message = serde_json::from_slice::<Status>(&body)
        .map(|s| s.message)
        .unwrap_or_default();
    Out {
        code,
        message,
        warnings,
    }
}

fn req(method: &str, uri: &str) -> http::request::Builder {
    Request::builder().method(method).uri(uri)
}

fn empty(method: &str, uri: &str) -> Request<Full<Bytes>> {
    req(method, uri).body(Full::default()).unwrap()
}

fn json(method: &str, uri: &str, ct: &str, body: &str) -> Request<Full<Bytes>> {
    req(method, uri)
        .header("content-type", ct)
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap()
}

fn gzip(method: &str, uri: &str, ct: &str, body: &str) -> Request<Full<Bytes>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(body.as_bytes()).unwrap();
    req(method, uri)
        .header("content-type", ct)
        .header("Content-Encoding", "gzip")
        .body(Full::new(Bytes::from(enc.finish().unwrap())))
        .unwrap()
}

const BINDING: &str = r#"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding","metadata":{"name":"b"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"cluster-admin"},"subjects":[{"kind":"User","name":"eve"}]}"#;
const PRIV_POD: &str = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"x","securityContext":{"privileged":true}}]}}"#;
const PRIV_DEPLOY: &str = r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"template":{"spec":{"containers":[{"name":"c","image":"x","securityContext":{"privileged":true}}]}}}}"#;
const PRIV_CRON: &str = r#"{"apiVersion":"batch/v1","kind":"CronJob","metadata":{"name":"j"},"spec":{"jobTemplate":{"spec":{"template":{"spec":{"initContainers":[{"name":"i","image":"x","securityContext":{"privileged":true}}]}}}}}}"#;

#[tokio::test]
async fn anti_bypass_suite() {
    let denied = |o: &Out, rule: &str, what: &str| {
        assert_eq!(o.code, 403, "{what}: {}", o.message);
        assert!(
            o.message.contains(&format!("Tollgate rule \"{rule}\"")),
            "{what}: {}",
            o.message
        );
    };
    let mut n = 0;
    macro_rules! deny {
        ($rule:expr, $what:expr, $req:expr) => {{
            n += 1;
            denied(&send($req).await, $rule, $what);
        }};
    }
    macro_rules! code {
        ($code:expr, $what:expr, $req:expr) => {{
            n += 1;
            let o = send($req).await;
            assert_eq!(o.code, $code, "{}: {}", $what, o.message);
        }};
    }
    let ns = "no-namespace-delete";
    deny!(ns, "plain", empty("DELETE", "/api/v1/namespaces/prod"));
    deny!(ns, "trailing slash", empty("DELETE", "/api/v1/namespaces/prod/"));
    deny!(ns, "leading double slash", empty("DELETE", "//api/v1/namespaces/prod"));
    deny!(ns, "%2F between segments", empty("DELETE", "/api/v1/namespaces%2Fprod"));
    deny!(
        ns,
        "percent-encoded prefix",
        empty("DELETE", "/%61pi/v1/namespaces/prod")
    );
    deny!(
        ns,
        "with gracePeriodSeconds=0",
        empty("DELETE", "/api/v1/namespaces/prod?gracePeriodSeconds=0")
    );
    deny!(
        ns,
        "dryRun is not a loophole",
        empty("DELETE", "/api/v1/namespaces/prod?dryRun=All")
    );
    deny!(ns, "deletecollection", empty("DELETE", "/api/v1/namespaces"));
    deny!(
        ns,
        "deletecollection with a name selector",
        empty("DELETE", "/api/v1/namespaces?fieldSelector=metadata.name%3Dprod")
    );
    deny!(
        ns,
        "propagationPolicy in the body",
        json(
            "DELETE",
            "/api/v1/namespaces/prod",
            "application/json",
            r#"{"propagationPolicy":"Foreground"}"#
        )
    );
    deny!(
        "no-crd-delete",
        "CRD",
        empty(
            "DELETE",
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com"
        )
    );
    deny!(
        "no-cluster-rbac-changes",
        "clusterrolebinding",
        json(
            "POST",
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            "application/json",
            BINDING
        )
    );
    let rb = "/apis/rbac.authorization.k8s.io/v1/namespaces/team/rolebindings";
    deny!(
        "no-cluster-admin-bindings",
        "JSON",
        json("POST", rb, "application/json", BINDING)
    );
    deny!(
        "no-cluster-admin-bindings",
        "YAML",
        json(
            "POST",
            rb,
            "application/yaml",
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: b}\nroleRef: {kind: ClusterRole, name: cluster-admin}\n"
        )
    );
    deny!(
        "no-cluster-admin-bindings",
        "mixed-case content type",
        json(
            "POST",
            rb,
            "Application/YAML; charset=utf-8",
            "roleRef:\n  name: cluster-admin\n"
        )
    );
    deny!(
        "no-cluster-admin-bindings",
        "gzip-encoded",
        gzip("POST", rb, "application/json", BINDING)
    );
    deny!(
        "no-cluster-admin-bindings",
        "PUT",
        json("PUT", &format!("{rb}/b"), "application/json", BINDING)
    );
    deny!(
        "no-cluster-admin-bindings",
        "JSON patch",
        json(
            "PATCH",
            &format!("{rb}/b"),
            "application/json-patch+json",
            r#"[{"op":"replace","path":"/roleRef/name","value":"cluster-admin"}]"#
        )
    );
    code!(
        415,
        "protobuf body when a rule must read it",
        req("POST", rb)
            .header("content-type", "application/vnd.kubernetes.protobuf")
            .body(Full::new(Bytes::from_static(b"k8s\0\n\x0bsome-proto")))
            .unwrap()
    );
    code!(
        415,
        "protobuf magic under a JSON content type",
        req("POST", rb)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(b"k8s\0\n\x0bsome-proto")))
            .unwrap()
    );
    code!(
        200,
        "a binding to edit is fine",
        json(
            "POST",
            rb,
            "application/json",
            &BINDING.replace("cluster-admin", "edit")
        )
    );

    let pr = "no-privileged-containers";
    deny!(
        pr,
        "pod",
        json("POST", "/api/v1/namespaces/team/pods", "application/json", PRIV_POD)
    );
    deny!(
        pr,
        "deployment template",
        json(
            "POST",
            "/apis/apps/v1/namespaces/team/deployments",
            "application/json",
            PRIV_DEPLOY
        )
    );
    deny!(
        pr,
        "cronjob init container",
        json(
            "POST",
            "/apis/batch/v1/namespaces/team/cronjobs",
            "application/json",
            PRIV_CRON
        )
    );
    deny!(
        pr,
        "strategic merge patch",
        json(
            "PATCH",
            "/apis/apps/v1/namespaces/team/deployments/d",
            "application/strategic-merge-patch+json",
            r#"{"spec":{"template":{"spec":{"containers":[{"name":"c","securityContext":{"privileged":true}}]}}}}"#
        )
    );
    deny!(
        pr,
        "JSON patch add",
        json(
            "PATCH",
            "/apis/apps/v1/namespaces/team/deployments/d",
            "application/json-patch+json",
            r#"[{"op":"add","path":"/spec/template/spec/containers/0/securityContext","value":{"privileged":true}}]"#
        )
    );
    deny!(
        pr,
        "server-side apply YAML",
        json(
            "PATCH",
            "/apis/apps/v1/namespaces/team/deployments/d?fieldManager=x",
            "application/apply-patch+yaml",
            "apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n      - name: c\n        securityContext: {privileged: true}\n"
        )
    );
    deny!(
        pr,
        "ephemeral container subresource",
        json(
            "PATCH",
            "/api/v1/namespaces/team/pods/p/ephemeralcontainers",
            "application/strategic-merge-patch+json",
            r#"{"spec":{"ephemeralContainers":[{"name":"dbg","image":"x","securityContext":{"privileged":true}}]}}"#
        )
    );
    deny!(
        pr,
        "dry run",
        json(
            "POST",
            "/api/v1/namespaces/team/pods?dryRun=All",
            "application/json",
            PRIV_POD
        )
    );
    deny!(
        "no-host-network",
        "merge patch",
        json(
            "PATCH",
            "/apis/apps/v1/namespaces/team/daemonsets/ds",
            "application/merge-patch+json",
            r#"{"spec":{"template":{"spec":{"hostNetwork":true}}}}"#
        )
    );
    deny!(
        "no-host-path-volumes",
        "hostPath",
        json(
            "POST",
            "/api/v1/namespaces/team/pods",
            "application/json",
            r#"{"spec":{"volumes":[{"name":"root","hostPath":{"path":"/"}}],"containers":[{"name":"c","image":"x"}]}}"#
        )
    );
    deny!(
        "no-host-pid-or-ipc",
        "hostPID",
        json(
            "POST",
            "/apis/apps/v1/namespaces/team/statefulsets",
            "application/json",
            r#"{"spec":{"template":{"spec":{"hostPID":true}}}}"#
        )
    );
    code!(
        415,
        "CBOR pod",
        req("POST", "/api/v1/namespaces/team/pods")
            .header("content-type", "application/cbor")
            .body(Full::new(Bytes::from_static(&[0xd9, 0xd9, 0xf7, 0xa0])))
            .unwrap()
    );
    code!(
        200,
        "an ordinary pod",
        json(
            "POST",
            "/api/v1/namespaces/team/pods",
            "application/json",
            &PRIV_POD.replace("true", "false")
        )
    );

    let ex = "no-destructive-exec";
    let exec = "/api/v1/namespaces/team/pods/p/exec";
    deny!(
        ex,
        "WebSocket exec (GET)",
        req("GET", &format!("{exec}?command=rm&command=-rf&command=/&stdout=true"))
            .header("connection", "Upgrade")
            .header("upgrade", "websocket")
            .body(Full::default())
            .unwrap()
    );
    deny!(
        ex,
        "SPDY exec (POST)",
        req("POST", &format!("{exec}?command=rm&command=-rf&command=/"))
            .header("connection", "Upgrade")
            .header("upgrade", "SPDY/3.1")
            .body(Full::default())
            .unwrap()
    );
    deny!(
        ex,
        "sh -c",
        empty("GET", &format!("{exec}?command=sh&command=-c&command=rm%20-rf%20/"))
    );
    deny!(
        ex,
        "-fr /*",
        empty("GET", &format!("{exec}?command=rm&command=-fr&command=/*"))
    );
    deny!(
        ex,
        "long options",
        empty(
            "GET",
            &format!("{exec}?command=rm&command=--recursive&command=--force&command=/")
        )
    );
    deny!(
        ex,
        "percent-encoded slash",
        empty("GET", &format!("{exec}?command=rm&command=-rf&command=%2F"))
    );
    deny!(
        ex,
        "after a semicolon",
        empty(
            "GET",
            &format!("{exec}?command=sh&command=-c&command=true%3Brm%20-rf%20/")
        )
    );
    // Issue 14: the same command by another path, wrapper or shell.
    for (what, q) in [
        ("by its path", "command=/bin/rm&command=-rf&command=/"),
        ("a doubled slash", "command=rm&command=-rf&command=//"),
        ("a trailing dot", "command=rm&command=-rf&command=/."),
        ("a parent dir", "command=rm&command=-rf&command=/tmp/.."),
        ("through busybox", "command=busybox&command=rm&command=-rf&command=/"),
        (
            "through env",
            "command=env&command=X%3D1&command=/usr/bin/rm&command=-rf&command=/",
        ),
        ("a quoted script", "command=sh&command=-c&command=rm%20-rf%20%27/%27"),
        (
            "a nested shell",
            "command=bash&command=-ec&command=sh%20-c%20%22busybox%20rm%20-rf%20//.%22",
        ),
    ] {
        deny!(ex, what, empty("GET", &format!("{exec}?{q}")));
    }
    code!(
        200,
        "ls passes",
        empty("GET", &format!("{exec}?command=ls&command=-la&command=/"))
    );
    code!(
        200,
        "rm of a file passes",
        empty("GET", &format!("{exec}?command=rm&command=/tmp/x"))
    );

    for (what, r) in [
        (
            "kubelet exec over nodes/proxy",
            empty("POST", "/api/v1/nodes/n1/proxy/exec/team/p/c?command=sh"),
        ),
        ("kubelet run", empty("POST", "/api/v1/nodes/n1/proxy/run/team/p/c")),
        ("node proxy GET", empty("GET", "/api/v1/nodes/n1/proxy/pods")),
        (
            "node proxy with a port",
            empty("GET", "/api/v1/nodes/n1:10250/proxy/metrics"),
        ),
    ] {
        deny!("no-node-proxy", what, r);
    }

    let prod = "/apis/apps/v1/namespaces/prod/deployments";
    deny!(
        "approve-exec-in-production",
        "exec in prod",
        empty("GET", "/api/v1/namespaces/prod/pods/p/exec?command=ls")
    );
    deny!(
        "approve-exec-in-production",
        "attach in prod",
        empty("POST", "/api/v1/namespaces/prod-eu/pods/p/attach?stdin=true")
    );
    deny!(
        "approve-scale-to-zero-in-production",
        "PATCH scale",
        json(
            "PATCH",
            &format!("{prod}/web/scale"),
            "application/merge-patch+json",
            r#"{"spec":{"replicas":0}}"#
        )
    );
    deny!(
        "approve-scale-to-zero-in-production",
        "PUT scale",
        json(
            "PUT",
            &format!("{prod}/web/scale"),
            "application/json",
            r#"{"kind":"Scale","spec":{"replicas":0}}"#
        )
    );
    deny!(
        "approve-scale-to-zero-in-production",
        "PATCH the deployment's spec.replicas",
        json(
            "PATCH",
            &format!("{prod}/web"),
            "application/strategic-merge-patch+json",
            r#"{"spec":{"replicas":0}}"#
        )
    );
    deny!(
        "approve-scale-to-zero-in-production",
        "JSON patch of replicas",
        json(
            "PATCH",
            &format!("{prod}/web"),
            "application/json-patch+json",
            r#"[{"op":"replace","path":"/spec/replicas","value":0}]"#
        )
    );
    deny!(
        "approve-scale-to-zero-in-production",
        "replicas as YAML apply",
        json(
            "PATCH",
            &format!("{prod}/web?fieldManager=x"),
            "application/apply-patch+yaml",
            "spec:\n  replicas: 0\n"
        )
    );
    code!(
        200,
        "scale to 3 in prod",
        json(
            "PATCH",
            &format!("{prod}/web/scale"),
            "application/merge-patch+json",
            r#"{"spec":{"replicas":3}}"#
        )
    );
    code!(
        200,
        "scale to 0 in staging",
        json(
            "PATCH",
            "/apis/apps/v1/namespaces/staging/deployments/web/scale",
            "application/merge-patch+json",
            r#"{"spec":{"replicas":0}}"#
        )
    );
    deny!(
        "approve-deletes-in-production",
        "delete in prod",
        empty("DELETE", &format!("{prod}/web"))
    );
    deny!(
        "approve-deletes-in-production",
        "deletecollection in prod",
        empty("DELETE", "/api/v1/namespaces/billing-prod/pods?labelSelector=app%3Dweb")
    );
    code!(
        200,
        "delete in staging",
        empty("DELETE", "/apis/apps/v1/namespaces/staging/deployments/web")
    );
    assert!(n >= 40, "{n} cases");
}

#[tokio::test]
async fn warnings_for_every_way_of_reading_secrets() {
    for (method, uri) in [
        ("GET", "/api/v1/namespaces/default/secrets/db"),
        ("HEAD", "/api/v1/namespaces/default/secrets/db"),
        ("GET", "/api/v1/namespaces/default/secrets"),
        ("GET", "/api/v1/secrets?watch=1"),
        ("GET", "/api/v1/watch/namespaces/default/secrets"),
        (
            "GET",
            "/api/v1/namespaces/default/secrets?fieldSelector=metadata.name%3Ddb",
        ),
        ("GET", "/api/v1/namespaces/default%2Fsecrets/db"),
    ] {
        let o = send(empty(method, uri)).await;
        assert_eq!(o.code, 200, "{method} {uri}");
        assert_eq!(
            o.warnings,
            [
                "299 - \"reading Secrets is recorded and reviewed; values are masked (Tollgate rule \\\"warn-on-secret-reads\\\")\""
            ],
            "{method} {uri}"
        );
    }
    assert!(
        send(empty("GET", "/api/v1/namespaces/default/configmaps"))
            .await
            .warnings
            .is_empty()
    );
}

#[tokio::test]
async fn messages_name_the_rule_like_the_api_server() {
    let o = send(empty("DELETE", "/api/v1/namespaces/prod")).await;
    assert_eq!(
        o.message,
        "namespaces \"prod\" is forbidden: blocked by Tollgate rule \"no-namespace-delete\": deleting a namespace deletes everything in it; ask the platform team"
    );
    let o = send(empty("DELETE", "/apis/apps/v1/namespaces/prod/deployments")).await;
    assert!(
        o.message.starts_with(
            "deployments.apps is forbidden: approval required by Tollgate rule \"approve-deletes-in-production\""
        ),
        "{}",
        o.message
    );
}

#[tokio::test]
async fn a_policy_without_request_info_in_front_refuses_instead_of_allowing() {
    // Issue 16: an embedder who stacks PolicyLayer without RequestInfoLayer
    // once had body conditions see no body — a silent allow. Now every
    // request is refused with a 500 naming the missing layer.
    let forwarded = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = forwarded.clone();
    let svc = ServiceBuilder::new()
        .layer(PolicyLayer::new(PolicyStore::new(
            parse_policy(BASELINE, "baseline.yaml").unwrap(),
        )))
        .service_fn(move |_req: Request<Full<Bytes>>| {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async { Ok::<_, Infallible>(Response::new(Full::new(Bytes::new()))) }
        });
    let pod = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"hostNetwork":true,"containers":[{"name":"c","image":"x"}]}}"#;
    for req in [
        Request::post("/api/v1/namespaces/default/pods")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(pod)))
            .unwrap(),
        Request::get("/api/v1/namespaces/default/pods")
            .body(Full::default())
            .unwrap(),
    ] {
        let res = svc.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), 500);
        let body = res.into_body().collect().await.unwrap().to_bytes();
        let s: Status = serde_json::from_slice(&body).unwrap();
        assert!(
            s.message.contains("PolicyLayer needs RequestInfoLayer"),
            "{}",
            s.message
        );
    }
    assert_eq!(forwarded.load(std::sync::atomic::Ordering::SeqCst), 0);
}
