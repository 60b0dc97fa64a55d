//! The policy layer's preflight client (feature `preflight`): dry runs
//! through the gateway's own proxy, so they reach the API server as the
//! request's identity (impersonated) over the same connection.

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full, Limited};
use tollgate_rules::{Preflight, PreflightFuture};
use tower_service::Service;

use crate::Proxy;

/// The most bytes of a dry run's answer read (the object it would store).
const MAX_ANSWER_BYTES: usize = 8 * 1024 * 1024;

/// [`Preflight`] over a [`Proxy`].
#[derive(Debug, Clone)]
pub struct ProxyPreflight {
    proxy: Proxy,
}

impl ProxyPreflight {
    /// Dry runs through `proxy`.
    pub fn new(proxy: Proxy) -> Self {
        ProxyPreflight { proxy }
    }
}

impl Preflight for ProxyPreflight {
    fn dry_run(&self, req: Request<Bytes>) -> PreflightFuture {
        let mut proxy = self.proxy.clone();
        Box::pin(async move {
            // The proxy is always ready (its pools grow as needed).
            let res = match proxy.call(req.map(Full::new)).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            let (parts, body) = res.into_parts();
            let bytes = Limited::new(body, MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|e| format!("reading the dry run's answer: {e}"))?
                .to_bytes();
            Ok(Response::from_parts(parts, bytes))
        })
    }
}
