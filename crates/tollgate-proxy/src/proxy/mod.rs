//! The innermost service: forwards a request to the API server. See [`Proxy`].

mod connections;
mod future;
mod long_running;
mod per_worker;
mod service;
mod upstream_body;

pub use future::ResponseFuture;
pub(crate) use service::error_chain;
pub use service::{DEFAULT_MAX_LONG_RUNNING, Proxy, ProxyBuilder, Refused, UpstreamIdentity};
pub use upstream_body::UpstreamBody;

use std::sync::atomic::{AtomicUsize, Ordering};

/// Adds one to `count` if it is below `limit`; whether it did.
fn increment_below(count: &AtomicUsize, limit: usize) -> bool {
    count
        .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |n| (n < limit).then_some(n + 1))
        .is_ok()
}
