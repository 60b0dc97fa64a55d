//! Records of requests refused before authentication cost little: each
//! client address may have a few recorded one by one (a token bucket),
//! and they may never take more than a share of the recorder's queue — that
//! capacity belongs to the confirmed records of authenticated requests.
//! Past either bound, refusals are folded into one aggregate record per
//! address and interval (`N refused requests from ADDRESS between T1 and
//! T2`, with the reasons counted), never dropped.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, SystemTime};

use crate::{Event, Level, Recorder, Stage};

/// Refusal records one address may have written one by one in a burst.
const BURST: f64 = 20.0;
/// and then per second.
const PER_SECOND: f64 = 10.0;
/// Addresses tracked at once (past it, others share one aggregate).
const MAX_ADDRESSES: usize = 10_000;
/// How often aggregates are written.
const FLUSH_EVERY: Duration = Duration::from_secs(10);
/// The key for addresses past [`MAX_ADDRESSES`].
const OTHERS: &str = "(other addresses)";

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: SystemTime,
}

#[derive(Debug)]
struct Folded {
    count: u64,
    first: SystemTime,
    last: SystemTime,
    reasons: BTreeMap<String, u64>,
}

#[derive(Debug, Default)]
struct State {
    buckets: HashMap<String, Bucket>,
    folded: BTreeMap<String, Folded>,
    flusher: bool,
}

/// The refusal path of one audit layer.
#[derive(Debug)]
pub(crate) struct Refusals {
    state: Mutex<State>,
    flush_every: Duration,
}

impl Default for Refusals {
    fn default() -> Self {
        Refusals::new(FLUSH_EVERY)
    }
}

impl Refusals {
    /// Aggregates written every `flush_every`.
    pub(crate) fn new(flush_every: Duration) -> Self {
        Refusals {
            state: Mutex::default(),
            flush_every,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records `event` (a refusal from `address` for `reason`) one by one
    /// if the address's bucket and the recorder's refusal share allow,
    /// else folds it into the address's aggregate.
    pub(crate) fn record(self: &Arc<Self>, recorder: &Recorder, address: &str, reason: &str, event: Event) {
        let now = SystemTime::now();
        let mut st = self.lock();
        let known = st.buckets.len() < MAX_ADDRESSES || st.buckets.contains_key(address);
        let key = if known { address } else { OTHERS };
        let bucket = st
            .buckets
            .entry(key.to_owned())
            .or_insert(Bucket { tokens: BURST, at: now });
        let elapsed = now.duration_since(bucket.at).unwrap_or_default().as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * PER_SECOND).min(BURST);
        bucket.at = now;
        if bucket.tokens >= 1.0 && recorder.record_refusal(event) {
            if let Some(b) = st.buckets.get_mut(key) {
                b.tokens -= 1.0;
            }
            return;
        }
        let f = st.folded.entry(key.to_owned()).or_insert(Folded {
            count: 0,
            first: now,
            last: now,
            reasons: BTreeMap::new(),
        });
        f.count += 1;
        f.last = now;
        if f.reasons.len() < 20 || f.reasons.contains_key(reason) {
            *f.reasons.entry(reason.to_owned()).or_default() += 1;
        }
        if !st.flusher {
            st.flusher = true;
            drop(st);
            self.spawn_flusher(recorder.clone());
        }
    }

    /// Writes the aggregates every [`FLUSH_EVERY`] while the layer lives.
    fn spawn_flusher(self: &Arc<Self>, recorder: Recorder) {
        let weak: Weak<Refusals> = Arc::downgrade(self);
        let every = self.flush_every;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(me) = weak.upgrade() else { return };
                let folded = std::mem::take(&mut me.lock().folded);
                for (address, f) in folded {
                    recorder.record_later(aggregate(&address, &f));
                }
                // Buckets of quiet addresses are forgotten (they refill anyway).
                let now = SystemTime::now();
                me.lock()
                    .buckets
                    .retain(|_, b| now.duration_since(b.at).unwrap_or_default() < Duration::from_secs(60));
            }
        });
    }
}

/// One record standing for `f.count` refusals from `address`.
fn aggregate(address: &str, f: &Folded) -> Event {
    let mut e = Event::new(
        format!("aggregate-{}", crate::micro_time(f.last)),
        Level::Metadata,
        Stage::ResponseComplete,
    );
    e.request_received_timestamp = crate::micro_time(f.first);
    e.stage_timestamp = crate::micro_time(f.last);
    e.verb = "refused".to_owned();
    e.request_uri = "(aggregate)".to_owned();
    e.source_ips = vec![address.to_owned()];
    e.response_status = Some(serde_json::json!({"metadata": {}, "code": 401}));
    let a = &mut e.annotations;
    a.insert("tollgate.dev/decision".to_owned(), "unauthenticated".to_owned());
    a.insert(
        "tollgate.dev/aggregated".to_owned(),
        format!(
            "{} refused requests from {address} between {} and {}",
            f.count,
            crate::micro_time(f.first),
            crate::micro_time(f.last)
        ),
    );
    a.insert("tollgate.dev/aggregated-count".to_owned(), f.count.to_string());
    a.insert(
        "tollgate.dev/authentication-failure".to_owned(),
        f.reasons
            .iter()
            .map(|(r, n)| format!("{r} ({n})"))
            .collect::<Vec<_>>()
            .join("; "),
    );
    e
}
