//! The admin listener: `/livez` (and `/healthz`), `/readyz` (see
//! [`Readiness`]) and `/metrics` (Prometheus text: the audit recorder's
//! counters), kept apart from the API.

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
use crate::readiness::Readiness;

/// The audit counters in Prometheus' text format.
fn metrics(recorder: Option<&tollgate_audit::Recorder>) -> String {
    let Some(r) = recorder else {
        return "# HELP tollgate_audit_enabled Whether requests are recorded.\n# TYPE tollgate_audit_enabled gauge\ntollgate_audit_enabled 0\n".to_owned();
    };
    let s = r.stats();
    let mut out = String::new();
    for (name, help, kind, value) in [
        ("tollgate_audit_enabled", "Whether requests are recorded.", "gauge", 1),
        (
            "tollgate_audit_healthy",
            "Whether the last batch of records was written.",
            "gauge",
            u64::from(r.is_healthy()),
        ),
        (
            "tollgate_audit_records_written_total",
            "Audit records the sinks confirmed.",
            "counter",
            s.written,
        ),
        (
            "tollgate_audit_records_failed_total",
            "Audit records that could not be queued or written (each also logged).",
            "counter",
            s.failed,
        ),
        (
            "tollgate_audit_requests_refused_total",
            "Requests refused because their audit record could not be written.",
            "counter",
            s.refused,
        ),
        (
            "tollgate_audit_batches_total",
            "Batches written to the sinks.",
            "counter",
            s.batches,
        ),
    ] {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"));
    }
    out
}

async fn answer(
    req: &Request<Incoming>,
    ready: &Readiness,
    recorder: Option<&tollgate_audit::Recorder>,
) -> Response<Full<Bytes>> {
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
        "/metrics" => (StatusCode::OK, metrics(recorder)),
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
    recorder: Option<tollgate_audit::Recorder>,
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
            let recorder = recorder.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let (ready, recorder) = (ready.clone(), recorder.clone());
                    async move { Ok::<_, Infallible>(answer(&req, &ready, recorder.as_ref()).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    Ok((bound, task))
}
