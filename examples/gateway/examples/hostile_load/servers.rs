//! The two processes the speed comparison starts besides the gateways: a
//! static upstream (what the API server would answer, served from memory
//! so the upstream is never the bottleneck) and a bare hyper reverse proxy
//! with the gateway's TLS stack and no layers (the floor for this design),
//! serving its connections on worker threads as the gateway does by
//! default (`workers: auto`: one single-threaded runtime per core, each
//! with its own upstream connections).
//!
//! Each runs in a process of its own (this harness, re-executed), prints
//! its port on its first line and stops when its standard input closes.

use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tollgate_kube::websocket::{Opcode, channel, encode_frame};

use super::Error;

/// Bytes of stdout an exec session streams.
pub(crate) const EXEC_BYTES: usize = 64 << 20;
/// Events a watch streams.
pub(crate) const WATCH_EVENTS: usize = 1000;
/// About how large the big list is.
pub(crate) const LIST_BYTES: usize = 10 << 20;

/// A Pod of about 1 KB, as `kubectl get pod -o json` would fetch it.
pub(crate) fn pod(name: &str) -> String {
    serde_json::json!({
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {
            "name": name, "namespace": "default", "uid": "6b8f6f4e-6f34-4c8e-9d3e-0b4c2f1d5a7e",
            "resourceVersion": "48213", "creationTimestamp": "2026-12-01T10:00:00Z",
            "labels": {"app": "payments-api", "pod-template-hash": "7d9c6b5f4"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "payments-api-7d9c6b5f4",
                "uid": "0c5e2b8a-2f4e-4b1a-9a37-5b1d3c7e9f10", "controller": true, "blockOwnerDeletion": true}]
        },
        "spec": {
            "containers": [{"name": "api", "image": "registry.acme.example/payments-api:1.42.0",
                "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                "env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "DATABASE_PASSWORD", "value": "hunter2-not-a-real-one"}],
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}}],
            "serviceAccountName": "payments-api", "nodeName": "node-1", "restartPolicy": "Always"
        },
        "status": {"phase": "Running", "podIP": "10.244.1.17", "hostIP": "172.18.0.3",
            "startTime": "2026-12-01T10:00:02Z",
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-12-01T10:00:09Z"}]}
    })
    .to_string()
}

fn pod_list() -> String {
    let mut out =
        String::from(r#"{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"48213"},"items":["#);
    let mut i = 0;
    while out.len() < LIST_BYTES {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&pod(&format!("web-{i}")));
        i += 1;
    }
    out.push_str("]}");
    out
}

/// `text` kept for the life of the process: a [`Bytes`] made from it with
/// `Bytes::from_static` is cloned and dropped without touching a reference
/// count. (A body shared through a count costs an atomic add and an
/// atomic subtract per clone, on a cache line that both cores write; the
/// upstream once cloned the watch's 1,000 events for every request and
/// spent half its CPU there: `docs/performance.md`, twenty-fifth round.)
fn forever(text: String) -> &'static [u8] {
    text.into_bytes().leak()
}

/// A body of ready chunks, sent one frame at a time (a watch's events).
struct Chunks(std::slice::Iter<'static, &'static [u8]>);

impl hyper::body::Body for Chunks {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Poll::Ready(self.0.next().map(|b| Ok(Frame::data(Bytes::from_static(b)))))
    }
}

type Out = BoxBody<Bytes, Error>;

fn full(b: Bytes) -> Out {
    Full::new(b).map_err(|e| match e {}).boxed()
}

fn server_tls(dir: &Path, cert: &str, key: &str) -> Result<tokio_rustls::TlsAcceptor, Error> {
    use rustls_pki_types::pem::PemObject;
    let certs = rustls_pki_types::CertificateDer::pem_file_iter(dir.join(cert))?.collect::<Result<Vec<_>, _>>()?;
    let key = rustls_pki_types::PrivateKeyDer::from_pem_file(dir.join(key))?;
    let mut config =
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Binds and prints the port; the receiver fires when standard input
/// closes.
async fn listen() -> Result<(TcpListener, tokio::sync::oneshot::Receiver<()>), Error> {
    let l = TcpListener::bind("127.0.0.1:0").await?;
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", l.local_addr()?.port())?;
        out.flush()?;
    }
    let (closed, stop) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        let _ = closed.send(());
    });
    Ok((l, stop))
}

/// Serves `handle` over TLS (HTTP/2 or HTTP/1.1 by ALPN, with upgrades),
/// each connection on one of `workers` when given.
async fn serve<F, Fut>(
    (l, mut stop): (TcpListener, tokio::sync::oneshot::Receiver<()>),
    tls: tokio_rustls::TlsAcceptor,
    workers: Option<tollgate_proxy::Workers>,
    handle: F,
) -> Result<(), Error>
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<Response<Out>, Error>> + Send + 'static,
{
    let builder = Arc::new(auto::Builder::new(TokioExecutor::new()));
    loop {
        let (tcp, _) = tokio::select! {
            r = l.accept() => r?,
            _ = &mut stop => return Ok(()),
        };
        let _ = tcp.set_nodelay(true);
        // Registered again with the reactor of the runtime that serves it.
        let tcp = tcp.into_std()?;
        let (tls, builder, handle) = (tls.clone(), builder.clone(), handle.clone());
        let conn = async move {
            let Ok(tcp) = tokio::net::TcpStream::from_std(tcp) else {
                return;
            };
            let Ok(stream) = tls.accept(tcp).await else { return };
            let svc = hyper::service::service_fn(handle);
            let _ = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc).await;
        };
        match &workers {
            Some(w) => w.spawn(conn),
            None => {
                tokio::spawn(conn);
            }
        }
    }
}

/// The static upstream: a 1 KB Pod for any path, a 10 MB PodList for
/// `/api/v1/pods`, 1,000 events for a watch, and 64 MiB of stdout for an
/// exec over WebSocket.
pub(crate) async fn static_upstream(dir: &Path) -> Result<(), Error> {
    let tls = server_tls(dir, "upstream.crt", "upstream.key")?;
    // Nothing is copied or counted per request (see [`forever`]).
    let one = forever(pod("web-0"));
    let list = forever(pod_list());
    let events: &'static [&'static [u8]] = (0..WATCH_EVENTS)
        .map(|i| {
            forever(format!(
                "{{\"type\":\"MODIFIED\",\"object\":{}}}\n",
                pod(&format!("web-{i}"))
            ))
        })
        .collect::<Vec<_>>()
        .leak();
    let l = listen().await?;
    serve(l, tls, None, move |mut req: Request<Incoming>| async move {
        let json = |b: Out| {
            Response::builder()
                .header("content-type", "application/json")
                .body(b)
                .map_err(Error::from)
        };
        if req.headers().contains_key(http::header::UPGRADE) {
            return exec_stream(&mut req);
        }
        let query = req.uri().query().unwrap_or("");
        if query.split('&').any(|p| p == "watch=true" || p == "watch=1") {
            return json(Chunks(events.iter()).map_err(|e| match e {}).boxed());
        }
        if req.uri().path() == "/api/v1/pods" {
            return json(full(Bytes::from_static(list)));
        }
        json(full(Bytes::from_static(one)))
    })
    .await
}

/// 101, then [`EXEC_BYTES`] of stdout in 32 KiB frames, a success status
/// and a close frame.
fn exec_stream(req: &mut Request<Incoming>) -> Result<Response<Out>, Error> {
    let key = req
        .headers()
        .get("sec-websocket-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let upgrade = hyper::upgrade::on(req);
    tokio::spawn(async move {
        let Ok(io) = upgrade.await else { return };
        let mut io = TokioIo::new(io);
        let mut payload = vec![b'x'; 32 * 1024 + 1];
        payload[0] = channel::STDOUT;
        let frame = encode_frame(Opcode::Binary, &payload, None);
        for _ in 0..EXEC_BYTES / (32 * 1024) {
            if io.write_all(&frame).await.is_err() {
                return;
            }
        }
        let mut status = vec![channel::ERROR];
        status.extend_from_slice(br#"{"metadata":{},"status":"Success"}"#);
        let _ = io.write_all(&encode_frame(Opcode::Binary, &status, None)).await;
        let _ = io.write_all(&encode_frame(Opcode::Close, &[3, 232], None)).await;
        let _ = io.shutdown().await;
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header("upgrade", "websocket")
        .header("connection", "Upgrade")
        .header("sec-websocket-accept", tollgate_testkit::websocket_accept(&key))
        .header("sec-websocket-protocol", "v5.channel.k8s.io")
        .body(full(Bytes::new()))
        .map_err(Error::from)
}

type Client = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Incoming,
>;

fn client(dir: &Path, h2: bool) -> Result<Client, Error> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pki_types::CertificateDer::pem_file_iter(dir.join("upstream-ca.crt"))? {
        roots.add(c?)?;
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    let b = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only();
    let connector = if h2 {
        b.enable_http1().enable_http2().wrap_connector(http)
    } else {
        b.enable_http1().wrap_connector(http)
    };
    Ok(hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(connector))
}

/// The bare reverse proxy: hyper's server and pooled client with the
/// gateway's TLS stack (rustls with aws-lc-rs, HTTP/2 by ALPN on both
/// sides), hop-by-hop headers dropped, upgrades tunnelled — nothing else.
pub(crate) async fn bare_proxy(dir: &Path, upstream: SocketAddr) -> Result<(), Error> {
    let tls = server_tls(dir, "gateway.crt", "gateway.key")?;
    let workers = tollgate_proxy::WorkerCount::Auto.start()?;
    // A pair of clients (each a pool of upstream connections) for each
    // worker, and one for any other thread, as the gateway keeps them.
    let clients = (0..=workers.as_ref().map_or(0, tollgate_proxy::Workers::len))
        .map(|_| Ok((client(dir, true)?, client(dir, false)?)))
        .collect::<Result<Vec<_>, Error>>()?;
    let clients = Arc::new(clients);
    let l = listen().await?;
    serve(l, tls, workers, move |mut req: Request<Incoming>| {
        let (h2, h1) = clients[tollgate_proxy::Workers::current().map_or(0, |w| w + 1)].clone();
        async move {
            let upgrade = req.headers().contains_key(http::header::UPGRADE);
            let from_client = upgrade.then(|| hyper::upgrade::on(&mut req));
            let (mut parts, body) = req.into_parts();
            let pq = parts.uri.path_and_query().map_or("/", |p| p.as_str());
            parts.uri = format!("https://{upstream}{pq}").parse()?;
            parts.version = http::Version::HTTP_11;
            parts.headers.remove(http::header::HOST);
            if !upgrade {
                parts.headers.remove(http::header::CONNECTION);
                let res = h2.request(Request::from_parts(parts, body)).await?;
                return Ok(res.map(|b| b.map_err(Error::from).boxed()));
            }
            let mut res = h1.request(Request::from_parts(parts, body)).await?;
            if let (StatusCode::SWITCHING_PROTOCOLS, Some(client_side)) = (res.status(), from_client) {
                let upstream_side = hyper::upgrade::on(&mut res);
                tokio::spawn(async move {
                    if let (Ok(a), Ok(b)) = (client_side.await, upstream_side.await) {
                        let _ = tokio::io::copy_bidirectional(&mut TokioIo::new(a), &mut TokioIo::new(b)).await;
                    }
                });
            }
            Ok(res.map(|b| b.map_err(Error::from).boxed()))
        }
    })
    .await
}
