//! One of something for each worker thread ([`Workers`]), so that the
//! upstream connections a worker's requests use are that worker's own:
//! hyper runs a connection as a task on the runtime that opened it, and a
//! request on another core would hand every frame across to it.

use std::sync::OnceLock;

use crate::Workers;

/// A `T` for each worker thread and one for every other thread, each made
/// when first asked for. Workers past the number planned for share
/// (worker `i` uses the `i % planned`th).
pub(crate) struct PerWorker<T> {
    make: Box<dyn Fn() -> T + Send + Sync>,
    /// `[0]`: threads that are not workers; `[1 + i]`: worker `i`.
    sets: Box<[OnceLock<T>]>,
}

impl<T: std::fmt::Debug> std::fmt::Debug for PerWorker<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.sets.iter().filter_map(OnceLock::get))
            .finish()
    }
}

impl<T> PerWorker<T> {
    /// Room for `workers` workers (at least one).
    pub(crate) fn new(make: impl Fn() -> T + Send + Sync + 'static, workers: usize) -> Self {
        PerWorker {
            make: Box::new(make),
            sets: (0..=workers.max(1)).map(|_| OnceLock::new()).collect(),
        }
    }

    /// The calling thread's.
    pub(crate) fn get(&self) -> &T {
        let i = Workers::current().map_or(0, |w| 1 + w % (self.sets.len() - 1));
        self.sets[i].get_or_init(|| (self.make)())
    }

    /// Those made so far.
    #[cfg(test)]
    pub(crate) fn made(&self) -> usize {
        self.sets.iter().filter(|s| s.get().is_some()).count()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn each_worker_has_its_own_and_other_threads_share_one() {
        let n = Arc::new(AtomicUsize::new(0));
        let m = n.clone();
        let per = Arc::new(PerWorker::new(move || m.fetch_add(1, Ordering::Relaxed), 2));
        let here = *per.get();
        assert_eq!(*per.get(), here, "the same thread gets the same one");
        let other = std::thread::spawn({
            let per = per.clone();
            move || *per.get()
        });
        assert_eq!(other.join().ok(), Some(here), "threads that are not workers share one");
        let workers = Workers::start(3).expect("worker threads");
        let mut seen = Vec::new();
        for _ in 0..3 {
            // Each spawn goes to the least busy worker: held open, the
            // three land on three workers.
            let (tx, rx) = tokio::sync::oneshot::channel();
            let per = per.clone();
            let (hold_tx, hold) = tokio::sync::oneshot::channel::<()>();
            workers.spawn(async move {
                let _ = tx.send((Workers::current(), *per.get()));
                let _ = hold.await;
            });
            seen.push((rx.await.expect("the worker answers"), hold_tx));
        }
        let mut ids: Vec<_> = seen.iter().map(|((w, _), _)| w.expect("on a worker")).collect();
        ids.sort_unstable();
        assert_eq!(ids, [0, 1, 2], "one future on each worker");
        // Room was made for two workers: the third shares the first's.
        let got: Vec<_> = seen.iter().map(|((w, v), _)| (w.unwrap_or(9), *v)).collect();
        let of = |w: usize| got.iter().find(|(x, _)| *x == w).map(|(_, v)| *v);
        assert_ne!(of(0), Some(here));
        assert_ne!(of(0), of(1), "two workers, two of their own");
        assert_eq!(of(2), of(0), "worker 2 shares worker 0's");
        assert_eq!(per.made(), 3);
        assert_eq!(n.load(Ordering::Relaxed), 3);
    }
}
