//! End to end, as an attacker would try it (issue 13's reproductions): each
//! hostile request through the demo ends in a clear refusal or a bounded
//! cost, and stays on record.

use std::process::Stdio;
use std::time::Duration;

use tollgate_audit::Level;

mod common;

use common::DemoEnv as Env;

#[tokio::test(flavor = "multi_thread")]
async fn a_patch_with_a_deep_pointer_is_refused_with_the_limit_not_a_crash() {
    let env = Env::start().await;
    // Point 1: 15,000 segments in one pointer once overflowed the worker's
    // stack under the baseline pack (policy runs before RBAC).
    let path = format!("/spec{}", "/a".repeat(15_000));
    let patch = format!(r#"[{{"op":"add","path":"{path}","value":1}}]"#);
    let out = env
        .kubectl(&["patch", "pod", "demo", "--type=json", "-p", &patch])
        .await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.starts_with("Error from server (BadRequest)")
            && out.stderr.contains("JSON pointer depth 15001")
            && out.stderr.contains("limit of 128 segments"),
        "{}",
        out.stderr
    );
    assert!(!env.upstream_saw("PATCH", "/pods/demo"), "never forwarded");
    // The gateway is still up, and the refusal is on record.
    let out = env.kubectl(&["get", "pods"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    env.records_until("the refused patch", |e| {
        e.verb == "patch" && e.response_status.as_ref().and_then(|s| s["code"].as_u64()) == Some(400)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unauthenticated_body_is_never_decoded_or_recorded() {
    let env = Env::start().await;
    // Point 2: a YAML body sent without a valid token. Whatever it holds,
    // the record is Metadata: no requestObject, no expansion.
    let mut doc = String::from("a: &a \"PLANTED-unauthenticated-value\"\n");
    for i in 0..50 {
        doc.push_str(&format!("k{i}: [*a, *a, *a, *a]\n"));
    }
    let file = env.write("body.yaml", &doc);
    let out = env
        .kubectl(&[
            "create",
            "--raw",
            "/api/v1/namespaces/default/configmaps",
            "-f",
            file.to_str().unwrap(),
            "--token",
            "not-a-token",
        ])
        .await;
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("Unauthorized"), "{}", out.stderr);
    let records = env
        .records_until("the 401", |e| {
            e.annotations.get("tollgate.dev/decision").map(String::as_str) == Some("unauthenticated")
        })
        .await;
    let e = records
        .iter()
        .find(|e| e.annotations.get("tollgate.dev/decision").map(String::as_str) == Some("unauthenticated"))
        .unwrap();
    assert_eq!(e.level, Level::Metadata);
    assert!(e.request_object.is_none());
    let text = std::fs::read_to_string(env.log()).unwrap();
    assert!(
        !text.contains("PLANTED-unauthenticated-value"),
        "the body reached the log"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_overlong_url_is_refused_locally_with_414_and_recorded() {
    let env = Env::start().await;
    // Point 6: what the shared upstream connection would refuse is refused
    // here, for this request alone.
    let uri = format!(
        "/api/v1/namespaces/default/pods?labelSelector=app%3D{}",
        "x".repeat(9000)
    );
    let out = env.kubectl(&["get", "--raw", &uri]).await;
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("Tollgate's limit of 8192 bytes"), "{}", out.stderr);
    assert!(!env.upstream_saw("GET", "labelSelector=app"), "never forwarded");
    let records = env
        .records_until("the 414", |e| {
            e.response_status.as_ref().and_then(|s| s["code"].as_u64()) == Some(414)
        })
        .await;
    let e = records
        .iter()
        .find(|e| e.response_status.as_ref().and_then(|s| s["code"].as_u64()) == Some(414))
        .unwrap();
    assert!(e.request_uri.len() < 8300, "the recorded URI is cut");
    // Other clients are served meanwhile.
    assert_eq!(env.kubectl(&["get", "pods"]).await.code, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_headers_fail_one_request_and_leave_other_clients_streams_alone() {
    use tokio::io::AsyncBufReadExt;
    let env = Env::start().await;
    // Point 6: a client's watch on the shared upstream connection …
    let mut watch = common::kubectl(&env.demo.kubeconfig, env.dir.path(), &["get", "pods", "-w"]);
    let mut child = watch
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(common::read(&mut lines).await.starts_with("NAME"));
    assert!(common::read(&mut lines).await.starts_with("demo "));
    for _ in 0..200 {
        if env.upstream_saw("GET", "watch=true") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // … and another client's 13 KB header, under the 16 KiB the gateway's
    // own HTTP/2 listener allows but over what it forwards.
    let group = "g".repeat(13_000);
    let out = env
        .kubectl(&["get", "pods", "--as", "someone", "--as-group", &group])
        .await;
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("larger than Tollgate's limit of 12288 bytes"),
        "{}",
        out.stderr
    );
    env.records_until("the 431", |e| {
        e.response_status.as_ref().and_then(|s| s["code"].as_u64()) == Some(431)
    })
    .await;
    // The watch still delivers.
    let out = env.kubectl(&["run", "late", "--image", "busybox"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let line = common::read(&mut lines).await;
    assert!(line.starts_with("late "), "{line}");
    child.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_bodies_are_refused_and_on_record() {
    let env = Env::start().await;
    // Point 8: a 413 leaves a record.
    let big = env.write("big.txt", &"x".repeat(4 * 1024 * 1024));
    let out = env
        .kubectl(&["create", "configmap", "big", &format!("--from-file={}", big.display())])
        .await;
    assert_eq!(out.code, 1);
    env.records_until("the 413", |e| {
        e.response_status.as_ref().and_then(|s| s["code"].as_u64()) == Some(413) && e.verb == "create"
    })
    .await;
}

#[test]
fn a_replayed_recording_cannot_drive_the_reviewers_terminal() {
    // Point 7: OSC 52 would set the reviewer's clipboard; a crafted title
    // and marker too; timestamps of ±1e308 once played for 17 minutes.
    let dir = tempfile::tempdir().unwrap();
    let cast = dir.path().join("x.cast");
    let mut text = String::from(
        "{\"version\":2,\"width\":80,\"height\":24,\"title\":\"\\u001b]0;owned\\u0007t\"}\n[0.1,\"o\",\"before \\u001b]52;c;cm0gLXJmIH4K\\u0007\\u001b[31mred\\u001b[0m after\\r\\n\"]\n[0.2,\"m\",\"\\u001b]2;marker\\u0007\"]\n",
    );
    for i in 0..200 {
        let t = if i % 2 == 0 { 1e308 } else { -1e308 };
        text.push_str(&format!("[{t:e},\"o\",\".\"]\n"));
    }
    std::fs::write(&cast, text).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args([
            "sessions",
            "replay",
            cast.to_str().unwrap(),
            "--max-idle",
            "0.01",
            "--max-total",
            "0.2",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stdout.contains("\x1b]"),
        "an OSC sequence reached the terminal: {stdout:?}"
    );
    assert!(!stderr.contains('\x1b'), "a control reached the terminal: {stderr:?}");
    assert!(stdout.contains("before \x1b[31mred\x1b[0m after"), "{stdout:?}");
    assert!(
        stderr.contains("\\u{1b}]0;owned"),
        "the title shown as text: {stderr:?}"
    );
    // --raw is the documented way to get everything.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args([
            "sessions",
            "replay",
            cast.to_str().unwrap(),
            "--max-total",
            "0",
            "--raw",
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("\x1b]52;"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unauthenticated_body_is_refused_before_it_is_read() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // Issue 15: a 3 MB Content-Length with one byte sent and no token once
    // held the connection (and its buffer) until the body timeout.
    let env = Env::start().await;
    let mut s = env.tls().await;
    s.write_all(b"POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\nContent-Length: 3000000\r\n\r\n{")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(20), s.read(&mut buf))
        .await
        .expect("an answer without the body")
        .unwrap();
    let head = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    // The unread body is not read to keep the connection: it closes.
    assert!(head.to_ascii_lowercase().contains("connection: close"), "{head}");
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut rest))
        .await
        .expect("the gateway closes the connection")
        .ok();
    let records = env
        .records_until("the 401", |e| {
            e.annotations.get("tollgate.dev/decision").map(String::as_str) == Some("unauthenticated")
        })
        .await;
    let e = records
        .iter()
        .find(|e| e.annotations.get("tollgate.dev/decision").map(String::as_str) == Some("unauthenticated"))
        .unwrap();
    assert_eq!(e.verb, "create");
    assert_eq!(e.object_ref.as_ref().map(|o| o.resource.as_str()), Some("configmaps"));
    assert!(e.request_object.is_none());
}
