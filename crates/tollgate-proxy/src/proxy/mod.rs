//! The innermost service: forwards a request to the API server. See [`Proxy`].

mod connections;
mod future;
mod long_running;
mod service;

pub use future::ResponseFuture;
pub use long_running::UpstreamBody;
pub(crate) use service::error_chain;
pub use service::{DEFAULT_MAX_LONG_RUNNING, Proxy, ProxyBuilder, Refused, UpstreamIdentity};
