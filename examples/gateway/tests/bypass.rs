//! End to end, issue 14: what the baseline pack promises holds on every
//! verb and encoding kubectl uses — a masked Secret is never shown, whatever
//! the verb that returns it.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tollgate_gateway::demo::{self, Demo};

mod common;

struct Env {
    demo: Demo,
    dir: tempfile::TempDir,
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Env {
    async fn start() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let demo = demo::start(dir.path(), "127.0.0.1:0".parse().unwrap()).await.unwrap();
        Env { demo, dir }
    }

    async fn kubectl(&self, args: &[&str]) -> Out {
        let mut c = common::kubectl(&self.demo.kubeconfig, self.dir.path(), args);
        c.stdin(Stdio::null());
        let out = tokio::time::timeout(Duration::from_secs(60), c.output())
            .await
            .expect("kubectl finished")
            .expect("kubectl is installed (scripts/test installs it)");
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    async fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args).await;
        assert_eq!(out.code, 0, "kubectl {args:?} failed:\n{}\n{}", out.stdout, out.stderr);
        out.stdout
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

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
