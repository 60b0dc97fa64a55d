//! A request's log fields without a `tracing` span: what the gateway's
//! log writes for a line logged while a request is handled, as the
//! `request{audit_id=… method=… path=… user=… owner=… decision=…}` span
//! it stands for.
//!
//! A `tracing` span costs every request its creation, three records and
//! its close in the subscriber (a registry slot, its extensions, the
//! fields formatted into a string), whether or not a line is ever logged
//! in it: ~1.3 µs of CPU a request under `perf` on this project's test
//! machine (`docs/performance.md`, twenty-eighth round; the load harness's
//! requests/s did not move beyond its spread). A [`RequestLog`] is one
//! allocation; the layers
//! that learn the user, owner and decision put them in it, and the log
//! formatter (`tollgate_metrics::logs`) reads the one entered on its
//! thread when it writes a line.
//!
//! Used only when the program that writes the log says so
//! ([`set_spanless`]): an embedder whose subscriber knows nothing of this
//! gets the span, as before.
//!
//! ```
//! use tollgate_kube::AuditId;
//! use tollgate_kube::log_context::RequestLog;
//!
//! let log = RequestLog::new(&AuditId::random(), &http::Method::GET, &"/api/v1/pods".parse()?);
//! log.in_scope(|| {
//!     RequestLog::with_current(|current| {
//!         let current = current.expect("entered");
//!         current.record_user("ci-bot", "payments");
//!         current.record_decision("allow");
//!     })
//! });
//! log.with_learned(|user, decision| {
//!     assert_eq!(user, Some(("ci-bot", "payments")));
//!     assert_eq!(decision, Some("allow"));
//! });
//! assert_eq!(log.path(), "/api/v1/pods");
//! RequestLog::with_current(|current| assert!(current.is_none()));
//! # Ok::<_, http::uri::InvalidUri>(())
//! ```

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::AuditId;

static SPANLESS: AtomicBool = AtomicBool::new(false);

/// Says whether requests log through a [`RequestLog`] (`true`: the log's
/// formatter reads it) or a `tracing` span (`false`, the default).
pub fn set_spanless(spanless: bool) {
    SPANLESS.store(spanless, Ordering::Relaxed);
}

/// Whether requests log through a [`RequestLog`] ([`set_spanless`]).
pub fn is_spanless() -> bool {
    SPANLESS.load(Ordering::Relaxed)
}

/// One request's log fields; cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct RequestLog(Arc<Fields>);

#[derive(Debug)]
struct Fields {
    audit_id: AuditId,
    method: http::Method,
    /// The URI (shared bytes), for its path.
    uri: http::Uri,
    learned: Mutex<Learned>,
}

#[derive(Debug, Default)]
struct Learned {
    user: Option<(String, String)>,
    decision: Option<&'static str>,
}

thread_local! {
    static CURRENT: RefCell<Option<RequestLog>> = const { RefCell::new(None) };
}

impl RequestLog {
    /// The fields a request's log starts with.
    pub fn new(audit_id: &AuditId, method: &http::Method, uri: &http::Uri) -> Self {
        RequestLog(Arc::new(Fields {
            audit_id: audit_id.clone(),
            method: method.clone(),
            uri: uri.clone(),
            learned: Mutex::default(),
        }))
    }

    /// Runs `f` with this log entered on the thread.
    pub fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        let _entered = self.enter();
        f()
    }

    /// Enters this log on the thread until the guard is dropped (the one
    /// entered before is entered again then).
    pub fn enter(&self) -> Entered {
        let before = CURRENT.with_borrow_mut(|c| c.replace(self.clone()));
        Entered { before }
    }

    /// `f` of the log entered on this thread, if any.
    pub fn with_current<R>(f: impl FnOnce(Option<&RequestLog>) -> R) -> R {
        CURRENT.with_borrow(|c| f(c.as_ref()))
    }

    /// The request's audit ID.
    pub fn audit_id(&self) -> &AuditId {
        &self.0.audit_id
    }

    /// The request's method.
    pub fn method(&self) -> &http::Method {
        &self.0.method
    }

    /// The request's path (not decoded, without the query).
    pub fn path(&self) -> &str {
        self.0.uri.path()
    }

    /// Records who made the request: its user and business owner.
    pub fn record_user(&self, user: &str, owner: &str) {
        self.learned().user = Some((user.to_owned(), owner.to_owned()));
    }

    /// Records the policy's decision (`allow`, `deny`, …).
    pub fn record_decision(&self, decision: &'static str) {
        self.learned().decision = Some(decision);
    }

    /// `f` of the user and owner (once recorded) and the decision (once
    /// recorded), without copying them.
    pub fn with_learned<R>(&self, f: impl FnOnce(Option<(&str, &str)>, Option<&'static str>) -> R) -> R {
        let l = self.learned();
        f(l.user.as_ref().map(|(u, o)| (u.as_str(), o.as_str())), l.decision)
    }

    fn learned(&self) -> std::sync::MutexGuard<'_, Learned> {
        self.0.learned.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The guard of [`RequestLog::enter`].
#[derive(Debug)]
#[must_use = "the log is entered until this is dropped"]
pub struct Entered {
    before: Option<RequestLog>,
}

impl Drop for Entered {
    fn drop(&mut self) {
        let before = self.before.take();
        // Not while the thread's locals are torn down.
        let _ = CURRENT.try_with(|c| {
            if let Ok(mut c) = c.try_borrow_mut() {
                *c = before;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(path: &str) -> RequestLog {
        RequestLog::new(&AuditId::random(), &http::Method::GET, &path.parse().unwrap())
    }

    #[test]
    fn entering_nests_and_leaving_restores_the_outer_one() {
        let (a, b) = (log("/a"), log("/b"));
        let path = || RequestLog::with_current(|c| c.map(|c| c.path().to_owned()));
        assert_eq!(path(), None);
        a.in_scope(|| {
            assert_eq!(path().as_deref(), Some("/a"));
            b.in_scope(|| assert_eq!(path().as_deref(), Some("/b")));
            assert_eq!(path().as_deref(), Some("/a"));
        });
        assert_eq!(path(), None);
    }

    #[test]
    fn what_is_learned_is_shared_by_the_clones() {
        let a = log("/a?x=1");
        let b = a.clone();
        b.record_user("u", "o");
        b.record_decision("deny");
        a.with_learned(|user, decision| {
            assert_eq!(user, Some(("u", "o")));
            assert_eq!(decision, Some("deny"));
        });
        assert_eq!(a.path(), "/a");
    }

    #[test]
    fn another_thread_sees_none() {
        let a = log("/a");
        a.in_scope(|| {
            std::thread::spawn(|| RequestLog::with_current(|c| assert!(c.is_none())))
                .join()
                .unwrap();
        });
    }
}
