//! Who the client is, as far as a header can say: `X-Forwarded-For`,
//! `X-Real-Ip` and `Forwarded` are a client's own claims unless the peer
//! that sent them is a proxy the operator trusts. [`TrustForwardedLayer`]
//! drops them from every other peer, so a client cannot choose the first
//! `sourceIPs` entry of the gateway's records or of the cluster's (the proxy
//! appends the real peer address to what is left).
//!
//! ```
//! use tollgate_proxy::{TrustForwardedLayer, TrustedProxy};
//! let layer = TrustForwardedLayer::new(vec!["10.0.0.0/8".parse::<TrustedProxy>()?]);
//! # let _ = layer;
//! # Ok::<_, String>(())
//! ```

use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::Request;
use tower_layer::Layer;
use tower_service::Service;

use crate::ClientAddr;

/// The headers through which a client could claim another address.
const CLAIMS: [&str; 3] = ["x-forwarded-for", "x-real-ip", "forwarded"];

/// An address or network (`10.0.0.5`, `10.0.0.0/8`, `fd00::/8`) whose peers
/// may tell the client's address. In a configuration file, a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct TrustedProxy {
    net: IpAddr,
    prefix: u8,
}

impl TrustedProxy {
    /// Whether `ip` is in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            // An IPv4 peer on an IPv6 socket.
            (IpAddr::V4(_), IpAddr::V6(a)) => a.to_ipv4_mapped().is_some_and(|a4| self.contains(IpAddr::V4(a4))),
            (IpAddr::V6(_), IpAddr::V4(_)) => false,
        }
    }
}

impl TryFrom<String> for TrustedProxy {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl FromStr for TrustedProxy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (ip, prefix) = match s.split_once('/') {
            Some((ip, p)) => (ip, Some(p)),
            None => (s, None),
        };
        let net: IpAddr = ip
            .trim()
            .parse()
            .map_err(|_| format!("{s:?} is not an IP address or CIDR network"))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {max}"))?,
        };
        Ok(TrustedProxy { net, prefix })
    }
}

/// Drops client-sent forwarding headers unless the peer is trusted.
#[derive(Debug, Clone, Default)]
pub struct TrustForwardedLayer {
    trusted: Arc<Vec<TrustedProxy>>,
}

impl TrustForwardedLayer {
    /// Trusts the forwarding headers of peers in `trusted` (none by default).
    pub fn new(trusted: Vec<TrustedProxy>) -> Self {
        TrustForwardedLayer {
            trusted: Arc::new(trusted),
        }
    }
}

impl<S> Layer<S> for TrustForwardedLayer {
    type Service = TrustForwarded<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TrustForwarded {
            inner,
            trusted: self.trusted.clone(),
        }
    }
}

/// The service made by [`TrustForwardedLayer`].
#[derive(Debug, Clone)]
pub struct TrustForwarded<S> {
    inner: S,
    trusted: Arc<Vec<TrustedProxy>>,
}

impl<S, B> Service<Request<B>> for TrustForwarded<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let trusted = req
            .extensions()
            .get::<ClientAddr>()
            .is_some_and(|ClientAddr(peer)| self.trusted.iter().any(|t| t.contains(peer.ip())));
        if !trusted {
            for h in CLAIMS {
                req.headers_mut().remove(h);
            }
        }
        self.inner.call(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks() {
        let t: TrustedProxy = "10.0.0.0/8".parse().unwrap();
        assert!(t.contains("10.1.2.3".parse().unwrap()));
        assert!(!t.contains("11.0.0.1".parse().unwrap()));
        assert!(t.contains("::ffff:10.0.0.1".parse().unwrap()));
        let one: TrustedProxy = "127.0.0.1".parse().unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()) && !one.contains("127.0.0.2".parse().unwrap()));
        let all: TrustedProxy = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        assert!(
            "fd00::/8"
                .parse::<TrustedProxy>()
                .unwrap()
                .contains("fd12::1".parse().unwrap())
        );
        assert!("10.0.0.0/33".parse::<TrustedProxy>().unwrap_err().contains("0 to 32"));
        assert!("proxy".parse::<TrustedProxy>().is_err());
    }
}
