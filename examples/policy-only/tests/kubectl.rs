//! The policy-only example with the real kubectl: a namespace deletion is
//! refused by the policy, other requests pass, and the front proxy's
//! identity (believed from loopback only) is what the cluster sees.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tollgate_example_policy_only::Stack;

const POLICY: &str = "apiVersion: tollgate.dev/v1alpha1
kind: Policy
default: allow
rules:
- name: no-namespace-delete
  match:
    verbs: [delete, deletecollection]
    resources: [{group: \"\", resources: [namespaces]}]
  action: deny
  message: deleting namespaces is not allowed through this proxy
";

/// `kubectl ARGS` against the example; (exit code, stdout, stderr).
async fn kubectl(kubeconfig: &std::path::Path, dir: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .arg("--cache-dir")
            .arg(dir.join("cache"))
            .args(args)
            .env_remove("KUBECONFIG")
            .env("NO_PROXY", "127.0.0.1")
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("kubectl finished")
    .expect("kubectl is installed (scripts/test installs it)");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_through_the_smallest_stack() {
    let api = tollgate_testkit::ApiServer::builder().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let upstream = dir.path().join("upstream.kubeconfig");
    std::fs::write(&upstream, api.kubeconfig()).unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, POLICY).unwrap();
    let running = Stack::load(&upstream, &policy)
        .unwrap()
        .serve("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://{}\nusers:\n- name: u\n  user: {{}}\ncontexts:\n- name: c\n  context: {{cluster: c, user: u}}\ncurrent-context: c\n",
            running.addr
        ),
    )
    .unwrap();

    // Reads pass; the deletion is refused with the rule's message, and never
    // reaches the cluster.
    let (code, out, err) = kubectl(&kubeconfig, dir.path(), &["get", "pods", "-n", "default"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("demo"), "{out}");
    let (code, _, err) = kubectl(&kubeconfig, dir.path(), &["delete", "namespace", "kube-public"]).await;
    assert_eq!(code, 1);
    assert!(
        err.contains("Forbidden") && err.contains("deleting namespaces is not allowed through this proxy"),
        "{err}"
    );
    assert!(
        !api.requests().iter().any(|r| r.method == http::Method::DELETE),
        "the deletion never reached the cluster"
    );
    // kubectl sent no front-proxy headers: the cluster sees system:anonymous.
    let last = api.requests().pop().unwrap();
    assert_eq!(last.headers["impersonate-user"], "system:anonymous");

    // The front proxy's headers, from loopback: that user and its groups.
    let mut s = tokio::net::TcpStream::connect(running.addr).await.unwrap();
    s.write_all(
        b"GET /api/v1/namespaces/default/pods HTTP/1.1\r\nHost: x\r\nX-Remote-User: alice\r\nX-Remote-Group: platform-admins\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let last = api.requests().pop().unwrap();
    assert_eq!(last.headers["impersonate-user"], "alice");
    let groups: Vec<_> = last.headers.get_all("impersonate-group").iter().collect();
    assert!(groups.iter().any(|g| *g == "platform-admins"), "{groups:?}");
    assert!(
        !last.headers.contains_key("x-remote-user"),
        "the front proxy's headers stop here"
    );
    let _ = running.stop.send(());
}
