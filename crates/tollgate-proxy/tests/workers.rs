//! The listener's connections served by worker threads
//! ([`ServeOptions::workers`]): each connection, its requests and the
//! upstream streams they take stay on one worker, connections spread over
//! the workers, and shutdown still drains what is in flight.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tollgate_kube::RequestInfoLayer;
use tollgate_proxy::{ClientAddr, Proxy, ServeOptions, Upstream, Workers};
use tollgate_testkit::ApiServer;
use tower::ServiceBuilder;
use tower::util::MapRequestLayer;

/// Where each request was served: the client's address and the worker.
type Served = Arc<Mutex<Vec<(SocketAddr, Option<usize>, String)>>>;

struct Gateway {
    addr: SocketAddr,
    served: Served,
    stop: Option<oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

async fn gateway(api: &ApiServer, workers: usize) -> Gateway {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, api.kubeconfig()).unwrap();
    let proxy = Proxy::builder(Upstream::from_kubeconfig(&path, None).unwrap()).build();
    let served = Served::default();
    let log = served.clone();
    let stack = ServiceBuilder::new()
        .layer(MapRequestLayer::new(move |req: Request<hyper::body::Incoming>| {
            let client = req.extensions().get::<ClientAddr>().map(|c| c.0);
            if let Some(c) = client {
                log.lock()
                    .unwrap()
                    .push((c, Workers::current(), req.uri().path().to_owned()));
            }
            req
        }))
        .layer(RequestInfoLayer::new())
        .service(proxy);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let mut options = ServeOptions::default().with_drain(Duration::from_secs(10));
    options.workers = Some(Workers::start(workers).unwrap());
    let done = tokio::spawn(tollgate_proxy::serve_with(
        listener,
        None,
        stack,
        async move {
            let _ = rx.await;
        },
        options,
    ));
    Gateway {
        addr,
        served,
        stop: Some(tx),
        done,
        _dir: dir,
    }
}

async fn h1(addr: SocketAddr) -> hyper::client::conn::http1::SendRequest<Full<Bytes>> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.unwrap();
    tokio::spawn(conn);
    send
}

async fn h2(addr: SocketAddr) -> hyper::client::conn::http2::SendRequest<Full<Bytes>> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    send
}

fn pod(name: &str) -> Request<Full<Bytes>> {
    Request::get(format!("/api/v1/namespaces/default/pods/{name}"))
        .body(Full::default())
        .unwrap()
}

#[tokio::test]
async fn each_connection_stays_on_one_worker_and_connections_spread_over_them() {
    let api = ApiServer::builder().start().await.unwrap();
    let gw = gateway(&api, 2).await;
    // Two HTTP/1.1 connections, held open, three requests each.
    let (mut a, mut b) = (h1(gw.addr).await, h1(gw.addr).await);
    for i in 0..3 {
        for (name, send) in [("a", &mut a), ("b", &mut b)] {
            let res = send.send_request(pod(&format!("{name}-{i}"))).await.unwrap();
            assert_eq!(res.status(), 404, "the test API server answers (no such pod)");
            res.into_body().collect().await.unwrap();
        }
    }
    // One HTTP/2 connection with twenty requests in flight at once.
    let c = h2(gw.addr).await;
    let streams: Vec<_> = (0..20)
        .map(|i| {
            let mut c = c.clone();
            tokio::spawn(async move {
                let res = c.send_request(pod(&format!("h2-{i}"))).await.unwrap();
                let status = res.status();
                res.into_body().collect().await.unwrap();
                status
            })
        })
        .collect();
    for s in streams {
        assert_eq!(s.await.unwrap(), 404);
    }

    let served = gw.served.lock().unwrap().clone();
    assert_eq!(served.len(), 26, "every request passed the stack");
    assert!(
        served.iter().all(|(_, w, _)| w.is_some()),
        "every request is served on a worker thread: {served:?}"
    );
    let mut by_connection = std::collections::BTreeMap::<SocketAddr, Vec<Option<usize>>>::new();
    for (client, worker, _) in &served {
        by_connection.entry(*client).or_default().push(*worker);
    }
    assert_eq!(by_connection.len(), 3);
    for (client, workers) in &by_connection {
        assert!(
            workers.iter().all(|w| *w == workers[0]),
            "{client}'s requests (HTTP/2 streams too) all on one worker: {workers:?}"
        );
    }
    let first: Vec<_> = by_connection.values().map(|w| w[0]).collect();
    assert_ne!(
        first[0], first[1],
        "the second connection goes to the worker with none (the first is held open)"
    );

    // Upstream, each worker's requests share its own HTTP/2 connection.
    let recorded = api.requests();
    let upstream_of = |name: &str| {
        recorded
            .iter()
            .find(|r| r.uri.path().ends_with(&format!("/pods/{name}")))
            .and_then(|r| r.peer)
            .unwrap()
    };
    let worker_of = |name: &str| {
        served
            .iter()
            .find(|(_, _, p)| p.ends_with(&format!("/pods/{name}")))
            .and_then(|(_, w, _)| *w)
            .unwrap()
    };
    let names: Vec<String> = (0..3)
        .flat_map(|i| [format!("a-{i}"), format!("b-{i}")])
        .chain((0..20).map(|i| format!("h2-{i}")))
        .collect();
    for x in &names {
        for y in &names {
            assert_eq!(
                worker_of(x) == worker_of(y),
                upstream_of(x) == upstream_of(y),
                "{x} and {y}: the same upstream connection exactly when served by the same worker"
            );
        }
    }
    assert!(recorded.iter().all(|r| r.version == http::Version::HTTP_2));
}

#[tokio::test]
async fn shutdown_drains_requests_in_flight_on_the_workers() {
    let api = ApiServer::builder()
        .list_delay(Duration::from_millis(800))
        .start()
        .await
        .unwrap();
    let mut gw = gateway(&api, 2).await;
    let lists: Vec<_> = (0..4)
        .map(|_| {
            let addr = gw.addr;
            tokio::spawn(async move {
                let mut send = h1(addr).await;
                let res = send
                    .send_request(
                        Request::get("/api/v1/namespaces/default/pods")
                            .body(Full::default())
                            .unwrap(),
                    )
                    .await
                    .unwrap();
                let status = res.status();
                let body = res.into_body().collect().await.unwrap().to_bytes();
                (status, body)
            })
        })
        .collect();
    let arrived = || api.requests().len();
    tokio::time::timeout(Duration::from_secs(5), async {
        while arrived() < 4 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the four lists reach the API server");
    let _ = gw.stop.take().unwrap().send(());
    for l in lists {
        let (status, body) = l.await.unwrap();
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        assert!(body.starts_with(b"{"), "a whole list");
    }
    tokio::time::timeout(Duration::from_secs(5), gw.done)
        .await
        .expect("serving ends once drained")
        .unwrap();
    assert!(
        TcpStream::connect(gw.addr).await.is_err(),
        "no new connections after shutdown"
    );
    let workers: Vec<_> = gw.served.lock().unwrap().iter().map(|s| s.1).collect();
    assert!(workers.iter().all(Option::is_some), "{workers:?}");
}

/// A worker serves its connections by itself: with the thread that
/// accepted them busy (here: blocked outright), their requests still go
/// through. Each socket is watched by the worker's own reactor, not the
/// accepting runtime's (whose every readiness event would otherwise be
/// handed across, and wait for it).
#[tokio::test]
async fn a_workers_connections_do_not_wait_for_the_accepting_thread() {
    // The API server and the client on a runtime of their own: this
    // test's thread, which accepts, is blocked below.
    let elsewhere = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let api = elsewhere
        .spawn(async { ApiServer::builder().start().await })
        .await
        .unwrap()
        .unwrap();
    let gw = gateway(&api, 1).await;
    let (first_tx, first) = oneshot::channel();
    let (second_tx, second) = std::sync::mpsc::channel();
    let (go_tx, go) = oneshot::channel::<()>();
    let addr = gw.addr;
    elsewhere.spawn(async move {
        let mut send = h1(addr).await;
        let res = send.send_request(pod("first")).await.unwrap();
        let _ = first_tx.send(res.status());
        res.into_body().collect().await.unwrap();
        let _ = go.await;
        let res = send.send_request(pod("second")).await.unwrap();
        let status = res.status();
        res.into_body().collect().await.unwrap();
        let _ = second_tx.send(status);
    });
    assert_eq!(first.await.unwrap(), 404, "served while the accepting thread runs");
    let _ = go_tx.send(());
    // Blocks this thread, and with it the runtime that accepted the
    // connection.
    let status = second.recv_timeout(Duration::from_secs(10));
    assert_eq!(
        status.ok(),
        Some(http::StatusCode::NOT_FOUND),
        "the second request is answered while the accepting thread is blocked"
    );
    drop(api);
    elsewhere.shutdown_background();
}
