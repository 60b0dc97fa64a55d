//! End to end, issue 14: what the baseline pack promises holds on every
//! verb and encoding kubectl uses — a masked Secret is never shown, whatever
//! the verb that returns it.

use std::time::Duration;

mod common;

use common::DemoEnv as Env;

/// Neither the value nor its base64 anywhere in `text`.
fn clean(text: &str, value: &str) -> bool {
    use base64::Engine;
    !text.contains(value) && !text.contains(&base64::engine::general_purpose::STANDARD.encode(value))
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_are_masked_in_the_answers_of_writes_deletes_and_dry_runs() {
    let env = Env::start().await;
    let value = "PLANTED-s3cr3t";
    let f = env.write(
        "secret.yaml",
        &format!("apiVersion: v1\nkind: Secret\nmetadata: {{name: db, namespace: default}}\nstringData: {{password: {value}}}\n"),
    );
    // apply -o yaml prints what the API server answered the write with.
    let out = env.ok(&["apply", "-f", f.to_str().unwrap(), "-o", "yaml"]).await;
    assert!(clean(&out, value), "apply -o yaml: {out}");
    assert!(out.contains("PHJlZGFjdGVkPg=="), "masked, still base64: {out}");
    // A server-side dry-run patch answers with the whole Secret.
    let out = env
        .ok(&[
            "patch",
            "secret",
            "db",
            "--type=merge",
            "-p",
            r#"{"metadata":{"labels":{"a":"b"}}}"#,
            "--dry-run=server",
            "-o",
            "yaml",
        ])
        .await;
    assert!(clean(&out, value), "patch --dry-run=server: {out}");
    assert!(out.contains("a: b"), "{out}");
    // A delete answers with the deleted object (kubectl delete prints only
    // names, so the answer is read raw, as any client can).
    let out = env
        .ok(&["delete", "--raw", "/api/v1/namespaces/default/secrets/db?dryRun=All"])
        .await;
    assert!(out.contains("\"kind\":\"Secret\""), "{out}");
    assert!(clean(&out, value), "DELETE ?dryRun=All: {out}");
    let out = env
        .ok(&["delete", "--raw", "/api/v1/namespaces/default/secrets/db"])
        .await;
    assert!(clean(&out, value), "DELETE: {out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_literal_credential_in_a_spec_is_named_by_path_never_by_value() {
    let env = Env::start().await;
    let out = env
        .kubectl(&["run", "p", "--image=busybox", "--env=DB_PASSWORD=hunter2-PLANTED"])
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("Warning: a literal credential belongs in a Secret")
            && out.stderr.contains("spec.containers[0].env[0].value")
            && out.stderr.contains("warn-on-literal-credentials"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("hunter2"), "{}", out.stderr);
    // The record masks the value.
    let log = env.dir.path().join("audit/audit.log");
    let mut text = String::new();
    for _ in 0..200 {
        text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("\"verb\":\"create\"") && text.contains("\"resource\":\"pods\"") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(text.contains("\"resource\":\"pods\""), "no record of the create");
    assert!(!text.contains("hunter2-PLANTED"), "the value reached the audit log");
    // A reference is fine.
    let f = env.write(
        "pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: q, namespace: default}\nspec:\n  containers:\n  - name: app\n    image: busybox\n    env:\n    - name: DB_PASSWORD\n      valueFrom: {secretKeyRef: {name: db, key: password}}\n",
    );
    let out = env.kubectl(&["apply", "-f", f.to_str().unwrap()]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stderr.contains("literal credential"), "{}", out.stderr);
}

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: app, image: nginx}
";

#[tokio::test(flavor = "multi_thread")]
async fn json_patches_are_judged_on_the_object_the_api_server_would_store() {
    let env = Env::start().await;
    let f = env.write("deploy.yaml", DEPLOYMENT);
    env.ok(&["apply", "-f", f.to_str().unwrap()]).await;
    // Issue 14, point 2: an add at an array index inserts, shifting the
    // container made privileged by the first op into place.
    let out = env
        .kubectl(&[
            "patch",
            "deployment",
            "web",
            "--type=json",
            "-p",
            r#"[{"op":"add","path":"/spec/template/spec/containers/0/securityContext","value":{"privileged":true}},{"op":"add","path":"/spec/template/spec/containers/0","value":{"name":"sidecar","image":"busybox"}}]"#,
        ])
        .await;
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stderr.contains("Forbidden") && out.stderr.contains("no-privileged-containers"),
        "{}",
        out.stderr
    );
    // A move from an annotation into securityContext.
    env.ok(&[
        "patch",
        "deployment",
        "web",
        "--type=merge",
        "-p",
        r#"{"metadata":{"annotations":{"x":"placeholder"}}}"#,
    ])
    .await;
    let out = env
        .kubectl(&[
            "patch",
            "deployment",
            "web",
            "--type=json",
            "-p",
            r#"[{"op":"add","path":"/metadata/annotations/x","value":{"privileged":true}},{"op":"move","from":"/metadata/annotations/x","path":"/spec/template/spec/containers/0/securityContext"}]"#,
        ])
        .await;
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stderr.contains("no-privileged-containers"), "{}", out.stderr);
    // Neither was written; an ordinary insert is, with the gateway's
    // precondition, and the record says a preflight decided.
    let yaml = env.ok(&["get", "deployment", "web", "-o", "yaml"]).await;
    assert!(!yaml.contains("privileged"), "{yaml}");
    env.ok(&[
        "patch",
        "deployment",
        "web",
        "--type=json",
        "-p",
        r#"[{"op":"add","path":"/spec/template/spec/containers/-","value":{"name":"sidecar","image":"busybox"}}]"#,
    ])
    .await;
    let names = env
        .ok(&[
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.spec.template.spec.containers[*].name}",
        ])
        .await;
    assert_eq!(names, "app sidecar");
    let log = std::fs::read_to_string(env.dir.path().join("audit/audit.log")).unwrap();
    assert!(
        log.contains("\"tollgate.dev/preflight\":\"a JSON patch through an array index; 1 attempt\""),
        "the record names the preflight"
    );
    // A patch the API server refuses in the dry run is refused, naming why.
    let out = env
        .kubectl(&[
            "patch",
            "deployment",
            "web",
            "--type=json",
            "-p",
            r#"[{"op":"remove","path":"/spec/nope"}]"#,
        ])
        .await;
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("its dry run was refused") && out.stderr.contains("does not exist"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_create_with_protobuf_bodies_is_judged_not_refused_with_415() {
    let env = Env::start().await;
    // Issue 14, point 1: kubectl's typed generators send protobuf.
    for args in [
        &["create", "deployment", "web2", "--image=nginx"][..],
        &["create", "job", "j", "--image=busybox"],
        &["create", "cronjob", "c", "--image=busybox", "--schedule=*/5 * * * *"],
        &["create", "rolebinding", "viewers", "--clusterrole=view", "--user=u"],
    ] {
        let out = env.kubectl(args).await;
        assert_eq!(out.code, 0, "kubectl {args:?}: {}", out.stderr);
        assert!(!out.stderr.contains("protobuf"), "{}", out.stderr);
    }
    let out = env
        .kubectl(&["create", "rolebinding", "x", "--clusterrole=cluster-admin", "--user=u"])
        .await;
    assert_eq!(out.code, 1);
    // kubectl's create generators print "error: failed to create …: <the
    // API server's Status message>".
    assert!(
        out.stderr
            .contains("is forbidden: blocked by Tollgate rule \"no-cluster-admin-bindings\""),
        "{}",
        out.stderr
    );
    let out = env
        .kubectl(&[
            "create",
            "clusterrolebinding",
            "x",
            "--clusterrole=cluster-admin",
            "--user=u",
        ])
        .await;
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("blocked by Tollgate rule \"no-cluster-rbac-changes\""),
        "{}",
        out.stderr
    );
    // A refusal's record is queued, not waited for: it is on disk within
    // the recorder's flush interval.
    let is_crb = |e: &tollgate_audit::Event| {
        e.object_ref
            .as_ref()
            .is_some_and(|o| o.resource == "clusterrolebindings")
    };
    let records = env.records_until("the refused clusterrolebinding", is_crb).await;
    let crb = records
        .iter()
        .find(|e| is_crb(e))
        .expect("the refused clusterrolebinding is on record");
    let matched = crb.tollgate("matched-rules").unwrap_or_default();
    assert!(
        matched.contains("no-cluster-rbac-changes") && matched.contains("no-cluster-admin-bindings"),
        "{matched}"
    );
    assert!(
        crb.tollgate("preflight")
            .unwrap_or_default()
            .starts_with("a protobuf body")
    );

    // A privileged Pod in protobuf, as client-go sends it.
    let pod = serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "evil", "namespace": "default"},
        "spec": {"containers": [{"name": "c", "image": "busybox", "securityContext": {"privileged": true}}]}});
    let wire = tollgate_kube::protobuf::encode(&pod).unwrap();
    let f = env.dir.path().join("pod.pb");
    std::fs::write(&f, wire).unwrap();
    let out = env
        .kubectl(&[
            "create",
            "--raw",
            "/api/v1/namespaces/default/pods",
            "-f",
            f.to_str().unwrap(),
        ])
        .await;
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("no-privileged-containers"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secret_created_in_protobuf_is_recorded_with_its_value_masked() {
    let env = Env::start().await;
    env.ok(&[
        "create",
        "secret",
        "generic",
        "s",
        "--from-literal=password=PLANTED-pw-1",
    ])
    .await;
    let dir = env.dir.path().join("audit");
    let mut create = None;
    for _ in 0..200 {
        let records: Vec<tollgate_audit::Event> = tollgate_audit::read_log(&dir.join("audit.log"))
            .map(|r| r.filter_map(Result::ok).collect())
            .unwrap_or_default();
        create = records.into_iter().find(|e| {
            e.verb == "create"
                && e.object_ref.as_ref().is_some_and(|o| o.resource == "secrets")
                && e.request_object.is_some()
        });
        if create.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let e = create.expect("a record of the create with its requestObject");
    let obj = e.request_object.unwrap();
    assert_eq!(obj["kind"], "Secret");
    assert!(
        obj["data"]["password"]
            .as_str()
            .is_some_and(|v| v.contains("redacted") || v == "PHJlZGFjdGVkPg=="),
        "{obj}"
    );
    for f in std::fs::read_dir(&dir).unwrap() {
        let text = std::fs::read(f.unwrap().path()).unwrap();
        assert!(
            !clean_bytes(&text, "PLANTED-pw-1"),
            "the value reached the audit directory"
        );
    }
}

/// Whether `text` holds the value or its base64.
fn clean_bytes(text: &[u8], value: &str) -> bool {
    !clean(&String::from_utf8_lossy(text), value)
}
