//! Notifications: approvers hear of new requests, requesters of decisions.
//! A [`Notifier`] is a hook; [`WebhookNotifier`] POSTs to a receiver — a
//! URL (Slack, Teams, any HTTPS endpoint, trusted through the system's
//! certificate store or a given CA) or a kubeconfig-format file (its
//! server, CA and credentials) — in the receiver's [`Format`], signed with
//! HMAC-SHA256 when it has a secret, retried, counted.

mod format;
mod webhook;

pub use format::{Format, Hints, body, notification_text, slack_escape};
pub use webhook::{ATTEMPTS, NotifyStats, SIGNATURE_HEADER, WebhookNotifier, signature};

use crate::Approval;

/// What happened to an approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotifyEvent {
    /// A request is waiting for approvers.
    Requested,
    /// An approver approved (possibly not yet enough of them).
    Approved,
    /// An approver denied.
    Denied,
}

impl NotifyEvent {
    /// The name in notifications.
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyEvent::Requested => "requested",
            NotifyEvent::Approved => "approved",
            NotifyEvent::Denied => "denied",
        }
    }
}

/// Hears about approvals. Implementations must not block: the call is on
/// the request path.
///
/// ```
/// use tollgate_approval::{Approval, Notifier, NotifyEvent};
/// #[derive(Debug)]
/// struct Log;
/// impl Notifier for Log {
///     fn notify(&self, event: NotifyEvent, a: &Approval) {
///         eprintln!("{} {}", event.as_str(), a.id);
///     }
/// }
/// ```
pub trait Notifier: Send + Sync + std::fmt::Debug + 'static {
    /// Something happened to `a`.
    fn notify(&self, event: NotifyEvent, a: &Approval);
}

impl Notifier for () {
    fn notify(&self, _: NotifyEvent, _: &Approval) {}
}

/// Fan-out: every notifier in the list hears of every event, in order.
impl<N: Notifier> Notifier for Vec<N> {
    fn notify(&self, event: NotifyEvent, a: &Approval) {
        for n in self {
            n.notify(event, a);
        }
    }
}
