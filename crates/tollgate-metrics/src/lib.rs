//! Tollgate's metrics, with [`prometheus-client`](prometheus_client): the
//! families ([`Metrics`]), the [`MetricsLayer`] that observes every request
//! from what the other layers noted (the request's [`RequestInfo`](tollgate_kube::RequestInfo), the
//! verified [`Identity`](tollgate_kube::Identity) or the authentication failure, the policy's
//! [`Decision`](tollgate_rules::Decision), the approval), and [`Metrics::encode`] in the OpenMetrics
//! or the Prometheus 0.0.4 text format. The families are listed in
//! `docs/metrics.md`.
//!
//! Label values are bounded: verbs, codes, decisions and authentication
//! reasons are small fixed sets; issuers are the configured ones (a failed
//! token's claimed issuer is never a label); rule names come from the
//! policy; resource types are capped (past [`MAX_RESOURCE_LABELS`] distinct
//! values, `(other)`), so a client requesting made-up resources cannot grow
//! the scrape. No user, owner or object name is ever a label.
//!
//! ```
//! use std::sync::Arc;
//! use tollgate_metrics::{Format, Metrics, MetricsLayer};
//! let metrics = Arc::new(Metrics::new("0.1.0"));
//! let layer = MetricsLayer::new(metrics.clone()); // just inside the AuditLayer
//! let (content_type, text) = metrics.encode(Format::OpenMetrics);
//! assert!(content_type.starts_with("application/openmetrics-text"));
//! assert!(text.contains("tollgate_build_info"));
//! # let _ = layer;
//! ```

mod layer;
#[cfg(feature = "logs")]
pub mod logs;
#[cfg(feature = "readiness")]
mod readiness;
mod recent;
mod sources;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

pub use layer::{MetricsLayer, MetricsService, ResponseFuture};
pub use prometheus_client;
#[cfg(feature = "readiness")]
pub use readiness::{Check, IssuersReady, Readiness};

/// The most distinct `resource` label values kept; past them `(other)`.
pub const MAX_RESOURCE_LABELS: usize = 256;

/// The exposition format of a scrape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// `application/openmetrics-text; version=1.0.0` (the default).
    OpenMetrics,
    /// `text/plain; version=0.0.4` (Prometheus' classic text format).
    Text004,
}

impl Format {
    /// The format a scrape's `Accept` header asks for: 0.0.4 text when it
    /// names `text/plain` and not OpenMetrics, else OpenMetrics.
    ///
    /// ```
    /// use tollgate_metrics::Format;
    /// assert_eq!(Format::from_accept(Some("text/plain;version=0.0.4")), Format::Text004);
    /// assert_eq!(Format::from_accept(Some("application/openmetrics-text;version=1.0.0,text/plain;q=0.5")), Format::OpenMetrics);
    /// assert_eq!(Format::from_accept(None), Format::OpenMetrics);
    /// ```
    pub fn from_accept(accept: Option<&str>) -> Format {
        match accept {
            Some(a) if a.contains("text/plain") && !a.contains("openmetrics") => Format::Text004,
            _ => Format::OpenMetrics,
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RequestLabels {
    pub(crate) verb: &'static str,
    pub(crate) resource: Arc<str>,
    pub(crate) code: u16,
    pub(crate) decision: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct VerbLabels {
    pub(crate) verb: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct AuthnLabels {
    pub(crate) issuer: Arc<str>,
    pub(crate) result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct DecisionLabels {
    pub(crate) rule: Arc<str>,
    pub(crate) action: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct StateLabels {
    pub(crate) state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct KindLabels {
    pub(crate) kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReloadLabels {
    part: String,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
}

fn latency() -> Histogram {
    // 5 ms … ~20 s.
    Histogram::new(exponential_buckets(0.005, 2.0, 13))
}

/// Every family, registered once.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub(crate) requests: Family<RequestLabels, Counter>,
    pub(crate) duration: Family<VerbLabels, Histogram, fn() -> Histogram>,
    pub(crate) upstream_duration: Family<VerbLabels, Histogram, fn() -> Histogram>,
    pub(crate) long_running: Family<VerbLabels, Counter>,
    pub(crate) authentications: Family<AuthnLabels, Counter>,
    pub(crate) decisions: Family<DecisionLabels, Counter>,
    pub(crate) approvals: Family<StateLabels, Counter>,
    pub(crate) approval_wait: Histogram,
    pub(crate) masked: Counter,
    pub(crate) tunnels: Family<KindLabels, Counter>,
    reloads: Family<ReloadLabels, Counter>,
    resources: Mutex<HashSet<Arc<str>>>,
    /// Issuers and rule names seen, shared by the label sets that carry them.
    names: Mutex<HashSet<Arc<str>>>,
}

impl Metrics {
    /// The families, with `tollgate_build_info{version}` set.
    pub fn new(version: &str) -> Metrics {
        let mut registry = Registry::with_prefix("tollgate");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests answered, by verb, resource type, status code and policy decision",
            requests.clone(),
        );
        let duration = Family::<VerbLabels, Histogram, fn() -> Histogram>::new_with_constructor(latency);
        registry.register(
            "request_duration_seconds",
            "Time to the response's headers, for requests that are not long-running (watch, exec, attach, port-forward, proxy, logs with follow are counted apart)",
            duration.clone(),
        );
        let upstream_duration = Family::<VerbLabels, Histogram, fn() -> Histogram>::new_with_constructor(latency);
        registry.register(
            "upstream_duration_seconds",
            "The API server's part of that: from forwarding to its response headers (same requests)",
            upstream_duration.clone(),
        );
        let long_running = Family::<VerbLabels, Counter>::default();
        registry.register(
            "long_running_requests",
            "Long-running requests started (not in the latency histogram)",
            long_running.clone(),
        );
        let authentications = Family::<AuthnLabels, Counter>::default();
        registry.register(
            "authentications",
            "Authentication outcomes: result ok by the issuer that verified the token, or the short reason a token was refused (issuer -)",
            authentications.clone(),
        );
        let decisions = Family::<DecisionLabels, Counter>::default();
        registry.register(
            "policy_decisions",
            "Policy decisions by rule ((default) when none matched) and action",
            decisions.clone(),
        );
        let approvals = Family::<StateLabels, Counter>::default();
        registry.register(
            "approvals",
            "Requests that needed an approval, by the approval's state when answered",
            approvals.clone(),
        );
        let approval_wait = Histogram::new(exponential_buckets(1.0, 2.0, 12));
        registry.register(
            "approval_wait_seconds",
            "From an approval's request to its decision, for requests forwarded once approved",
            approval_wait.clone(),
        );
        let masked = Counter::default();
        registry.register(
            "masked_responses",
            "Responses the policy asked to mask (mask: true)",
            masked.clone(),
        );
        let tunnels = Family::<KindLabels, Counter>::default();
        registry.register(
            "tunnels",
            "Upgraded connections (101) by kind: exec, attach, portforward, other",
            tunnels.clone(),
        );
        let reloads = Family::<ReloadLabels, Counter>::default();
        registry.register(
            "reloads",
            "Reloads of the policy, TLS certificate, authentication configuration and audit policy, by result",
            reloads.clone(),
        );
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: version.to_owned(),
            })
            .set(1);
        registry.register("build_info", "The running build", build);
        Metrics {
            registry,
            requests,
            duration,
            upstream_duration,
            long_running,
            authentications,
            decisions,
            approvals,
            approval_wait,
            masked,
            tunnels,
            reloads,
            resources: Mutex::new(fixed_labels(&[])),
            names: Mutex::new(fixed_labels(&FIXED_NAMES)),
        }
    }

    /// Registers more families (the audit recorder's, say) before the
    /// metrics are shared.
    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// Counts a reload of `part` (`policy`, `tls`, `authentication`,
    /// `audit-policy`).
    pub fn reloaded(&self, part: &str, ok: bool) {
        self.reloads
            .get_or_create(&ReloadLabels {
                part: part.to_owned(),
                result: if ok { "success" } else { "failure" }.to_owned(),
            })
            .inc();
    }

    /// The scrape: its `Content-Type` and body.
    pub fn encode(&self, format: Format) -> (&'static str, String) {
        let mut out = String::new();
        match format {
            Format::OpenMetrics => {
                // Writing to a String does not fail.
                let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
                ("application/openmetrics-text; version=1.0.0; charset=utf-8", out)
            }
            Format::Text004 => {
                let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
                (prometheus_client::encoding::prometheus_text::CONTENT_TYPE, out)
            }
        }
    }

    /// `resource`, or `(other)` once [`MAX_RESOURCE_LABELS`] others are in
    /// use; a label seen before is shared, not copied.
    pub(crate) fn bounded_resource(&self, resource: &str) -> Arc<str> {
        intern(&self.resources, resource, MAX_RESOURCE_LABELS + 1)
    }

    /// An issuer URL or a rule name as a label, shared once seen. Both come
    /// from the configuration (a token of another issuer is refused before
    /// it has an identity), so the set stays small; it is bounded all the
    /// same.
    pub(crate) fn name_label(&self, name: &str) -> Arc<str> {
        intern(&self.names, name, MAX_RESOURCE_LABELS + 1 + FIXED_NAMES.len())
    }
}

/// The labels the layer itself writes, and `(other)`: in the set from the
/// start, so they never fall to the cap (and `(other)` is never allocated
/// per request).
fn fixed_labels(names: &[&str]) -> HashSet<Arc<str>> {
    std::iter::once(OTHER)
        .chain(names.iter().copied())
        .map(Arc::from)
        .collect()
}

const OTHER: &str = "(other)";

/// What the layer writes where there is no resource, identity or rule.
const FIXED_NAMES: [&str; 4] = ["-", "(nonresource)", "(anonymous)", "(default)"];

/// `value` from `seen` (added while it holds fewer than `max`, the fixed
/// labels included), else `(other)`.
fn intern(seen: &Mutex<HashSet<Arc<str>>>, value: &str, max: usize) -> Arc<str> {
    let mut seen = seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(v) = seen.get(value) {
        return v.clone();
    }
    if seen.len() >= max {
        return seen.get(OTHER).cloned().unwrap_or_else(|| Arc::from(OTHER));
    }
    let v: Arc<str> = Arc::from(value);
    seen.insert(v.clone());
    v
}

/// Whether a sampled value only grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// A total (`_total` is added to the name).
    Counter,
    /// A value that goes up and down.
    Gauge,
}

/// One sample of a labelled family: its labels and value.
pub type Sample = (Vec<(&'static str, String)>, u64);

/// Values read at each scrape from a part that keeps its own counts (the
/// audit recorder's, the verifier's), as one family.
struct Sampled {
    name: &'static str,
    help: &'static str,
    kind: Kind,
    value: Box<dyn Fn() -> Vec<Sample> + Send + Sync>,
}

impl std::fmt::Debug for Sampled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sampled")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl prometheus_client::collector::Collector for Sampled {
    fn encode(&self, mut encoder: prometheus_client::encoding::DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric;
        use prometheus_client::metrics::MetricType;
        let kind = match self.kind {
            Kind::Counter => MetricType::Counter,
            Kind::Gauge => MetricType::Gauge,
        };
        let mut family = encoder.encode_descriptor(self.name, self.help, None, kind)?;
        for (labels, v) in (self.value)() {
            let labels: Vec<(&str, String)> = labels;
            let metric = family.encode_family(&labels)?;
            match self.kind {
                Kind::Counter => prometheus_client::metrics::counter::ConstCounter::new(v).encode(metric)?,
                Kind::Gauge => {
                    prometheus_client::metrics::gauge::ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX))
                        .encode(metric)?;
                }
            }
        }
        Ok(())
    }
}

impl Metrics {
    /// Adds a family whose value `value` reads at each scrape (before the
    /// metrics are shared).
    ///
    /// ```
    /// let mut m = tollgate_metrics::Metrics::new("0.1.0");
    /// m.register_sampled("audit_queue_depth", "Records waiting", tollgate_metrics::Kind::Gauge, || 3);
    /// assert!(m.encode(tollgate_metrics::Format::Text004).1.contains("tollgate_audit_queue_depth 3"));
    /// ```
    pub fn register_sampled(
        &mut self,
        name: &'static str,
        help: &'static str,
        kind: Kind,
        value: impl Fn() -> u64 + Send + Sync + 'static,
    ) {
        self.register_sampled_family(name, help, kind, move || vec![(Vec::new(), value())]);
    }

    /// Adds a labelled family whose samples `samples` reads at each scrape.
    ///
    /// ```
    /// let mut m = tollgate_metrics::Metrics::new("0.1.0");
    /// m.register_sampled_family("jwks_fetches", "Key-set fetches", tollgate_metrics::Kind::Counter, || {
    ///     vec![(vec![("issuer", "https://issuer.example".to_owned()), ("result", "ok".to_owned())], 2)]
    /// });
    /// let (_, text) = m.encode(tollgate_metrics::Format::Text004);
    /// assert!(text.contains(r#"tollgate_jwks_fetches_total{issuer="https://issuer.example",result="ok"} 2"#), "{text}");
    /// ```
    pub fn register_sampled_family(
        &mut self,
        name: &'static str,
        help: &'static str,
        kind: Kind,
        samples: impl Fn() -> Vec<Sample> + Send + Sync + 'static,
    ) {
        self.registry.register_collector(Box::new(Sampled {
            name,
            help,
            kind,
            value: Box::new(samples),
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_resources_fall_to_other_and_the_fixed_labels_never_do() {
        let m = Metrics::new("test");
        for i in 0..MAX_RESOURCE_LABELS {
            assert_eq!(&*m.bounded_resource(&format!("made-up-{i}")), format!("made-up-{i}"));
        }
        assert_eq!(&*m.bounded_resource("one-too-many"), OTHER);
        assert_eq!(&*m.bounded_resource("made-up-0"), "made-up-0", "seen before: kept");
        for i in 0..2 * MAX_RESOURCE_LABELS {
            m.name_label(&format!("rule-{i}"));
        }
        assert_eq!(&*m.name_label("one-too-many"), OTHER);
        for fixed in FIXED_NAMES {
            assert_eq!(&*m.name_label(fixed), fixed);
        }
    }
}
