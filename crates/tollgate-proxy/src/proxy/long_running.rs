//! The long-running requests under way through one [`Proxy`](super::Proxy):
//! watches, logs, proxy requests and exec/attach/port-forward tunnels each
//! hold an upstream connection of their own for as long as they run, so
//! their number is bounded.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::increment_below;

/// How many long-running requests may be under way, and how many are.
#[derive(Debug)]
pub(crate) struct Slots {
    limit: usize,
    open: AtomicUsize,
}

impl Slots {
    pub(crate) fn new(limit: usize) -> Arc<Self> {
        Arc::new(Slots {
            limit,
            open: AtomicUsize::new(0),
        })
    }

    /// A slot, or `None` when all `limit` are taken.
    pub(crate) fn take(self: &Arc<Self>) -> Option<Slot> {
        increment_below(&self.open, self.limit).then(|| Slot(self.clone()))
    }

    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    pub(crate) fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }
}

/// One long-running request's place; given back when dropped.
#[derive(Debug)]
pub(crate) struct Slot(Arc<Slots>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_bounded_and_come_back() {
        let slots = Slots::new(2);
        let a = slots.take().expect("first");
        let b = slots.take().expect("second");
        assert!(slots.take().is_none(), "all taken");
        assert_eq!(slots.open(), 2);
        drop(a);
        assert_eq!(slots.open(), 1);
        let c = slots.take().expect("one came back");
        drop((b, c));
        assert_eq!(slots.open(), 0);
        assert!(Slots::new(0).take().is_none(), "a limit of 0 admits none");
    }

    #[test]
    fn taking_from_many_threads_never_passes_the_limit() {
        let slots = Slots::new(8);
        let taken: Vec<Vec<Slot>> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..100).filter_map(|_| slots.take()).collect::<Vec<_>>()))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap_or_default()).collect()
        });
        assert_eq!(taken.iter().map(Vec::len).sum::<usize>(), 8);
        drop(taken);
        assert_eq!(slots.open(), 0);
    }
}
