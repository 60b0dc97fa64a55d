//! A notepad shared by the layers a request passes through: an outer layer
//! (the audit layer) puts [`Notes`] into the request's extensions; inner
//! layers write what they learned (the verified identity, the policy's
//! decision) with [`note`]; the outer layer reads it when the response
//! comes back, even when an inner layer refused the request and the
//! request's own extensions are gone.
//!
//! The verified identity is noted as an `Arc<Identity>` (the verifier's
//! cached one, shared rather than copied per request); an embedder's own
//! authentication layer notes it the same way.

use std::sync::{Arc, Mutex, PoisonError};

/// Values keyed by type, shared between the layers handling one request.
///
/// ```
/// use tollgate_kube::{Notes, note};
/// let notes = Notes::default();
/// let mut req = http::Request::new(());
/// req.extensions_mut().insert(notes.clone());
/// // An inner layer:
/// note(req.extensions(), String::from("decided by rule x"));
/// // The outer layer, later:
/// assert_eq!(notes.get::<String>().as_deref(), Some("decided by rule x"));
/// ```
#[derive(Clone, Debug)]
pub struct Notes(Arc<Mutex<http::Extensions>>);

impl Default for Notes {
    /// No notes yet, with room for what the layers note
    /// ([`extensions_with_room`](crate::extensions_with_room)).
    fn default() -> Self {
        Notes(Arc::new(Mutex::new(crate::extensions_with_room())))
    }
}

impl Notes {
    /// Writes a value (replacing one of the same type).
    pub fn insert<T: Clone + Send + Sync + 'static>(&self, value: T) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).insert(value);
    }

    /// Reads several notes under one lock, without copying them.
    ///
    /// ```
    /// let notes = tollgate_kube::Notes::default();
    /// notes.insert(7u32);
    /// let n = notes.read(|all| all.get::<u32>().copied());
    /// assert_eq!(n, Some(7));
    /// ```
    pub fn read<R>(&self, f: impl FnOnce(&http::Extensions) -> R) -> R {
        f(&self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// A copy of the value of type `T`, if one was written.
    pub fn get<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get::<T>()
            .cloned()
    }
}

/// Writes `value` into the request's [`Notes`], when an outer layer asked
/// for notes; does nothing otherwise.
pub fn note<T: Clone + Send + Sync + 'static>(extensions: &http::Extensions, value: T) {
    if let Some(n) = extensions.get::<Notes>() {
        n.insert(value);
    }
}

/// How long the API server took to answer with its response headers,
/// noted by the proxy (not for upgrades and long-running requests): what
/// the metrics call upstream latency, apart from the gateway's own time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpstreamLatency(pub std::time::Duration);
