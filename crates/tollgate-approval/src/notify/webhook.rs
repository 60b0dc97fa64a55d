//! [`WebhookNotifier`]: POSTs each notification in the background, signed
//! when it has a secret, retried with backoff, counted.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use tollgate_proxy::{Client, Upstream};

use super::format::{self, Format, Hints};
use super::{Notifier, NotifyEvent};
use crate::Approval;

/// The header carrying the signature of a signed notification:
/// `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
pub const SIGNATURE_HEADER: &str = "x-tollgate-signature";

/// How often a notification is tried (then it is counted as failed).
pub const ATTEMPTS: u32 = 5;

/// Notifications in flight per receiver; more are dropped (and counted)
/// rather than queued without bound while a receiver is down.
const MAX_IN_FLIGHT: usize = 64;

/// What happened to a receiver's notifications so far.
#[derive(Debug, Default)]
pub struct NotifyStats {
    /// Accepted by the receiver (2xx).
    pub delivered: AtomicU64,
    /// Tried again after a failure.
    pub retried: AtomicU64,
    /// Given up on (after [`ATTEMPTS`], a 4xx other than 408/429, or too
    /// many in flight).
    pub failed: AtomicU64,
}

/// POSTs each event to one receiver in its [`Format`], in the background:
/// never delays a request. 5xx, 408, 429 and connection failures are
/// retried after 1, 2, 4 and 8 s (a `Retry-After` of up to 60 s is
/// honoured); the outcome is counted in [`NotifyStats`] and logged.
///
/// ```no_run
/// use tollgate_approval::{Format, WebhookNotifier};
/// use tollgate_proxy::Upstream;
/// let slack = WebhookNotifier::new(Upstream::webhook("https://hooks.slack.com/services/T0/B0/x", None, "slack")?)
///     .format(Format::Slack);
/// let signed = WebhookNotifier::new(Upstream::webhook("https://hooks.example.com/tollgate", None, "ours")?)
///     .secret(b"a shared secret".to_vec());
/// # Ok::<_, tollgate_proxy::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct WebhookNotifier {
    client: Client,
    format: Format,
    hints: Arc<Hints>,
    secret: Option<Arc<aws_lc_rs::hmac::Key>>,
    stats: Arc<NotifyStats>,
    in_flight: Arc<tokio::sync::Semaphore>,
    backoff: Duration,
}

impl WebhookNotifier {
    /// Notifies `upstream` (a kubeconfig-named receiver sends its
    /// credentials with every POST) in Tollgate's JSON.
    pub fn new(upstream: Upstream) -> Self {
        WebhookNotifier {
            client: Client::new(upstream),
            format: Format::Json,
            hints: Arc::new(Hints::default()),
            secret: None,
            stats: Arc::new(NotifyStats::default()),
            in_flight: Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT)),
            backoff: Duration::from_secs(1),
        }
    }

    /// The body's format.
    #[must_use]
    pub fn format(mut self, format: Format) -> Self {
        self.format = format;
        self
    }

    /// The commands and link shown to approvers.
    #[must_use]
    pub fn hints(mut self, hints: Hints) -> Self {
        self.hints = Arc::new(hints);
        self
    }

    /// Signs every body with HMAC-SHA256 under `secret`
    /// ([`SIGNATURE_HEADER`]).
    #[must_use]
    pub fn secret(mut self, secret: Vec<u8>) -> Self {
        self.secret = Some(Arc::new(aws_lc_rs::hmac::Key::new(
            aws_lc_rs::hmac::HMAC_SHA256,
            &secret,
        )));
        self
    }

    /// The first retry's delay (doubled each time); 1 s unless a test
    /// wants it shorter.
    #[must_use]
    pub fn backoff(mut self, first: Duration) -> Self {
        self.backoff = first;
        self
    }

    /// Counts into `stats` (shared with other receivers) instead of its own.
    #[must_use]
    pub fn stats_into(mut self, stats: Arc<NotifyStats>) -> Self {
        self.stats = stats;
        self
    }

    /// The counters of this receiver.
    pub fn stats(&self) -> Arc<NotifyStats> {
        self.stats.clone()
    }

    /// The receiver's URL, its secret path hidden.
    pub fn url(&self) -> &str {
        self.client.url()
    }
}

/// `t=<unix>,v1=<hex>` for `body` sent at `unix` seconds.
///
/// ```
/// let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, b"k");
/// let s = tollgate_approval::signature(&key, 1_700_000_000, b"{}");
/// assert!(s.starts_with("t=1700000000,v1=") && s.len() == "t=1700000000,v1=".len() + 64);
/// ```
pub fn signature(key: &aws_lc_rs::hmac::Key, unix: u64, body: &[u8]) -> String {
    let mut ctx = aws_lc_rs::hmac::Context::with_key(key);
    ctx.update(unix.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    let tag = ctx.sign();
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("t={unix},v1={hex}")
}

impl Notifier for WebhookNotifier {
    fn notify(&self, event: NotifyEvent, a: &Approval) {
        let Ok(permit) = self.in_flight.clone().try_acquire_owned() else {
            self.stats.failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(approval = %a.id, receiver = %self.url(), "too many notifications in flight to this receiver; one was dropped");
            return;
        };
        let body = Bytes::from(format::body(self.format, event, a, &self.hints).to_string());
        let this = self.clone();
        let id = a.id.clone();
        tokio::spawn(async move {
            let _permit = permit;
            this.deliver(&id, body).await;
        });
    }
}

impl WebhookNotifier {
    async fn deliver(&self, id: &str, body: Bytes) {
        let mut delay = self.backoff;
        for attempt in 1..=ATTEMPTS {
            let mut headers = HeaderMap::new();
            if let Some(key) = &self.secret {
                let sig = signature(key, crate::now(), &body);
                if let Ok(v) = HeaderValue::from_str(&sig) {
                    headers.insert(SIGNATURE_HEADER, v);
                }
            }
            if let Ok(v) = HeaderValue::from_str(id) {
                headers.insert("x-tollgate-approval", v);
            }
            let outcome = self
                .client
                .send_with(Method::POST, "", Some(("application/json", body.clone())), &headers)
                .await;
            let (retry, wait, why) = match outcome {
                Ok(res) if res.status.is_success() => {
                    self.stats.delivered.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Ok(res) => {
                    let s = res.status.as_u16();
                    let retry = s >= 500 || s == 408 || s == 429;
                    let after = retry_after(&res.headers);
                    (retry, after, format!("answered {}", res.status))
                }
                Err(e) => (true, None, e.to_string()),
            };
            if !retry || attempt == ATTEMPTS {
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(approval = %id, receiver = %self.url(), attempts = attempt, error = %why, "an approval notification was not delivered");
                return;
            }
            self.stats.retried.fetch_add(1, Ordering::Relaxed);
            tracing::info!(approval = %id, receiver = %self.url(), attempt, error = %why, "an approval notification will be retried");
            tokio::time::sleep(wait.unwrap_or(delay)).await;
            delay *= 2;
        }
    }
}

/// A `Retry-After` in seconds (Slack's 429), at most 60 s.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let secs: u64 = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs.min(60)))
}
