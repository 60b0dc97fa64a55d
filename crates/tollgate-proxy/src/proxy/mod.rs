//! The innermost service: forwards a request to the API server. See [`Proxy`].

mod future;
mod service;

pub use future::ResponseFuture;
pub use service::{Proxy, ProxyBuilder, UpstreamIdentity};
