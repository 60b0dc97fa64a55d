//! `ApprovalLayer` in a stack: the waiting protocol (429 with Retry-After,
//! or 403 for rules that ask), the API, notifications, and that only the
//! approved request passes.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use tollgate_approval::{Approval, ApprovalLayer, MemoryStore, Notifier, NotifyEvent};
use tollgate_kube::Identity;
use tollgate_kube::RequestInfoLayer;
use tollgate_rules::{PolicyLayer, PolicyStore, parse_policy};
use tower::util::MapRequestLayer;
use tower::{Service, ServiceBuilder, ServiceExt};

const RULES: &str = r#"
apiVersion: tollgate.dev/v1alpha1
kind: Policy
rules:
- name: approve-prod-deletes
  match: {verbs: [delete], namespaces: [prod]}
  action: require_approval
  message: deleting in prod needs an approval
  approval: {approvers: {groups: [admins]}, count: 1}
- name: approve-secret-patches
  match: {verbs: [patch], resources: [{group: "", resources: [secrets]}]}
  action: require_approval
  message: changing a Secret needs an approval
  approval: {approvers: {groups: [admins]}, count: 1}
- name: approve-exec-no-retry
  match: {verbs: [create, get], resources: [{group: "", resources: [pods/exec]}]}
  action: require_approval
  message: exec needs an approval
  approval: {approvers: {users: [alice]}, mode: deny}
"#;

#[derive(Debug, Clone, Default)]
struct Collect(Arc<Mutex<Vec<(NotifyEvent, String)>>>);

impl Notifier for Collect {
    fn notify(&self, event: NotifyEvent, a: &Approval) {
        self.0.lock().unwrap().push((event, a.id.clone()));
    }
}

fn who(name: &str, groups: &[&str]) -> Identity {
    let mut id = Identity::anonymous();
    id.issuer = "https://idp".into();
    id.subject = name.into();
    id.username = name.into();
    id.groups = groups.iter().map(|g| (*g).to_owned()).collect();
    id
}

type Req = Request<Full<Bytes>>;

struct Stack {
    forwarded: Arc<AtomicUsize>,
    notes: Collect,
    layer: ApprovalLayer,
}

impl Stack {
    fn new() -> Self {
        let notes = Collect::default();
        let layer = ApprovalLayer::new(Arc::new(MemoryStore::default()))
            .hold(Duration::from_millis(200))
            .notifier(notes.clone());
        Stack {
            forwarded: Arc::new(AtomicUsize::new(0)),
            notes,
            layer,
        }
    }

    /// Sends `req` as `as_who` through RequestInfo → identity → policy → approval.
    async fn send(&self, req: Req, as_who: Identity) -> (u16, http::HeaderMap, String) {
        let forwarded = self.forwarded.clone();
        let mut svc = ServiceBuilder::new()
            .layer(RequestInfoLayer::new())
            .layer(MapRequestLayer::new(move |mut r: Req| {
                r.extensions_mut().insert(as_who.clone());
                r
            }))
            .layer(
                PolicyLayer::new(PolicyStore::new(parse_policy(RULES, "rules.yaml").unwrap())).approval_available(true),
            )
            .layer(self.layer.clone())
            .service_fn(move |_r: Req| {
                forwarded.fetch_add(1, Ordering::SeqCst);
                async { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"{}")))) }
            });
        let res = ServiceExt::<Req>::ready(&mut svc)
            .await
            .unwrap()
            .call(req)
            .await
            .unwrap();
        let code = res.status().as_u16();
        let headers = res.headers().clone();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        (code, headers, String::from_utf8_lossy(&body).into_owned())
    }
}

fn delete_web() -> Req {
    Request::delete("/apis/apps/v1/namespaces/prod/deployments/web")
        .body(Full::new(Bytes::new()))
        .unwrap()
}

fn post(path: String, body: &str) -> Req {
    Request::post(path)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap()
}

#[tokio::test]
async fn pending_answers_429_with_retry_after_then_the_approved_request_passes_once() {
    let s = Stack::new();
    let (code, h, body) = s.send(delete_web(), who("ci", &["ci"])).await;
    assert_eq!(code, 429, "{body}");
    assert_eq!(h["retry-after"], "1");
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["reason"], "TooManyRequests");
    assert_eq!(status["details"]["retryAfterSeconds"], 1);
    let message = status["message"].as_str().unwrap();
    assert!(
        message.contains("approve-prod-deletes") && message.contains("1 of group admins"),
        "{message}"
    );
    let id = message
        .split("Approval ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_owned();
    assert!(
        message.contains(&format!("tollgate approvals approve {id}")),
        "{message}"
    );
    assert!(h["warning"].to_str().unwrap().contains(&id));
    assert_eq!(s.forwarded.load(Ordering::SeqCst), 0);
    assert_eq!(
        s.notes.0.lock().unwrap().as_slice(),
        [(NotifyEvent::Requested, id.clone())]
    );

    // The retry finds the same approval, still pending.
    let (code, _, body) = s.send(delete_web(), who("ci", &["ci"])).await;
    assert_eq!(code, 429);
    assert!(body.contains(&id));
    // Someone else's identical command is a different request.
    let (_, _, other) = s.send(delete_web(), who("bob", &["ci"])).await;
    assert!(!other.contains(&id));

    // The API: not an approver, then an approver.
    let path = format!("/tollgate/v1/approvals/{id}/approve");
    let (code, _, body) = s.send(post(path.clone(), "{}"), who("mallory", &["dev"])).await;
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("is not an approver"), "{body}");
    let (code, _, body) = s
        .send(post(path, r#"{"reason":"ok"}"#), who("alice", &["admins"]))
        .await;
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"state\":\"approved\""), "{body}");
    assert!(s.notes.0.lock().unwrap().contains(&(NotifyEvent::Approved, id.clone())));

    let (code, _, _) = s.send(delete_web(), who("ci", &["ci"])).await;
    assert_eq!(code, 200);
    assert_eq!(s.forwarded.load(Ordering::SeqCst), 1);
    // Used up: the next identical request waits for a new approval.
    let (code, _, body) = s.send(delete_web(), who("ci", &["ci"])).await;
    assert_eq!(code, 429);
    assert!(!body.contains(&id));
    assert_eq!(s.forwarded.load(Ordering::SeqCst), 1);

    // Listing and showing.
    let (code, _, body) = s
        .send(
            Request::get("/tollgate/v1/approvals?state=consumed")
                .body(Full::new(Bytes::new()))
                .unwrap(),
            who("alice", &["admins"]),
        )
        .await;
    assert_eq!(code, 200);
    assert!(body.contains(&id));
    let (code, _, _) = s
        .send(
            Request::get("/tollgate/v1/approvals/apr-nope")
                .body(Full::new(Bytes::new()))
                .unwrap(),
            who("alice", &["admins"]),
        )
        .await;
    assert_eq!(code, 404);
    let (code, _, _) = s
        .send(
            Request::get("/tollgate/v1/approvals")
                .body(Full::new(Bytes::new()))
                .unwrap(),
            Identity::anonymous(),
        )
        .await;
    assert_eq!(code, 401, "the API needs a verified identity");
}

#[tokio::test]
async fn a_rule_with_mode_deny_answers_403_while_pending() {
    let s = Stack::new();
    let exec = || {
        Request::get("/api/v1/namespaces/a/pods/p/exec?command=sh")
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    let (code, h, body) = s.send(exec(), who("ci", &[])).await;
    assert_eq!(code, 403, "{body}");
    assert!(h.get("retry-after").is_none());
    assert!(
        body.contains("exec needs an approval") && body.contains("is pending"),
        "{body}"
    );
    assert!(body.contains("run the command again once it is approved"), "{body}");
}

#[tokio::test]
async fn a_holder_is_woken_by_the_decision() {
    let s = Arc::new(Stack::new());
    let (code, _, body) = s.send(delete_web(), who("ci", &["ci"])).await;
    assert_eq!(code, 429);
    let id = body
        .split("Approval ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_owned();
    // A long hold this time: the decision, not the timeout, ends it.
    let s2 = Arc::new(Stack {
        forwarded: s.forwarded.clone(),
        notes: s.notes.clone(),
        layer: s.layer.clone().hold(Duration::from_secs(30)),
    });
    let held = {
        let s2 = s2.clone();
        tokio::spawn(async move {
            let t = std::time::Instant::now();
            (s2.send(delete_web(), who("ci", &["ci"])).await.0, t.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (code, _, _) = s
        .send(
            post(format!("/tollgate/v1/approvals/{id}/approve"), "{}"),
            who("alice", &["admins"]),
        )
        .await;
    assert_eq!(code, 200);
    let (code, waited) = held.await.unwrap();
    assert_eq!(code, 200);
    assert!(waited < Duration::from_secs(10), "{waited:?}");
}

/// The webhook notifier POSTs JSON with a Slack-compatible `text` to a
/// real receiver named by a kubeconfig-format file.
#[tokio::test(flavor = "multi_thread")]
async fn webhook_notifications_reach_a_receiver() {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let got: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sink = got.clone();
    tokio::spawn(async move {
        loop {
            let Ok((conn, _)) = listener.accept().await else { return };
            let sink = sink.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let sink = sink.clone();
                    async move {
                        // What arrived besides the body: where, and with which credential.
                        let auth = req
                            .headers()
                            .get("authorization")
                            .map(|v| v.to_str().unwrap().to_owned());
                        let path = req.uri().path().to_owned();
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let mut v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                        v["_authorization"] = auth.into();
                        v["_path"] = path.into();
                        sink.lock().unwrap().push(v);
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(b"ok"))))
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(conn), svc)
                    .await;
            });
        }
    });
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: 'http://{addr}/hooks/approvals'}}}}]\n\
         users: [{{name: u, user: {{token: t}}}}]\ncontexts: [{{name: x, context: {{cluster: c, user: u}}}}]\ncurrent-context: x\n"
    );
    let up = tollgate_proxy::Upstream::from_kubeconfig_yaml(
        &kubeconfig,
        "slack.kubeconfig",
        std::path::Path::new("."),
        None,
    )
    .unwrap();
    let notifier = tollgate_approval::WebhookNotifier::new(up).hints(tollgate_approval::Hints {
        approve: "tollgate approvals approve {id}".to_owned(),
        ..tollgate_approval::Hints::default()
    });
    let s = Stack {
        forwarded: Arc::new(AtomicUsize::new(0)),
        notes: Collect::default(),
        layer: ApprovalLayer::new(Arc::new(MemoryStore::default()))
            .hold(Duration::from_millis(50))
            .notifier(notifier),
    };
    let (code, _, _) = s.send(delete_web(), who("ci", &["ci"])).await;
    assert_eq!(code, 429);
    for _ in 0..100 {
        if !got.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let n = got.lock().unwrap().first().cloned().expect("a notification");
    assert_eq!(n["event"], "requested");
    let id = n["approval"]["id"].as_str().unwrap().to_owned();
    let text = n["text"].as_str().unwrap();
    assert!(text.contains("kubectl delete deployment web -n prod"), "{text}");
    assert!(text.contains(&format!("tollgate approvals approve {id}")), "{text}");
    // The receiver's kubeconfig credential is sent, as the API server's
    // webhooks send theirs, to the server URL's path.
    assert_eq!(n["_authorization"], "Bearer t");
    assert_eq!(n["_path"], "/hooks/approvals");
}

/// The approval id a 429 names.
fn approval_id(body: &str) -> String {
    body.split("Approval ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_held_request_keeps_at_most_64_kib_of_its_body_and_its_digest() {
    // Issue 13, point 5: held deletes once kept whole decoded bodies (65 MB
    // each) for an hour.
    let s = Stack::new();
    let padding = "p".repeat(200 * 1024);
    let body = format!(
        r#"{{"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Foreground","dryRun":[],"padding":"{padding}"}}"#
    );
    let req = Request::delete("/apis/apps/v1/namespaces/prod/deployments/big")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.clone())))
        .unwrap();
    let (code, _, answer) = s.send(req, who("ci", &["ci"])).await;
    assert_eq!(code, 429, "{answer}");
    let id = approval_id(&answer);
    let (code, _, shown) = s
        .send(
            Request::get(format!("/tollgate/v1/approvals/{id}"))
                .body(Full::new(Bytes::new()))
                .unwrap(),
            who("alice", &["admins"]),
        )
        .await;
    assert_eq!(code, 200, "{shown}");
    assert!(shown.len() < 64 * 1024, "{} bytes shown", shown.len());
    let a: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert!(a["request"].get("body").is_none(), "{shown}");
    assert!(
        a["request"]["bodyOmitted"]
            .as_str()
            .unwrap()
            .contains("over 65536 kept"),
        "{shown}"
    );
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, body.as_bytes());
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(a["request"]["bodySha256"], hex.as_str());
}

#[tokio::test]
async fn a_requester_has_a_bounded_number_of_pending_approvals() {
    let mut s = Stack::new();
    s.layer = ApprovalLayer::new(Arc::new(MemoryStore::default())).hold(Duration::from_millis(1));
    for i in 0..tollgate_approval::MAX_PENDING_PER_REQUESTER {
        let req = Request::delete(format!("/apis/apps/v1/namespaces/prod/deployments/d{i}"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let (code, h, body) = s.send(req, who("ci", &["ci"])).await;
        assert_eq!(code, 429, "{body}");
        assert!(h.contains_key("retry-after"));
    }
    // One more distinct request: refused without a new approval, and
    // without Retry-After (kubectl would retry for minutes).
    let req = Request::delete("/apis/apps/v1/namespaces/prod/deployments/one-more")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (code, h, body) = s.send(req, who("ci", &["ci"])).await;
    assert_eq!(code, 429, "{body}");
    assert!(!h.contains_key("retry-after"));
    assert!(body.contains("ci has 20 approvals pending"), "{body}");
    // A retry of one already pending still gets its own answer.
    let req = Request::delete("/apis/apps/v1/namespaces/prod/deployments/d0")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (_, h, _) = s.send(req, who("ci", &["ci"])).await;
    assert!(h.contains_key("retry-after"));
    // Someone else is not held to ci's count.
    let (code, h, _) = s.send(delete_web(), who("bob", &["ci"])).await;
    assert_eq!(code, 429);
    assert!(h.contains_key("retry-after"));
}

#[tokio::test]
async fn approvals_are_shown_only_to_their_requester_and_approvers_with_patch_values_masked() {
    // Issue 14, point 5: any verified token could list every approval,
    // and JSON-patch values in them were not redacted.
    let s = Stack::new();
    let patch = r#"[{"op":"add","path":"/data/password","value":"aHVudGVyMi1QTEFOVEVE"},{"op":"replace","path":"/stringData","value":{"token":"PLANTED-token"}}]"#;
    let req = Request::patch("/api/v1/namespaces/dev/secrets/db")
        .header("content-type", "application/json-patch+json")
        .body(Full::new(Bytes::from_static(patch.as_bytes())))
        .unwrap();
    let (code, _, answer) = s.send(req, who("ci", &["ci"])).await;
    assert_eq!(code, 429, "{answer}");
    let id = approval_id(&answer);
    let list = |name: &'static str, groups: &'static [&'static str]| {
        let s = &s;
        async move {
            let (code, _, body) = s
                .send(
                    Request::get("/tollgate/v1/approvals")
                        .body(Full::new(Bytes::new()))
                        .unwrap(),
                    who(name, groups),
                )
                .await;
            assert_eq!(code, 200, "{body}");
            body
        }
    };
    assert!(list("ci", &["ci"]).await.contains(&id), "the requester sees their own");
    assert!(list("alice", &["admins"]).await.contains(&id), "an approver sees it");
    assert!(!list("mallory", &["dev"]).await.contains(&id), "nobody else does");
    let (code, _, body) = s
        .send(
            Request::get(format!("/tollgate/v1/approvals/{id}"))
                .body(Full::new(Bytes::new()))
                .unwrap(),
            who("mallory", &["dev"]),
        )
        .await;
    assert_eq!(code, 403, "{body}");
    // What the approver sees has the values masked.
    let (code, _, body) = s
        .send(
            Request::get(format!("/tollgate/v1/approvals/{id}"))
                .body(Full::new(Bytes::new()))
                .unwrap(),
            who("alice", &["admins"]),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    assert!(
        !body.contains("aHVudGVyMi1QTEFOVEVE") && !body.contains("PLANTED-token"),
        "{body}"
    );
    assert!(body.contains("/data/password"), "the patch's shape stays: {body}");
}

#[tokio::test]
async fn without_a_policy_in_front_nothing_is_let_through() {
    // Issue 16: with no PolicyLayer in front there is no Decision, and a
    // request that a rule would hold for approval once went straight on.
    let forwarded = Arc::new(AtomicUsize::new(0));
    let seen = forwarded.clone();
    let svc = ServiceBuilder::new()
        .layer(RequestInfoLayer::new())
        .layer(ApprovalLayer::new(Arc::new(MemoryStore::default())))
        .service_fn(move |_r: Request<Full<Bytes>>| {
            seen.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, Infallible>(Response::new(Full::new(Bytes::new()))) }
        });
    let req = Request::delete("/api/v1/namespaces/prod")
        .body(Full::default())
        .unwrap();
    let res = svc.oneshot(req).await.unwrap();
    assert_eq!(res.status(), 500);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert!(
        String::from_utf8_lossy(&body).contains("ApprovalLayer needs PolicyLayer in front of it"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    assert_eq!(forwarded.load(Ordering::SeqCst), 0);
}
