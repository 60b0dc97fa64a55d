//! Notifications: approvers hear of new requests, requesters of decisions.
//! A [`Notifier`] is a hook; [`WebhookNotifier`] POSTs JSON (with a
//! Slack-compatible `text`) to a receiver named like the API server's
//! webhooks (a kubeconfig-format file: its server, CA and credentials).

use bytes::Bytes;
use serde_json::json;
use tollgate_proxy::{Client, Upstream};

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

/// The one-line text for chat tools.
pub fn notification_text(event: NotifyEvent, a: &Approval, approve_hint: &str) -> String {
    match event {
        NotifyEvent::Requested => format!(
            ":hourglass: {} ({}) asks to run `{}` — rule {}: {}. {} must approve: `{}`",
            a.requester.username,
            a.requester.owner,
            a.request.command,
            a.rule,
            a.message,
            a.approvers.describe(),
            approve_hint.replace("{id}", &a.id)
        ),
        NotifyEvent::Approved => format!(
            ":white_check_mark: approval {} for `{}` — {} ({} of {})",
            a.id,
            a.request.command,
            a.approvals.last().map_or("?", |v| v.by.username.as_str()),
            a.approvals.len(),
            a.approvers.count
        ),
        NotifyEvent::Denied => format!(
            ":no_entry: approval {} for `{}` denied by {}: {}",
            a.id,
            a.request.command,
            a.denial.as_ref().map_or("?", |v| v.by.username.as_str()),
            a.denial.as_ref().map_or("", |v| v.reason.as_str())
        ),
    }
}

/// POSTs `{"event", "approval", "text"}` to a receiver, in the background;
/// failures are logged, never block a request.
#[derive(Debug, Clone)]
pub struct WebhookNotifier {
    client: Client,
    hint: String,
}

impl WebhookNotifier {
    /// Notifies `upstream` (its server URL, CA and credentials: the token
    /// goes with every POST).
    pub fn new(upstream: Upstream, approve_hint: impl Into<String>) -> Self {
        WebhookNotifier {
            client: Client::new(upstream),
            hint: approve_hint.into(),
        }
    }
}

impl Notifier for WebhookNotifier {
    fn notify(&self, event: NotifyEvent, a: &Approval) {
        let body = json!({"event": event.as_str(), "approval": a, "text": notification_text(event, a, &self.hint)});
        let client = self.client.clone();
        let id = a.id.clone();
        tokio::spawn(async move {
            match client.post_json("", Bytes::from(body.to_string())).await {
                Ok(res) if res.status.is_success() => {}
                Ok(res) => {
                    tracing::warn!(approval = %id, status = %res.status, "an approval notification was refused")
                }
                Err(e) => tracing::warn!(approval = %id, error = %e, "an approval notification was not delivered"),
            }
        });
    }
}
