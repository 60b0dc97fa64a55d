//! The recorder: a bounded queue in front of a [`Sink`], a writer on a
//! thread of its own that takes whatever has queued up as one batch (group
//! commit), and answers to each request that waits for its record. Nothing
//! is dropped silently: a record that cannot be queued or written is
//! counted and logged, and a request whose record cannot be written is
//! refused.
//!
//! The writer never runs on the threads that serve requests: a sink that
//! blocks (a slow disk, a sync) holds only the requests waiting for their
//! records, and a request task pays for queuing its record, not for
//! writing it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, oneshot};

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
    /// Whether [`Recorder::record`] waits for the sink to confirm the
    /// record (default); without, a queued record is enough (the file
    /// log's `durability: none`), though a sink whose last batch failed
    /// still refuses.
    pub confirm: bool,
}

impl Default for RecorderOptions {
    fn default() -> Self {
        RecorderOptions {
            queue: 10_000,
            max_batch: 400,
            confirm_timeout: Duration::from_secs(5),
            linger: Duration::ZERO,
            confirm: true,
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

    /// Whether a request waits for the sink to confirm its record
    /// (default `true`).
    pub fn confirm(mut self, yes: bool) -> Self {
        self.confirm = yes;
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
    /// Told the outcome, and given the record back (a request keeps it for
    /// its later stages instead of copying it first).
    done: Option<oneshot::Sender<(Result<(), SinkError>, Event)>>,
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
    queue: Arc<Queue>,
    /// Closes the queue when the last clone is dropped.
    _closer: Arc<Closer>,
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

/// The bounded queue between request tasks and the writer. A record that
/// a request waits for wakes the writer; one that nobody waits for (a
/// `ResponseComplete`, or anything with `durability: none`) does not: it
/// goes with the next batch, at most [`FLUSH_EVERY`] later or when half a
/// batch has queued up — no cross-thread wake-up per record where a batch
/// will do.
#[derive(Debug)]
struct Queue {
    jobs: std::sync::Mutex<std::collections::VecDeque<Job>>,
    capacity: usize,
    /// Half a batch: enough queued records to wake the writer.
    wake_at: usize,
    wake: Notify,
    closed: AtomicBool,
}

/// How long a record nobody waits for may sit in the queue.
const FLUSH_EVERY: Duration = Duration::from_millis(10);

enum Push {
    Queued,
    Full(Job),
    Closed(Job),
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::VecDeque<Job>> {
        self.jobs.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn push(&self, job: Job) -> Push {
        if self.closed.load(Ordering::Acquire) {
            return Push::Closed(job);
        }
        let urgent = job.done.is_some();
        let len = {
            let mut q = self.lock();
            if q.len() >= self.capacity {
                return Push::Full(job);
            }
            q.push_back(job);
            q.len()
        };
        if urgent || len == self.wake_at {
            self.wake.notify_one();
        }
        Push::Queued
    }

    fn len(&self) -> usize {
        self.lock().len()
    }
}

#[derive(Debug)]
struct Closer(Arc<Queue>);

impl Drop for Closer {
    fn drop(&mut self) {
        self.0.closed.store(true, Ordering::Release);
        self.0.wake.notify_one();
    }
}

impl Recorder {
    /// Starts the writer on a thread of its own (with a single-threaded
    /// runtime for the sink's futures); it stops when the last clone of
    /// the recorder is dropped and the queue is written.
    pub fn new(sink: impl Sink, options: RecorderOptions) -> Self {
        let max_batch = options.max_batch.max(1);
        let queue = Arc::new(Queue {
            jobs: std::sync::Mutex::new(std::collections::VecDeque::new()),
            capacity: options.queue.max(1),
            wake_at: (max_batch / 2).max(1),
            wake: Notify::new(),
            closed: AtomicBool::new(false),
        });
        let counters = Arc::new(Counters::default());
        let healthy = Arc::new(AtomicBool::new(true));
        let work = writer(
            Box::new(sink),
            queue.clone(),
            max_batch,
            options.linger,
            counters.clone(),
            healthy.clone(),
        );
        let started = std::thread::Builder::new()
            .name("tollgate-audit-writer".to_owned())
            .spawn(move || match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt.block_on(work),
                // The queue's receiver is dropped: every record fails, every
                // request that needs one is refused.
                Err(e) => tracing::error!(error = %e, "the audit writer cannot start: requests that need a record are refused"),
            });
        if let Err(e) = started {
            tracing::error!(error = %e, "the audit writer thread cannot start: requests that need a record are refused");
        }
        Recorder {
            _closer: Arc::new(Closer(queue.clone())),
            queue,
            options,
            counters,
            healthy,
        }
    }

    /// Records queued and not yet written.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Queues a record and waits until the sink confirms it (or, without
    /// [`RecorderOptions::confirm`], until it is queued).
    ///
    /// # Errors
    /// When the queue is full, the sink fails or does not answer in time
    /// (without confirmation: when the sink's last batch failed).
    pub async fn record(&self, event: Event) -> Result<(), RecordError> {
        self.record_returning(event).await.map(drop)
    }

    /// [`Recorder::record`], giving the record back once it is confirmed
    /// (without confirmation: a copy).
    pub(crate) async fn record_returning(&self, event: Event) -> Result<Event, RecordError> {
        let (done, wait) = if self.options.confirm {
            let (done, wait) = oneshot::channel();
            (Some(done), Some(wait))
        } else {
            if !self.is_healthy() {
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                return Err(RecordError::Sink(SinkError::Io(
                    "the last batch of records could not be written".to_owned(),
                )));
            }
            (None, None)
        };
        let copy = wait.is_none().then(|| event.clone());
        match self.queue.push(Job {
            event,
            done,
            refusal: false,
        }) {
            Push::Queued => {}
            Push::Full(_) => {
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                return Err(RecordError::QueueFull(self.options.queue));
            }
            Push::Closed(_) => {
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                return Err(RecordError::Stopped);
            }
        }
        let (Some(wait), None) = (wait, &copy) else {
            return copy.ok_or(RecordError::Stopped);
        };
        match tokio::time::timeout(self.options.confirm_timeout, wait).await {
            Ok(Ok((Ok(()), event))) => Ok(event),
            Ok(Ok((Err(e), _))) => Err(RecordError::Sink(e)),
            Ok(Err(_)) => Err(RecordError::Stopped),
            Err(_) => Err(RecordError::Timeout(self.options.confirm_timeout)),
        }
    }

    /// Queues a record without waiting (a response already on its way
    /// cannot be refused); a record that cannot be queued is counted and
    /// logged.
    pub fn record_later(&self, event: Event) {
        let (Push::Full(job) | Push::Closed(job)) = self.queue.push(Job {
            event,
            done: None,
            refusal: false,
        }) else {
            return;
        };
        self.counters.failed.fetch_add(1, Ordering::Relaxed);
        tracing::error!(audit_id = %job.event.audit_id, "an audit record was lost: the queue is full or the writer stopped");
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
        if !matches!(
            self.queue.push(Job {
                event,
                done: None,
                refusal: true,
            }),
            Push::Queued
        ) {
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
    queue: Arc<Queue>,
    max_batch: usize,
    linger: Duration,
    counters: Arc<Counters>,
    healthy: Arc<AtomicBool>,
) {
    let mut jobs: Vec<Job> = Vec::with_capacity(max_batch);
    let mut events = Vec::with_capacity(max_batch);
    let mut waiters = Vec::with_capacity(max_batch);
    let mut last = tokio::time::Instant::now();
    loop {
        let take = |jobs: &mut Vec<Job>| {
            let mut q = queue.lock();
            let n = q.len().min(max_batch - jobs.len());
            jobs.extend(q.drain(..n));
        };
        take(&mut jobs);
        if jobs.is_empty() {
            if queue.closed.load(Ordering::Acquire) {
                take(&mut jobs);
                if jobs.is_empty() {
                    return;
                }
            } else {
                // Woken by a record someone waits for, half a batch, or
                // the flush interval.
                let _ = tokio::time::timeout(FLUSH_EVERY, queue.wake.notified()).await;
                continue;
            }
        }
        if !linger.is_zero() && jobs.len() < max_batch {
            tokio::time::sleep_until(last + linger).await;
            take(&mut jobs);
        }
        last = tokio::time::Instant::now();
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
        for (w, e) in waiters.drain(..).zip(events.drain(..)) {
            if let Some(w) = w {
                let _ = w.send((result.clone(), e));
            }
        }
    }
}
