//! An idle recorder's writer thread sleeps until a record is queued: a
//! gateway with nothing to record (or with audit off, whose layer still
//! has a recorder) does not wake a hundred times a second. Its own test
//! binary: the only writer thread in the process is this test's.

use std::time::Duration;

use tollgate_audit::{Event, Level, MemorySink, Recorder, RecorderOptions, Stage};

mod common;
use common::audit_thread_runs;

fn writer_runs() -> Vec<(String, u64)> {
    audit_thread_runs("audit-writer")
}

#[tokio::test]
async fn an_idle_writer_does_not_wake() {
    let sink = MemorySink::default();
    let rec = Recorder::new(sink.clone(), RecorderOptions::default());
    rec.record(Event::new("one", Level::Metadata, Stage::RequestReceived))
        .await
        .unwrap();
    // Let the writer finish the batch and go to sleep.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = writer_runs();
    assert_eq!(before.len(), 1, "one writer thread: {before:?}");
    // Five flush intervals (10 ms each) of nothing.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let after = writer_runs();
    assert_eq!(after, before, "the idle writer ran");
    // And it still wakes for a record.
    rec.record_later(Event::new("two", Level::Metadata, Stage::ResponseComplete));
    assert!(
        tollgate_testkit::eventually(|| sink.events().len() == 2).await,
        "the second record was not written"
    );
}
