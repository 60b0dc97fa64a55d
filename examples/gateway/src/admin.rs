//! The admin listener: `/healthz` and `/readyz`, kept apart from the API.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::StartError;

fn answer(req: &Request<Incoming>, ready: &AtomicBool) -> Response<Full<Bytes>> {
    let (code, text) = match req.uri().path() {
        "/healthz" | "/livez" => (StatusCode::OK, "ok"),
        "/readyz" if ready.load(Ordering::SeqCst) => (StatusCode::OK, "ok"),
        "/readyz" => (StatusCode::SERVICE_UNAVAILABLE, "shutting down"),
        _ => (StatusCode::NOT_FOUND, "not found"),
    };
    let mut res = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *res.status_mut() = code;
    res
}

/// Binds and serves the admin endpoints (plain HTTP/1.1).
///
/// # Errors
/// When the address cannot be bound.
pub async fn start(addr: SocketAddr, ready: Arc<AtomicBool>) -> Result<(SocketAddr, JoinHandle<()>), StartError> {
    let listener = TcpListener::bind(addr).await.map_err(|source| StartError::Io {
        what: format!("binding admin.listen {addr}"),
        source,
    })?;
    let bound = listener.local_addr().map_err(|source| StartError::Io {
        what: "reading the admin address".to_owned(),
        source,
    })?;
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let ready = ready.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let res = answer(&req, &ready);
                    async move { Ok::<_, Infallible>(res) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    Ok((bound, task))
}
