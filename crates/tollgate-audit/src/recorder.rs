//! The recorder: a bounded queue in front of a [`Sink`], a writer on a
//! thread of its own that takes whatever has queued up as one batch (group
//! commit), and answers to each request that waits for its record. Nothing
//! is dropped silently: a record that cannot be queued or written is
//! counted and logged, and a request whose record cannot be written is
//! refused.
//!
//! A sink that may block (a sync, a slow disk, a receiver across the
//! network) is written only by the writer thread: it holds only the
//! requests waiting for their records, and a request task pays for queuing
//! its record, not for writing it. A sink that hands lines to the
//! operating system without waiting for a device ([`Sink::write_lines_now`]:
//! the file log with `batch` or `none` durability) is written by the task
//! of the request that waits for its record, as the API server's own
//! `blocking` log backend writes from the request's goroutine: that
//! request's record goes out with whatever queued before it, and no
//! request waits for the writer thread to be scheduled. Batches still
//! form: records that arrive while one is written go out together in the
//! next, written by whoever holds the write slot when it is let go. A
//! write on a request's task that the kernel holds for long (dirty pages a
//! slow disk cannot take) sends batches back to the writer thread for a
//! while, so a stalled disk does not stall the threads that serve
//! requests.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, oneshot};

use crate::{Event, Sink, SinkError};

mod asleep;
use asleep::ThreadTimes;

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
    /// Writes on a request's task the kernel held over [`SLOW_WRITE`].
    held_writes: AtomicU64,
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
    /// Writes on a request's task that the kernel held asleep for over
    /// 2 ms (a disk that cannot keep up, memory reclaim; time preempted,
    /// waiting for a CPU, does not count); after a second within 5 s,
    /// batches went through the writer thread for 5 s.
    pub held_writes: u64,
}

/// Where the writer tells a waiting request how its record fared.
type Done = oneshot::Sender<Outcome>;

/// How a waiting request's record fared: the sink's result, the record
/// given back when it travelled to a sink of events, and the rest of its
/// batch to tell.
#[derive(Debug)]
struct Outcome {
    result: Result<(), SinkError>,
    /// Boxed, as in [`Job`]: an outcome is moved into its channel and out.
    event: Option<Box<Event>>,
    /// Dropped as soon as the outcome is received, on the receiver's thread.
    _relay: Relay,
}

/// The other waiting requests of a batch, told when the relay is dropped.
///
/// The writer runs on a thread of its own: each request it wakes is a
/// cross-thread wake-up (the request's runtime is told through its queue
/// of remote tasks, and a parked worker is unparked with a system call).
/// So the writer wakes only the batch's first waiting request, which
/// carries the relay and tells the others from the runtime's own worker,
/// as local wake-ups: one cross-thread wake-up per batch instead of one per
/// waiting request. The relay tells them wherever it is dropped: when the
/// first request has gone (its receiver was dropped), the outcome and
/// relay are dropped with it, and the rest are still told.
#[derive(Debug, Default)]
struct Relay {
    result: Option<Result<(), SinkError>>,
    rest: Vec<(Done, Option<Box<Event>>)>,
}

impl Relay {
    /// Tells the first waiting request of `batch` still there, handing it
    /// the rest; `batch` is in queue order.
    fn hand_over(result: &Result<(), SinkError>, mut batch: Vec<(Done, Option<Box<Event>>)>) {
        // Popped from the end: the first queued is told first.
        batch.reverse();
        while let Some((first, event)) = batch.pop() {
            let outcome = Outcome {
                result: result.clone(),
                event,
                _relay: Relay {
                    result: Some(result.clone()),
                    rest: std::mem::take(&mut batch),
                },
            };
            match first.send(outcome) {
                Ok(()) => return,
                // Gone: the next one carries the relay.
                Err(mut back) => batch = std::mem::take(&mut back._relay.rest),
            }
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let Some(result) = &self.result else { return };
        for (done, event) in self.rest.drain(..).rev() {
            let _ = done.send(Outcome {
                result: result.clone(),
                event,
                _relay: Relay::default(),
            });
        }
    }
}

struct Job {
    /// The record, for a sink that takes events; for one that takes JSON
    /// lines it was serialized on the caller's thread (its line is in the
    /// queue's buffer) and stays with the caller. Boxed: a job is moved
    /// three times on its way (into the queue, into a batch, out of it),
    /// and an `Event` inline made each move an 872-byte copy, for every
    /// record, even the lines that carry none.
    event: Option<Box<Event>>,
    /// Told the outcome (and given the record back when it travelled).
    done: Option<Done>,
    /// A refusal's record: counted against the refusal share of the queue.
    refusal: bool,
    /// No record: [`Recorder::flush`] waiting for what was queued before.
    barrier: bool,
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
            .field("audit_id", &self.event.as_ref().map(|e| e.audit_id.as_str()))
            .finish_non_exhaustive()
    }
}

/// The wait for the sink to confirm a record queued with
/// [`Recorder::queue_line`] (or [`Recorder::record`]).
#[derive(Debug)]
pub(crate) struct Confirmation {
    rx: oneshot::Receiver<Outcome>,
    timeout: Duration,
    /// The record waits for this task to write it ([`Queue::lead`]) after
    /// the others of this scheduling round have queued theirs.
    lead: Option<Arc<Queue>>,
}

impl Confirmation {
    /// Until the sink has the record (or failed, or the time is up).
    pub(crate) async fn confirmed(mut self) -> Result<(), RecordError> {
        if let Some(queue) = self.lead.take() {
            // The other requests ready on this thread queue their records
            // meanwhile: one write for all of them.
            tokio::task::yield_now().await;
            if !queue.lead() {
                queue.wake.notify_one();
            }
        }
        match tokio::time::timeout(self.timeout, &mut self.rx).await {
            Ok(Ok(Outcome { result: Ok(()), .. })) => Ok(()),
            Ok(Ok(Outcome { result: Err(e), .. })) => Err(RecordError::Sink(e)),
            Ok(Err(_)) => Err(RecordError::Stopped),
            Err(_) => Err(RecordError::Timeout(self.timeout)),
        }
    }
}

impl Drop for Confirmation {
    /// A request gone before it wrote its record leaves it to the writer
    /// thread.
    fn drop(&mut self) {
        if let Some(queue) = self.lead.take() {
            queue.wake.notify_one();
        }
    }
}

/// The bounded queue between request tasks and the writer. A record that
/// a request waits for is written at once: by the request's own task when
/// the sink can write on the caller's thread ([`Sink::write_lines_now`]:
/// a file with `batch` or `none` durability), otherwise by the writer
/// thread, which it wakes. One that nobody waits for (a `ResponseComplete`,
/// or anything with `durability: none`) wakes nobody: it goes with the
/// next batch, at most [`FLUSH_EVERY`] later or when half a batch has
/// queued up — no cross-thread wake-up per record where a batch will do.
/// A writer idle for a flush interval sleeps until anything is queued: an
/// idle gateway's writer does not wake at all.
struct Queue {
    pending: std::sync::Mutex<Pending>,
    /// The write slot: whoever writes a batch (the writer thread or a
    /// request's task) holds it from taking the batch to telling its
    /// requests, so batches go out one at a time and in queue order.
    slot: std::sync::Mutex<Batch>,
    /// The sink, for writes on a request's task.
    sink: Arc<dyn Sink>,
    /// It [writes on the caller's thread](Sink::writes_now).
    inline: bool,
    /// The sink takes JSON lines: records are serialized by the caller.
    lines: bool,
    capacity: usize,
    /// Half a batch: enough queued records to wake the writer.
    wake_at: usize,
    wake: Notify,
    /// The writer has been idle for a flush interval and sleeps until
    /// anything is queued.
    asleep: AtomicBool,
    closed: AtomicBool,
    counters: Arc<Counters>,
    healthy: Arc<AtomicBool>,
    /// When the queue was made: the clock of `inline_paused_until`.
    born: std::time::Instant,
    /// Microseconds after `born` until which batches go to the writer
    /// thread, after a [slow write](SLOW_WRITE) on a request's task; 0 for
    /// never.
    inline_paused_until: AtomicU64,
    /// Microseconds after `born` of the last held write that did not pause
    /// anything; 0 for none.
    last_held: AtomicU64,
}

/// Whole microseconds, saturating.
fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("sink", &self.sink)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

/// What is queued: the jobs and, for a sink that takes JSON lines, their
/// lines in one buffer (in the same order).
#[derive(Debug, Default)]
struct Pending {
    jobs: std::collections::VecDeque<Job>,
    lines: Vec<u8>,
    /// How many of the jobs someone waits for.
    waiting: usize,
}

/// A batch being written, in the write slot; its buffers are reused from
/// batch to batch.
#[derive(Debug, Default)]
struct Batch {
    jobs: Vec<Job>,
    lines: Vec<u8>,
    /// A sink of events: the batch's records.
    events: Vec<Event>,
    /// Each job's waiting request (if any) and whether its record
    /// travelled to the sink.
    waiters: Vec<(Option<Done>, bool)>,
    /// The records in it (barriers are not records).
    count: usize,
    /// It holds a [flush](Recorder::flush) or a record someone waits for:
    /// the sink writes out what it holds back ([`Sink::flush`]), so what
    /// is confirmed is written.
    flush: bool,
}

/// Under load, the least time between the starts of two batches: a
/// write (and a sync, with `durability: request`) and the wake-ups of its
/// waiting requests cost about as much as ten records, so a writer that
/// wrote each record as it came (one per batch at ten thousand requests a
/// second) spent more than the records did. At one request in flight the
/// records are further apart than this and go out at once.
const LOAD_GAP: Duration = Duration::from_micros(250);

/// How long a record nobody waits for may sit in the queue.
const FLUSH_EVERY: Duration = Duration::from_millis(10);

/// What became of a job offered to the queue (a refused job is dropped).
enum Push {
    Queued,
    Full,
    Closed,
}

/// How many batches a request's task writes before it leaves the rest to
/// the writer thread: under load, records keep arriving while one is
/// written, and the task has its own request to forward.
const LEADS: usize = 4;

/// The most bytes a request's task writes in one batch; a larger batch
/// goes to the writer thread (a batch of small records at 64 requests in
/// flight is ~20 KiB).
const INLINE_MAX: usize = 1 << 20;

/// A write on a request's task that slept in the kernel longer than this
/// (dirty pages the disk cannot keep up with, memory reclaim) is the
/// kernel holding the writer: a page-cache `write` of a batch takes tens
/// of microseconds. Time the thread spent preempted, waiting for a CPU,
/// does not count ([`asleep`]). (The tests' sink is made slow on purpose,
/// for longer.)
const SLOW_WRITE: Duration = if cfg!(test) {
    Duration::from_millis(500)
} else {
    Duration::from_millis(2)
};

/// A second [slow write](SLOW_WRITE) within this long of the one before
/// sends batches to the writer thread (a slow write in the tests takes
/// longer than their pause).
const HELD_AGAIN_WITHIN: Duration = if cfg!(test) {
    Duration::from_millis(1500)
} else {
    Duration::from_secs(5)
};

/// After a second [slow write](SLOW_WRITE) within [`HELD_AGAIN_WITHIN`],
/// how long batches go to the writer
/// thread instead, so a stalled disk holds the writer thread and the
/// requests waiting for their records, not the runtime's workers and every
/// connection on them.
const SLOW_PAUSE: Duration = if cfg!(test) {
    Duration::from_millis(300)
} else {
    Duration::from_secs(5)
};

/// A line being written into the queue's buffer: unless finished, what
/// was written of it is taken back (a failed write, or a panic in it),
/// so the buffer holds whole lines only.
struct Unfinished<'a> {
    buf: &'a mut Vec<u8>,
    start: usize,
    finished: bool,
}

impl<'a> Unfinished<'a> {
    fn new(buf: &'a mut Vec<u8>) -> Self {
        let start = buf.len();
        Unfinished {
            buf,
            start,
            finished: false,
        }
    }

    fn finish(mut self) {
        self.finished = true;
    }
}

impl Drop for Unfinished<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.buf.truncate(self.start);
        }
    }
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues a job (and its line, for a sink that takes lines). A job
    /// someone waits for is written at once: here, when the sink can
    /// ([`Queue::lead`]), otherwise the writer is woken; with `later`, the
    /// caller leads itself ([`Confirmation`]).
    fn push(&self, job: Job, line: &[u8], later: bool) -> Push {
        let pushed = self.push_with(job, later, |lines| {
            lines.extend_from_slice(line);
            Ok::<(), std::convert::Infallible>(())
        });
        match pushed {
            Ok(p) => p,
            Err(never) => match never {},
        }
    }

    /// [`Queue::push`], the line written by `write` straight into the
    /// queue's buffer (after whatever is queued; nothing of it is kept
    /// when it fails, and the job is not queued).
    fn push_with<E>(
        &self,
        job: Job,
        later: bool,
        write: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<Push, E> {
        if self.closed.load(Ordering::Acquire) {
            drop(job);
            return Ok(Push::Closed);
        }
        let urgent = job.done.is_some();
        let len = {
            let mut q = self.lock();
            if q.jobs.len() >= self.capacity {
                drop(job);
                return Ok(Push::Full);
            }
            let line = Unfinished::new(&mut q.lines);
            write(line.buf)?;
            line.finish();
            q.jobs.push_back(job);
            q.waiting += usize::from(urgent);
            q.jobs.len()
        };
        if urgent && (later || self.lead()) {
            return Ok(Push::Queued);
        }
        // `SeqCst`, against the writer's store before its last look at the
        // queue: either it sees this job, or this sees it asleep.
        if urgent || len == self.wake_at || (len == 1 && self.asleep.load(Ordering::SeqCst)) {
            self.wake.notify_one();
        }
        Ok(Push::Queued)
    }

    /// Writes what is queued on this thread, for a sink of lines that
    /// takes the batch here ([`Sink::write_lines_now`]): the caller's record
    /// and whatever queued with it, the waiting requests told. `true` when
    /// the queue's waiting jobs are in hand: written, or in a batch someone
    /// else is writing (who looks at the queue again when done); `false`
    /// when the writer thread must be woken.
    ///
    /// Someone who finds the slot taken has queued its job first, and the
    /// holder looks at the queue after letting go of the slot: every job
    /// is seen by a writer.
    fn lead(&self) -> bool {
        if !self.inline || self.paused() {
            return false;
        }
        for _ in 0..LEADS {
            let mut slot = match self.slot.try_lock() {
                Ok(slot) => slot,
                Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => return true,
            };
            self.take(&mut slot, usize::MAX);
            if slot.jobs.is_empty() {
                return true;
            }
            let started = std::time::Instant::now();
            let mut before = None;
            // Only barriers: nothing to write. A batch over `INLINE_MAX`
            // (records with large bodies, a queue that grew meanwhile) is
            // the writer thread's: its copy alone would hold the worker.
            let now = if slot.lines.is_empty() {
                Some(Ok(()))
            } else if slot.lines.len() > INLINE_MAX {
                None
            } else {
                before = ThreadTimes::now();
                self.sink.write_lines_now(&slot.lines)
            };
            let Some(result) = now else {
                self.put_back(&mut slot);
                return false;
            };
            let took = started.elapsed();
            // Slow, and asleep in the kernel for that long: a thread only
            // preempted meanwhile (a busy machine) is not the disk's doing.
            let held = (took > SLOW_WRITE)
                .then(|| ThreadTimes::asleep_since(before, took))
                .filter(|asleep| *asleep > SLOW_WRITE);
            self.prepare(&mut slot);
            self.finish(&mut slot, result, took);
            drop(slot);
            if let Some(asleep) = held
                && self.held(took, asleep)
            {
                return false;
            }
            if self.lock().waiting == 0 {
                return true;
            }
        }
        false
    }

    /// Whether writes on requests' tasks are paused after a slow one.
    fn paused(&self) -> bool {
        let until = self.inline_paused_until.load(Ordering::Relaxed);
        until != 0 && self.micros_since_born() < until
    }

    /// A write on a request's task took `took`, `asleep` of it held in the
    /// kernel: counted, and when another was held less than
    /// [`HELD_AGAIN_WITHIN`] before, batches go to the writer thread for
    /// [`SLOW_PAUSE`] (`true`).
    ///
    /// One held write alone does not: a request's append now and then
    /// waits a few milliseconds for the page it goes to while the sync
    /// thread's write-back has it locked (`docs/performance.md`, eighteenth
    /// round), and sending every batch away for seconds after that cost
    /// more than the wait. A disk that cannot keep up holds write after
    /// write.
    fn held(&self, took: Duration, asleep: Duration) -> bool {
        self.counters.held_writes.fetch_add(1, Ordering::Relaxed);
        let now = self.micros_since_born().max(1);
        let last = self.last_held.swap(now, Ordering::Relaxed);
        if last == 0 || now.saturating_sub(last) >= micros(HELD_AGAIN_WITHIN) {
            tracing::info!(
                took_ms = took.as_millis(),
                asleep_ms = asleep.as_millis(),
                "an audit write on a request's thread was held by the kernel; another within a few seconds sends records through the writer thread"
            );
            return false;
        }
        self.last_held.store(0, Ordering::Relaxed);
        let until = now.saturating_add(micros(SLOW_PAUSE));
        self.inline_paused_until.store(until, Ordering::Relaxed);
        tracing::warn!(
            took_ms = took.as_millis(),
            asleep_ms = asleep.as_millis(),
            pause_s = SLOW_PAUSE.as_secs_f32(),
            "audit writes on a request's thread were held by the kernel twice within a few seconds (a slow disk?): records go through the writer thread for a while"
        );
        true
    }

    fn micros_since_born(&self) -> u64 {
        micros(self.born.elapsed())
    }

    /// Moves what is queued into `batch`: for a sink of lines everything
    /// (its lines are one buffer), for one of events at most `max` jobs.
    fn take(&self, batch: &mut Batch, max: usize) {
        let mut q = self.lock();
        if self.lines {
            batch.jobs.extend(q.jobs.drain(..));
            q.waiting = 0;
            if batch.lines.is_empty() {
                // The queue's buffer is taken whole; it gets the batch's
                // emptied one back.
                std::mem::swap(&mut batch.lines, &mut q.lines);
            } else {
                batch.lines.extend_from_slice(&q.lines);
                q.lines.clear();
            }
        } else {
            let n = q.jobs.len().min(max.saturating_sub(batch.jobs.len()));
            batch.jobs.extend(q.jobs.drain(..n));
            q.waiting = q.jobs.iter().filter(|j| j.done.is_some()).count();
        }
    }

    /// Puts a batch the sink would not take on this thread back at the
    /// head of the queue, for the writer thread.
    fn put_back(&self, batch: &mut Batch) {
        let mut q = self.lock();
        for job in batch.jobs.drain(..).rev() {
            q.waiting += usize::from(job.done.is_some());
            q.jobs.push_front(job);
        }
        batch.lines.extend_from_slice(&q.lines);
        std::mem::swap(&mut batch.lines, &mut q.lines);
        batch.lines.clear();
    }

    /// Before the write: the jobs' records (for a sink of events) and
    /// waiting requests, in queue order.
    fn prepare(&self, batch: &mut Batch) {
        batch.count = 0;
        batch.flush = false;
        for j in batch.jobs.drain(..) {
            if j.refusal {
                self.counters.refusals_queued.fetch_sub(1, Ordering::AcqRel);
            }
            batch.count += usize::from(!j.barrier);
            batch.flush |= j.done.is_some();
            let travelled = j.event.is_some();
            if let Some(e) = j.event {
                batch.events.push(*e);
            }
            batch.waiters.push((j.done, travelled));
        }
    }

    /// After the write: counted, and every waiting request told.
    fn finish(&self, batch: &mut Batch, result: Result<(), SinkError>, took: Duration) {
        let count = batch.count;
        self.counters.write_micros.fetch_add(micros(took), Ordering::Relaxed);
        self.counters.batches.fetch_add(1, Ordering::Relaxed);
        match &result {
            Ok(()) => {
                self.counters.written.fetch_add(count as u64, Ordering::Relaxed);
                self.healthy.store(true, Ordering::Relaxed);
            }
            Err(e) => {
                self.counters.failed.fetch_add(count as u64, Ordering::Relaxed);
                self.healthy.store(false, Ordering::Relaxed);
                tracing::error!(records = count, error = %e, "audit records could not be written");
            }
        }
        batch.lines.clear();
        if batch.lines.capacity() > 4 << 20 {
            batch.lines = Vec::new();
        }
        let mut back = batch.events.drain(..);
        let mut told = Vec::with_capacity(batch.waiters.len());
        for (w, travelled) in batch.waiters.drain(..) {
            // Events travel only to a sink of events, and come back.
            let event = if travelled { back.next() } else { None };
            if let Some(w) = w {
                // Boxed only when someone takes it back.
                told.push((w, event.map(Box::new)));
            }
        }
        drop(back);
        Relay::hand_over(&result, told);
    }

    fn len(&self) -> usize {
        self.lock().jobs.len()
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
        let counters = Arc::new(Counters::default());
        let healthy = Arc::new(AtomicBool::new(true));
        let queue = Arc::new(Queue {
            pending: std::sync::Mutex::new(Pending::default()),
            slot: std::sync::Mutex::new(Batch::default()),
            lines: sink.takes_lines(),
            inline: sink.takes_lines() && sink.writes_now(),
            sink: Arc::new(sink),
            capacity: options.queue.max(1),
            wake_at: (max_batch / 2).max(1),
            wake: Notify::new(),
            asleep: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            counters: counters.clone(),
            healthy: healthy.clone(),
            born: std::time::Instant::now(),
            inline_paused_until: AtomicU64::new(0),
            last_held: AtomicU64::new(0),
        });
        let (q, linger) = (queue.clone(), options.linger);
        let started = std::thread::Builder::new()
            // At most 15 bytes, what the kernel keeps of a thread's name
            // (`top -H`, `perf`, `/proc`): the writer and the sync thread
            // must not look alike there.
            .name("audit-writer".to_owned())
            .spawn(move || match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                // Made here: it holds the write slot across the sink's
                // futures, so it stays on this thread.
                Ok(rt) => rt.block_on(writer(q, max_batch, linger)),
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
        // A sink that takes events and nobody waiting: it keeps the record,
        // the request keeps a copy.
        let copy = (wait.is_none() && !self.queue.lines).then(|| event.clone());
        // Written by this task, after the others of its round queue theirs.
        let later = wait.is_some() && self.queue.inline;
        let kept = match self.enqueue(event, done, false, later) {
            Ok(kept) => kept.or(copy),
            Err(Push::Full) => {
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                return Err(RecordError::QueueFull(self.options.queue));
            }
            Err(_) => {
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                return Err(RecordError::Stopped);
            }
        };
        let Some(wait) = wait else {
            return kept.ok_or(RecordError::Stopped);
        };
        if later {
            // A sink of lines: the record stayed here.
            Confirmation {
                rx: wait,
                timeout: self.options.confirm_timeout,
                lead: Some(self.queue.clone()),
            }
            .confirmed()
            .await?;
            return kept.ok_or(RecordError::Stopped);
        }
        match tokio::time::timeout(self.options.confirm_timeout, wait).await {
            Ok(Ok(Outcome {
                result: Ok(()), event, ..
            })) => kept.or(event.map(|e| *e)).ok_or(RecordError::Stopped),
            Ok(Ok(Outcome { result: Err(e), .. })) => Err(RecordError::Sink(e)),
            Ok(Err(_)) => Err(RecordError::Stopped),
            Err(_) => Err(RecordError::Timeout(self.options.confirm_timeout)),
        }
    }

    /// Whether the sink takes JSON lines: then the audit layer may write
    /// a record's line itself ([`Recorder::queue_line`]).
    #[cfg(feature = "layer")]
    pub(crate) fn takes_lines(&self) -> bool {
        self.queue.lines
    }

    /// Queues a record already written as one JSON line (ending with a
    /// newline; only for a sink that [takes lines](Recorder::takes_lines)).
    /// With `wait` and [`RecorderOptions::confirm`], gives the wait for the
    /// sink's confirmation ([`Confirmation::confirmed`]); without confirmation
    /// the record is refused when the sink's last batch failed, as
    /// [`Recorder::record`] does.
    #[cfg(feature = "layer")]
    pub(crate) fn queue_line(&self, line: &[u8], wait: bool) -> Result<Option<Confirmation>, RecordError> {
        let confirm = wait && self.options.confirm;
        if wait && !confirm && !self.is_healthy() {
            self.counters.failed.fetch_add(1, Ordering::Relaxed);
            return Err(RecordError::Sink(SinkError::Io(
                "the last batch of records could not be written".to_owned(),
            )));
        }
        let (done, rx) = if confirm {
            let (done, rx) = oneshot::channel();
            (Some(done), Some(rx))
        } else {
            (None, None)
        };
        let job = Job {
            event: None,
            done,
            refusal: false,
            barrier: false,
        };
        let later = confirm && self.queue.inline;
        match self.queue.push(job, line, later) {
            Push::Queued => Ok(rx.map(|rx| Confirmation {
                rx,
                timeout: self.options.confirm_timeout,
                lead: later.then(|| self.queue.clone()),
            })),
            Push::Full => {
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                Err(RecordError::QueueFull(self.options.queue))
            }
            Push::Closed => {
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                Err(RecordError::Stopped)
            }
        }
    }

    /// Queues a line nobody waits for, written by `write` straight into
    /// the queue (no copy of it made first). A record that cannot be
    /// queued is counted and logged, as [`Recorder::record_later`] does; a
    /// line that cannot be written is logged and nothing of it queued.
    #[cfg(feature = "layer")]
    pub(crate) fn record_line_later_with<'a>(
        &self,
        write: impl FnOnce(&mut Vec<u8>) -> Result<(), serde_json::Error>,
        audit_id: impl FnOnce() -> &'a str,
    ) {
        let job = Job {
            event: None,
            done: None,
            refusal: false,
            barrier: false,
        };
        match self.queue.push_with(job, false, write) {
            Ok(Push::Queued) => {}
            Ok(Push::Full | Push::Closed) => {
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    audit_id = audit_id(),
                    "an audit record was lost: the queue is full or the writer stopped"
                );
            }
            Err(e) => tracing::error!(audit_id = audit_id(), error = %e, "an audit record cannot be serialized"),
        }
    }

    /// Queues `event`: for a sink that takes JSON lines, serialized here,
    /// on the caller's thread where its data is in cache (the record is
    /// given back: `Ok(Some)`); otherwise the event itself (`Ok(None)`).
    /// With `later`, the caller writes it ([`Confirmation`]).
    fn enqueue(&self, event: Event, done: Option<Done>, refusal: bool, later: bool) -> Result<Option<Event>, Push> {
        if !self.queue.lines {
            let job = Job {
                event: Some(Box::new(event)),
                done,
                refusal,
                barrier: false,
            };
            return match self.queue.push(job, &[], false) {
                Push::Queued => Ok(None),
                other => Err(other),
            };
        }
        LINE.with_borrow_mut(|line| {
            line.clear();
            if let Err(e) = crate::json_line::write_event(&event, line) {
                tracing::error!(audit_id = %event.audit_id, error = %e, "an audit record cannot be serialized");
                return Err(Push::Closed);
            }
            line.push(b'\n');
            let pushed = self.queue.push(
                Job {
                    event: None,
                    done,
                    refusal,
                    barrier: false,
                },
                line,
                later,
            );
            if line.capacity() > 1 << 20 {
                *line = Vec::new();
            }
            match pushed {
                Push::Queued => Ok(Some(event)),
                other => Err(other),
            }
        })
    }

    /// Waits until every record queued before the call is written (or
    /// failed): what a gateway does after draining its requests, before it
    /// exits, so the last records are not left in the queue.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tollgate_audit::{Event, FileOptions, FileSink, Level, Recorder, RecorderOptions, Stage, read_log};
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("audit.log");
    /// let rec = Recorder::new(FileSink::open(&path, FileOptions::default())?, RecorderOptions::default());
    /// rec.record_later(Event::new("later", Level::Metadata, Stage::ResponseComplete));
    /// rec.flush().await;
    /// let ids: Vec<String> = read_log(&path)?.map(|e| e.map(|e| e.audit_id)).collect::<Result<_, _>>()?;
    /// assert_eq!(ids, ["later"]);
    /// assert_eq!(rec.stats().written, 1, "the flush itself is not a record");
    /// # Ok(()) }
    /// ```
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        let barrier = Job {
            event: None,
            done: Some(done),
            refusal: false,
            barrier: true,
        };
        if let Push::Queued = self.queue.push(barrier, &[], false) {
            let _ = tokio::time::timeout(self.options.confirm_timeout, wait).await;
        }
    }

    /// Queues a record without waiting (a response already on its way
    /// cannot be refused); a record that cannot be queued is counted and
    /// logged.
    pub fn record_later(&self, event: Event) {
        let id = event.audit_id.clone();
        if self.enqueue(event, None, false, false).is_err() {
            self.counters.failed.fetch_add(1, Ordering::Relaxed);
            tracing::error!(audit_id = %id, "an audit record was lost: the queue is full or the writer stopped");
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
        if self.enqueue(event, None, true, false).is_err() {
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
            held_writes: self.counters.held_writes.load(Ordering::Relaxed),
        }
    }
}

/// The writer thread's loop.
// The write slot is held across the sink's future on purpose: batches go
// out one at a time and in queue order. Nothing waits on it here: this
// runtime runs only this task, and requests' tasks only try it.
#[allow(clippy::await_holding_lock)]
async fn writer(queue: Arc<Queue>, max_batch: usize, linger: Duration) {
    let mut last = tokio::time::Instant::now();
    let mut busy = false;
    loop {
        if queue.len() == 0 {
            if queue.closed.load(Ordering::Acquire) {
                if queue.len() == 0 {
                    return;
                }
            } else if busy {
                // Under load (the last batch had several records), give the
                // other threads the core once before parking: the next
                // records are usually queued by then, and a parked writer
                // costs a wake-up per batch.
                busy = false;
                std::thread::yield_now();
                continue;
            } else if last.elapsed() < FLUSH_EVERY {
                // Between batches: woken by a record someone waits for,
                // half a batch, or the flush interval (records nobody
                // waits for do not wake it).
                let _ = tokio::time::timeout(FLUSH_EVERY, queue.wake.notified()).await;
                continue;
            } else {
                // Idle for a flush interval: asleep until anything is
                // queued (a record nobody waits for wakes it too) or the
                // recorder closes. Said before the queue is looked at
                // once more, so a record queued in between is seen here
                // or wakes the writer.
                queue.asleep.store(true, Ordering::SeqCst);
                if queue.len() == 0 {
                    queue.wake.notified().await;
                }
                queue.asleep.store(false, Ordering::SeqCst);
                let (len, waiting) = {
                    let q = queue.lock();
                    (q.jobs.len(), q.waiting)
                };
                if len > 0 && len < queue.wake_at && waiting == 0 {
                    // Woken by records nobody waits for: they wait for
                    // company, as they would have between batches.
                    let _ = tokio::time::timeout(FLUSH_EVERY, queue.wake.notified()).await;
                }
                continue;
            }
        }
        // Group commit: a batch follows the last one by at least the
        // linger, or, under load, by `LOAD_GAP`; records arriving meanwhile
        // join it. An idle writer writes at once.
        let gap = linger.max(LOAD_GAP);
        let since = last.elapsed();
        if since < gap && queue.len() < max_batch {
            let wait = gap - since;
            if wait >= Duration::from_millis(1) {
                tokio::time::sleep(wait).await;
            } else {
                // Below the runtime timer's millisecond; the writer's thread
                // is its own.
                std::thread::sleep(wait);
            }
        }
        let mut slot = queue.slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        queue.take(&mut slot, max_batch);
        if slot.jobs.is_empty() {
            // A request's task wrote them meanwhile.
            continue;
        }
        last = tokio::time::Instant::now();
        queue.prepare(&mut slot);
        busy = slot.count > 1;
        let started = std::time::Instant::now();
        let mut result = if queue.lines {
            queue.sink.write_lines(&slot.lines).await
        } else {
            queue.sink.write(&slot.events).await
        };
        if slot.flush && result.is_ok() {
            result = queue.sink.flush().await;
        }
        let batch = &mut *slot;
        queue.finish(batch, result, started.elapsed());
    }
}

thread_local! {
    /// The line a caller serializes its record into, reused.
    static LINE: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

#[cfg(all(test, feature = "layer"))]
mod tests;
