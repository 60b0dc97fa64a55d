//! Readiness that means ready, and a SIGTERM that loses nothing: `/readyz`
//! waits for the OIDC issuers and names the one that is down; on SIGTERM it
//! fails at once while new connections are still served for the grace
//! period, then the listener closes and a running watch is drained.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

mod common;

use common::DemoEnv as Env;

/// `GET path` on the admin listener: status and body.
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let code = out.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (code, body)
}

/// The demo's configuration for a second gateway: its own ports and audit
/// files (`audit-<durability>/audit.log`, written with that durability),
/// and `extra` appended.
fn second_config(env: &Env, listen: &str, admin: &str, extra: &str, durability: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string(env.demo.dir.join("tollgate.yaml"))
        .unwrap()
        .replace("listen: 127.0.0.1:0\ntls", &format!("listen: {listen}\ntls"))
        .replace("admin:\n  listen: 127.0.0.1:0", &format!("admin:\n  listen: {admin}"))
        .replace(
            "path: audit/audit.log\n    durability: batch",
            &format!("path: audit-{durability}/audit.log\n    durability: {durability}"),
        )
        .replace("dir: sessions", "dir: sessions2")
        .replace("shutdown:\n  drainSeconds: 5\n", "");
    let path = env.demo.dir.join("second.yaml");
    std::fs::write(&path, format!("{text}{extra}")).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_waits_for_the_issuers_and_names_the_one_that_is_down() {
    let env = Env::start().await;
    let d = &env.demo;
    for issuer in [&d.github, &d.bots, &d.people] {
        issuer.set_down(true);
    }
    let path = second_config(&env, "127.0.0.1:0", "127.0.0.1:0", "", "batch");
    let config = tollgate_gateway::Config::load(&path).unwrap();
    let gateway = tollgate_gateway::start(&config).await.unwrap();
    let admin = gateway.admin_addr.unwrap();
    let (code, body) = get(admin, "/readyz").await;
    assert_eq!(code, 503, "{body}");
    assert!(
        body.contains(&format!("[-]oidc-issuer:{} failed: ", d.github.url())) && body.contains("503"),
        "the reason names the issuer and what it answered: {body}"
    );
    assert!(
        body.contains("[+]shutdown ok") && body.ends_with("readyz check failed\n"),
        "{body}"
    );
    assert_eq!(get(admin, "/livez").await.0, 200, "liveness does not depend on issuers");
    // The issuers come back: discovery is retried every 10 s.
    for issuer in [&d.github, &d.bots, &d.people] {
        issuer.set_down(false);
    }
    let started = Instant::now();
    loop {
        let (code, body) = get(admin, "/readyz").await;
        if code == 200 {
            assert_eq!(body, "ok");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(25), "still not ready: {body}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (code, body) = get(admin, "/readyz?verbose").await;
    assert_eq!(code, 200);
    for check in [
        "[+]upstream ok",
        "[+]audit-sink ok",
        "[+]approval-store ok",
        "readyz check passed",
    ] {
        assert!(body.contains(check), "{check} in {body}");
    }
    assert_eq!(body.matches("[+]oidc-issuer:").count(), 3, "{body}");
    gateway.shutdown().await;
}

fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// A second gateway, `tollgate serve` in its own process, on free ports
/// with the demo's files and `extra` configuration; its stderr goes to
/// `stderr`. Returns the process, its addresses and a kubeconfig for it,
/// once `/readyz` answers 200.
async fn serve_second(
    env: &Env,
    extra: &str,
    durability: &str,
    log: &str,
    stderr: Stdio,
) -> (tokio::process::Child, SocketAddr, SocketAddr, std::path::PathBuf) {
    let (listen, admin) = (free_port(), free_port());
    let path = second_config(env, &listen.to_string(), &admin.to_string(), extra, durability);
    let gateway = tokio::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["serve", "--config"])
        .arg(&path)
        .env("RUST_LOG", log)
        .env_remove("NO_COLOR")
        .stdout(Stdio::null())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // A kubeconfig for the second gateway: the demo's, with its port.
    let kubeconfig = env.dir.path().join("second.kubeconfig");
    std::fs::write(
        &kubeconfig,
        std::fs::read_to_string(&env.demo.kubeconfig)
            .unwrap()
            .replace(&env.demo.gateway.addr.to_string(), &listen.to_string()),
    )
    .unwrap();
    let started = Instant::now();
    let mut gateway = gateway;
    while get_ready(admin).await != Some(200) {
        // Exited (a port taken between our finding it and its binding it)
        // or, on a loaded machine, slow: either is said plainly.
        if let Ok(Some(status)) = gateway.try_wait() {
            panic!("the gateway exited ({status}) before it became ready");
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the gateway never became ready in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (gateway, listen, admin, kubeconfig)
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_fails_readyz_at_once_serves_through_the_grace_and_drains_the_watch() {
    let env = Env::start().await;
    let (mut gateway, listen, admin, kubeconfig) = serve_second(
        &env,
        "shutdown:\n  graceSeconds: 3\n  drainSeconds: 2\n",
        "batch",
        "warn",
        Stdio::null(),
    )
    .await;
    let mut watch = common::kubectl(&kubeconfig, env.dir.path(), &["get", "pods", "-w"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    assert!(common::read(&mut lines).await.starts_with("NAME"));
    assert!(common::read(&mut lines).await.starts_with("demo "));

    let pid = gateway.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let term = Instant::now();
    // Not ready at once…
    let mut code = get(admin, "/readyz").await;
    while code.0 == 200 && term.elapsed() < Duration::from_millis(500) {
        code = get(admin, "/readyz").await;
    }
    assert_eq!(code.0, 503, "{}", code.1);
    assert!(
        code.1.contains("[-]shutdown failed: the gateway is shutting down"),
        "{}",
        code.1
    );
    // …while a new connection is still served during the grace.
    let out = common::kubectl_at(&kubeconfig, env.dir.path(), &["get", "pods"], &[], None).await;
    assert!(
        term.elapsed() < Duration::from_secs(3),
        "the check ran within the grace"
    );
    assert_eq!(out.code, 0, "served during the grace: {}", out.stderr);
    assert!(out.stdout.contains("demo"), "{}", out.stdout);
    // Then the listener closes, the watch is drained, and the process exits.
    let status = tokio::time::timeout(Duration::from_secs(15), gateway.wait())
        .await
        .expect("the gateway exits after grace + drain")
        .unwrap();
    assert!(status.success(), "{status:?}");
    assert!(
        term.elapsed() >= Duration::from_secs(3),
        "the listener stayed open for the grace: {:?}",
        term.elapsed()
    );
    let ended = tokio::time::timeout(Duration::from_secs(5), watch.wait())
        .await
        .expect("the watch ended with the gateway")
        .unwrap();
    let _ = ended;
    assert!(
        tokio::net::TcpStream::connect(listen).await.is_err(),
        "the listener is closed"
    );
}

async fn get_ready(admin: SocketAddr) -> Option<u16> {
    tokio::net::TcpStream::connect(admin).await.ok()?;
    Some(get(admin, "/readyz").await.0)
}

/// A second gateway logging in `format`, filtered by `directives`, asked
/// by kubectl to delete a namespace (which the baseline pack refuses),
/// then stopped: the refused request's record, and the whole log.
async fn log_of_a_denied_request(env: &Env, format: &str, directives: &str) -> (tollgate_audit::Event, String) {
    let log_path = env.dir.path().join("gateway.log");
    let (mut gateway, _, _, kubeconfig) = serve_second(
        env,
        &format!("log:\n  format: {format}\n"),
        "batch",
        directives,
        Stdio::from(std::fs::File::create(&log_path).unwrap()),
    )
    .await;
    let out = common::kubectl_at(&kubeconfig, env.dir.path(), &["delete", "namespace", "prod"], &[], None).await;
    assert_ne!(out.code, 0, "the baseline pack refuses it");
    let refused = |e: &tollgate_audit::Event| e.verb == "delete" && e.code() == Some(403);
    let records = common::records_until(
        &env.demo.dir.join("audit-batch/audit.log"),
        "the refused delete",
        refused,
    )
    .await;
    let record = records.into_iter().find(refused).unwrap();
    let pid = gateway.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(20), gateway.wait()).await;
    (record, std::fs::read_to_string(&log_path).unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn json_logs_parse_line_by_line_and_carry_the_records_audit_id() {
    let env = Env::start().await;
    let (record, text) = log_of_a_denied_request(&env, "json", "info").await;
    assert!(!text.contains('\u{1b}'), "no colour codes in a file");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    let denied = lines
        .iter()
        .find(|l| l["fields"]["message"] == "request denied by policy")
        .unwrap_or_else(|| panic!("no denial logged: {text}"));
    let span = &denied["span"];
    assert_eq!(span["audit_id"], record.audit_id.as_str(), "{denied}");
    assert_eq!(span["user"], record.user.username.as_str(), "{denied}");
    assert_eq!(span["owner"], record.tollgate("owner").unwrap(), "{denied}");
    assert_eq!(span["decision"], "deny", "{denied}");
    assert_eq!(
        denied["fields"]["rule"], "no-namespace-delete",
        "Display, not Debug: {denied}"
    );
}

/// The request span of `record`'s request as the text log writes it.
fn request_span_text(record: &tollgate_audit::Event) -> String {
    format!(
        "request{{audit_id={} method=DELETE path=\"/api/v1/namespaces/prod\" user={:?} owner={:?} decision=\"deny\"}}",
        record.audit_id,
        record.user.username,
        record.tollgate("owner").unwrap(),
    )
}

/// The line of `text` that logs the denial.
fn denial_line(text: &str) -> &str {
    text.lines()
        .find(|l| l.contains("request denied by policy"))
        .unwrap_or_else(|| panic!("no denial logged: {text}"))
}

/// The text log, filtered by a directive that names the request span: the
/// denial is logged, in its span with every field the layers recorded
/// (written as `tracing-subscriber`'s default formatter writes them), and
/// the start-up line, outside any request, is not.
#[tokio::test(flavor = "multi_thread")]
async fn text_logs_carry_the_request_span_and_follow_a_span_directive() {
    let env = Env::start().await;
    let (record, text) = log_of_a_denied_request(&env, "text", "warn,[request]=info").await;
    let span = request_span_text(&record);
    let denied = denial_line(&text);
    assert!(denied.contains(&span), "{span} in {denied}");
    assert!(denied.contains("rule=\"no-namespace-delete\""), "{denied}");
    assert!(
        !text.contains("tollgate is serving"),
        "info outside a denied request: {text}"
    );
}

/// The text log at `info` (no directive names a span, so the request's
/// fields come from its log context, not a span): the denial's line reads
/// as it does in the span, and a line outside any request has none.
#[tokio::test(flavor = "multi_thread")]
async fn text_logs_without_a_span_directive_carry_the_same_request_fields() {
    let env = Env::start().await;
    let (record, text) = log_of_a_denied_request(&env, "text", "info").await;
    let span = format!(
        " INFO {}: tollgate_rules::layer::service: request denied by policy",
        request_span_text(&record)
    );
    let denied = denial_line(&text);
    assert!(denied.contains(&span), "{span} in {denied}");
    let serving = text
        .lines()
        .find(|l| l.contains("tollgate is serving"))
        .unwrap_or_else(|| panic!("no start-up line: {text}"));
    assert!(!serving.contains("request{"), "{serving}");
}

/// Polls `check` every 200 ms for up to 15 s.
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < Duration::from_secs(15), "never: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The certificate a new TLS connection to the gateway sees.
async fn served_cert(env: &Env) -> Vec<u8> {
    let tls = env.tls().await;
    tls.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replaced_certificate_is_served_to_new_connections_without_a_restart() {
    let env = Env::start().await;
    let dir = &env.demo.dir;
    let before = served_cert(&env).await;
    // A renewal (same CA, new key), written key first as a rotation might.
    let renewed = env
        .demo
        .api_server
        .ca()
        .server_cert(&["localhost", "127.0.0.1"])
        .unwrap();
    let renewed_der = <rustls_pki_types::CertificateDer<'_> as rustls_pki_types::pem::PemObject>::from_pem_slice(
        renewed.cert_pem.as_bytes(),
    )
    .unwrap()
    .to_vec();
    assert_ne!(before, renewed_der);
    std::fs::write(dir.join("gateway.key"), &renewed.key_pem).unwrap();
    std::fs::write(dir.join("gateway.crt"), &renewed.cert_pem).unwrap();
    eventually("the renewed certificate is served", async || {
        served_cert(&env).await == renewed_der
    })
    .await;
    assert_eq!(
        env.kubectl(&["get", "pods"]).await.code,
        0,
        "kubectl trusts it as before"
    );
    // A broken file keeps the certificate in use.
    std::fs::write(dir.join("gateway.crt"), "not a certificate").unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(served_cert(&env).await, renewed_der);
}

#[tokio::test(flavor = "multi_thread")]
async fn owners_and_the_authentication_configuration_reload_without_a_restart() {
    let env = Env::start().await;
    let dir = &env.demo.dir;
    let whoami = async || env.kubectl(&["auth", "whoami"]).await.stdout;
    assert!(whoami().await.contains("[payments]"));
    let owners = std::fs::read_to_string(dir.join("owners.yaml")).unwrap();
    std::fs::write(
        dir.join("owners.yaml"),
        owners.replace("- name: payments\n", "- name: payments-v2\n"),
    )
    .unwrap();
    eventually("the new owner rules apply", async || {
        whoami().await.contains("[payments-v2]")
    })
    .await;
    let authn = std::fs::read_to_string(dir.join("authn.yaml")).unwrap();
    assert!(authn.contains("prefix: \"github:\""));
    std::fs::write(
        dir.join("authn.yaml"),
        authn.replace("prefix: \"github:\"", "prefix: \"gh:\""),
    )
    .unwrap();
    eventually("the new username prefix applies", async || {
        whoami().await.contains("gh:repo:acme-demo/payments-api")
    })
    .await;
    // An invalid file keeps the configuration in use.
    std::fs::write(dir.join("authn.yaml"), "kind: AuthenticationConfiguration\njwt: 7\n").unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let now = whoami().await;
    assert!(
        now.contains("gh:repo:acme-demo/payments-api") && now.contains("[payments-v2]"),
        "{now}"
    );
}

/// The status a request without a token gets.
async fn without_a_token(env: &Env) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = env.tls().await;
    s.write_all(b"GET /api/v1/namespaces/default/pods HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    answer.lines().next().unwrap_or_default().to_owned()
}

/// `anonymous.enabled` is part of the AuthenticationConfiguration: turned
/// on and off again in the file, it applies without a restart (it was once
/// read only at start, so turning it off kept letting requests in).
#[tokio::test(flavor = "multi_thread")]
async fn anonymous_access_follows_the_reloaded_authentication_configuration() {
    let env = Env::start().await;
    let path = env.demo.dir.join("authn.yaml");
    let authn = std::fs::read_to_string(&path).unwrap();
    assert_eq!(without_a_token(&env).await, "HTTP/1.1 401 Unauthorized");
    std::fs::write(&path, format!("{authn}anonymous:\n  enabled: true\n")).unwrap();
    eventually("requests without a token are let in", async || {
        without_a_token(&env).await == "HTTP/1.1 200 OK"
    })
    .await;
    assert!(env.upstream_saw("GET", "/api/v1/namespaces/default/pods"));
    std::fs::write(&path, format!("{authn}anonymous:\n  enabled: false\n")).unwrap();
    eventually("requests without a token are refused again", async || {
        without_a_token(&env).await == "HTTP/1.1 401 Unauthorized"
    })
    .await;
    // kubectl with its token is unaffected throughout.
    assert_eq!(env.kubectl(&["get", "pods"]).await.code, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_audit_policy_applies_without_a_restart() {
    let env = Env::start().await;
    let log = env.demo.dir.join("audit/audit.log");
    let listed = |resource: &str| {
        tollgate_audit::read_log(&log)
            .map(|r| {
                r.filter_map(Result::ok)
                    .filter(|e| e.verb == "list" && e.object_ref.as_ref().is_some_and(|o| o.resource == resource))
                    .count()
            })
            .unwrap_or(0)
    };
    env.ok(&["get", "configmaps"]).await;
    common::records_until(&log, "the configmaps list", |e| {
        e.verb == "list" && e.object_ref.as_ref().is_some_and(|o| o.resource == "configmaps")
    })
    .await;
    // ConfigMaps are no longer recorded; everything else is as before.
    let policy = env.demo.dir.join("audit-policy.yaml");
    let text = std::fs::read_to_string(&policy).unwrap();
    let quiet = text.replacen(
        "rules:\n",
        "rules:\n  - level: None\n    resources:\n      - group: \"\"\n        resources: [\"configmaps\"]\n",
        1,
    );
    std::fs::write(&policy, quiet).unwrap();
    eventually("the new audit policy applies", async || {
        let before = listed("configmaps");
        env.ok(&["get", "configmaps"]).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        listed("configmaps") == before
    })
    .await;
    let pods = listed("pods");
    env.ok(&["get", "pods"]).await;
    common::records_until(&log, "a pods list after the reload", |_| listed("pods") > pods).await;
}

/// 16 clients list pods as fast as they can through `listen`; the audit ID
/// of every request answered 200 (so forwarded) is collected, until a
/// request fails (the gateway is gone) or `stop`.
fn load(
    env: &Env,
    listen: SocketAddr,
    stop: &std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> (
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    Vec<tokio::task::JoinHandle<()>>,
) {
    use http_body_util::BodyExt;
    let ids = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let token = env.token();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (ids, stop, token) = (ids.clone(), stop.clone(), token.clone());
        let tls = env.tls_at(listen);
        tasks.push(tokio::spawn(async move {
            let io = tls.await;
            let Ok((mut send, conn)) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io)).await
            else {
                return;
            };
            tokio::spawn(conn);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let req = http::Request::get("/api/v1/namespaces/default/pods")
                    .header("host", "gateway")
                    .header("authorization", format!("Bearer {token}"))
                    .body(http_body_util::Empty::<bytes::Bytes>::new())
                    .unwrap();
                let Ok(res) = send.send_request(req).await else { return };
                let id = res
                    .headers()
                    .get("audit-id")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let code = res.status();
                if res.into_body().collect().await.is_err() {
                    return;
                }
                if let (200, Some(id)) = (code.as_u16(), id) {
                    ids.lock().unwrap().push(id);
                }
            }
        }));
    }
    (ids, tasks)
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_under_load_loses_the_record_of_no_forwarded_request() {
    let env = Env::start().await;
    for durability in ["batch", "request"] {
        let (mut gateway, listen, _, _) = serve_second(&env, "", durability, "warn", Stdio::null()).await;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (ids, tasks) = load(&env, listen, &stop);
        let started = Instant::now();
        while ids.lock().unwrap().len() < 400 {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{durability}: the load never got going ({} answers)",
                ids.lock().unwrap().len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // SIGKILL with requests in flight: no destructor, no flush, no sync.
        gateway.start_kill().unwrap();
        gateway.wait().await.unwrap();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in tasks {
            let _ = t.await;
        }
        let forwarded = ids.lock().unwrap().clone();
        let log = env.demo.dir.join(format!("audit-{durability}/audit.log"));
        let mut received = std::collections::HashSet::new();
        let mut bad = Vec::new();
        for r in tollgate_audit::read_log(&log).unwrap() {
            match r {
                Ok(e) if e.stage == tollgate_audit::Stage::RequestReceived => {
                    received.insert(e.audit_id);
                }
                Ok(_) => {}
                Err(e) => bad.push(e.to_string()),
            }
        }
        let lost: Vec<&String> = forwarded.iter().filter(|id| !received.contains(*id)).collect();
        assert!(
            lost.is_empty(),
            "{durability}: {} of {} forwarded requests have no RequestReceived record: {:?}",
            lost.len(),
            forwarded.len(),
            &lost[..lost.len().min(3)]
        );
        assert!(
            bad.iter().all(|b| b.contains("torn")) && bad.len() <= 1,
            "{durability}: {bad:?}"
        );
    }
}
