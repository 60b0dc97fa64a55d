//! The recorder's queue and writer: how waiting requests are told, and
//! when the writer runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::FutureExt;
use tokio::sync::Semaphore;
use tollgate_audit::{Event, Level, MemorySink, Recorder, RecorderOptions, Sink, SinkError, Stage};

/// A sink whose every batch waits for a permit from the test.
#[derive(Debug, Clone)]
struct GatedSink {
    inner: MemorySink,
    gate: Arc<Semaphore>,
    /// Batches that reached the gate.
    arrived: Arc<AtomicUsize>,
}

#[async_trait::async_trait]
impl Sink for GatedSink {
    async fn write(&self, batch: &[Event]) -> Result<(), SinkError> {
        self.arrived.fetch_add(1, Ordering::SeqCst);
        let permit = self.gate.acquire().await.map_err(|e| SinkError::Io(e.to_string()))?;
        permit.forget();
        self.inner.write(batch).await
    }
}

fn event(id: &str) -> Event {
    Event::new(id, Level::Metadata, Stage::RequestReceived)
}

async fn until(what: impl FnMut() -> bool) {
    assert!(tollgate_testkit::eventually(what).await, "not within 5 s");
}

/// The writer tells only a batch's first waiting request, which tells the
/// others: when that request has gone (its client hung up), the next one
/// takes over, and nobody is left waiting for a record that was written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_tells_every_waiting_request_when_the_first_has_gone() {
    let sink = GatedSink {
        inner: MemorySink::default(),
        gate: Arc::new(Semaphore::new(0)),
        arrived: Arc::new(AtomicUsize::new(0)),
    };
    let rec = Recorder::new(
        sink.clone(),
        RecorderOptions::default().confirm_timeout(Duration::from_secs(30)),
    );
    // The writer takes the first record and waits at the gate.
    let first = tokio::spawn({
        let rec = rec.clone();
        async move { rec.record(event("first")).await }
    });
    until(|| sink.arrived.load(Ordering::SeqCst) == 1).await;
    // The next batch: a request that queues its record and goes away, then
    // three that wait.
    {
        let gone = rec.record(event("gone"));
        tokio::pin!(gone);
        assert!(gone.as_mut().now_or_never().is_none(), "queued, not written");
    }
    let waiting: Vec<_> = (0..3)
        .map(|i| {
            let rec = rec.clone();
            tokio::spawn(async move { rec.record(event(&format!("w{i}"))).await })
        })
        .collect();
    until(|| rec.queued() == 4).await;
    sink.gate.add_permits(2);
    first.await.unwrap().unwrap();
    for w in waiting {
        // Within the confirmation timeout's 30 s: told, not timed out.
        let told = tokio::time::timeout(Duration::from_secs(10), w).await;
        told.expect("told before the timeout").unwrap().unwrap();
    }
    let mut ids: Vec<String> = sink.inner.events().into_iter().map(|e| e.audit_id).collect();
    // The three waiting requests were spawned, and queued in any order.
    ids[2..].sort();
    assert_eq!(ids, ["first", "gone", "w0", "w1", "w2"]);
    assert_eq!(rec.stats().batches, 2, "the four went out together");
}

/// A record nobody waits for, alone in the queue, is written: it wakes
/// the idle writer, which gives it the flush interval to find company.
#[tokio::test]
async fn a_lone_record_nobody_waits_for_is_written() {
    let sink = MemorySink::default();
    let rec = Recorder::new(sink.clone(), RecorderOptions::default());
    rec.record_later(event("alone"));
    until(|| sink.events().len() == 1).await;
    // And again, after the writer went idle.
    rec.record_later(event("again"));
    until(|| sink.events().len() == 2).await;
    assert_eq!(rec.stats().written, 2);
}
