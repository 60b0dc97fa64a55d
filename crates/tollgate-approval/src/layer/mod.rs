//! `ApprovalLayer`: acts on the policy's `require_approval` decisions —
//! forwards a request its approval covers (once), holds one still pending
//! (woken by the store), then answers 429 with `Retry-After` so kubectl and
//! client-go retry by themselves — and serves the approvals HTTP API on a
//! path prefix of the gateway's own listener.
//!
//! The parts: [`ApprovalLayer`] (here: the builder and what the services
//! share), `service` (the routing in `call`), `future` (check, then call
//! or answer), `hold` (the waiting protocol for `require_approval`
//! decisions) and `api` (the approvals HTTP API).

mod api;
mod future;
mod hold;
mod service;

pub use future::ResponseFuture;
pub use service::ApprovalService;

use std::sync::Arc;
use std::time::Duration;

use tollgate_redact::Redactor;

use crate::ApprovalStore;

/// The default API prefix on the gateway's listener.
pub const API_PREFIX: &str = "/tollgate/v1/approvals";

/// What the layer and its services share.
#[derive(Debug)]
struct Shared {
    store: Arc<dyn ApprovalStore>,
    redactor: Redactor,
    prefix: String,
    /// How approvers are told to approve: `{id}` is replaced.
    approve_hint: String,
    /// Overrides every rule's hold (tests, demos).
    hold: Option<Duration>,
    /// Whether the layer acts at all.
    enabled: bool,
    /// Who hears of new requests and decisions.
    notifier: Arc<dyn crate::Notifier>,
    /// What the notifiers did (shared by every receiver of a configuration).
    notify_stats: Arc<crate::NotifyStats>,
}

/// Holds requests for approval and serves the approvals API.
///
/// ```
/// use std::sync::Arc;
/// use tollgate_approval::{ApprovalLayer, MemoryStore};
/// let layer = ApprovalLayer::new(Arc::new(MemoryStore::default()));
/// # let _ = layer;
/// ```
#[derive(Debug, Clone)]
pub struct ApprovalLayer {
    shared: Arc<Shared>,
}

impl ApprovalLayer {
    /// Approvals kept in `store`.
    pub fn new(store: Arc<dyn ApprovalStore>) -> Self {
        ApprovalLayer {
            shared: Arc::new(Shared {
                store,
                redactor: Redactor::builder()
                    .build()
                    .unwrap_or_else(|e| unreachable!("the default redactor compiles: {e}")),
                prefix: API_PREFIX.to_owned(),
                approve_hint: "tollgate approvals approve {id}".to_owned(),
                hold: None,
                enabled: true,
                notifier: Arc::new(()),
                notify_stats: Arc::default(),
            }),
        }
    }

    /// A layer that lets everything through and serves no API (a gateway
    /// without the approval workflow; its policy refuses
    /// `require_approval` requests itself).
    pub fn disabled() -> Self {
        ApprovalLayer::new(Arc::new(crate::MemoryStore::default())).edit(|s| s.enabled = false)
    }

    fn edit(mut self, f: impl FnOnce(&mut Shared)) -> Self {
        if let Some(s) = Arc::get_mut(&mut self.shared) {
            f(s);
        }
        self
    }

    /// The command approvers are told to run (`{id}` is replaced).
    pub fn approve_hint(self, hint: impl Into<String>) -> Self {
        let hint = hint.into();
        self.edit(|s| s.approve_hint = hint)
    }

    /// Tells `n` of new requests and decisions.
    pub fn notifier(self, n: impl crate::Notifier) -> Self {
        let n: Arc<dyn crate::Notifier> = Arc::new(n);
        self.edit(|s| s.notifier = n)
    }

    /// The counters the notifiers write into (see
    /// [`WebhookNotifier::stats_into`](crate::WebhookNotifier::stats_into)),
    /// for metrics.
    pub fn notify_stats(self, stats: Arc<crate::NotifyStats>) -> Self {
        self.edit(|s| s.notify_stats = stats)
    }

    /// Notifications delivered, retried and given up on.
    pub fn notifications(&self) -> Arc<crate::NotifyStats> {
        self.shared.notify_stats.clone()
    }

    /// Holds every request this long, whatever its rule says.
    pub fn hold(self, d: Duration) -> Self {
        self.edit(|s| s.hold = Some(d))
    }

    /// The store.
    pub fn store(&self) -> Arc<dyn ApprovalStore> {
        self.shared.store.clone()
    }
}

impl<S> tower_layer::Layer<S> for ApprovalLayer {
    type Service = ApprovalService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ApprovalService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// Seconds since the epoch.
pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn new_id() -> String {
    let mut b = [0u8; 8];
    let _ = aws_lc_rs::rand::fill(&mut b);
    format!("apr-{}", b.iter().map(|x| format!("{x:02x}")).collect::<String>())
}
