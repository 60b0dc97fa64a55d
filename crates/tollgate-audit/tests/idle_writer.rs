//! An idle recorder's writer thread sleeps until a record is queued: a
//! gateway with nothing to record (or with audit off, whose layer still
//! has a recorder) does not wake a hundred times a second. Its own test
//! binary: the only writer thread in the process is this test's.

use std::time::Duration;

use tollgate_audit::{Event, Level, MemorySink, Recorder, RecorderOptions, Stage};

/// How many times each writer thread of this process has been scheduled
/// (Linux: the second field of `/proc/self/task/<tid>/schedstat` is the
/// time it waited to run, the third how many times it ran).
fn writer_runs() -> Vec<(String, u64)> {
    let mut runs = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").expect("Linux /proc") {
        let dir = task.expect("a task").path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        // "tollgate-audit-writer", cut to the kernel's 15 bytes.
        if comm.trim() != "tollgate-audit-" {
            continue;
        }
        let stat = std::fs::read_to_string(dir.join("schedstat")).unwrap_or_default();
        let count = stat
            .split_whitespace()
            .nth(2)
            .and_then(|n| n.parse().ok())
            .expect("schedstat");
        runs.push((dir.display().to_string(), count));
    }
    runs
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
    for _ in 0..500 {
        if sink.events().len() == 2 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the second record was not written");
}
