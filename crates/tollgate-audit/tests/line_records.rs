//! Issue 18: the records of small requests (no object, not a stream) are
//! written straight from the request's data, and `ResponseComplete` is
//! spliced from `RequestReceived`'s bytes. They must be the bytes the
//! `Event` path writes: the same requests go through the same stack twice,
//! once into a file (JSON lines: the direct path) and once into a
//! `MemorySink` (events, serialized here by `serde_json`), and every record
//! is compared byte for byte but for the audit ID and the times.

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use tollgate_audit::{
    AuditLayer, AuditPolicy, Event, FileOptions, FileSink, Level, MemorySink, Recorder, RecorderOptions, read_log,
};
use tollgate_kube::{Identity, Owner, RequestInfoLayer, note};
use tollgate_rules::{ApprovalNote, PolicyLayer, PolicyStore, parse_policy};
use tower::util::MapRequestLayer;
use tower::{ServiceBuilder, ServiceExt};

const RULES: &str = r#"
apiVersion: tollgate.dev/v1alpha1
kind: Policy
rules:
- name: reads-are-noted
  match: {verbs: [get, list]}
  action: warn
  message: reads are noted
- name: would-deny-secrets
  mode: dryrun
  match:
    verbs: [get]
    resources: [{group: "", resources: [secrets]}]
  action: deny
  message: not yet
"#;

/// Identities with the shapes a record must write right: extra keys that
/// sort around and onto the impersonation's own, characters JSON escapes,
/// an unmapped owner, no issuer (no impersonated user).
fn identities() -> Vec<Identity> {
    let mut a = Identity::anonymous();
    a.issuer = "https://token.actions.githubusercontent.com".into();
    a.subject = "repo:acme/web:ref:refs/heads/main".into();
    a.username = "ci:acme/\"web\"\\\u{1}é".into();
    a.uid = "u-1".into();
    a.groups = vec!["ci".into(), "github-org:acme".into()];
    a.extra.insert("a-first".into(), vec!["x".into(), "y".into()]);
    a.extra.insert("tollgate.dev/owner".into(), vec!["spoofed".into()]);
    a.extra.insert("tollgate.dev/p".into(), vec!["between".into()]);
    a.extra.insert("zz-last".into(), vec![]);
    let mut owner = Owner::unmapped();
    owner.name = "team-web".into();
    owner.team = "web \"platform\"".into();
    owner.contact = "web@acme.example".into();
    owner.mapped = true;
    a.owner = owner;
    let mut b = a.clone();
    b.owner = Owner::unmapped();
    b.subject = String::new();
    b.extra.clear();
    b.uid = String::new();
    let mut c = a.clone();
    c.issuer = String::new();
    vec![a, b, c]
}

type Req = Request<Full<Bytes>>;

/// The records the stack writes for `requests`, as text lines, through a
/// sink of lines (`file`) or of events.
async fn records(level: Level, file: bool, requests: &[(Identity, bool, &str)]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let memory = MemorySink::default();
    let recorder = if file {
        Recorder::new(
            FileSink::open(&path, FileOptions::default()).unwrap(),
            RecorderOptions::default(),
        )
    } else {
        Recorder::new(memory.clone(), RecorderOptions::default())
    };
    let audit = AuditLayer::builder(recorder.clone())
        .policy(AuditPolicy::everything(level))
        .build();
    for (id, approved, uri) in requests {
        let id = id.clone();
        let approved = *approved;
        let svc = ServiceBuilder::new()
            .layer(audit.clone())
            .layer(MapRequestLayer::new(move |mut req: Req| {
                note(req.extensions(), std::sync::Arc::new(id.clone()));
                req.extensions_mut().insert(id.clone());
                if approved {
                    req.extensions_mut().insert(
                        ApprovalNote::new("ap-1", "approved", vec!["alice".into(), "bob".into()])
                            .with_times(1_790_000_000, Some(1_790_000_060))
                            .with_reason("release \"42\""),
                    );
                }
                req
            }))
            .layer(RequestInfoLayer::new())
            .layer(PolicyLayer::new(PolicyStore::new(parse_policy(RULES, "rules.yaml").unwrap())))
            .layer(audit.record_layer())
            .service_fn(|req: Req| async move {
                let missing = req.uri().path().ends_with("/missing");
                let res = if req.uri().path().ends_with("/refused") {
                    // As the proxy refuses a client's `Impersonate-*` header.
                    let mut res = Response::builder().status(403).body(Full::new(Bytes::from_static(
                        br#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"impersonation headers are not allowed","reason":"Forbidden","code":403}"#,
                    )));
                    if let Ok(r) = res.as_mut() {
                        r.extensions_mut().insert(tollgate_proxy::Refused);
                    }
                    res
                } else if missing {
                    Response::builder().status(404).header("content-type", "application/json").body(Full::new(
                        Bytes::from_static(
                            br#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \"missing\" not found","reason":"NotFound","details":{"name":"missing","kind":"pods"},"code":404}"#,
                        ),
                    ))
                } else {
                    Response::builder().body(Full::new(Bytes::from_static(br#"{"kind":"Pod"}"#)))
                };
                Ok::<_, Infallible>(res.unwrap())
            });
        let req = Request::get(*uri)
            .header("user-agent", "kubectl/v1.32 (linux/amd64) \"quoted\"")
            .header("x-forwarded-for", "10.0.0.7")
            .body(Full::new(Bytes::new()))
            .unwrap();
        let res = svc.oneshot(req).await.unwrap();
        res.into_body().collect().await.unwrap();
    }
    recorder.flush().await;
    let lines: Vec<String> = if file {
        std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    } else {
        memory
            .events()
            .iter()
            .map(|e: &Event| serde_json::to_string(e).unwrap())
            .collect()
    };
    if file {
        // And the file reads back as the same events.
        assert_eq!(read_log(&path).unwrap().count(), lines.len());
    }
    lines.iter().map(|l| normalized(l)).collect()
}

/// `line` with its audit ID and times replaced (they differ from run to
/// run), everything else as written.
fn normalized(line: &str) -> String {
    let mut out = line.to_owned();
    for key in [
        "\"auditID\":\"",
        "\"requestReceivedTimestamp\":\"",
        "\"stageTimestamp\":\"",
    ] {
        let start = out.find(key).unwrap_or_else(|| panic!("{key} in {line}")) + key.len();
        let end = start + out[start..].find('"').unwrap();
        out.replace_range(start..end, "…");
    }
    out
}

#[tokio::test]
async fn direct_records_are_the_bytes_events_serialize_to() {
    let mut requests = Vec::new();
    for (i, id) in identities().into_iter().enumerate() {
        for uri in [
            "/api/v1/namespaces/default/pods/web-0",
            "/api/v1/namespaces/default/pods/missing",
            "/api/v1/namespaces/default/pods/refused",
            "/api/v1/namespaces/default/secrets/db?resourceVersion=0",
            "/apis/apps/v1/deployments?labelSelector=app%3Dweb&limit=500",
            "/version",
        ] {
            requests.push((id.clone(), i == 0, uri));
        }
    }
    for level in [Level::Metadata, Level::Request] {
        let direct = records(level, true, &requests).await;
        let events = records(level, false, &requests).await;
        assert_eq!(direct.len(), requests.len() * 2, "two stages per request");
        assert_eq!(direct.len(), events.len());
        for (d, e) in direct.iter().zip(&events) {
            assert_eq!(d, e, "at {level:?}");
        }
        // The shapes the comparison is meant to cover are there.
        let all = direct.join("\n");
        for shape in [
            "\"tollgate.dev/approval-id\":\"ap-1\"",
            "\"tollgate.dev/dry-run-rules\":\"would-deny-secrets\"",
            "\"tollgate.dev/matched-rules\":\"reads-are-noted\"",
            "\"tollgate.dev/owner-mapped\":\"false\"",
            "\"reason\":\"NotFound\"",
            "\"tollgate.dev/owner\":[\"team-web\"]",
            "\"tollgate.dev/response-bytes\":\"14\"",
            "\"tollgate.dev/decision\":\"refused\"",
            "\\\"web\\\"\\\\\\u0001é",
        ] {
            assert!(all.contains(shape), "{shape} in the records:\n{all}");
        }
    }
}
