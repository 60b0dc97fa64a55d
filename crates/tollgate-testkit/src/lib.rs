//! Test and demo fixtures for Tollgate — **clearly a fixture, not a
//! product**.
//!
//! [`ApiServer`] is an in-process Kubernetes API server that the real
//! `kubectl` accepts: TLS with a generated CA, HTTP/1.1 and HTTP/2,
//! in-memory objects with resource versions, watch fan-out, discovery and
//! the OpenAPI documents `kubectl apply` reads, `Table` output, Status
//! errors like the real server's, `pods/log` (with `follow` streaming lines
//! over time), `pods/exec` and `pods/attach` over WebSocket
//! (`v5.channel.k8s.io`) and SPDY/3.1 (`v4.channel.k8s.io`) with a tiny
//! command runner, `pods/portforward` over SPDY/3.1 and over SPDY tunnelled
//! in WebSocket (each forwarded connection answers HTTP requests and echoes
//! anything else), and merge, strategic-merge, JSON and server-side apply
//! patches. It records the headers of every request so tests can assert
//! what reached the cluster.
//!
//! It serves namespaces, nodes, services, events, pods, secrets,
//! configmaps, serviceaccounts (with `token`), deployments (with
//! `scale`), jobs, cronjobs and role bindings, and starts with namespaces
//! `default`, `kube-system` and `kube-public`, a node `demo-node`, and in
//! `default` a pod `demo` (container `app`) with an event of its start, a
//! service `kubernetes`, a secret `demo-credentials`, a configmap
//! `demo-config` and the `default` service account.
//!
//! ```no_run
//! # #[tokio::main] async fn main() -> Result<(), tollgate_testkit::Error> {
//! let server = tollgate_testkit::ApiServer::builder().token("s3cret").start().await?;
//! std::fs::write("/tmp/kubeconfig", server.kubeconfig())?;
//! // kubectl --kubeconfig /tmp/kubeconfig get pods
//! # Ok(()) }
//! ```

mod body;
mod exec;
mod handler;
mod issuer;
mod kubeconfig;
mod logs;
mod page_cache;
mod patch;
mod redis;
mod resources;
mod spdy;
mod store;
mod table;
mod tls;
mod wait;

pub use body::Body;
pub use exec::websocket_accept;
pub use issuer::{SigningKey, TestIssuer, github_actions_claims, now};
pub use kubeconfig::kubeconfig;
pub use page_cache::resident_bytes;
pub use redis::{RedisCluster, RedisOptions, RedisSentinels, RedisServer, RedisTls};
pub use tls::{CertifiedKey, TestCa};
pub use wait::eventually;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{HeaderMap, Method, Request, Uri, Version};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;

use store::Store;

/// Errors starting the fixture.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Certificate generation or TLS configuration failed.
    #[error("TLS setup failed: {0}")]
    Tls(String),
    /// Binding or I/O failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// One request as the test API server received it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// The method.
    pub method: Method,
    /// The URI as sent (path and query).
    pub uri: Uri,
    /// HTTP version used.
    pub version: Version,
    /// All request headers.
    pub headers: HeaderMap,
    /// The address the request's connection came from: requests with the
    /// same one came over the same connection.
    pub peer: Option<SocketAddr>,
}

/// The address a request's connection came from.
#[derive(Debug, Clone, Copy)]
struct Peer(SocketAddr);

#[derive(Debug, Clone)]
struct Config {
    token: Option<String>,
    log_follow_lines: usize,
    log_follow_interval: Duration,
    listen: SocketAddr,
    max_concurrent_streams: u32,
    list_delay: Duration,
}

#[derive(Debug)]
struct Shared {
    store: Store,
    config: Config,
    recorded: Mutex<Vec<RecordedRequest>>,
}

impl Shared {
    fn record(&self, req: &Request<Incoming>) {
        let mut r = self.recorded.lock().unwrap_or_else(|p| p.into_inner());
        if r.len() >= 100_000 {
            r.remove(0);
        }
        r.push(RecordedRequest {
            method: req.method().clone(),
            uri: req.uri().clone(),
            version: req.version(),
            headers: req.headers().clone(),
            peer: req.extensions().get::<Peer>().map(|p| p.0),
        });
    }
}

/// Configures an [`ApiServer`].
#[derive(Debug, Clone)]
pub struct ApiServerBuilder {
    config: Config,
}

impl ApiServerBuilder {
    /// Requires `Authorization: Bearer <token>` on every request.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.config.token = Some(token.into());
        self
    }

    /// How many lines `logs -f` streams after the first three, and how far
    /// apart (default 5 lines, 200 ms).
    pub fn log_follow(mut self, lines: usize, interval: Duration) -> Self {
        self.config.log_follow_lines = lines;
        self.config.log_follow_interval = interval;
        self
    }

    /// The address to listen on (default `127.0.0.1:0`).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.config.listen = addr;
        self
    }

    /// How long every list waits before it is answered (default none): a
    /// slow API server, for tests of what waits behind its requests.
    pub fn list_delay(mut self, d: Duration) -> Self {
        self.config.list_delay = d;
        self
    }

    /// The most streams a client may have open on one HTTP/2 connection
    /// (default 100: the API server's own limit since its fix for the
    /// HTTP/2 rapid-reset attacks, CVE-2023-44487). A client that needs
    /// more at once waits or opens another connection, as client-go does.
    pub fn max_concurrent_streams(mut self, n: u32) -> Self {
        self.config.max_concurrent_streams = n;
        self
    }

    /// Generates a CA and a certificate, seeds the objects and starts serving.
    ///
    /// # Errors
    /// When TLS setup or binding fails.
    pub async fn start(self) -> Result<ApiServer, Error> {
        let ca = TestCa::new("tollgate-testkit CA")?;
        let cert = ca.server_cert(&["localhost", "127.0.0.1"])?;
        let tls = tokio_rustls::TlsAcceptor::from(tls::server_config(&cert)?);
        let listener = TcpListener::bind(self.config.listen).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            store: Store::new(),
            config: self.config,
            recorded: Mutex::new(Vec::new()),
        });
        seed(&shared.store);
        let (stop_tx, stop_rx) = watch::channel(false);
        let s = shared.clone();
        tokio::spawn(accept_loop(listener, tls, s, stop_rx));
        Ok(ApiServer {
            addr,
            ca,
            shared,
            stop: stop_tx,
        })
    }
}

async fn accept_loop(
    listener: TcpListener,
    tls: tokio_rustls::TlsAcceptor,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(_) => continue,
            },
            _ = stop.changed() => return,
        };
        let tls = tls.clone();
        let shared = shared.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let Ok(stream) = tls.accept(tcp).await else { return };
            let streams = shared.config.max_concurrent_streams;
            let svc = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                req.extensions_mut().insert(Peer(peer));
                let shared = shared.clone();
                async move { Ok::<_, std::convert::Infallible>(handler::handle(shared, req).await) }
            });
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder.http2().max_concurrent_streams(streams);
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
            tokio::select! {
                _ = conn => {}
                _ = stop.changed() => {}
            }
        });
    }
}

fn seed(store: &Store) {
    let r = |res: &str| resources::RESOURCES.iter().find(|d| d.resource == res);
    let (Some(ns), Some(pods), Some(secrets), Some(cms), Some(sas)) = (
        r("namespaces"),
        r("pods"),
        r("secrets"),
        r("configmaps"),
        r("serviceaccounts"),
    ) else {
        return;
    };
    for name in ["default", "kube-system", "kube-public"] {
        let _ = store.create(ns, "", json!({"metadata": {"name": name}}), false);
    }
    let _ = store.create(sas, "default", json!({"metadata": {"name": "default"}}), false);
    let pod = store.create(
        pods,
        "default",
        json!({"metadata": {"name": "demo", "labels": {"app": "demo"}},
               "spec": {"containers": [{"name": "app", "image": "registry.example/demo:1.0",
                                        "env": [{"name": "DB_PASSWORD", "value": "hunter2"}]}]}}),
        false,
    );
    let _ = store.create(
        secrets,
        "default",
        json!({"metadata": {"name": "demo-credentials"}, "stringData": {"username": "admin", "password": "hunter2"}}),
        false,
    );
    let _ = store.create(
        cms,
        "default",
        json!({"metadata": {"name": "demo-config"}, "data": {"greeting": "hello"}}),
        false,
    );
    let (Some(nodes), Some(services), Some(events)) = (r("nodes"), r("services"), r("events")) else {
        return;
    };
    let _ = store.create(nodes, "", json!({"metadata": {"name": "demo-node"}}), false);
    let _ = store.create(
        services,
        "default",
        json!({"metadata": {"name": "kubernetes"},
               "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP"}]}}),
        false,
    );
    let _ = store.create(
        events,
        "default",
        json!({"metadata": {"name": "demo.started"},
               "involvedObject": {"kind": "Pod", "namespace": "default", "name": "demo", "apiVersion": "v1",
                                  "uid": pod.ok().and_then(|p| p.pointer("/metadata/uid").cloned())},
               "type": "Normal", "reason": "Started", "message": "Started container app"}),
        false,
    );
}

/// A running test API server. Stops when dropped.
#[derive(Debug)]
pub struct ApiServer {
    addr: SocketAddr,
    ca: TestCa,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
}

impl ApiServer {
    /// A builder with defaults: no token, `127.0.0.1:0`.
    pub fn builder() -> ApiServerBuilder {
        ApiServerBuilder {
            config: Config {
                token: None,
                log_follow_lines: 5,
                log_follow_interval: Duration::from_millis(200),
                listen: SocketAddr::from(([127, 0, 0, 1], 0)),
                max_concurrent_streams: 100,
                list_delay: Duration::ZERO,
            },
        }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://127.0.0.1:<port>`
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The CA that signed the server certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca.cert_pem
    }

    /// The CA, to issue more certificates (e.g. for a gateway in front).
    pub fn ca(&self) -> &TestCa {
        &self.ca
    }

    /// The bearer token it requires, if any.
    pub fn token(&self) -> Option<&str> {
        self.shared.config.token.as_deref()
    }

    /// A kubeconfig (JSON, which kubectl reads as YAML) pointing straight at
    /// this server.
    pub fn kubeconfig(&self) -> String {
        kubeconfig(&self.url(), &self.ca.cert_pem, self.token())
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.recorded.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.shared.recorded.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Stops accepting and closes connections.
    pub fn shutdown(&self) {
        let _ = self.stop.send(true);
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}
