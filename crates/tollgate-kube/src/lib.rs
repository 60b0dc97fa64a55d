//! The Kubernetes request model for Tollgate.
//!
//! - [`RequestInfo`]: what a request means to the API server (verb, group,
//!   version, namespace, resource, subresource, name), parsed with the API
//!   server's own rules;
//! - [`RequestBody`]: the buffered request body, its [`BodyFormat`] and a
//!   lazily decoded JSON view;
//! - [`RequestInfoLayer`]: the tower layer that puts both into every
//!   request's extensions and refuses what the API server would refuse;
//! - [`Status`] and [`warning_header`]: answers kubectl prints;
//! - [`Notes`]: what inner layers learned about a request, for an outer
//!   layer (the audit record) to read;
//! - [`ResponseBody`]: either the inner service's body or a `Status`, the
//!   body type every Tollgate layer that can refuse a request returns.
//!
//! ```
//! use std::convert::Infallible;
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use http_body_util::Full;
//! use tower::{ServiceBuilder, ServiceExt};
//! use tollgate_kube::{RequestBody, RequestInfo, RequestInfoLayer};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let svc = ServiceBuilder::new()
//!     .layer(RequestInfoLayer::new())
//!     .service_fn(|req: Request<Full<Bytes>>| async move {
//!         let info = req.extensions().get::<RequestInfo>().unwrap();
//!         let body = req.extensions().get::<RequestBody>().unwrap();
//!         let text = format!("{} {} {}", info.verb, info.resource, body.bytes().len());
//!         Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(text))))
//!     });
//! let req = Request::post("/api/v1/namespaces/a/pods").body(Full::new(Bytes::from_static(b"{}")))?;
//! let res = svc.oneshot(req).await?;
//! assert_eq!(res.status(), 200);
//! # Ok(()) }
//! ```

mod audit_id;
mod body;
#[cfg(feature = "cel")]
pub mod cel;
mod command;
mod config_error;
mod error;
mod extensions;
pub mod files;
mod identity;
pub mod json_text;
pub mod limits;
pub mod log_context;
mod notes;
pub mod protobuf;
mod request_info;
mod response_body;
pub mod spdy;
mod status;
pub mod table;
mod take_ready;
pub mod time;
pub mod websocket;

pub use audit_id::AuditId;
pub use body::{
    BodyBudget, BodyFormat, PROTOBUF_MAGIC, RequestBody, Reservation, check_json_patch, json_to_yaml, yaml_to_json,
};
pub use command::command_line;
pub use config_error::{ConfigError, from_yaml, rebase};
pub use error::{Error, Side};
pub use extensions::{extensions_with_room, get_shared, insert_shared};
pub use identity::{Identity, ImpersonationKey, Mask, Owner, Pattern};
pub use notes::{Notes, UpstreamLatency, note};
pub use request_info::{Query, RequestInfo};
#[cfg(feature = "layer")]
pub use request_info::{RequestInfoLayer, RequestInfoService, ResponseFuture};
pub use response_body::ResponseBody;
pub use status::{MissingLayer, Reason, Status, StatusCause, StatusDetails, WARNING, warning_header};
pub use take_ready::take_ready;

/// The default bound on a buffered request body: 3 MiB, the API server's own
/// limit for most requests.
pub const DEFAULT_MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// Whether a request asks to switch protocols (`Connection: upgrade` plus an
/// `Upgrade` header): exec, attach and port-forward over WebSocket or SPDY.
///
/// ```
/// let req = http::Request::get("/x")
///     .header("connection", "Upgrade")
///     .header("upgrade", "websocket")
///     .body(())?;
/// assert!(tollgate_kube::is_upgrade_request(&req));
/// # Ok::<_, http::Error>(())
/// ```
pub fn is_upgrade_request<B>(req: &http::Request<B>) -> bool {
    req.headers().contains_key(http::header::UPGRADE)
        && req
            .headers()
            .get_all(http::header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}
