//! The admin listener: `/livez` (and `/healthz`), `/readyz` (see
//! [`Readiness`]) and `/metrics` (OpenMetrics, or Prometheus' 0.0.4 text
//! when the scrape asks for it: see `docs/metrics.md`), kept apart from
//! the API.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::StartError;
use tollgate_metrics::{Format, Metrics, Readiness};

async fn answer(req: &Request<Incoming>, ready: &Readiness, metrics: &Metrics) -> Response<Full<Bytes>> {
    if req.uri().path() == "/metrics" {
        let accept = req.headers().get(http::header::ACCEPT).and_then(|v| v.to_str().ok());
        let (content_type, text) = metrics.encode(Format::from_accept(accept));
        let mut res = Response::new(Full::new(Bytes::from(text)));
        res.headers_mut()
            .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(content_type));
        return res;
    }
    let (code, text) = match req.uri().path() {
        "/healthz" | "/livez" => (StatusCode::OK, "ok".to_owned()),
        "/readyz" => {
            let verbose = req
                .uri()
                .query()
                .is_some_and(|q| q.split('&').any(|p| p == "verbose" || p.starts_with("verbose=")));
            match ready.answer(verbose).await {
                (true, text) => (StatusCode::OK, text),
                (false, text) => (StatusCode::SERVICE_UNAVAILABLE, text),
            }
        }
        _ => (StatusCode::NOT_FOUND, "not found".to_owned()),
    };
    let mut res = Response::new(Full::new(Bytes::from(text)));
    *res.status_mut() = code;
    res
}

/// Binds and serves the admin endpoints (plain HTTP/1.1).
///
/// # Errors
/// When the address cannot be bound.
pub async fn start(
    addr: SocketAddr,
    ready: Arc<Readiness>,
    metrics: Arc<Metrics>,
) -> Result<(SocketAddr, JoinHandle<()>), StartError> {
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
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let (ready, metrics) = (ready.clone(), metrics.clone());
                    async move { Ok::<_, Infallible>(answer(&req, &ready, &metrics).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    Ok((bound, task))
}
