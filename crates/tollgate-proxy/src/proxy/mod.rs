//! The innermost service: forwards a request to the API server. See [`Proxy`].

mod future;
mod service;

pub use future::ResponseFuture;
pub(crate) use service::error_chain;
pub use service::{Proxy, ProxyBuilder, Refused, UpstreamIdentity};
