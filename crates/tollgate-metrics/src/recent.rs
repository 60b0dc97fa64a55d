//! The label sets of the last request a thread counted, with the metric
//! handles they name. The next request with the same labels — nearly
//! every one on a busy gateway, whose clients repeat their calls — is
//! counted on those handles: no label is interned and no family is looked
//! up, so no lock shared with the other threads is taken and nothing is
//! hashed.
//!
//! A handle is the family's own series (prometheus-client's counters and
//! histograms are shared by their clones), and the families never drop a
//! series, so counting on a remembered handle is counting in the family.

use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;

use crate::{AuthnLabels, DecisionLabels, Metrics, RequestLabels, VerbLabels};

/// What decides a request's label sets, borrowed from its notes (owned
/// once remembered).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Key<'a> {
    pub(crate) verb: &'static str,
    pub(crate) target: Target<'a>,
    pub(crate) code: u16,
    /// The decision's action and rule.
    pub(crate) decision: Option<(&'static str, Option<Cow<'a, str>>)>,
    pub(crate) authn: Authn<'a>,
    pub(crate) long_running: bool,
}

/// What the request was for: the `resource` label's source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target<'a> {
    /// A resource type (with its subresource, `pods/exec`).
    Resource(Cow<'a, str>),
    /// A non-resource URL.
    NonResource,
    /// Nothing was parsed.
    Unknown,
}

/// How the request authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Authn<'a> {
    /// Verified, by this issuer (empty: anonymous).
    Verified(Cow<'a, str>),
    /// Refused, for this short reason.
    Refused(&'static str),
    /// Not noted (no authentication layer).
    Unnoted,
}

impl Key<'_> {
    fn into_owned(self) -> Key<'static> {
        let own = |c: Cow<'_, str>| Cow::Owned(c.into_owned());
        Key {
            verb: self.verb,
            target: match self.target {
                Target::Resource(r) => Target::Resource(own(r)),
                Target::NonResource => Target::NonResource,
                Target::Unknown => Target::Unknown,
            },
            code: self.code,
            decision: self.decision.map(|(action, rule)| (action, rule.map(own))),
            authn: match self.authn {
                Authn::Verified(i) => Authn::Verified(own(i)),
                Authn::Refused(r) => Authn::Refused(r),
                Authn::Unnoted => Authn::Unnoted,
            },
            long_running: self.long_running,
        }
    }
}

/// The series a request with [`Key`]'s labels counts in.
#[derive(Debug)]
pub(crate) struct Handles {
    pub(crate) requests: Counter,
    /// `tollgate_long_running_requests_total` or the duration histogram.
    pub(crate) timing: Timing,
    pub(crate) authn: Option<Counter>,
    pub(crate) decision: Option<Counter>,
}

#[derive(Debug)]
pub(crate) enum Timing {
    LongRunning(Counter),
    /// The request's duration, and its upstream's — looked up when a
    /// request first has one, so a series exists only once observed.
    Duration(Histogram, Option<Histogram>),
}

impl Handles {
    /// Looks the series up (creating them), as counting without the memo
    /// would.
    fn find(m: &Metrics, key: &Key<'_>) -> Handles {
        let resource = match &key.target {
            Target::Resource(r) => m.bounded_resource(r),
            Target::NonResource => m.name_label("(nonresource)"),
            Target::Unknown => m.name_label("-"),
        };
        let requests = m
            .requests
            .get_or_create(&RequestLabels {
                verb: key.verb,
                resource,
                code: key.code,
                decision: key.decision.as_ref().map_or("none", |(action, _)| action),
            })
            .clone();
        let verb = VerbLabels { verb: key.verb };
        let timing = if key.long_running {
            Timing::LongRunning(m.long_running.get_or_create(&verb).clone())
        } else {
            Timing::Duration(m.duration.get_or_create(&verb).clone(), None)
        };
        let authn = match &key.authn {
            Authn::Verified(issuer) => Some(AuthnLabels {
                issuer: m.name_label(if issuer.is_empty() { "(anonymous)" } else { issuer }),
                result: "ok",
            }),
            Authn::Refused(reason) => Some(AuthnLabels {
                issuer: m.name_label("-"),
                result: reason,
            }),
            Authn::Unnoted => None,
        }
        .map(|labels| m.authentications.get_or_create(&labels).clone());
        let decision = key.decision.as_ref().map(|(action, rule)| {
            m.decisions
                .get_or_create(&DecisionLabels {
                    rule: m.name_label(rule.as_deref().unwrap_or("(default)")),
                    action,
                })
                .clone()
        });
        Handles {
            requests,
            timing,
            authn,
            decision,
        }
    }
}

struct Recent {
    /// Held, so the registry the handles belong to is never another one
    /// at the same address.
    metrics: Arc<Metrics>,
    key: Key<'static>,
    handles: Handles,
}

thread_local! {
    static RECENT: RefCell<Option<Recent>> = const { RefCell::new(None) };
}

/// Runs `count` on the handles of `key`'s series in `m`: the thread's
/// remembered ones when the last request it counted in `m` had the same
/// labels, else found and remembered.
pub(crate) fn with_handles(m: &Arc<Metrics>, key: Key<'_>, count: impl FnOnce(&mut Handles)) {
    RECENT.with_borrow_mut(|recent| {
        let r = match recent {
            Some(r) if Arc::ptr_eq(&r.metrics, m) && r.key == key => r,
            _ => recent.insert(Recent {
                metrics: m.clone(),
                handles: Handles::find(m, &key),
                key: key.into_owned(),
            }),
        };
        count(&mut r.handles);
    });
}
