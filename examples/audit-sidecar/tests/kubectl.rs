//! The audit sidecar with the real kubectl: each command is on record in
//! the JSON-lines file, with the verb and object the API server would log.

use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_commands_are_on_record() {
    let api = tollgate_testkit::ApiServer::builder().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let upstream = dir.path().join("upstream.kubeconfig");
    std::fs::write(&upstream, api.kubeconfig()).unwrap();
    let log = dir.path().join("audit.log");
    let running = tollgate_example_audit_sidecar::serve(&upstream, &log, "127.0.0.1:0".parse().unwrap())
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
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .arg("--cache-dir")
            .arg(dir.path().join("cache"))
            .args([
                "create",
                "configmap",
                "sidecar-test",
                "--from-literal=k=v",
                "-n",
                "default",
            ])
            .env_remove("KUBECONFIG")
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap()
    .expect("kubectl is installed (scripts/test installs it)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The create, confirmed before it was forwarded, then completed.
    let mut found = None;
    for _ in 0..200 {
        let events: Vec<tollgate_audit::Event> = tollgate_audit::read_log(&log)
            .map(|r| r.filter_map(Result::ok).collect())
            .unwrap_or_default();
        let create: Vec<_> = events
            .into_iter()
            .filter(|e| e.verb == "create" && e.object_ref.as_ref().is_some_and(|o| o.resource == "configmaps"))
            .collect();
        if create
            .iter()
            .any(|e| e.stage == tollgate_audit::Stage::ResponseComplete)
        {
            found = Some(create);
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let create = found.expect("the create is on record");
    assert_eq!(create[0].stage, tollgate_audit::Stage::RequestReceived);
    let done = create
        .iter()
        .find(|e| e.stage == tollgate_audit::Stage::ResponseComplete)
        .unwrap();
    assert_eq!(done.object_ref.as_ref().unwrap().namespace, "default");
    assert_eq!(
        done.response_status.as_ref().and_then(|s| s["code"].as_u64()),
        Some(201)
    );
    assert!(done.request_object.is_some(), "Request level keeps the body");
    let _ = running.stop.send(());
}
