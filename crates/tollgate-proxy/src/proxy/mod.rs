//! The innermost service: forwards a request to the API server.
//!
//! What it does to each request:
//! - strips hop-by-hop headers and every header that carries identity
//!   (`Authorization`, `Impersonate-*`, `X-Remote-*`), so a client can never
//!   choose how the API server sees it;
//! - adds the gateway's own credentials, and `Impersonate-*` for the
//!   [`Impersonation`](crate::Impersonation) an inner layer decided;
//! - replaces `Audit-ID` with the gateway's own ([`AuditId`](crate::AuditId)
//!   from the extensions, or a fresh one) and appends the client to
//!   `X-Forwarded-For`;
//! - streams the response back as it arrives (watch, `logs -f`, large
//!   lists); no timeout once long-running requests are under way;
//! - tunnels upgrades (WebSocket GET, SPDY POST) byte for byte, showing
//!   the bytes to a [`TunnelTap`](crate::TunnelTap) if one is in the
//!   extensions;
//! - answers upstream failures with a `Status`: 503 unreachable, 502 TLS
//!   or protocol failure, 504 timeout.
//!
//! ```no_run
//! use std::time::Duration;
//! use tollgate_proxy::{Proxy, Upstream};
//!
//! let upstream = Upstream::from_kubeconfig("kubeconfig".as_ref(), None)?;
//! let proxy = Proxy::builder(upstream)
//!     .connect_timeout(Duration::from_secs(5))
//!     .response_timeout(Duration::from_secs(60))
//!     .build();
//! # let _ = proxy;
//! # Ok::<_, tollgate_proxy::Error>(())
//! ```

mod future;
mod service;

pub use future::ResponseFuture;
pub use service::{Proxy, ProxyBuilder};
