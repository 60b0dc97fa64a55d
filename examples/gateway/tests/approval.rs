//! End to end with the real kubectl: a risky command waits for a human;
//! approved through the approvals API while kubectl retries, the same
//! kubectl invocation completes; denied, kubectl prints the reason; every
//! step is in the audit log.

use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::Command;
use tollgate_approval::cli as approvals_cli;
use tollgate_audit::{Stage, read_log};
use tollgate_gateway::demo;

mod common;

struct Env {
    demo: demo::Demo,
    dir: tempfile::TempDir,
}

impl Env {
    async fn start() -> Env {
        let dir = tempfile::tempdir().unwrap();
        // A short hold, so kubectl sees 429 and retries before the approval lands.
        let demo = demo::start_with_hold(dir.path(), "127.0.0.1:0".parse().unwrap(), Duration::from_secs(2))
            .await
            .unwrap();
        Env { demo, dir }
    }

    fn kubectl(&self, args: &[&str]) -> Command {
        let mut c = common::kubectl(&self.demo.kubeconfig, self.dir.path(), args);
        c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        c
    }

    async fn ok(&self, args: &[&str]) {
        let out = self.kubectl(args).output().await.unwrap();
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn approver(&self) -> std::path::PathBuf {
        self.dir.path().join("approver.kubeconfig")
    }

    /// The pending approval's id, once the held request shows up.
    async fn pending_id(&self) -> String {
        for _ in 0..200 {
            let mut out = Vec::new();
            approvals_cli::list(&self.approver(), Some("pending"), &mut out)
                .await
                .unwrap();
            let text = String::from_utf8(out).unwrap();
            if let Some(line) = text.lines().nth(1) {
                return line.split_whitespace().next().unwrap().to_owned();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no pending approval");
    }
}

fn deployment(name: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}, namespace: prod}}\nspec:\n  replicas: 2\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec: {{containers: [{{name: c, image: nginx}}]}}\n"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_risky_delete_waits_for_an_approval_and_then_completes() {
    let env = Env::start().await;
    env.ok(&["create", "namespace", "prod"]).await;
    let file = env.dir.path().join("web.yaml");
    std::fs::write(&file, deployment("web")).unwrap();
    env.ok(&["apply", "-f", file.to_str().unwrap()]).await;

    let started = Instant::now();
    let kubectl = env
        .kubectl(&["delete", "deployment", "web", "-n", "prod"])
        .spawn()
        .unwrap();
    let id = env.pending_id().await;
    // The requester cannot approve their own request.
    let mut out = Vec::new();
    let own = approvals_cli::decide(&env.demo.kubeconfig, &id, true, None, &mut out)
        .await
        .unwrap_err()
        .to_string();
    assert!(own.contains("nobody approves their own request"), "{own}");
    // Let kubectl's first attempt run out (hold 2 s → 429 → it retries).
    tokio::time::sleep(Duration::from_secs(4)).await;
    approvals_cli::decide(&env.approver(), &id, true, Some("planned cleanup"), &mut out)
        .await
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out).contains("is approved"),
        "{}",
        String::from_utf8_lossy(&out)
    );

    let done = tokio::time::timeout(Duration::from_secs(60), kubectl.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&done.stdout);
    assert!(
        done.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert!(stdout.contains("deployment.apps \"web\" deleted"), "{stdout}");
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "it waited for the approval"
    );
    let deletes = env
        .demo
        .api_server
        .requests()
        .iter()
        .filter(|r| r.method == http::Method::DELETE && r.uri.path().ends_with("/deployments/web"))
        .count();
    assert_eq!(deletes, 1, "forwarded exactly once, after the approval");

    // The grant was single use: the same request again waits anew.
    let mut again = Vec::new();
    approvals_cli::list(&env.approver(), Some("consumed"), &mut again)
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&again).contains(&id));

    // Every step is on record.
    let log = env.dir.path().join("audit/audit.log");
    let mut records = Vec::new();
    for _ in 0..100 {
        records = read_log(&log).unwrap().filter_map(Result::ok).collect::<Vec<_>>();
        if records
            .iter()
            .any(|e| e.verb == "delete" && e.code() == Some(200) && e.stage == Stage::ResponseComplete)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let held = records
        .iter()
        .filter(|e| e.verb == "delete" && e.code() == Some(429))
        .count();
    assert!(held >= 1, "the held attempts are recorded (429)");
    let forwarded = records
        .iter()
        .find(|e| e.verb == "delete" && e.code() == Some(200) && e.stage == Stage::ResponseComplete)
        .expect("the forwarded delete");
    assert_eq!(forwarded.tollgate("approval-id"), Some(id.as_str()));
    assert_eq!(forwarded.tollgate("approvers"), Some("alice@acme.example"));
    assert_eq!(forwarded.tollgate("decision"), Some("approved"));
    assert_eq!(forwarded.tollgate("rule"), Some("approve-deletes-in-production"));
    let decided = records
        .iter()
        .find(|e| e.request_uri.ends_with("/approve") && e.code() == Some(200))
        .expect("the approval is recorded");
    assert_eq!(decided.user.username, "alice@acme.example");
    assert_eq!(decided.tollgate("approval-reason"), Some("planned cleanup"));
    assert_eq!(decided.tollgate("approval-id"), Some(id.as_str()));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_denied_request_prints_the_reason_in_kubectls_error() {
    let env = Env::start().await;
    env.ok(&["create", "namespace", "prod"]).await;
    let file = env.dir.path().join("api.yaml");
    std::fs::write(&file, deployment("api")).unwrap();
    env.ok(&["apply", "-f", file.to_str().unwrap()]).await;
    let kubectl = env
        .kubectl(&["delete", "deployment", "api", "-n", "prod"])
        .spawn()
        .unwrap();
    let id = env.pending_id().await;
    let mut out = Vec::new();
    let no_reason = approvals_cli::decide(&env.approver(), &id, false, None, &mut out)
        .await
        .unwrap_err()
        .to_string();
    assert!(no_reason.contains("needs a reason"), "{no_reason}");
    approvals_cli::decide(&env.approver(), &id, false, Some("not during the freeze"), &mut out)
        .await
        .unwrap();
    let done = tokio::time::timeout(Duration::from_secs(60), kubectl.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert!(!done.status.success());
    assert!(stderr.contains("Error from server (Forbidden)"), "{stderr}");
    assert!(
        stderr.contains("denied by alice@acme.example: not during the freeze"),
        "{stderr}"
    );
    assert!(
        !env.demo
            .api_server
            .requests()
            .iter()
            .any(|r| r.method == http::Method::DELETE),
        "never forwarded"
    );
}

/// Two gateway replicas sharing approvals in Redis: a request held on A is
/// approved through B's API, and A forwards it.
#[tokio::test(flavor = "multi_thread")]
async fn a_request_held_on_one_replica_is_approved_through_another() {
    let env = Env::start().await;
    let redis = tollgate_testkit::RedisServer::start().unwrap();
    let yaml = std::fs::read_to_string(env.dir.path().join("tollgate.yaml")).unwrap();
    let replica_yaml = yaml.replace(
        "approval:\n  holdSeconds: 2\n",
        &format!(
            "approval:\n  holdSeconds: 2\n  store: redis\n  redisUrl: {}\n",
            redis.url()
        ),
    );
    assert_ne!(
        yaml, replica_yaml,
        "the demo's approval section is where the test expects it"
    );
    let path = env.dir.path().join("replica.yaml");
    std::fs::write(&path, replica_yaml).unwrap();
    let start = || async {
        let mut c = tollgate_gateway::Config::load(&path).unwrap();
        c.listen = "127.0.0.1:0".parse().unwrap();
        tollgate_gateway::start(&c).await.unwrap()
    };
    let (a, b) = (start().await, start().await);
    let demo_url = format!("https://{}", env.demo.gateway.addr);
    let point = |file: &str, at: std::net::SocketAddr| {
        let text = std::fs::read_to_string(env.dir.path().join(file))
            .unwrap()
            .replace(&demo_url, &format!("https://{at}"));
        let p = env.dir.path().join(format!("{at}-{file}").replace(':', "_"));
        std::fs::write(&p, text).unwrap();
        p
    };
    let kubectl_a = point("kubeconfig", a.addr);
    let approver_b = point("approver.kubeconfig", b.addr);

    env.ok(&["create", "namespace", "prod"]).await;
    let file = env.dir.path().join("web.yaml");
    std::fs::write(&file, deployment("web")).unwrap();
    env.ok(&["apply", "-f", file.to_str().unwrap()]).await;
    let mut cmd = env.kubectl(&["delete", "deployment", "web", "-n", "prod"]);
    cmd.arg("--kubeconfig").arg(&kubectl_a);
    let kubectl = cmd.spawn().unwrap();

    let mut id = None;
    for _ in 0..200 {
        let mut out = Vec::new();
        approvals_cli::list(&approver_b, Some("pending"), &mut out)
            .await
            .unwrap();
        if let Some(line) = String::from_utf8(out).unwrap().lines().nth(1) {
            id = line.split_whitespace().next().map(str::to_owned);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let id = id.expect("B lists the approval A holds");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut out = Vec::new();
    approvals_cli::decide(&approver_b, &id, true, Some("cleanup"), &mut out)
        .await
        .unwrap();
    let done = tokio::time::timeout(Duration::from_secs(60), kubectl.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    assert!(String::from_utf8_lossy(&done.stdout).contains("\"web\" deleted"));
    a.shutdown().await;
    b.shutdown().await;
}

/// An HTTPS receiver with a certificate from its own test CA, recording
/// the body of each POST.
async fn https_receiver(
    ca: &tollgate_testkit::TestCa,
) -> (
    std::net::SocketAddr,
    tokio::sync::mpsc::UnboundedReceiver<(String, Vec<u8>)>,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let cert = ca.server_cert(&["127.0.0.1", "localhost"]).unwrap();
    let mut tls =
        rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(cert.cert_chain(), cert.private_key())
            .unwrap();
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(tls));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((conn, _)) = listener.accept().await else { return };
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                let Ok(conn) = acceptor.accept(conn).await else { return };
                let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let tx = tx.clone();
                    async move {
                        use http_body_util::BodyExt;
                        let path = req.uri().path().to_owned();
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let _ = tx.send((path, body.to_vec()));
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(http_body_util::Full::new(
                            bytes::Bytes::from_static(b"ok"),
                        )))
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(conn), svc)
                    .await;
            });
        }
    });
    (addr, rx)
}

/// Issue 19: a Slack-format notification reaches an HTTPS receiver whose
/// CA the gateway trusts only through `SSL_CERT_FILE`, as it would trust a
/// public one through the system's store — no CA in its configuration.
#[tokio::test(flavor = "multi_thread")]
async fn a_slack_notification_reaches_a_receiver_trusted_through_the_system_store() {
    let env = Env::start().await;
    let ca = tollgate_testkit::TestCa::new("receiver CA").unwrap();
    let (addr, mut received) = https_receiver(&ca).await;
    let ca_file = env.dir.path().join("system-roots.pem");
    std::fs::write(&ca_file, &ca.cert_pem).unwrap();
    std::fs::write(
        env.dir.path().join("slack-url"),
        format!("https://127.0.0.1:{}/services/T000/B000/XXXXSECRET\n", addr.port()),
    )
    .unwrap();
    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let yaml = std::fs::read_to_string(env.dir.path().join("tollgate.yaml")).unwrap();
    let mut second = yaml.replace(
        "approval:\n  holdSeconds: 2\n",
        "approval:\n  holdSeconds: 2\n  externalUrl: https://tollgate.example.com\n  notify:\n    - urlFile: slack-url\n      format: slack\n",
    );
    assert_ne!(second, yaml, "the demo's approval section is where the test expects it");
    let first_line = second.lines().find(|l| l.starts_with("listen:")).unwrap().to_owned();
    second = second.replacen(&first_line, &format!("listen: {listen}"), 1);
    let path = env.dir.path().join("slack.yaml");
    std::fs::write(&path, second).unwrap();
    let mut gateway = tokio::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["serve", "--config"])
        .arg(&path)
        .env("SSL_CERT_FILE", &ca_file)
        .env_remove("SSL_CERT_DIR")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let kubeconfig = env.dir.path().join("slack.kubeconfig");
    std::fs::write(
        &kubeconfig,
        std::fs::read_to_string(&env.demo.kubeconfig)
            .unwrap()
            .replace(&env.demo.gateway.addr.to_string(), &listen.to_string()),
    )
    .unwrap();
    env.ok(&["create", "namespace", "prod"]).await;
    let file = env.dir.path().join("web.yaml");
    std::fs::write(&file, deployment("web")).unwrap();
    env.ok(&["apply", "-f", file.to_str().unwrap()]).await;
    // Through the second gateway (retrying until it listens): the delete is held.
    let started = Instant::now();
    let (path_seen, body) = loop {
        let mut cmd = env.kubectl(&["delete", "deployment", "web", "-n", "prod", "--wait=false"]);
        cmd.arg("--kubeconfig").arg(&kubeconfig);
        let _kubectl = cmd.kill_on_drop(true).spawn().unwrap();
        match tokio::time::timeout(Duration::from_secs(5), received.recv()).await {
            Ok(Some(got)) => break got,
            _ => {
                if started.elapsed() > Duration::from_secs(40) || gateway.try_wait().unwrap().is_some() {
                    gateway.start_kill().unwrap();
                    let out = gateway.wait_with_output().await.unwrap();
                    panic!(
                        "no notification reached the receiver; the gateway said:\n{}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
            }
        }
    };
    assert_eq!(path_seen, "/services/T000/B000/XXXXSECRET");
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let blocks = body["blocks"].to_string();
    assert!(blocks.contains("kubectl delete deployment web -n prod"), "{blocks}");
    assert!(blocks.contains("kubectl tollgate approvals approve apr-"), "{blocks}");
    assert!(
        blocks.contains("https://tollgate.example.com/tollgate/v1/approvals/apr-"),
        "{blocks}"
    );
    assert!(body["text"].as_str().unwrap().contains("asks to run"), "{body}");
    gateway.start_kill().unwrap();
    let out = gateway.wait_with_output().await.unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        !log.contains("XXXXSECRET"),
        "the webhook's secret path is never logged:\n{log}"
    );
}

/// `kubectl ARGS` with the plugin on PATH and `KUBECONFIG` set, as an
/// approver would run it (kubectl passes plugins no kubeconfig).
async fn kubectl_plugin(env: &Env, kubeconfig: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let plugin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_kubectl-tollgate"))
        .parent()
        .unwrap()
        .to_path_buf();
    let path = std::env::join_paths(
        std::iter::once(plugin_dir).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .unwrap();
    let out = tokio::process::Command::new("kubectl")
        .args(args)
        .env("PATH", path)
        .env("KUBECONFIG", kubeconfig)
        // A POSIX TZ string: three hours east, without needing tzdata.
        .env("TZ", "ABC-3")
        .env("HOME", env.dir.path())
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Issue 19: an approver uses the real kubectl with the plugin, its
/// kubeconfig only in `KUBECONFIG`.
#[tokio::test(flavor = "multi_thread")]
async fn kubectl_tollgate_lists_shows_and_approves_with_kubeconfig_from_the_environment() {
    let env = Env::start().await;
    env.ok(&["create", "namespace", "prod"]).await;
    let file = env.dir.path().join("web.yaml");
    std::fs::write(&file, deployment("web")).unwrap();
    env.ok(&["apply", "-f", file.to_str().unwrap()]).await;
    let kubectl = env
        .kubectl(&["delete", "deployment", "web", "-n", "prod"])
        .spawn()
        .unwrap();
    let approver = env.approver();

    let (ok, who, err) = kubectl_plugin(&env, &approver, &["tollgate", "whoami"]).await;
    assert!(ok, "{err}");
    assert!(who.contains("Username:") && who.contains("alice@acme.example"), "{who}");
    assert!(who.contains("platform-admins"), "{who}");

    let mut id = None;
    for _ in 0..100 {
        let (ok, out, err) = kubectl_plugin(
            &env,
            &approver,
            &["tollgate", "approvals", "list", "--state", "pending"],
        )
        .await;
        assert!(ok, "{err}");
        if let Some(line) = out.lines().nth(1) {
            assert!(out.starts_with("ID "), "{out}");
            id = line.split_whitespace().next().map(str::to_owned);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let id = id.expect("the held delete is listed");

    let (ok, shown, err) = kubectl_plugin(&env, &approver, &["tollgate", "approvals", "show", &id]).await;
    assert!(ok, "{err}");
    assert!(
        shown.contains("Command:      kubectl delete deployment web -n prod"),
        "{shown}"
    );
    assert!(shown.contains("Votes:        none yet"), "{shown}");
    // Local times with their offset (TZ=ABC-3).
    assert!(shown.contains("+03:00 ("), "{shown}");
    let (ok, yaml, err) = kubectl_plugin(&env, &approver, &["tollgate", "approvals", "show", &id, "-o", "yaml"]).await;
    assert!(ok, "{err}");
    let v = tollgate_kube::yaml_to_json(&yaml).unwrap();
    assert_eq!(v["id"], id.as_str());
    assert_eq!(v["state"], "pending");

    tokio::time::sleep(Duration::from_secs(3)).await;
    let (ok, out, err) = kubectl_plugin(
        &env,
        &approver,
        &["tollgate", "approvals", "approve", &id, "--reason", "planned cleanup"],
    )
    .await;
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!("approval {id} is approved (1 of 1 approval)")),
        "{out}"
    );
    let done = tokio::time::timeout(Duration::from_secs(60), kubectl.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));

    // --context picks another context of the same files; a wrong one is named.
    let (ok, _, err) = kubectl_plugin(&env, &approver, &["tollgate", "approvals", "list", "--context", "nope"]).await;
    assert!(!ok && err.contains("no context named \"nope\""), "{err}");
}
