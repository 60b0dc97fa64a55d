//! Just-in-time approval of single Kubernetes API requests.
//!
//! - [`fingerprint`]: exactly what an approval covers — the identity, the
//!   verb, the object, the query parameters that change meaning, and the
//!   body in a normal form; a grant covers that request and nothing else;
//! - [`Approval`] and its [`State`]s: pending → approved | denied |
//!   expired; approved → consumed (single use, or the rule's `uses`);
//! - [`ApprovalStore`] (atomic transitions, waiting without polling) and
//!   [`MemoryStore`] for one replica, [`RedisStore`] for several (feature `redis`, on by default);
//! - [`ApprovalLayer`]: holds a request the policy marked
//!   `require_approval`, answers 429 with `Retry-After` while pending (so
//!   kubectl and client-go retry by themselves) or 403 when denied, and
//!   serves the approvals API (`/tollgate/v1/approvals`).

mod approval;
#[cfg(feature = "cli")]
pub mod cli;
pub mod config;
mod fingerprint;
mod layer;
mod notify;
#[cfg(feature = "redis")]
mod redis;
mod store;

pub use approval::{
    Approval, Approvers, MAX_PENDING_PER_REQUESTER, MAX_STORED_BODY_BYTES, Person, RequestSummary, State, Vote,
};
pub use fingerprint::{IGNORED_QUERY_PARAMETERS, fingerprint};
pub use layer::{API_PREFIX, ApprovalLayer, ApprovalService, ResponseFuture};
pub use notify::{Notifier, NotifyEvent, WebhookNotifier, notification_text};
#[cfg(feature = "redis")]
pub use redis::RedisStore;
pub use store::{ApprovalStore, MemoryStore, StoreError, check_approver};

pub(crate) use layer::now;

/// Decodes one RESP2 reply (what Redis answers) from `bytes`; how many
/// bytes it took, or `None` when they are not one whole, valid reply. For
/// the fuzz target: the store's parser of network input, without a socket.
///
/// ```
/// assert_eq!(tollgate_approval::decode_resp_reply(b":42\r\n"), Some(5));
/// assert_eq!(tollgate_approval::decode_resp_reply(b"$9\r\nshort\r\n"), None);
/// ```
#[cfg(feature = "redis")]
pub fn decode_resp_reply(bytes: &[u8]) -> Option<usize> {
    let mut r = bytes;
    let done = futures_util::FutureExt::now_or_never(redis::read_reply(&mut r))?;
    done.ok().map(|_| bytes.len() - r.len())
}
