//! The audit layers in a stack like the gateway's: what is recorded for
//! forwarded, refused and streamed requests, and that a request whose
//! record cannot be written is not forwarded.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full, StreamBody};
use tollgate_audit::{AuditLayer, AuditPolicy, Event, Level, MemorySink, Recorder, RecorderOptions, Stage};
use tollgate_kube::{Identity, Owner};
use tollgate_kube::{RequestInfoLayer, note};
use tollgate_rules::{PolicyLayer, PolicyStore, parse_policy};
use tower::util::MapRequestLayer;
use tower::{ServiceBuilder, ServiceExt};

const AUDIT_POLICY: &str = r#"
apiVersion: audit.k8s.io/v1
kind: Policy
rules:
  - level: None
    nonResourceURLs: ["/healthz*"]
  - level: RequestResponse
    resources: [{group: "", resources: ["secrets"]}]
  - level: Metadata
"#;

const RULES: &str = r#"
apiVersion: tollgate.dev/v1alpha1
kind: Policy
rules:
- name: no-namespace-delete
  match:
    verbs: [delete, deletecollection]
    resources: [{group: "", resources: [namespaces]}]
  action: deny
  message: deleting a namespace deletes everything in it
"#;

fn identity() -> Identity {
    let mut id = Identity::anonymous();
    id.issuer = "https://token.actions.githubusercontent.com".into();
    id.subject = "repo:acme/web:ref:refs/heads/main".into();
    id.username = "ci:acme/web".into();
    id.groups = vec!["ci".into()];
    let mut owner = Owner::unmapped();
    owner.name = "team-web".into();
    owner.contact = "web@acme.example".into();
    owner.mapped = true;
    id.owner = owner;
    id
}

/// A stand-in for the authentication layer: the identity goes into the
/// request and into the notes, as `AuthnLayer` does.
type Req = Request<Full<Bytes>>;

fn authn() -> MapRequestLayer<fn(Req) -> Req> {
    MapRequestLayer::new(|mut req: Request<Full<Bytes>>| {
        note(req.extensions(), std::sync::Arc::new(identity()));
        req.extensions_mut().insert(identity());
        req
    })
}

struct Harness {
    sink: MemorySink,
    audit: AuditLayer,
    forwarded: Arc<AtomicUsize>,
}

fn harness() -> Harness {
    let sink = MemorySink::default();
    let recorder = Recorder::new(
        sink.clone(),
        RecorderOptions::default().confirm_timeout(Duration::from_secs(2)),
    );
    let audit = AuditLayer::builder(recorder)
        .policy(AuditPolicy::parse(AUDIT_POLICY, "audit.yaml").unwrap())
        .build();
    Harness {
        sink,
        audit,
        forwarded: Arc::new(AtomicUsize::new(0)),
    }
}

async fn events_of(sink: &MemorySink, n: usize) -> Vec<Event> {
    for _ in 0..100 {
        let e = sink.events();
        if e.len() >= n {
            return e;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sink.events()
}

async fn send(h: &Harness, req: Request<Full<Bytes>>, reply: &'static str, code: u16) -> (u16, String) {
    let forwarded = h.forwarded.clone();
    let svc = ServiceBuilder::new()
        .layer(RequestInfoLayer::new())
        .layer(h.audit.clone())
        .layer(authn())
        .layer(PolicyLayer::new(PolicyStore::new(
            parse_policy(RULES, "rules.yaml").unwrap(),
        )))
        .layer(h.audit.record_layer())
        .service_fn(move |_req: Request<Full<Bytes>>| {
            forwarded.fetch_add(1, Ordering::SeqCst);
            async move {
                let mut res = Response::new(Full::new(Bytes::from_static(reply.as_bytes())));
                *res.status_mut() = http::StatusCode::from_u16(code).unwrap();
                Ok::<_, Infallible>(res)
            }
        });
    let res = svc.oneshot(req).await.unwrap();
    let status = res.status().as_u16();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn a_forwarded_request_is_recorded_with_its_owner_and_redacted_bodies() {
    let h = harness();
    let secret = r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"db","annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"kind\":\"Secret\",\"stringData\":{\"password\":\"hunter2\"}}"}},"stringData":{"password":"hunter2"}}"#;
    let req = Request::post("/api/v1/namespaces/prod/secrets?fieldManager=kubectl-client-side-apply")
        .header("content-type", "application/json")
        .header("x-forwarded-for", "203.0.113.7")
        .header("user-agent", "kubectl/v1.32.4")
        .body(Full::new(Bytes::from_static(secret.as_bytes())))
        .unwrap();
    let reply = r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"db"},"data":{"password":"aHVudGVyMg=="}}"#;
    let (code, _) = send(&h, req, reply, 201).await;
    assert_eq!(code, 201);
    let events = events_of(&h.sink, 2).await;
    assert_eq!(
        events.iter().map(|e| e.stage).collect::<Vec<_>>(),
        [Stage::RequestReceived, Stage::ResponseComplete]
    );
    let e = &events[1];
    assert_eq!(e.level, Level::RequestResponse);
    assert_eq!(e.verb, "create");
    assert_eq!(e.user.username, "ci:acme/web");
    assert_eq!(
        e.impersonated_user.as_ref().map(|u| u.username.as_str()),
        Some("ci:acme/web")
    );
    assert_eq!(e.tollgate("owner"), Some("team-web"));
    assert_eq!(e.tollgate("owner-contact"), Some("web@acme.example"));
    assert_eq!(
        e.tollgate("issuer"),
        Some("https://token.actions.githubusercontent.com")
    );
    assert_eq!(e.tollgate("decision"), Some("allow"));
    assert_eq!(e.tollgate("command"), Some("kubectl apply secret -n prod"));
    assert_eq!(e.source_ips, ["203.0.113.7"]);
    assert_eq!(e.user_agent, "kubectl/v1.32.4");
    assert_eq!(e.code(), Some(201));
    assert!(e.events_id_consistent(&events[0]));
    let text = serde_json::to_string(&events).unwrap();
    assert!(!text.contains("hunter2") && !text.contains("aHVudGVyMg=="), "{text}");
    assert_eq!(
        e.request_object.as_ref().unwrap()["stringData"]["password"],
        "<redacted>"
    );
    assert_eq!(e.response_object.as_ref().unwrap()["data"]["password"], "<redacted>");
    let paths = e.tollgate("redacted-paths").unwrap();
    assert!(paths.contains("requestObject['stringData']['password']"), "{paths}");
    assert!(paths.contains("last-applied-configuration"), "{paths}");
    assert!(paths.contains("responseObject['data']['password']"), "{paths}");
}

trait Same {
    fn events_id_consistent(&self, other: &Event) -> bool;
}
impl Same for Event {
    fn events_id_consistent(&self, other: &Event) -> bool {
        self.audit_id == other.audit_id && self.request_received_timestamp == other.request_received_timestamp
    }
}

#[tokio::test]
async fn a_denied_request_is_recorded_with_its_rule_and_never_forwarded() {
    let h = harness();
    let req = Request::delete("/api/v1/namespaces/prod")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (code, body) = send(&h, req, "{}", 200).await;
    assert_eq!(code, 403, "{body}");
    assert_eq!(h.forwarded.load(Ordering::SeqCst), 0);
    let events = events_of(&h.sink, 2).await;
    let e = events.iter().find(|e| e.stage == Stage::ResponseComplete).unwrap();
    assert_eq!(e.tollgate("decision"), Some("deny"));
    assert_eq!(e.tollgate("rule"), Some("no-namespace-delete"));
    assert_eq!(e.tollgate("owner"), Some("team-web"));
    assert_eq!(e.code(), Some(403));
    let message = e.response_status.as_ref().unwrap()["message"].as_str().unwrap();
    assert!(message.contains("no-namespace-delete"), "{message}");
    assert_eq!(e.tollgate("command"), Some("kubectl delete namespace prod"));
}

#[tokio::test]
async fn a_request_whose_record_cannot_be_written_is_refused() {
    let h = harness();
    h.sink.set_failing(true);
    let req = Request::get("/api/v1/namespaces/a/pods")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (code, body) = send(&h, req, "{}", 200).await;
    assert_eq!(code, 503, "{body}");
    assert!(
        body.contains("not forwarded because it could not be recorded"),
        "{body}"
    );
    assert_eq!(h.forwarded.load(Ordering::SeqCst), 0, "never forwarded");
    assert_eq!(h.audit.recorder().stats().refused, 1);
    // Recording works again: so do requests.
    h.sink.set_failing(false);
    let req = Request::get("/api/v1/namespaces/a/pods")
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(send(&h, req, "{}", 200).await.0, 200);
    assert_eq!(h.forwarded.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn policy_level_none_records_nothing_and_client_audit_ids_are_replaced() {
    let h = harness();
    let req = Request::get("/healthz").body(Full::new(Bytes::new())).unwrap();
    assert_eq!(send(&h, req, "ok", 200).await.0, 200);
    let req = Request::get("/api/v1/namespaces/a/pods/x")
        .header("audit-id", "chosen-by-client")
        .body(Full::new(Bytes::new()))
        .unwrap();
    send(&h, req, "{}", 200).await;
    let events = events_of(&h.sink, 2).await;
    assert_eq!(events.len(), 2, "the health check is not recorded");
    assert!(
        events
            .iter()
            .all(|e| e.audit_id != "chosen-by-client" && e.audit_id.len() == 36)
    );
    assert!(
        events
            .iter()
            .all(|e| e.request_object.is_none() && e.response_object.is_none()),
        "Metadata level"
    );
}

#[tokio::test]
async fn a_watch_ended_by_the_client_is_recorded_with_its_event_count() {
    let h = harness();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<http_body::Frame<Bytes>, Infallible>>(8);
    let rx = Arc::new(tokio::sync::Mutex::new(Some(rx)));
    let svc = ServiceBuilder::new()
        .layer(RequestInfoLayer::new())
        .layer(h.audit.clone())
        .layer(authn())
        .layer(h.audit.record_layer())
        .service_fn(move |_req: Request<Full<Bytes>>| {
            let rx = rx.clone();
            async move {
                let rx = rx.lock().await.take().unwrap();
                let stream = futures_util_stream(rx);
                Ok::<_, Infallible>(Response::new(StreamBody::new(stream)))
            }
        });
    let req = Request::get("/api/v1/namespaces/a/pods?watch=true")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let res = svc.oneshot(req).await.unwrap();
    let mut body = res.into_body();
    for i in 0..3 {
        tx.send(Ok(http_body::Frame::data(Bytes::from(format!(
            "{{\"type\":\"ADDED\",\"object\":{{\"n\":{i}}}}}\n"
        )))))
        .await
        .unwrap();
        body.frame().await.unwrap().unwrap();
    }
    let started = events_of(&h.sink, 2).await;
    assert!(
        started.iter().any(|e| e.stage == Stage::ResponseStarted),
        "a long-running request has ResponseStarted"
    );
    drop(body); // the client pressed Ctrl-C
    let events = events_of(&h.sink, 3).await;
    let done = events
        .iter()
        .find(|e| e.stage == Stage::ResponseComplete)
        .expect("ResponseComplete");
    assert_eq!(done.tollgate("watch-events"), Some("3"));
    assert_eq!(done.tollgate("closed-early"), Some("true"));
    assert_eq!(done.verb, "watch");
    assert_eq!(done.tollgate("command"), Some("kubectl get pod -n a -w"));
}

fn futures_util_stream(
    mut rx: tokio::sync::mpsc::Receiver<Result<http_body::Frame<Bytes>, Infallible>>,
) -> impl futures_core_stream::Stream<Item = Result<http_body::Frame<Bytes>, Infallible>> {
    futures_core_stream::poll_fn(move |cx| rx.poll_recv(cx))
}

mod futures_core_stream {
    pub(crate) use futures_util::stream::{Stream, poll_fn};
}

#[tokio::test]
async fn a_gzip_response_is_decoded_for_the_record_and_redacted() {
    use std::io::Write;
    let h = harness();
    let reply = br#"{"kind":"SecretList","apiVersion":"v1","items":[{"metadata":{"name":"db"},"data":{"password":"aHVudGVyMg=="}}]}"#;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(reply).unwrap();
    let zipped = Bytes::from(gz.finish().unwrap());
    let svc = ServiceBuilder::new()
        .layer(RequestInfoLayer::new())
        .layer(h.audit.clone())
        .layer(authn())
        .layer(h.audit.record_layer())
        .service_fn(move |_req: Request<Full<Bytes>>| {
            let zipped = zipped.clone();
            async move {
                let mut res = Response::new(Full::new(zipped));
                res.headers_mut()
                    .insert("content-encoding", http::HeaderValue::from_static("gzip"));
                Ok::<_, Infallible>(res)
            }
        });
    let req = Request::get("/api/v1/namespaces/a/secrets")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let res = svc.oneshot(req).await.unwrap();
    res.into_body().collect().await.unwrap();
    let events = events_of(&h.sink, 2).await;
    let done = events.iter().find(|e| e.stage == Stage::ResponseComplete).unwrap();
    let obj = done
        .response_object
        .as_ref()
        .expect("the gzip body is decoded for the record");
    assert_eq!(obj["items"][0]["data"]["password"], "<redacted>");
}

#[tokio::test]
async fn a_panic_is_recorded_and_answered_with_500() {
    let h = harness();
    let svc = ServiceBuilder::new()
        .layer(RequestInfoLayer::new())
        .layer(h.audit.clone())
        .layer(authn())
        .service_fn(|req: Request<Full<Bytes>>| async move {
            if req.uri().path().contains("boom") {
                panic!("handler bug");
            }
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
        });
    let req = Request::get("/api/v1/namespaces/a/pods/boom")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let res = svc.oneshot(req).await.unwrap();
    assert_eq!(res.status(), 500);
    let events = events_of(&h.sink, 1).await;
    let p = events.iter().find(|e| e.stage == Stage::Panic).expect("a Panic record");
    assert_eq!(p.code(), Some(500));
    assert_eq!(p.tollgate("panic"), Some("handler bug"));
    assert_eq!(p.user.username, "ci:acme/web");
}

#[tokio::test]
async fn an_object_over_the_cap_is_left_out_and_the_record_says_so() {
    // Issue 13, point 2: one request must not add more than the cap to the
    // log (an expanded body was once recorded twice, 131 MB per request).
    let sink = MemorySink::default();
    let recorder = Recorder::new(
        sink.clone(),
        RecorderOptions::default().confirm_timeout(Duration::from_secs(2)),
    );
    let h = Harness {
        sink,
        audit: AuditLayer::builder(recorder)
            .policy(AuditPolicy::parse(AUDIT_POLICY, "audit.yaml").unwrap())
            .capture_limit(64 * 1024)
            .build(),
        forwarded: Arc::new(AtomicUsize::new(0)),
    };
    let big = format!(
        r#"{{"apiVersion":"v1","kind":"Secret","metadata":{{"name":"big","labels":{{"x":"{}"}}}}}}"#,
        "y".repeat(200 * 1024)
    );
    let req = Request::post("/api/v1/namespaces/prod/secrets")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(big)))
        .unwrap();
    let (code, _) = send(&h, req, r#"{"kind":"Secret"}"#, 201).await;
    assert_eq!(code, 201);
    let events = events_of(&h.sink, 2).await;
    for e in &events {
        assert!(e.request_object.is_none());
        assert_eq!(
            e.annotations.get("audit.k8s.io/truncated").map(String::as_str),
            Some("true")
        );
        let t = e.tollgate("truncated").unwrap_or_default();
        assert!(t.starts_with("requestObject: 2048"), "{t}");
        assert!(serde_json::to_string(e).unwrap().len() < 64 * 1024);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flood_of_tokenless_requests_is_recorded_in_bounded_records_and_aggregates() {
    // Issue 15: 10,000 refusals from one address leave a bounded number of
    // records plus aggregates that count every one of them.
    let sink = MemorySink::default();
    let recorder = Recorder::new(
        sink.clone(),
        RecorderOptions::default().confirm_timeout(Duration::from_secs(2)),
    );
    let audit = AuditLayer::builder(recorder)
        .aggregate_refusals_every(Duration::from_millis(200))
        .build();
    let svc = ServiceBuilder::new()
        .layer(audit)
        .layer(RequestInfoLayer::new())
        .service_fn(|req: Request<Full<Bytes>>| async move {
            // As the authentication layer answers a request without a token.
            let e = tollgate_oidc::Error::NoToken;
            note(req.extensions(), tollgate_oidc::AuthnFailure::new(&e));
            Ok::<_, Infallible>(tollgate_kube::ResponseBody::<Full<Bytes>>::from_status_response(
                e.to_status().to_response(),
            ))
        });
    const N: u64 = 10_000;
    for _ in 0..N {
        let mut req = Request::get("/api/v1/namespaces/a/secrets")
            .body(Full::default())
            .unwrap();
        req.extensions_mut()
            .insert(tollgate_proxy::ClientAddr("127.0.0.2:40000".parse().unwrap()));
        let res = svc.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), 401);
    }
    // Every refusal is counted: one by one, or in an aggregate.
    let mut events = Vec::new();
    for _ in 0..100 {
        events = sink.events();
        let counted: u64 = events
            .iter()
            .map(|e| e.tollgate("aggregated-count").and_then(|n| n.parse().ok()).unwrap_or(1))
            .sum();
        if counted >= N {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let single = events
        .iter()
        .filter(|e| e.tollgate("aggregated-count").is_none())
        .count();
    let aggregates: Vec<&Event> = events
        .iter()
        .filter(|e| e.tollgate("aggregated-count").is_some())
        .collect();
    let counted: u64 = single as u64
        + aggregates
            .iter()
            .map(|e| e.tollgate("aggregated-count").unwrap().parse::<u64>().unwrap())
            .sum::<u64>();
    assert_eq!(counted, N, "none dropped");
    assert!(single <= 200, "{single} records one by one for one address");
    assert!(!aggregates.is_empty());
    let a = aggregates[0];
    assert!(
        a.tollgate("aggregated")
            .unwrap()
            .contains("refused requests from 127.0.0.2 between"),
        "{:?}",
        a.annotations
    );
    assert!(
        a.tollgate("authentication-failure").unwrap().contains("("),
        "reasons are counted"
    );
}

/// A sink as slow as a remote webhook: each batch takes 20 ms.
#[derive(Debug, Clone, Default)]
struct SlowSink(MemorySink);

#[async_trait::async_trait]
impl tollgate_audit::Sink for SlowSink {
    async fn write(&self, batch: &[Event]) -> Result<(), tollgate_audit::SinkError> {
        tokio::time::sleep(Duration::from_millis(20)).await;
        self.0.write(batch).await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_confirmed_record_during_a_refusal_flood_waits_at_most_twice_as_long() {
    // Issue 15: token-less requests from many addresses once filled the
    // queue a slow sink drains, so the confirmed record of a real request
    // waited behind thousands of them (or got 503). Its wait is counted in
    // the sink's batches — each costs the slow sink the same — so the
    // comparison holds on any machine.
    let sink = SlowSink::default();
    let recorder = Recorder::new(sink.clone(), RecorderOptions::default());
    let audit = AuditLayer::builder(recorder.clone())
        .aggregate_refusals_every(Duration::from_millis(200))
        .build();
    let svc = ServiceBuilder::new()
        .layer(audit)
        .layer(RequestInfoLayer::new())
        .service_fn(|req: Request<Full<Bytes>>| async move {
            let e = tollgate_oidc::Error::NoToken;
            note(req.extensions(), tollgate_oidc::AuthnFailure::new(&e));
            Ok::<_, Infallible>(tollgate_kube::ResponseBody::<Full<Bytes>>::from_status_response(
                e.to_status().to_response(),
            ))
        });
    // The batches a confirmed record waits for, from queueing to its
    // confirmation.
    let confirmed_wait = |id: &'static str| {
        let recorder = recorder.clone();
        async move {
            let before = recorder.stats().batches;
            recorder
                .record(Event::new(id, Level::Metadata, Stage::RequestReceived))
                .await
                .unwrap();
            recorder.stats().batches - before
        }
    };
    let baseline = confirmed_wait("quiet").await;
    // 10,000 token-less requests from 500 addresses (each within its own
    // one-by-one allowance, so only the queue share holds them back).
    let flood = {
        let svc = svc.clone();
        tokio::spawn(async move {
            for i in 0..10_000u32 {
                let mut req = Request::get("/api/v1/namespaces/a/secrets")
                    .body(Full::default())
                    .unwrap();
                let ip = std::net::Ipv4Addr::from(0x7f00_0002 + i % 500);
                req.extensions_mut()
                    .insert(tollgate_proxy::ClientAddr(std::net::SocketAddr::from((ip, 40000))));
                let res = svc.clone().oneshot(req).await.unwrap();
                assert_eq!(res.status(), 401);
            }
        })
    };
    let mut during = Vec::new();
    while !flood.is_finished() {
        during.push(confirmed_wait("during").await);
    }
    flood.await.unwrap();
    assert!(!during.is_empty());
    let worst = *during.iter().max().unwrap();
    assert!(
        worst <= 2 * baseline,
        "a confirmed record waited {worst} batches during the flood, {baseline} without it"
    );
    // And none of the 10,000 is lost: one by one or in an aggregate.
    let mut counted = 0;
    for _ in 0..200 {
        counted = sink
            .0
            .events()
            .iter()
            .filter(|e| e.audit_id != "quiet" && e.audit_id != "during")
            .map(|e| {
                e.tollgate("aggregated-count")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(1u64)
            })
            .sum::<u64>();
        if counted >= 10_000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(counted, 10_000);
}

#[tokio::test]
async fn a_record_layer_without_request_info_in_front_forwards_nothing() {
    // Issue 16: without RequestInfoLayer, RecordLayer once forwarded the
    // request unrecorded.
    let sink = MemorySink::default();
    let audit = AuditLayer::builder(Recorder::new(sink.clone(), RecorderOptions::default())).build();
    let forwarded = Arc::new(AtomicUsize::new(0));
    let seen = forwarded.clone();
    let svc = ServiceBuilder::new()
        .layer(audit.record_layer())
        .service_fn(move |_req: Request<Full<Bytes>>| {
            seen.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, Infallible>(Response::new(Full::new(Bytes::new()))) }
        });
    let res = svc
        .oneshot(
            Request::delete("/api/v1/namespaces/prod")
                .body(Full::default())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), 500);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert!(
        String::from_utf8_lossy(&body).contains("RecordLayer needs RequestInfoLayer in front of it"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    assert_eq!(forwarded.load(Ordering::SeqCst), 0);
}
