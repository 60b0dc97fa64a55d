//! A budget of request-body bytes buffered at once, across all requests:
//! each body reserves its size before it is read and gives it back when the
//! last holder of its [`RequestBody`](super::RequestBody) lets go.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes of request bodies buffered at once, shared by every request.
///
/// ```
/// let b = tollgate_kube::BodyBudget::new(100);
/// let r = b.reserve(60).expect("room");
/// assert!(b.reserve(60).is_none(), "over the budget");
/// drop(r);
/// assert_eq!(b.in_use(), 0);
/// ```
#[derive(Debug)]
pub struct BodyBudget {
    max: usize,
    used: AtomicUsize,
}

impl BodyBudget {
    /// A budget of `max` bytes.
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(BodyBudget {
            max,
            used: AtomicUsize::new(0),
        })
    }

    /// The bytes reserved now.
    pub fn in_use(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// The budget.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Reserves `bytes`, or `None` when that would exceed the budget.
    pub fn reserve(self: &Arc<Self>, bytes: usize) -> Option<Reservation> {
        let mut cur = self.used.load(Ordering::Relaxed);
        loop {
            let next = cur.checked_add(bytes).filter(|n| *n <= self.max)?;
            match self
                .used
                .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => {
                    return Some(Reservation {
                        budget: self.clone(),
                        bytes,
                    });
                }
                Err(actual) => cur = actual,
            }
        }
    }
}

/// Bytes held against a [`BodyBudget`], given back on drop.
#[derive(Debug)]
pub struct Reservation {
    budget: Arc<BodyBudget>,
    bytes: usize,
}

impl Reservation {
    /// Keeps only `bytes` of the reservation (a body smaller than its
    /// declared or maximum size gives the rest back at once).
    pub fn shrink_to(&mut self, bytes: usize) {
        if bytes < self.bytes {
            self.budget.used.fetch_sub(self.bytes - bytes, Ordering::AcqRel);
            self.bytes = bytes;
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}
