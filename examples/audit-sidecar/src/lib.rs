//! An audit sidecar: every request to the API server recorded as
//! Kubernetes audit events (`audit.k8s.io/v1`) in a JSON-lines file,
//! before it is forwarded — no authentication, no policy, no masking.
//!
//! The order is the point:
//!
//! - `AuditLayer` is outermost, so even what `RequestInfoLayer` refuses (an
//!   over-long URI, a body over the limit) is on record.
//! - `RequestInfoLayer` parses the request the way the API server does;
//!   the records name the verb, resource, namespace and name from it.
//! - `RecordLayer` writes `RequestReceived` and waits for the sink to
//!   confirm it before the request goes on (a request that cannot be
//!   recorded is refused with 503, never forwarded unrecorded), then the
//!   `ResponseComplete` stage.
//! - The [`Proxy`] forwards with the upstream kubeconfig's credentials.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let running = tollgate_example_audit_sidecar::serve(
//!     "upstream.kubeconfig".as_ref(),
//!     "audit.log".as_ref(),
//!     "127.0.0.1:8002".parse()?,
//! )
//! .await?;
//! println!("listening on http://{}", running.addr);
//! # Ok(()) }
//! ```

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use tollgate_audit::{AuditLayer, AuditPolicy, FileOptions, FileSink, Level, Recorder, RecorderOptions};
use tollgate_kube::RequestInfoLayer;
use tollgate_proxy::{Proxy, Upstream};
use tower::ServiceBuilder;

/// A running sidecar.
#[derive(Debug)]
pub struct Running {
    /// Where it listens (plain HTTP: loopback only).
    pub addr: SocketAddr,
    /// Stops it.
    pub stop: tokio::sync::oneshot::Sender<()>,
    /// Ends when it has stopped.
    pub task: tokio::task::JoinHandle<()>,
}

/// Records every request at `Request` level (bodies included) into `log`
/// and forwards it to the cluster of `upstream_kubeconfig`.
///
/// # Errors
/// A message naming the file or address that is wrong.
pub async fn serve(upstream_kubeconfig: &Path, log: &Path, listen: SocketAddr) -> Result<Running, String> {
    if !listen.ip().is_loopback() {
        return Err(format!(
            "{listen}: the example serves plain HTTP, on loopback addresses only"
        ));
    }
    let upstream = Upstream::from_kubeconfig(upstream_kubeconfig, None).map_err(|e| e.to_string())?;
    let sink = FileSink::open(log, FileOptions::default()).map_err(|e| format!("{}: {e}", log.display()))?;
    let recorder = Recorder::new(sink, RecorderOptions::default());
    let audit = AuditLayer::builder(recorder)
        .policy(AuditPolicy::everything(Level::Request))
        .build();
    let stack = ServiceBuilder::new()
        .layer(audit.clone())
        .layer(RequestInfoLayer::new())
        .layer(audit.record_layer())
        .service(Proxy::builder(upstream).build());
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("binding {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(tollgate_proxy::serve(
        listener,
        None,
        stack,
        async {
            let _ = stopped.await;
        },
        Duration::from_secs(5),
    ));
    Ok(Running { addr, stop, task })
}
