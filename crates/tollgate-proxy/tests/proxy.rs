//! The proxy against the testkit API server, driven with a raw HTTP/1.1
//! client so every header and byte can be checked.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tollgate_kube::websocket::{FrameDecoder, Opcode, encode_frame};
use tollgate_kube::{RequestInfoLayer, Status};
use tollgate_proxy::{Proxy, Tap, TunnelStats, TunnelTap, Upstream};
use tollgate_testkit::ApiServer;
use tower::ServiceBuilder;
use tower::util::MapRequestLayer;

struct Gateway {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

fn upstream_for(kubeconfig: &str) -> (Upstream, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, kubeconfig).unwrap();
    (Upstream::from_kubeconfig(&path, None).unwrap(), dir)
}

async fn gateway(kubeconfig: &str, tap: Option<TunnelTap>, response_timeout: Duration) -> Gateway {
    gateway_with(kubeconfig, tap, |b| b.response_timeout(response_timeout)).await
}

async fn gateway_with(
    kubeconfig: &str,
    tap: Option<TunnelTap>,
    build: impl FnOnce(tollgate_proxy::ProxyBuilder) -> tollgate_proxy::ProxyBuilder,
) -> Gateway {
    let (upstream, dir) = upstream_for(kubeconfig);
    let proxy = build(Proxy::builder(upstream).connect_timeout(Duration::from_secs(2))).build();
    let stack = ServiceBuilder::new()
        .layer(RequestInfoLayer::new())
        .layer(MapRequestLayer::new(move |mut req: Request<Full<Bytes>>| {
            if let Some(t) = &tap {
                req.extensions_mut().insert(t.clone());
            }
            req
        }))
        .service(proxy);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let done = tokio::spawn(tollgate_proxy::serve(
        listener,
        None,
        stack,
        async move {
            let _ = rx.await;
        },
        Duration::from_secs(10),
    ));
    Gateway {
        addr,
        stop: Some(tx),
        done,
        _dir: dir,
    }
}

async fn connect(addr: SocketAddr) -> http1::SendRequest<Full<Bytes>> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (send, conn) = http1::handshake(TokioIo::new(tcp)).await.unwrap();
    tokio::spawn(conn.with_upgrades());
    send
}

/// Whether `count()` reaches `n` within `within` (looked at every 20 ms).
async fn reaches(within: Duration, n: usize, count: impl Fn() -> usize) -> bool {
    tokio::time::timeout(within, async {
        while count() < n {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .is_ok()
}

/// `exec cat` in the demo pod over WebSocket (v5), as kubectl asks for it.
fn websocket_exec() -> Request<Full<Bytes>> {
    Request::get("/api/v1/namespaces/default/pods/demo/exec?command=cat&stdin=true&stdout=true")
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("sec-websocket-protocol", "v5.channel.k8s.io")
        .body(Full::default())
        .unwrap()
}

async fn get(addr: SocketAddr, req: Request<Full<Bytes>>) -> (StatusCode, http::HeaderMap, Bytes) {
    let mut send = connect(addr).await;
    let res = send.send_request(req).await.unwrap();
    let (parts, body) = res.into_parts();
    (parts.status, parts.headers, body.collect().await.unwrap().to_bytes())
}

#[tokio::test]
async fn replaces_audit_id_and_forwarded_for() {
    let api = ApiServer::builder().token("tk").start().await.unwrap();
    let gw = gateway(&api.kubeconfig(), None, Duration::from_secs(30)).await;
    let req = Request::get("/api/v1/namespaces/default/pods/demo")
        .header("host", "gateway.example")
        .header("audit-id", "chosen-by-client")
        .header("x-forwarded-for", "203.0.113.9")
        .header("authorization", "Bearer client-token")
        .header("connection", "x-hop")
        .header("x-hop", "1")
        .body(Full::default())
        .unwrap();
    let (code, headers, body) = get(gw.addr, req).await;
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
    let seen = api.requests().pop().unwrap();
    let audit = seen.headers["audit-id"].to_str().unwrap();
    assert_ne!(audit, "chosen-by-client");
    assert_eq!(audit.len(), 36, "a UUID: {audit}");
    assert_eq!(headers["audit-id"], audit, "the client learns the ID that was used");
    assert_eq!(seen.headers["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
    assert_eq!(seen.headers["authorization"], "Bearer tk");
    assert!(!seen.headers.contains_key("x-hop"));
    assert_ne!(
        seen.headers.get("host").map(|h| h.as_bytes()),
        Some(&b"gateway.example"[..])
    );
}

#[tokio::test]
async fn unreachable_upstream_is_503() {
    let api = ApiServer::builder().start().await.unwrap();
    let kubeconfig = api.kubeconfig();
    let dead = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let kubeconfig = kubeconfig.replace(&api.addr().to_string(), &dead.to_string());
    let gw = gateway(&kubeconfig, None, Duration::from_secs(30)).await;
    let (code, headers, body) = get(gw.addr, Request::get("/api/v1/pods").body(Full::default()).unwrap()).await;
    assert_eq!(code, 503);
    assert_eq!(headers["content-type"], "application/json");
    let s: Status = serde_json::from_slice(&body).unwrap();
    assert_eq!(s.reason, "ServiceUnavailable");
    assert!(s.message.contains("is unreachable"), "{}", s.message);
}

#[tokio::test]
async fn untrusted_upstream_certificate_is_502() {
    let api = ApiServer::builder().start().await.unwrap();
    let other = tollgate_testkit::TestCa::new("some other CA").unwrap();
    let kubeconfig = tollgate_testkit::kubeconfig(&api.url(), &other.cert_pem, None);
    let gw = gateway(&kubeconfig, None, Duration::from_secs(30)).await;
    let (code, _, body) = get(gw.addr, Request::get("/api/v1/pods").body(Full::default()).unwrap()).await;
    assert_eq!(code, 502, "{}", String::from_utf8_lossy(&body));
    let s: Status = serde_json::from_slice(&body).unwrap();
    assert!(
        s.message.contains("TLS with the Kubernetes API server"),
        "{}",
        s.message
    );
    assert!(api.requests().is_empty());
}

#[tokio::test]
async fn silent_upstream_times_out_with_504_but_watches_do_not() {
    // A TLS server that accepts and never answers.
    let ca = tollgate_testkit::TestCa::new("silent").unwrap();
    let cert = ca.server_cert(&["127.0.0.1"]).unwrap();
    let tls = tollgate_proxy::server_tls_from_pem(cert.cert_pem.as_bytes(), cert.key_pem.as_bytes(), "c", "k").unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = l.accept().await {
            if let Ok(s) = acceptor.accept(tcp).await {
                held.push(s);
            }
        }
    });
    let gw = gateway(
        &tollgate_testkit::kubeconfig(&format!("https://{addr}"), &ca.cert_pem, None),
        None,
        Duration::from_millis(300),
    )
    .await;
    let (code, _, body) = get(gw.addr, Request::get("/api/v1/pods").body(Full::default()).unwrap()).await;
    assert_eq!(code, 504, "{}", String::from_utf8_lossy(&body));
    let watch = get(
        gw.addr,
        Request::get("/api/v1/pods?watch=1").body(Full::default()).unwrap(),
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(900), watch).await.is_err(),
        "a watch waits for the server as long as it takes"
    );
}

#[derive(Default)]
struct Recorder {
    from_client: Mutex<Vec<u8>>,
    from_upstream: Mutex<Vec<u8>>,
    closed: Mutex<Option<TunnelStats>>,
}

impl Tap for Recorder {
    fn client_bytes(&self, b: &[u8]) {
        self.from_client.lock().unwrap().extend_from_slice(b);
    }
    fn upstream_bytes(&self, b: &[u8]) {
        self.from_upstream.lock().unwrap().extend_from_slice(b);
    }
    fn closed(&self, stats: TunnelStats) {
        *self.closed.lock().unwrap() = Some(stats);
    }
}

struct Shared(Arc<Recorder>);
impl Tap for Shared {
    fn client_bytes(&self, b: &[u8]) {
        self.0.client_bytes(b)
    }
    fn upstream_bytes(&self, b: &[u8]) {
        self.0.upstream_bytes(b)
    }
    fn closed(&self, s: TunnelStats) {
        self.0.closed(s)
    }
}

#[tokio::test]
async fn websocket_exec_is_tunnelled_and_tapped() {
    let api = ApiServer::builder().token("tk").start().await.unwrap();
    let rec = Arc::new(Recorder::default());
    let gw = gateway(
        &api.kubeconfig(),
        Some(TunnelTap::new(Shared(rec.clone()))),
        Duration::from_secs(30),
    )
    .await;
    let mut send = connect(gw.addr).await;
    let res = send.send_request(websocket_exec()).await.unwrap();
    assert_eq!(res.status(), 101);
    assert_eq!(res.headers()["sec-websocket-accept"], "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_eq!(res.headers()["sec-websocket-protocol"], "v5.channel.k8s.io");
    let mut io = TokioIo::new(hyper::upgrade::on(res).await.unwrap());
    io.write_all(&encode_frame(Opcode::Binary, b"\x00hello tunnel", Some([9, 8, 7, 6])))
        .await
        .unwrap();
    io.write_all(&encode_frame(Opcode::Binary, &[255, 0], Some([1, 2, 3, 4])))
        .await
        .unwrap();
    let mut dec = FrameDecoder::new(1 << 20);
    let mut stdout = Vec::new();
    let mut status = Vec::new();
    let mut buf = [0u8; 4096];
    'read: loop {
        let n = tokio::time::timeout(Duration::from_secs(10), io.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        if n == 0 {
            break;
        }
        dec.push(&buf[..n]);
        while let Some(f) = dec.next_frame().unwrap() {
            match (f.opcode, f.payload.first()) {
                (Opcode::Binary, Some(1)) => stdout.extend_from_slice(&f.payload[1..]),
                (Opcode::Binary, Some(3)) => status.extend_from_slice(&f.payload[1..]),
                (Opcode::Close, _) => break 'read,
                _ => {}
            }
        }
    }
    assert_eq!(stdout, b"hello tunnel");
    assert_eq!(
        String::from_utf8_lossy(&status),
        r#"{"metadata":{},"status":"Success"}"#
    );
    drop(io);
    for _ in 0..100 {
        if rec.closed.lock().unwrap().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The tap saw the masked client frames and the server's frames, byte for byte.
    let client = rec.from_client.lock().unwrap().clone();
    let mut d = FrameDecoder::new(1 << 20);
    d.push(&client);
    assert_eq!(&d.next_frame().unwrap().unwrap().payload[..], b"\x00hello tunnel");
    assert!(String::from_utf8_lossy(&rec.from_upstream.lock().unwrap()).contains("hello tunnel"));
    let stats = rec
        .closed
        .lock()
        .unwrap()
        .expect("the tap learns that the tunnel closed");
    assert_eq!(stats.client_bytes, client.len() as u64);
}

#[tokio::test]
async fn spdy_post_upgrade_is_tunnelled_byte_for_byte() {
    use tollgate_kube::spdy::{Frame, FrameDecoder, FrameEncoder, Headers, data_frame};
    let api = ApiServer::builder().start().await.unwrap();
    let gw = gateway(&api.kubeconfig(), None, Duration::from_secs(30)).await;
    let mut send = connect(gw.addr).await;
    let req = Request::post("/api/v1/namespaces/default/pods/demo/exec?command=cat&stdin=true&stdout=true&stderr=true")
        .header("connection", "Upgrade")
        .header("upgrade", "SPDY/3.1")
        .header("x-stream-protocol-version", "v4.channel.k8s.io")
        .body(Full::default())
        .unwrap();
    let res = send.send_request(req).await.unwrap();
    assert_eq!(res.status(), 101);
    assert_eq!(res.headers()["x-stream-protocol-version"], "v4.channel.k8s.io");
    let mut io = TokioIo::new(hyper::upgrade::on(res).await.unwrap());
    // 100 KB through `cat`: in on stdin, back on stdout, unchanged.
    let payload: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    let (mut r, mut w) = tokio::io::split(&mut io);
    let writer = async {
        let mut enc = FrameEncoder::new().unwrap();
        for (id, kind) in [(1, "error"), (3, "stdin"), (5, "stdout"), (7, "stderr")] {
            w.write_all(
                &enc.syn_stream(id, &Headers::new().with("streamtype", kind), false)
                    .unwrap(),
            )
            .await
            .unwrap();
        }
        for chunk in payload.chunks(16 * 1024) {
            w.write_all(&data_frame(3, chunk, false)).await.unwrap();
        }
        w.write_all(&data_frame(3, b"", true)).await.unwrap();
    };
    let reader = async {
        let mut dec = FrameDecoder::new(1 << 24);
        let mut stdout = Vec::new();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = r.read(&mut buf).await.unwrap();
            assert_ne!(n, 0, "closed before the exit status");
            dec.push(&buf[..n]);
            while let Some(f) = dec.next_frame().unwrap() {
                match f {
                    Frame::Data { stream: 5, payload, .. } => stdout.extend_from_slice(&payload),
                    Frame::Data { stream: 1, payload, .. } if !payload.is_empty() => {
                        assert!(String::from_utf8_lossy(&payload).contains("Success"));
                        return stdout;
                    }
                    _ => {}
                }
            }
        }
    };
    let ((), got) = tokio::join!(writer, reader);
    assert_eq!(got, payload);
    let seen = api.requests().pop().unwrap();
    assert_eq!(seen.method, http::Method::POST);
    assert_eq!(seen.headers["upgrade"], "SPDY/3.1");
}

#[tokio::test]
async fn shutdown_drains_in_flight_streams() {
    let api = ApiServer::builder()
        .log_follow(4, Duration::from_millis(100))
        .start()
        .await
        .unwrap();
    let mut gw = gateway(&api.kubeconfig(), None, Duration::from_secs(30)).await;
    let mut send = connect(gw.addr).await;
    let res = send
        .send_request(
            Request::get("/api/v1/namespaces/default/pods/demo/log?follow=true")
                .body(Full::default())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // Shut down while the stream is still open.
    let _ = gw.stop.take().unwrap().send(());
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        String::from_utf8_lossy(&body).lines().count(),
        7,
        "the in-flight stream finished"
    );
    tokio::time::timeout(Duration::from_secs(5), gw.done)
        .await
        .unwrap()
        .unwrap();
    assert!(
        TcpStream::connect(gw.addr).await.is_err(),
        "no new connections after shutdown"
    );
    let _ = Empty::<Bytes>::new();
}

#[tokio::test]
async fn other_upgrades_are_refused() {
    let api = ApiServer::builder().start().await.unwrap();
    let gw = gateway(&api.kubeconfig(), None, Duration::from_secs(30)).await;
    for proto in ["h2c", "websocket, h2c", "tls/1.0"] {
        let req = Request::get("/api/v1/namespaces/default/pods/demo/exec?command=sh")
            .header("connection", "Upgrade, HTTP2-Settings")
            .header("upgrade", proto)
            .header("http2-settings", "AAMAAABkAARAAAAAAAIAAAAA")
            .body(Full::default())
            .unwrap();
        let (code, _, body) = get(gw.addr, req).await;
        assert_eq!(code, 400, "{proto}");
        let s: Status = serde_json::from_slice(&body).unwrap();
        assert!(s.message.contains("is not allowed"), "{}", s.message);
    }
    assert!(api.requests().is_empty());
}

#[tokio::test]
async fn passthrough_forwards_the_clients_token_and_impersonate_forwards_the_identity() {
    let api = ApiServer::builder().start().await.unwrap();
    let (upstream, _dir) = upstream_for(&api.kubeconfig());
    for mode in [
        tollgate_proxy::UpstreamIdentity::Passthrough,
        tollgate_proxy::UpstreamIdentity::Impersonate,
    ] {
        api.clear_requests();
        let proxy = Proxy::builder(upstream.clone()).identity(mode).build();
        let mut req = Request::get("/api/v1/namespaces/default/pods")
            .header("authorization", "Bearer client-token")
            .header(
                "sec-websocket-protocol",
                "base64url.bearer.authorization.k8s.io.dG9r, v5.channel.k8s.io",
            )
            .body(Full::<Bytes>::default())
            .unwrap();
        req.extensions_mut().insert(tollgate_kube::Identity::anonymous());
        let res = tower::ServiceExt::oneshot(proxy, req).await.unwrap();
        assert_eq!(res.status(), 200);
        let seen = api.requests().pop().unwrap();
        match mode {
            tollgate_proxy::UpstreamIdentity::Passthrough => {
                // Exactly the verified token (the header wins, as the
                // authentication layer chose it), once, in the header.
                assert_eq!(seen.headers.get_all("authorization").iter().count(), 1);
                assert_eq!(seen.headers["authorization"], "Bearer client-token");
                assert_eq!(
                    seen.headers["sec-websocket-protocol"], "v5.channel.k8s.io",
                    "the subprotocol token, which nobody verified, is stripped"
                );
                assert!(!seen.headers.contains_key("impersonate-user"));
            }
            _ => {
                assert!(
                    !seen.headers.contains_key("authorization"),
                    "no gateway token in this kubeconfig, and never the client's"
                );
                assert_eq!(seen.headers["sec-websocket-protocol"], "v5.channel.k8s.io");
                assert_eq!(seen.headers["impersonate-user"], "system:anonymous");
                assert_eq!(seen.headers["impersonate-group"], "system:unauthenticated");
                assert_eq!(seen.headers["impersonate-extra-tollgate.dev%2fowner"], "unmapped");
            }
        }
        // Either way, a client's own Impersonate-* is refused.
        let proxy = Proxy::builder(upstream.clone()).identity(mode).build();
        let req = Request::get("/api/v1/pods")
            .header("Impersonate-Group", "system:masters")
            .body(Full::<Bytes>::default())
            .unwrap();
        let res = tower::ServiceExt::oneshot(proxy, req).await.unwrap();
        assert_eq!(res.status(), 403);
    }
    // A WebSocket client with only the subprotocol token: in passthrough it
    // arrives as the header.
    api.clear_requests();
    let proxy = Proxy::builder(upstream.clone())
        .identity(tollgate_proxy::UpstreamIdentity::Passthrough)
        .build();
    let req = Request::get("/api/v1/namespaces/default/pods")
        .header(
            "sec-websocket-protocol",
            "base64url.bearer.authorization.k8s.io.dG9r, v5.channel.k8s.io",
        )
        .body(Full::<Bytes>::default())
        .unwrap();
    let res = tower::ServiceExt::oneshot(proxy, req).await.unwrap();
    assert_eq!(res.status(), 200);
    let seen = api.requests().pop().unwrap();
    assert_eq!(seen.headers["authorization"], "Bearer tok");
    assert_eq!(seen.headers["sec-websocket-protocol"], "v5.channel.k8s.io");
}

#[tokio::test]
async fn a_clients_forwarded_for_is_dropped_unless_its_peer_is_a_trusted_proxy() {
    use tollgate_proxy::{ClientAddr, TrustForwardedLayer, TrustedProxy};
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let layer = TrustForwardedLayer::new(vec!["10.0.0.0/8".parse::<TrustedProxy>().unwrap()]);
    for (peer, kept) in [("203.0.113.9:5000", false), ("10.1.2.3:5000", true)] {
        let sink = seen.clone();
        let svc = tower::ServiceBuilder::new()
            .layer(layer.clone())
            .service_fn(move |req: Request<Full<Bytes>>| {
                let sink = sink.clone();
                async move {
                    sink.lock().unwrap().push(req.headers().clone());
                    Ok::<_, std::convert::Infallible>(http::Response::new(Full::<Bytes>::default()))
                }
            });
        let mut req = Request::get("/api/v1/pods")
            .header("x-forwarded-for", "198.51.100.1")
            .header("x-real-ip", "198.51.100.1")
            .header("forwarded", "for=198.51.100.1")
            .body(Full::<Bytes>::default())
            .unwrap();
        req.extensions_mut().insert(ClientAddr(peer.parse().unwrap()));
        tower::ServiceExt::oneshot(svc, req).await.unwrap();
        let h = seen.lock().unwrap().pop().unwrap();
        for name in ["x-forwarded-for", "x-real-ip", "forwarded"] {
            assert_eq!(h.contains_key(name), kept, "{peer}: {name}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn one_address_cannot_hold_more_than_its_share_of_connections() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // Issue 15: connections are limited per client address (and overall).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut options = tollgate_proxy::ServeOptions::default();
    options.max_connections_per_ip = 2;
    let svc = tower::service_fn(|_req: Request<hyper::body::Incoming>| async {
        Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::from_static(b"ok"))))
    });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(tollgate_proxy::serve_with(
        listener,
        None,
        svc,
        async {
            let _ = stopped.await;
        },
        options,
    ));
    // An answered request on a kept-alive connection; None when closed.
    async fn ask(s: &mut tokio::net::TcpStream) -> Option<String> {
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.ok()?;
        let mut buf = [0u8; 512];
        let n = tokio::time::timeout(std::time::Duration::from_secs(10), s.read(&mut buf))
            .await
            .ok()?
            .ok()?;
        (n > 0).then(|| String::from_utf8_lossy(&buf[..n]).into_owned())
    }
    let mut a = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut b = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert!(ask(&mut a).await.unwrap().starts_with("HTTP/1.1 200"));
    assert!(ask(&mut b).await.unwrap().starts_with("HTTP/1.1 200"));
    let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert_eq!(
        ask(&mut c).await,
        None,
        "a third connection from the same address is closed"
    );
    // The first two still work; once one closes, there is room again.
    assert!(ask(&mut a).await.unwrap().starts_with("HTTP/1.1 200"));
    drop(a);
    let mut served = false;
    for _ in 0..100 {
        let mut d = tokio::net::TcpStream::connect(addr).await.unwrap();
        if ask(&mut d).await.is_some_and(|r| r.starts_with("HTTP/1.1 200")) {
            served = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(served, "a closed connection gives its place back");
    let _ = stop.send(());
    drop(b);
    let _ = server.await;
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_connections_are_closed_and_streams_in_flight_are_not() {
    // Issue 15: a connection that sends nothing (or nothing more) was held
    // open indefinitely; one streaming a long response must not be cut.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut options = tollgate_proxy::ServeOptions::default();
    options.header_read_timeout = Duration::from_secs(1);
    options.idle_timeout = Duration::from_secs(1);
    // `/slow` streams three chunks a second apart (longer than the idle
    // time); anything else answers at once.
    let svc = tower::service_fn(|req: Request<hyper::body::Incoming>| async move {
        let body = if req.uri().path() == "/slow" {
            let chunks = futures_util::stream::unfold(0u8, |i| async move {
                if i == 3 {
                    return None;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                Some((
                    Ok::<_, std::convert::Infallible>(http_body::Frame::data(Bytes::from(format!("chunk{i}\n")))),
                    i + 1,
                ))
            });
            http_body_util::StreamBody::new(chunks).boxed()
        } else {
            Full::new(Bytes::from_static(b"ok")).boxed()
        };
        Ok::<_, std::convert::Infallible>(http::Response::new(body))
    });
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(tollgate_proxy::serve_with(
        listener,
        None,
        svc,
        async {
            let _ = stopped.await;
        },
        options,
    ));
    /// Reads until the server closes; what it sent, or None after 10 s.
    async fn until_closed(s: &mut TcpStream) -> Option<String> {
        let mut all = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut all))
            .await
            .ok()?
            .ok()?;
        Some(String::from_utf8_lossy(&all).into_owned())
    }
    // Silent after connecting: closed with nothing sent.
    let mut silent = TcpStream::connect(addr).await.unwrap();
    assert_eq!(until_closed(&mut silent).await.as_deref(), Some(""));
    // One request, then silence: answered, then closed.
    let mut once = TcpStream::connect(addr).await.unwrap();
    once.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let got = until_closed(&mut once).await.expect("closed once idle");
    assert!(got.starts_with("HTTP/1.1 200") && got.ends_with("ok"), "{got}");
    // A response streaming longer than the idle time arrives whole.
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let got = until_closed(&mut slow)
        .await
        .expect("closed once idle after the stream");
    for i in 0..3 {
        assert!(got.contains(&format!("chunk{i}")), "{got}");
    }
    let _ = stop.send(());
    let _ = server.await;
}

/// The API server gives a client at most 100 streams on one HTTP/2
/// connection. Watches hold theirs for as long as they run; if they shared
/// the connection the gateway's short requests go over, a hundred of them
/// (a CI fleet's `kubectl rollout status`, or one client on purpose) would
/// leave every other request through the gateway waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_do_not_take_the_streams_short_requests_need() {
    let api = ApiServer::builder().max_concurrent_streams(100).start().await.unwrap();
    let gw = gateway(&api.kubeconfig(), None, Duration::from_secs(30)).await;
    const WATCHES: usize = 120;
    let mut held = Vec::new();
    for _ in 0..WATCHES {
        let mut send = connect(gw.addr).await;
        let req = Request::get("/api/v1/namespaces/default/pods?watch=1")
            .body(Full::default())
            .unwrap();
        held.push(tokio::spawn(async move {
            let res = send.send_request(req).await;
            // Hold the watch (and its connection) open until the test ends.
            let _keep = (send, res);
            std::future::pending::<()>().await;
        }));
    }
    let watches_upstream = || {
        api.requests()
            .iter()
            .filter(|r| r.uri.query().is_some_and(|q| q.contains("watch=1")))
            .count()
    };
    assert!(
        reaches(Duration::from_secs(20), WATCHES, watches_upstream).await,
        "every watch reaches the API server at once: {} of {WATCHES} did",
        watches_upstream()
    );

    let short = get(
        gw.addr,
        Request::get("/api/v1/namespaces/default/pods")
            .body(Full::default())
            .unwrap(),
    );
    let (code, _, body) = tokio::time::timeout(Duration::from_secs(10), short)
        .await
        .expect("a short request is not left waiting behind the watches");
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));

    let seen = api.requests();
    let list = seen
        .iter()
        .rev()
        .find(|r| r.uri.path() == "/api/v1/namespaces/default/pods" && r.uri.query().is_none())
        .expect("the list reached the API server");
    assert_eq!(
        list.version,
        http::Version::HTTP_2,
        "short requests share the HTTP/2 connection"
    );
    assert!(
        seen.iter()
            .filter(|r| r.uri.query().is_some_and(|q| q.contains("watch=1")))
            .all(|r| r.version == http::Version::HTTP_11),
        "each watch has a connection of its own"
    );
    for h in held {
        h.abort();
    }
}

/// Watches, logs and exec sessions each hold an upstream connection for as
/// long as they run: past `max_long_running` of them at once, the next is
/// refused with 429 and `Retry-After` (as the API server sheds load) rather
/// than letting one client open connections until the gateway runs out of
/// memory or descriptors. Short requests are not counted, and a slot comes
/// back when its watch or tunnel ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_running_requests_past_the_limit_get_429_and_slots_come_back() {
    let api = ApiServer::builder().start().await.unwrap();
    let gw = gateway_with(&api.kubeconfig(), None, |b| b.max_long_running(3)).await;
    let watch = || {
        Request::get("/api/v1/namespaces/default/pods?watch=1")
            .body(Full::default())
            .unwrap()
    };
    let open_watch = |addr| async move {
        let mut send = connect(addr).await;
        let res = send.send_request(watch()).await.unwrap();
        assert_eq!(res.status(), 200);
        (send, res)
    };
    let w1 = open_watch(gw.addr).await;
    let _w2 = open_watch(gw.addr).await;
    // An exec tunnel counts too.
    let mut send = connect(gw.addr).await;
    let res = send.send_request(websocket_exec()).await.unwrap();
    assert_eq!(res.status(), 101);
    let tunnel = hyper::upgrade::on(res).await.unwrap();

    let (code, headers, body) = get(gw.addr, watch()).await;
    assert_eq!(code, 429, "{}", String::from_utf8_lossy(&body));
    assert_eq!(headers["retry-after"], "1");
    let status: Status = serde_json::from_slice(&body).unwrap();
    assert_eq!(status.reason, "TooManyRequests");
    assert!(status.message.contains("limits.maxLongRunning"), "{}", status.message);
    let (code, _, _) = get(
        gw.addr,
        Request::get("/api/v1/namespaces/default/pods")
            .body(Full::default())
            .unwrap(),
    )
    .await;
    assert_eq!(code, 200, "short requests are not counted");

    // A watch the client drops gives its slot back; so does a closed tunnel.
    let reopen = |addr| async move {
        loop {
            let mut send = connect(addr).await;
            let res = send.send_request(watch()).await.unwrap();
            match res.status().as_u16() {
                200 => return (send, res),
                429 => tokio::time::sleep(Duration::from_millis(20)).await,
                other => panic!("a watch got {other}"),
            }
        }
    };
    drop(w1);
    let _w3 = tokio::time::timeout(Duration::from_secs(10), reopen(gw.addr))
        .await
        .expect("the dropped watch's slot comes back");
    let (code, _, _) = get(gw.addr, watch()).await;
    assert_eq!(code, 429, "full again");
    drop(tunnel);
    drop(send);
    let _w4 = tokio::time::timeout(Duration::from_secs(10), reopen(gw.addr))
        .await
        .expect("the closed tunnel's slot comes back");
}

/// Short requests past the API server's 100 streams on one connection go
/// over another connection, as client-go's do, instead of waiting for a
/// stream: a slow API server, or clients that read their answers slowly,
/// cannot hold every other short request up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_requests_past_one_connections_streams_open_another() {
    let api = ApiServer::builder()
        .max_concurrent_streams(100)
        .list_delay(Duration::from_secs(5))
        .start()
        .await
        .unwrap();
    let gw = gateway(&api.kubeconfig(), None, Duration::from_secs(30)).await;
    const LISTS: usize = 150;
    let path = "/api/v1/namespaces/default/pods";
    let lists: Vec<_> = (0..LISTS)
        .map(|_| tokio::spawn(get(gw.addr, Request::get(path).body(Full::default()).unwrap())))
        .collect();
    let arrived = || api.requests().iter().filter(|r| r.uri.path() == path).count();
    assert!(
        reaches(Duration::from_secs(4), LISTS, arrived).await,
        "every list reaches the API server while the first are still waiting for their answers: {} of {LISTS} did",
        arrived()
    );
    for l in lists {
        let (code, _, body) = l.await.unwrap();
        assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
    }
    assert!(
        api.requests()
            .iter()
            .filter(|r| r.uri.path() == path)
            .all(|r| r.version == http::Version::HTTP_2),
        "short requests still go over HTTP/2"
    );
}

/// Clients that ask for a large list and do not read it must not stall the
/// other requests on the HTTP/2 connection to the API server: their unread
/// data may hold their own streams' flow-control windows, never the
/// connection's, which every stream on it shares.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_not_reading_large_lists_do_not_stall_the_shared_connection() {
    let api = ApiServer::builder().start().await.unwrap();
    let gw = gateway(&api.kubeconfig(), None, Duration::from_secs(30)).await;
    // 12 ConfigMaps of ~2.5 MB: a list of ~30 MB.
    let big = "x".repeat(2_500_000);
    for i in 0..12 {
        let body = serde_json::json!({"metadata": {"name": format!("big-{i}")}, "data": {"blob": big}}).to_string();
        let req = Request::post("/api/v1/namespaces/default/configmaps")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        let (code, _, body) = get(gw.addr, req).await;
        assert_eq!(code, 201, "{}", String::from_utf8_lossy(&body));
    }
    // Five clients ask for the list and never read it.
    let mut slow = Vec::new();
    for _ in 0..5 {
        let mut tcp = TcpStream::connect(gw.addr).await.unwrap();
        tcp.write_all(b"GET /api/v1/namespaces/default/configmaps HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        slow.push(tcp);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pod = get(
        gw.addr,
        Request::get("/api/v1/namespaces/default/pods/demo")
            .body(Full::default())
            .unwrap(),
    );
    let (code, _, body) = tokio::time::timeout(Duration::from_secs(10), pod)
        .await
        .expect("a small request is answered while other clients leave their lists unread");
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
    drop(slow);
}
