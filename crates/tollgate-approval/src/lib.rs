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
mod redis_store;
mod store;

pub use approval::{
    Approval, Approvers, MAX_PENDING_PER_REQUESTER, MAX_STORED_BODY_BYTES, Person, RequestSummary, State, Vote,
};
pub use fingerprint::{IGNORED_QUERY_PARAMETERS, fingerprint};
pub use layer::{API_PREFIX, ApprovalLayer, ApprovalService, ResponseFuture};
pub use notify::{
    ATTEMPTS, Format, Hints, Notifier, NotifyEvent, NotifyStats, SIGNATURE_HEADER, WebhookNotifier, notification_text,
    signature,
};
/// The notification bodies (Slack, Teams, JSON), for receivers' tests.
pub use notify::{body as notification_body, slack_escape};
/// The Redis URL forms ([`RedisStore`]): parsed and checked before anything
/// connects.
#[cfg(feature = "redis")]
pub use redis_store::target as redis_url;
#[cfg(feature = "redis")]
pub use redis_store::{RedisOptions, RedisStore};
pub use store::{ApprovalStore, MemoryStore, StoreError, check_approver};

pub(crate) use layer::now;
