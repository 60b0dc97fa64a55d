//! The smallest useful Tollgate stack: a reverse proxy in front of the API
//! server that parses every request the way the API server does
//! ([`RequestInfoLayer`]) and applies a policy file ([`PolicyLayer`]) —
//! no OIDC, no audit, no masking. It shows what each layer needs from the
//! ones above it:
//!
//! - `PolicyLayer` reads the [`RequestInfo`](tollgate_kube::RequestInfo)
//!   and body that `RequestInfoLayer` puts into the request's extensions,
//!   and the [`Identity`] rules match users, groups and owners against.
//! - The identity here comes from a trusted front proxy (an SSO proxy on
//!   the same host): `X-Remote-User` and `X-Remote-Group` headers, believed
//!   only from a loopback peer. Anyone else — and a loopback client that
//!   sends no such header — is `system:anonymous`, which the proxy
//!   impersonates upstream, so the cluster's RBAC still decides.
//! - The [`Proxy`] forwards with the upstream kubeconfig's credentials and
//!   `Impersonate-*` headers for the identity; it refuses clients'
//!   own `Impersonate-*` headers.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let stack = tollgate_example_policy_only::Stack::load(
//!     "upstream.kubeconfig".as_ref(),
//!     "policy.yaml".as_ref(),
//! )?;
//! let running = stack.serve("127.0.0.1:8001".parse()?).await?;
//! println!("listening on http://{}", running.addr);
//! # Ok(()) }
//! ```

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use http::Request;
use tollgate_kube::{Identity, RequestInfoLayer};
use tollgate_proxy::{ClientAddr, Proxy, Upstream};
use tollgate_rules::{PolicyLayer, PolicyStore};
use tower::ServiceBuilder;
use tower::util::MapRequestLayer;

/// The header naming the user, set by the trusted front proxy.
pub const REMOTE_USER: &str = "x-remote-user";
/// The header naming a group (repeated, or comma-separated).
pub const REMOTE_GROUP: &str = "x-remote-group";

/// The identity of a request: from the front proxy's headers when the peer
/// is on this host, else anonymous. The headers are removed either way, so
/// they never reach the API server.
pub fn identify<B>(mut req: Request<B>) -> Request<B> {
    let trusted = req
        .extensions()
        .get::<ClientAddr>()
        .is_some_and(|ClientAddr(a)| a.ip().is_loopback());
    let h = req.headers();
    let user = h.get(REMOTE_USER).and_then(|v| v.to_str().ok()).map(str::trim);
    let who = match user {
        Some(user) if trusted && !user.is_empty() => {
            let mut who = Identity::new(user);
            who.groups = h
                .get_all(REMOTE_GROUP)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .map(str::trim)
                .filter(|g| !g.is_empty())
                .map(str::to_owned)
                .collect();
            who.groups.push("system:authenticated".to_owned());
            who
        }
        _ => Identity::anonymous(),
    };
    req.headers_mut().remove(REMOTE_USER);
    req.headers_mut().remove(REMOTE_GROUP);
    req.extensions_mut().insert(who);
    req
}

/// What the example runs: the upstream and the policy.
#[derive(Debug)]
pub struct Stack {
    proxy: Proxy,
    policy: PolicyStore,
}

/// A running example.
#[derive(Debug)]
pub struct Running {
    /// Where it listens (plain HTTP: loopback only).
    pub addr: SocketAddr,
    /// Stops it.
    pub stop: tokio::sync::oneshot::Sender<()>,
    /// Ends when it has stopped.
    pub task: tokio::task::JoinHandle<()>,
}

impl Stack {
    /// Reads the upstream kubeconfig and the policy file.
    ///
    /// # Errors
    /// A message naming the file and what is wrong with it.
    pub fn load(upstream_kubeconfig: &Path, policy: &Path) -> Result<Stack, String> {
        let upstream = Upstream::from_kubeconfig(upstream_kubeconfig, None).map_err(|e| e.to_string())?;
        let policy = PolicyStore::load_file(policy).map_err(|e| e.to_string())?;
        Ok(Stack {
            proxy: Proxy::builder(upstream).build(),
            policy: PolicyStore::new(policy),
        })
    }

    /// Serves on `listen` (which must be a loopback address: the example
    /// speaks plain HTTP) until the returned handle is stopped.
    ///
    /// # Errors
    /// When `listen` is not loopback or cannot be bound.
    pub async fn serve(self, listen: SocketAddr) -> Result<Running, String> {
        if !listen.ip().is_loopback() {
            return Err(format!(
                "{listen}: the example serves plain HTTP, on loopback addresses only"
            ));
        }
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| format!("binding {listen}: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        // Order matters: the identity and the parsed request must be in the
        // extensions before the policy reads them.
        let stack = ServiceBuilder::new()
            .layer(MapRequestLayer::new(identify))
            .layer(RequestInfoLayer::new())
            .layer(PolicyLayer::new(self.policy))
            .service(self.proxy);
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(peer: &str, user: Option<&str>) -> Identity {
        let mut b = Request::get("/api");
        if let Some(u) = user {
            b = b.header(REMOTE_USER, u).header(REMOTE_GROUP, "a, b");
        }
        let mut req = b.body(()).unwrap();
        req.extensions_mut().insert(ClientAddr(peer.parse().unwrap()));
        let req = identify(req);
        assert!(!req.headers().contains_key(REMOTE_USER));
        req.extensions().get::<Identity>().cloned().unwrap()
    }

    #[test]
    fn the_front_proxy_is_believed_from_loopback_only() {
        let who = from("127.0.0.1:5000", Some("alice"));
        assert_eq!(who.username, "alice");
        assert_eq!(who.groups, ["a", "b", "system:authenticated"]);
        assert_eq!(from("[::1]:5000", Some("alice")).username, "alice");
        // Another host claiming to be alice is anonymous.
        assert_eq!(from("10.0.0.7:5000", Some("alice")).username, "system:anonymous");
        assert_eq!(from("127.0.0.1:5000", None).username, "system:anonymous");
        assert_eq!(from("127.0.0.1:5000", Some(" ")).username, "system:anonymous");
    }
}
