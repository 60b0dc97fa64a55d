//! Forwarding to the Kubernetes API server.
//!
//! - [`Upstream`]: the API server from a kubeconfig (file + context) or
//!   in-cluster, with the gateway's own credentials;
//! - [`Proxy`]: the innermost tower service, forwarding with header
//!   hygiene, impersonation, streaming and upgrade tunnels;
//! - [`Tap`] / [`TunnelTap`]: observe exec/attach/port-forward bytes
//!   without touching the tunnel;
//! - [`serve`]: the listener (TLS, HTTP/1.1 + HTTP/2, graceful drain);
//! - [`no_transparent_huge_pages`]: for a server binary whose allocator
//!   asks for huge pages (mimalloc), what the `tollgate` binary does.
//!
//! ```no_run
//! use std::time::Duration;
//! use tower::ServiceBuilder;
//! use tollgate_kube::RequestInfoLayer;
//! use tollgate_proxy::{Proxy, Upstream, serve};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let upstream = Upstream::from_kubeconfig("kubeconfig".as_ref(), None)?;
//! let stack = ServiceBuilder::new()
//!     .layer(RequestInfoLayer::new())
//!     .service(Proxy::builder(upstream).build());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8443").await?;
//! serve(listener, None, stack, std::future::pending(), Duration::from_secs(30)).await;
//! # Ok(()) }
//! ```

mod client;
mod error;
mod forwarded;
mod headers;
mod idle;
mod kubeconfig;
mod limits;
mod memory;
#[cfg(feature = "preflight")]
mod preflight;
mod probe;
mod proxy;
mod server;
mod tunnel;
mod upstream;
mod workers;

pub use client::{Client, ClientResponse, MAX_RESPONSE_BYTES};
pub use error::Error;
pub use forwarded::{TrustForwarded, TrustForwardedLayer, TrustedProxy};
pub use headers::{ClientAddr, Impersonation};
pub use kubeconfig::kubeconfig_files;
pub use limits::LimitsConfig;
pub use memory::no_transparent_huge_pages;
#[cfg(feature = "preflight")]
pub use preflight::ProxyPreflight;
pub use probe::UpstreamProbe;
pub use proxy::{
    DEFAULT_MAX_LONG_RUNNING, Proxy, ProxyBuilder, Refused, ResponseFuture, UpstreamBody, UpstreamIdentity,
};
pub use server::{ServeOptions, ServeStats, ServerCert, serve, serve_with, server_tls_from_pem};
pub use tunnel::{Tap, TunnelStats, TunnelTap, TunnelTotals};
pub use upstream::Upstream;
pub use workers::{MAX_WORKERS, WorkerCount, Workers};
