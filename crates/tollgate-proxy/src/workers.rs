//! Runtimes of one thread each that serve the listener's connections, so
//! that a connection, its requests and their upstream streams stay on the
//! core that took it.
//!
//! Under tokio's shared runtime a request's work moves between cores: the
//! connection's task on one, each HTTP/2 stream's task (hyper spawns one
//! per stream) on whichever worker steals it, the upstream connection's
//! task on either. Every move takes the request's memory to the other
//! core's cache. With a runtime per core, as nginx's and Envoy's workers
//! do, the gateway did the same work with a fifth less CPU
//! (`docs/performance.md`, twenty-seventh round). The price is that one
//! connection is served by one core: a single client with many requests
//! in flight on one HTTP/2 connection gets one core's worth, where the
//! shared runtime could spread its streams.

use std::cell::Cell;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::Error;

thread_local! {
    static WORKER: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Threads, each running a single-threaded tokio runtime, that futures
/// (the listener's connections) are handed to: each goes to the worker
/// running the fewest. A cheap handle: clones share the threads, which
/// end when the last clone is dropped (what still runs on them is
/// dropped with them).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tollgate_proxy::Error> {
/// let workers = tollgate_proxy::Workers::start(2)?;
/// let (tx, rx) = tokio::sync::oneshot::channel();
/// workers.spawn(async move {
///     let _ = tx.send(tollgate_proxy::Workers::current());
/// });
/// assert!(matches!(rx.await, Ok(Some(0 | 1))));
/// assert_eq!(tollgate_proxy::Workers::current(), None, "not a worker's thread");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Workers(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    handles: Vec<tokio::runtime::Handle>,
    /// Futures running on each worker.
    load: Arc<[AtomicUsize]>,
    /// Dropped (with the last handle) to end the threads.
    _stops: Vec<tokio::sync::oneshot::Sender<()>>,
}

/// The counts of [`Workers::counts`], read.
pub(crate) fn read(counts: &[AtomicUsize]) -> Vec<usize> {
    counts.iter().map(|n| n.load(Ordering::Relaxed)).collect()
}

/// A future's place on its worker; given back when it ends or is dropped.
struct Load {
    load: Arc<[AtomicUsize]>,
    at: usize,
}

impl Drop for Load {
    fn drop(&mut self) {
        self.load[self.at].fetch_sub(1, Ordering::Relaxed);
    }
}

impl Workers {
    /// `n` worker threads (at least one), named `tollgate-worker-<i>`.
    ///
    /// # Errors
    /// [`Error::Config`] when a runtime or thread cannot be made (the
    /// system's thread or descriptor limits).
    pub fn start(n: usize) -> Result<Self, Error> {
        let n = n.max(1);
        let failed = |e: std::io::Error| Error::Config {
            source_name: "the process".to_owned(),
            field: "workers".to_owned(),
            message: format!("cannot start {n} worker threads: {e}"),
        };
        let mut handles = Vec::with_capacity(n);
        let mut stops = Vec::with_capacity(n);
        for i in 0..n {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(failed)?;
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            handles.push(rt.handle().clone());
            std::thread::Builder::new()
                .name(format!("tollgate-worker-{i}"))
                .spawn(move || {
                    WORKER.with(|w| w.set(Some(i)));
                    let _ = rt.block_on(stopped);
                })
                .map_err(failed)?;
            stops.push(stop);
        }
        Ok(Workers(Arc::new(Inner {
            handles,
            load: (0..n).map(|_| AtomicUsize::new(0)).collect(),
            _stops: stops,
        })))
    }

    /// How many workers there are.
    pub fn len(&self) -> usize {
        self.0.handles.len()
    }

    /// Never: there is at least one worker.
    pub fn is_empty(&self) -> bool {
        self.0.handles.is_empty()
    }

    /// Runs `future` on the worker running the fewest futures handed to
    /// it, to the end (or until the workers end).
    ///
    /// A tokio socket stays watched by the reactor of the runtime that
    /// made it, and its every readiness event is handed across from
    /// there: hand a socket accepted elsewhere over as a
    /// `std::net::TcpStream` (`into_std`) and make it a tokio one inside
    /// `future` (`TcpStream::from_std`), as [`serve_with`](crate::serve_with)
    /// does.
    pub fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let inner = &self.0;
        let at = (0..inner.load.len())
            .min_by_key(|&i| inner.load[i].load(Ordering::Relaxed))
            .unwrap_or(0);
        inner.load[at].fetch_add(1, Ordering::Relaxed);
        let load = Load {
            load: inner.load.clone(),
            at,
        };
        inner.handles[at].spawn(async move {
            future.await;
            drop(load);
        });
    }

    /// The futures running on each worker now (for the listener: its
    /// connections), by worker.
    pub fn running(&self) -> Vec<usize> {
        read(&self.0.load)
    }

    /// The counts [`Workers::running`] reads, for a reader that must not
    /// keep the threads alive.
    pub(crate) fn counts(&self) -> Arc<[AtomicUsize]> {
        self.0.load.clone()
    }

    /// Which worker the calling thread is (`0..len`), or `None` on any
    /// other thread.
    pub fn current() -> Option<usize> {
        WORKER.with(Cell::get)
    }
}

/// How many [`Workers`] serve the connections, as configured (`workers:`
/// in `tollgate serve`'s file): `auto` (the default: one per core the
/// process may use, cgroup quotas counted), a number, or `0` for none
/// (each connection a task of the process's shared runtime).
///
/// ```
/// use tollgate_proxy::WorkerCount;
/// let n: WorkerCount = serde_json::from_str("\"auto\"")?;
/// assert_eq!(n, WorkerCount::Auto);
/// assert_eq!(serde_json::from_str::<WorkerCount>("0")?, WorkerCount::Count(0));
/// assert!(WorkerCount::Count(0).start()?.is_none());
/// let e = serde_json::from_str::<WorkerCount>("\"all\"").unwrap_err();
/// assert!(e.to_string().contains("`auto` or a number"));
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WorkerCount {
    /// One per core.
    #[default]
    Auto,
    /// This many; `0`: none.
    Count(usize),
}

/// The most workers a configuration may ask for.
pub const MAX_WORKERS: usize = 1024;

/// What a configuration is told a count must be.
const EXPECTED: &str = "`auto` or a number of worker threads (0: none)";

impl<'de> serde::Deserialize<'de> for WorkerCount {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CountVisitor)
    }
}

struct CountVisitor;

impl serde::de::Visitor<'_> for CountVisitor {
    type Value = WorkerCount;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(EXPECTED)
    }

    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<WorkerCount, E> {
        match usize::try_from(n) {
            Ok(n) if n <= MAX_WORKERS => Ok(WorkerCount::Count(n)),
            _ => Err(E::custom(format!("{n} workers: at most {MAX_WORKERS}"))),
        }
    }

    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<WorkerCount, E> {
        match u64::try_from(n) {
            Ok(n) => self.visit_u64(n),
            Err(_) => Err(E::custom(format!("expected {EXPECTED}, got {n}"))),
        }
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<WorkerCount, E> {
        if s == "auto" {
            Ok(WorkerCount::Auto)
        } else {
            Err(E::custom(format!("expected {EXPECTED}, got `{s}`")))
        }
    }
}

impl WorkerCount {
    /// The number of threads it means here.
    pub fn threads(self) -> usize {
        match self {
            WorkerCount::Auto => std::thread::available_parallelism().map_or(1, usize::from),
            WorkerCount::Count(n) => n,
        }
    }

    /// The workers, or `None` for `0`.
    ///
    /// # Errors
    /// As [`Workers::start`].
    pub fn start(self) -> Result<Option<Workers>, Error> {
        match self.threads() {
            0 => Ok(None),
            n => Workers::start(n).map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn parse(json: &str) -> Result<WorkerCount, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    proptest! {
        #[test]
        fn a_number_is_a_count_up_to_the_most(n in any::<i64>()) {
            match parse(&n.to_string()) {
                Ok(WorkerCount::Count(c)) => prop_assert!(n >= 0 && c as i64 == n && c <= MAX_WORKERS),
                Ok(WorkerCount::Auto) => prop_assert!(false, "{n} read as auto"),
                Err(e) if n < 0 => prop_assert!(e.contains(EXPECTED), "{e}"),
                Err(e) => prop_assert!(n as u64 > MAX_WORKERS as u64 && e.contains("at most 1024"), "{e}"),
            }
        }

        #[test]
        fn a_word_is_auto_or_refused_by_name(s in "\\PC{0,20}") {
            match parse(&serde_json::Value::String(s.clone()).to_string()) {
                Ok(w) => prop_assert!(s == "auto" && w == WorkerCount::Auto),
                Err(e) => prop_assert!(e.contains(EXPECTED) && e.contains(&format!("`{s}`")), "{e}"),
            }
        }
    }

    #[test]
    fn other_kinds_say_what_is_expected() {
        for json in ["1.5", "true", "[]", "{}", "null"] {
            let e = parse(json).expect_err(json);
            assert!(e.contains(EXPECTED), "{json}: {e}");
        }
        assert_eq!(WorkerCount::Count(3).threads(), 3);
        assert!(WorkerCount::Auto.threads() >= 1);
    }
}
