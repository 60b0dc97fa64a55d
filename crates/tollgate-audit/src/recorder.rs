//! The recorder: a bounded queue in front of a [`Sink`], a writer task that
//! takes whatever has queued up as one batch (group commit), and answers
//! to each request that waits for its record. Nothing is dropped silently:
//! a record that cannot be queued or written is counted and logged, and a
//! request whose record cannot be written is refused.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::{Event, Sink, SinkError};

/// Why a record was not written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The queue is full: the sink cannot keep up.
    #[error("the audit sink cannot keep up (queue of {0} records full)")]
    QueueFull(usize),
    /// The sink failed.
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// The sink did not answer in time.
    #[error("the audit sink did not confirm the record within {0:?}")]
    Timeout(Duration),
    /// The writer task is gone (shutting down).
    #[error("the audit writer has stopped")]
    Stopped,
}

/// How the recorder queues and waits.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RecorderOptions {
    /// Records queued at most.
    pub queue: usize,
    /// Records written in one batch at most.
    pub max_batch: usize,
    /// How long a request waits for its record to be confirmed.
    pub confirm_timeout: Duration,
    /// The shortest time between two batches: records arriving meanwhile
    /// join the next batch (group commit: one sync for all of them).
    pub linger: Duration,
}

impl Default for RecorderOptions {
    fn default() -> Self {
        RecorderOptions {
            queue: 10_000,
            max_batch: 400,
            confirm_timeout: Duration::from_secs(5),
            linger: Duration::ZERO,
        }
    }
}

impl RecorderOptions {
    /// Records queued at most.
    pub fn queue(mut self, n: usize) -> Self {
        self.queue = n;
        self
    }

    /// Records written in one batch at most.
    pub fn max_batch(mut self, n: usize) -> Self {
        self.max_batch = n;
        self
    }

    /// How long a request waits for its record to be confirmed.
    pub fn confirm_timeout(mut self, d: Duration) -> Self {
        self.confirm_timeout = d;
        self
    }

    /// The shortest time between two batches (default none; a couple of
    /// milliseconds makes a synced file's batches much larger under load).
    pub fn linger(mut self, d: Duration) -> Self {
        self.linger = d;
        self
    }
}

/// Counters, for the admin endpoint and tests.
#[derive(Debug, Default)]
struct Counters {
    /// Refusal records queued and not yet written.
    refusals_queued: std::sync::atomic::AtomicUsize,
    written: AtomicU64,
    failed: AtomicU64,
    refused: AtomicU64,
    batches: AtomicU64,
    /// Time spent in the sink's writes, in microseconds.
    write_micros: AtomicU64,
}

/// A snapshot of the recorder's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecorderStats {
    /// Records the sink confirmed.
    pub written: u64,
    /// Records lost because the sink failed or the queue was full (each
    /// also logged).
    pub failed: u64,
    /// Requests refused because their record could not be written.
    pub refused: u64,
    /// Batches written.
    pub batches: u64,
    /// Time spent in the sink's writes, all batches together, in
    /// microseconds (with `batches`, the mean write latency).
    pub write_micros: u64,
}

struct Job {
    event: Event,
    done: Option<oneshot::Sender<Result<(), SinkError>>>,
    /// A refusal's record: counted against the refusal share of the queue.
    refusal: bool,
}

/// Queues records for a sink.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use tollgate_audit::{Event, Level, MemorySink, Recorder, RecorderOptions, Stage};
/// let sink = MemorySink::default();
/// let rec = Recorder::new(sink.clone(), RecorderOptions::default());
/// rec.record(Event::new("a", Level::Metadata, Stage::RequestReceived)).await.unwrap();
/// assert_eq!(sink.events().len(), 1);
/// sink.set_failing(true);
/// assert!(rec.record(Event::new("b", Level::Metadata, Stage::RequestReceived)).await.is_err());
/// assert_eq!(rec.stats().failed, 1);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Recorder {
    tx: mpsc::Sender<Job>,
    options: RecorderOptions,
    counters: Arc<Counters>,
    healthy: Arc<AtomicBool>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("audit_id", &self.event.audit_id)
            .finish_non_exhaustive()
    }
}

impl Recorder {
    /// Starts the writer task (on the current tokio runtime).
    pub fn new(sink: impl Sink, options: RecorderOptions) -> Self {
        let (tx, rx) = mpsc::channel(options.queue.max(1));
        let counters = Arc::new(Counters::default());
        let healthy = Arc::new(AtomicBool::new(true));
        tokio::spawn(writer(
            Box::new(sink),
            rx,
            options.max_batch.max(1),
            options.linger,
            counters.clone(),
            healthy.clone(),
        ));
        Recorder {
            tx,
            options,
            counters,
            healthy,
        }
    }

    /// Records queued and not yet written.
    pub fn queued(&self) -> usize {
        self.tx.max_capacity().saturating_sub(self.tx.capacity())
    }

    /// Queues a record and waits until the sink confirms it.
    ///
    /// # Errors
    /// When the queue is full, the sink fails or does not answer in time.
    pub async fn record(&self, event: Event) -> Result<(), RecordError> {
        let (done, wait) = oneshot::channel();
        let job = Job {
            event,
            done: Some(done),
            refusal: false,
        };
        if let Err(e) = self.tx.try_send(job) {
            self.counters.failed.fetch_add(1, Ordering::Relaxed);
            return Err(match e {
                mpsc::error::TrySendError::Full(_) => RecordError::QueueFull(self.options.queue),
                mpsc::error::TrySendError::Closed(_) => RecordError::Stopped,
            });
        }
        match tokio::time::timeout(self.options.confirm_timeout, wait).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(e))) => Err(RecordError::Sink(e)),
            Ok(Err(_)) => Err(RecordError::Stopped),
            Err(_) => Err(RecordError::Timeout(self.options.confirm_timeout)),
        }
    }

    /// Queues a record without waiting (a response already on its way
    /// cannot be refused); a record that cannot be queued is counted and
    /// logged.
    pub fn record_later(&self, event: Event) {
        let id = event.audit_id.clone();
        if let Err(e) = self.tx.try_send(Job {
            event,
            done: None,
            refusal: false,
        }) {
            self.counters.failed.fetch_add(1, Ordering::Relaxed);
            tracing::error!(audit_id = %id, reason = %e, "an audit record was lost: the queue is full or the writer stopped");
        }
    }

    /// Queues the record of a request refused before authentication, if
    /// refusals hold less than a quarter of the queue and less than half a
    /// batch: the rest is reserved for the records of authenticated
    /// requests, and a confirmed record queued during a flood of refusals
    /// still goes out in the next batch (it waits at most for the batch
    /// being written and its own, as without the flood when the sink is
    /// busy). `false` when it was not queued (the caller folds it into an
    /// aggregate).
    #[cfg(feature = "layer")]
    pub(crate) fn record_refusal(&self, event: Event) -> bool {
        let share = (self.options.queue / 4).min(self.options.max_batch / 2).max(1);
        let queued = &self.counters.refusals_queued;
        if queued.fetch_add(1, Ordering::AcqRel) >= share {
            queued.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        if self
            .tx
            .try_send(Job {
                event,
                done: None,
                refusal: true,
            })
            .is_err()
        {
            queued.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// Counts a request refused because its record could not be written.
    #[cfg(feature = "layer")]
    pub(crate) fn count_refusal(&self) {
        self.counters.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether the last batch was written.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// The counters.
    pub fn stats(&self) -> RecorderStats {
        RecorderStats {
            written: self.counters.written.load(Ordering::Relaxed),
            failed: self.counters.failed.load(Ordering::Relaxed),
            refused: self.counters.refused.load(Ordering::Relaxed),
            batches: self.counters.batches.load(Ordering::Relaxed),
            write_micros: self.counters.write_micros.load(Ordering::Relaxed),
        }
    }
}

async fn writer(
    sink: Box<dyn Sink>,
    mut rx: mpsc::Receiver<Job>,
    max_batch: usize,
    linger: Duration,
    counters: Arc<Counters>,
    healthy: Arc<AtomicBool>,
) {
    let mut jobs = Vec::with_capacity(max_batch);
    let mut last = tokio::time::Instant::now();
    while rx.recv_many(&mut jobs, max_batch).await > 0 {
        if !linger.is_zero() && jobs.len() < max_batch {
            tokio::time::sleep_until(last + linger).await;
            while jobs.len() < max_batch {
                match rx.try_recv() {
                    Ok(j) => jobs.push(j),
                    Err(_) => break,
                }
            }
        }
        last = tokio::time::Instant::now();
        let mut events = Vec::with_capacity(jobs.len());
        let mut waiters = Vec::with_capacity(jobs.len());
        for j in jobs.drain(..) {
            if j.refusal {
                counters.refusals_queued.fetch_sub(1, Ordering::AcqRel);
            }
            events.push(j.event);
            waiters.push(j.done);
        }
        let started = std::time::Instant::now();
        let result = sink.write(&events).await;
        let took = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        counters.write_micros.fetch_add(took, Ordering::Relaxed);
        counters.batches.fetch_add(1, Ordering::Relaxed);
        match &result {
            Ok(()) => {
                counters.written.fetch_add(events.len() as u64, Ordering::Relaxed);
                healthy.store(true, Ordering::Relaxed);
            }
            Err(e) => {
                counters.failed.fetch_add(events.len() as u64, Ordering::Relaxed);
                healthy.store(false, Ordering::Relaxed);
                tracing::error!(records = events.len(), error = %e, "audit records could not be written");
            }
        }
        for w in waiters.into_iter().flatten() {
            let _ = w.send(result.clone());
        }
    }
}
