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
use hyper_util::server::graceful::GracefulShutdown;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tower_service::Service;

use crate::{ClientAddr, Error};

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
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| err(cert_name, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| err(key_name, format!("does not match the certificate: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// How the listener guards itself: what one client, or all of them, may
/// hold open.
#[derive(Debug, Clone, Copy)]
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
    /// How long a client may take to send a request's headers (HTTP/1.1).
    pub header_read_timeout: Duration,
    /// Concurrent streams per HTTP/2 connection.
    pub max_concurrent_streams: u32,
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
            max_concurrent_streams: 250,
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

/// Held by a connection's task: its place in [`Conns`], given back on drop.
struct ConnGuard {
    conns: Arc<std::sync::Mutex<Conns>>,
    ip: std::net::IpAddr,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        let mut c = self.conns.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.by_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                c.by_ip.remove(&self.ip);
            }
        }
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

/// [`serve`] with explicit limits: connections past `max_connections` (or
/// `max_connections_per_ip` from one address) and TLS handshakes past
/// `max_handshakes` are closed as soon as they are accepted; handshakes and
/// request headers have timeouts; HTTP/2 connections carry at most
/// `max_concurrent_streams` streams.
pub async fn serve_with<S, B>(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    service: S,
    shutdown: impl Future<Output = ()>,
    options: ServeOptions,
) where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let drain = options.drain;
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let graceful = GracefulShutdown::new();
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
                continue;
            }
            c.total += 1;
            *c.by_ip.entry(peer.ip()).or_default() += 1;
            ConnGuard {
                conns: conns.clone(),
                ip: peer.ip(),
            }
        };
        let _ = tcp.set_nodelay(true);
        let svc = service.clone();
        let svc = hyper::service::service_fn(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(ClientAddr(peer));
            let mut svc = svc.clone();
            async move {
                std::future::poll_fn(|cx| svc.poll_ready(cx)).await?;
                svc.call(req).await
            }
        });
        let builder = builder.clone();
        let acceptor = acceptor.clone();
        let watcher = graceful.watcher();
        let handshakes = handshakes.clone();
        tokio::spawn(async move {
            let _guard = guard;
            match acceptor {
                Some(acceptor) => {
                    let Ok(permit) = handshakes.try_acquire() else {
                        tracing::debug!(%peer, "connection refused: too many TLS handshakes in progress");
                        return;
                    };
                    let stream = match tokio::time::timeout(options.handshake_timeout, acceptor.accept(tcp)).await {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => return,
                    };
                    drop(permit);
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
                    if let Err(e) = watcher.watch(conn.into_owned()).await {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                }
                None => {
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(tcp), svc);
                    if let Err(e) = watcher.watch(conn.into_owned()).await {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                }
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections drained"),
        () = tokio::time::sleep(drain) => tracing::warn!("drain timeout; closing remaining connections"),
    }
}
