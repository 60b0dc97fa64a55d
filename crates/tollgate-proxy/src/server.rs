//! The listener: TLS (or plaintext on loopback), HTTP/1.1 and HTTP/2 by
//! ALPN, upgrades, the client's address in the extensions, and graceful
//! shutdown that drains in-flight requests.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tower_service::Service;

use crate::idle::{Activity, ActivityBody};
use crate::{ClientAddr, Error, Workers};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A rustls server config from PEM files, offering h2 and http/1.1.
///
/// # Errors
/// [`Error::File`] or [`Error::Config`] naming the file.
pub fn server_tls_from_pem(
    cert_pem: &[u8],
    key_pem: &[u8],
    cert_name: &str,
    key_name: &str,
) -> Result<Arc<rustls::ServerConfig>, Error> {
    let cert = ServerCert::from_pem(cert_pem, key_pem, cert_name, key_name)?;
    cert.server_config()
}

/// The listener's certificate, replaceable while serving: each TLS
/// handshake takes the one current then, so a renewed certificate (a
/// cert-manager rotation) is used by new connections without a restart,
/// and open ones keep theirs.
///
/// ```no_run
/// use tollgate_proxy::ServerCert;
/// let cert = ServerCert::from_pem(&std::fs::read("tls.crt")?, &std::fs::read("tls.key")?, "tls.crt", "tls.key")?;
/// let tls = cert.server_config()?; // for `serve_with`
/// // Later, when the files change:
/// cert.replace_from_pem(&std::fs::read("tls.crt")?, &std::fs::read("tls.key")?, "tls.crt", "tls.key")?;
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ServerCert {
    current: Arc<std::sync::RwLock<Arc<rustls::sign::CertifiedKey>>>,
}

impl ServerCert {
    /// A certificate chain and its private key, PEM.
    ///
    /// # Errors
    /// [`Error::Config`] naming the file that is not PEM, or a key that
    /// does not match the certificate.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8], cert_name: &str, key_name: &str) -> Result<Self, Error> {
        Ok(ServerCert {
            current: Arc::new(std::sync::RwLock::new(Arc::new(certified_key(
                cert_pem, key_pem, cert_name, key_name,
            )?))),
        })
    }

    /// Reads a PEM chain and key from files.
    ///
    /// # Errors
    /// [`Error::File`] for a file that cannot be read, else as
    /// [`ServerCert::from_pem`].
    pub fn load(cert: &std::path::Path, key: &std::path::Path) -> Result<Self, Error> {
        let (c, k) = read_pair(cert, key)?;
        Self::from_pem(&c, &k, &cert.display().to_string(), &key.display().to_string())
    }

    /// Reads the files again and serves them to new connections; on an
    /// error the current certificate stays.
    ///
    /// # Errors
    /// As [`ServerCert::load`].
    pub fn reload(&self, cert: &std::path::Path, key: &std::path::Path) -> Result<(), Error> {
        let (c, k) = read_pair(cert, key)?;
        self.replace_from_pem(&c, &k, &cert.display().to_string(), &key.display().to_string())
    }

    /// Serves `cert_pem`/`key_pem` to new connections from now on; on an
    /// error the current certificate stays.
    ///
    /// # Errors
    /// As [`ServerCert::from_pem`].
    pub fn replace_from_pem(
        &self,
        cert_pem: &[u8],
        key_pem: &[u8],
        cert_name: &str,
        key_name: &str,
    ) -> Result<(), Error> {
        let new = Arc::new(certified_key(cert_pem, key_pem, cert_name, key_name)?);
        let mut current = match self.current.write() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        *current = new;
        Ok(())
    }

    /// A server config (h2 and http/1.1) that resolves to this certificate
    /// at each handshake.
    ///
    /// # Errors
    /// [`Error::Config`] when the crypto provider refuses the defaults.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, Error> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Config {
                source_name: "TLS".to_owned(),
                field: "(protocol versions)".to_owned(),
                message: e.to_string(),
            })?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(self.clone()));
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

impl rustls::server::ResolvesServerCert for ServerCert {
    fn resolve(&self, _: rustls::server::ClientHello<'_>) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(match self.current.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        })
    }
}

/// The certificate and key files' bytes.
fn read_pair(cert: &std::path::Path, key: &std::path::Path) -> Result<(Vec<u8>, Vec<u8>), Error> {
    let read = |p: &std::path::Path| {
        tollgate_kube::files::read_config(p).map_err(|e| Error::File {
            path: p.display().to_string(),
            message: e.to_string(),
        })
    };
    Ok((read(cert)?, read(key)?))
}

/// Parses and pairs a chain and key, checking that they belong together.
fn certified_key(
    cert_pem: &[u8],
    key_pem: &[u8],
    cert_name: &str,
    key_name: &str,
) -> Result<rustls::sign::CertifiedKey, Error> {
    let err = |src: &str, message: String| Error::Config {
        source_name: src.to_owned(),
        field: "(PEM)".to_owned(),
        message,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| err(cert_name, format!("not a PEM certificate: {e}")))?;
    if chain.is_empty() {
        return Err(err(cert_name, "contains no PEM certificate".to_owned()));
    }
    let key =
        PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| err(key_name, format!("not a PEM private key: {e}")))?;
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| err(key_name, format!("unusable private key: {e}")))?;
    let certified = rustls::sign::CertifiedKey::new(chain, signing);
    match certified.keys_match() {
        // A key whose public half the provider cannot show is checked by
        // the first handshake instead.
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(certified),
        Err(e) => Err(err(key_name, format!("does not match the certificate: {e}"))),
    }
}

/// What the listener counts (for metrics): shared by clones, so the caller
/// keeps one and reads it while `serve_with` runs.
///
/// ```
/// let stats = tollgate_proxy::ServeStats::default();
/// let mut options = tollgate_proxy::ServeOptions::default();
/// options.stats = stats.clone();
/// assert_eq!((stats.open(), stats.refused_over_limits()), (0, 0));
/// ```
#[derive(Debug, Clone, Default)]
pub struct ServeStats(Arc<StatCounters>);

#[derive(Debug, Default)]
struct StatCounters {
    open: std::sync::atomic::AtomicU64,
    over_limits: std::sync::atomic::AtomicU64,
    over_handshakes: std::sync::atomic::AtomicU64,
    handshake_failed: std::sync::atomic::AtomicU64,
    /// Connections on each worker, when connections are served by workers.
    per_worker: std::sync::OnceLock<Arc<[std::sync::atomic::AtomicUsize]>>,
}

impl ServeStats {
    /// Connections open now.
    pub fn open(&self) -> u64 {
        self.0.open.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Connections closed at once: over `max_connections` or
    /// `max_connections_per_ip`.
    pub fn refused_over_limits(&self) -> u64 {
        self.0.over_limits.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Connections closed at once: over `max_handshakes`.
    pub fn refused_over_handshakes(&self) -> u64 {
        self.0.over_handshakes.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// TLS handshakes that failed or timed out.
    pub fn handshakes_failed(&self) -> u64 {
        self.0.handshake_failed.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Connections open on each worker thread, by worker; empty when
    /// connections are not served by [`Workers`].
    pub fn per_worker(&self) -> Vec<u64> {
        self.0.per_worker.get().map_or_else(Vec::new, |counts| {
            crate::workers::read(counts).into_iter().map(|n| n as u64).collect()
        })
    }

    fn bump(counter: &std::sync::atomic::AtomicU64) {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// How the listener guards itself: what one client, or all of them, may
/// hold open.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServeOptions {
    /// How long in-flight requests may finish after shutdown begins.
    pub drain: Duration,
    /// Open connections at most, all clients together; past it new ones
    /// are closed at once.
    pub max_connections: usize,
    /// Open connections at most from one IP address.
    pub max_connections_per_ip: usize,
    /// TLS handshakes in progress at most.
    pub max_handshakes: usize,
    /// How long a TLS handshake may take.
    pub handshake_timeout: Duration,
    /// How long a client may take to send a request's headers (HTTP/1.1),
    /// and to send its first request at all once connected (both HTTP
    /// versions).
    pub header_read_timeout: Duration,
    /// How long a connection with no request in flight stays open.
    pub idle_timeout: Duration,
    /// Concurrent streams per HTTP/2 connection.
    pub max_concurrent_streams: u32,
    /// Where the listener counts connections.
    pub stats: ServeStats,
    /// Threads, one runtime each, that serve the connections (each
    /// connection on the one serving the fewest); `None`: each connection
    /// is a task of the runtime `serve_with` runs on. The threads end when
    /// `serve_with` returns, unless the caller keeps a clone.
    pub workers: Option<Workers>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            drain: Duration::from_secs(30),
            max_connections: 10_000,
            max_connections_per_ip: 1_000,
            max_handshakes: 256,
            handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(120),
            max_concurrent_streams: 250,
            stats: ServeStats::default(),
            workers: None,
        }
    }
}

impl ServeOptions {
    /// The defaults with this drain time.
    pub fn with_drain(mut self, drain: Duration) -> Self {
        self.drain = drain;
        self
    }
}

/// The open connections, by address, so one client cannot hold them all.
#[derive(Debug, Default)]
struct Conns {
    total: usize,
    by_ip: std::collections::HashMap<std::net::IpAddr, usize>,
}

/// Held by a connection's task: its place in [`Conns`], given back on drop
/// (waking a drain that waits for the last one).
struct ConnGuard {
    conns: Arc<std::sync::Mutex<Conns>>,
    ip: std::net::IpAddr,
    closed: Arc<tokio::sync::Notify>,
    stats: ServeStats,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        let mut c = self.conns.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        c.total = c.total.saturating_sub(1);
        self.stats.0.open.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        if let Some(n) = c.by_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                c.by_ip.remove(&self.ip);
            }
        }
        self.closed.notify_waiters();
    }
}

/// Serves `service` on `listener` until `shutdown` resolves, then stops
/// accepting and waits up to `drain` for in-flight requests (long-running
/// ones included) before returning. [`serve_with`] with the default
/// [`ServeOptions`].
///
/// Every request gets a [`ClientAddr`] extension.
pub async fn serve<S, B>(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    service: S,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    serve_with(
        listener,
        tls,
        service,
        shutdown,
        ServeOptions::default().with_drain(drain),
    )
    .await;
}

/// A service's error as hyper is handed it (a concrete type: hyper's
/// bounds cannot be met by a boxed one held in a future).
#[derive(Debug)]
struct ServiceError(BoxError);

impl std::fmt::Display for ServiceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for ServiceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

fn boxed<E: Into<BoxError>>(e: E) -> ServiceError {
    ServiceError(e.into())
}

/// What [`call_if_ready`] did with a request.
enum Call<S: Service<R>, R> {
    /// The connection's service was ready and took it.
    Called(S::Future),
    /// The connection's service failed its readiness check.
    Failed(ServiceError),
    /// The connection's service was not ready: a copy of it, to be
    /// driven to readiness, and the request.
    NotReady(S, R),
}

/// Calls the connection's service with `req` if it is ready now (the
/// gateway's layers always are), else hands back a copy to wait on.
fn call_if_ready<S, R>(svc: &std::sync::Mutex<S>, req: R) -> Call<S, R>
where
    S: Service<R> + Clone,
    S::Error: Into<BoxError>,
{
    let mut svc = svc.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    // Called on the connection's task: a panic in a layer's `call` fails
    // this request (its stream is reset), not every request on the
    // connection, as it did when each request had a task of its own.
    let called = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match svc.poll_ready(&mut cx) {
        std::task::Poll::Ready(Ok(())) => Ok(Call::Called(svc.call(req))),
        std::task::Poll::Ready(Err(e)) => Ok(Call::Failed(boxed(e))),
        std::task::Poll::Pending => Err(req),
    }));
    match called {
        Ok(Ok(call)) => call,
        Ok(Err(req)) => Call::NotReady(svc.clone(), req),
        Err(_) => {
            tracing::error!("a layer panicked taking a request; the request fails, the connection stays");
            Call::Failed(boxed("the gateway failed taking this request (a layer panicked)"))
        }
    }
}

/// [`serve`] with explicit limits: connections past `max_connections` (or
/// `max_connections_per_ip` from one address) and TLS handshakes past
/// `max_handshakes` are closed as soon as they are accepted; handshakes and
/// request headers have timeouts; HTTP/2 connections carry at most
/// `max_concurrent_streams` streams. A connection that sends no request
/// within `header_read_timeout` of opening, or has none in flight for
/// `idle_timeout`, is closed gracefully (HTTP/2: GOAWAY).
pub async fn serve_with<S, B>(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    service: S,
    shutdown: impl Future<Output = ()>,
    mut options: ServeOptions,
) where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let drain = options.drain;
    // Not in the copy each connection holds: a connection's task would
    // keep its own worker's thread alive.
    let workers = options.workers.take();
    if let Some(w) = &workers {
        let _ = options.stats.0.per_worker.set(w.counts());
    }
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    // Shutdown: every connection closes gracefully; the drain waits for
    // the last one.
    let (stopping_tx, stopping) = tokio::sync::watch::channel(false);
    let closed = Arc::new(tokio::sync::Notify::new());
    let conns = Arc::new(std::sync::Mutex::new(Conns::default()));
    let handshakes = Arc::new(tokio::sync::Semaphore::new(options.max_handshakes));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(options.max_concurrent_streams)
        .keep_alive_interval(Some(Duration::from_secs(30)));
    let builder = Arc::new(builder);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // One client, or all of them, past their share: closed at once.
        let guard = {
            let mut c = conns.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let mine = c.by_ip.get(&peer.ip()).copied().unwrap_or(0);
            if c.total >= options.max_connections || mine >= options.max_connections_per_ip {
                tracing::debug!(%peer, open = c.total, from_peer = mine, "connection refused: over the connection limits");
                ServeStats::bump(&options.stats.0.over_limits);
                continue;
            }
            c.total += 1;
            *c.by_ip.entry(peer.ip()).or_default() += 1;
            ServeStats::bump(&options.stats.0.open);
            ConnGuard {
                conns: conns.clone(),
                ip: peer.ip(),
                closed: closed.clone(),
                stats: options.stats.clone(),
            }
        };
        let _ = tcp.set_nodelay(true);
        // A socket is watched by the reactor of the runtime it was
        // registered with: taken off this one, it is registered again
        // where the connection runs, so a worker's readiness events are
        // its own (not every read woken across from the accepting thread).
        let tcp = match tcp.into_std() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "cannot hand the connection over");
                continue;
            }
        };
        let activity = Activity::new();
        // One copy of the stack per connection, called in place for each
        // of its requests (hyper calls from the connection's task, so the
        // lock is never contended): cloning a whole stack per request is a
        // dozen reference counts raised and dropped on cache lines every
        // worker thread shares.
        let svc = std::sync::Mutex::new(service.clone());
        let act = activity.clone();
        let svc = hyper::service::service_fn(move |mut req: Request<Incoming>| {
            let ext = req.extensions_mut();
            // Room for what the layers put in, allocated once.
            if ext.is_empty() {
                *ext = tollgate_kube::extensions_with_room();
            }
            ext.insert(ClientAddr(peer));
            let in_flight = act.start();
            let call = call_if_ready(&svc, req);
            async move {
                let res: Result<Response<B>, ServiceError> = match call {
                    Call::Called(future) => future.await.map_err(boxed),
                    Call::Failed(e) => Err(e),
                    Call::NotReady(mut svc, req) => {
                        let ready = std::future::poll_fn(|cx| svc.poll_ready(cx)).await.map_err(boxed);
                        match ready {
                            Ok(()) => svc.call(req).await.map_err(boxed),
                            Err(e) => Err(e),
                        }
                    }
                };
                res.map(|r| r.map(|b| ActivityBody::new(b, in_flight)))
            }
        });
        let builder = builder.clone();
        let acceptor = acceptor.clone();
        let stopping = stopping.clone();
        let handshakes = handshakes.clone();
        let options = options.clone();
        let conn = async move {
            let _guard = guard;
            let tcp = match tokio::net::TcpStream::from_std(tcp) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(%peer, error = %e, "cannot serve the connection here");
                    return;
                }
            };
            match acceptor {
                Some(acceptor) => {
                    let Ok(permit) = handshakes.try_acquire() else {
                        tracing::debug!(%peer, "connection refused: too many TLS handshakes in progress");
                        ServeStats::bump(&options.stats.0.over_handshakes);
                        return;
                    };
                    let stream = match tokio::time::timeout(options.handshake_timeout, acceptor.accept(tcp)).await {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            ServeStats::bump(&options.stats.0.handshake_failed);
                            return;
                        }
                        Err(_) => {
                            ServeStats::bump(&options.stats.0.handshake_failed);
                            return;
                        }
                    };
                    drop(permit);
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
                    run_connection(conn, &activity, stopping, &options, peer).await;
                }
                None => {
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(tcp), svc);
                    run_connection(conn, &activity, stopping, &options, peer).await;
                }
            }
        };
        // The TLS handshake, the requests, their HTTP/2 streams' tasks and
        // the upstream streams they take all run where the connection runs.
        match &workers {
            Some(w) => w.spawn(conn),
            None => {
                tokio::spawn(conn);
            }
        }
    }
    drop(listener);
    let _ = stopping_tx.send(true);
    let all_closed = async {
        loop {
            let wait = closed.notified();
            if conns.lock().unwrap_or_else(std::sync::PoisonError::into_inner).total == 0 {
                return;
            }
            wait.await;
        }
    };
    tokio::select! {
        () = all_closed => tracing::info!("all connections drained"),
        () = tokio::time::sleep(drain) => tracing::warn!("drain timeout; closing remaining connections"),
    }
}

/// Serves one connection until it ends, closing it gracefully when the
/// server stops or the connection is idle past its time.
async fn run_connection<C, E>(
    conn: C,
    activity: &Activity,
    mut stopping: tokio::sync::watch::Receiver<bool>,
    options: &ServeOptions,
    peer: std::net::SocketAddr,
) where
    C: Future<Output = Result<(), E>> + GracefulConnection,
    E: std::fmt::Display,
{
    tokio::pin!(conn);
    let mut closing = false;
    loop {
        let deadline = activity.deadline(options.header_read_timeout, options.idle_timeout);
        // With a request in flight, look again after the idle time.
        let wake = deadline.unwrap_or_else(|| tokio::time::Instant::now() + options.idle_timeout);
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            r = stopping.changed(), if !closing => {
                if r.is_err() || *stopping.borrow() {
                    conn.as_mut().close_gracefully();
                    closing = true;
                }
            }
            () = tokio::time::sleep_until(wake), if !closing => {
                if activity
                    .deadline(options.header_read_timeout, options.idle_timeout)
                    .is_some_and(|d| d <= tokio::time::Instant::now())
                {
                    tracing::debug!(%peer, "closing an idle connection");
                    conn.as_mut().close_gracefully();
                    closing = true;
                }
            }
        }
    }
}

/// A connection that can be asked to finish its requests and close.
trait GracefulConnection {
    fn close_gracefully(self: std::pin::Pin<&mut Self>);
}

impl<I, S, E> GracefulConnection for auto::UpgradeableConnection<'_, I, S, E>
where
    S: hyper::service::HttpService<Incoming>,
    S::Error: Into<BoxError>,
    S::ResBody: Body + Send + 'static,
    <S::ResBody as Body>::Error: Into<BoxError>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    E: hyper::rt::bounds::Http2ServerConnExec<S::Future, S::ResBody>,
{
    fn close_gracefully(self: std::pin::Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Poll};

    use super::*;

    /// Ready after `pending` polls of each copy, or failing its check.
    #[derive(Clone)]
    struct Gate {
        pending: usize,
        fail: bool,
        calls: Arc<AtomicUsize>,
    }

    impl Service<u32> for Gate {
        type Response = u32;
        type Error = std::io::Error;
        type Future = std::future::Ready<Result<u32, std::io::Error>>;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            if self.fail {
                return Poll::Ready(Err(std::io::Error::other("over capacity")));
            }
            if self.pending > 0 {
                self.pending -= 1;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, req: u32) -> Self::Future {
            self.calls.fetch_add(1, Ordering::SeqCst);
            std::future::ready(Ok(req + 1))
        }
    }

    fn gate(pending: usize, fail: bool) -> (Mutex<Gate>, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let g = Gate {
            pending,
            fail,
            calls: calls.clone(),
        };
        (Mutex::new(g), calls)
    }

    #[tokio::test]
    async fn a_ready_service_is_called_in_place_for_every_request() {
        let (svc, calls) = gate(0, false);
        for i in 0..3 {
            match call_if_ready(&svc, i) {
                Call::Called(f) => assert_eq!(f.await.unwrap(), i + 1),
                _ => panic!("a ready service was not called"),
            }
        }
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_service_not_ready_hands_back_a_copy_that_is_driven_to_readiness() {
        let (svc, calls) = gate(2, false);
        let Call::NotReady(mut copy, req) = call_if_ready(&svc, 7) else {
            panic!("a service that was not ready was called");
        };
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        std::future::poll_fn(|cx| copy.poll_ready(cx)).await.unwrap();
        assert_eq!(copy.call(req).await.unwrap(), 8);
    }

    #[derive(Clone)]
    struct Panics;

    impl Service<u32> for Panics {
        type Response = u32;
        type Error = std::io::Error;
        type Future = std::future::Ready<Result<u32, std::io::Error>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: u32) -> Self::Future {
            panic!("a bug in a layer");
        }
    }

    #[test]
    fn a_panic_in_call_fails_the_request_and_the_service_serves_on() {
        let svc = Mutex::new(Panics);
        for _ in 0..2 {
            let Call::Failed(e) = call_if_ready(&svc, 1) else {
                panic!("a panic was not turned into the request's error");
            };
            assert!(e.to_string().contains("panicked"), "{e}");
        }
        assert!(!svc.is_poisoned());
    }

    #[test]
    fn a_failed_readiness_check_is_the_requests_error() {
        let (svc, calls) = gate(0, true);
        let Call::Failed(e) = call_if_ready(&svc, 1) else {
            panic!("a failing service was called");
        };
        assert_eq!(e.to_string(), "over capacity");
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }
}
