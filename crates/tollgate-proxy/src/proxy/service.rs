use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::uri::PathAndQuery;
use http::{HeaderValue, Request, Response, StatusCode, Uri, Version};
use http_body::Body;
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tollgate_kube::{AuditId, RequestInfo, ResponseBody, is_upgrade_request};
use tower_service::Service;

use super::connections::{Connections, MAX_CONNECTIONS, STREAMS_PER_CONNECTION};
use super::long_running::Slots;
use super::per_worker::PerWorker;
use super::upstream_body::Held;
use super::{ResponseFuture, UpstreamBody};
use crate::headers::{self, ClientAddr, Impersonation};
use crate::tunnel::{self, TunnelTap};
use crate::{Error, Upstream};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type OutBody = UnsyncBoxBody<Bytes, BoxError>;
pub(super) type HttpClient = Client<HttpsConnector<HttpConnector>, OutBody>;

/// How the API server learns who is asking (`impersonate` or
/// `passthrough` in a configuration file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum UpstreamIdentity {
    /// The gateway's own credentials plus `Impersonate-*` for the verified
    /// [`Identity`](tollgate_kube::Identity) (or an explicit
    /// [`Impersonation`]); the client's token never reaches the API server.
    #[default]
    Impersonate,
    /// The client's token is forwarded unchanged and the gateway adds no
    /// credentials: the API server authenticates the client itself.
    Passthrough,
}

/// Configures a [`Proxy`].
#[derive(Debug, Clone)]
pub struct ProxyBuilder {
    upstream: Upstream,
    identity: UpstreamIdentity,
    connect_timeout: Duration,
    response_timeout: Duration,
    pool_idle_timeout: Duration,
    max_long_running: usize,
}

impl ProxyBuilder {
    /// How long to wait for a TCP connection (default 10 s; then 504).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// How long to wait for response headers on requests that are not
    /// long-running (default 60 s; then 504). Watch, exec, attach,
    /// port-forward, logs and proxy are never timed out.
    pub fn response_timeout(mut self, d: Duration) -> Self {
        self.response_timeout = d;
        self
    }

    /// How long idle pooled connections are kept (default 90 s).
    pub fn pool_idle_timeout(mut self, d: Duration) -> Self {
        self.pool_idle_timeout = d;
        self
    }

    /// How many long-running requests (watches, logs, proxy requests,
    /// exec/attach/port-forward sessions) may be under way at once
    /// (default [`DEFAULT_MAX_LONG_RUNNING`]); each holds an upstream
    /// connection for as long as it runs, and the next is answered 429
    /// with `Retry-After`.
    pub fn max_long_running(mut self, n: usize) -> Self {
        self.max_long_running = n;
        self
    }

    /// How the API server learns who is asking (default: impersonate).
    pub fn identity(mut self, mode: UpstreamIdentity) -> Self {
        self.identity = mode;
        self
    }

    /// Builds the proxy and its connection pools.
    pub fn build(self) -> Proxy {
        let maker = ClientMaker {
            tls: self.upstream.tls.clone(),
            server_name: self.upstream.server_name.clone(),
            connect_timeout: self.connect_timeout,
            pool_idle_timeout: self.pool_idle_timeout,
        };
        // Each worker thread's requests go over connections of its own:
        // room for as many workers as `workers: auto` starts.
        let workers = crate::WorkerCount::Auto.threads();
        let maker = Arc::new(maker);
        let m = maker.clone();
        let h1 = PerWorker::new(move || m.make(false), workers);
        let h2 = PerWorker::new(
            move || {
                let m = maker.clone();
                Connections::new(move || m.make(true), STREAMS_PER_CONNECTION, MAX_CONNECTIONS)
            },
            workers,
        );
        Proxy {
            inner: Arc::new(Inner {
                identity: self.identity,
                upstream: self.upstream,
                client: h2,
                own_connection: h1,
                long_running: Slots::new(self.max_long_running),
                connect_timeout: self.connect_timeout,
                response_timeout: self.response_timeout,
                tunnels: Arc::default(),
            }),
        }
    }
}

/// What a client to the API server is made of.
struct ClientMaker {
    tls: Arc<rustls::ClientConfig>,
    server_name: Option<String>,
    connect_timeout: Duration,
    pool_idle_timeout: Duration,
}

impl ClientMaker {
    /// A client (a pool of hyper's): HTTP/2 when the API server offers it
    /// and `h2`, else HTTP/1.1.
    fn make(&self, h2: bool) -> HttpClient {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(self.connect_timeout));
        http.set_nodelay(true);
        // A watch's connection may carry nothing for minutes: TCP
        // keepalive finds an API server that went away without closing
        // it (~90 s), as Go's dialer does for client-go.
        http.set_keepalive(Some(UPSTREAM_KEEPALIVE));
        http.set_keepalive_interval(Some(Duration::from_secs(15)));
        http.set_keepalive_retries(Some(4));
        // ALPN is the connector's to set: h2 + http/1.1, or none (HTTP/1.1).
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*self.tls).clone())
            .https_or_http();
        let builder = match &self.server_name {
            Some(name) => match rustls_pki_types::ServerName::try_from(name.clone()) {
                Ok(n) => builder.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(n)),
                Err(_) => builder,
            },
            None => builder,
        };
        let connector = if h2 {
            builder.enable_http1().enable_http2().wrap_connector(http)
        } else {
            builder.enable_http1().wrap_connector(http)
        };
        let mut client = Client::builder(TokioExecutor::new());
        client.pool_idle_timeout(self.pool_idle_timeout);
        if h2 {
            // A response its client does not read holds its own stream's
            // window, never the connection's: with hyper's defaults (2 MiB
            // a stream, 5 MiB the connection) three clients leaving large
            // lists unread stopped every other answer on the connection.
            client
                .http2_initial_stream_window_size(STREAM_WINDOW)
                .http2_initial_connection_window_size(CONNECTION_WINDOW);
        } else {
            // A connection each for watches and logs: when a burst of
            // them ends, keep enough for the next ones, not all.
            client.pool_max_idle_per_host(IDLE_OWN_CONNECTIONS);
        }
        client.build(connector)
    }
}

/// Long-running requests under way at most, by default: as many as the
/// listener's connections (`limits.maxConnections`), so every client can
/// hold a watch, while one client cannot open upstream connections without
/// end.
pub const DEFAULT_MAX_LONG_RUNNING: usize = 10_000;

/// How much of one response the API server may send ahead of what its
/// client has read, on an HTTP/2 connection: enough for hundreds of MB/s
/// at a data centre's round trip.
const STREAM_WINDOW: u32 = 512 * 1024;

/// The connection's window: every stream's at once, so streams whose
/// clients read slowly cannot use up what the others need. At most this
/// much is buffered per connection.
const CONNECTION_WINDOW: u32 = STREAM_WINDOW * STREAMS_PER_CONNECTION as u32;

/// Idle HTTP/1.1 upstream connections kept for the next watch or logs.
const IDLE_OWN_CONNECTIONS: usize = 256;

/// How long an upstream connection is idle before TCP keepalive probes it.
const UPSTREAM_KEEPALIVE: Duration = Duration::from_secs(30);

/// The innermost service: forwards a request to the API server.
///
/// What it does to each request:
/// - refuses (403) any client `Impersonate-*` header, and strips hop-by-hop
///   headers and every header that carries identity (`Authorization` and the
///   WebSocket bearer subprotocol unless in [`UpstreamIdentity::Passthrough`],
///   `X-Remote-*`), so a client can never choose how the API server sees it;
/// - in [`UpstreamIdentity::Impersonate`] (the default) adds the gateway's
///   own credentials and `Impersonate-*` for the verified
///   [`Identity`](tollgate_kube::Identity) (or an explicit
///   [`Impersonation`](crate::Impersonation)); with neither, the request
///   goes as the gateway itself;
/// - replaces `Audit-ID` with the gateway's own ([`AuditId`](tollgate_kube::AuditId)
///   from the extensions, or a fresh one) and appends the client to
///   `X-Forwarded-For`;
/// - sends short requests over HTTP/2 to the API server (when it offers
///   it), 100 at a time on a connection and another connection past them,
///   as client-go does (up to 64), and long-running ones (watch, logs,
///   proxy) and upgrades over HTTP/1.1 connections of their own, at most
///   [`ProxyBuilder::max_long_running`] at once (then 429): the API server
///   allows 100 streams a connection, and requests that held them would
///   leave every other request waiting; an HTTP/2 connection's
///   flow-control window is the sum of its streams', so a client that
///   reads its answer slowly holds only its own stream;
/// - streams the response back as it arrives (watch, `logs -f`, large
///   lists); no timeout once long-running requests are under way;
/// - tunnels upgrades (WebSocket GET, SPDY POST) byte for byte, showing
///   the bytes to a [`TunnelTap`](crate::TunnelTap) if one is in the
///   extensions;
/// - answers upstream failures with a `Status`: 503 unreachable, 502 TLS
///   or protocol failure, 504 timeout.
///
/// ```no_run
/// use std::time::Duration;
/// use tollgate_proxy::{Proxy, Upstream};
///
/// let upstream = Upstream::from_kubeconfig("kubeconfig".as_ref(), None)?;
/// let proxy = Proxy::builder(upstream)
///     .connect_timeout(Duration::from_secs(5))
///     .response_timeout(Duration::from_secs(60))
///     .build();
/// # let _ = proxy;
/// # Ok::<_, tollgate_proxy::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Proxy {
    inner: Arc<Inner>,
}

struct Inner {
    identity: UpstreamIdentity,
    upstream: Upstream,
    /// Short requests: HTTP/2 when the API server offers it, 100 streams
    /// to a connection, another connection when those are taken; each
    /// worker thread's own.
    client: PerWorker<Connections<HttpClient>>,
    /// Long-running requests (watches, logs, proxy) and upgrades (exec,
    /// attach, port-forward): HTTP/1.1, a connection each. The API server
    /// gives one HTTP/2 connection at most 100 streams, and a request that
    /// runs for minutes holds its stream all that time: on the shared
    /// connection, a hundred watches would leave every short request
    /// waiting for one to end (hyper's pool does not open a second HTTP/2
    /// connection when the first is full, as client-go's does). Each
    /// worker thread's own pool of idle ones.
    own_connection: PerWorker<HttpClient>,
    /// The long-running requests under way, bounded.
    long_running: Arc<Slots>,
    connect_timeout: Duration,
    response_timeout: Duration,
    tunnels: Arc<crate::tunnel::TunnelCounters>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("upstream", &self.upstream.url())
            .finish_non_exhaustive()
    }
}

// === impl Proxy ===

impl Proxy {
    /// A builder forwarding to `upstream`.
    pub fn builder(upstream: Upstream) -> ProxyBuilder {
        ProxyBuilder {
            upstream,
            identity: UpstreamIdentity::default(),
            connect_timeout: Duration::from_secs(10),
            response_timeout: Duration::from_secs(60),
            pool_idle_timeout: Duration::from_secs(90),
            max_long_running: DEFAULT_MAX_LONG_RUNNING,
        }
    }

    /// The upstream it forwards to.
    pub fn upstream(&self) -> &Upstream {
        &self.inner.upstream
    }

    /// What this proxy's tunnels (exec, attach, port-forward) did so far.
    pub fn tunnels(&self) -> crate::TunnelTotals {
        self.inner.tunnels.totals()
    }

    /// Long-running requests (watches, logs, proxy requests, tunnels)
    /// under way now, and the most allowed
    /// ([`ProxyBuilder::max_long_running`]).
    pub fn long_running(&self) -> (usize, usize) {
        (self.inner.long_running.open(), self.inner.long_running.limit())
    }
}

impl<B> Service<Request<B>> for Proxy
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody<UpstreamBody>>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let inner = self.inner.clone();
        ResponseFuture {
            inner: Box::pin(async move {
                match forward(&inner, req).await {
                    Ok(res) => res,
                    Err(e) => {
                        tracing::warn!(error = %e, "forwarding failed");
                        let mut res = ResponseBody::from_status_response(e.to_status().to_response());
                        if res.status().is_client_error() {
                            res.extensions_mut().insert(Refused);
                        }
                        res
                    }
                }
            }),
        }
    }
}

/// In the extensions of a response the proxy made itself, refusing the
/// request (a 4xx: a client `Impersonate-*` header, an upgrade to another
/// protocol, a URI it cannot forward) before it reached the API server.
/// The layers outside read it: the audit record's decision is then
/// `refused`, not the policy's `allow`.
///
/// ```
/// # use tollgate_proxy::Refused;
/// let mut res = http::Response::new(());
/// res.extensions_mut().insert(Refused);
/// assert!(res.extensions().get::<Refused>().is_some());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused;

async fn forward<B>(inner: &Inner, mut req: Request<B>) -> Result<Response<ResponseBody<UpstreamBody>>, Error>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let upgrade = is_upgrade_request(&req);
    if upgrade {
        // Only the protocols Kubernetes streams use. Anything else (h2c in
        // particular) would turn the connection into a tunnel that no later
        // request on it passes the gateway's checks through.
        let proto = req
            .headers()
            .get(http::header::UPGRADE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let allowed = proto
            .split(',')
            .map(str::trim)
            .all(|p| p.eq_ignore_ascii_case("websocket") || p.eq_ignore_ascii_case("SPDY/3.1"));
        if !allowed || proto.trim().is_empty() {
            return Err(Error::BadRequest(format!(
                "upgrading to {proto:?} is not allowed: only websocket and SPDY/3.1 (exec, attach, port-forward)"
            )));
        }
    }
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let (mut parts, body) = req.into_parts();
    let long_running = match RequestInfo::of(&parts.extensions) {
        Some(info) => info.is_long_running(),
        None => RequestInfo::parse(&parts.method, &parts.uri)
            .map(|i| i.is_long_running())
            .map_err(|e| Error::BadRequest(e.to_string()))?,
    };

    // Where it goes.
    let up = &inner.upstream;
    let pq = parts.uri.path_and_query().map(PathAndQuery::as_str).unwrap_or("/");
    // The server URL's own path is the root (`https://host/audit` serves
    // `/` at `/audit`, not `/audit/`).
    let pq = if pq == "/" && !up.base_path.is_empty() {
        up.base_path.clone()
    } else {
        format!("{}{pq}", up.base_path)
    };
    parts.uri = Uri::builder()
        .scheme(up.scheme.clone())
        .authority(up.authority.clone())
        .path_and_query(pq)
        .build()
        .map_err(|e| Error::BadRequest(format!("cannot build the upstream URI: {e}")))?;
    // HTTP/2 from the client says nothing about the upstream connection.
    parts.version = if upgrade { Version::HTTP_11 } else { Version::default() };

    // Who it comes from. A client never chooses whom the cluster sees.
    let h = &mut parts.headers;
    if let Some(names) = headers::client_impersonation(h) {
        return Err(Error::Forbidden(format!(
            "impersonation headers are not allowed ({names}): Tollgate forwards requests as the authenticated identity, and clients cannot impersonate through it"
        )));
    }
    headers::strip_hop_by_hop(h, upgrade);
    let passthrough = inner.identity == UpstreamIdentity::Passthrough;
    // In passthrough, exactly the token the authentication layer verified
    // goes on — chosen by the same function (the Authorization header
    // first, else the WebSocket subprotocol) — and only in the header: a
    // second token the gateway did not verify never reaches the API server.
    let verified = if passthrough {
        tollgate_oidc::bearer_token(h).map_err(|e| Error::BadRequest(e.to_string()))?
    } else {
        None
    };
    headers::strip_client_identity(h, false);
    if let Some(token) = verified {
        let v = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| Error::BadRequest("the bearer token cannot be sent as an HTTP header".to_owned()))?;
        h.insert(http::header::AUTHORIZATION, v);
    }
    if !passthrough {
        if let Some(auth) = up.credentials.authorization()? {
            h.insert(http::header::AUTHORIZATION, auth);
        }
        match (
            parts.extensions.get::<Impersonation>(),
            tollgate_kube::Identity::of(&parts.extensions),
        ) {
            (Some(explicit), _) => headers::add_impersonation(h, explicit)?,
            (None, Some(id)) => headers::add_identity_impersonation(h, id)?,
            (None, None) => {}
        }
    }
    let audit_id = parts
        .extensions
        .get::<AuditId>()
        .cloned()
        .unwrap_or_else(AuditId::random);
    headers::set_audit_id(h, &audit_id);
    if let Some(ClientAddr(addr)) = parts.extensions.get::<ClientAddr>() {
        headers::append_forwarded_for(h, addr.ip());
    }
    let tap = parts.extensions.get::<TunnelTap>().cloned();
    let notes = parts.extensions.get::<tollgate_kube::Notes>().cloned();

    // Long-running requests and upgrades go over a connection of their
    // own, at most `max_long_running` at once; short ones take a stream on
    // a shared HTTP/2 connection.
    let own_connection = upgrade || long_running;
    let mut held = Some(if own_connection {
        Held::LongRunning(inner.long_running.take().ok_or(Error::Busy {
            limit: inner.long_running.limit(),
        })?)
    } else {
        Held::Stream(inner.client.get().take())
    });
    let client = match &held {
        Some(Held::Stream(s)) => s.client(),
        _ => inner.own_connection.get(),
    };

    let out = Request::from_parts(parts, body.map_err(Into::into).boxed_unsync());
    let sent_at = std::time::Instant::now();
    let sent = client.request(out);
    let result = if own_connection {
        // The connect timeout still applies through the connector.
        sent.await
    } else {
        match tokio::time::timeout(inner.response_timeout, sent).await {
            Ok(r) => r,
            Err(_) => {
                return Err(Error::Timeout {
                    upstream: up.url().to_owned(),
                    seconds: inner.response_timeout.as_secs(),
                });
            }
        }
    };
    let mut res = result.map_err(|e| classify(&e, up.url(), inner.connect_timeout))?;
    if let Some(n) = notes.filter(|_| !own_connection) {
        n.insert(tollgate_kube::UpstreamLatency(sent_at.elapsed()));
    }

    if res.status() == StatusCode::SWITCHING_PROTOCOLS {
        match client_upgrade {
            Some(client_up) => {
                let upstream_up = hyper::upgrade::on(&mut res);
                let tunnels = inner.tunnels.clone();
                // The tunnel holds the request's slot until it closes.
                let held = held.take();
                tokio::spawn(async move {
                    tunnel::run(client_up, upstream_up, tap, tunnels).await;
                    drop(held);
                });
            }
            None => {
                return Err(Error::Upstream {
                    upstream: up.url().to_owned(),
                    message: "switched protocols on a request that asked for no upgrade".to_owned(),
                });
            }
        }
    } else {
        headers::strip_hop_by_hop(res.headers_mut(), false);
    }
    headers::set_audit_id(res.headers_mut(), &audit_id);
    Ok(res.map(|body| ResponseBody::inner(UpstreamBody::new(body, held))))
}

/// Sorts a client error into unreachable, TLS, timeout or other.
fn classify(e: &hyper_util::client::legacy::Error, upstream: &str, connect_timeout: Duration) -> Error {
    let mut found = Found::default();
    inspect(e, &mut found, 0);
    let message = error_chain(e);
    if let Some(m) = found.tls {
        Error::Tls {
            upstream: upstream.to_owned(),
            message: m,
        }
    } else if found.timed_out {
        Error::Timeout {
            upstream: upstream.to_owned(),
            seconds: connect_timeout.as_secs(),
        }
    } else if e.is_connect() {
        Error::Unreachable {
            upstream: upstream.to_owned(),
            message,
        }
    } else {
        Error::Upstream {
            upstream: upstream.to_owned(),
            message,
        }
    }
}

#[derive(Default)]
struct Found {
    tls: Option<String>,
    timed_out: bool,
}

/// Walks `source()` and, for `io::Error`s (whose `source()` skips the
/// wrapped error), their `get_ref()` too.
fn inspect(e: &(dyn std::error::Error + 'static), found: &mut Found, depth: usize) {
    if depth > 16 {
        return;
    }
    if let Some(r) = e.downcast_ref::<rustls::Error>() {
        found.tls.get_or_insert_with(|| r.to_string());
    }
    if let Some(io) = e.downcast_ref::<std::io::Error>() {
        if io.kind() == std::io::ErrorKind::TimedOut {
            found.timed_out = true;
        }
        if let Some(inner) = io.get_ref() {
            inspect(inner, found, depth + 1);
        }
    }
    if let Some(s) = e.source() {
        inspect(s, found, depth + 1);
    }
}

pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut s = e.source();
    while let Some(inner) = s {
        out.push_str(": ");
        out.push_str(&inner.to_string());
        s = inner.source();
    }
    out
}
