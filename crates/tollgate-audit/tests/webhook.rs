//! The webhook sink against a real HTTP receiver: `EventList` POSTs; with
//! the receiver down, fail-closed refuses and the spool keeps records,
//! delivering them in order, none lost, once it is back; a full spool
//! fails closed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tollgate_audit::{Event, EventList, Level, Recorder, RecorderOptions, Sink, Stage, WebhookOptions, WebhookSink};
use tollgate_proxy::Upstream;

#[derive(Clone, Default)]
struct Receiver {
    up: Arc<AtomicBool>,
    got: Arc<Mutex<Vec<(String, EventList)>>>,
    /// The `Authorization` of each POST.
    auth: Arc<Mutex<Vec<Option<String>>>>,
}

impl Receiver {
    /// Serves on loopback; returns the kubeconfig-format file the API
    /// server's `--audit-webhook-config-file` would take.
    async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                let Ok((conn, _)) = listener.accept().await else { return };
                let me = me.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let me = me.clone();
                        async move {
                            let path = req.uri().path().to_owned();
                            let auth = req
                                .headers()
                                .get("authorization")
                                .map(|v| v.to_str().unwrap_or("").to_owned());
                            me.auth.lock().unwrap().push(auth);
                            let ct = req
                                .headers()
                                .get("content-type")
                                .map(|v| v.to_str().unwrap_or("").to_owned());
                            let body = req.into_body().collect().await.unwrap().to_bytes();
                            let code = if me.up.load(Ordering::SeqCst) && ct.as_deref() == Some("application/json") {
                                let list: EventList = serde_json::from_slice(&body).unwrap();
                                me.got.lock().unwrap().push((path, list));
                                200
                            } else {
                                503
                            };
                            let mut res = hyper::Response::new(Full::new(Bytes::from_static(b"{}")));
                            *res.status_mut() = hyper::StatusCode::from_u16(code).unwrap();
                            Ok::<_, std::convert::Infallible>(res)
                        }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(conn), svc)
                        .await;
                });
            }
        });
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: audit\n  cluster:\n    server: http://{addr}/k8s-audit\n\
             users:\n- name: tollgate\n  user:\n    token: webhook-secret\ncontexts:\n- name: audit\n  context:\n    cluster: audit\n    user: tollgate\n\
             current-context: audit\n"
        )
    }

    fn ids(&self) -> Vec<String> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .flat_map(|(_, l)| l.items.iter().map(|e| e.audit_id.clone()))
            .collect()
    }
}

fn ev(id: &str) -> Event {
    Event::new(id, Level::Metadata, Stage::ResponseComplete)
}

fn upstream(kubeconfig: &str) -> Upstream {
    Upstream::from_kubeconfig_yaml(kubeconfig, "audit-webhook.kubeconfig", std::path::Path::new("."), None).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn batches_are_posted_as_event_lists_to_the_servers_path() {
    let r = Receiver::default();
    r.up.store(true, Ordering::SeqCst);
    let sink = WebhookSink::new(upstream(&r.start().await), WebhookOptions::fail_closed()).unwrap();
    sink.write(&[ev("a"), ev("b")]).await.unwrap();
    let got = r.got.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, "/k8s-audit");
    // The kubeconfig's token goes with every POST, as the API server's
    // audit webhook sends it.
    assert_eq!(*r.auth.lock().unwrap(), [Some("Bearer webhook-secret".to_owned())]);
    assert_eq!(got[0].1.kind, "EventList");
    assert_eq!(got[0].1.api_version, "audit.k8s.io/v1");
    assert_eq!(r.ids(), ["a", "b"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn fail_closed_refuses_while_the_receiver_is_down() {
    let r = Receiver::default();
    let opts = WebhookOptions::fail_closed()
        .initial_backoff(Duration::from_millis(10))
        .attempts(3);
    let sink = WebhookSink::new(upstream(&r.start().await), opts).unwrap();
    let rec = Recorder::new(sink, RecorderOptions::default());
    let err = rec.record(ev("x")).await.unwrap_err();
    assert!(err.to_string().contains("503"), "{err}");
    r.up.store(true, Ordering::SeqCst);
    rec.record(ev("y")).await.unwrap();
    assert_eq!(r.ids(), ["y"]);
    assert_eq!(rec.stats().failed, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_spool_keeps_records_while_the_receiver_is_down_and_delivers_them_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let r = Receiver::default();
    let opts = WebhookOptions::spool(dir.path(), 1 << 20).initial_backoff(Duration::from_millis(20));
    let sink = WebhookSink::new(upstream(&r.start().await), opts).unwrap();
    let rec = Recorder::new(sink.clone(), RecorderOptions::default());
    let ids: Vec<String> = (0..300).map(|i| format!("e{i:03}")).collect();
    for id in &ids {
        // Requests go on while the receiver is down: their records are safe on disk.
        rec.record(ev(id)).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(r.ids().is_empty());
    assert!(sink.spooled_bytes() > 0);
    r.up.store(true, Ordering::SeqCst);
    for _ in 0..200 {
        if r.ids().len() >= ids.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(r.ids(), ids, "all delivered, in order, once");
    for _ in 0..100 {
        if sink.spooled_bytes() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(sink.spooled_bytes(), 0);
    assert_eq!(
        std::fs::metadata(dir.path().join("spool.log")).unwrap().len(),
        0,
        "the spool is emptied"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_spool_fails_closed_and_a_restart_resumes_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let r = Receiver::default();
    let kubeconfig = r.start().await;
    let one = serde_json::to_vec(&ev("e000")).unwrap().len() as u64 + 1;
    let opts = WebhookOptions::spool(dir.path(), one * 10).initial_backoff(Duration::from_millis(20));
    {
        let sink = WebhookSink::new(upstream(&kubeconfig), opts.clone()).unwrap();
        for i in 0..10 {
            sink.write(&[ev(&format!("e{i:03}"))]).await.unwrap();
        }
        let err = sink.write(&[ev("e010")]).await.unwrap_err();
        assert!(err.to_string().contains("spool is full"), "{err}");
        // One gateway per spool.
        let again = WebhookSink::new(upstream(&kubeconfig), opts.clone()).unwrap_err();
        assert!(again.to_string().contains("in use by another process"), "{again}");
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    // A new gateway process (same spool) delivers what the old one kept.
    let sink = WebhookSink::new(upstream(&kubeconfig), opts).unwrap();
    r.up.store(true, Ordering::SeqCst);
    for _ in 0..200 {
        if r.ids().len() >= 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let got = r.ids();
    assert_eq!(got.len(), 10, "{got:?}");
    assert!(got.iter().enumerate().all(|(i, id)| *id == format!("e{i:03}")));
    drop(sink);
}
