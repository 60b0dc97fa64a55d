//! Who writes a batch: the task of a request waiting for its record, when
//! the sink writes on the caller's thread, or the writer thread.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;

/// Each batch written: the writing thread's name and the lines.
type Written = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A sink of lines that remembers which thread wrote each batch; it can
/// turn down writes on the caller's thread, or fail.
#[derive(Debug, Clone, Default)]
struct Lines {
    batches: Written,
    turn_down: Arc<AtomicBool>,
    fail: Arc<AtomicBool>,
    /// Each write takes this long (milliseconds), asleep.
    slow: Arc<std::sync::atomic::AtomicU64>,
    /// Each write takes this long (milliseconds), busy on the CPU.
    spin: Arc<std::sync::atomic::AtomicU64>,
    /// Writes begun.
    begun: Arc<std::sync::atomic::AtomicUsize>,
}

impl Lines {
    fn keep(&self, lines: &[u8]) -> Result<(), SinkError> {
        self.begun.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(self.slow.load(Ordering::SeqCst)));
        let spin = Duration::from_millis(self.spin.load(Ordering::SeqCst));
        let started = std::time::Instant::now();
        while started.elapsed() < spin {
            std::hint::spin_loop();
        }
        if self.fail.load(Ordering::SeqCst) {
            return Err(SinkError::Io("disk full".to_owned()));
        }
        let thread = std::thread::current().name().unwrap_or_default().to_owned();
        self.batches.lock().unwrap().push((thread, lines.to_vec()));
        Ok(())
    }

    fn batches(&self) -> Vec<(String, Vec<u8>)> {
        self.batches.lock().unwrap().clone()
    }

    /// Everything written, in order.
    fn text(&self) -> String {
        let all: Vec<u8> = self.batches().into_iter().flat_map(|(_, b)| b).collect();
        String::from_utf8(all).unwrap()
    }
}

#[async_trait::async_trait]
impl Sink for Lines {
    async fn write(&self, _: &[Event]) -> Result<(), SinkError> {
        Err(SinkError::Io("lines only".to_owned()))
    }

    fn takes_lines(&self) -> bool {
        true
    }

    async fn write_lines(&self, lines: &[u8]) -> Result<(), SinkError> {
        self.keep(lines)
    }

    fn write_lines_now(&self, lines: &[u8]) -> Option<Result<(), SinkError>> {
        (!self.turn_down.load(Ordering::SeqCst)).then(|| self.keep(lines))
    }

    fn writes_now(&self) -> bool {
        true
    }
}

const WRITER: &str = "audit-writer";

fn line(i: usize) -> Vec<u8> {
    format!("{{\"n\":{i}}}\n").into_bytes()
}

/// `n` requests, each queuing its line and waiting for it, as the record
/// layer does.
async fn waiting_requests(rec: &Recorder, n: usize) -> Vec<Result<(), RecordError>> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let rec = rec.clone();
            tokio::spawn(async move {
                let confirmation = rec.queue_line(&line(i), true)?.expect("a wait");
                confirmation.confirmed().await
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

async fn until(what: impl FnMut() -> bool) {
    assert!(tollgate_testkit::eventually(what).await, "not within 5 s");
}

/// The requests ready together queue their records before the first of
/// them writes: one write, on the requests' own thread, for all of them.
///
/// The writer thread's flush interval (10 ms) may fall inside the round on
/// a busy machine and take what is queued so far; then the round is tried
/// again with a fresh recorder (each round checks order and counts): one
/// write for all, on a request's task, is what this test is about.
#[tokio::test]
async fn requests_of_one_round_write_their_records_together_on_their_own_thread() {
    let expected: String = (0..8).map(|i| String::from_utf8(line(i)).unwrap()).collect();
    let mut together = false;
    for _ in 0..10 {
        let sink = Lines::default();
        let rec = Recorder::new(sink.clone(), RecorderOptions::default());
        let results = waiting_requests(&rec, 8).await;
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        assert_eq!(sink.text(), expected, "in queue order");
        assert_eq!(rec.stats().written, 8);
        let batches = sink.batches();
        assert_eq!(rec.stats().batches, batches.len() as u64);
        if batches.len() == 1 && batches[0].0 != WRITER {
            together = true;
            break;
        }
    }
    assert!(
        together,
        "the round's records never went out in one write on a request's task"
    );
}

/// Records nobody waits for, queued before a waiting one, go out with it
/// and before it, on the request's task (tried again when the writer
/// thread's flush interval took them first, as above).
#[tokio::test]
async fn a_waiting_request_writes_what_was_queued_before_it() {
    let mut together = false;
    for _ in 0..10 {
        let sink = Lines::default();
        let rec = Recorder::new(sink.clone(), RecorderOptions::default());
        rec.queue_line(&line(0), false).unwrap();
        rec.queue_line(&line(1), false).unwrap();
        let results = waiting_requests(&rec, 1).await;
        assert!(results[0].is_ok());
        assert_eq!(sink.text(), "{\"n\":0}\n{\"n\":1}\n{\"n\":0}\n");
        let batches = sink.batches();
        if batches.len() == 1 && batches[0].0 != WRITER {
            together = true;
            break;
        }
    }
    assert!(together, "the waiting request never wrote what was queued before it");
}

/// A batch the sink will not write on the caller's thread (a file about
/// to rotate) is put back and written by the writer thread, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_turned_down_here_goes_to_the_writer_thread_in_order() {
    let sink = Lines::default();
    sink.turn_down.store(true, Ordering::SeqCst);
    let rec = Recorder::new(sink.clone(), RecorderOptions::default());
    rec.queue_line(&line(100), false).unwrap();
    let results = waiting_requests(&rec, 6).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let batches = sink.batches();
    assert!(batches.iter().all(|(t, _)| t == WRITER), "{batches:?}");
    let text = sink.text();
    assert!(text.starts_with("{\"n\":100}\n"), "the first queued is first: {text}");
    assert_eq!(text.lines().count(), 7);
    assert_eq!(rec.stats().written, 7);
}

/// A batch too large for a request's task to copy (records with large
/// bodies) goes to the writer thread, in order, and is not counted as a
/// held write.
#[tokio::test]
async fn a_batch_over_the_inline_limit_goes_to_the_writer_thread() {
    let sink = Lines::default();
    let rec = Recorder::new(sink.clone(), RecorderOptions::default());
    // The big record, queued without a wait, then a request that waits: the
    // request's task finds the two over the inline limit and hands them to
    // the writer thread, which writes them as one batch. (The writer's own
    // flush interval, 10 ms, may take the big record alone first on a busy
    // machine; then the request's record goes on its own, and the round is
    // tried again: the hand-over is what this test is about.)
    let big = format!("{{\"body\":\"{}\"}}\n", "x".repeat(INLINE_MAX));
    let mut handed_over = false;
    let mut expected = String::new();
    for _ in 0..10 {
        rec.queue_line(big.as_bytes(), false).unwrap();
        assert!(waiting_requests(&rec, 1).await[0].is_ok());
        expected.push_str(&format!("{big}{{\"n\":0}}\n"));
        assert_eq!(sink.text(), expected, "in queue order");
        let batches = sink.batches();
        let with_big = batches.iter().rev().find(|(_, b)| b.starts_with(big.as_bytes()));
        let with_big = with_big.expect("the big record was written");
        assert_eq!(with_big.0, WRITER, "written by the writer thread");
        if with_big.1.len() > big.len() {
            handed_over = true;
            break;
        }
    }
    assert!(handed_over, "the request never handed the two over together");
    assert_eq!(rec.stats().held_writes, 0);
    // Small batches are the requests' own again. (The writer thread takes
    // one that is queued when its flush interval wakes it, which on a busy
    // machine can be the next one: a few tries.)
    let mut own = false;
    for _ in 0..20 {
        assert!(waiting_requests(&rec, 1).await[0].is_ok());
        if sink.batches().last().is_some_and(|b| b.0 != WRITER) {
            own = true;
            break;
        }
    }
    assert!(own, "every small batch was written by the writer thread");
}

/// A failed write refuses every request of its batch, and the recorder
/// says it is unhealthy.
#[tokio::test]
async fn a_failed_write_here_refuses_the_requests_of_its_batch() {
    let sink = Lines::default();
    sink.fail.store(true, Ordering::SeqCst);
    let rec = Recorder::new(sink.clone(), RecorderOptions::default());
    let results = waiting_requests(&rec, 3).await;
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Err(RecordError::Sink(SinkError::Io(m))) if m == "disk full")),
        "{results:?}"
    );
    assert!(!rec.is_healthy());
    assert_eq!(rec.stats().failed, 3);
    // The disk recovers: the next record is written and the recorder is
    // healthy again.
    sink.fail.store(false, Ordering::SeqCst);
    assert!(waiting_requests(&rec, 1).await[0].is_ok());
    assert!(rec.is_healthy());
}

/// A request that finds another writing leaves its record to that one,
/// who looks at the queue again when done: nobody waits for a writer that
/// will not come (the writer thread here is asleep).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_queued_during_a_write_is_written_by_the_one_writing() {
    let sink = Lines::default();
    sink.slow.store(200, Ordering::SeqCst);
    let rec = Recorder::new(
        sink.clone(),
        RecorderOptions::default().confirm_timeout(Duration::from_secs(2)),
    );
    // The writer thread goes to sleep after a flush interval of nothing.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let first = tokio::spawn({
        let rec = rec.clone();
        async move { waiting_requests(&rec, 1).await }
    });
    until(|| sink.begun.load(Ordering::SeqCst) == 1).await;
    let second = waiting_requests(&rec, 1).await;
    assert!(second[0].is_ok(), "{second:?}");
    assert!(first.await.unwrap()[0].is_ok());
    let batches = sink.batches();
    assert_eq!(batches.len(), 2, "{batches:?}");
    assert!(batches.iter().all(|(t, _)| t != WRITER), "{batches:?}");
}

/// Writes on a request's task that the kernel held (a slow disk), two
/// within [`HELD_AGAIN_WITHIN`], send the next batches to the writer thread
/// for a while, so a stalled disk does not stall the runtime's workers;
/// then requests write again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_slow_writes_here_records_go_through_the_writer_thread_for_a_while() {
    let sink = Lines::default();
    let slow = SLOW_WRITE.as_millis() + 100;
    sink.slow.store(u64::try_from(slow).unwrap(), Ordering::SeqCst);
    let rec = Recorder::new(
        sink.clone(),
        RecorderOptions::default().confirm_timeout(Duration::from_secs(5)),
    );
    assert!(waiting_requests(&rec, 1).await[0].is_ok());
    assert!(waiting_requests(&rec, 1).await[0].is_ok());
    sink.slow.store(0, Ordering::SeqCst);
    assert!(waiting_requests(&rec, 1).await[0].is_ok());
    let batches = sink.batches();
    assert_eq!(batches.len(), 3, "{batches:?}");
    assert_ne!(batches[0].0, WRITER, "the first, on the request's task");
    assert_ne!(batches[1].0, WRITER, "the second too");
    assert_eq!(batches[2].0, WRITER, "after them, the writer thread");
    assert_eq!(rec.stats().held_writes, 2, "counted");
    tokio::time::sleep(SLOW_PAUSE + Duration::from_millis(50)).await;
    assert!(waiting_requests(&rec, 1).await[0].is_ok());
    let batches = sink.batches();
    assert_ne!(
        batches[3].0, WRITER,
        "after the pause, the request's task again: {batches:?}"
    );
    assert_eq!(sink.text(), "{\"n\":0}\n".repeat(4));
}

/// One held write alone (a request's append that waited for a page the
/// sync thread's write-back had locked) is counted, and records stay on
/// the requests' tasks; so do they after a second one once
/// [`HELD_AGAIN_WITHIN`] has passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_slow_write_here_is_counted_and_changes_nothing() {
    let sink = Lines::default();
    let slow = u64::try_from(SLOW_WRITE.as_millis() + 100).unwrap();
    let rec = Recorder::new(
        sink.clone(),
        RecorderOptions::default().confirm_timeout(Duration::from_secs(5)),
    );
    for _ in 0..2 {
        sink.slow.store(slow, Ordering::SeqCst);
        assert!(waiting_requests(&rec, 1).await[0].is_ok());
        sink.slow.store(0, Ordering::SeqCst);
        assert!(waiting_requests(&rec, 1).await[0].is_ok());
        tokio::time::sleep(HELD_AGAIN_WITHIN + Duration::from_millis(50)).await;
    }
    let batches = sink.batches();
    assert_eq!(batches.len(), 4, "{batches:?}");
    assert!(batches.iter().all(|(t, _)| t != WRITER), "{batches:?}");
    assert_eq!(rec.stats().held_writes, 2, "counted");
}

/// A write on a request's task that is slow without sleeping in the
/// kernel (its thread busy, or preempted on a busy machine, waiting for a
/// CPU) is not a held write: the next batches stay on the requests' tasks.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_write_that_never_slept_is_not_a_held_one() {
    let sink = Lines::default();
    let slow = SLOW_WRITE.as_millis() + 100;
    sink.spin.store(u64::try_from(slow).unwrap(), Ordering::SeqCst);
    let rec = Recorder::new(
        sink.clone(),
        RecorderOptions::default().confirm_timeout(Duration::from_secs(5)),
    );
    assert!(waiting_requests(&rec, 1).await[0].is_ok());
    sink.spin.store(0, Ordering::SeqCst);
    assert!(waiting_requests(&rec, 1).await[0].is_ok());
    let batches = sink.batches();
    assert_eq!(batches.len(), 2, "{batches:?}");
    assert!(batches.iter().all(|(t, _)| t != WRITER), "{batches:?}");
    assert_eq!(rec.stats().held_writes, 0);
}

/// A request gone before it wrote its record (its client hung up) leaves
/// the record to the writer thread: it is written all the same.
#[tokio::test]
async fn a_record_whose_request_went_away_before_writing_is_written() {
    let sink = Lines::default();
    let rec = Recorder::new(sink.clone(), RecorderOptions::default());
    // Asleep after a flush interval of nothing: only a wake-up brings it.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let confirmation = rec.queue_line(&line(7), true).unwrap().expect("a wait");
    drop(confirmation);
    until(|| sink.text() == "{\"n\":7}\n").await;
    assert_eq!(sink.batches()[0].0, WRITER);
}

/// `Recorder::record` (a whole event) takes the same path.
#[tokio::test]
async fn a_recorded_event_is_written_on_the_callers_thread() {
    let sink = Lines::default();
    let rec = Recorder::new(sink.clone(), RecorderOptions::default());
    let e = rec
        .record_returning(Event::new("e1", crate::Level::Metadata, crate::Stage::RequestReceived))
        .await
        .unwrap();
    assert_eq!(e.audit_id, "e1", "the record is given back");
    let batches = sink.batches();
    assert_eq!(batches.len(), 1);
    assert_ne!(batches[0].0, WRITER);
    assert!(String::from_utf8_lossy(&batches[0].1).contains("\"auditID\":\"e1\""));
}

/// Only a lone sink that writes on the caller's thread is written there:
/// not a tee of two (one might take a batch and the next not), not a file
/// that syncs each batch.
#[tokio::test]
async fn only_a_lone_sink_that_writes_now_is_written_by_requests() {
    let (a, b) = (Lines::default(), Lines::default());
    let rec = Recorder::new(
        crate::Tee::new(vec![Box::new(a.clone()), Box::new(b.clone())]),
        RecorderOptions::default(),
    );
    assert!(waiting_requests(&rec, 2).await.iter().all(Result::is_ok));
    for sink in [&a, &b] {
        let batches = sink.batches();
        assert!(batches.iter().all(|(t, _)| t == WRITER), "{batches:?}");
        assert_eq!(sink.text().lines().count(), 2);
    }
    let dir = tempfile::tempdir().unwrap();
    let file = |d: crate::Durability| {
        crate::FileSink::open(&dir.path().join("a.log"), crate::FileOptions::default().durability(d)).unwrap()
    };
    assert!(file(crate::Durability::Batch).writes_now());
    // `none` writes on the caller's thread through the page cache; where
    // the disk takes direct writes, those wait for it: the writer thread's.
    let none = file(crate::Durability::None);
    assert_eq!(none.writes_now(), !none.writes_directly());
    assert!(!file(crate::Durability::Request).writes_now());
}

/// A line written straight into the queue that fails half-way leaves
/// nothing of itself behind, not even when it panics: the records around
/// it are whole, in order.
#[tokio::test]
async fn a_line_that_fails_while_written_into_the_queue_leaves_nothing_of_itself() {
    let sink = Lines::default();
    let rec = Recorder::new(sink.clone(), RecorderOptions::default());
    let whole = |i: usize| {
        move |out: &mut Vec<u8>| {
            out.extend_from_slice(&line(i));
            Ok(())
        }
    };
    rec.record_line_later_with(whole(0), || "a");
    rec.record_line_later_with(
        |out| {
            out.extend_from_slice(b"{\"n\":");
            Err(serde_json::Error::io(std::io::Error::other("cannot be written")))
        },
        || "b",
    );
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rec.record_line_later_with(
            |out| {
                out.extend_from_slice(b"{\"n\":");
                panic!("half a line");
            },
            || "c",
        );
    }));
    assert!(panicked.is_err());
    rec.record_line_later_with(whole(3), || "d");
    rec.flush().await;
    assert_eq!(sink.text(), "{\"n\":0}\n{\"n\":3}\n");
    assert_eq!(rec.stats().written, 2);
}
