//! Notifications to real HTTP receivers on loopback: Slack and Teams
//! bodies, the signature checked by the snippet in `docs/approvals.md`
//! (run with python3), retries with backoff, refusals not retried.

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tollgate_approval::{Approval, Format, Hints, Notifier, NotifyEvent, WebhookNotifier};

/// What the receiver got: headers and body of each POST.
type Got = Arc<Mutex<Vec<(http::HeaderMap, Bytes)>>>;

/// A receiver answering the statuses in `answers` in turn (then 200).
async fn receiver(answers: Vec<u16>) -> (String, Got) {
    let got: Got = Arc::default();
    let answers = Arc::new(Mutex::new(answers.into_iter()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sink = got.clone();
    tokio::spawn(async move {
        loop {
            let Ok((conn, _)) = listener.accept().await else { return };
            let (sink, answers) = (sink.clone(), answers.clone());
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let (sink, answers) = (sink.clone(), answers.clone());
                    async move {
                        let headers = req.headers().clone();
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        sink.lock().unwrap().push((headers, body));
                        let status = answers.lock().unwrap().next().unwrap_or(200);
                        Ok::<_, Infallible>(
                            hyper::Response::builder()
                                .status(status)
                                .body(Full::new(Bytes::from_static(b"ok")))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(conn), svc)
                    .await;
            });
        }
    });
    (format!("http://{addr}/services/T000/B000/secret-path"), got)
}

async fn wait_for(got: &Got, n: usize) -> Vec<(http::HeaderMap, Bytes)> {
    tollgate_testkit::eventually(|| got.lock().unwrap().len() >= n).await;
    got.lock().unwrap().clone()
}

fn approval(username: &str, command: &str) -> Approval {
    serde_json::from_value(serde_json::json!({
        "id": "apr-0123456789abcdef", "fingerprint": "fp", "state": "pending", "rule": "prod-deletes",
        "message": "deleting in prod needs a second person",
        "requester": {"issuer": "https://idp", "subject": "s", "username": username, "groups": ["ci"], "owner": "team-payments"},
        "request": {"verb": "delete", "requestUri": "/apis/apps/v1/namespaces/prod/deployments/web", "namespace": "prod",
                    "resource": "deployments", "name": "web", "command": command},
        "approvers": {"groups": ["sre"], "owners": [], "users": [], "count": 1},
        "approvals": [], "createdAt": 1_800_000_000u64, "pendingUntil": 1_800_003_600u64, "grantSeconds": 900, "usesLeft": 1
    }))
    .unwrap()
}

fn notifier(url: &str) -> WebhookNotifier {
    WebhookNotifier::new(tollgate_proxy::Upstream::webhook(url, None, "test").unwrap())
        .backoff(Duration::from_millis(20))
        .hints(Hints {
            external_url: Some("https://tollgate.example.com".to_owned()),
            ..Hints::default()
        })
}

#[tokio::test]
async fn slack_gets_blocks_and_nothing_a_requester_wrote_can_mention_the_channel() {
    let (url, got) = receiver(vec![]).await;
    let n = notifier(&url).format(Format::Slack);
    n.notify(
        NotifyEvent::Requested,
        &approval(
            "mallory <!channel>",
            "kubectl delete deployment web -n prod # <https://evil|click> `x`",
        ),
    );
    let got = wait_for(&got, 1).await;
    let body: serde_json::Value = serde_json::from_slice(&got[0].1).unwrap();
    let text = body.to_string();
    assert!(
        !text.contains("<!channel>") && text.contains("&lt;!channel&gt;"),
        "{text}"
    );
    assert!(!text.contains("<https://evil"), "{text}");
    let blocks = body["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    assert_eq!(blocks[0]["text"]["text"], "Approval requested: apr-0123456789abcdef");
    let all: Vec<String> = blocks.iter().map(|b| b.to_string()).collect();
    let all = all.join("\n");
    for part in [
        "kubectl delete deployment web -n prod",
        "team-payments",
        "prod-deletes",
        "1 of group sre",
        "kubectl tollgate approvals approve apr-0123456789abcdef",
        "kubectl tollgate approvals deny apr-0123456789abcdef",
        "<https://tollgate.example.com/tollgate/v1/approvals/apr-0123456789abcdef|apr-0123456789abcdef>",
        "<!date^1800003600^",
    ] {
        assert!(all.contains(part), "{part} missing from {all}");
    }
    assert!(
        body["text"].as_str().unwrap().contains("asks to run"),
        "the fallback text"
    );
    assert_eq!(got[0].0["content-type"], "application/json");
    assert!(
        got[0].0.get("x-tollgate-signature").is_none(),
        "no secret, no signature"
    );
    assert_eq!(n.stats().delivered.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn teams_gets_an_adaptive_card() {
    let (url, got) = receiver(vec![]).await;
    notifier(&url).format(Format::Teams).notify(
        NotifyEvent::Requested,
        &approval("ci-bot", "kubectl delete deployment web -n prod"),
    );
    let got = wait_for(&got, 1).await;
    let body: serde_json::Value = serde_json::from_slice(&got[0].1).unwrap();
    assert_eq!(body["type"], "message");
    let att = &body["attachments"][0];
    assert_eq!(att["contentType"], "application/vnd.microsoft.card.adaptive");
    let card = &att["content"];
    assert_eq!(
        (card["type"].as_str(), card["version"].as_str()),
        (Some("AdaptiveCard"), Some("1.4"))
    );
    assert_eq!(card["body"][1]["text"], "kubectl delete deployment web -n prod");
    let facts = card["body"][2]["facts"].as_array().unwrap();
    assert!(
        facts
            .iter()
            .any(|f| f["title"] == "Who" && f["value"] == "ci-bot (owner team-payments)")
    );
    assert_eq!(
        card["actions"][0]["url"],
        "https://tollgate.example.com/tollgate/v1/approvals/apr-0123456789abcdef"
    );
}

/// The Python function in docs/approvals.md, as a receiver would use it.
fn documented_verifier() -> String {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/approvals.md")).unwrap();
    let start = doc.find("```python\n").expect("a python block in docs/approvals.md") + "```python\n".len();
    let end = start + doc[start..].find("```").unwrap();
    doc[start..end].to_owned()
}

fn python_verifies(secret: &str, header: &str, body: &[u8]) -> Option<bool> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("body"), body).unwrap();
    let script = format!(
        "{}\nimport sys\nbody = open(sys.argv[1], 'rb').read()\nprint('valid' if verify(sys.argv[2].encode(), sys.argv[3], body) else 'invalid')\n",
        documented_verifier()
    );
    std::fs::write(dir.path().join("verify.py"), script).unwrap();
    let out = match std::process::Command::new("python3")
        .arg(dir.path().join("verify.py"))
        .arg(dir.path().join("body"))
        .arg(secret)
        .arg(header)
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            eprintln!("SKIPPED the documented snippet: python3 is not installed ({e})");
            return None;
        }
    };
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    Some(String::from_utf8_lossy(&out.stdout).trim() == "valid")
}

#[tokio::test]
async fn a_signed_notification_verifies_with_the_documented_snippet() {
    let (url, got) = receiver(vec![]).await;
    let secret = "0123456789abcdef-shared";
    notifier(&url).secret(secret.as_bytes().to_vec()).notify(
        NotifyEvent::Requested,
        &approval("ci-bot", "kubectl delete deployment web -n prod"),
    );
    let got = wait_for(&got, 1).await;
    let (headers, body) = &got[0];
    let sig = headers["x-tollgate-signature"].to_str().unwrap().to_owned();
    assert_eq!(headers["x-tollgate-approval"], "apr-0123456789abcdef");
    let json: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(json["event"], "requested");
    assert_eq!(
        json["link"],
        "https://tollgate.example.com/tollgate/v1/approvals/apr-0123456789abcdef"
    );
    if python_verifies(secret, &sig, body) == Some(true) {
        // The check fails for another secret, a changed body, an old time.
        assert_eq!(python_verifies("another-secret-0123", &sig, body), Some(false));
        let mut changed = body.to_vec();
        changed[10] ^= 1;
        assert_eq!(python_verifies(secret, &sig, &changed), Some(false));
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
        let old = tollgate_approval::signature(&key, 1_000_000_000, body);
        assert_eq!(python_verifies(secret, &old, body), Some(false), "a replayed old one");
    } else {
        assert!(
            std::process::Command::new("python3").arg("-V").output().is_err(),
            "python3 is there but the documented snippet did not verify {sig}"
        );
    }
}

#[tokio::test]
async fn failures_are_retried_with_backoff_and_refusals_are_not() {
    let (url, got) = receiver(vec![503, 502]).await;
    let n = notifier(&url);
    n.notify(
        NotifyEvent::Approved,
        &approval("ci-bot", "kubectl delete deployment web -n prod"),
    );
    let got_all = wait_for(&got, 3).await;
    assert_eq!(got_all.len(), 3, "two failures, then delivered");
    for _ in 0..100 {
        if n.stats().delivered.load(Ordering::Relaxed) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let s = n.stats();
    assert_eq!(
        (
            s.delivered.load(Ordering::Relaxed),
            s.retried.load(Ordering::Relaxed),
            s.failed.load(Ordering::Relaxed)
        ),
        (1, 2, 0)
    );

    let (url, got) = receiver(vec![400, 400, 400]).await;
    let n = notifier(&url);
    n.notify(
        NotifyEvent::Denied,
        &approval("ci-bot", "kubectl delete deployment web -n prod"),
    );
    wait_for(&got, 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(got.lock().unwrap().len(), 1, "a 400 is not retried");
    assert_eq!(n.stats().failed.load(Ordering::Relaxed), 1);

    // A receiver that is not there: every attempt, then given up.
    let n = WebhookNotifier::new(tollgate_proxy::Upstream::webhook("http://127.0.0.1:9/x", None, "t").unwrap())
        .backoff(Duration::from_millis(5));
    n.notify(NotifyEvent::Requested, &approval("ci-bot", "kubectl get pods"));
    for _ in 0..300 {
        if n.stats().failed.load(Ordering::Relaxed) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(n.stats().failed.load(Ordering::Relaxed), 1);
    assert_eq!(
        n.stats().retried.load(Ordering::Relaxed),
        u64::from(tollgate_approval::ATTEMPTS - 1)
    );
}

#[test]
fn receivers_are_checked_with_the_field_named() {
    let parse = |yaml: &str| {
        let mut c: tollgate_approval::config::ApprovalConfig = tollgate_kube::from_yaml(yaml, "t.yaml").unwrap();
        c.rebase(std::path::Path::new("/nonexistent-dir"));
        c.check("t.yaml")
    };
    let e = parse("notify:\n  - url: http://hooks.example.com/x\n").unwrap_err();
    assert_eq!(e.field, "approval.notify[0].url");
    assert!(e.message.contains("needs https://"), "{e}");
    let e = parse("notify:\n  - url: https://h/x\n    kubeconfig: k\n").unwrap_err();
    assert!(e.message.contains("exactly one of"), "{e}");
    let e = parse("notify:\n  - urlFile: missing\n").unwrap_err();
    assert_eq!(e.field, "approval.notify[0].urlFile");
    let e: Result<tollgate_approval::config::ApprovalConfig, _> =
        tollgate_kube::from_yaml("notify:\n  - url: https://h/x\n    format: discord\n", "t.yaml");
    assert!(e.unwrap_err().to_string().contains("discord"));
    // A bare string is a kubeconfig path, as before.
    let e = parse("notify: [slack.kubeconfig]\n").unwrap_err();
    assert_eq!(e.field, "approval.notify[0]");
    assert!(e.message.contains("slack.kubeconfig"), "{e}");
}
