//! End to end: what the real `kubectl` leaves in the demo's audit trail —
//! redacted bodies, the refusals with their rules, a watch ended by the
//! client with its event count, an exec session as a replayable recording —
//! read back with `tollgate sessions`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tollgate_audit::{Event, Level, Stage};
use tollgate_gateway::demo::{self, Demo};

mod common;

use common::tollgate;

struct Env {
    demo: Demo,
    dir: tempfile::TempDir,
}

impl Env {
    async fn start() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let demo = demo::start(dir.path(), "127.0.0.1:0".parse().unwrap()).await.unwrap();
        Env { demo, dir }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = common::kubectl(&self.demo.kubeconfig, self.dir.path(), args);
        c.stdin(Stdio::null());
        c
    }

    async fn kubectl(&self, args: &[&str]) -> (i32, String, String) {
        let out = tokio::time::timeout(Duration::from_secs(60), self.cmd(args).output())
            .await
            .expect("kubectl finished")
            .expect("kubectl is installed (see .ci/run)");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("audit/audit.log")
    }

    /// The records so far, once one matches `want`.
    async fn records_until(&self, what: &str, want: impl Fn(&Event) -> bool) -> Vec<Event> {
        common::records_until(&self.log(), what, want).await
    }
}

async fn admin_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

const SECRET: &str = "apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: default
stringData:
  password: hunter2-PLANTED
";

#[tokio::test(flavor = "multi_thread")]
async fn apply_of_a_secret_is_recorded_with_every_copy_of_the_value_redacted() {
    let env = Env::start().await;
    let file = env.dir.path().join("secret.yaml");
    std::fs::write(&file, SECRET).unwrap();
    let (code, _, err) = env.kubectl(&["apply", "-f", file.to_str().unwrap()]).await;
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = env.kubectl(&["get", "secret", "db", "-o", "yaml"]).await;
    assert_eq!(code, 0, "{err}");
    let records = env
        .records_until("the create's ResponseComplete", |e| {
            e.verb == "create" && e.stage == Stage::ResponseComplete
        })
        .await;
    let text = std::fs::read_to_string(env.log()).unwrap();
    assert!(
        !text.contains("hunter2-PLANTED"),
        "a secret value reached the audit log"
    );
    assert!(
        !text.contains("aHVudGVyMi1QTEFOVEVE"),
        "a base64 secret value reached the audit log"
    );
    let create = records
        .iter()
        .find(|e| e.verb == "create" && e.stage == Stage::ResponseComplete)
        .unwrap();
    assert_eq!(create.level, Level::RequestResponse);
    let req = create.request_object.as_ref().expect("requestObject");
    assert_eq!(req["stringData"]["password"], "<redacted>");
    let applied = req["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
        .as_str()
        .expect("kubectl apply sends the annotation");
    assert!(applied.contains("<redacted>"), "{applied}");
    assert!(create.response_object.is_some());
    assert_eq!(create.tollgate("owner"), Some("payments"));
    assert!(
        create
            .tollgate("redacted-paths")
            .unwrap()
            .contains("last-applied-configuration")
    );
    assert_eq!(create.code(), Some(201));
    assert!(records.iter().all(|e| e.audit_id.len() == 36));
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_are_recorded_with_their_rule_or_reason() {
    let env = Env::start().await;
    let (code, _, err) = env.kubectl(&["delete", "namespace", "prod"]).await;
    assert_ne!(code, 0);
    assert!(err.contains("no-namespace-delete"), "{err}");
    let (code, _, _) = env.kubectl(&["--token", "not-a-jwt", "get", "pods"]).await;
    assert_ne!(code, 0);
    let records = env
        .records_until("the 401", |e| {
            e.code() == Some(401) && e.stage == Stage::ResponseComplete
        })
        .await;
    let denied = records
        .iter()
        .find(|e| e.verb == "delete" && e.stage == Stage::ResponseComplete)
        .expect("the denied delete is recorded");
    assert_eq!(denied.code(), Some(403));
    assert_eq!(denied.tollgate("decision"), Some("deny"));
    assert_eq!(denied.tollgate("rule"), Some("no-namespace-delete"));
    assert_eq!(denied.tollgate("owner"), Some("payments"));
    assert_eq!(denied.tollgate("command"), Some("kubectl delete namespace prod"));
    let unauth = records.iter().find(|e| e.code() == Some(401)).unwrap();
    assert_eq!(unauth.tollgate("decision"), Some("unauthenticated"));
    assert!(unauth.tollgate("authentication-failure").is_some());
    assert!(unauth.user.username.is_empty());
    // Nothing refused reached the API server.
    assert!(
        !env.demo
            .api_server
            .requests()
            .iter()
            .any(|r| r.method == http::Method::DELETE)
    );
    // The operator's view: counters on the admin listener.
    let metrics = admin_get(env.demo.gateway.admin_addr.unwrap(), "/metrics").await;
    assert!(metrics.contains("tollgate_audit_enabled 1"), "{metrics}");
    let written: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("tollgate_audit_records_written_total "))
        .unwrap()
        .parse()
        .unwrap();
    // The denied delete's two stages and the refusal's one record (a
    // refusal before authentication is one ResponseComplete record).
    assert!(written >= 3, "{metrics}");
    assert!(metrics.contains("tollgate_audit_requests_refused_total 0"), "{metrics}");
    // The reviewer's view.
    let (code, out, err) = tollgate(&[
        "sessions",
        "list",
        "--audit",
        env.log().to_str().unwrap(),
        "--verb",
        "delete",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("403") && out.contains("deny") && out.contains("kubectl delete namespace prod"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_watch_ended_by_the_client_is_recorded_with_its_event_count() {
    let env = Env::start().await;
    let mut child = env
        .cmd(&["get", "pods", "-w"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(common::read(&mut lines).await.starts_with("NAME"));
    env.records_until("the watch started", |e| {
        e.verb == "watch" && e.stage == Stage::ResponseStarted
    })
    .await;
    for name in ["one", "two"] {
        let (code, _, err) = env.kubectl(&["run", name, "--image", "busybox"]).await;
        assert_eq!(code, 0, "{err}");
    }
    let mut seen = 0;
    while seen < 2 {
        let l = common::read(&mut lines).await;
        if l.starts_with("one ") || l.starts_with("two ") {
            seen += 1;
        }
    }
    child.kill().await.unwrap();
    let records = env
        .records_until("the watch's ResponseComplete", |e| {
            e.verb == "watch" && e.stage == Stage::ResponseComplete
        })
        .await;
    let done = records
        .iter()
        .find(|e| e.verb == "watch" && e.stage == Stage::ResponseComplete)
        .unwrap();
    let events: u64 = done.tollgate("watch-events").unwrap().parse().unwrap();
    assert!(events >= 2, "{events}");
    assert_eq!(done.tollgate("closed-early"), Some("true"));
    assert_eq!(done.tollgate("command"), Some("kubectl get pod -n default -w"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_exec_session_is_recorded_and_replays() {
    let env = Env::start().await;
    let (code, out, err) = env.kubectl(&["exec", "-i", "demo", "--", "sh", "-c", "echo hi"]).await;
    assert_eq!((code, out.as_str()), (0, "hi\n"), "{err}");
    let records = env
        .records_until("the session's ResponseComplete", |e| {
            e.object_ref.as_ref().is_some_and(|o| o.subresource == "exec") && e.stage == Stage::ResponseComplete
        })
        .await;
    let done = records
        .iter()
        .find(|e| e.object_ref.as_ref().is_some_and(|o| o.subresource == "exec") && e.stage == Stage::ResponseComplete)
        .unwrap();
    assert_eq!(done.tollgate("exit-code"), Some("0"));
    assert_eq!(
        done.tollgate("command"),
        Some("kubectl exec demo -n default -c app -i -- sh -c 'echo hi'")
    );
    let cast = PathBuf::from(done.tollgate("recording").expect("a recording"));
    assert!(cast.starts_with(env.dir.path()));
    let bytes = std::fs::read(&cast).unwrap();
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes);
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        done.tollgate("recording-sha256"),
        Some(hex.as_str()),
        "the record names the file's digest"
    );
    check_cast(&cast);
    let (code, out, err) = tollgate(&["sessions", "replay", cast.to_str().unwrap(), "--speed", "100"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "hi\n");
    assert!(err.contains("exit 0"), "{err}");
    let (code, out, _) = tollgate(&["sessions", "list", "--audit", env.log().to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(out.contains("[recorded]"), "{out}");
}

/// An asciicast v2 file: a header naming the session, then events.
fn check_cast(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(header["version"], 2);
    assert_eq!(header["tollgate"]["pod"], "demo");
    assert_eq!(header["tollgate"]["namespace"], "default");
    assert_eq!(header["tollgate"]["owner"], "payments");
    assert_eq!(
        header["tollgate"]["command"],
        serde_json::json!(["sh", "-c", "echo hi"])
    );
    let events: Vec<(f64, String, String)> = lines.map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(events.iter().any(|(_, c, d)| c == "o" && d == "hi\n"), "{events:?}");
    assert!(events.iter().all(|(_, c, _)| c != "i"), "stdin is off by default");
    assert!(events.windows(2).all(|w| w[0].0 <= w[1].0), "times increase");
}
